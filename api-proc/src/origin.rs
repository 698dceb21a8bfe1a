//! LedFx 2.2's Host/Origin policy and CORS (ledfx-api.md §1.7), in front of every route.
//!
//! Two attacks it stops: a web page on the internet driving the lights through the user's
//! browser (cross-site requests, refused unless the page's origin is local or listed), and
//! DNS rebinding (a foreign name pointed at this machine, refused by the Host check). LedFx
//! clients served from a local address, `https://ledfx.stream` or the Electron app keep
//! working without configuration; anything else is listed in `allowed_origins` /
//! `allowed_hosts` (`"*"` allows all).
//!
//! [`decide`] is the whole policy as a pure function; [`policy`] is the middleware that
//! applies it with the current settings from the change feed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::envelope;
use crate::routes::AppState;

/// The `config.json` keys the policy reads; the hub keeps their current values.
pub const SETTINGS_KEYS: [&str; 3] = ["allowed_hosts", "allowed_origins", "allow_null_origin"];

/// Name endings LedFx treats as local.
const LOCAL_SUFFIXES: [&str; 8] = [
    ".local",
    ".localhost",
    ".home.arpa",
    ".internal",
    ".lan",
    ".home",
    ".localdomain",
    ".fritz.box",
];

/// Hosted LedFx frontends that are always allowed.
const HOSTED_FRONTENDS: [&str; 2] = ["https://ledfx.stream", "https://yeonv.github.io"];

/// What the policy needs to know besides the request.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub allow_null_origin: bool,
    /// The host ledfx-rs was told to listen on.
    pub configured_host: Option<String>,
    /// This machine's host name.
    pub own_hostname: Option<String>,
}

impl Settings {
    /// Settings from the config keys of [`SETTINGS_KEYS`]; a value of the wrong type counts
    /// as unset (the schema refuses such values on `PUT /api/config`).
    pub fn from_config(config: &Map<String, Value>) -> Self {
        let list = |key: &str| -> Vec<String> {
            config
                .get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            allowed_hosts: list("allowed_hosts"),
            allowed_origins: list("allowed_origins"),
            allow_null_origin: config.get("allow_null_origin") == Some(&Value::Bool(true)),
            configured_host: None,
            own_hostname: None,
        }
    }

    /// A name that is local by LedFx's rules (not counting IP literals).
    fn is_local_name(&self, name: &str) -> bool {
        !name.contains('.')
            || LOCAL_SUFFIXES.iter().any(|s| name.ends_with(s))
            || self.own_hostname.as_deref() == Some(name)
            || self.configured_host.as_deref() == Some(name)
    }

    fn host_allowed(&self, name: &str) -> bool {
        name.parse::<IpAddr>().is_ok()
            || self.is_local_name(name)
            || self.allowed_hosts.iter().any(|h| h == "*" || h == name)
    }

    fn origin_allowed(&self, origin: &str, request_host: Option<&str>) -> bool {
        let origin = origin.to_ascii_lowercase();
        if origin.starts_with("file://") {
            // The Electron desktop app.
            return true;
        }
        let origin = origin.trim_end_matches('/').to_owned();
        if self
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/') == origin)
        {
            return true;
        }
        if origin == "null" {
            return self.allow_null_origin;
        }
        if HOSTED_FRONTENDS.contains(&origin.as_str()) {
            return true;
        }
        let Some(authority) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        let name = host_name(authority);
        let local = match name.parse::<IpAddr>() {
            Ok(ip) => is_private(ip),
            Err(_) => self.is_local_name(&name),
        };
        local || request_host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
    }
}

/// The host name of a `Host` header or an origin's authority: port and trailing dot
/// stripped, brackets of an IPv6 literal removed, lower-cased.
pub fn host_name(authority: &str) -> String {
    let authority = authority.trim();
    let name = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        match authority.rsplit_once(':') {
            // One colon: a port. More: a bare IPv6 literal.
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => authority,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Private, loopback, CGNAT, link-local or unique-local addresses.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private_v4(v4);
            }
            let first = v6.segments()[0];
            v6 == Ipv6Addr::LOCALHOST || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b))
}

/// GETs that change state, which the policy treats like a POST.
fn state_changing_get(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    matches!(
        parts.as_slice(),
        ["", "api", "find_devices" | "find_lifx" | "find_openrgb"]
            | ["", "api", "sendspin", "discover"]
            | ["", "api", "virtuals", _, "fallback"]
            | ["", "api", "ping", _]
    )
}

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// 403 with this reason.
    Forbidden(String),
    /// A CORS preflight from an allowed origin: answer it here.
    Preflight { origin: String },
    /// Serve it; with CORS headers for `cors_origin`.
    Serve { cors_origin: Option<String> },
}

/// The policy for one request.
pub fn decide(settings: &Settings, method: &Method, path: &str, headers: &HeaderMap) -> Decision {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let request_host = text("host");
    if let Some(host) = request_host {
        let name = host_name(host);
        if !settings.host_allowed(&name) {
            return Decision::Forbidden(format!(
                "Host not allowed: {name}. Add it to allowed_hosts in the LedFx config."
            ));
        }
    }
    // What the policy refuses from a foreign page: writes, and the GETs that act like one.
    // Anything else (an OPTIONS that is no preflight, say) is served, without CORS.
    let changes_state = match *method {
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE => true,
        Method::GET | Method::HEAD => state_changing_get(path),
        _ => false,
    };
    let Some(origin) = text("origin") else {
        let cross_site = matches!(text("sec-fetch-site"), Some("cross-site" | "same-site"));
        if changes_state
            && method == Method::GET
            && cross_site
            && text("sec-fetch-mode") != Some("cors")
        {
            return Decision::Forbidden(format!("Cross-site request not allowed: {path}"));
        }
        return Decision::Serve { cors_origin: None };
    };
    let preflight =
        method == Method::OPTIONS && headers.contains_key("access-control-request-method");
    let websocket = text("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if settings.origin_allowed(origin, request_host) {
        let origin = origin.to_owned();
        return if preflight {
            Decision::Preflight { origin }
        } else {
            Decision::Serve {
                cors_origin: Some(origin),
            }
        };
    }
    if preflight || websocket || changes_state {
        return Decision::Forbidden(format!(
            "Origin not allowed: {origin}. Add it to allowed_origins in the LedFx config."
        ));
    }
    Decision::Serve { cors_origin: None }
}

fn add_cors(headers: &mut HeaderMap, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The middleware: every request passes [`decide`] with the current settings.
pub async fn policy(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut settings = Settings::from_config(&state.hub.api_settings());
    settings.configured_host = state
        .url
        .split_once("://")
        .map(|(_, authority)| host_name(authority));
    settings.own_hostname = own_hostname();
    match decide(
        &settings,
        request.method(),
        request.uri().path(),
        request.headers(),
    ) {
        Decision::Forbidden(reason) => {
            tracing::info!(path = %request.uri().path(), %reason, "refused by the origin policy");
            envelope::json_response(StatusCode::FORBIDDEN, &envelope::failed_body(&reason))
        }
        Decision::Preflight { origin } => {
            let asked_headers = request
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned();
            let mut response = StatusCode::OK.into_response();
            let headers = response.headers_mut();
            add_cors(headers, &origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, PUT, POST, DELETE"),
            );
            if let Some(asked) = asked_headers {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
            }
            response
        }
        Decision::Serve { cors_origin } => {
            let mut response = next.run(request).await;
            if let Some(origin) = cors_origin {
                add_cors(response.headers_mut(), &origin);
            }
            response
        }
    }
}

/// This machine's host name, lower-cased (read once).
fn own_hostname() -> Option<String> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let name = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .to_ascii_lowercase();
        (!name.is_empty()).then_some(name)
    })
    .clone()
}

#[cfg(test)]
mod tests;

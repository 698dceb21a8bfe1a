//! The router (ledfx-api.md §3) and what every handler shares.
//!
//! Each resource group has its own module of handlers — [`system`], [`audio`], [`schema`], [`devices`],
//! [`virtuals`], [`effects`], [`presets`], [`scenes`], [`colors`], [`clients`], [`log`], [`tools`], [`utility`], [`events`] — with one `routes()` function
//! registered below.
//! Handlers validate the request's shape with LedFx's messages, turn it into one command of
//! their group, and map the reply. Unknown paths answer `404: Not Found`; a known path with a
//! verb it does not implement answers `405: Method Not Allowed` with an `Allow` header.

mod audio;
mod clients;
mod colors;
mod devices;
mod effects;
mod events;
mod log;
mod presets;
mod scenes;
mod schema;
mod system;
mod tools;
mod utility;
mod virtuals;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use proto::api::Command;
use serde_json::{Map, Value};

use crate::backend::Backend;
use crate::envelope;
use crate::feed::Hub;

/// Shared handler state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub backend: Backend,
    /// The change feed.
    pub hub: Hub,
    /// `http://host:port` as `/api/info` reports it.
    pub url: String,
    /// When each client address last had a `POST /api/log` accepted.
    pub log_posts: log::RateLimit,
    /// The LedFx WebSocket clients and their subscriptions.
    pub ws: crate::ws::Bus,
    /// The log ring and the one `GET /api/log` socket that streams it.
    pub logs: crate::ws::log::LogStreams,
}

/// The full router: one line per resource group. Starts the task that turns the change
/// feed into WebSocket events, so it must be called inside the runtime.
pub fn app(
    backend: Backend,
    hub: Hub,
    ws: crate::ws::Bus,
    logs: crate::ws::log::LogStreams,
    url: String,
) -> Router {
    tokio::spawn(crate::ws::feed::follow(hub.clone(), ws.clone()));
    let state = AppState {
        backend,
        hub,
        url,
        log_posts: log::RateLimit::default(),
        ws,
        logs,
    };
    let routes = Router::new()
        .merge(system::routes())
        .merge(audio::routes())
        .merge(schema::routes())
        .merge(devices::routes())
        .merge(virtuals::routes())
        .merge(effects::routes())
        .merge(presets::routes())
        .merge(scenes::routes())
        .merge(colors::routes())
        .merge(clients::routes())
        .merge(log::routes())
        .merge(tools::routes())
        .merge(utility::routes())
        .merge(events::routes())
        .merge(crate::ws::routes())
        .fallback(|| async { envelope::not_found() })
        .with_state(state.clone());
    // The layers wrap the routes as one service, so they see each response as axum finished
    // it (its `Allow` header included). Outermost last: the origin policy runs first.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(ledfx_verbs))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(crate::auth::authorize))
        .layer(middleware::from_fn_with_state(state, crate::origin::policy))
}

/// LedFx's HTTP layer refuses larger bodies with 413 (ledfx-api.md §1.1).
pub(crate) const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

/// The verbs LedFx registers on every path.
const LEDFX_VERBS: [Method; 4] = [Method::DELETE, Method::GET, Method::POST, Method::PUT];

/// A method no route has, so axum answers 405 (known path) or 404 without running a handler.
const UNROUTED: &str = "LEDFX-UNROUTED";

/// LedFx's method dispatch (ledfx-api.md §1.2): a path knows GET, PUT, POST and DELETE; a
/// verb of those it does not implement is a 405 whose `Allow` lists the ones it does; any
/// other verb (HEAD included — axum would run the GET handler for it) is a 405 with
/// `Allow: DELETE,GET,POST,PUT`. Unknown paths stay 404. The body is LedFx's text.
async fn ledfx_verbs(mut request: Request, next: Next) -> Response {
    let ledfx_verb = LEDFX_VERBS.contains(request.method());
    if !ledfx_verb {
        if let Ok(unrouted) = Method::from_bytes(UNROUTED.as_bytes()) {
            *request.method_mut() = unrouted;
        }
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let allow = if ledfx_verb {
        let listed = response
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mut verbs: Vec<&str> = listed
            .split(',')
            .map(str::trim)
            .filter(|v| LEDFX_VERBS.iter().any(|m| m.as_str() == *v))
            .collect();
        verbs.sort_unstable();
        verbs.join(",")
    } else {
        "DELETE,GET,POST,PUT".to_owned()
    };
    let mut replaced = (StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed").into_response();
    if let Ok(allow) = HeaderValue::from_str(&allow) {
        replaced.headers_mut().insert(header::ALLOW, allow);
    }
    replaced
}

/// A request rejected by api-proc itself, before it reaches the state owner.
#[derive(Debug)]
pub enum RequestError {
    /// Empty or malformed JSON: LedFx's 400 json-error.
    MalformedJson,
    /// A missing or mistyped attribute: LedFx's invalid-request (HTTP 200).
    Invalid(String),
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        match self {
            RequestError::MalformedJson => envelope::json_error(),
            RequestError::Invalid(reason) => envelope::invalid(reason),
        }
    }
}

pub(crate) type Handled = Result<Response, RequestError>;

/// Parses a JSON body that must be an object; empty or invalid JSON → 400, a non-object →
/// an invalid request naming what it got.
pub(crate) fn parse_object(body: &Bytes) -> Result<Map<String, Value>, RequestError> {
    match serde_json::from_slice(body).map_err(|_| RequestError::MalformedJson)? {
        Value::Object(map) => Ok(map),
        other => Err(RequestError::Invalid(format!(
            "Request body must be a JSON object, got {}",
            kind_of(&other)
        ))),
    }
}

/// An attribute the request must carry, with LedFx's message when it is missing or `null`.
/// `quote` is the quote LedFx puts around the name in that message (it uses both).
pub(crate) fn required<'a>(
    body: &'a Map<String, Value>,
    key: &str,
    quote: char,
) -> Result<&'a Value, RequestError> {
    match body.get(key) {
        None | Some(Value::Null) => Err(RequestError::Invalid(format!(
            "Required attribute {quote}{key}{quote} was not provided"
        ))),
        Some(value) => Ok(value),
    }
}

/// LedFx's message for attributes that are absent (`true` in the list), all named at once:
/// `Required attribute a was not provided`, `Required attributes a, b were not provided`.
pub(crate) fn missing_attributes(checks: &[(&str, bool)]) -> Result<(), RequestError> {
    let missing: Vec<&str> = checks
        .iter()
        .filter_map(|(name, absent)| absent.then_some(*name))
        .collect();
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(RequestError::Invalid(format!(
            "Required attribute {one} was not provided"
        ))),
        many => Err(RequestError::Invalid(format!(
            "Required attributes {} were not provided",
            many.join(", ")
        ))),
    }
}

/// A required string attribute; another type is an invalid request naming it.
pub(crate) fn required_string(
    body: &Map<String, Value>,
    key: &str,
    quote: char,
) -> Result<String, RequestError> {
    match required(body, key, quote)? {
        Value::String(s) => Ok(s.clone()),
        other => Err(RequestError::Invalid(format!(
            "{key}: expected a string, got {}",
            kind_of(other)
        ))),
    }
}

/// The key selection a GET may carry as its body (ledfx-api.md §1.6): a key, or a list of
/// keys. No body (or `null`, or `{}`) selects nothing, which means everything; invalid JSON is
/// LedFx's 400; anything else is an invalid request saying what was expected.
pub(crate) fn key_selection(body: &Bytes) -> Result<Vec<String>, RequestError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let expected = |got: &str| {
        RequestError::Invalid(format!(
            "Request body must be a key or a list of keys (strings), got {got}"
        ))
    };
    match serde_json::from_slice(body).map_err(|_| RequestError::MalformedJson)? {
        Value::Null => Ok(Vec::new()),
        Value::Object(map) if map.is_empty() => Ok(Vec::new()),
        Value::String(key) => Ok(vec![key]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(key) => Ok(key),
                other => Err(expected(&format!("a list containing {}", kind_of(&other)))),
            })
            .collect(),
        other => Err(expected(kind_of(&other))),
    }
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Sends a command and maps the reply onto LedFx's envelopes.
pub(crate) async fn run<C: Command>(state: &AppState, command: C) -> Response {
    match state.backend.call(&command).await {
        Ok(json) => envelope::ok(&json.to_value()),
        Err(failure) => envelope::failure(&failure),
    }
}

/// Rejects a non-object attribute with a reason naming it.
pub(crate) fn expect_object(key: &str, value: &Value) -> Result<(), RequestError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(RequestError::Invalid(format!(
            "{key}: expected an object, got {}",
            kind_of(value)
        )))
    }
}

#[cfg(test)]
mod tests;

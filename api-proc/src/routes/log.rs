//! `/api/log`: `GET` is the log WebSocket (ledfx-api.md §5.1, served by `crate::ws::log`);
//! `POST` (§5.2) is a line from a browser frontend, written to ledfx-rs's log. At most one
//! accepted line per second per client address, so a page cannot flood it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{parse_object, AppState, RequestError};
use crate::envelope;

/// Longest line kept, in characters.
const MAX_TEXT: usize = 200;
/// One accepted post per address in this time.
const INTERVAL: Duration = Duration::from_secs(1);
/// Addresses remembered before the old ones are forgotten.
const MAX_ADDRESSES: usize = 1024;

/// When each address last had a post accepted.
#[derive(Debug, Clone, Default)]
pub struct RateLimit(Arc<Mutex<HashMap<Option<IpAddr>, Instant>>>);

impl RateLimit {
    /// Whether `addr` may post now; if so, it is counted.
    fn admit(&self, addr: Option<IpAddr>, now: Instant) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen
            .get(&addr)
            .is_some_and(|last| now.duration_since(*last) < INTERVAL)
        {
            return false;
        }
        if seen.len() >= MAX_ADDRESSES {
            seen.retain(|_, last| now.duration_since(*last) < INTERVAL);
        }
        seen.insert(addr, now);
        true
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/log", get(log_socket).post(frontend_line))
}

/// `GET /api/log`: the log WebSocket (`crate::ws::log`). Even a plain GET ends the socket
/// that was streaming, as in LedFx.
async fn log_socket(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let session = state.logs.take_over();
    let Ok(upgrade) = upgrade else {
        return envelope::json_response(
            axum::http::StatusCode::ACCEPTED,
            &envelope::failed_body("Bad Request: /api/log expects a WebSocket upgrade"),
        );
    };
    let logs = state.logs.clone();
    upgrade
        .on_upgrade(move |socket| crate::ws::log::serve(socket, logs, session))
        .into_response()
}

/// The text as LedFx keeps it: printable ASCII only, trimmed, at most [`MAX_TEXT`] long.
fn sanitise(text: &str) -> String {
    let printable: String = text.chars().filter(|c| (' '..='~').contains(c)).collect();
    printable.trim().chars().take(MAX_TEXT).collect()
}

async fn frontend_line(State(state): State<AppState>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let body = match axum::body::to_bytes(request.into_body(), super::MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => Bytes::new(),
    };
    let body = match parse_object(&body) {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let Some(Value::String(text)) = body.get("text") else {
        return RequestError::Invalid("Text must be an ASCII string.".into()).into_response();
    };
    let text = sanitise(text);
    if text.is_empty() {
        return RequestError::Invalid("Text must contain ASCII characters.".into()).into_response();
    }
    if !state.log_posts.admit(peer, Instant::now()) {
        return envelope::json_response(
            axum::http::StatusCode::OK,
            &json!({"status": "failed", "payload": {"type": "warning", "reason": "Rate limit exceeded. Try again later."}}),
        );
    }
    tracing::info!(target: "frontend", "Frontend log: {text}");
    envelope::ok(&json!({"status": "success"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_to_printable_ascii_and_posts_are_limited_per_address() {
        assert_eq!(sanitise("  h\u{e9}llo\n\tworld  "), "hlloworld");
        assert_eq!(sanitise(&"x".repeat(300)).len(), MAX_TEXT);
        let limit = RateLimit::default();
        let t0 = Instant::now();
        let a = Some(IpAddr::from([192, 168, 1, 2]));
        assert!(limit.admit(a, t0));
        assert!(!limit.admit(a, t0 + Duration::from_millis(500)));
        assert!(limit.admit(Some(IpAddr::from([192, 168, 1, 3])), t0));
        assert!(limit.admit(a, t0 + INTERVAL));
    }
}

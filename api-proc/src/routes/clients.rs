//! `/api/clients` (ledfx-api.md §3.23): the WebSocket clients that said who they are.
//!
//! ledfx-rs has no `/api/websocket` yet (README), so no client can identify itself: the list
//! is empty and a `sync` has no one to tell. Both answer as LedFx does for that case.

use axum::body::Bytes;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::{parse_object, required_string, AppState, Handled, RequestError};
use crate::envelope;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/clients",
        get(|| async { envelope::ok(&json!({})) }).post(action),
    )
}

async fn action(body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let action = required_string(&body, "action", '"')?;
    if action != "sync" {
        return Err(RequestError::Invalid(format!(
            "Action {action} is not in ['sync']"
        )));
    }
    Ok(envelope::ok(
        &json!({"status": "success", "action": "sync"}),
    ))
}

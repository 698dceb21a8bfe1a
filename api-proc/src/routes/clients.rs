//! `/api/clients` (ledfx-api.md §3.23): the WebSocket clients that said who they are, and a
//! `sync` that tells every `client_sync` subscriber to re-read.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{parse_object, required_string, AppState, Handled, RequestError};
use crate::envelope;
use crate::ws::LedfxEvent;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/clients",
        get(|State(state): State<AppState>| async move { envelope::ok(&state.ws.clients()) })
            .post(action),
    )
}

async fn action(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let action = required_string(&body, "action", '"')?;
    if action != "sync" {
        return Err(RequestError::Invalid(format!(
            "Action {action} is not in ['sync']"
        )));
    }
    // LedFx passes on whatever `client_id` holds.
    let client_id = body
        .get("client_id")
        .cloned()
        .unwrap_or_else(|| Value::from("unknown"));
    state.ws.fire(&LedfxEvent::new(
        "client_sync",
        json!({"client_id": client_id}),
    ));
    Ok(envelope::ok(
        &json!({"status": "success", "action": "sync"}),
    ))
}

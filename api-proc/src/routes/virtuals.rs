//! `/api/virtuals` and `/api/virtuals/{id}` (ledfx-api.md §3.10, §3.11).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use proto::api::virtuals::VirtualCommand;
use serde_json::Value;

use super::{parse_object, run, AppState, Handled, RequestError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/virtuals", get(get_virtuals).put(toggle_pause))
        .route(
            "/api/virtuals/{id}",
            get(get_virtual)
                .put(set_virtual_active)
                .delete(delete_virtual),
        )
}

async fn get_virtuals(State(state): State<AppState>) -> Response {
    run(&state, VirtualCommand::List).await
}

/// Toggles the global pause. LedFx ignores the body (Home Assistant sends none).
async fn toggle_pause(State(state): State<AppState>) -> Response {
    run(&state, VirtualCommand::TogglePause).await
}

async fn get_virtual(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, VirtualCommand::Get { id }).await
}

/// LedFx reads `active` by Python truthiness.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

async fn set_virtual_active(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    match body.get("active") {
        None | Some(Value::Null) => Err(RequestError::Invalid(
            "Required attribute \"active\" was not provided".into(),
        )),
        Some(active) => Ok(run(
            &state,
            VirtualCommand::SetActive {
                id,
                active: truthy(active),
            },
        )
        .await),
    }
}

async fn delete_virtual(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, VirtualCommand::Delete { id }).await
}

//! `/api/virtuals`, `/api/virtuals/{id}` and `/api/virtuals/{id}/effects/delete`
//! (ledfx-api.md §3.10, §3.11, §3.13).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use proto::api::virtuals::VirtualCommand;
use proto::api::Json;
use serde_json::Value;

use super::{
    kind_of, parse_object, required, required_string, run, AppState, Handled, RequestError,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/virtuals",
            get(get_virtuals).put(toggle_pause).post(save_virtual),
        )
        .route(
            "/api/virtuals/{id}",
            get(get_virtual)
                .put(set_virtual_active)
                .post(set_segments)
                .delete(delete_virtual),
        )
        .route("/api/virtuals/{id}/effects/delete", post(forget_effect))
}

/// Creates a virtual (no `id`) or updates the config of an existing one.
async fn save_virtual(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let config = Json::from_value(required(&body, "config", '"')?);
    let id = match body.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => {
            return Err(RequestError::Invalid(format!(
                "id: expected a string, got {}",
                kind_of(other)
            )))
        }
    };
    Ok(run(&state, VirtualCommand::Save { id, config }).await)
}

async fn set_segments(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    let segments = Json::from_value(required(&body, "segments", '"')?);
    Ok(run(&state, VirtualCommand::SetSegments { id, segments }).await)
}

async fn forget_effect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    let effect_type = required_string(&body, "type", '\'')?;
    Ok(run(&state, VirtualCommand::ForgetEffect { id, effect_type }).await)
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
    let active = truthy(required(&body, "active", '"')?);
    Ok(run(&state, VirtualCommand::SetActive { id, active }).await)
}

async fn delete_virtual(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, VirtualCommand::Delete { id }).await
}

//! Routes and handlers (ledfx-api.md §3.1, 3.2, 3.4, 3.5, 3.10–3.12).
//!
//! Each handler validates the request's shape with LedFx's messages, turns it into one
//! command, and maps the reply. Unknown paths answer `404: Not Found`; a known path with a
//! verb it does not implement answers `405: Method Not Allowed` with an `Allow` header.

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use proto::api::{ApiCommand, EffectConfigArg, Json};
use serde_json::{json, Map, Value};

use crate::backend::Backend;
use crate::envelope;

/// Shared handler state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub backend: Backend,
    /// `http://host:port` as `/api/info` reports it.
    pub url: String,
}

/// The full router.
pub fn app(backend: Backend, url: String) -> Router {
    Router::new()
        .route("/api/info", get(info))
        .route("/api/config", get(get_config))
        .route("/api/devices", get(get_devices).post(create_device))
        .route(
            "/api/devices/{id}",
            get(get_device).put(update_device).delete(delete_device),
        )
        .route("/api/virtuals", get(get_virtuals).put(toggle_pause))
        .route(
            "/api/virtuals/{id}",
            get(get_virtual)
                .put(set_virtual_active)
                .delete(delete_virtual),
        )
        .route(
            "/api/virtuals/{id}/effects",
            get(get_effect)
                .post(set_effect)
                .put(update_effect)
                .delete(clear_effect),
        )
        .fallback(|| async { envelope::not_found() })
        .layer(middleware::from_fn(method_not_allowed_body))
        .layer(middleware::from_fn(crate::auth::authorize))
        .with_state(AppState { backend, url })
}

/// axum answers an unimplemented verb with an empty 405 and an `Allow` header; LedFx's body
/// is `405: Method Not Allowed`.
async fn method_not_allowed_body(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut replaced = (StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed").into_response();
    if let Some(allow) = allow {
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

type Handled = Result<Response, RequestError>;

/// Parses a JSON body that must be an object; empty or invalid JSON → 400, a non-object →
/// an invalid request naming what it got.
fn parse_object(body: &Bytes) -> Result<Map<String, Value>, RequestError> {
    match serde_json::from_slice(body).map_err(|_| RequestError::MalformedJson)? {
        Value::Object(map) => Ok(map),
        other => Err(RequestError::Invalid(format!(
            "Request body must be a JSON object, got {}",
            kind_of(&other)
        ))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

async fn run(state: &AppState, command: ApiCommand) -> Response {
    match state.backend.call(command).await {
        Ok(json) => envelope::ok(&json.to_value()),
        Err(failure) => envelope::failure(&failure),
    }
}

async fn info(State(state): State<AppState>) -> Response {
    // /api/info must answer even when the state owner does not.
    let status = match state.backend.call(ApiCommand::GetInfo).await {
        Ok(info) => info.to_value(),
        Err(_) => json!({}),
    };
    let dev_mode = status
        .get("dev_mode")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    envelope::ok(&json!({
        "url": state.url,
        "name": "LedFx Controller",
        "version": "2.2.1",
        "github_sha": "unknown",
        "is_release": "false",
        "developer_mode": dev_mode,
        "features": {"sendspin": false},
        "ledfx_rs": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": status.get("revision").cloned().unwrap_or(Value::Null),
            "last_rollback": status.get("last_rollback").cloned().unwrap_or(Value::Null),
        },
    }))
}

async fn get_config(State(state): State<AppState>) -> Response {
    run(&state, ApiCommand::GetConfig).await
}

async fn get_devices(State(state): State<AppState>) -> Response {
    run(&state, ApiCommand::GetDevices).await
}

async fn create_device(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let config = body.get("config").filter(|v| !v.is_null());
    let device_type = body.get("type").filter(|v| !v.is_null());
    let missing: Vec<&str> = [
        ("device_config", config.is_none()),
        ("device_type", device_type.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    match missing.as_slice() {
        [] => {}
        [one] => {
            return Err(RequestError::Invalid(format!(
                "Required attribute {one} was not provided"
            )))
        }
        many => {
            return Err(RequestError::Invalid(format!(
                "Required attributes {} were not provided",
                many.join(", ")
            )))
        }
    }
    let (Some(Value::String(device_type)), Some(config)) = (device_type, config) else {
        return Err(RequestError::Invalid("type: expected a string".into()));
    };
    expect_object("config", config)?;
    Ok(run(
        &state,
        ApiCommand::CreateDevice {
            device_type: device_type.clone(),
            config: Json::from_value(config),
        },
    )
    .await)
}

/// Rejects a non-object attribute with a reason naming it.
fn expect_object(key: &str, value: &Value) -> Result<(), RequestError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(RequestError::Invalid(format!(
            "{key}: expected an object, got {}",
            kind_of(value)
        )))
    }
}

async fn get_device(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, ApiCommand::GetDevice { id }).await
}

async fn update_device(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    let config = match body.get("config") {
        None | Some(Value::Null) => {
            return Err(RequestError::Invalid(
                "Required attribute 'config' was not provided".into(),
            ))
        }
        Some(config) => config,
    };
    expect_object("config", config)?;
    Ok(run(
        &state,
        ApiCommand::UpdateDevice {
            id,
            config: Json::from_value(config),
        },
    )
    .await)
}

async fn delete_device(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, ApiCommand::DeleteDevice { id }).await
}

async fn get_virtuals(State(state): State<AppState>) -> Response {
    run(&state, ApiCommand::GetVirtuals).await
}

/// Toggles the global pause. LedFx ignores the body (Home Assistant sends none).
async fn toggle_pause(State(state): State<AppState>) -> Response {
    run(&state, ApiCommand::TogglePause).await
}

async fn get_virtual(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, ApiCommand::GetVirtual { id }).await
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
            ApiCommand::SetVirtualActive {
                id,
                active: truthy(active),
            },
        )
        .await),
    }
}

async fn delete_virtual(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, ApiCommand::DeleteVirtual { id }).await
}

async fn get_effect(State(state): State<AppState>, Path(virtual_id): Path<String>) -> Response {
    run(&state, ApiCommand::GetEffect { virtual_id }).await
}

/// The `config` attribute of an effect request (`None` when omitted or null).
fn effect_config(body: &Map<String, Value>) -> Result<Option<Json>, RequestError> {
    match body.get("config") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "RANDOMIZE" => Err(RequestError::Invalid(
            "config: RANDOMIZE is not supported by ledfx-rs yet".into(),
        )),
        Some(config) => {
            expect_object("config", config)?;
            Ok(Some(Json::from_value(config)))
        }
    }
}

/// The `type` attribute of an effect request (`None` when omitted or null).
fn effect_type(body: &Map<String, Value>) -> Result<Option<String>, RequestError> {
    match body.get("type") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => Ok(Some(t.clone())),
        Some(other) => Err(RequestError::Invalid(format!(
            "type: expected a string, got {}",
            kind_of(other)
        ))),
    }
}

async fn set_effect(
    State(state): State<AppState>,
    Path(virtual_id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    let effect_type = effect_type(&body)?.ok_or_else(|| {
        RequestError::Invalid("Required attribute 'type' was not provided".into())
    })?;
    let config = match effect_config(&body)? {
        Some(config) => EffectConfigArg::Given(config),
        None => EffectConfigArg::Last,
    };
    Ok(run(
        &state,
        ApiCommand::SetEffect {
            virtual_id,
            effect_type,
            config,
        },
    )
    .await)
}

async fn update_effect(
    State(state): State<AppState>,
    Path(virtual_id): Path<String>,
    body: Bytes,
) -> Handled {
    // LedFx checks the virtual and its running effect before it looks at the body.
    match state
        .backend
        .call(ApiCommand::GetEffect {
            virtual_id: virtual_id.clone(),
        })
        .await
    {
        Err(failure) => return Ok(envelope::failure(&failure)),
        Ok(json)
            if json.to_value()["effect"]
                .as_object()
                .is_none_or(Map::is_empty) =>
        {
            return Err(RequestError::Invalid(format!(
                "Virtual {virtual_id} has no active effect"
            )));
        }
        Ok(_) => {}
    }
    let body = parse_object(&body)?;
    let effect_type = effect_type(&body)?;
    let config = effect_config(&body)?;
    Ok(run(
        &state,
        ApiCommand::UpdateEffect {
            virtual_id,
            effect_type,
            config,
        },
    )
    .await)
}

async fn clear_effect(State(state): State<AppState>, Path(virtual_id): Path<String>) -> Response {
    run(&state, ApiCommand::ClearEffect { virtual_id }).await
}

#[cfg(test)]
mod tests;

//! `/api/devices` and `/api/devices/{id}` (ledfx-api.md §3.4, §3.5).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use proto::api::devices::DeviceCommand;
use proto::api::Json;
use serde_json::Value;

use super::{
    expect_object, missing_attributes, parse_object, run, AppState, Handled, RequestError,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/devices", get(get_devices).post(create_device))
        .route(
            "/api/devices/{id}",
            get(get_device)
                .put(update_device)
                .post(activate_device)
                .delete(delete_device),
        )
}

async fn get_devices(State(state): State<AppState>) -> Response {
    run(&state, DeviceCommand::List).await
}

async fn create_device(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let config = body.get("config").filter(|v| !v.is_null());
    let device_type = body.get("type").filter(|v| !v.is_null());
    missing_attributes(&[
        ("device_config", config.is_none()),
        ("device_type", device_type.is_none()),
    ])?;
    let (Some(Value::String(device_type)), Some(config)) = (device_type, config) else {
        return Err(RequestError::Invalid("type: expected a string".into()));
    };
    expect_object("config", config)?;
    Ok(run(
        &state,
        DeviceCommand::Create {
            device_type: device_type.clone(),
            config: Json::from_value(config),
        },
    )
    .await)
}

async fn get_device(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, DeviceCommand::Get { id }).await
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
        DeviceCommand::Update {
            id,
            config: Json::from_value(config),
        },
    )
    .await)
}

async fn delete_device(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, DeviceCommand::Delete { id }).await
}

/// The frontend's "activate device" button. LedFx ignores the body.
async fn activate_device(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, DeviceCommand::Activate { id }).await
}

//! `/api/info` and `/api/config` (ledfx-api.md §3.1, §3.2).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use proto::api::system::SystemCommand;
use serde_json::{json, Value};

use super::{key_selection, parse_object, run, AppState, Handled};
use crate::envelope;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/info", get(info)).route(
        "/api/config",
        get(get_config)
            .put(update_config)
            .post(import_config)
            .delete(reset_config),
    )
}

async fn info(State(state): State<AppState>) -> Response {
    // /api/info must answer even when the state owner does not.
    let status = match state.backend.call(&SystemCommand::GetInfo).await {
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
            // Entries of config.json ledfx-rs keeps but cannot use, each with its reason.
            "config_problems": status.get("config_problems").cloned().unwrap_or(Value::Null),
            // The capture: its state ("capturing", "no capture device", …), source and the
            // last problem; `/api/audio/status` has the detail.
            "audio": status.get("audio").cloned().unwrap_or(Value::Null),
        },
    }))
}

async fn get_config(State(state): State<AppState>, body: Bytes) -> Handled {
    let keys = key_selection(&body)?;
    Ok(run(&state, SystemCommand::GetConfig { keys }).await)
}

async fn update_config(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let body = proto::api::Json::from_value(&Value::Object(body));
    Ok(run(&state, SystemCommand::UpdateConfig { body }).await)
}

/// Replaces the whole configuration with the body (a configuration as `GET` gives it).
async fn import_config(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let body = proto::api::Json::from_value(&Value::Object(body));
    Ok(run(&state, SystemCommand::ImportConfig { body }).await)
}

/// Back to the defaults; LedFx ignores the body.
async fn reset_config(State(state): State<AppState>) -> Response {
    run(&state, SystemCommand::ResetConfig).await
}

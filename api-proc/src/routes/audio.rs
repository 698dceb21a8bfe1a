//! `/api/audio/devices` (ledfx-api.md §3.24), and two ledfx-rs endpoints: `/api/audio/status`
//! (what the capture does and what the analysis hears) and `/api/audio/sync` (WLED Audio Sync
//! out).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use proto::api::system::SystemCommand;
use serde_json::Value;

use super::{parse_object, run, AppState, Handled};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/audio/devices", get(devices).put(choose_device))
        .route("/api/audio/status", get(status))
        .route("/api/audio/sync", get(sync).put(set_sync))
}

async fn devices(State(state): State<AppState>) -> Response {
    run(&state, SystemCommand::GetAudioDevices).await
}

/// `{"audio_device": <index>}`: switches capture to that device and stores it.
async fn choose_device(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let body = proto::api::Json::from_value(&Value::Object(body));
    Ok(run(&state, SystemCommand::SetAudioDevice { body }).await)
}

async fn status(State(state): State<AppState>) -> Response {
    run(&state, SystemCommand::GetAudioStatus).await
}

async fn sync(State(state): State<AppState>) -> Response {
    run(&state, SystemCommand::GetAudioSync).await
}

/// Any of `{"enabled", "address", "port"}`; the others stay as they were.
async fn set_sync(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let body = proto::api::Json::from_value(&Value::Object(body));
    Ok(run(&state, SystemCommand::SetAudioSync { body }).await)
}

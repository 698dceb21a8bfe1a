//! `/api/scenes` and `/api/scenes/{scene_id}` (ledfx-api.md §3.18, §3.19).
//!
//! `activate_in` is scheduled here: api-proc checks the scene exists, answers, and sends the
//! activation when the time comes (a restart of api-proc forgets a pending one, as a restart
//! of LedFx does).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use proto::api::scenes::SceneCommand;
use proto::api::Json;
use serde_json::{json, Value};

use super::{kind_of, parse_object, required_string, run, AppState, Handled, RequestError};
use crate::envelope;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/scenes",
            get(list).post(save).put(act).delete(delete_by_body),
        )
        .route(
            "/api/scenes/{scene_id}",
            get(get_one).delete(delete_by_path),
        )
}

async fn list(State(state): State<AppState>) -> Response {
    run(&state, SceneCommand::List).await
}

async fn get_one(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, SceneCommand::Get { id }).await
}

async fn save(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let body = Json::from_value(&Value::Object(body));
    Ok(run(&state, SceneCommand::Save { body }).await)
}

const ACTIONS: &[&str] = &["activate", "activate_in", "deactivate", "rename"];

async fn act(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let action = required_string(&body, "action", '"')?;
    if !ACTIONS.contains(&action.as_str()) {
        return Err(RequestError::Invalid(format!(
            "Invalid action \"{action}\""
        )));
    }
    let id = required_string(&body, "id", '"')?;
    Ok(match action.as_str() {
        "activate" => run(&state, SceneCommand::Activate { id }).await,
        "deactivate" => run(&state, SceneCommand::Deactivate { id }).await,
        "rename" => {
            let name = required_string(&body, "name", '"')?;
            run(&state, SceneCommand::Rename { id, name }).await
        }
        _ => return activate_in(&state, id, body.get("ms")).await,
    })
}

/// `activate_in`: LedFx reads `ms` as seconds (ledfx-api.md §3.18), and so does ledfx-rs.
async fn activate_in(state: &AppState, id: String, ms: Option<&Value>) -> Handled {
    let (delay, shown) = match ms {
        None | Some(Value::Null) => {
            return Err(RequestError::Invalid(
                "Required attribute \"ms\" was not provided".into(),
            ))
        }
        Some(Value::Number(n)) => {
            let delay = n.as_f64().and_then(|s| Duration::try_from_secs_f64(s).ok());
            match delay {
                Some(delay) => (delay, n.to_string()),
                None => {
                    return Err(RequestError::Invalid(format!(
                        "ms: expected a number of seconds >= 0, got {n}"
                    )))
                }
            }
        }
        Some(other) => {
            return Err(RequestError::Invalid(format!(
                "ms: expected a number, got {}",
                kind_of(other)
            )))
        }
    };
    let name = match state
        .backend
        .call(&SceneCommand::Name { id: id.clone() })
        .await
    {
        Ok(reply) => reply.to_value()["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        Err(failure) => return Ok(envelope::failure(&failure)),
    };
    let backend = state.backend.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        match backend
            .call(&SceneCommand::Activate { id: id.clone() })
            .await
        {
            Ok(_) => tracing::info!(scene = %id, "scheduled scene activated"),
            Err(e) => {
                tracing::warn!(scene = %id, reason = %e.reason, "scheduled scene activation failed")
            }
        }
    });
    Ok(envelope::ok(&json!({
        "status": "success",
        "payload": {"type": "info", "reason": format!("Scene {name} will activate in {shown}ms")},
    })))
}

async fn delete_by_body(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let id = required_string(&body, "id", '"')?;
    Ok(run(
        &state,
        SceneCommand::Delete {
            id,
            from_path: false,
        },
    )
    .await)
}

async fn delete_by_path(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(
        &state,
        SceneCommand::Delete {
            id,
            from_path: true,
        },
    )
    .await
}

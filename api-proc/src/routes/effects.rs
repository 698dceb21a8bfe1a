//! `/api/virtuals/{id}/effects` (ledfx-api.md §3.12) and `/api/effects` (§3.8).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use proto::api::effects::EffectCommand;
use proto::api::{EffectConfigArg, Json};
use serde_json::{Map, Value};

use super::{expect_object, kind_of, parse_object, run, AppState, Handled, RequestError};
use crate::envelope;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/virtuals/{id}/effects",
            get(get_effect)
                .post(set_effect)
                .put(update_effect)
                .delete(clear_effect),
        )
        .route("/api/virtuals/{id}/fallback", get(fire_fallback))
        .route("/api/effects", get(list_all).put(bulk_action))
}

async fn list_all(State(state): State<AppState>) -> Response {
    run(&state, EffectCommand::ListAll).await
}

/// `PUT /api/effects`: `clear_all_effects`, `apply_global`, `apply_global_effect`.
async fn bulk_action(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let action = match body.get("action") {
        None | Some(Value::Null) => {
            return Err(RequestError::Invalid(
                "Required attribute \"action\" was not provided".into(),
            ))
        }
        Some(Value::String(a)) => a.clone(),
        Some(other) => return Err(RequestError::Invalid(format!("Invalid action \"{other}\""))),
    };
    let command = match action.as_str() {
        "clear_all_effects" => EffectCommand::ClearAll,
        "apply_global" => EffectCommand::ApplyGlobal {
            body: Json::from_value(&Value::Object(body)),
        },
        "apply_global_effect" => {
            let Some(effect_type) = effect_type(&body)? else {
                return Err(RequestError::Invalid(
                    "Required attribute \"type\" was not provided".into(),
                ));
            };
            let config = match body.get("config") {
                Some(Value::String(s)) if s == "RANDOMIZE" => {
                    return Err(RequestError::Invalid(
                        "RANDOMIZE is not supported for apply_global_effect".into(),
                    ))
                }
                _ => effect_config(&body)?,
            };
            let virtuals = match body.get("virtuals") {
                None | Some(Value::Null) => None,
                Some(Value::Array(ids)) if !ids.is_empty() => Some(
                    ids.iter()
                        .map(|id| id.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            RequestError::Invalid(
                                "Invalid value for \"virtuals\": must be a non-empty list of virtual ids"
                                    .into(),
                            )
                        })?,
                ),
                Some(_) => {
                    return Err(RequestError::Invalid(
                        "Invalid value for \"virtuals\": must be a non-empty list of virtual ids"
                            .into(),
                    ))
                }
            };
            EffectCommand::ApplyGlobalEffect {
                effect_type,
                config,
                virtuals,
                fallback_s: fallback_seconds(&body),
            }
        }
        _ => {
            return Err(RequestError::Invalid(format!(
                "Invalid action \"{action}\""
            )))
        }
    };
    Ok(run(&state, command).await)
}

async fn get_effect(State(state): State<AppState>, Path(virtual_id): Path<String>) -> Response {
    run(&state, EffectCommand::Get { virtual_id }).await
}

/// The `config` attribute of an effect request (`None` when omitted or null; the string
/// `"RANDOMIZE"` is passed on as it is).
fn effect_config(body: &Map<String, Value>) -> Result<Option<Json>, RequestError> {
    match body.get("config") {
        None | Some(Value::Null) => Ok(None),
        Some(config @ Value::String(s)) if s == "RANDOMIZE" => Ok(Some(Json::from_value(config))),
        Some(config) => {
            expect_object("config", config)?;
            Ok(Some(Json::from_value(config)))
        }
    }
}

/// The `fallback` attribute in seconds: `true` is LedFx's 300 s, a positive number that many
/// seconds; anything else is no fallback.
fn fallback_seconds(body: &Map<String, Value>) -> Option<f64> {
    match body.get("fallback") {
        Some(Value::Bool(true)) => Some(300.0),
        Some(Value::Number(n)) => n.as_f64().filter(|s| *s > 0.0),
        _ => None,
    }
}

/// Wraps an effect command in its fallback, if the request asks for one.
fn with_fallback(body: &Map<String, Value>, command: EffectCommand) -> EffectCommand {
    match fallback_seconds(body) {
        Some(seconds) => EffectCommand::WithFallback {
            command: Box::new(command),
            seconds,
        },
        None => command,
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
        Some(config) if config.to_value() == "RANDOMIZE" => EffectConfigArg::Randomize,
        Some(config) => EffectConfigArg::Given(config),
        None => EffectConfigArg::Last,
    };
    let command = EffectCommand::Set {
        virtual_id,
        effect_type,
        config,
    };
    Ok(run(&state, with_fallback(&body, command)).await)
}

async fn update_effect(
    State(state): State<AppState>,
    Path(virtual_id): Path<String>,
    body: Bytes,
) -> Handled {
    // LedFx checks the virtual and its running effect before it looks at the body.
    match state
        .backend
        .call(&EffectCommand::Get {
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
    let command = EffectCommand::Update {
        virtual_id,
        effect_type,
        config,
    };
    Ok(run(&state, with_fallback(&body, command)).await)
}

async fn clear_effect(State(state): State<AppState>, Path(virtual_id): Path<String>) -> Response {
    run(&state, EffectCommand::Clear { virtual_id }).await
}

/// Brings back what ran before a fallback's effect, now (a button released). A GET that
/// changes state, as in LedFx; the origin policy treats it like a POST.
async fn fire_fallback(State(state): State<AppState>, Path(virtual_id): Path<String>) -> Response {
    run(
        &state,
        EffectCommand::FireFallback {
            virtual_id,
            token: None,
        },
    )
    .await
}

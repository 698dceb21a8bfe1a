//! `/api/virtuals_tools` and `/api/virtuals_tools/{id}` (ledfx-api.md §3.16, §3.17): the
//! request checks with LedFx's messages; the tools themselves run in the state owner.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use proto::api::tools::ToolCommand;
use serde_json::{json, Map, Value};

use super::{parse_object, required_string, run, AppState, Handled, RequestError};
use crate::envelope;

const ALL_TOOLS: &str = "['force_color', 'oneshot']";
const ONE_TOOLS: &str = "['force_color', 'calibration', 'highlight', 'oneshot', 'copy']";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/virtuals_tools",
            get(|| async { available(ALL_TOOLS) })
                .put(put_all)
                .post(post_all),
        )
        .route(
            "/api/virtuals_tools/{virtual_id}",
            get(|| async { available(ONE_TOOLS) })
                .put(put_one)
                .post(post_one),
        )
}

fn available(tools: &str) -> Response {
    envelope::ok(&json!({
        "status": "success",
        "payload": {"type": "info", "reason": format!("Available tools: {tools}")},
    }))
}

fn invalid(reason: impl Into<String>) -> RequestError {
    RequestError::Invalid(reason.into())
}

/// The `tool` of a request, one of `known` (LedFx's list, as it prints it).
fn tool(body: &Map<String, Value>, known: &str) -> Result<String, RequestError> {
    let tool = required_string(body, "tool", '"')?;
    if known.contains(&format!("'{tool}'")) {
        Ok(tool)
    } else {
        Err(invalid(format!("Tool {tool} is not in {known}")))
    }
}

fn number(body: &Map<String, Value>, key: &str, default: f64) -> Result<f64, RequestError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| invalid(format!("{key}: expected a number, got {v}"))),
    }
}

fn oneshot(
    body: &Map<String, Value>,
    virtual_id: Option<String>,
) -> Result<ToolCommand, RequestError> {
    let color = match body.get("color") {
        None | Some(Value::Null) => "white".to_owned(),
        Some(_) => required_string(body, "color", '"')?,
    };
    let ms = |key| number(body, key, 0.0).map(|n| n.clamp(0.0, f64::from(u32::MAX)) as u32);
    Ok(ToolCommand::Oneshot {
        virtual_id,
        color,
        ramp_ms: ms("ramp")?,
        hold_ms: ms("hold")?,
        fade_ms: ms("fade")?,
        brightness: number(body, "brightness", 1.0)?,
    })
}

fn force_color(
    body: &Map<String, Value>,
    virtual_id: Option<String>,
) -> Result<ToolCommand, RequestError> {
    match body.get("color") {
        Some(Value::String(color)) => Ok(ToolCommand::ForceColor {
            virtual_id,
            color: color.clone(),
        }),
        _ => Err(invalid(
            "Required attribute for force_color, color was not provided",
        )),
    }
}

async fn post_all(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    match tool(&body, ALL_TOOLS)?.as_str() {
        "oneshot" => Ok(run(&state, oneshot(&body, None)?).await),
        // Accepted and nothing done, as in LedFx.
        other => Ok(envelope::ok(&json!({"status": "success", "tool": other}))),
    }
}

async fn put_all(State(state): State<AppState>, body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let command = match tool(&body, ALL_TOOLS)?.as_str() {
        "force_color" => force_color(&body, None)?,
        _ => ToolCommand::StopOneshots { virtual_id: None },
    };
    Ok(run(&state, command).await)
}

async fn post_one(
    State(state): State<AppState>,
    Path(virtual_id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    match tool(&body, ONE_TOOLS)?.as_str() {
        "oneshot" => Ok(run(&state, oneshot(&body, Some(virtual_id))?).await),
        other => Ok(envelope::ok(&json!({"status": "success", "tool": other}))),
    }
}

async fn put_one(
    State(state): State<AppState>,
    Path(virtual_id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    let command = match tool(&body, ONE_TOOLS)?.as_str() {
        "force_color" => force_color(&body, Some(virtual_id))?,
        "calibration" => match body.get("mode").and_then(Value::as_str) {
            Some(mode @ ("on" | "off")) => ToolCommand::Calibration {
                virtual_id,
                on: mode == "on",
            },
            _ => {
                return Err(invalid(
                    "Required attribute for calibration, mode:on or mode:off expected",
                ))
            }
        },
        "highlight" => {
            let on = body.get("state").is_none_or(|s| s != &Value::Bool(false));
            let int = |key: &str| match body.get(key) {
                None | Some(Value::Null) => Ok(-1),
                Some(v) => v
                    .as_i64()
                    .ok_or_else(|| invalid("highlight error: start and end must be integers")),
            };
            let device = body
                .get("device")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            ToolCommand::Highlight {
                virtual_id,
                on,
                device,
                start: int("start")?,
                stop: int("stop")?,
                flip: body.get("flip") == Some(&Value::Bool(true)),
            }
        }
        "copy" => match body.get("target") {
            None | Some(Value::Null) => {
                return Err(invalid(
                    "Required attribute for copy, target was not provided",
                ))
            }
            Some(Value::Array(items)) => ToolCommand::Copy {
                virtual_id,
                targets: items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            },
            Some(_) => {
                return Err(invalid(
                    "Required attribute for copy, target must be a list",
                ))
            }
        },
        _ => ToolCommand::StopOneshots {
            virtual_id: Some(virtual_id),
        },
    };
    Ok(run(&state, command).await)
}

//! `/api/colors` and `/api/colors/{color_id}` (ledfx-api.md §3.25).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get};
use axum::Router;
use proto::api::colors::ColorCommand;
use proto::api::Json;
use serde_json::Value;

use super::{kind_of, run, AppState, Handled, RequestError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/colors", get(list).post(save).delete(delete_many))
        .route("/api/colors/{color_id}", delete(delete_one))
}

async fn list(State(state): State<AppState>) -> Response {
    run(&state, ColorCommand::List).await
}

fn parse(body: &Bytes) -> Result<Value, RequestError> {
    serde_json::from_slice(body).map_err(|_| RequestError::MalformedJson)
}

async fn save(State(state): State<AppState>, body: Bytes) -> Handled {
    let entries = Json::from_value(&parse(&body)?);
    Ok(run(&state, ColorCommand::Save { entries }).await)
}

async fn delete_many(State(state): State<AppState>, body: Bytes) -> Handled {
    let names = match parse(&body)? {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(name) => Ok(name),
                other => Err(RequestError::Invalid(format!(
                    "Request body must be a list of names, got a list containing {}",
                    kind_of(&other)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(RequestError::Invalid(format!(
                "Request body must be a list of names, got {}",
                kind_of(&other)
            )))
        }
    };
    Ok(run(&state, ColorCommand::DeleteMany { names }).await)
}

async fn delete_one(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    run(&state, ColorCommand::DeleteOne { id }).await
}

//! Effect and virtual presets: `/api/effects/{id}`, `/api/effects/{id}/presets`,
//! `/api/effects/{id}/presets/{preset_id}`, `/api/virtuals/{id}/presets`
//! (ledfx-api.md §3.9, §3.15). Missing attributes and unknown categories are answered here,
//! in LedFx's order; everything that needs the state goes to the owner.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get};
use axum::Router;
use proto::api::effects::EffectCommand;
use proto::api::presets::{Category, PresetCommand};
use serde_json::{Map, Value};

use super::{
    missing_attributes, parse_object, required_string, run, AppState, Handled, RequestError,
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/effects/{effect_id}", get(effect_schema))
        .route(
            "/api/effects/{effect_id}/presets",
            get(effect_presets).put(rename).delete(delete_preset),
        )
        .route(
            "/api/effects/{effect_id}/presets/{preset_id}",
            delete(delete_user_preset),
        )
        .route(
            "/api/virtuals/{virtual_id}/presets",
            get(virtual_presets)
                .put(apply)
                .post(save)
                .delete(clear_effect),
        )
}

fn category(body: &Map<String, Value>) -> Result<Category, RequestError> {
    let name = required_string(body, "category", '"')?;
    Category::parse(&name).ok_or_else(|| {
        RequestError::Invalid(format!(
            "Category {name} is not \"ledfx_presets\" or \"user_presets\""
        ))
    })
}

async fn effect_schema(State(state): State<AppState>, Path(effect_id): Path<String>) -> Response {
    run(&state, PresetCommand::EffectSchema { effect_id }).await
}

async fn effect_presets(State(state): State<AppState>, Path(effect_id): Path<String>) -> Response {
    run(&state, PresetCommand::EffectPresets { effect_id }).await
}

async fn rename(
    State(state): State<AppState>,
    Path(effect_id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    // LedFx names the first missing one of these, then checks the category.
    let category_name = required_string(&body, "category", '"')?;
    let preset_id = required_string(&body, "preset_id", '"')?;
    let name = required_string(&body, "name", '"')?;
    let category = Category::parse(&category_name).ok_or_else(|| {
        RequestError::Invalid(format!(
            "Category {category_name} is not \"ledfx_presets\" or \"user_presets\""
        ))
    })?;
    Ok(run(
        &state,
        PresetCommand::Rename {
            effect_id,
            category,
            preset_id,
            name,
        },
    )
    .await)
}

async fn delete_preset(
    State(state): State<AppState>,
    Path(effect_id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    let category = category(&body)?;
    let preset_id = match body.get("preset_id") {
        None | Some(Value::Null) => None,
        Some(_) => Some(required_string(&body, "preset_id", '"')?),
    };
    Ok(run(
        &state,
        PresetCommand::Delete {
            effect_id,
            category,
            preset_id,
        },
    )
    .await)
}

async fn delete_user_preset(
    State(state): State<AppState>,
    Path((effect_id, preset_id)): Path<(String, String)>,
) -> Response {
    run(
        &state,
        PresetCommand::DeleteUser {
            effect_id,
            preset_id,
        },
    )
    .await
}

async fn virtual_presets(
    State(state): State<AppState>,
    Path(virtual_id): Path<String>,
) -> Response {
    run(&state, PresetCommand::VirtualPresets { virtual_id }).await
}

async fn apply(
    State(state): State<AppState>,
    Path(virtual_id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    let absent = |key: &str| body.get(key).is_none_or(Value::is_null);
    missing_attributes(&[
        ("category", absent("category")),
        ("preset_id", absent("preset_id")),
        ("effect_id", absent("effect_id")),
    ])?;
    let category = category(&body)?;
    let preset_id = required_string(&body, "preset_id", '"')?;
    let effect_id = required_string(&body, "effect_id", '"')?;
    Ok(run(
        &state,
        PresetCommand::Apply {
            virtual_id,
            category,
            effect_id,
            preset_id,
        },
    )
    .await)
}

async fn save(
    State(state): State<AppState>,
    Path(virtual_id): Path<String>,
    body: Bytes,
) -> Handled {
    let body = parse_object(&body)?;
    let name = required_string(&body, "name", '"')?;
    Ok(run(&state, PresetCommand::Save { virtual_id, name }).await)
}

/// LedFx's legacy meaning of this DELETE: clear the virtual's effect (no preset is deleted).
async fn clear_effect(State(state): State<AppState>, Path(virtual_id): Path<String>) -> Response {
    run(&state, EffectCommand::Clear { virtual_id }).await
}

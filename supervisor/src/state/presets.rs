//! Presets (ledfx-api.md §2.6, §3.9, §3.15): LedFx's built-in `ledfx_presets` (data in
//! render-proc, never saved), the synthetic `reset` (an effect's defaults), and the user's
//! `user_presets` in the document. One lookup serves the preset endpoints and scenes.
//!
//! Presets of an effect ledfx-rs does not have yet (kept in a LedFx config, or LedFx's own
//! built-ins) are listed and can be managed, but not run.

use proto::api::presets::{Category, PresetCommand};
use proto::api::{ApiFailure, ApiReply, EffectConfigArg, Json};
use render_proc::presets::presets_of;
use serde_json::{json, Map, Value};

use super::{invalid, not_found, reply, ReadCtx, Resource, State};
use crate::config::Section;
use crate::ids::slug;

/// The preset group.
pub struct Presets;

const USER_PRESETS: &str = "user_presets";

/// Keys preset comparisons ignore (§2.6).
const PRESET_NEUTRAL_KEYS: &[&str] = &["advanced", "diag", "gradient_name"];

/// Whether two configs are the same preset.
pub fn same_preset_config(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let strip = |m: &Map<String, Value>| -> Map<String, Value> {
        m.iter()
            .filter(|(k, _)| !PRESET_NEUTRAL_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    strip(a) == strip(b)
}

fn runnable(effect: &str) -> bool {
    render_proc::effect_name(effect).is_some()
}

fn missing_in(effect: &str, category: Category) -> ApiFailure {
    invalid(format!(
        "Effect {effect} does not exist in category {}",
        category.name()
    ))
}

fn no_preset(preset: &str, effect: &str, category: Category) -> ApiFailure {
    invalid(format!(
        "Preset {preset} does not exist for effect {effect} in category {}",
        category.name()
    ))
}

fn builtin_refused(what: &str) -> ApiFailure {
    invalid(format!(
        "Built-in presets cannot be {what} in ledfx-rs; save the effect as a user preset instead"
    ))
}

impl Resource for Presets {
    type Command = PresetCommand;

    fn read(ctx: &ReadCtx<'_>, command: PresetCommand) -> ApiReply {
        let state = ctx.state;
        match command {
            PresetCommand::EffectSchema { effect_id } => {
                state.known_effect(&effect_id)?;
                let schema = &super::schema::full()["effects"][effect_id.as_str()]["schema"];
                reply(json!({"schema": schema.to_string()}))
            }
            PresetCommand::EffectPresets { effect_id } => {
                state.known_effect(&effect_id)?;
                let (ledfx, user) = state.presets_view(&effect_id, None);
                reply(json!({
                    "status": "success",
                    "effect": effect_id,
                    "ledfx_presets": ledfx,
                    "user_presets": user,
                }))
            }
            PresetCommand::VirtualPresets { virtual_id } => {
                let Some(v) = state.doc.virtual_entry(&virtual_id) else {
                    return Err(not_found(&state.doc, Section::Virtuals, &virtual_id));
                };
                let Some(effect) = &v.effect else {
                    return Err(invalid(format!(
                        "Virtual {virtual_id} has no active effect"
                    )));
                };
                let (ledfx, user) = state.presets_view(&effect.effect_type, Some(&effect.config));
                reply(json!({
                    "status": "success",
                    "virtual": virtual_id,
                    "effect": effect.effect_type,
                    "ledfx_presets": ledfx,
                    "user_presets": user,
                }))
            }
            other => Err(ApiFailure::internal(format!("{other:?} is not a read"))),
        }
    }

    fn write(state: &mut State, command: PresetCommand) -> ApiReply {
        match command {
            PresetCommand::Rename {
                effect_id,
                category,
                preset_id,
                name,
            } => {
                state.known_effect(&effect_id)?;
                let table = state.user_table(&effect_id, category)?;
                let preset = table
                    .get_mut(&preset_id)
                    .and_then(Value::as_object_mut)
                    .ok_or_else(|| no_preset(&preset_id, &effect_id, category))?;
                preset.insert("name".into(), json!(name));
                reply(json!({"status": "success"}))
            }
            PresetCommand::Delete {
                effect_id,
                category,
                preset_id,
            } => {
                state.known_effect(&effect_id)?;
                let table = state.user_table(&effect_id, category)?;
                let Some(preset_id) = preset_id else {
                    return Err(invalid("Required attribute \"preset_id\" was not provided"));
                };
                table
                    .shift_remove(&preset_id)
                    .ok_or_else(|| no_preset(&preset_id, &effect_id, category))?;
                reply(json!({"status": "success"}))
            }
            PresetCommand::DeleteUser {
                effect_id,
                preset_id,
            } => {
                state.known_effect(&effect_id)?;
                let table = state
                    .user_table(&effect_id, Category::User)
                    .map_err(|_| invalid(format!("Effect {effect_id} has no user presets")))?;
                table.shift_remove(&preset_id).ok_or_else(|| {
                    invalid(format!(
                        "Preset {preset_id} does not exist for effect {effect_id} in user presets"
                    ))
                })?;
                reply(json!({"status": "success"}))
            }
            PresetCommand::Apply {
                virtual_id,
                category,
                effect_id,
                preset_id,
            } => {
                if state.doc.virtual_entry(&virtual_id).is_none() {
                    return Err(not_found(&state.doc, Section::Virtuals, &virtual_id));
                }
                let config = state.preset_config(&effect_id, category, &preset_id)?;
                state.set_effect(
                    &virtual_id,
                    &effect_id,
                    EffectConfigArg::Given(Json::from_value(&Value::Object(config))),
                )
            }
            PresetCommand::Save { virtual_id, name } => state.save_preset(&virtual_id, &name),
            other => Err(ApiFailure::internal(format!("{other:?} is not a write"))),
        }
    }
}

impl State {
    fn user_presets_of(&self, effect: &str) -> Option<&Map<String, Value>> {
        self.doc.core.get(USER_PRESETS)?.get(effect)?.as_object()
    }

    /// An effect the preset endpoints know: one ledfx-rs runs, or one with presets.
    fn known_effect(&self, effect: &str) -> Result<(), ApiFailure> {
        if runnable(effect)
            || presets_of(effect).is_some()
            || self.user_presets_of(effect).is_some()
        {
            Ok(())
        } else {
            Err(invalid(format!("Effect {effect} does not exist")))
        }
    }

    /// The user's presets of one effect, for a change. Built-ins are not changed.
    fn user_table(
        &mut self,
        effect: &str,
        category: Category,
    ) -> Result<&mut Map<String, Value>, ApiFailure> {
        if category == Category::Ledfx {
            let exists = runnable(effect) || presets_of(effect).is_some();
            return Err(if exists {
                builtin_refused("renamed or deleted")
            } else {
                missing_in(effect, category)
            });
        }
        match self.user_map(USER_PRESETS)?.get_mut(effect) {
            Some(Value::Object(table)) => Ok(table),
            _ => Err(missing_in(effect, category)),
        }
    }

    /// A preset's config over the effect's defaults (as stored when the effect runs it).
    /// The defaults themselves for an effect ledfx-rs does not run.
    fn filled(effect: &str, config: &Map<String, Value>) -> Map<String, Value> {
        Self::validated_effect(effect, config).unwrap_or_else(|_| config.clone())
    }

    /// The config a preset stands for, filled from the defaults.
    pub(super) fn preset_config(
        &self,
        effect: &str,
        category: Category,
        preset: &str,
    ) -> Result<Map<String, Value>, ApiFailure> {
        if category == Category::Ledfx && preset == "reset" && runnable(effect) {
            return Self::validated_effect(effect, &Map::new());
        }
        let table = match category {
            Category::Ledfx => presets_of(effect),
            Category::User => self.user_presets_of(effect),
        }
        .ok_or_else(|| missing_in(effect, category))?;
        let config = table
            .get(preset)
            .and_then(|p| p.get("config"))
            .and_then(Value::as_object)
            .ok_or_else(|| no_preset(preset, effect, category))?;
        Ok(Self::filled(effect, config))
    }

    /// `(ledfx_presets, user_presets)` of one effect, configs filled from the defaults; with
    /// `running`, each says whether it is what runs.
    fn presets_view(&self, effect: &str, running: Option<&Map<String, Value>>) -> (Value, Value) {
        // The running config, filled once, compared with every preset.
        let running = running.map(|r| Self::filled(effect, r));
        let entry = |name: &Value, config: Map<String, Value>| {
            let mut out = json!({"name": name, "config": config});
            if let Some(running) = &running {
                out["active"] = json!(same_preset_config(&config, running));
            }
            out
        };
        let mut ledfx = Map::new();
        if let Ok(defaults) = Self::validated_effect(effect, &Map::new()) {
            ledfx.insert("reset".into(), entry(&json!("reset"), defaults));
        }
        for (id, preset) in presets_of(effect).into_iter().flatten() {
            let config = preset
                .get("config")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            ledfx.insert(
                id.clone(),
                entry(&preset["name"], Self::filled(effect, &config)),
            );
        }
        let mut user = Map::new();
        for (id, preset) in self.user_presets_of(effect).into_iter().flatten() {
            let config = preset
                .get("config")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            user.insert(
                id.clone(),
                entry(&preset["name"], Self::filled(effect, &config)),
            );
        }
        (Value::Object(ledfx), Value::Object(user))
    }

    /// The built-in (`reset` included) or user preset whose config equals `config`.
    pub(super) fn matching_preset(
        &self,
        effect: &str,
        config: &Map<String, Value>,
    ) -> Option<(String, &'static str)> {
        let filled = Self::validated_effect(effect, config).ok()?;
        let defaults = Self::validated_effect(effect, &Map::new()).ok()?;
        if same_preset_config(&filled, &defaults) {
            return Some(("reset".into(), "ledfx_presets"));
        }
        let find = |table: Option<&Map<String, Value>>| {
            table?.iter().find_map(|(id, preset)| {
                let raw = preset.get("config")?.as_object()?;
                same_preset_config(&filled, &Self::filled(effect, raw)).then(|| id.clone())
            })
        };
        find(presets_of(effect))
            .map(|id| (id, "ledfx_presets"))
            .or_else(|| find(self.user_presets_of(effect)).map(|id| (id, "user_presets")))
    }

    /// `POST /api/virtuals/{id}/presets`: the running effect's config as a user preset,
    /// its id the slug of the name (an existing one is replaced, as in LedFx).
    fn save_preset(&mut self, virtual_id: &str, name: &str) -> ApiReply {
        let Some(v) = self.doc.virtual_entry(virtual_id) else {
            return Err(not_found(&self.doc, Section::Virtuals, virtual_id));
        };
        let Some(effect) = v.effect.clone() else {
            return Err(invalid(format!(
                "Virtual {virtual_id} has no active effect"
            )));
        };
        let id = slug(name);
        let presets = self.user_map(USER_PRESETS)?;
        let table = presets
            .entry(effect.effect_type.clone())
            .or_insert_with(|| json!({}));
        let Value::Object(table) = table else {
            return Err(invalid(format!(
                "config.json's user_presets.{} is not an object; ledfx-rs leaves it as written and cannot add to it until it is fixed",
                effect.effect_type
            )));
        };
        table.insert(id.clone(), json!({"name": name, "config": effect.config}));
        reply(json!({
            "status": "success",
            "preset": {"id": id, "name": name, "config": effect.config},
        }))
    }
}

#[cfg(test)]
mod tests;

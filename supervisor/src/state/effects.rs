//! A virtual's effect: `/api/virtuals/{id}/effects` (ledfx-api.md §3.12) — setting a new
//! instance, updating in place (or recreating on a colour change), clearing, and the view.
//! The bulk actions of `/api/effects` are in `global_effects.rs`.

use proto::api::effects::EffectCommand;
use proto::api::{ApiFailure, ApiReply, EffectConfigArg, Json};
use serde_json::{json, Map, Value};

use super::{invalid, not_found, reply, ReadCtx, Resource, State};
use crate::config::{EffectEntry, Section};

/// The effect group.
pub struct Effects;

impl Resource for Effects {
    type Command = EffectCommand;

    fn read(ctx: &ReadCtx<'_>, command: EffectCommand) -> ApiReply {
        let state = ctx.state;
        match command {
            EffectCommand::Get { virtual_id } => match state.doc.virtual_entry(&virtual_id) {
                Some(v) => reply(json!({"effect": state.effect_view(v.effect.as_ref())})),
                None => Err(not_found(&state.doc, Section::Virtuals, &virtual_id)),
            },
            EffectCommand::ListAll => reply(state.running_effects()),
            other => Err(ApiFailure::internal(format!("{other:?} is not a read"))),
        }
    }

    fn write(state: &mut State, command: EffectCommand) -> ApiReply {
        match command {
            EffectCommand::Set {
                virtual_id,
                effect_type,
                config,
            } => {
                // An effect set without a fallback cancels a pending one (LedFx's rule).
                state.fallbacks.remove(&virtual_id);
                state.set_effect(&virtual_id, &effect_type, config)
            }
            EffectCommand::Update {
                virtual_id,
                effect_type,
                config,
            } => {
                state.fallbacks.remove(&virtual_id);
                state.update_effect(&virtual_id, effect_type, config)
            }
            EffectCommand::WithFallback { command, seconds } => {
                state.with_fallback(*command, seconds)
            }
            EffectCommand::FireFallback { virtual_id, token } => {
                state.fire_fallback(&virtual_id, token)
            }
            EffectCommand::Clear { virtual_id } => {
                let Some(v) = state.doc.virtual_mut(&virtual_id) else {
                    return Err(not_found(&state.doc, Section::Virtuals, &virtual_id));
                };
                v.effect = None;
                v.active = false;
                reply(json!({"status": "success", "effect": {}}))
            }
            EffectCommand::ClearAll => state.clear_all_effects(),
            EffectCommand::ApplyGlobal { body } => state.apply_global(body),
            EffectCommand::ApplyGlobalEffect {
                effect_type,
                config,
                virtuals,
                fallback_s,
            } => state.apply_global_effect(&effect_type, config, virtuals, fallback_s),
            other => Err(ApiFailure::internal(format!("{other:?} is not a write"))),
        }
    }
}

impl State {
    /// An effect object `{type, name, config}`, or `{}`.
    pub fn effect_view(&self, effect: Option<&EffectEntry>) -> Value {
        match effect {
            Some(e) => json!({
                "type": e.effect_type,
                "name": render_proc::effect_name(&e.effect_type).unwrap_or(e.effect_type.as_str()),
                "config": e.config,
            }),
            None => json!({}),
        }
    }

    pub(super) fn validated_effect(
        effect_type: &str,
        config: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ApiFailure> {
        match render_proc::validate_effect_config(effect_type, &Value::Object(config.clone())) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(ApiFailure::internal(
                "validated effect config is not an object",
            )),
            Err(e) => Err(invalid(format!("Invalid effect config: {e}"))),
        }
    }

    /// Installs an effect as a new instance, activates the virtual, records history.
    pub(super) fn install_effect(
        &mut self,
        id: &str,
        effect_type: &str,
        config: Map<String, Value>,
    ) -> ApiReply {
        let entry = EffectEntry {
            effect_type: effect_type.to_owned(),
            config,
            extra: Map::new(),
        };
        let Some(v) = self.doc.virtual_mut(id) else {
            return Err(not_found(&self.doc, Section::Virtuals, id));
        };
        v.effects.insert(
            effect_type.to_owned(),
            serde_json::to_value(&entry).unwrap_or(Value::Null),
        );
        v.last_effect = Some(effect_type.to_owned());
        v.effect = Some(entry.clone());
        self.new_instance(id);
        self.activate(id);
        reply(json!({"status": "success", "effect": self.effect_view(Some(&entry))}))
    }

    pub(super) fn set_effect(
        &mut self,
        id: &str,
        effect_type: &str,
        config: EffectConfigArg,
    ) -> ApiReply {
        let Some(v) = self.doc.virtual_entry(id) else {
            return Err(not_found(&self.doc, Section::Virtuals, id));
        };
        if render_proc::effect_name(effect_type).is_none() {
            return Err(invalid(format!("Unknown effect type \"{effect_type}\"")));
        }
        if v.segments.iter().all(|s| s.0.starts_with("gap-")) {
            return Err(ApiFailure::internal(format!(
                "Unable to set effect {effect_type} on {id}: Virtual {id}: Cannot activate, no configured device segments"
            )));
        }
        let raw = match config {
            EffectConfigArg::Given(json) => match json.to_value() {
                Value::Object(map) => map,
                other => return Err(invalid(format!("config: expected an object, got {other}"))),
            },
            EffectConfigArg::Randomize => {
                let mut rng = rand::rng();
                super::randomize::random_config(
                    effect_type,
                    super::randomize::KEEP_ON_SET,
                    &mut rng,
                )
                .unwrap_or_default()
            }
            EffectConfigArg::Last => v
                .effects
                .get(effect_type)
                .and_then(|e| e.get("config"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        };
        let config = Self::validated_effect(effect_type, &raw)?;
        self.install_effect(id, effect_type, config)
    }

    pub(super) fn update_effect(
        &mut self,
        id: &str,
        effect_type: Option<String>,
        patch: Option<Json>,
    ) -> ApiReply {
        let Some(v) = self.doc.virtual_entry(id) else {
            return Err(not_found(&self.doc, Section::Virtuals, id));
        };
        let Some(running) = v.effect.clone() else {
            return Err(invalid(format!("Virtual {id} has no active effect")));
        };
        let patch = patch.map(|j| j.to_value());
        // `"RANDOMIZE"`: the running effect, randomised, whatever type the request named.
        let (effect_type, patch) = match (effect_type, patch) {
            (_, Some(Value::String(s))) if s == "RANDOMIZE" => {
                let mut rng = rand::rng();
                let random = super::randomize::random_config(
                    &running.effect_type,
                    super::randomize::KEEP_ON_UPDATE,
                    &mut rng,
                )
                .unwrap_or_default();
                (running.effect_type.clone(), random)
            }
            (None, _) => return Err(invalid("Required attribute 'type' was not provided")),
            (Some(t), None | Some(Value::Null)) => (t, Map::new()),
            (Some(t), Some(Value::Object(map))) => (t, map),
            (Some(_), Some(other)) => {
                return Err(invalid(format!("config: expected an object, got {other}")))
            }
        };
        if effect_type != running.effect_type {
            if render_proc::effect_name(&effect_type).is_none() {
                return Err(invalid(format!("Unknown effect type \"{effect_type}\"")));
            }
            let config = Self::validated_effect(&effect_type, &patch)?;
            return self.install_effect(id, &effect_type, config);
        }
        let mut merged = running.config.clone();
        for (k, v) in &patch {
            merged.insert(k.clone(), v.clone());
        }
        let config = Self::validated_effect(&effect_type, &merged)?;
        // LedFx recreates the effect (with a transition) when a colour changes, unless the
        // effect opts out with `color_blend: false`.
        let recreate = patch.keys().any(|k| k.contains("color"))
            && running.config.get("color_blend") != Some(&Value::Bool(false));
        if recreate {
            return self.install_effect(id, &effect_type, config);
        }
        let entry = EffectEntry {
            effect_type: effect_type.clone(),
            config,
            extra: running.extra.clone(),
        };
        if let Some(v) = self.doc.virtual_mut(id) {
            v.effects.insert(
                effect_type,
                serde_json::to_value(&entry).unwrap_or(Value::Null),
            );
            v.effect = Some(entry.clone());
        }
        reply(json!({"status": "success", "effect": self.effect_view(Some(&entry))}))
    }
}

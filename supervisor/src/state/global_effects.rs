//! The bulk effect actions of `/api/effects` (ledfx-api.md §3.8): every running effect,
//! clearing them all, applying common settings to all of them, and setting one effect on
//! many virtuals.

use proto::api::effects::EffectCommand;
use proto::api::{ApiFailure, ApiReply, EffectConfigArg, FailureKind, Json};
use serde_json::{json, Map, Value};

use super::{invalid, reply, State};
use crate::config::EffectEntry;

/// The settings `apply_global` may change, in the order its error message lists them.
const GLOBAL_KEYS: &[&str] = &[
    "gradient",
    "background_color",
    "background_brightness",
    "brightness",
    "flip",
    "mirror",
];

fn success(reason: String) -> ApiReply {
    reply(json!({"status": "success", "payload": {"type": "success", "reason": reason}}))
}

/// The optional `virtuals` restriction: a list of ids.
fn virtual_list(body: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiFailure> {
    match body.get("virtuals") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|id| id.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| {
                invalid("Invalid value for \"virtuals\": must be a list of virtual ids")
            }),
        Some(_) => Err(invalid(
            "Invalid value for \"virtuals\": must be a list of virtual ids",
        )),
    }
}

impl State {
    /// `GET /api/effects`.
    pub(super) fn running_effects(&self) -> Value {
        let effects: Map<String, Value> = self
            .doc
            .virtuals
            .iter()
            .filter_map(|v| {
                let e = v.effect.as_ref()?;
                Some((
                    v.id.clone(),
                    json!({"effect_type": e.effect_type, "effect_config": e.config}),
                ))
            })
            .collect();
        json!({"status": "success", "effects": effects})
    }

    /// `clear_all_effects`: every virtual's effect cleared and the virtual deactivated (its
    /// devices get one black frame from output-proc).
    pub(super) fn clear_all_effects(&mut self) -> ApiReply {
        let ids: Vec<String> = self.doc.virtuals.iter().map(|v| v.id.clone()).collect();
        for id in ids {
            if let Some(v) = self.doc.virtual_mut(&id) {
                if v.effect.is_some() || v.active {
                    v.effect = None;
                    v.active = false;
                }
            }
        }
        reply(
            json!({"status": "success", "payload": {"type": "info", "reason": "Cleared all effects on all devices"}}),
        )
    }

    /// `apply_global`: the given common settings laid over every running effect (of the
    /// listed virtuals) that has them.
    pub(super) fn apply_global(&mut self, body: Json) -> ApiReply {
        let Value::Object(body) = body.to_value() else {
            return Err(invalid("Request body must be a JSON object"));
        };
        if !GLOBAL_KEYS.iter().any(|k| body.contains_key(*k)) {
            return Err(invalid(format!(
                "At least one of the following attributes must be provided: {}",
                GLOBAL_KEYS.join(", ")
            )));
        }
        if body.contains_key("gradient") {
            return Err(invalid(
                "Invalid value for \"gradient\": gradients are not supported by ledfx-rs yet",
            ));
        }
        for key in ["flip", "mirror"] {
            match body.get(key) {
                None | Some(Value::Bool(_)) => {}
                Some(Value::String(s)) if s == "toggle" => {}
                Some(_) => {
                    return Err(invalid(format!(
                        "Invalid value for \"{key}\": must be true, false, or \"toggle\""
                    )))
                }
            }
        }
        let mut patch = Map::new();
        for key in ["background_brightness", "brightness"] {
            match body.get(key) {
                None => {}
                Some(value) => match value.as_f64() {
                    Some(f) => {
                        patch.insert(key.into(), json!(f.clamp(0.0, 1.0)));
                    }
                    None => {
                        return Err(invalid(format!(
                            "Invalid value for \"{key}\": expected a number, got {value}"
                        )))
                    }
                },
            }
        }
        if let Some(color) = body.get("background_color") {
            patch.insert("background_color".into(), color.clone());
        }
        let only = virtual_list(&body)?;
        let targets: Vec<String> = self
            .doc
            .virtuals
            .iter()
            .filter(|v| only.as_ref().is_none_or(|ids| ids.contains(&v.id)))
            .map(|v| v.id.clone())
            .collect();
        let (mut applied, mut skipped) = (0, 0);
        for id in targets {
            let Some(running) = self.doc.virtual_entry(&id).and_then(|v| v.effect.clone()) else {
                skipped += 1;
                continue;
            };
            let fields: Vec<&str> = render_proc::effects::entry(&running.effect_type)
                .map(|e| e.all_fields().map(|f| f.key).collect())
                .unwrap_or_default();
            let mut config = running.config.clone();
            let mut touched = false;
            for (key, value) in &patch {
                if fields.contains(&key.as_str()) {
                    config.insert(key.clone(), value.clone());
                    touched = true;
                }
            }
            for key in ["flip", "mirror"] {
                let Some(given) = body.get(key) else { continue };
                if !fields.contains(&key) {
                    continue;
                }
                let now = config.get(key).and_then(Value::as_bool).unwrap_or(false);
                let value = given.as_bool().unwrap_or(!now);
                config.insert(key.into(), Value::Bool(value));
                touched = true;
            }
            if !touched {
                skipped += 1;
                continue;
            }
            // A bad colour fails here, naming the key, before anything is changed.
            let config = Self::validated_effect(&running.effect_type, &config).map_err(|e| {
                invalid(
                    e.reason
                        .replace("Invalid effect config: ", "Invalid value for "),
                )
            })?;
            let entry = EffectEntry { config, ..running };
            if let Some(v) = self.doc.virtual_mut(&id) {
                v.effects.insert(
                    entry.effect_type.clone(),
                    serde_json::to_value(&entry).unwrap_or(Value::Null),
                );
                v.effect = Some(entry);
            }
            applied += 1;
        }
        success(format!(
            "Applied global configuration to {applied} effects (skipped {skipped})"
        ))
    }

    /// `apply_global_effect`: a new effect of one type on every listed virtual.
    pub(super) fn apply_global_effect(
        &mut self,
        effect_type: &str,
        config: Option<Json>,
        virtuals: Option<Vec<String>>,
        fallback_s: Option<f64>,
    ) -> ApiReply {
        if render_proc::effect_name(effect_type).is_none() {
            return Err(invalid(format!("Unknown effect type \"{effect_type}\"")));
        }
        let targets = match virtuals {
            Some(ids) if ids.is_empty() => {
                return Err(invalid(
                    "Invalid value for \"virtuals\": must be a non-empty list of virtual ids",
                ))
            }
            Some(ids) => ids,
            None => self.doc.virtuals.iter().map(|v| v.id.clone()).collect(),
        };
        let config = config.unwrap_or_else(|| Json::from_value(&json!({})));
        let (mut applied, mut skipped, mut blocked, mut failed) = (0, 0, 0, 0);
        for id in targets {
            if self.doc.virtual_entry(&id).is_none() {
                skipped += 1;
                continue;
            }
            let set = EffectCommand::Set {
                virtual_id: id.clone(),
                effect_type: effect_type.to_owned(),
                config: EffectConfigArg::Given(config.clone()),
            };
            let result = match fallback_s {
                Some(seconds) => self.with_fallback(set, seconds),
                None => {
                    self.fallbacks.remove(&id);
                    self.set_effect(&id, effect_type, EffectConfigArg::Given(config.clone()))
                }
            };
            match result {
                Ok(_) => applied += 1,
                // A virtual being streamed to takes no fallback.
                Err(e) if e.kind == FailureKind::Conflict => blocked += 1,
                Err(_) => failed += 1,
            }
        }
        success(format!(
            "Applied effect '{effect_type}' to {applied} virtuals (skipped {skipped}, blocked {blocked}, failed {failed})"
        ))
    }
}

#[cfg(test)]
mod tests;

//! Creating and editing virtuals: `POST /api/virtuals` (create, or update a config),
//! `POST /api/virtuals/{id}` (segments) and `POST /api/virtuals/{id}/effects/delete`
//! (ledfx-api.md §3.10, §3.11, §3.13, segment rules §2.5).

use std::sync::Arc;

use proto::api::{ApiReply, Json};
use serde_json::{json, Map, Value};

use super::{invalid, not_found, reply, virtual_config, State};
use crate::config::{Section, Segment, VirtualEntry};
use crate::ids::{slug, unique_id};

/// The icon a user-created virtual gets when its config names none.
const DEFAULT_ICON: &str = "mdi:led-strip-variant";

/// Config keys whose change makes the running effect start over, as in LedFx: the pixel
/// layout it renders into changed.
const RESTARTS_EFFECT: [&str; 4] = ["mapping", "grouping", "rows", "rotate"];

/// A device id that marks a gap: a placeholder segment that drives nothing.
fn is_gap(device_id: &str) -> bool {
    device_id.starts_with("gap-")
}

impl State {
    /// `POST /api/virtuals`.
    pub(super) fn save_virtual(&mut self, id: Option<String>, config: Json) -> ApiReply {
        let Value::Object(config) = config.to_value() else {
            return Err(invalid("config: expected an object"));
        };
        match id {
            None => self.create_virtual(&config),
            Some(id) => self.update_virtual(&id, &config),
        }
    }

    fn create_virtual(&mut self, raw: &Map<String, Value>) -> ApiReply {
        let config = virtual_config::validate(raw, DEFAULT_ICON)
            .map_err(|e| invalid(format!("Invalid virtual config: {e}")))?;
        let name = config["name"].as_str().unwrap_or_default().to_owned();
        let id = unique_id(&slug(&name), |c| self.doc.id_taken(Section::Virtuals, c));
        self.doc.virtuals.push(Arc::new(VirtualEntry::new(
            id.clone(),
            config.clone(),
            Vec::new(),
            None,
        )));
        reply(saved_reply(format!("Created Virtual {id}"), &id, &config))
    }

    fn update_virtual(&mut self, id: &str, patch: &Map<String, Value>) -> ApiReply {
        let Some(current) = self.doc.virtual_entry(id) else {
            return Err(not_found(&self.doc, Section::Virtuals, id));
        };
        let old = current.config.clone();
        let mut merged = old.clone();
        merged.extend(patch.iter().map(|(k, v)| (k.clone(), v.clone())));
        let icon = old
            .get("icon_name")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_ICON)
            .to_owned();
        let config = virtual_config::validate(&merged, &icon)
            .map_err(|e| invalid(format!("Invalid virtual config: {e}")))?;
        let restart = current.effect.is_some()
            && RESTARTS_EFFECT
                .iter()
                .any(|k| old.get(*k) != config.get(*k));
        let (is_device, auto_generated) = (current.is_device.clone(), current.auto_generated);
        if let Some(v) = self.doc.virtual_mut(id) {
            v.config = config.clone();
        }
        if restart {
            self.new_instance(id);
        }
        self.share_transitions(id, &old, &config);
        let name = config["name"].as_str().unwrap_or(id).to_owned();
        let mut out = saved_reply(format!("Updated Virtual {name}"), id, &config);
        out["virtual"]["is_device"] = is_device;
        out["virtual"]["auto_generated"] = json!(auto_generated);
        reply(out)
    }

    /// With `global_transitions` on, a change of one virtual's transition is copied to every
    /// other virtual that has segments (LedFx's rule).
    fn share_transitions(&mut self, id: &str, old: &Map<String, Value>, new: &Map<String, Value>) {
        if self.doc.core.get("global_transitions") != Some(&Value::Bool(true)) {
            return;
        }
        let keys = ["transition_mode", "transition_time"];
        if keys.iter().all(|k| old.get(*k) == new.get(*k)) {
            return;
        }
        for v in self.doc.virtuals.iter_mut() {
            if v.id != id && !v.segments.is_empty() {
                let v = Arc::make_mut(v);
                for key in keys {
                    v.config.insert(key.into(), new[key].clone());
                }
            }
        }
    }

    /// `POST /api/virtuals/{id}`: every segment is checked before any is stored; pixel
    /// ranges are clamped to the device.
    pub(super) fn set_segments(&mut self, id: &str, segments: Json) -> ApiReply {
        let Some(current) = self.doc.virtual_entry(id) else {
            return Err(not_found(&self.doc, Section::Virtuals, id));
        };
        let Value::Array(items) = segments.to_value() else {
            return Err(invalid(format!(
                "Unable to set virtual segments: segments: expected a list of [device_id, start, end, invert], got {}",
                segments.0
            )));
        };
        let parsed = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                self.segment(item)
                    .map_err(|e| format!("segments[{i}]: {e}"))
            })
            .collect::<Result<Vec<Segment>, String>>()
            .map_err(|e| invalid(format!("Unable to set virtual segments: {e}")))?;
        let width = |segs: &[Segment]| segs.iter().map(|s| s.2 - s.1 + 1).sum::<i64>();
        let resized = width(&current.segments) != width(&parsed);
        let had_effect = current.effect.is_some();
        let drives_something = parsed.iter().any(|s| !is_gap(&s.0));
        let was_active = current.active;
        if let Some(v) = self.doc.virtual_mut(id) {
            v.segments = parsed.clone();
            if !drives_something {
                // LedFx cannot keep a virtual without device segments running.
                v.active = false;
            }
        }
        if resized && had_effect {
            self.new_instance(id);
        }
        if was_active && drives_something {
            // Re-claim the new ranges: other virtuals on them step aside (§2.5).
            self.activate(id);
        }
        reply(json!({"status": "success", "segments": parsed}))
    }

    /// One `[device_id, start, end, invert]`, clamped to the device's pixels.
    fn segment(&self, item: &Value) -> Result<Segment, String> {
        let parts = match item {
            Value::Array(parts) if parts.len() == 4 => parts,
            other => {
                return Err(format!(
                    "expected [device_id, start, end, invert], got {other}"
                ))
            }
        };
        let device_id = parts[0]
            .as_str()
            .ok_or_else(|| format!("device id: expected a string, got {}", parts[0]))?;
        let pixel = |value: &Value, what: &str| {
            virtual_config::integer(value)
                .ok_or_else(|| format!("{what}: expected an integer, got {value}"))
        };
        let (mut start, mut end) = (pixel(&parts[1], "start")?, pixel(&parts[2], "end")?);
        let invert = parts[3]
            .as_bool()
            .ok_or_else(|| format!("invert: expected true or false, got {}", parts[3]))?;
        if !is_gap(device_id) {
            let device = self
                .doc
                .device(device_id)
                .ok_or_else(|| format!("Invalid device id: {device_id}"))?;
            let count = device.pixel_count();
            end = end.clamp(0, count - 1);
            start = start.clamp(0, count - 1).min(end);
        } else {
            end = end.max(0);
            start = start.clamp(0, end);
        }
        Ok(Segment(device_id.to_owned(), start, end, invert))
    }

    /// `POST /api/virtuals/{id}/effects/delete`: drops the type from the virtual's effect
    /// history, and clears the running effect if it is of that type.
    pub(super) fn forget_effect(&mut self, id: &str, effect_type: &str) -> ApiReply {
        let Some(v) = self.doc.virtual_mut(id) else {
            return Err(not_found(&self.doc, Section::Virtuals, id));
        };
        v.effects.shift_remove(effect_type);
        if v.effect
            .as_ref()
            .is_some_and(|e| e.effect_type == effect_type)
        {
            v.effect = None;
        }
        reply(json!({"status": "success"}))
    }
}

/// The reply to a create or update: the virtual's id, flags and validated config.
fn saved_reply(reason: String, id: &str, config: &Map<String, Value>) -> Value {
    json!({
        "status": "success",
        "payload": {"type": "success", "reason": reason},
        "virtual": {"id": id, "is_device": false, "auto_generated": false, "config": config},
    })
}

#[cfg(test)]
mod tests;

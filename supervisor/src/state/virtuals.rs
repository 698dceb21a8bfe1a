//! Virtuals: `/api/virtuals` and `/api/virtuals/{id}` (ledfx-api.md §3.10, §3.11) — the
//! global pause, activation with LedFx's exclusivity rules, cascading deletes, and views.

use proto::api::virtuals::VirtualCommand;
use proto::api::{ApiFailure, ApiReply};
use serde_json::{json, Map, Value};

use super::{invalid, not_found, reply, ReadCtx, Resource, State};
use crate::config::{EffectEntry, Section, Segment, VirtualEntry};

/// The virtual group.
pub struct Virtuals;

impl Resource for Virtuals {
    type Command = VirtualCommand;

    fn read(ctx: &ReadCtx<'_>, command: VirtualCommand) -> ApiReply {
        let state = ctx.state;
        match command {
            VirtualCommand::List => reply(state.virtuals_view()),
            VirtualCommand::Get { id } => match state.doc.virtual_entry(&id) {
                Some(v) => {
                    let mut out = Map::new();
                    out.insert("status".into(), json!("success"));
                    out.insert(id.clone(), state.virtual_view(v));
                    reply(Value::Object(out))
                }
                None => Err(not_found(&state.doc, Section::Virtuals, &id)),
            },
            other => Err(ApiFailure::internal(format!("{other:?} is not a read"))),
        }
    }

    fn write(state: &mut State, command: VirtualCommand) -> ApiReply {
        match command {
            VirtualCommand::TogglePause => {
                state.paused = !state.paused;
                reply(json!({"status": "success", "paused": state.paused}))
            }
            VirtualCommand::SetActive { id, active } => state.set_active(&id, active),
            VirtualCommand::Delete { id } => {
                if state.doc.virtual_entry(&id).is_none() {
                    return Err(not_found(&state.doc, Section::Virtuals, &id));
                }
                state.delete_virtual(&id);
                reply(json!({"status": "success"}))
            }
            VirtualCommand::Save { id, config } => state.save_virtual(id, config),
            VirtualCommand::SetSegments { id, segments } => state.set_segments(&id, segments),
            VirtualCommand::ForgetEffect { id, effect_type } => {
                state.forget_effect(&id, &effect_type)
            }
            other => Err(ApiFailure::internal(format!("{other:?} is not a write"))),
        }
    }
}

impl State {
    /// Deletes a virtual, its device if it is a device virtual, and its scene entries.
    pub(super) fn delete_virtual(&mut self, id: &str) {
        let device = self
            .doc
            .virtual_entry(id)
            .and_then(|v| v.device_id().map(str::to_owned));
        self.doc.virtuals.retain(|v| v.id != id);
        let in_scenes = self
            .doc
            .core
            .get("scenes")
            .and_then(Value::as_object)
            .is_some_and(|scenes| {
                scenes.values().any(|scene| {
                    scene
                        .get("virtuals")
                        .and_then(Value::as_object)
                        .is_some_and(|vs| vs.contains_key(id))
                })
            });
        if let Some(Value::Object(scenes)) = in_scenes
            .then(|| self.doc.core_mut().get_mut("scenes"))
            .flatten()
        {
            for scene in scenes.values_mut() {
                if let Some(Value::Object(vs)) = scene.get_mut("virtuals") {
                    vs.remove(id);
                }
            }
        }
        if let Some(device) = device {
            if self.doc.device(&device).is_some() {
                self.delete_device(&device);
            }
        }
    }

    /// Activates a virtual, deactivating the virtuals it displaces (ledfx-api.md §2.5).
    pub(super) fn activate(&mut self, id: &str) {
        let Some(v) = self.doc.virtual_entry(id) else {
            return;
        };
        let claims: Vec<Segment> = v
            .segments
            .iter()
            .filter(|s| !s.0.starts_with("gap-"))
            .cloned()
            .collect();
        let mut displaced = Vec::new();
        for other in self.doc.virtuals.iter().filter(|o| o.id != id && o.active) {
            let clash = claims.iter().any(|claim| {
                let device = &claim.0;
                if id == device {
                    other.segments.iter().any(|s| &s.0 == device)
                } else if &other.id == device {
                    true
                } else {
                    other
                        .segments
                        .iter()
                        .any(|s| &s.0 == device && s.1 <= claim.2 && claim.1 <= s.2)
                }
            });
            if clash {
                displaced.push(other.id.clone());
            }
        }
        for other in displaced {
            if let Some(o) = self.doc.virtual_mut(&other) {
                o.active = false;
            }
        }
        if let Some(v) = self.doc.virtual_mut(id) {
            v.active = true;
        }
    }

    fn set_active(&mut self, id: &str, active: bool) -> ApiReply {
        let Some(v) = self.doc.virtual_entry(id) else {
            return Err(not_found(&self.doc, Section::Virtuals, id));
        };
        if active {
            if v.segments.iter().all(|s| s.0.starts_with("gap-")) {
                return Err(invalid(format!(
                    "Virtual {id}: Cannot activate, no configured device segments"
                )));
            }
            if v.effect.is_none() {
                let restored = v.last_effect.as_ref().and_then(|t| {
                    v.effects
                        .get(t)
                        .and_then(|e| serde_json::from_value::<EffectEntry>(e.clone()).ok())
                });
                let Some(entry) = restored else {
                    return Err(invalid(format!(
                        "Virtual {id}: Cannot activate, no configured effect"
                    )));
                };
                if let Some(v) = self.doc.virtual_mut(id) {
                    v.effect = Some(entry);
                }
                self.new_instance(id);
            }
            self.activate(id);
        } else if let Some(v) = self.doc.virtual_mut(id) {
            v.active = false;
        }
        reply(json!({"status": "success", "active": active}))
    }

    fn pixel_count(v: &VirtualEntry) -> i64 {
        let widths = v.segments.iter().map(|s| s.2 - s.1 + 1);
        if v.config.get("mapping").and_then(Value::as_str) == Some("copy") {
            widths.max().unwrap_or(0)
        } else {
            widths.sum()
        }
    }

    /// Whether a virtual is shown as active: switched on and with an effect to run.
    pub fn shown_active(v: &VirtualEntry) -> bool {
        v.active && v.effect.is_some()
    }

    /// A device's own virtual is "streaming" when it is idle while another virtual drives its
    /// device.
    pub fn streaming(&self, v: &VirtualEntry) -> bool {
        !Self::shown_active(v)
            && self.doc.device(&v.id).is_some()
            && self.doc.virtuals.iter().any(|o| {
                o.id != v.id && Self::shown_active(o) && o.segments.iter().any(|s| s.0 == v.id)
            })
    }

    /// A virtual as `GET /api/virtuals` shows it.
    pub fn virtual_view(&self, v: &VirtualEntry) -> Value {
        json!({
            "id": v.id,
            "config": v.config,
            "is_device": v.is_device,
            "auto_generated": v.auto_generated,
            "segments": v.segments,
            "pixel_count": Self::pixel_count(v),
            "active": Self::shown_active(v),
            "streaming": self.streaming(v),
            "last_effect": v.last_effect,
            "effect": self.effect_view(v.effect.as_ref()),
        })
    }

    /// `GET /api/virtuals`.
    pub fn virtuals_view(&self) -> Value {
        let virtuals: Map<String, Value> = self
            .doc
            .virtuals
            .iter()
            .map(|v| (v.id.clone(), self.virtual_view(v)))
            .collect();
        json!({"status": "success", "virtuals": virtuals, "paused": self.paused})
    }
}

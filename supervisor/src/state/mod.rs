//! The desired state and the rules that change it.
//!
//! [`State`] owns the configuration document and applies [`ApiCommand`]s to it with LedFx
//! 2.2.1's semantics (ids, defaults, activation exclusivity, cascading deletes). It is pure:
//! no I/O, so every rule is unit-tested here. The supervisor's state actor applies a command
//! to a *copy*, persists the copy, and only then makes it current and acknowledges — a
//! rejected or unsaveable request changes nothing.
//!
//! From the document it derives the [`PipelineState`] the stages run.

mod views;
pub mod virtual_config;

use std::collections::BTreeMap;

use proto::api::{ApiCommand, ApiFailure, ApiReply, EffectConfigArg, Json};
use proto::layout::MAX_DEVICE_SLOTS;
use proto::pipeline::{
    AudioSource, AudioSpec, DeviceSpec, EffectSpec, Mapping, PipelineState, SegmentSpec,
    VirtualSpec,
};
use serde_json::{json, Map, Value};

use crate::config::{ConfigDoc, DeviceEntry, EffectEntry, Segment, VirtualEntry};
use crate::ids::{slug, unique_id};

/// The desired state: the document plus what is derived from it at run time.
#[derive(Debug, Clone)]
pub struct State {
    pub doc: ConfigDoc,
    /// Global pause (runtime only, as in LedFx).
    pub paused: bool,
    /// Increases with every accepted change.
    pub revision: u64,
    /// Shared-memory pixel slot of each device.
    slots: BTreeMap<String, u16>,
    /// Effect instance number of each virtual's running effect.
    instances: BTreeMap<String, u64>,
    next_instance: u64,
    /// Where the search for a free slot starts: slots are handed out round-robin so a freed
    /// slot (which still holds its last frame) is reused as late as possible.
    next_slot: u16,
    audio_source: AudioSource,
    /// The last automatic rollback, reported by `/api/info` (runtime only).
    pub last_rollback: Option<Rollback>,
}

/// An automatic rollback of the configuration after a stage crash-looped.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    pub reason: String,
    pub from_revision: u64,
    pub to_revision: u64,
}

fn invalid(reason: impl Into<String>) -> ApiFailure {
    ApiFailure::invalid(reason)
}

fn virtual_not_found(id: &str) -> ApiFailure {
    invalid(format!("Virtual with ID {id} not found"))
}

fn device_not_found(id: &str) -> ApiFailure {
    invalid(format!("Device with ID {id} not found"))
}

fn reply(value: Value) -> ApiReply {
    Ok(Json::from_value(&value))
}

impl State {
    /// State for a loaded document. The document is checked with the same validation the
    /// API uses; what cannot be used is repaired or dropped, each with a warning in the
    /// returned list, so a hand-edited or foreign config can never make a stage crash-loop.
    pub fn new(mut doc: ConfigDoc, audio_source: AudioSource) -> (Self, Vec<String>) {
        let warnings = normalize(&mut doc);
        // LedFx gives every installation a stable random id on its first start.
        if doc
            .core
            .get("instance_id")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let id: u128 = rand::random();
            let hex = format!("{id:032x}");
            let uuid = format!(
                "{}-{}-4{}-a{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[13..16],
                &hex[17..20],
                &hex[20..]
            );
            doc.core.insert("instance_id".into(), Value::String(uuid));
        }
        let mut state = Self {
            doc,
            paused: false,
            revision: 1,
            slots: BTreeMap::new(),
            instances: BTreeMap::new(),
            next_instance: 1,
            next_slot: 0,
            audio_source,
            last_rollback: None,
        };
        state.sync_runtime();
        (state, warnings)
    }

    /// Assigns slots to new devices, frees those of removed devices, and numbers effects that
    /// have no instance yet.
    fn sync_runtime(&mut self) {
        self.slots
            .retain(|id, _| self.doc.devices.iter().any(|d| &d.id == id));
        let slots = MAX_DEVICE_SLOTS as u16;
        for device in &self.doc.devices {
            if !self.slots.contains_key(&device.id) {
                let used: std::collections::BTreeSet<u16> = self.slots.values().copied().collect();
                let free = (0..slots)
                    .map(|i| (self.next_slot + i) % slots)
                    .find(|s| !used.contains(s));
                if let Some(free) = free {
                    self.slots.insert(device.id.clone(), free);
                    self.next_slot = (free + 1) % slots;
                }
            }
        }
        self.instances.retain(|id, _| {
            self.doc
                .virtuals
                .iter()
                .any(|v| &v.id == id && v.effect.is_some())
        });
        for v in &self.doc.virtuals {
            if v.effect.is_some() && !self.instances.contains_key(&v.id) {
                self.instances.insert(v.id.clone(), self.next_instance);
                self.next_instance += 1;
            }
        }
    }

    /// Replaces the whole document (a rollback); runtime bookkeeping follows it.
    pub fn replace_doc(&mut self, doc: ConfigDoc) {
        let old = std::mem::replace(&mut self.doc, doc);
        // A virtual whose effect differs from before runs a new effect instance.
        let changed: Vec<String> = self
            .doc
            .virtuals
            .iter()
            .filter(|v| old.virtual_entry(&v.id).map(|o| &o.effect) != Some(&v.effect))
            .map(|v| v.id.clone())
            .collect();
        for id in changed {
            self.instances.remove(&id);
        }
        self.sync_runtime();
    }

    fn new_instance(&mut self, virtual_id: &str) {
        self.instances
            .insert(virtual_id.to_owned(), self.next_instance);
        self.next_instance += 1;
    }

    /// Applies one command. The caller persists and publishes when the document changed.
    pub fn apply(&mut self, command: ApiCommand) -> ApiReply {
        let result = match command {
            ApiCommand::GetConfig => reply(self.config_view()),
            ApiCommand::GetInfo => reply(json!({
                "dev_mode": self.doc.core_bool("dev_mode", false),
                "revision": self.revision,
                "last_rollback": self.last_rollback.as_ref().map(|r| json!({
                    "reason": r.reason,
                    "from_revision": r.from_revision,
                    "to_revision": r.to_revision,
                })),
            })),
            ApiCommand::GetDevices => reply(json!({
                "status": "success",
                "devices": Value::Object(self.doc.devices.iter()
                    .map(|d| (d.id.clone(), self.device_view(d))).collect()),
            })),
            ApiCommand::GetDevice { id } => match self.doc.device(&id) {
                Some(d) => reply(Value::Object(d.config.clone())),
                None => Err(device_not_found(&id)),
            },
            ApiCommand::CreateDevice {
                device_type,
                config,
            } => self.create_device(&device_type, config.to_value()),
            ApiCommand::UpdateDevice { id, config } => self.update_device(&id, config.to_value()),
            ApiCommand::DeleteDevice { id } => {
                if self.doc.device(&id).is_none() {
                    Err(device_not_found(&id))
                } else {
                    self.delete_device(&id);
                    reply(json!({"status": "success"}))
                }
            }
            ApiCommand::GetVirtuals => reply(self.virtuals_view()),
            ApiCommand::TogglePause => {
                self.paused = !self.paused;
                reply(json!({"status": "success", "paused": self.paused}))
            }
            ApiCommand::GetVirtual { id } => match self.doc.virtual_entry(&id) {
                Some(v) => {
                    let mut out = Map::new();
                    out.insert("status".into(), json!("success"));
                    out.insert(id.clone(), self.virtual_view(v));
                    reply(Value::Object(out))
                }
                None => Err(virtual_not_found(&id)),
            },
            ApiCommand::SetVirtualActive { id, active } => self.set_active(&id, active),
            ApiCommand::DeleteVirtual { id } => {
                if self.doc.virtual_entry(&id).is_none() {
                    Err(virtual_not_found(&id))
                } else {
                    self.delete_virtual(&id);
                    reply(json!({"status": "success"}))
                }
            }
            ApiCommand::GetEffect { virtual_id } => match self.doc.virtual_entry(&virtual_id) {
                Some(v) => reply(json!({"effect": self.effect_view(v.effect.as_ref())})),
                None => Err(virtual_not_found(&virtual_id)),
            },
            ApiCommand::SetEffect {
                virtual_id,
                effect_type,
                config,
            } => self.set_effect(&virtual_id, &effect_type, config),
            ApiCommand::UpdateEffect {
                virtual_id,
                effect_type,
                config,
            } => self.update_effect(&virtual_id, effect_type, config),
            ApiCommand::ClearEffect { virtual_id } => {
                let Some(v) = self.doc.virtual_mut(&virtual_id) else {
                    return Err(virtual_not_found(&virtual_id));
                };
                v.effect = None;
                v.active = false;
                reply(json!({"status": "success", "effect": {}}))
            }
        };
        self.sync_runtime();
        result
    }

    // ---- devices -------------------------------------------------------------------------

    fn create_device(&mut self, device_type: &str, raw: Value) -> ApiReply {
        let Value::Object(mut raw) = raw else {
            return Err(invalid(
                "Error creating device: config must be a JSON object",
            ));
        };
        if let Some(Value::String(ip)) = raw.get("ip_address") {
            let cleaned = output_proc::clean_ip_address(ip);
            raw.insert("ip_address".into(), Value::String(cleaned));
        }
        let validated = output_proc::validate_device_config(device_type, &Value::Object(raw))
            .map_err(|e| invalid(format!("Error creating device: {e}")))?;
        let Value::Object(config) = validated.config else {
            return Err(ApiFailure::internal(
                "validated device config is not an object",
            ));
        };
        self.check_coexistence(None, device_type, &config)
            .map_err(|msg| invalid(format!("Error creating device: {msg}")))?;
        if self.doc.devices.len() >= MAX_DEVICE_SLOTS {
            return Err(invalid(format!(
                "Error creating device: ledfx-rs drives at most {MAX_DEVICE_SLOTS} devices"
            )));
        }
        let name = config
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let id = unique_id(&slug(&name), |c| self.doc.device(c).is_some());
        let virtual_id = unique_id(&slug(&name), |c| self.doc.virtual_entry(c).is_some());
        let icon = config
            .get("icon_name")
            .and_then(Value::as_str)
            .unwrap_or("mdi:led-strip")
            .to_owned();
        let rows = config.get("rows").cloned().unwrap_or(json!(1));
        let vconfig = virtual_config::validate(
            &json!({"name": name, "icon_name": icon, "rows": rows})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            &icon,
        )
        .map_err(|e| invalid(format!("Error creating device: {e}")))?;
        self.doc.devices.push(DeviceEntry {
            id: id.clone(),
            device_type: device_type.to_owned(),
            config: config.clone(),
            extra: Map::new(),
        });
        self.doc.virtuals.push(VirtualEntry {
            id: virtual_id,
            config: vconfig,
            segments: vec![Segment(
                id.clone(),
                0,
                i64::from(validated.pixel_count) - 1,
                false,
            )],
            is_device: Value::String(id.clone()),
            auto_generated: false,
            active: false,
            effect: None,
            effects: Map::new(),
            last_effect: None,
            extra: Map::new(),
        });
        reply(json!({
            "status": "success",
            "payload": {"type": "success", "reason": format!("Created device {name}")},
            "device": {"type": device_type, "id": id, "virtuals": [], "config": config},
        }))
    }

    /// LedFx's rules for two devices on one address (ledfx-api.md §3.4): the new or changed
    /// device must not claim what another device (other than `except`) already drives.
    fn check_coexistence(
        &self,
        except: Option<&str>,
        device_type: &str,
        config: &Map<String, Value>,
    ) -> Result<(), String> {
        let Some(ip) = config.get("ip_address").and_then(Value::as_str) else {
            return Ok(());
        };
        let others = self
            .doc
            .devices
            .iter()
            .filter(|d| Some(d.id.as_str()) != except);
        for existing in others {
            if existing.config.get("ip_address").and_then(Value::as_str) == Some(ip) {
                let name = existing
                    .config
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(&existing.id);
                output_proc::check_coexistence(
                    device_type,
                    &Value::Object(config.clone()),
                    &existing.device_type,
                    name,
                    &Value::Object(existing.config.clone()),
                )?;
            }
        }
        Ok(())
    }

    fn update_device(&mut self, id: &str, patch: Value) -> ApiReply {
        let Some(device) = self.doc.device(id) else {
            return Err(device_not_found(id));
        };
        let Value::Object(patch) = patch else {
            return Err(invalid(format!(
                "Error updating device {id}: config must be a JSON object"
            )));
        };
        let mut merged = device.config.clone();
        for (k, v) in patch {
            merged.insert(k, v);
        }
        let device_type = device.device_type.clone();
        let validated = output_proc::validate_device_config(&device_type, &Value::Object(merged))
            .map_err(|e| invalid(format!("Error updating device {id}: {e}")))?;
        let Value::Object(config) = validated.config else {
            return Err(ApiFailure::internal(
                "validated device config is not an object",
            ));
        };
        self.check_coexistence(Some(id), &device_type, &config)
            .map_err(|msg| invalid(format!("Error updating device {id}: {msg}")))?;
        if let Some(d) = self.doc.devices.iter_mut().find(|d| d.id == id) {
            d.config = config;
        }
        self.fit_segments_to_device(id, validated.pixel_count);
        reply(json!({"status": "success"}))
    }

    /// After a device's size is known or changed: its own virtual gets one segment covering
    /// the device, other virtuals' segments on it are clamped (ledfx-api.md §3.5).
    fn fit_segments_to_device(&mut self, id: &str, pixel_count: u32) {
        let last = i64::from(pixel_count) - 1;
        for v in &mut self.doc.virtuals {
            if v.device_id() == Some(id) {
                v.segments.retain(|s| s.0 != id);
                v.segments.insert(0, Segment(id.to_owned(), 0, last, false));
                continue;
            }
            for seg in v.segments.iter_mut().filter(|s| s.0 == id) {
                seg.2 = seg.2.clamp(0, last);
                seg.1 = seg.1.clamp(0, seg.2);
            }
        }
    }

    /// Removes a device, its segments everywhere, and every virtual left without segments
    /// (recursively deleting their devices if they were device virtuals).
    fn delete_device(&mut self, id: &str) {
        self.doc.devices.retain(|d| d.id != id);
        let mut orphaned = Vec::new();
        for v in &mut self.doc.virtuals {
            let before = v.segments.len();
            v.segments.retain(|s| s.0 != id);
            let lost = v.segments.len() != before;
            if (lost && v.segments.is_empty()) || v.device_id() == Some(id) {
                orphaned.push(v.id.clone());
            }
        }
        for vid in orphaned {
            if self.doc.virtual_entry(&vid).is_some() {
                self.delete_virtual(&vid);
            }
        }
    }

    /// Deletes a virtual, its device if it is a device virtual, and its scene entries.
    fn delete_virtual(&mut self, id: &str) {
        let device = self
            .doc
            .virtual_entry(id)
            .and_then(|v| v.device_id().map(str::to_owned));
        self.doc.virtuals.retain(|v| v.id != id);
        if let Some(Value::Object(scenes)) = self.doc.core.get_mut("scenes") {
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

    // ---- virtuals and effects -------------------------------------------------------------

    /// Activates a virtual, deactivating the virtuals it displaces (ledfx-api.md §2.5).
    fn activate(&mut self, id: &str) {
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
            return Err(virtual_not_found(id));
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

    fn validated_effect(
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
    fn install_effect(
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
            return Err(virtual_not_found(id));
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

    fn set_effect(&mut self, id: &str, effect_type: &str, config: EffectConfigArg) -> ApiReply {
        let Some(v) = self.doc.virtual_entry(id) else {
            return Err(virtual_not_found(id));
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

    fn update_effect(
        &mut self,
        id: &str,
        effect_type: Option<String>,
        patch: Option<Json>,
    ) -> ApiReply {
        let Some(v) = self.doc.virtual_entry(id) else {
            return Err(virtual_not_found(id));
        };
        let Some(running) = v.effect.clone() else {
            return Err(invalid(format!("Virtual {id} has no active effect")));
        };
        let Some(effect_type) = effect_type else {
            return Err(invalid("Required attribute 'type' was not provided"));
        };
        let patch = match patch.map(|j| j.to_value()) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(invalid(format!("config: expected an object, got {other}"))),
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

    // ---- derived pipeline state -------------------------------------------------------------

    /// The state the stages run.
    pub fn pipeline(&self) -> PipelineState {
        let doc = &self.doc;
        // Entries ledfx-rs cannot run yet (kept from a LedFx config) are left out.
        let live = |v: &VirtualEntry| {
            v.active
                && v.effect
                    .as_ref()
                    .is_some_and(|e| is_supported_effect(&e.effect_type))
        };
        let slot_of = |device_id: &str| {
            doc.device(device_id)
                .filter(|d| is_supported_device(&d.device_type))
                .and_then(|d| self.slots.get(&d.id).copied())
        };
        let devices = doc
            .devices
            .iter()
            .filter(|d| is_supported_device(&d.device_type))
            .filter_map(|d| {
                let slot = *self.slots.get(&d.id)?;
                // While paused, output-proc stops sending but the device stays claimed, so
                // the lights keep their last frame (LedFx's behaviour).
                let active = doc.virtuals.iter().any(|v| {
                    live(v)
                        && !v
                            .config
                            .get("preview_only")
                            .and_then(Value::as_bool)
                            .unwrap_or(false)
                        && v.segments.iter().any(|s| s.0 == d.id)
                });
                let num = |key: &str, default: i64| {
                    d.config.get(key).and_then(Value::as_i64).unwrap_or(default)
                };
                Some(DeviceSpec {
                    id: d.id.clone(),
                    slot,
                    device_type: d.device_type.clone(),
                    pixel_count: num("pixel_count", 1).clamp(1, i64::from(u32::MAX)) as u32,
                    refresh_rate: num("refresh_rate", 62).clamp(1, 1000) as u32,
                    center_offset: num("center_offset", 0) as i32,
                    config_json: Value::Object(d.config.clone()).to_string(),
                    active,
                })
            })
            .collect();
        let virtuals = doc
            .virtuals
            .iter()
            .map(|v| {
                let c = &v.config;
                let f =
                    |key: &str, default: f64| c.get(key).and_then(Value::as_f64).unwrap_or(default);
                let i =
                    |key: &str, default: i64| c.get(key).and_then(Value::as_i64).unwrap_or(default);
                VirtualSpec {
                    id: v.id.clone(),
                    segments: v
                        .segments
                        .iter()
                        .map(|s| SegmentSpec {
                            device_id: s.0.clone(),
                            device_slot: if s.0.starts_with("gap-") {
                                None
                            } else {
                                slot_of(&s.0)
                            },
                            start: s.1.max(0) as u32,
                            end: s.2.max(s.1).max(0) as u32,
                            invert: s.3,
                        })
                        .collect(),
                    mapping: if c.get("mapping").and_then(Value::as_str) == Some("copy") {
                        Mapping::Copy
                    } else {
                        Mapping::Span
                    },
                    grouping: i("grouping", 1).max(1) as u32,
                    center_offset: i("center_offset", 0) as i32,
                    max_brightness: f("max_brightness", 1.0),
                    preview_only: c
                        .get("preview_only")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    transition_mode: c
                        .get("transition_mode")
                        .and_then(Value::as_str)
                        .unwrap_or("Add")
                        .to_owned(),
                    transition_time: f("transition_time", 0.4),
                    frequency_min: i("frequency_min", 20) as u32,
                    frequency_max: i("frequency_max", 15000) as u32,
                    rows: i("rows", 1).max(1) as u32,
                    active: live(v),
                    effect: v
                        .effect
                        .as_ref()
                        .filter(|e| is_supported_effect(&e.effect_type))
                        .map(|e| EffectSpec {
                            effect_type: e.effect_type.clone(),
                            config_json: Value::Object(e.config.clone()).to_string(),
                            instance: self.instances.get(&v.id).copied().unwrap_or(0),
                        }),
                }
            })
            .collect();
        let audio = doc.core.get("audio");
        let melbanks = doc.core.get("melbanks");
        let defaults = AudioSpec::default();
        PipelineState {
            revision: self.revision,
            devices,
            virtuals,
            global_brightness: doc.core_f64("global_brightness", 1.0).clamp(0.0, 1.0),
            paused: self.paused,
            flush_on_deactivate: doc.core_bool("flush_on_deactivate", false),
            audio: AudioSpec {
                source: self.audio_source.clone(),
                min_volume: audio
                    .and_then(|a| a.get("min_volume"))
                    .and_then(Value::as_f64)
                    .map_or(defaults.min_volume, |v| v as f32),
                delay_ms: audio
                    .and_then(|a| a.get("delay_ms"))
                    .and_then(Value::as_u64)
                    .map_or(defaults.delay_ms, |v| v.min(5000) as u32),
                mel_samples: melbanks
                    .and_then(|m| m.get("samples"))
                    .and_then(Value::as_u64)
                    .map_or(defaults.mel_samples, |v| v.clamp(1, 100) as u32),
                peak_isolation: melbanks
                    .and_then(|m| m.get("peak_isolation"))
                    .and_then(Value::as_f64)
                    .map_or(defaults.peak_isolation, |v| v as f32),
                max_frequencies: melbanks
                    .and_then(|m| m.get("max_frequencies"))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_u64)
                            .map(|v| v as u32)
                            .collect::<Vec<_>>()
                    })
                    .filter(|v| v.len() >= 3)
                    .unwrap_or(defaults.max_frequencies),
            },
        }
    }
}

fn is_supported_device(device_type: &str) -> bool {
    output_proc::device_types().any(|t| t == device_type)
}

fn is_supported_effect(effect_type: &str) -> bool {
    render_proc::effect_name(effect_type).is_some()
}

/// Repairs a loaded document (see [`State::new`]); returns what was changed.
fn normalize(doc: &mut ConfigDoc) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut sizes = BTreeMap::new();
    doc.devices.retain_mut(|d| {
        if !seen.insert(d.id.clone()) {
            warnings.push(format!("device {}: duplicate id, dropped", d.id));
            return false;
        }
        if !is_supported_device(&d.device_type) {
            // Someone's LedFx setup: keep it as it is for when the protocol exists.
            warnings.push(format!(
                "device {}: type {:?} is not supported by ledfx-rs yet; kept, not driven",
                d.id, d.device_type
            ));
            return true;
        }
        match output_proc::validate_device_config(&d.device_type, &Value::Object(d.config.clone()))
        {
            Ok(valid) => {
                if let Value::Object(config) = valid.config {
                    d.config = config;
                }
                sizes.insert(d.id.clone(), i64::from(valid.pixel_count));
                true
            }
            Err(e) => {
                warnings.push(format!("device {}: {e}; dropped", d.id));
                false
            }
        }
    });
    if doc.devices.len() > MAX_DEVICE_SLOTS {
        warnings.push(format!(
            "{} devices, but ledfx-rs drives at most {MAX_DEVICE_SLOTS}; the rest are kept, not driven",
            doc.devices.len()
        ));
    }
    let seen_devices: std::collections::BTreeSet<String> =
        doc.devices.iter().map(|d| d.id.clone()).collect();
    let mut seen = std::collections::BTreeSet::new();
    doc.virtuals.retain(|v| {
        let fresh = seen.insert(v.id.clone());
        if !fresh {
            warnings.push(format!("virtual {}: duplicate id, dropped", v.id));
        }
        fresh
    });
    for v in &mut doc.virtuals {
        let icon = v
            .config
            .get("icon_name")
            .and_then(Value::as_str)
            .unwrap_or("mdi:led-strip-variant")
            .to_owned();
        if !v.config.contains_key("name") {
            v.config.insert("name".into(), Value::String(v.id.clone()));
        }
        match virtual_config::validate(&v.config, &icon) {
            Ok(config) => v.config = config,
            Err(e) => {
                warnings.push(format!("virtual {}: {e}; using the default config", v.id));
                let name = v
                    .config
                    .get("name")
                    .cloned()
                    .unwrap_or_else(|| Value::String(v.id.clone()));
                let defaults = json!({"name": if name.is_string() { name } else { Value::String(v.id.clone()) }});
                v.config = defaults
                    .as_object()
                    .and_then(|d| virtual_config::validate(d, &icon).ok())
                    .unwrap_or_default();
            }
        }
        let before = v.segments.len();
        v.segments
            .retain(|s| s.0.starts_with("gap-") || seen_devices.contains(&s.0));
        if v.segments.len() != before {
            warnings.push(format!(
                "virtual {}: dropped segments on unknown devices",
                v.id
            ));
        }
        for seg in &mut v.segments {
            if let Some(&size) = sizes.get(&seg.0) {
                seg.2 = seg.2.clamp(0, size - 1);
                seg.1 = seg.1.clamp(0, seg.2);
            } else {
                seg.1 = seg.1.max(0);
                seg.2 = seg.2.max(seg.1);
            }
        }
        if let Some(e) = v
            .effect
            .as_ref()
            .filter(|e| !is_supported_effect(&e.effect_type))
        {
            warnings.push(format!(
                "virtual {}: effect {:?} is not supported by ledfx-rs yet; kept, not rendered",
                v.id, e.effect_type
            ));
            continue;
        }
        let checked = v.effect.as_ref().map(|e| {
            let result = render_proc::validate_effect_config(
                &e.effect_type,
                &Value::Object(e.config.clone()),
            );
            (e.effect_type.clone(), result)
        });
        match checked {
            Some((_, Ok(Value::Object(config)))) => {
                if let Some(e) = &mut v.effect {
                    e.config = config;
                }
            }
            Some((effect_type, other)) => {
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(_) => "config is not an object".to_owned(),
                };
                warnings.push(format!(
                    "virtual {}: effect {effect_type} cannot run ({why}); cleared",
                    v.id
                ));
                v.effect = None;
                v.active = false;
            }
            None => {}
        }
    }
    warnings
}

#[cfg(test)]
mod tests;

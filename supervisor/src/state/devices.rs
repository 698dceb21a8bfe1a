//! Devices: `/api/devices` and `/api/devices/{id}` (ledfx-api.md §3.4, §3.5) — creation with
//! its device virtual, updates that resize segments, cascading deletes, and LedFx's views.

use std::sync::Arc;

use proto::api::devices::DeviceCommand;
use proto::api::{ApiFailure, ApiReply};
use proto::layout::MAX_DEVICE_SLOTS;
use serde_json::{json, Map, Value};

use super::{invalid, not_found, reply, virtual_config, ReadCtx, Resource, State};
use crate::config::{DeviceEntry, Section, Segment, VirtualEntry};
use crate::ids::{slug, unique_id};

/// The device group.
pub struct Devices;

impl Resource for Devices {
    type Command = DeviceCommand;

    fn read(ctx: &ReadCtx<'_>, command: DeviceCommand) -> ApiReply {
        let state = ctx.state;
        match command {
            DeviceCommand::List => {
                let mut devices: Map<String, Value> = state
                    .doc
                    .devices
                    .iter()
                    .map(|d| (d.id.clone(), state.device_view(d)))
                    .collect();
                mark_online(&mut devices, ctx);
                reply(json!({"status": "success", "devices": devices}))
            }
            DeviceCommand::Activate { id } => match state.doc.device(&id) {
                Some(_) => reply(state.virtuals_view()),
                None => Err(not_found(&state.doc, Section::Devices, &id)),
            },
            DeviceCommand::Get { id } => match state.doc.device(&id) {
                Some(d) => reply(Value::Object(d.config.clone())),
                None => Err(not_found(&state.doc, Section::Devices, &id)),
            },
            other => Err(ApiFailure::internal(format!("{other:?} is not a read"))),
        }
    }

    fn write(state: &mut State, command: DeviceCommand) -> ApiReply {
        match command {
            DeviceCommand::Create {
                device_type,
                config,
            } => state.create_device(&device_type, config.to_value()),
            DeviceCommand::Update { id, config } => state.update_device(&id, config.to_value()),
            DeviceCommand::Delete { id } => {
                if state.doc.device(&id).is_none() {
                    return Err(not_found(&state.doc, Section::Devices, &id));
                }
                state.delete_device(&id);
                reply(json!({"status": "success"}))
            }
            other => Err(ApiFailure::internal(format!("{other:?} is not a write"))),
        }
    }
}

/// A device that is being driven counts as online while output-proc's sends to it succeed
/// (a successful send within the last second); one that is not driven keeps LedFx's default,
/// online. An unresolvable host or a refused destination therefore shows as offline.
const ONLINE_WITHIN_NS: u64 = 1_000_000_000;

fn mark_online(devices: &mut Map<String, Value>, ctx: &ReadCtx<'_>) {
    let Some(segment) = ctx.segment else {
        return;
    };
    for spec in ctx.pipeline.devices.iter().filter(|d| d.active) {
        let Some(view) = devices.get_mut(&spec.id) else {
            continue;
        };
        let last = segment.device_stats(spec.slot).last_send_ns();
        let online = last != 0 && ctx.now_ns.saturating_sub(last) <= ONLINE_WITHIN_NS;
        view["online"] = Value::Bool(online);
    }
}

/// Checks a device config the way the API does: the protocol's schema, then the failpoint
/// the end-to-end tests use to prove a panicking validator cannot take the supervisor down.
pub(super) fn validate(
    device_type: &str,
    config: &Value,
) -> Result<output_proc::ValidatedDevice, String> {
    #[cfg(any(test, feature = "failpoints"))]
    if config.get("name").and_then(Value::as_str) == Some("failpoint: panic in validation") {
        panic!("failpoint: device validation panicked");
    }
    output_proc::validate_device_config(device_type, config).map_err(|e| e.to_string())
}

/// Whether a device of `device_type` with `config` may run beside `others`: `Err` names the
/// first one whose resources it would claim too, with LedFx's message.
pub(super) fn first_clash<'a>(
    others: impl IntoIterator<Item = &'a DeviceEntry>,
    device_type: &str,
    config: &Map<String, Value>,
) -> Result<(), String> {
    let config = Value::Object(config.clone());
    for existing in others {
        let name = existing
            .config
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&existing.id);
        output_proc::check_coexistence(
            device_type,
            &config,
            &existing.device_type,
            name,
            &Value::Object(existing.config.clone()),
        )?;
    }
    Ok(())
}

impl State {
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
        let validated = validate(device_type, &Value::Object(raw))
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
        let id = unique_id(&slug(&name), |c| self.doc.id_taken(Section::Devices, c));
        let virtual_id = unique_id(&slug(&name), |c| self.doc.id_taken(Section::Virtuals, c));
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
        self.doc.devices.push(Arc::new(DeviceEntry {
            id: id.clone(),
            device_type: device_type.to_owned(),
            config: config.clone(),
            extra: Map::new(),
            as_written: None,
        }));
        self.doc.virtuals.push(Arc::new(VirtualEntry::new(
            virtual_id,
            vconfig,
            vec![Segment(
                id.clone(),
                0,
                i64::from(validated.pixel_count) - 1,
                false,
            )],
            Some(id.clone()),
        )));
        reply(json!({
            "status": "success",
            "payload": {"type": "success", "reason": format!("Created device {name}")},
            "device": {"type": device_type, "id": id, "virtuals": [], "config": config},
        }))
    }

    /// LedFx's rules for two devices on one address (ledfx-api.md §3.4): the new or changed
    /// device must not claim what another device (other than `except`) already drives. Each
    /// protocol declares its own claims; this only pairs the devices up.
    pub(super) fn check_coexistence(
        &self,
        except: Option<&str>,
        device_type: &str,
        config: &Map<String, Value>,
    ) -> Result<(), String> {
        let others = self
            .doc
            .devices
            .iter()
            .filter(|d| Some(d.id.as_str()) != except)
            .map(|d| &**d);
        first_clash(others, device_type, config)
    }

    fn update_device(&mut self, id: &str, patch: Value) -> ApiReply {
        let Some(device) = self.doc.device(id) else {
            return Err(not_found(&self.doc, Section::Devices, id));
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
        let validated = validate(&device_type, &Value::Object(merged))
            .map_err(|e| invalid(format!("Error updating device {id}: {e}")))?;
        let Value::Object(config) = validated.config else {
            return Err(ApiFailure::internal(
                "validated device config is not an object",
            ));
        };
        self.check_coexistence(Some(id), &device_type, &config)
            .map_err(|msg| invalid(format!("Error updating device {id}: {msg}")))?;
        if let Some(d) = self.doc.device_mut(id) {
            d.config = config;
        }
        self.fit_segments_to_device(id, validated.pixel_count);
        reply(json!({"status": "success"}))
    }

    /// After a device's size is known or changed: its own virtual gets one segment covering
    /// the device, other virtuals' segments on it are clamped (ledfx-api.md §3.5).
    fn fit_segments_to_device(&mut self, id: &str, pixel_count: u32) {
        let last = i64::from(pixel_count) - 1;
        let uses =
            |v: &VirtualEntry| v.device_id() == Some(id) || v.segments.iter().any(|s| s.0 == id);
        for v in self.doc.virtuals.iter_mut().filter(|v| uses(v)) {
            let v = Arc::make_mut(v);
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
    pub(super) fn delete_device(&mut self, id: &str) {
        self.doc.devices.retain(|d| d.id != id);
        let mut orphaned = Vec::new();
        let uses =
            |v: &VirtualEntry| v.device_id() == Some(id) || v.segments.iter().any(|s| s.0 == id);
        for v in self.doc.virtuals.iter_mut().filter(|v| uses(v)) {
            let v = Arc::make_mut(v);
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

    fn registered_on(&self, device_id: &str) -> Vec<Value> {
        self.doc
            .virtuals
            .iter()
            .filter(|v| {
                v.active && v.effect.is_some() && v.segments.iter().any(|s| s.0 == device_id)
            })
            .map(|v| Value::String(v.id.clone()))
            .collect()
    }

    /// A device as `GET /api/devices` shows it.
    pub fn device_view(&self, device: &DeviceEntry) -> Value {
        // Segments are only registered while a virtual is active, so `virtuals` and
        // `active_virtuals` coincide (ledfx-api.md §2.3).
        let registered = self.registered_on(&device.id);
        json!({
            "id": device.id,
            "type": device.device_type,
            "config": device.config,
            "online": true,
            "virtuals": registered,
            "active_virtuals": registered,
        })
    }
}

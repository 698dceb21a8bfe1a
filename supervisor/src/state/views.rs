//! LedFx's response shapes for devices, virtuals, effects and the config (ledfx-api.md §2).

use serde_json::{json, Map, Value};

use super::State;
use crate::config::{EffectEntry, VirtualEntry};

impl State {
    /// `GET /api/config`: the whole document, with the runtime-only keys LedFx adds.
    pub fn config_view(&self) -> Value {
        let mut value = self.doc.to_value();
        if let Value::Object(map) = &mut value {
            map.entry("ledfx_presets").or_insert_with(|| json!({}));
            map.entry("hosts").or_insert_with(|| json!([]));
        }
        value
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
    pub fn device_view(&self, device: &crate::config::DeviceEntry) -> Value {
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

    fn pixel_count(v: &VirtualEntry) -> i64 {
        let widths = v.segments.iter().map(|s| s.2 - s.1 + 1);
        if v.config.get("mapping").and_then(Value::as_str) == Some("copy") {
            widths.max().unwrap_or(0)
        } else {
            widths.sum()
        }
    }

    /// A virtual as `GET /api/virtuals` shows it.
    pub fn virtual_view(&self, v: &VirtualEntry) -> Value {
        let active = v.active && v.effect.is_some();
        // A device's own virtual is "streaming" when it is idle while another virtual drives
        // its device.
        let streaming = !active
            && self.doc.device(&v.id).is_some()
            && self.doc.virtuals.iter().any(|o| {
                o.id != v.id
                    && o.active
                    && o.effect.is_some()
                    && o.segments.iter().any(|s| s.0 == v.id)
            });
        json!({
            "id": v.id,
            "config": v.config,
            "is_device": v.is_device,
            "auto_generated": v.auto_generated,
            "segments": v.segments,
            "pixel_count": Self::pixel_count(v),
            "active": active,
            "streaming": streaming,
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

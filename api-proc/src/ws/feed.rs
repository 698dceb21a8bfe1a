//! The change feed as LedFx WebSocket events (the mapping table in docs/architecture.md).
//!
//! LedFx events are notifications, not state: a client that was not connected when a change
//! happened reads the REST API. So this follows only live changes and replays nothing after
//! a resync.

use proto::feed::Event;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast::error::RecvError;

use super::bus::{Bus, LedfxEvent};
use crate::feed::{Hub, HubItem};

/// Config keys whose changes are resources of their own, not the base config LedFx reports
/// in `base_config_update` (it fires that only for `PUT /api/config`).
const NOT_BASE_CONFIG: [&str; 5] = [
    "scenes",
    "user_presets",
    "integrations",
    "playlists",
    "ledfx_presets",
];

/// The LedFx event a feed event becomes, if any.
pub fn translate(event: &Event) -> Option<LedfxEvent> {
    let (event_type, fields) = match event {
        Event::DeviceCreated { name, .. } => ("device_created", json!({"device_name": name})),
        Event::VirtualUpdated { virtual_id, config } => (
            "virtual_config_update",
            json!({"virtual_id": virtual_id, "config": config}),
        ),
        Event::VirtualActivated { virtual_id, active } => (
            "virtual_pause",
            json!({"virtual_id": virtual_id, "paused": !active}),
        ),
        Event::EffectSet {
            virtual_id,
            effect_type,
            effect_name,
            effect_id,
            was_active,
            was_streaming,
        } => (
            "effect_set",
            json!({
                "effect_name": effect_name,
                "effect_id": effect_id,
                "virtual_id": virtual_id,
                "effect_type": effect_type,
                "active": was_active,
                "streaming": was_streaming,
            }),
        ),
        Event::EffectUpdated {
            virtual_id,
            effect_id,
        } => (
            "effect_updated",
            json!({"effect_id": effect_id, "virtual_id": virtual_id}),
        ),
        Event::EffectCleared { virtual_id } => {
            ("effect_cleared", json!({"virtual_id": virtual_id}))
        }
        Event::GlobalPause { paused } => ("global_pause", json!({"paused": paused})),
        Event::SceneActivated { scene_id } => ("scene_activated", json!({"scene_id": scene_id})),
        Event::ColorsUpdated => ("colors_updated", Value::Null),
        Event::AudioDeviceChanged { name } => (
            "audio_input_device_changed",
            json!({"audio_input_device_name": name}),
        ),
        Event::ConfigUpdated { config } => {
            let base: Map<String, Value> = config
                .as_object()?
                .iter()
                .filter(|(k, _)| !NOT_BASE_CONFIG.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if base.is_empty() {
                return None;
            }
            ("base_config_update", json!({"config": base}))
        }
        Event::DeviceUpdated { .. }
        | Event::DeviceDeleted { .. }
        | Event::VirtualCreated { .. }
        | Event::VirtualDeleted { .. }
        | Event::RolledBack { .. } => return None,
    };
    Some(LedfxEvent::new(event_type, fields))
}

/// Fires the LedFx event of every change the hub passes on, until the hub goes away.
pub async fn follow(hub: Hub, bus: Bus) {
    let (mut items, _) = hub.subscribe(None);
    loop {
        match items.recv().await {
            Ok(HubItem::Change(change)) => {
                for event in change.events.iter().filter_map(translate) {
                    bus.fire(&event);
                }
            }
            Ok(HubItem::Resync) => {}
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "WebSocket events fell behind the change feed; some were not sent"
                );
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_events_become_ledfx_events_with_ledfx_fields() {
        let effect_set = translate(&Event::EffectSet {
            virtual_id: "porch".into(),
            effect_type: "singleColor".into(),
            effect_name: "Single Color".into(),
            effect_id: "singleColor-1".into(),
            was_active: false,
            was_streaming: false,
        })
        .unwrap();
        assert_eq!(effect_set.event_type, "effect_set");
        assert_eq!(
            Value::Object(effect_set.fields),
            json!({"effect_name": "Single Color", "effect_id": "singleColor-1", "virtual_id": "porch",
                   "effect_type": "singleColor", "active": false, "streaming": false})
        );
        let pause = translate(&Event::VirtualActivated {
            virtual_id: "porch".into(),
            active: true,
        })
        .unwrap();
        assert_eq!(
            (pause.event_type.as_str(), &pause.fields["paused"]),
            ("virtual_pause", &json!(false))
        );
        assert!(translate(&Event::VirtualCreated {
            virtual_id: "porch".into()
        })
        .is_none());
    }

    #[test]
    fn only_base_config_keys_make_a_base_config_update() {
        let scenes_only = Event::ConfigUpdated {
            config: json!({"scenes": {}}),
        };
        assert!(translate(&scenes_only).is_none());
        let mixed = Event::ConfigUpdated {
            config: json!({"scenes": {}, "global_brightness": 0.5}),
        };
        assert_eq!(
            Value::Object(translate(&mixed).unwrap().fields),
            json!({"config": {"global_brightness": 0.5}})
        );
    }
}

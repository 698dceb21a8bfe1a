//! The change-feed events of a change, found by comparing the state before and after it.
//!
//! Deriving events from the two states, rather than having each command announce its own,
//! means a command cannot forget one, cascades (a device deletion that removes virtuals) and
//! rollbacks report everything they touched, and every accepted change yields at least one
//! event. Events come in a fixed order: deletions, creations, updates, effect changes,
//! activation, pause, scene activation, colours, top-level config.

use proto::feed::Event;
use serde_json::{Map, Value};

use super::State;
use crate::config::VirtualEntry;

/// The top-level keys `/api/colors` writes; their changes are `colors_updated`, not
/// `config_updated`.
const COLOR_KEYS: [&str; 2] = ["user_colors", "user_gradients"];

fn effect_set(before: &State, after: &State, v: &VirtualEntry) -> Option<Event> {
    let effect = v.effect.as_ref()?;
    let was = before.doc.virtual_entry(&v.id);
    Some(Event::EffectSet {
        virtual_id: v.id.clone(),
        effect_type: effect.effect_type.clone(),
        effect_name: render_proc::effect_name(&effect.effect_type)
            .unwrap_or(&effect.effect_type)
            .to_owned(),
        effect_id: after.effect_instance_id(&v.id),
        was_active: was.is_some_and(State::shown_active),
        was_streaming: was.is_some_and(|w| before.streaming(w)),
    })
}

/// The events that turn `before` into `after`.
pub fn between(before: &State, after: &State) -> Vec<Event> {
    let mut events = Vec::new();
    let (old, new) = (&before.doc, &after.doc);

    for v in old
        .virtuals
        .iter()
        .filter(|v| new.virtual_entry(&v.id).is_none())
    {
        if v.effect.is_some() {
            events.push(Event::EffectCleared {
                virtual_id: v.id.clone(),
            });
        }
        events.push(Event::VirtualDeleted {
            virtual_id: v.id.clone(),
        });
    }
    for d in old.devices.iter().filter(|d| new.device(&d.id).is_none()) {
        events.push(Event::DeviceDeleted {
            device_id: d.id.clone(),
        });
    }
    for d in &new.devices {
        match old.device(&d.id) {
            None => events.push(Event::DeviceCreated {
                device_id: d.id.clone(),
                device_type: d.device_type.clone(),
                name: d
                    .config
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(&d.id)
                    .to_owned(),
            }),
            Some(o) if o != &**d => events.push(Event::DeviceUpdated {
                device_id: d.id.clone(),
            }),
            Some(_) => {}
        }
    }
    for v in &new.virtuals {
        let Some(o) = old.virtual_entry(&v.id) else {
            events.push(Event::VirtualCreated {
                virtual_id: v.id.clone(),
            });
            events.extend(effect_set(before, after, v));
            if State::shown_active(v) {
                events.push(Event::VirtualActivated {
                    virtual_id: v.id.clone(),
                    active: true,
                });
            }
            continue;
        };
        let first = events.len();
        if o.config != v.config || o.segments != v.segments {
            events.push(Event::VirtualUpdated {
                virtual_id: v.id.clone(),
                config: Value::Object(v.config.clone()),
            });
        }
        let new_instance = before.instance_of(&v.id) != after.instance_of(&v.id);
        match (&o.effect, &v.effect) {
            (_, Some(_)) if new_instance => events.extend(effect_set(before, after, v)),
            (Some(a), Some(b)) if a != b => events.push(Event::EffectUpdated {
                virtual_id: v.id.clone(),
                effect_id: after.effect_instance_id(&v.id),
            }),
            (Some(_), None) => events.push(Event::EffectCleared {
                virtual_id: v.id.clone(),
            }),
            _ => {}
        }
        if State::shown_active(o) != State::shown_active(v) {
            events.push(Event::VirtualActivated {
                virtual_id: v.id.clone(),
                active: State::shown_active(v),
            });
        }
        if events.len() == first && o != &**v {
            // Something only the file shows changed (effect history, unknown keys).
            events.push(Event::VirtualUpdated {
                virtual_id: v.id.clone(),
                config: Value::Object(v.config.clone()),
            });
        }
    }
    if before.paused != after.paused {
        events.push(Event::GlobalPause {
            paused: after.paused,
        });
    }
    if before.scene_activations != after.scene_activations {
        if let Some(scene_id) = &after.last_scene {
            events.push(Event::SceneActivated {
                scene_id: scene_id.clone(),
            });
        }
    }
    let differs = |k: &str| old.core.get(k) != new.core.get(k);
    if COLOR_KEYS.iter().any(|k| differs(k)) {
        events.push(Event::ColorsUpdated);
    }
    let device_name = |doc: &crate::config::ConfigDoc| {
        doc.core
            .get("audio")
            .and_then(|a| a.get("audio_device_name"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if let Some(name) = device_name(new).filter(|n| Some(n) != device_name(old).as_ref()) {
        events.push(Event::AudioDeviceChanged { name });
    }
    let changed: Map<String, Value> = new
        .core
        .iter()
        .filter(|(k, v)| !COLOR_KEYS.contains(&k.as_str()) && old.core.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let removed = old
        .core
        .keys()
        .any(|k| !COLOR_KEYS.contains(&k.as_str()) && !new.core.contains_key(k));
    if !changed.is_empty() || removed || old.kept != new.kept {
        events.push(Event::ConfigUpdated {
            config: Value::Object(changed),
        });
    }
    events
}

//! The [`PipelineState`] the stages run, derived from the desired state.

use proto::pipeline::{
    AudioSpec, DeviceSpec, EffectSpec, Mapping, PipelineState, SegmentSpec, VirtualSpec, VisSlot,
};
use serde_json::Value;

use super::State;
use crate::config::VirtualEntry;

/// What the stages run for `state`: only usable entries reach this far (see `audit.rs`), but
/// effects and device types are checked again so a bug there can never reach a stage.
pub(super) fn derive(state: &State) -> PipelineState {
    let doc = &state.doc;
    // Defence in depth: the audit already set aside what cannot run.
    let live = |v: &VirtualEntry| {
        v.active
            && v.effect
                .as_ref()
                .is_some_and(|e| is_supported_effect(&e.effect_type))
    };
    let slot_of = |device_id: &str| {
        doc.device(device_id)
            .filter(|d| is_supported_device(&d.device_type))
            .and_then(|d| state.slots.get(&d.id).map(|(slot, _)| *slot))
    };
    let devices = doc
        .devices
        .iter()
        .filter(|d| is_supported_device(&d.device_type))
        .filter_map(|d| {
            let (slot, generation) = *state.slots.get(&d.id)?;
            // While paused, output-proc stops sending but the device stays claimed, so
            // the lights keep their last frame (LedFx's behaviour).
            // A virtual being calibrated, or one painted by `force_color`, drives its
            // devices too, effect or not.
            let drawn = |v: &crate::config::VirtualEntry| {
                live(v)
                    || state
                        .tools
                        .get(&v.id)
                        .is_some_and(|t| t.calibration || t.paint.is_some())
            };
            let active = doc.virtuals.iter().any(|v| {
                drawn(v)
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
                generation,
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
            let f = |key: &str, default: f64| c.get(key).and_then(Value::as_f64).unwrap_or(default);
            let i = |key: &str, default: i64| c.get(key).and_then(Value::as_i64).unwrap_or(default);
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
                vis: state
                    .vis_slots
                    .get(&v.id)
                    .map(|&(slot, generation)| VisSlot { slot, generation }),
                active: live(v),
                effect: v
                    .effect
                    .as_ref()
                    .filter(|e| is_supported_effect(&e.effect_type))
                    .map(|e| EffectSpec {
                        effect_type: e.effect_type.clone(),
                        config_json: Value::Object(e.config.clone()).to_string(),
                        instance: state.instance_of(&v.id),
                    }),
                tools: state.tools.get(&v.id).cloned().unwrap_or_default(),
            }
        })
        .collect();
    PipelineState {
        revision: state.revision,
        devices,
        virtuals,
        global_brightness: doc.core_f64("global_brightness", 1.0).clamp(0.0, 1.0),
        paused: state.paused,
        flush_on_deactivate: doc.core_bool("flush_on_deactivate", false),
        audio: audio_spec(state),
    }
}

/// The audio settings of `state`: its `audio` and `melbanks` sections with LedFx's defaults
/// for what is missing or unusable. A value the analysis would refuse (a hand-edited file)
/// falls back to its default here, so it cannot make audio-proc exit at every start.
fn audio_spec(state: &State) -> AudioSpec {
    let doc = &state.doc;
    let defaults = AudioSpec::default();
    let get = |section: &str, key: &str| doc.core.get(section).and_then(|s| s.get(key));
    let number = |section, key| get(section, key).and_then(Value::as_f64);
    let integer = |section, key| get(section, key).and_then(Value::as_u64);
    AudioSpec {
        source: state.audio_source(),
        min_volume: number("audio", "min_volume")
            .filter(|v| (0.0..=1.0).contains(v))
            .map_or(defaults.min_volume, |v| v as f32),
        delay_ms: integer("audio", "delay_ms").map_or(defaults.delay_ms, |v| v.min(5000) as u32),
        pitch_tolerance: number("audio", "pitch_tolerance")
            .map_or(defaults.pitch_tolerance, |v| v.clamp(0.0, 2.0) as f32),
        mel_samples: integer("melbanks", "samples")
            .map_or(defaults.mel_samples, |v| v.clamp(1, 100) as u32),
        peak_isolation: number("melbanks", "peak_isolation")
            .map_or(defaults.peak_isolation, |v| v as f32),
        max_frequencies: get("melbanks", "max_frequencies")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|v| v as u32)
                    .collect::<Vec<_>>()
            })
            .filter(|v| v.len() >= 3)
            .unwrap_or(defaults.max_frequencies),
        coeffs_type: get("melbanks", "coeffs_type")
            .and_then(Value::as_str)
            .filter(|t| super::schema::COEFFS_TYPES.contains(t))
            .map_or(defaults.coeffs_type, str::to_owned),
        sync_to: state.audio_sync_target(),
    }
}

fn is_supported_device(device_type: &str) -> bool {
    output_proc::device_types().any(|t| t == device_type)
}

fn is_supported_effect(effect_type: &str) -> bool {
    render_proc::effect_name(effect_type).is_some()
}

//! Older LedFx layouts (a `configuration_version` other than 2.3.6, or none: LedFx 2.0 and
//! 2.1) brought to the current one when a config is loaded or imported — LedFx's own
//! migration rules, minus the parts that throw things away.
//!
//! LedFx drops what its migration cannot place (unmatched effects, scene fields, old device
//! types). Here every rename keeps the value, an entry that cannot be placed is left as it
//! is (the start-up audit then keeps it unused and reports it), and the file itself is not
//! rewritten until the user changes something — and then the original is already kept as
//! `config.json.before-ledfx-rs`.

use serde_json::{json, Map, Value};

use super::CONFIGURATION_VERSION;
use crate::ids::slug;

/// Effect config keys LedFx renamed (old → new).
const RENAMED_KEYS: &[(&str, &str)] = &[
    ("flip horizontal", "flip_horizontal"),
    ("flip vertical", "flip_vertical"),
    ("peak percent", "peak_percent"),
    ("peak decay", "peak_decay"),
    ("peak marks", "peak_marks"),
    ("max vs mean", "max_vs_mean"),
    ("spin multiplier", "spin_multiplier"),
    ("spin decay", "spin_decay"),
    ("GIF FPS", "gif_fps"),
    ("Min Size", "min_size"),
    ("pp skip", "ping_pong_skip"),
    ("stretch hor", "stretch_horizontal"),
    ("stretch ver", "stretch_vertical"),
    ("v_stretch", "stretch_vertical"),
    ("center hor", "center_horizontal"),
    ("center ver", "center_vertical"),
    ("gif_path", "image_location"),
    ("gif at", "image_location"),
    ("beat frames", "beat_frames"),
    ("skip frames", "skip_frames"),
    ("force aspect", "keep_aspect_ratio"),
    ("force fit", "force_fit"),
    ("ping pong", "ping_pong"),
    ("half beat", "half_beat"),
    ("v density", "density_vertical"),
    ("size x", "size_multiplication"),
    ("speed x", "speed_multiplication"),
    ("Alpha", "alpha_options"),
    ("Diagnostic", "diag"),
    ("RGB Mix", "rgb_mix"),
    ("diag2", "deep_diag"),
];

/// Old `frequency_range` names and the ranges they became.
const FREQUENCY_RANGES: &[(&str, &str)] = &[
    ("Ultra Low (1-20Hz)", "Beat"),
    ("Sub Bass (20-60Hz)", "Lows (beat+bass)"),
    ("Bass (60-250Hz)", "Lows (beat+bass)"),
    ("Low Midrange (250-500Hz)", "Lows (beat+bass)"),
    ("Midrange (500Hz-2kHz)", "Mids"),
    ("Upper Midrange (2Khz-4kHz)", "Mids"),
    ("High Midrange (4kHz-6kHz)", "High"),
    ("High Frequency (6kHz-24kHz)", "High"),
];

/// Whether a document needs migrating: LedFx migrates on any version but its own.
pub fn needed(doc: &Map<String, Value>) -> bool {
    doc.get("configuration_version").and_then(Value::as_str) != Some(CONFIGURATION_VERSION)
}

/// An effect config in the current key names.
fn effect_config(config: &Map<String, Value>) -> Map<String, Value> {
    config
        .iter()
        .map(|(key, value)| {
            let renamed = RENAMED_KEYS
                .iter()
                .find(|(old, _)| old == key)
                .map_or(key.as_str(), |(_, new)| new)
                .replace("colour", "color");
            let value = match (renamed.as_str(), value) {
                ("frequency_range", Value::String(name)) => FREQUENCY_RANGES
                    .iter()
                    .find(|(old, _)| old == name)
                    .map_or_else(|| value.clone(), |(_, new)| json!(new)),
                _ => value.clone(),
            };
            (renamed, value)
        })
        .collect()
}

/// `{"type", "config"}` with the config migrated.
fn effect(entry: &mut Value) {
    if let Some(Value::Object(config)) = entry.get_mut("config") {
        *config = effect_config(config);
    }
}

/// Brings `doc` to the current layout; returns what was changed, for the log.
pub fn migrate(doc: &mut Map<String, Value>) -> Vec<String> {
    let before = doc.clone();
    let mut done = Vec::new();
    let from = doc
        .get("configuration_version")
        .map_or_else(|| "none".to_owned(), Value::to_string);

    for (old, new) in [("displays", "virtuals"), ("custom_presets", "user_presets")] {
        let has_new = doc.get(new).is_some_and(|v| match v {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => false,
        });
        if !has_new {
            if let Some(value) = doc.remove(old) {
                doc.insert(new.into(), value);
                done.push(format!("{old} became {new}"));
            }
        }
    }

    // LedFx 1.x/2.0 drove devices directly: every device gets its own virtual.
    let no_virtuals = doc
        .get("virtuals")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_virtuals {
        let devices = doc
            .get("devices")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let created: Vec<Value> = devices
            .iter()
            .filter_map(|d| {
                let id = d.get("id")?.as_str()?;
                let config = d.get("config")?;
                let name = config.get("name")?.as_str()?;
                let pixels = config.get("pixel_count")?.as_i64()?;
                Some(json!({
                    "id": slug(name),
                    "is_device": id,
                    "auto_generated": false,
                    "config": {"name": name},
                    "segments": [[id, 0, pixels - 1, false]],
                }))
            })
            .collect();
        if !created.is_empty() {
            done.push(format!(
                "created a virtual for each of {} devices",
                created.len()
            ));
            doc.insert("virtuals".into(), Value::Array(created));
        }
    }

    if let Some(Value::Array(virtuals)) = doc.get_mut("virtuals") {
        // (A missing `auto_generated` is read as false; it is not written in, so an entry
        // that needs no change stays exactly as it was.)
        for v in virtuals.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(e) = v.get_mut("effect") {
                effect(e);
            }
            if let Some(Value::Object(history)) = v.get_mut("effects") {
                history.values_mut().for_each(effect);
            }
        }
    }

    if let Some(Value::Object(presets)) = doc.get_mut("user_presets") {
        for by_id in presets.values_mut().filter_map(Value::as_object_mut) {
            by_id.values_mut().for_each(effect);
        }
    }

    // Scenes listed devices (or displays) before they listed virtuals.
    let device_virtuals: Map<String, Value> = doc
        .get("virtuals")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            Some((
                v.get("is_device")?.as_str()?.to_owned(),
                v.get("id")?.clone(),
            ))
        })
        .collect();
    if let Some(Value::Object(scenes)) = doc.get_mut("scenes") {
        for scene in scenes.values_mut().filter_map(Value::as_object_mut) {
            let old = ["devices", "displays"]
                .into_iter()
                .find(|k| scene.contains_key(*k) && !scene.contains_key("virtuals"));
            if let Some(key) = old {
                let Some(Value::Object(entries)) = scene.remove(key) else {
                    continue;
                };
                let entries: Map<String, Value> = entries
                    .into_iter()
                    .map(|(id, entry)| {
                        let target = match (key, device_virtuals.get(&id)) {
                            ("devices", Some(Value::String(v))) => v.clone(),
                            _ => id,
                        };
                        (target, entry)
                    })
                    .collect();
                scene.insert("virtuals".into(), Value::Object(entries));
                done.push(format!("a scene's {key} became virtuals"));
            }
            if let Some(Value::Object(entries)) = scene.get_mut("virtuals") {
                entries.values_mut().for_each(effect);
            }
        }
    }

    // `min_volume` was 0–10 before it was 0–1.
    if let Some(Value::Object(audio)) = doc.get_mut("audio") {
        if audio
            .get("min_volume")
            .and_then(Value::as_f64)
            .is_some_and(|v| v > 1.0)
        {
            audio.insert("min_volume".into(), json!(0.2));
            done.push("audio.min_volume reset to 0.2 (the old 0-10 scale)".into());
        }
    }
    if *doc != before && done.is_empty() {
        done.push("effect settings renamed to their current names".into());
    }
    if !done.is_empty() {
        done.insert(0, format!("migrated from configuration_version {from}"));
        doc.insert("configuration_version".into(), json!(CONFIGURATION_VERSION));
    }
    done
}

#[cfg(test)]
mod tests;

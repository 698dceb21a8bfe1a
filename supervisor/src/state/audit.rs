//! The start-up audit: which `config.json` entries ledfx-rs can use.
//!
//! Every device and virtual is checked with the validation the API uses. An entry that fails
//! (unknown device type or effect, a field that does not validate, a duplicate id, a resource
//! clash, a segment on a device that cannot be used) is moved to [`ConfigDoc::kept`] exactly
//! as written: it is not driven, the LedFx endpoints do not show it, `/api/info` reports it
//! with its reason, and every save writes it back unchanged. Nothing is repaired by dropping
//! or resetting what the user wrote. Usable entries get their defaults filled in memory.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use proto::layout::MAX_DEVICE_SLOTS;
use serde_json::{Map, Value};

use super::virtual_config;
use crate::config::{ConfigDoc, DeviceEntry, Section, VirtualEntry};

/// Runs `check`, turning a panic into a reason: a validator bug must not stop the start.
fn guarded<T>(check: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(check))
        .unwrap_or_else(|_| Err("validating it crashed (a ledfx-rs bug; please report it)".into()))
}

/// The entry as the file had it (as we would write it, for one made in memory).
fn written<T: serde::Serialize>(as_written: Option<Box<Value>>, entry: &T) -> Value {
    as_written
        .map(|raw| *raw)
        .unwrap_or_else(|| serde_json::to_value(entry).unwrap_or(Value::Null))
}

/// Audits `doc` in place; returns one line per entry set aside (entries set aside while
/// parsing included).
pub fn audit(doc: &mut ConfigDoc) -> Vec<String> {
    // Devices first: a virtual is usable only if every device it uses is.
    let mut sizes: BTreeMap<String, i64> = BTreeMap::new();
    let mut accepted: Vec<usize> = Vec::new();
    let mut rejected: Vec<(usize, Value, String)> = Vec::new();
    for position in 0..doc.devices.len() {
        let earlier: Vec<&DeviceEntry> = accepted.iter().map(|&i| &*doc.devices[i]).collect();
        match check_device(&doc.devices[position], &earlier, &sizes) {
            Ok((config, pixel_count)) => {
                let device = std::sync::Arc::make_mut(&mut doc.devices[position]);
                device.config = config;
                device.as_written = None;
                sizes.insert(device.id.clone(), pixel_count);
                accepted.push(position);
            }
            Err(reason) => {
                let device = std::sync::Arc::make_mut(&mut doc.devices[position]);
                let raw = written(device.as_written.take(), device);
                rejected.push((position, raw, reason));
            }
        }
    }
    set_aside(doc, Section::Devices, rejected);

    let kept_devices: Vec<String> = doc
        .kept
        .iter()
        .filter(|k| k.section == Section::Devices)
        .map(|k| k.id.clone())
        .collect();
    let mut seen: Vec<String> = Vec::new();
    let mut rejected = Vec::new();
    for (position, v) in doc.virtuals.iter_mut().enumerate() {
        let v = std::sync::Arc::make_mut(v);
        match check_virtual(v, &sizes, &seen, &kept_devices) {
            Ok(()) => {
                v.as_written = None;
                seen.push(v.id.clone());
            }
            Err(reason) => {
                let raw = written(v.as_written.take(), v);
                rejected.push((position, raw, reason));
            }
        }
    }
    set_aside(doc, Section::Virtuals, rejected);

    doc.kept
        .iter()
        .map(|k| {
            format!(
                "{} entry {:?}: {}; kept in config.json as written, not driven",
                k.section.key(),
                k.id,
                k.reason
            )
        })
        .collect()
}

/// Moves the rejected entries (positions in file order) to the kept list.
fn set_aside(doc: &mut ConfigDoc, section: Section, rejected: Vec<(usize, Value, String)>) {
    for (removed, (position, raw, reason)) in rejected.into_iter().enumerate() {
        doc.keep(section, position - removed, raw, reason);
    }
}

fn check_device(
    device: &DeviceEntry,
    earlier: &[&DeviceEntry],
    sizes: &BTreeMap<String, i64>,
) -> Result<(Map<String, Value>, i64), String> {
    if sizes.contains_key(&device.id) {
        return Err("another device earlier in the file has the same id".into());
    }
    if !output_proc::device_types().any(|t| t == device.device_type) {
        return Err(format!(
            "device type {:?} is not supported by ledfx-rs yet",
            device.device_type
        ));
    }
    if earlier.len() >= MAX_DEVICE_SLOTS {
        return Err(format!(
            "ledfx-rs drives at most {MAX_DEVICE_SLOTS} devices"
        ));
    }
    let config = Value::Object(device.config.clone());
    let valid = guarded(|| super::devices::validate(&device.device_type, &config))?;
    let Value::Object(validated) = valid.config else {
        return Err("its validated config is not an object".into());
    };
    guarded(|| {
        super::devices::first_clash(earlier.iter().copied(), &device.device_type, &validated)
    })?;
    Ok((validated, i64::from(valid.pixel_count)))
}

fn check_virtual(
    v: &mut VirtualEntry,
    sizes: &BTreeMap<String, i64>,
    earlier: &[String],
    kept_devices: &[String],
) -> Result<(), String> {
    if earlier.contains(&v.id) {
        return Err("another virtual earlier in the file has the same id".into());
    }
    let unusable_device = |id: &str| {
        if kept_devices.iter().any(|k| k == id) {
            format!("device {id:?}, which cannot be used (see its entry)")
        } else {
            format!("device {id:?}, which does not exist")
        }
    };
    if let Some(device) = v.device_id() {
        if !sizes.contains_key(device) {
            return Err(format!("it belongs to {}", unusable_device(device)));
        }
    }
    for segment in &v.segments {
        if segment.0.starts_with("gap-") {
            continue;
        }
        let Some(&size) = sizes.get(&segment.0) else {
            return Err(format!("a segment is on {}", unusable_device(&segment.0)));
        };
        if segment.1 < 0 || segment.1 > segment.2 || segment.2 >= size {
            return Err(format!(
                "segment [{:?}, {}, {}] is outside the device's {size} pixels",
                segment.0, segment.1, segment.2
            ));
        }
    }
    let icon = v
        .config
        .get("icon_name")
        .and_then(Value::as_str)
        .unwrap_or("mdi:led-strip-variant")
        .to_owned();
    let mut config = v.config.clone();
    if !config.contains_key("name") {
        config.insert("name".into(), Value::String(v.id.clone()));
    }
    let config =
        guarded(|| virtual_config::validate(&config, &icon)).map_err(|e| format!("config: {e}"))?;
    let effect = match &v.effect {
        None => None,
        Some(e) => {
            if render_proc::effect_name(&e.effect_type).is_none() {
                return Err(format!(
                    "effect {:?} is not supported by ledfx-rs yet",
                    e.effect_type
                ));
            }
            let checked = guarded(|| {
                super::State::validated_effect(&e.effect_type, &e.config).map_err(|f| f.reason)
            })
            .map_err(|why| format!("effect {}: {why}", e.effect_type))?;
            Some(checked)
        }
    };
    v.config = config;
    if let (Some(e), Some(checked)) = (&mut v.effect, effect) {
        e.config = checked;
    }
    Ok(())
}

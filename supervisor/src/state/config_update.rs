//! `PUT /api/config` (ledfx-api.md §3.2): a partial update of the top-level configuration,
//! checked against the same schema `/api/schema` serves, so what the form offers and what
//! the update accepts cannot drift apart.
//!
//! Every key is checked before anything is applied: an unknown key or an invalid value
//! rejects the whole request with LedFx's reason, and nothing changes.

use std::net::Ipv4Addr;

use serde_json::{json, Map, Value};

use super::{invalid, reply, schema, State};
use proto::api::{ApiFailure, ApiReply, Json};

/// Sections merged key by key rather than replaced.
const SECTIONS: &[&str] = &["audio", "melbanks", "wled_preferences"];

/// Keys ledfx-rs reads only when it starts (the API's listening socket).
const AT_NEXT_START: &[&str] = &["host", "port", "port_s"];

fn failed(reason: impl std::fmt::Display) -> ApiFailure {
    invalid(format!("Error updating config: {reason}"))
}

/// Checks `value` against one property of the schema dialect (§3.3) and returns it as it
/// is stored (numbers of a `number` key as floats).
pub fn check_value(key: &str, property: &Value, value: &Value) -> Result<Value, String> {
    let kind = property.get("type").and_then(Value::as_str).unwrap_or("");
    let bounds = |n: f64| -> Result<(), String> {
        let min = property.get("minimum").and_then(Value::as_f64);
        let max = property.get("maximum").and_then(Value::as_f64);
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            let range = match (min, max) {
                (Some(a), Some(b)) => format!("between {a} and {b}"),
                (Some(a), None) => format!(">= {a}"),
                (None, Some(b)) => format!("<= {b}"),
                (None, None) => String::new(),
            };
            let noun = if kind == "number" {
                "a number"
            } else {
                "an integer"
            };
            return Err(format!("{key}: expected {noun} {range}, got {n}"));
        }
        Ok(())
    };
    if let Some(Value::Array(options)) = property.get("enum") {
        return if options.contains(value) {
            Ok(value.clone())
        } else {
            let shown: Vec<String> = options.iter().map(Value::to_string).collect();
            Err(format!(
                "{key}: expected one of {}, got {value}",
                shown.join(", ")
            ))
        };
    }
    if let Some(Value::Object(nested)) = property.get("properties") {
        let Value::Object(given) = value else {
            return Err(format!("{key}: expected an object, got {value}"));
        };
        let mut out = Map::new();
        for (k, v) in given {
            let Some(p) = nested.get(k) else {
                return Err(format!("{key}: unknown key '{k}'"));
            };
            out.insert(k.clone(), check_value(&format!("{key}.{k}"), p, v)?);
        }
        return Ok(Value::Object(out));
    }
    match (kind, value) {
        ("integer" | "int", Value::Number(n)) if n.as_i64().is_some() => {
            bounds(n.as_f64().unwrap_or_default()).map(|()| value.clone())
        }
        ("number", Value::Number(n)) => {
            let f = n.as_f64().unwrap_or_default();
            bounds(f).map(|()| json!(f))
        }
        ("boolean", Value::Bool(_)) | ("dict", Value::Object(_)) | ("array", Value::Array(_)) => {
            Ok(value.clone())
        }
        ("string", Value::String(s)) => {
            if property.get("format") == Some(&json!("ipv4")) && s.parse::<Ipv4Addr>().is_err() {
                return Err(format!("{key}: expected an IPv4 address, got {value}"));
            }
            Ok(value.clone())
        }
        ("list", Value::Array(items)) => {
            let item = property
                .get("validators")
                .and_then(|v| v.get(0))
                .cloned()
                .unwrap_or(json!({}));
            items
                .iter()
                .enumerate()
                .map(|(i, v)| check_value(&format!("{key}[{i}]"), &item, v))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        _ => {
            let expected = match kind {
                "integer" | "int" => "an integer",
                "number" => "a number",
                "boolean" => "true or false",
                "string" => "a string",
                "list" | "array" => "a list",
                _ => "an object",
            };
            Err(format!("{key}: expected {expected}, got {value}"))
        }
    }
}

/// The `properties` of one schema section.
fn properties(full: &Value, section: &str) -> Map<String, Value> {
    full[section]["schema"]["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn permitted(full: &Value, section: &str) -> Vec<String> {
    full[section]["schema"]["permitted_keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The checked parts of an update: the sections' keys, and the core keys, as stored.
pub(super) struct Checked {
    pub(super) sections: Vec<(String, Map<String, Value>)>,
    pub(super) core: Map<String, Value>,
}

/// Checks every key of an update body (the permitted core keys, `user_presets`,
/// `melbank_collection` and the sections' permitted keys) against the served schema; the
/// first problem is the error, with LedFx's wording for unknown keys.
pub(super) fn check_update(body: &Map<String, Value>) -> Result<Checked, String> {
    let full = schema::full();
    let mut sections = Vec::new();
    let mut core: Map<String, Value> = Map::new();
    for (key, value) in body {
        if SECTIONS.contains(&key.as_str()) {
            let Value::Object(given) = value else {
                return Err(format!("{key}: expected an object, got {value}"));
            };
            let allowed = permitted(&full, key);
            let props = properties(&full, key);
            let mut checked = Map::new();
            for (k, v) in given {
                if !allowed.contains(k) {
                    return Err(format!("\"Unknown/forbidden {key} config key: '{k}'\""));
                }
                let v = match (key.as_str(), k.as_str()) {
                    // Checked against the device list by the caller, which has it.
                    ("audio", "audio_device") => v.clone(),
                    _ => check_value(&format!("{key}.{k}"), &props[k], v)?,
                };
                checked.insert(k.clone(), v);
            }
            sections.push((key.clone(), checked));
            continue;
        }
        let value = match key.as_str() {
            "user_presets" => check_user_presets(value)?,
            "melbank_collection" => check_melbank_collection(&full, value)?,
            _ if schema::CORE_PERMITTED.contains(&key.as_str()) => {
                let props = properties(&full, "core");
                check_value(key, &props[key.as_str()], value)?
            }
            _ => return Err(format!("\"Unknown/forbidden core config key: '{key}'\"")),
        };
        core.insert(key.clone(), value);
    }
    Ok(Checked { sections, core })
}

/// Whether `PUT /api/config` accepts this top-level key.
pub(super) fn updatable(key: &str) -> bool {
    SECTIONS.contains(&key)
        || matches!(key, "user_presets" | "melbank_collection")
        || schema::CORE_PERMITTED.contains(&key)
}

impl State {
    /// `PUT /api/config`.
    pub(super) fn update_config(&mut self, body: Json) -> ApiReply {
        let Value::Object(body) = body.to_value() else {
            return Err(invalid("Request body must be a JSON object"));
        };
        let Checked { sections, core } = check_update(&body).map_err(failed)?;
        // A chosen capture device must be one audio-proc lists; its name is stored with it.
        // `null` (LedFx: "the default device") clears the choice.
        let mut device = None;
        for (section, checked) in &sections {
            if let Some(v) = checked.get("audio_device").filter(|_| section == "audio") {
                device = Some(if v.is_null() {
                    None
                } else {
                    Some(self.check_device_index(v).map_err(failed)?)
                });
            }
        }
        let sections = sections.into_iter().map(|(section, mut checked)| {
            if section == "audio" {
                checked.remove("audio_device");
            }
            (section, checked)
        });
        match device {
            Some(Some((index, name))) => self.store_audio_device(index, name),
            Some(None) => self.clear_audio_device(),
            None => {}
        }
        let doc_core = self.doc.core_mut();
        for (section, checked) in sections {
            let target = doc_core
                .entry(section.as_str())
                .or_insert_with(|| json!({}));
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(target) = target {
                target.extend(checked);
            }
        }
        let later: Vec<String> = core
            .keys()
            .filter(|k| AT_NEXT_START.contains(&k.as_str()))
            .cloned()
            .collect();
        doc_core.extend(core);
        let reason = if later.is_empty() {
            "Configuration Updated".to_owned()
        } else {
            // LedFx restarts itself here; ledfx-rs applies everything live except the
            // listening address, which it binds once at start.
            format!(
                "Configuration Updated; {} take effect when ledfx-rs next starts",
                later.join(", ")
            )
        };
        reply(json!({"status": "success", "payload": {"type": "success", "reason": reason}}))
    }
}

/// `user_presets` replaces the whole object: `{effect_type: {preset_id: {name, config}}}`.
fn check_user_presets(value: &Value) -> Result<Value, String> {
    let Value::Object(types) = value else {
        return Err(format!("user_presets: expected an object, got {value}"));
    };
    for (effect_type, presets) in types {
        let Value::Object(presets) = presets else {
            return Err(format!(
                "user_presets.{effect_type}: expected an object of presets"
            ));
        };
        for (id, preset) in presets {
            if !preset.get("config").is_some_and(Value::is_object) {
                return Err(format!(
                    "user_presets.{effect_type}.{id}: expected {{\"name\", \"config\": {{…}}}}"
                ));
            }
        }
    }
    Ok(value.clone())
}

/// `melbank_collection` is stored as `GET /api/config` shows it: `[{"id", "config": {name,
/// min_frequency, max_frequency}}]`; each `config` is checked against its section's schema.
fn check_melbank_collection(full: &Value, value: &Value) -> Result<Value, String> {
    let Value::Array(entries) = value else {
        return Err(format!("melbank_collection: expected a list, got {value}"));
    };
    let config_schema = json!({ "properties": properties(full, "melbank_collection") });
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let (Some(Value::String(id)), Some(config)) = (entry.get("id"), entry.get("config")) else {
            return Err(format!(
                "melbank_collection[{i}]: expected {{\"id\": \"…\", \"config\": {{\"name\", \"min_frequency\", \"max_frequency\"}}}}, got {entry}"
            ));
        };
        let config = check_value(
            &format!("melbank_collection[{i}].config"),
            &config_schema,
            config,
        )?;
        out.push(json!({"id": id, "config": config}));
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests;

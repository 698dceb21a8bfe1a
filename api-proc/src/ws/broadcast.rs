//! The `broadcast` command's checks (ledfx-api.md §4.3): the shape of `data` with the
//! messages LedFx's validator gives, the 2048-byte payload limit measured as LedFx measures
//! it, and the target selection.

use serde_json::{Map, Value};

/// `broadcast_type` values, sorted as LedFx lists them in its message.
const BROADCAST_TYPES: [&str; 4] = [
    "color_palette",
    "custom",
    "scene_sync",
    "visualiser_control",
];
const TARGET_MODES: [&str; 4] = ["all", "names", "type", "uuids"];
/// Largest payload, in bytes of its JSON text.
pub const MAX_PAYLOAD_BYTES: usize = 2048;

/// A broadcast that passed the shape check.
#[derive(Debug)]
pub struct Broadcast {
    pub broadcast_type: String,
    pub target: Map<String, Value>,
    pub payload: Map<String, Value>,
}

fn one_of(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
    format!("value must be one of [{}]", quoted.join(", "))
}

/// Checks `data` as LedFx does; the error is the text after `Invalid broadcast data: `.
pub fn validate(data: &Value) -> Result<Broadcast, String> {
    let Value::Object(data) = data else {
        return Err("expected a dictionary".into());
    };
    if let Some(extra) = data
        .keys()
        .find(|k| !["broadcast_type", "target", "payload"].contains(&k.as_str()))
    {
        return Err(format!("extra keys not allowed @ data['{extra}']"));
    }
    let broadcast_type = match data.get("broadcast_type") {
        None => return Err("required key not provided @ data['broadcast_type']".into()),
        Some(Value::String(t)) if BROADCAST_TYPES.contains(&t.as_str()) => t.clone(),
        Some(_) => {
            return Err(format!(
                "{} for dictionary value @ data['broadcast_type']",
                one_of(&BROADCAST_TYPES)
            ))
        }
    };
    let target = match data.get("target") {
        None => return Err("required key not provided @ data['target']".into()),
        Some(Value::Object(target)) => validate_target(target)?,
        Some(_) => {
            return Err("expected a dictionary for dictionary value @ data['target']".into())
        }
    };
    let payload = match data.get("payload") {
        None => return Err("required key not provided @ data['payload']".into()),
        Some(Value::Object(payload)) => payload.clone(),
        Some(_) => return Err("expected dict for dictionary value @ data['payload']".into()),
    };
    Ok(Broadcast {
        broadcast_type,
        target,
        payload,
    })
}

fn validate_target(target: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    if let Some(extra) = target
        .keys()
        .find(|k| !["mode", "value", "names", "uuids"].contains(&k.as_str()))
    {
        return Err(format!(
            "extra keys not allowed @ data['target']['{extra}']"
        ));
    }
    match target.get("mode") {
        None => return Err("required key not provided @ data['target']['mode']".into()),
        Some(Value::String(mode)) if TARGET_MODES.contains(&mode.as_str()) => {}
        Some(_) => {
            return Err(format!(
                "{} for dictionary value @ data['target']['mode']",
                one_of(&TARGET_MODES)
            ))
        }
    }
    if let Some(value) = target.get("value") {
        if !value.is_string() {
            return Err("expected str for dictionary value @ data['target']['value']".into());
        }
    }
    for key in ["names", "uuids"] {
        match target.get(key) {
            None => {}
            Some(Value::Array(items)) => {
                for (n, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) if !s.is_empty() => {}
                        Some(_) => {
                            return Err(format!(
                                "length of value must be at least 1 @ data['target']['{key}'][{n}]"
                            ))
                        }
                        None => return Err(format!("expected str @ data['target']['{key}'][{n}]")),
                    }
                }
            }
            Some(_) => {
                return Err(format!(
                    "expected list for dictionary value @ data['target']['{key}']"
                ))
            }
        }
    }
    Ok(target.clone())
}

/// The payload's size as LedFx counts it: UTF-8 bytes of Python's `json.dumps`, which puts a
/// space after every `,` and `:`.
pub fn payload_size(payload: &Map<String, Value>) -> usize {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonSeparators);
    let _ = serde::Serialize::serialize(payload, &mut serializer);
    out.len()
}

/// `json.dumps`'s default separators, `", "` and `": "`.
struct PythonSeparators;

impl serde_json::ser::Formatter for PythonSeparators {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        item_separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        item_separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
    ) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

fn item_separator<W: ?Sized + std::io::Write>(writer: &mut W, first: bool) -> std::io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

/// The ids the target selects among the identified clients `(id, name, type)` (in
/// identification order). `all` leaves the sender out; `uuids` keeps the list's order.
pub fn targets(
    target: &Map<String, Value>,
    clients: &[(String, String, String)],
    sender: &str,
) -> Vec<String> {
    let strings = |key: &str| -> Vec<&str> {
        target
            .get(key)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let ids = |keep: &dyn Fn(&(String, String, String)) -> bool| -> Vec<String> {
        clients
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.0.clone())
            .collect()
    };
    match target.get("mode").and_then(Value::as_str) {
        Some("all") => ids(&|(id, _, _)| id != sender),
        Some("type") => match target.get("value").and_then(Value::as_str) {
            Some(value) if !value.is_empty() => ids(&|(_, _, kind)| kind == value),
            _ => Vec::new(),
        },
        Some("names") => {
            let names = strings("names");
            ids(&|(_, name, _)| names.contains(&name.as_str()))
        }
        Some("uuids") => strings("uuids")
            .into_iter()
            .filter(|id| clients.iter().any(|c| c.0 == *id))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Python's `repr` of a JSON value, for LedFx's `No clients matched target specification`
/// message.
pub fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => python_str(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_str(k), python_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's string repr: single quotes unless the text has one and no double quote.
fn python_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(data: Value) -> String {
        validate(&data).map(|_| ()).unwrap_err()
    }

    #[test]
    fn the_shape_check_names_the_field_as_ledfx_does() {
        let target = json!({"mode": "all"});
        assert_eq!(error(json!([])), "expected a dictionary");
        assert_eq!(
            error(json!({"target": target, "payload": {}})),
            "required key not provided @ data['broadcast_type']"
        );
        assert_eq!(
            error(json!({"broadcast_type": "shout", "target": target, "payload": {}})),
            "value must be one of ['color_palette', 'custom', 'scene_sync', 'visualiser_control'] for dictionary value @ data['broadcast_type']"
        );
        assert_eq!(
            error(json!({"broadcast_type": "custom", "target": target, "payload": {}, "x": 1})),
            "extra keys not allowed @ data['x']"
        );
        assert_eq!(
            error(json!({"broadcast_type": "custom", "target": {"mode": "some"}, "payload": {}})),
            "value must be one of ['all', 'names', 'type', 'uuids'] for dictionary value @ data['target']['mode']"
        );
        assert_eq!(
            error(json!({"broadcast_type": "custom", "target": target, "payload": [1]})),
            "expected dict for dictionary value @ data['payload']"
        );
        assert!(
            validate(&json!({"broadcast_type": "custom", "target": target, "payload": {}})).is_ok()
        );
    }

    #[test]
    fn the_payload_is_measured_with_pythons_separators() {
        let Value::Object(payload) = json!({"a": 1, "b": [1, 2], "c": "é"}) else {
            unreachable!()
        };
        // {"a": 1, "b": [1, 2], "c": "é"} — é is two bytes.
        assert_eq!(
            payload_size(&payload),
            r#"{"a": 1, "b": [1, 2], "c": "é"}"#.len()
        );
    }

    #[test]
    fn targets_follow_the_mode() {
        let clients = vec![
            ("u1".to_owned(), "Kitchen".to_owned(), "mobile".to_owned()),
            ("u2".to_owned(), "Hall".to_owned(), "display".to_owned()),
            ("u3".to_owned(), "Porch".to_owned(), "display".to_owned()),
        ];
        let pick = |target: Value| {
            let Value::Object(target) = target else {
                unreachable!()
            };
            targets(&target, &clients, "u2")
        };
        assert_eq!(pick(json!({"mode": "all"})), ["u1", "u3"]);
        assert_eq!(
            pick(json!({"mode": "type", "value": "display"})),
            ["u2", "u3"]
        );
        assert_eq!(
            pick(json!({"mode": "names", "names": ["Porch", "Nobody"]})),
            ["u3"]
        );
        assert_eq!(
            pick(json!({"mode": "uuids", "uuids": ["u3", "u9", "u1"]})),
            ["u3", "u1"]
        );
        assert!(pick(json!({"mode": "type"})).is_empty());
    }

    #[test]
    fn python_repr_matches_python() {
        assert_eq!(
            python_repr(&json!({"mode": "names", "names": ["it's", "a\"b", null, true]})),
            r#"{'mode': 'names', 'names': ["it's", 'a"b', None, True]}"#
        );
    }
}

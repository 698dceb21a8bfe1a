//! Comparing two JSON answers by shape: which keys each has and what type each value is,
//! ignoring the values themselves (ids, timestamps, versions and measurements differ between
//! two servers by nature). Used by the differential tool against LedFx.

use serde_json::Value;

/// The JSON type of a value, as a word.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Where `ours` differs in shape from `theirs`, one line per difference, as
/// `<path>: <what>`. Lists are compared element by element as far as both go.
pub fn differences(theirs: &Value, ours: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("$", theirs, ours, &mut out);
    out
}

fn walk(path: &str, theirs: &Value, ours: &Value, out: &mut Vec<String>) {
    match (theirs, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let here = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => walk(&here, value, other, out),
                    None => out.push(format!("{here}: missing in ledfx-rs")),
                }
            }
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{key}: only in ledfx-rs"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if kind(theirs) != kind(ours) => out.push(format!(
            "{path}: {} in LedFx, {} in ledfx-rs",
            kind(theirs),
            kind(ours)
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_keys_and_types_count() {
        let theirs = json!({"status": "success", "n": 1, "list": [{"a": 1}], "gone": true});
        let ours = json!({"status": "failed", "n": 2.5, "list": [{"a": "x"}], "extra": null});
        assert_eq!(
            differences(&theirs, &ours),
            [
                "$.list[0].a: number in LedFx, string in ledfx-rs",
                "$.gone: missing in ledfx-rs",
                "$.extra: only in ledfx-rs",
            ]
        );
        assert!(differences(&theirs, &theirs).is_empty());
        assert_eq!(
            differences(&json!([1, 2]), &json!({})),
            ["$: list in LedFx, object in ledfx-rs"]
        );
    }
}

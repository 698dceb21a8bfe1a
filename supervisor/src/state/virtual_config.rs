//! Validation of a virtual's config (LedFx's `Virtual` schema, ledfx-api.md §2.5).

use serde_json::{json, Map, Value};

/// LedFx's transition modes, in its order.
pub const TRANSITION_MODES: [&str; 8] = [
    "Add",
    "Dissolve",
    "Push",
    "Slide",
    "Iris",
    "Through White",
    "Through Black",
    "None",
];

/// Defaults in the order LedFx shows them.
fn defaults(icon: &str) -> Map<String, Value> {
    match json!({
        "icon_name": icon,
        "rows": 1,
        "complex_segments": false,
        "mapping": "span",
        "grouping": 1,
        "frequency_min": 20,
        "frequency_max": 15000,
        "transition_mode": "Add",
        "transition_time": 0.4,
        "max_brightness": 1.0,
        "preview_only": false,
        "rotate": 0,
        "center_offset": 0
    }) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// An integer, also when written as a float with no fraction (`3.0`), as LedFx coerces.
pub fn integer(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0)
            .map(|f| f as i64)
    })
}

fn int(map: &Map<String, Value>, key: &str, min: i64, max: i64) -> Result<i64, String> {
    let value = &map[key];
    let n = integer(value).ok_or_else(|| format!("{key}: expected an integer, got {value}"))?;
    if n < min || n > max {
        return Err(format!(
            "{key}: expected an integer between {min} and {max}, got {n}"
        ));
    }
    Ok(n)
}

fn number(map: &Map<String, Value>, key: &str, min: f64, max: f64) -> Result<f64, String> {
    let value = &map[key];
    let n = value
        .as_f64()
        .ok_or_else(|| format!("{key}: expected a number, got {value}"))?;
    if !(min..=max).contains(&n) {
        return Err(format!(
            "{key}: expected a number between {min} and {max}, got {n}"
        ));
    }
    Ok(n)
}

fn boolean(map: &Map<String, Value>, key: &str) -> Result<bool, String> {
    map[key]
        .as_bool()
        .ok_or_else(|| format!("{key}: expected true or false, got {}", map[key]))
}

/// Fills defaults and checks every known key; unknown keys are kept. `icon` is the default
/// icon (device virtuals inherit the device's).
pub fn validate(raw: &Map<String, Value>, icon: &str) -> Result<Map<String, Value>, String> {
    let name = match raw.get("name") {
        Some(Value::String(name)) => name.clone(),
        Some(other) => return Err(format!("name: expected a string, got {other}")),
        None => return Err("name: required".into()),
    };
    let mut out = Map::new();
    out.insert("name".into(), Value::String(name));
    for (key, value) in defaults(icon) {
        out.insert(key, value);
    }
    for (key, value) in raw {
        if key != "name" && !value.is_null() {
            out.insert(key.clone(), value.clone());
        }
    }
    if !out["icon_name"].is_string() {
        return Err(format!(
            "icon_name: expected a string, got {}",
            out["icon_name"]
        ));
    }
    let mapping = out["mapping"].as_str().unwrap_or_default();
    if !matches!(mapping, "span" | "copy") {
        return Err(format!(
            "mapping: expected \"span\" or \"copy\", got {}",
            out["mapping"]
        ));
    }
    let mode = out["transition_mode"].as_str().unwrap_or_default();
    if !TRANSITION_MODES.contains(&mode) {
        return Err(format!(
            "transition_mode: expected one of {}, got {}",
            TRANSITION_MODES.join(", "),
            out["transition_mode"]
        ));
    }
    for key in ["complex_segments", "preview_only"] {
        boolean(&out, key)?;
    }
    let grouping = int(&out, "grouping", 0, 4096)?;
    let rows = int(&out, "rows", 1, 4096)?;
    let mut rotate = int(&out, "rotate", 0, 3)?;
    if rows <= 1 {
        rotate = 0;
    }
    let center_offset = int(&out, "center_offset", -1_000_000, 1_000_000)?;
    let mut fmin = int(&out, "frequency_min", 20, 15000)?;
    let mut fmax = int(&out, "frequency_max", 20, 15000)?;
    if fmin > fmax {
        std::mem::swap(&mut fmin, &mut fmax);
    }
    if fmin == fmax {
        if fmax == 15000 {
            fmin -= 1;
        } else {
            fmax += 1;
        }
    }
    let transition_time = number(&out, "transition_time", 0.0, 5.0)?;
    let max_brightness = number(&out, "max_brightness", 0.0, 1.0)?;
    out.insert("grouping".into(), json!(grouping));
    out.insert("rows".into(), json!(rows));
    out.insert("rotate".into(), json!(rotate));
    out.insert("center_offset".into(), json!(center_offset));
    out.insert("frequency_min".into(), json!(fmin));
    out.insert("frequency_max".into(), json!(fmax));
    out.insert("transition_time".into(), json!(transition_time));
    out.insert("max_brightness".into(), json!(max_brightness));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn defaults_are_filled_and_ints_become_floats_where_the_schema_says_float() {
        let out = validate(&obj(json!({"name": "A", "max_brightness": 1})), "mdi:x").unwrap();
        assert_eq!(out["mapping"], "span");
        assert_eq!(out["icon_name"], "mdi:x");
        assert_eq!(out["max_brightness"], json!(1.0));
        assert!(out["max_brightness"].is_f64());
    }

    #[test]
    fn frequency_range_is_normalised() {
        let out = validate(
            &obj(json!({"name": "A", "frequency_min": 500, "frequency_max": 100})),
            "i",
        )
        .unwrap();
        assert_eq!(
            (out["frequency_min"].clone(), out["frequency_max"].clone()),
            (json!(100), json!(500))
        );
        let out = validate(
            &obj(json!({"name": "A", "frequency_min": 15000, "frequency_max": 15000})),
            "i",
        )
        .unwrap();
        assert_eq!(out["frequency_min"], 14999);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = validate(&obj(json!({"name": "A", "mapping": "wrap"})), "i").unwrap_err();
        assert!(err.starts_with("mapping:"), "{err}");
        let err = validate(&obj(json!({"name": "A", "transition_time": "x"})), "i").unwrap_err();
        assert!(err.starts_with("transition_time:"), "{err}");
        assert_eq!(
            validate(&obj(json!({})), "i").unwrap_err(),
            "name: required"
        );
    }
}

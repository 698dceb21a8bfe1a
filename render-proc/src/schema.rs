//! Effect config schemas and LedFx-compatible validation (engine spec §2.1, API spec §2.4).
//!
//! Every effect declares its keys as a table of [`Field`]s (key, type, default, range). One
//! generic validator turns a raw JSON object into LedFx's *fully validated* config: missing
//! keys filled with defaults, numbers coerced the way voluptuous' `Coerce(float)`/`Coerce(int)`
//! do, colours normalised to lower-case `#rrggbb`, unknown keys kept. The tables are data so
//! that the typed config structs of the effects never repeat defaults or ranges, and so that
//! the supervisor can validate without building an effect.

use serde_json::{Map, Value};

use crate::color::parse_color_value;

/// One config key of an effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    pub key: &'static str,
    pub kind: FieldKind,
    /// What the key does, for `/api/schema` (ledfx-rs's own wording).
    pub description: &'static str,
}

/// Type, default and range of a config key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldKind {
    /// A float in `min..=max` (ints and numeric strings are coerced, as LedFx does).
    Float { default: f64, min: f64, max: f64 },
    /// An integer in `min..=max` (floats are truncated, as Python's `int()` does).
    Int { default: i64, min: i64, max: i64 },
    /// A strict JSON boolean.
    Bool { default: bool },
    /// A strict JSON boolean with no default (only present when given, e.g. `advanced`).
    OptionalBool,
    /// A colour, stored normalised as `#rrggbb`.
    Color { default: &'static str },
    /// One string out of a fixed list.
    Choice {
        default: &'static str,
        options: &'static [&'static str],
    },
}

impl Field {
    /// A float key.
    pub const fn float(key: &'static str, default: f64, min: f64, max: f64) -> Self {
        Self {
            key,
            kind: FieldKind::Float { default, min, max },
            description: "",
        }
    }

    /// An integer key.
    pub const fn int(key: &'static str, default: i64, min: i64, max: i64) -> Self {
        Self {
            key,
            kind: FieldKind::Int { default, min, max },
            description: "",
        }
    }

    /// A boolean key.
    pub const fn bool(key: &'static str, default: bool) -> Self {
        Self {
            key,
            kind: FieldKind::Bool { default },
            description: "",
        }
    }

    /// A boolean key without a default.
    pub const fn optional_bool(key: &'static str) -> Self {
        Self {
            key,
            kind: FieldKind::OptionalBool,
            description: "",
        }
    }

    /// A colour key.
    pub const fn color(key: &'static str, default: &'static str) -> Self {
        Self {
            key,
            kind: FieldKind::Color { default },
            description: "",
        }
    }

    /// An enumerated string key.
    pub const fn choice(
        key: &'static str,
        default: &'static str,
        options: &'static [&'static str],
    ) -> Self {
        Self {
            key,
            kind: FieldKind::Choice { default, options },
            description: "",
        }
    }

    /// The same key with a description.
    pub const fn describe(self, description: &'static str) -> Self {
        Self {
            description,
            ..self
        }
    }

    /// The validated default, or `None` for keys without one.
    pub fn default_value(&self) -> Option<Value> {
        match self.kind {
            FieldKind::Float { default, .. } => Some(Value::from(default)),
            FieldKind::Int { default, .. } => Some(Value::from(default)),
            FieldKind::Bool { default } => Some(Value::Bool(default)),
            FieldKind::OptionalBool => None,
            // Defaults go through the validator too (LedFx stores "#FF0000" as "#ff0000").
            FieldKind::Color { default } => Some(
                parse_color_value(&Value::from(default))
                    .map_or_else(|_| Value::from(default), |c| Value::from(c.to_hex())),
            ),
            FieldKind::Choice { default, .. } => Some(Value::from(default)),
        }
    }

    /// Validates and normalises one given value.
    pub fn validate(&self, value: &Value) -> Result<Value, EffectConfigError> {
        let key = self.key;
        let got = || value.to_string();
        match self.kind {
            FieldKind::Float { min, max, .. } => {
                let v = coerce_float(value)
                    .ok_or_else(|| EffectConfigError::NotANumber { key, got: got() })?;
                if !(min..=max).contains(&v) {
                    return Err(EffectConfigError::OutOfRange {
                        key,
                        min,
                        max,
                        got: v,
                    });
                }
                Ok(Value::from(v))
            }
            FieldKind::Int { min, max, .. } => {
                let v = coerce_int(value)
                    .ok_or_else(|| EffectConfigError::NotAnInteger { key, got: got() })?;
                if !(min..=max).contains(&v) {
                    return Err(EffectConfigError::IntOutOfRange {
                        key,
                        min,
                        max,
                        got: v,
                    });
                }
                Ok(Value::from(v))
            }
            FieldKind::Bool { .. } | FieldKind::OptionalBool => match value {
                Value::Bool(b) => Ok(Value::Bool(*b)),
                _ => Err(EffectConfigError::NotABool { key, got: got() }),
            },
            FieldKind::Color { .. } => parse_color_value(value)
                .map(|c| Value::from(c.to_hex()))
                .map_err(|_| EffectConfigError::InvalidColor { key, got: got() }),
            FieldKind::Choice { options, .. } => match value {
                Value::String(s) if options.contains(&s.as_str()) => Ok(value.clone()),
                _ => Err(EffectConfigError::NotAnOption {
                    key,
                    options: options
                        .iter()
                        .map(|o| format!("{o:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    got: got(),
                }),
            },
        }
    }
}

/// `vol.Coerce(float)`: numbers, numeric strings and booleans (Python's `float(True)` is 1.0).
fn coerce_float(value: &Value) -> Option<f64> {
    let v = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => return None,
    };
    v.is_finite().then_some(v)
}

/// `vol.Coerce(int)`: integers, floats truncated towards zero, integer strings, booleans.
fn coerce_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.is_finite() && f.abs() < 9.2e18).then_some(f.trunc() as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// Why an effect config was rejected. Every message names the key and the problem, because
/// the API hands it to the user verbatim.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EffectConfigError {
    #[error("unknown effect type \"{0}\"")]
    UnknownEffect(String),
    #[error("effect config must be an object, got {0}")]
    NotAnObject(String),
    #[error("{key}: expected a number, got {got}")]
    NotANumber { key: &'static str, got: String },
    #[error("{key}: expected a number between {min} and {max}, got {got}")]
    OutOfRange {
        key: &'static str,
        min: f64,
        max: f64,
        got: f64,
    },
    #[error("{key}: expected an integer, got {got}")]
    NotAnInteger { key: &'static str, got: String },
    #[error("{key}: expected an integer between {min} and {max}, got {got}")]
    IntOutOfRange {
        key: &'static str,
        min: i64,
        max: i64,
        got: i64,
    },
    #[error("{key}: expected true or false, got {got}")]
    NotABool { key: &'static str, got: String },
    #[error("{key}: invalid color {got}")]
    InvalidColor { key: &'static str, got: String },
    #[error("{key}: expected one of {options}, got {got}")]
    NotAnOption {
        key: &'static str,
        options: String,
        got: String,
    },
    /// A validated config did not decode into the effect's typed config (a bug in a schema
    /// table, never a user error).
    #[error("{effect}: config does not match its schema: {reason}")]
    DecodeConfig {
        effect: &'static str,
        reason: String,
    },
}

impl EffectConfigError {
    /// The offending config key, when the error is about one.
    pub fn key(&self) -> Option<&'static str> {
        match self {
            EffectConfigError::NotANumber { key, .. }
            | EffectConfigError::OutOfRange { key, .. }
            | EffectConfigError::NotAnInteger { key, .. }
            | EffectConfigError::IntOutOfRange { key, .. }
            | EffectConfigError::NotABool { key, .. }
            | EffectConfigError::InvalidColor { key, .. }
            | EffectConfigError::NotAnOption { key, .. } => Some(key),
            EffectConfigError::UnknownEffect(_)
            | EffectConfigError::NotAnObject(_)
            | EffectConfigError::DecodeConfig { .. } => None,
        }
    }
}

/// Validates `raw` against `fields` (in schema order). `null` counts as an empty object.
/// The result lists the schema's keys in schema order, then unknown keys in their given order.
pub fn validate_fields<'f>(
    fields: impl Iterator<Item = &'f Field> + Clone,
    raw: &Value,
) -> Result<Map<String, Value>, EffectConfigError> {
    let empty = Map::new();
    let given = match raw {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => return Err(EffectConfigError::NotAnObject(other.to_string())),
    };
    let mut out = Map::new();
    for field in fields.clone() {
        let value = match given.get(field.key) {
            Some(v) => Some(field.validate(v)?),
            None => field.default_value(),
        };
        if let Some(v) = value {
            out.insert(field.key.to_owned(), v);
        }
    }
    for (key, value) in given {
        if !fields.clone().any(|f| f.key == key) {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[Field] = &[
        Field::float("speed", 1.0, 0.1, 10.0),
        Field::int("count", 3, 1, 10),
        Field::bool("flip", false),
        Field::optional_bool("advanced"),
        Field::color("color", "#FF0000"),
        Field::choice("mode", "a", &["a", "b"]),
    ];

    fn validate(raw: Value) -> Result<String, String> {
        validate_fields(FIELDS.iter(), &raw)
            .map(|m| Value::Object(m).to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_fill_in_and_keep_schema_order_then_unknown_keys() {
        assert_eq!(
            validate(json!({"zzz": 1, "mode": "b", "speed": 2})).unwrap(),
            r##"{"speed":2.0,"count":3,"flip":false,"color":"#ff0000","mode":"b","zzz":1}"##
        );
        assert_eq!(validate(Value::Null).unwrap(), validate(json!({})).unwrap());
    }

    #[test]
    fn numbers_are_coerced_like_voluptuous() {
        let v = validate(json!({"speed": "2.5", "count": 4.9, "advanced": true})).unwrap();
        assert!(v.contains(r#""speed":2.5"#), "{v}");
        assert!(v.contains(r#""count":4"#), "{v}");
        assert!(v.contains(r#""advanced":true"#), "{v}");
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        assert_eq!(
            validate(json!({"speed": 20})).unwrap_err(),
            "speed: expected a number between 0.1 and 10, got 20"
        );
        assert_eq!(
            validate(json!({"speed": "fast"})).unwrap_err(),
            r#"speed: expected a number, got "fast""#
        );
        assert_eq!(
            validate(json!({"count": 0})).unwrap_err(),
            "count: expected an integer between 1 and 10, got 0"
        );
        assert_eq!(
            validate(json!({"flip": 1})).unwrap_err(),
            "flip: expected true or false, got 1"
        );
        assert_eq!(
            validate(json!({"color": "nope"})).unwrap_err(),
            r#"color: invalid color "nope""#
        );
        assert_eq!(
            validate(json!({"mode": "c"})).unwrap_err(),
            r#"mode: expected one of "a", "b", got "c""#
        );
        assert_eq!(
            validate(json!([1])).unwrap_err(),
            "effect config must be an object, got [1]"
        );
    }

    #[test]
    fn error_key_is_reported() {
        let err = validate_fields(FIELDS.iter(), &json!({"flip": null})).unwrap_err();
        assert_eq!(err.key(), Some("flip"));
    }
}

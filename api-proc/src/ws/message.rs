//! Reading one client → server text frame (ledfx-api.md §4.3): a JSON object with an `id`
//! that converts to an integer and a string `type`.

use serde_json::{Map, Value};

use crate::routes::kind_of;

/// A frame that carries a command.
#[derive(Debug, PartialEq)]
pub struct Incoming {
    /// The converted id, echoed in replies.
    pub id: i64,
    pub kind: String,
    pub body: Map<String, Value>,
}

/// A frame that does not: the reply goes to the id as sent (`null` when there was none).
#[derive(Debug, PartialEq)]
pub struct Malformed {
    pub id: Value,
    pub reason: String,
}

/// Parses a text frame.
pub fn parse(text: &str) -> Result<Incoming, Malformed> {
    let malformed = |id: Value, reason: String| Malformed { id, reason };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| malformed(Value::Null, format!("not JSON ({e})")))?;
    let Value::Object(body) = value else {
        return Err(malformed(
            Value::Null,
            format!("expected a JSON object, got {}", kind_of(&value)),
        ));
    };
    let raw_id = body.get("id").cloned().unwrap_or(Value::Null);
    let id = match &raw_id {
        Value::Null => return Err(malformed(raw_id, "`id` is missing".into())),
        other => integer(other).ok_or_else(|| {
            malformed(
                raw_id.clone(),
                format!("`id` must be an integer, got {}", kind_of(other)),
            )
        })?,
    };
    let kind = match body.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        None | Some(Value::Null) => return Err(malformed(raw_id, "`type` is missing".into())),
        Some(other) => {
            return Err(malformed(
                raw_id,
                format!("`type` must be a string, got {}", kind_of(other)),
            ))
        }
    };
    Ok(Incoming { id, kind, body })
}

/// LedFx's `int(x)`: `5`, `5.9`, `"5"`, `" 5 "` and `true` are ids; `"5.9"` is not.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < i64::MAX as f64)
                .map(|f| f.trunc() as i64)
        }),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_convert_as_python_int_does() {
        for (text, id) in [
            (r#"{"id": 5, "type": "x"}"#, 5),
            (r#"{"id": 5.9, "type": "x"}"#, 5),
            (r#"{"id": "5", "type": "x"}"#, 5),
            (r#"{"id": " -3 ", "type": "x"}"#, -3),
            (r#"{"id": true, "type": "x"}"#, 1),
        ] {
            assert_eq!(parse(text).map(|m| m.id), Ok(id), "{text}");
        }
    }

    #[test]
    fn malformed_frames_name_the_problem_and_keep_the_id_as_sent() {
        let reason = |text: &str| parse(text).map(|_| ()).unwrap_err();
        assert_eq!(reason("hello").id, Value::Null);
        assert!(reason("hello").reason.starts_with("not JSON"));
        assert_eq!(reason("[1]").reason, "expected a JSON object, got a list");
        assert_eq!(reason(r#"{"type": "x"}"#).reason, "`id` is missing");
        let bad_id = reason(r#"{"id": "5.9", "type": "x"}"#);
        assert_eq!(
            (bad_id.id, bad_id.reason.as_str()),
            (json!("5.9"), "`id` must be an integer, got a string")
        );
        let no_type = reason(r#"{"id": 4}"#);
        assert_eq!(
            (no_type.id, no_type.reason.as_str()),
            (json!(4), "`type` is missing")
        );
        assert_eq!(
            reason(r#"{"id": 4, "type": 1}"#).reason,
            "`type` must be a string, got a number"
        );
    }
}

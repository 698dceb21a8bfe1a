//! Pure validation of a device config, as LedFx's device schemas do it, with no I/O.
//!
//! The supervisor calls [`validate_device_config`] before it accepts or persists a device
//! (`POST`/`PUT /api/devices`, loading `config.json`); output-proc later builds its senders
//! from the normalised config this returns. Keeping both on one code path means a config the
//! supervisor accepted is one output-proc can use.
//!
//! The normalised object has the base keys every device shares (`name`, `icon_name`,
//! `refresh_rate`, `center_offset`), the type's own keys (each protocol file validates those),
//! defaults filled in, and any unknown extra keys kept, in the key order LedFx shows
//! (`name`, type keys, `icon_name`, `refresh_rate`, `center_offset`, extras).

use serde_json::{Map, Value};

use crate::protocols;
use proto::timing::{snap_refresh_rate, DEFAULT_REFRESH_RATE};

/// A device config object as JSON.
pub type RawConfig = Map<String, Value>;

/// Default `icon_name` of every device type handled here.
pub const DEFAULT_ICON_NAME: &str = "mdi:led-strip";

/// One device config key as `/api/schema` describes it. Each protocol lists its own keys in
/// its registry row (`ProtocolEntry::keys`); the tests check the list against what its
/// validation does, so the schema cannot drift from the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceKey {
    pub key: &'static str,
    pub kind: DeviceKeyKind,
    /// Listed in the schema's `required` (LedFx lists required keys even when they have a
    /// default that fills them in).
    pub required: bool,
    /// What the key is, for `/api/schema` (ledfx-rs's own wording).
    pub description: &'static str,
}

/// The type of a [`DeviceKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKeyKind {
    /// An integer, with its default and bounds.
    Integer {
        default: Option<i64>,
        min: Option<i64>,
        max: Option<i64>,
    },
    /// A string, with its default.
    Text { default: Option<&'static str> },
    /// One of the refresh rates the timer supports (`proto::timing::REFRESH_RATES`).
    RefreshRate,
}

impl DeviceKey {
    /// A required string without a default.
    pub const fn required_text(key: &'static str, description: &'static str) -> Self {
        Self {
            key,
            kind: DeviceKeyKind::Text { default: None },
            required: true,
            description,
        }
    }

    /// An integer key.
    pub const fn integer(
        key: &'static str,
        default: i64,
        min: Option<i64>,
        max: Option<i64>,
        required: bool,
        description: &'static str,
    ) -> Self {
        Self {
            key,
            kind: DeviceKeyKind::Integer {
                default: Some(default),
                min,
                max,
            },
            required,
            description,
        }
    }
}

/// The keys every device has, in LedFx's schema order (the type's keys follow).
pub const BASE_KEYS: &[DeviceKey] = &[
    DeviceKey::required_text("name", "A name for the device; its id is made from it"),
    DeviceKey {
        key: "icon_name",
        kind: DeviceKeyKind::Text {
            default: Some(DEFAULT_ICON_NAME),
        },
        required: false,
        description: "Icon shown for the device (a Material Design icon name)",
    },
    DeviceKey::integer(
        "center_offset",
        0,
        None,
        None,
        false,
        "Pixels to rotate the frame by, to move the centre of the effect",
    ),
    DeviceKey {
        key: "refresh_rate",
        kind: DeviceKeyKind::RefreshRate,
        required: false,
        description: "Frames per second sent to the device",
    },
];

/// The `pixel_count` key most protocols share.
pub const PIXEL_COUNT_KEY: DeviceKey = DeviceKey::integer(
    "pixel_count",
    1,
    Some(1),
    None,
    true,
    "Number of pixels on the device",
);

/// Longest rendering of an offending value quoted in an error message.
const MAX_QUOTED_CHARS: usize = 80;

/// Why a device config was rejected. Each message names the field and the problem, so the
/// API can hand it to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceConfigError {
    /// No protocol is registered under this device type.
    #[error("unknown device type {0:?}")]
    UnknownType(String),
    /// The config is not a JSON object.
    #[error("config: expected an object, got {0}")]
    NotAnObject(String),
    /// A required key is absent.
    #[error("{field}: required")]
    MissingField { field: &'static str },
    /// A key has a value of the wrong type or out of range.
    #[error("{field}: expected {expected}, got {got}")]
    InvalidField {
        field: &'static str,
        expected: String,
        got: String,
    },
}

impl DeviceConfigError {
    /// An [`DeviceConfigError::InvalidField`] quoting `value` (shortened if it is long).
    pub(crate) fn invalid(field: &'static str, expected: impl Into<String>, value: &Value) -> Self {
        DeviceConfigError::InvalidField {
            field,
            expected: expected.into(),
            got: quote(value),
        }
    }
}

/// `value` as JSON text, shortened to [`MAX_QUOTED_CHARS`] characters.
pub(crate) fn quote(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_QUOTED_CHARS {
        return text;
    }
    let mut short: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    short.push('…');
    short
}

/// A device config that passed validation, with the numbers output-proc and render-proc need.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedDevice {
    /// LedFx's normalised config object (defaults filled in, extra keys kept).
    pub config: Value,
    pub pixel_count: u32,
    /// Already snapped to the refresh-rate table.
    pub refresh_rate: u32,
    pub center_offset: i32,
}

/// Validates a device config for `device_type` and normalises it.
pub fn validate_device_config(
    device_type: &str,
    raw: &Value,
) -> Result<ValidatedDevice, DeviceConfigError> {
    let entry = protocols::lookup(device_type)
        .ok_or_else(|| DeviceConfigError::UnknownType(device_type.to_owned()))?;
    let raw = raw
        .as_object()
        .ok_or_else(|| DeviceConfigError::NotAnObject(quote(raw)))?;

    let mut out = RawConfig::new();
    let name = required_string(raw, "name")?;
    out.insert("name".into(), Value::String(name));
    let pixel_count = (entry.validate)(raw, &mut out)?;
    let icon_name = optional_string(raw, "icon_name", DEFAULT_ICON_NAME)?;
    out.insert("icon_name".into(), Value::String(icon_name));
    let refresh_rate = match raw.get("refresh_rate") {
        None => DEFAULT_REFRESH_RATE,
        Some(value) => snap_refresh_rate(
            as_integer(value)
                .ok_or_else(|| DeviceConfigError::invalid("refresh_rate", "an integer", value))?,
        ),
    };
    out.insert("refresh_rate".into(), Value::from(refresh_rate));
    let center_offset = match raw.get("center_offset") {
        None => 0,
        Some(value) => as_integer(value)
            .and_then(|i| i32::try_from(i).ok())
            .ok_or_else(|| DeviceConfigError::invalid("center_offset", "an integer", value))?,
    };
    out.insert("center_offset".into(), Value::from(center_offset));
    // LedFx keeps keys its schema does not know (clients store their own settings there).
    for (key, value) in raw {
        if !out.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(ValidatedDevice {
        config: Value::Object(out),
        pixel_count,
        refresh_rate,
        center_offset,
    })
}

/// Removes `http://`, `https://` and every `/` from an `ip_address`, as LedFx does when a
/// device is created (`POST /api/devices`, not on update).
pub fn clean_ip_address(ip_address: &str) -> String {
    ip_address
        .replace("https://", "")
        .replace("http://", "")
        .replace('/', "")
}

/// A JSON number that is a whole number: an integer, or a float without fraction.
pub(crate) fn as_integer(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    if let Some(i) = number.as_i64() {
        return Some(i);
    }
    if number.is_u64() {
        return None; // above i64::MAX: no config key accepts that
    }
    let f = number.as_f64()?;
    // The range check keeps the cast exact (f64 cannot hold every i64, but every whole f64
    // in this range is an i64).
    (f.fract() == 0.0 && (-9.0e18..=9.0e18).contains(&f)).then_some(f as i64)
}

/// A required, non-empty string.
pub(crate) fn required_string(
    raw: &RawConfig,
    field: &'static str,
) -> Result<String, DeviceConfigError> {
    match raw.get(field) {
        None => Err(DeviceConfigError::MissingField { field }),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(value) => Err(DeviceConfigError::invalid(
            field,
            "a non-empty string",
            value,
        )),
    }
}

/// An optional string with a default.
pub(crate) fn optional_string(
    raw: &RawConfig,
    field: &'static str,
    default: &str,
) -> Result<String, DeviceConfigError> {
    match raw.get(field) {
        None => Ok(default.to_owned()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(value) => Err(DeviceConfigError::invalid(field, "a string", value)),
    }
}

/// An optional integer in `min..=max` with a default.
pub(crate) fn integer(
    raw: &RawConfig,
    field: &'static str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, DeviceConfigError> {
    let Some(value) = raw.get(field) else {
        return Ok(default);
    };
    match as_integer(value) {
        Some(i) if (min..=max).contains(&i) => Ok(i),
        _ => Err(DeviceConfigError::invalid(
            field,
            format!("an integer from {min} to {max}"),
            value,
        )),
    }
}

/// `pixel_count`: an integer ≥ 1 (default 1), at most
/// [`proto::layout::MAX_PIXELS_PER_DEVICE`] (the size of a device's shared-memory slot).
pub(crate) fn pixel_count(raw: &RawConfig) -> Result<u32, DeviceConfigError> {
    const FIELD: &str = "pixel_count";
    let Some(value) = raw.get(FIELD) else {
        return Ok(1);
    };
    let max = proto::layout::MAX_PIXELS_PER_DEVICE;
    match as_integer(value) {
        Some(n) if n >= 1 && n as u64 <= max as u64 => Ok(n as u32),
        Some(n) if n > 1 => Err(DeviceConfigError::invalid(
            FIELD,
            format!("at most {max} pixels (the ledfx-rs limit per device)"),
            value,
        )),
        _ => Err(DeviceConfigError::invalid(FIELD, "an integer >= 1", value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn ddp_config_is_normalised_in_ledfx_key_order() {
        let v = validate_device_config(
            "ddp",
            &json!({"pixel_count": 60, "ip_address": "127.0.0.1", "name": "Porch Strip"}),
        )
        .unwrap();
        assert_eq!(
            v.config,
            json!({"name": "Porch Strip", "ip_address": "127.0.0.1", "pixel_count": 60,
                   "port": 4048, "destination_id": 1, "icon_name": "mdi:led-strip",
                   "refresh_rate": 62, "center_offset": 0})
        );
        assert_eq!(
            keys(&v.config),
            [
                "name",
                "ip_address",
                "pixel_count",
                "port",
                "destination_id",
                "icon_name",
                "refresh_rate",
                "center_offset"
            ]
        );
        assert_eq!(
            (v.pixel_count, v.refresh_rate, v.center_offset),
            (60, 62, 0)
        );
    }

    #[test]
    fn extra_keys_are_kept_after_the_known_ones() {
        let v = validate_device_config(
            "dummy",
            &json!({"zzz": [1], "name": "D", "pixel_count": 300.0, "refresh_rate": 36,
                    "center_offset": -4, "icon_name": "mdi:star"}),
        )
        .unwrap();
        assert_eq!(
            keys(&v.config),
            [
                "name",
                "pixel_count",
                "icon_name",
                "refresh_rate",
                "center_offset",
                "zzz"
            ]
        );
        assert_eq!(v.config["pixel_count"], json!(300));
        assert_eq!(v.config["refresh_rate"], json!(37));
        assert_eq!(v.config["zzz"], json!([1]));
        assert_eq!(
            (v.pixel_count, v.refresh_rate, v.center_offset),
            (300, 37, -4)
        );
    }

    #[test]
    fn refresh_rate_is_snapped_up_and_capped() {
        let rate = |r: Value| {
            validate_device_config("dummy", &json!({"name": "D", "refresh_rate": r}))
                .map(|v| v.refresh_rate)
        };
        assert_eq!(rate(json!(60)), Ok(62));
        assert_eq!(rate(json!(200)), Ok(125));
        assert_eq!(rate(json!(1)), Ok(10));
        assert_eq!(
            rate(json!("fast")).unwrap_err().to_string(),
            "refresh_rate: expected an integer, got \"fast\""
        );
        assert!(rate(json!(60.5)).is_err());
    }

    #[test]
    fn errors_name_the_field_and_the_problem() {
        let err = |t: &str, v: Value| validate_device_config(t, &v).unwrap_err().to_string();
        assert_eq!(
            err(
                "ddp",
                json!({"name": "A", "ip_address": "1.2.3.4", "pixel_count": "abc"})
            ),
            "pixel_count: expected an integer >= 1, got \"abc\""
        );
        assert_eq!(
            err(
                "ddp",
                json!({"name": "A", "ip_address": "1.2.3.4", "pixel_count": 0})
            ),
            "pixel_count: expected an integer >= 1, got 0"
        );
        assert_eq!(
            err(
                "ddp",
                json!({"name": "A", "ip_address": "1.2.3.4", "pixel_count": 16385})
            ),
            "pixel_count: expected at most 16384 pixels (the ledfx-rs limit per device), got 16385"
        );
        assert_eq!(err("ddp", json!({"name": "A"})), "ip_address: required");
        assert_eq!(err("ddp", json!({"ip_address": "x"})), "name: required");
        assert_eq!(
            err("ddp", json!({"name": 5, "ip_address": "x"})),
            "name: expected a non-empty string, got 5"
        );
        assert_eq!(
            err(
                "ddp",
                json!({"name": "A", "ip_address": "x", "port": 70000})
            ),
            "port: expected an integer from 1 to 65535, got 70000"
        );
        assert_eq!(
            err(
                "ddp",
                json!({"name": "A", "ip_address": "x", "destination_id": 0})
            ),
            "destination_id: expected an integer from 1 to 255, got 0"
        );
        assert_eq!(
            err("dummy", json!({"name": "A", "center_offset": true})),
            "center_offset: expected an integer, got true"
        );
        assert_eq!(
            err("dummy", json!({"name": "A", "icon_name": null})),
            "icon_name: expected a string, got null"
        );
        assert_eq!(
            err("foo", json!({"name": "A"})),
            "unknown device type \"foo\""
        );
        assert_eq!(
            err("dummy", json!([1])),
            "config: expected an object, got [1]"
        );
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(500);
        let msg = validate_device_config("dummy", &json!({"name": "A", "pixel_count": long}))
            .unwrap_err()
            .to_string();
        assert!(msg.len() < 140, "{msg}");
        assert!(msg.ends_with('…'));
    }

    #[test]
    fn whole_floats_count_as_integers_but_strings_and_bools_do_not() {
        assert_eq!(as_integer(&json!(300.0)), Some(300));
        assert_eq!(as_integer(&json!(-2)), Some(-2));
        assert_eq!(as_integer(&json!(2.5)), None);
        assert_eq!(as_integer(&json!("3")), None);
        assert_eq!(as_integer(&json!(true)), None);
        assert_eq!(as_integer(&json!(u64::MAX)), None);
        assert_eq!(as_integer(&json!(1e300)), None);
    }

    #[test]
    fn ip_addresses_are_cleaned_like_ledfx() {
        assert_eq!(clean_ip_address("http://192.168.1.5/"), "192.168.1.5");
        assert_eq!(
            clean_ip_address("https://wled.local/json"),
            "wled.localjson"
        );
        assert_eq!(clean_ip_address("10.0.0.1"), "10.0.0.1");
    }
}

//! `GET /api/schema` (ledfx-api.md §3.3): the forms a LedFx client builds its UI from.
//!
//! Every part is generated from the tables the validation uses — effect field tables
//! (render-proc), device key tables (output-proc), the virtual config defaults — or, for the
//! top-level config sections, from the defaults of `config/doc.rs` plus the ranges below, so
//! the schema describes exactly what ledfx-rs accepts. It is LedFx's own dialect, not JSON
//! Schema (§3.3): `title` from the key, `"dict"`, `"color"`, `"int"` for refresh rates,
//! `permitted_keys` inside `schema`. Descriptions are ledfx-rs's own wording. Only what
//! ledfx-rs implements is listed (its effects, device types; no integrations yet).

use output_proc::config::{DeviceKey, DeviceKeyKind, BASE_KEYS};
use proto::api::schema::SchemaCommand;
use proto::api::{ApiFailure, ApiReply};
use render_proc::schema::{Field, FieldKind};
use serde_json::{json, Map, Value};

use super::{reply, ReadCtx, Resource, State};

/// The schema group (reads only).
pub struct Schema;

impl Resource for Schema {
    type Command = SchemaCommand;

    fn read(ctx: &ReadCtx<'_>, command: SchemaCommand) -> ApiReply {
        let published = ctx.segment.and_then(|s| s.audio_status());
        let audio = published.as_ref().or(ctx.state.audio_status.as_ref());
        match command {
            SchemaCommand::Get { keys } => reply(super::select_keys(served(audio), &keys)),
            SchemaCommand::GetType { schema_type } => match served(audio).get_mut(&schema_type) {
                Some(section) => reply(section.take()),
                None => Err(ApiFailure::invalid(format!(
                    "Unknown schema type {schema_type:?}; the schema types are {}",
                    SECTIONS.join(", ")
                ))),
            },
        }
    }

    fn write(_state: &mut State, command: SchemaCommand) -> ApiReply {
        Err(ApiFailure::internal(format!("{command:?} is not a write")))
    }
}

/// LedFx's title: non-alphanumerics become spaces, then every word is capitalised
/// (`transition_time` → `Transition Time`).
pub fn title(key: &str) -> String {
    key.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One property: the type part, then `title`, `description` and `default`, in LedFx's order.
fn property(key: &str, kind: Value, description: &str, default: Option<Value>) -> Value {
    let mut out = match kind {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    out.insert("title".into(), Value::String(title(key)));
    if !description.is_empty() {
        out.insert("description".into(), Value::String(description.into()));
    }
    if let Some(default) = default {
        out.insert("default".into(), default);
    }
    Value::Object(out)
}

/// `{"properties": …, "required": […]}` (`required` only when not empty).
fn object(properties: Map<String, Value>, required: &[&str]) -> Value {
    let mut out = Map::new();
    out.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        out.insert("required".into(), json!(required));
    }
    Value::Object(out)
}

fn with_permitted(mut schema: Value, permitted: &[&str]) -> Value {
    if let Value::Object(map) = &mut schema {
        map.insert("permitted_keys".into(), json!(permitted));
    }
    json!({ "schema": schema })
}

fn effect_property(field: &Field) -> Value {
    let (kind, default) = match field.kind {
        FieldKind::Float { default, min, max } => (
            json!({"type": "number", "minimum": min, "maximum": max}),
            Some(json!(default)),
        ),
        FieldKind::Int { default, min, max } => (
            json!({"type": "integer", "minimum": min, "maximum": max}),
            Some(json!(default)),
        ),
        FieldKind::Bool { default } => (json!({"type": "boolean"}), Some(json!(default))),
        FieldKind::OptionalBool => (json!({"type": "boolean"}), None),
        // LedFx shows the default as written in the effect, before normalisation.
        FieldKind::Color { default } => (
            json!({"type": "color", "gradient": false}),
            Some(json!(default)),
        ),
        FieldKind::Choice { default, options } => (
            json!({"type": "string", "enum": options}),
            Some(json!(default)),
        ),
    };
    property(field.key, kind, field.description, default)
}

/// Keys LedFx's UI hides behind its "advanced" switch.
const ADVANCED_KEYS: &[&str] = &["diag"];

fn effects() -> Value {
    let entries = render_proc::effects::EFFECTS.iter().map(|effect| {
        let properties: Map<String, Value> = effect
            .schema_fields()
            .map(|f| (f.key.to_owned(), effect_property(f)))
            .collect();
        let advanced: Vec<&str> = ADVANCED_KEYS
            .iter()
            .copied()
            .filter(|k| properties.contains_key(*k))
            .collect();
        let mut entry = json!({
            "schema": object(properties, &[]),
            "id": effect.id,
            "name": effect.name,
            "category": effect.category,
            "uses_melbank_range": effect.uses_melbank_range,
        });
        if !advanced.is_empty() {
            entry["advanced_keys"] = json!(advanced);
        }
        (effect.id.to_owned(), entry)
    });
    Value::Object(entries.collect())
}

fn device_property(key: &DeviceKey) -> Value {
    let (kind, default) = match key.kind {
        DeviceKeyKind::Integer { default, min, max } => {
            let mut kind = json!({"type": "integer"});
            if let Some(min) = min {
                kind["minimum"] = json!(min);
            }
            if let Some(max) = max {
                kind["maximum"] = json!(max);
            }
            (kind, default.map(Value::from))
        }
        DeviceKeyKind::Text { default } => (json!({"type": "string"}), default.map(Value::from)),
        DeviceKeyKind::RefreshRate => {
            let rates: Vec<u32> = proto::timing::REFRESH_RATES
                .iter()
                .map(|(fps, _)| *fps)
                .collect();
            (
                json!({"type": "int", "enum": rates}),
                Some(json!(proto::timing::DEFAULT_REFRESH_RATE)),
            )
        }
    };
    property(key.key, kind, key.description, default)
}

fn devices() -> Value {
    let entries = output_proc::protocols::PROTOCOLS.iter().map(|protocol| {
        let keys: Vec<&DeviceKey> = BASE_KEYS.iter().chain(protocol.keys).collect();
        let properties = keys
            .iter()
            .map(|k| (k.key.to_owned(), device_property(k)))
            .collect();
        let required: Vec<&str> = keys.iter().filter(|k| k.required).map(|k| k.key).collect();
        let entry = json!({
            "schema": object(properties, &required),
            "id": protocol.device_type,
        });
        (protocol.device_type.to_owned(), entry)
    });
    Value::Object(entries.collect())
}

/// The virtual config keys: `(key, type part, description)`; defaults come from
/// `virtual_config` itself.
fn virtual_keys() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("name", json!({"type": "string"}), "A name for the virtual"),
        (
            "mapping",
            json!({"type": "string", "enum": ["span", "copy"]}),
            "Span: one effect across all segments. Copy: the effect repeated on each segment",
        ),
        (
            "complex_segments",
            json!({"type": "boolean"}),
            "Accepted for LedFx compatibility; segments are always mapped the same way",
        ),
        (
            "grouping",
            json!({"type": "integer", "minimum": 0, "maximum": 4096}),
            "Physical pixels shown as one virtual pixel",
        ),
        (
            "icon_name",
            json!({"type": "string"}),
            "Icon shown for the virtual (a Material Design icon name)",
        ),
        (
            "max_brightness",
            json!({"type": "number", "minimum": 0, "maximum": 1}),
            "Upper limit of the virtual's brightness",
        ),
        (
            "center_offset",
            json!({"type": "integer"}),
            "Pixels to rotate the frame by, to move the centre of the effect",
        ),
        (
            "preview_only",
            json!({"type": "boolean"}),
            "Render for previews only; the devices are not driven",
        ),
        (
            "transition_time",
            json!({"type": "number", "minimum": 0, "maximum": 5}),
            "Seconds a change of effect takes to blend in",
        ),
        (
            "transition_mode",
            json!({"type": "string", "enum": super::virtual_config::TRANSITION_MODES}),
            "How a new effect blends in",
        ),
        (
            "frequency_min",
            json!({"type": "integer", "minimum": 20, "maximum": 15000}),
            "Lowest frequency audio effects react to (Hz)",
        ),
        (
            "frequency_max",
            json!({"type": "integer", "minimum": 20, "maximum": 15000}),
            "Highest frequency audio effects react to (Hz)",
        ),
        (
            "rows",
            json!({"type": "integer", "minimum": 1, "maximum": 4096}),
            "Rows of a matrix; 1 for a strip",
        ),
        (
            "rotate",
            json!({"type": "integer", "minimum": 0, "maximum": 3}),
            "Quarter turns to rotate a matrix by",
        ),
    ]
}

fn virtuals() -> Value {
    let defaults = super::virtual_config::validate(
        json!({"name": ""}).as_object().unwrap_or(&Map::new()),
        "mdi:led-strip-variant",
    )
    .unwrap_or_default();
    let properties = virtual_keys()
        .into_iter()
        .map(|(key, kind, description)| {
            let default = (key != "name")
                .then(|| defaults.get(key).cloned())
                .flatten();
            (key.to_owned(), property(key, kind, description, default))
        })
        .collect();
    object(properties, &["name", "mapping", "grouping"])
}

/// Ranges and enumerations of the top-level config keys; every other key's type comes from
/// its default.
fn core_kind(key: &str, default: &Value) -> Value {
    match key {
        "transmission_mode" => json!({"type": "string", "enum": ["compressed", "uncompressed"]}),
        "visualisation_fps" => json!({"type": "integer", "minimum": 1, "maximum": 60}),
        "visualisation_maxlen" => json!({"type": "integer", "minimum": 5, "maximum": 65536}),
        "global_brightness" | "ui_brightness_boost" => {
            json!({"type": "number", "minimum": 0, "maximum": 1.0})
        }
        "lifx_broadcast_address" => json!({"type": "string", "format": "ipv4"}),
        "lifx_discovery_timeout" => json!({"type": "integer", "minimum": 1, "maximum": 120}),
        "allowed_origins" | "allowed_hosts" => {
            json!({"type": "list", "validators": [{"type": "string"}]})
        }
        _ => json!({"type": match default {
            Value::String(_) => "string",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "number",
            Value::Number(_) => "integer",
            Value::Array(_) => "array",
            Value::Object(_) | Value::Null => "dict",
        }}),
    }
}

/// Keys `PUT /api/config` accepts at the top level (§2.1).
pub const CORE_PERMITTED: &[&str] = &[
    "host",
    "port",
    "port_s",
    "dev_mode",
    "scan_on_startup",
    "create_segments",
    "visualisation_fps",
    "visualisation_maxlen",
    "transmission_mode",
    "global_transitions",
    "global_brightness",
    "melbank_collection",
    "flush_on_deactivate",
    "ui_brightness_boost",
    "startup_scene_id",
    "startup_playlist_id",
    "lifx_broadcast_address",
    "lifx_discovery_timeout",
    "sendspin_always_on",
    "allowed_origins",
    "allowed_hosts",
    "allow_null_origin",
];

/// LedFx's melbank `coeffs_type` values, in its schema order.
pub const COEFFS_TYPES: &[&str] = &[
    "matt_mel",
    "triangle",
    "bark",
    "mel",
    "htk",
    "scott",
    "scott_mel",
];

/// The top-level keys in LedFx's schema order.
const CORE_KEYS: &[&str] = &[
    "host",
    "hosts",
    "port",
    "port_s",
    "dev_mode",
    "devices",
    "virtuals",
    "audio",
    "melbank_collection",
    "melbanks",
    "ledfx_presets",
    "user_presets",
    "scenes",
    "playlists",
    "integrations",
    "transmission_mode",
    "visualisation_fps",
    "visualisation_maxlen",
    "global_transitions",
    "user_colors",
    "user_gradients",
    "scan_on_startup",
    "create_segments",
    "flush_on_deactivate",
    "wled_preferences",
    "configuration_version",
    "global_brightness",
    "ui_brightness_boost",
    "startup_scene_id",
    "startup_playlist_id",
    "lifx_broadcast_address",
    "lifx_discovery_timeout",
    "instance_id",
    "sendspin_servers",
    "sendspin_always_on",
    "now_playing",
    "allowed_origins",
    "allowed_hosts",
    "allow_null_origin",
];

fn core() -> Value {
    let defaults = crate::config::core_defaults();
    let properties = CORE_KEYS
        .iter()
        .map(|&key| {
            // Lists and sections with their own schema (or kept outside the core defaults)
            // show an empty default here, as in LedFx.
            let default = match key {
                "hosts" | "devices" | "virtuals" | "melbank_collection" => json!([]),
                "audio" | "melbanks" | "wled_preferences" | "ledfx_presets" => json!({}),
                _ => defaults.get(key).cloned().unwrap_or(Value::Null),
            };
            let description = match key {
                "global_transitions" => {
                    "A change of one virtual's transition applies to every virtual"
                }
                "allowed_origins" => {
                    "Web page origins besides local ones that may call the API from a browser, such as \"https://leds.example.com\"; \"*\" for any"
                }
                "allowed_hosts" => {
                    "Host names besides local ones under which browsers may reach the API; \"*\" for any"
                }
                "allow_null_origin" => "Let browser requests with the Origin \"null\" in",
                _ => "",
            };
            let kind = core_kind(key, &default);
            (
                key.to_owned(),
                property(key, kind, description, Some(default)),
            )
        })
        .collect();
    with_permitted(object(properties, &[]), CORE_PERMITTED)
}

fn audio() -> Value {
    let defaults = crate::config::core_defaults();
    let d = |key: &str| defaults["audio"].get(key).cloned();
    let props: Vec<(&str, Value, &str, Option<Value>)> = vec![
        ("sample_rate", json!({"type": "integer"}), "", d("sample_rate")),
        ("mic_rate", json!({"type": "integer"}), "", d("mic_rate")),
        ("fft_size", json!({"type": "integer"}), "", d("fft_size")),
        ("min_volume", json!({"type": "number", "minimum": 0.0, "maximum": 1.0}), "Below this volume the input counts as silence", d("min_volume")),
        // The choices are the devices audio-proc lists ([`served`] fills them in).
        ("audio_device", json!({"type": "string", "enum": {}}), "", Some(Value::Null)),
        ("audio_device_name", json!({"type": "string"}), "", d("audio_device_name")),
        ("delay_ms", json!({"type": "integer", "minimum": 0, "maximum": 5000}), "Delay the lights by this much to match audio that arrives late (e.g. Bluetooth speakers)", d("delay_ms")),
        ("pitch_method", json!({"type": "string", "enum": ["yinfft", "yin", "yinfast", "schmitt", "specacf"]}), "Pitch detection method", d("pitch_method")),
        ("onset_method", json!({"type": "string", "enum": ["energy", "hfc", "complex", "phase", "wphase", "specdiff", "kl", "mkl", "specflux"]}), "Onset detection method", d("onset_method")),
        ("pitch_tolerance", json!({"type": "number", "minimum": 0.0, "maximum": 2}), "Tolerance of the pitch detection", d("pitch_tolerance")),
    ];
    let properties = props
        .into_iter()
        .map(|(key, kind, description, default)| {
            (key.to_owned(), property(key, kind, description, default))
        })
        .collect();
    with_permitted(
        object(properties, &[]),
        &[
            "min_volume",
            "audio_device",
            "delay_ms",
            "pitch_method",
            "onset_method",
            "pitch_tolerance",
        ],
    )
}

fn melbanks() -> Value {
    let defaults = crate::config::core_defaults();
    let d = |key: &str| defaults["melbanks"].get(key).cloned();
    let props: Vec<(&str, Value, Option<Value>)> = vec![
        (
            "samples",
            json!({"type": "integer", "minimum": 0, "maximum": 100}),
            d("samples"),
        ),
        (
            "peak_isolation",
            json!({"type": "number"}),
            d("peak_isolation"),
        ),
        (
            "coeffs_type",
            json!({"type": "string", "enum": COEFFS_TYPES}),
            d("coeffs_type"),
        ),
        (
            "max_frequencies",
            json!({"type": "list", "validators": [{"type": "integer", "minimum": 0, "maximum": 15000}]}),
            d("max_frequencies"),
        ),
        (
            "min_frequency",
            json!({"type": "integer", "minimum": 0, "maximum": 15000}),
            d("min_frequency"),
        ),
    ];
    let properties = props
        .into_iter()
        .map(|(key, kind, default)| (key.to_owned(), property(key, kind, "", default)))
        .collect();
    with_permitted(
        object(properties, &[]),
        &[
            "max_frequencies",
            "min_frequency",
            "peak_isolation",
            "coeffs_type",
            "samples",
        ],
    )
}

fn melbank_collection() -> Value {
    let range = json!({"type": "integer", "minimum": 20, "maximum": 15000});
    let mut properties = Map::new();
    properties.insert(
        "name".into(),
        property("name", json!({"type": "string"}), "", None),
    );
    properties.insert(
        "min_frequency".into(),
        property("min_frequency", range.clone(), "", Some(json!(20))),
    );
    properties.insert(
        "max_frequency".into(),
        property("max_frequency", range, "", Some(json!(15000))),
    );
    with_permitted(
        object(properties, &[]),
        &["name", "min_frequency", "max_frequency"],
    )
}

fn wled_preferences() -> Value {
    let defaults = crate::config::core_defaults();
    let prefs = defaults["wled_preferences"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let keys: Vec<String> = prefs.keys().cloned().collect();
    let properties = prefs
        .into_iter()
        .map(|(key, default)| {
            let setting = core_kind("", &default["setting"]);
            let mut inner = Map::new();
            inner.insert("setting".into(), property("setting", setting, "", None));
            inner.insert(
                "user_enabled".into(),
                property("user_enabled", json!({"type": "boolean"}), "", None),
            );
            let kind = json!({ "properties": inner });
            (key.clone(), property(&key, kind, "", Some(default)))
        })
        .collect();
    let permitted: Vec<&str> = keys.iter().map(String::as_str).collect();
    with_permitted(object(properties, &[]), &permitted)
}

/// The sections of the schema, in the order `GET /api/schema` lists them.
pub const SECTIONS: &[&str] = &[
    "devices",
    "effects",
    "integrations",
    "virtuals",
    "audio",
    "melbanks",
    "melbank_collection",
    "wled_preferences",
    "core",
];

/// [`full`] with what only the running system knows: the capture devices audio-proc lists
/// as the `audio_device` choices, the default input as its default.
pub fn served(audio: Option<&proto::audio_status::AudioStatus>) -> Value {
    let mut schema = full();
    if let Some(device) = schema.pointer_mut("/audio/schema/properties/audio_device") {
        device["enum"] = super::audio::device_choices(audio);
        device["default"] = json!(audio.and_then(|a| a.default_index));
    }
    schema
}

/// The whole `GET /api/schema` body, as far as it does not depend on the running system.
pub fn full() -> Value {
    json!({
        "devices": devices(),
        "effects": effects(),
        "integrations": {},
        "virtuals": {"schema": virtuals()},
        "audio": audio(),
        "melbanks": melbanks(),
        "melbank_collection": melbank_collection(),
        "wled_preferences": wled_preferences(),
        "core": core(),
    })
}

#[cfg(test)]
mod tests;

//! `/api/schema` against LedFx 2.2.1's own answer (recorded from `ledfx --offline` with an
//! empty config into `tests/fixtures/ledfx-2.2.1/get_schema.json`).

use serde_json::Value;

use super::{full, title};

fn ledfx() -> Value {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/ledfx-2.2.1/get_schema.json"
    ));
    serde_json::from_str(text).expect("the fixture is JSON")
}

/// Where ledfx-rs deliberately says something else (docs/compatibility.md): the schema
/// states the bounds ledfx-rs's validation enforces.
const DELIBERATE: &[&str] = &[
    "virtuals.schema.properties.grouping.maximum",
    "virtuals.schema.properties.rows.minimum",
    "virtuals.schema.properties.rows.maximum",
];

/// Where only the order of keys differs. LedFx's schema lists singleColor's `speed` before
/// `color` but its validated config `color` first; ledfx-rs keeps one order for an effect's
/// own keys (the config's).
const ORDER_DIFFERS: &[&str] = &["effects.singleColor.schema.properties"];

/// Compares two schema values and collects every difference. Descriptions (ledfx-rs's own
/// wording, and absent on many LedFx keys) are skipped; a property *named* `description`
/// is an object and still compared. Numbers compare by value (`10` = `10.0`), objects by
/// key order too, because LedFx's UI lays its forms out in property order.
fn differences(ours: &Value, theirs: &Value, path: &str, out: &mut Vec<String>) {
    if DELIBERATE.contains(&path) {
        return;
    }
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let keep = |(k, v): (&String, &Value)| k != "description" || v.is_object();
            let a_keys: Vec<&String> = a.iter().filter(|e| keep(*e)).map(|(k, _)| k).collect();
            let b_keys: Vec<&String> = b.iter().filter(|e| keep(*e)).map(|(k, _)| k).collect();
            for key in &b_keys {
                let here = format!("{path}.{key}");
                match a.get(*key) {
                    Some(value) => differences(value, &b[*key], &here, out),
                    None if DELIBERATE.contains(&here.as_str()) => {}
                    None => out.push(format!("{here}: missing")),
                }
            }
            for key in &a_keys {
                let here = format!("{path}.{key}");
                if !b.contains_key(*key) && !DELIBERATE.contains(&here.as_str()) {
                    out.push(format!("{here}: not in LedFx ({})", a[*key]));
                }
            }
            let common = |keys: &[&String], other: &serde_json::Map<String, Value>| {
                keys.iter()
                    .filter(|k| other.contains_key(**k))
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
            };
            let (a_order, b_order) = (common(&a_keys, b), common(&b_keys, a));
            if a_order != b_order && !ORDER_DIFFERS.contains(&path) {
                out.push(format!("{path}: key order {a_order:?}, LedFx {b_order:?}"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        _ if ours == theirs => {}
        _ => out.push(format!("{path}: {ours}, LedFx {theirs}")),
    }
}

fn assert_same(ours: &Value, theirs: &Value, path: &str) {
    let mut out = Vec::new();
    differences(ours, theirs, path, &mut out);
    assert!(
        out.is_empty(),
        "differences from LedFx 2.2.1:\n{}",
        out.join("\n")
    );
}

#[test]
fn the_schema_has_ledfx_s_sections() {
    let ours = full();
    let theirs = ledfx();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let (mut a, mut b) = (keys(&ours), keys(&theirs));
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn every_effect_ledfx_rs_implements_is_described_as_ledfx_describes_it() {
    let (ours, theirs) = (full(), ledfx());
    let effects = ours["effects"].as_object().unwrap();
    assert_eq!(effects.len(), render_proc::effects::EFFECTS.len());
    for (id, effect) in effects {
        let theirs = &theirs["effects"][id];
        assert!(theirs.is_object(), "LedFx has no effect {id}");
        assert_same(effect, theirs, &format!("effects.{id}"));
    }
}

#[test]
fn every_device_type_ledfx_rs_implements_is_described_as_ledfx_describes_it() {
    let (ours, theirs) = (full(), ledfx());
    let devices = ours["devices"].as_object().unwrap();
    assert_eq!(devices.len(), output_proc::protocols::PROTOCOLS.len());
    for (id, device) in devices {
        let theirs = &theirs["devices"][id];
        assert!(theirs.is_object(), "LedFx has no device type {id}");
        assert_same(device, theirs, &format!("devices.{id}"));
    }
}

#[test]
fn the_config_sections_match_ledfx() {
    let (ours, theirs) = (full(), ledfx());
    for section in [
        "virtuals",
        "core",
        "audio",
        "melbanks",
        "melbank_collection",
        "wled_preferences",
    ] {
        assert_same(&ours[section], &theirs[section], section);
    }
}

#[test]
fn every_top_level_default_is_in_the_core_schema() {
    let schema = full();
    let properties = schema["core"]["schema"]["properties"].as_object().unwrap();
    for key in crate::config::core_defaults().keys() {
        assert!(
            properties.contains_key(key),
            "{key} is not in the core schema"
        );
    }
}

#[test]
fn the_deliberate_differences_are_the_bounds_validation_enforces() {
    let schema = full();
    let grouping = &schema["virtuals"]["schema"]["properties"]["grouping"];
    let rows = &schema["virtuals"]["schema"]["properties"]["rows"];
    let name_only = |extra: Value| {
        let mut raw = serde_json::json!({"name": "v"});
        raw.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        super::super::virtual_config::validate(raw.as_object().unwrap(), "mdi:x")
    };
    let max_grouping = grouping["maximum"].as_i64().unwrap();
    assert!(name_only(serde_json::json!({ "grouping": max_grouping })).is_ok());
    assert!(name_only(serde_json::json!({ "grouping": max_grouping + 1 })).is_err());
    let (min_rows, max_rows) = (
        rows["minimum"].as_i64().unwrap(),
        rows["maximum"].as_i64().unwrap(),
    );
    assert!(name_only(serde_json::json!({ "rows": min_rows })).is_ok());
    assert!(name_only(serde_json::json!({ "rows": min_rows - 1 })).is_err());
    assert!(name_only(serde_json::json!({ "rows": max_rows })).is_ok());
    assert!(name_only(serde_json::json!({ "rows": max_rows + 1 })).is_err());
}

#[test]
fn the_comparison_notices_a_difference() {
    // The comparator itself: a changed bound, a missing key and a reordering are all found.
    let theirs =
        serde_json::json!({"p": {"a": {"type": "number", "maximum": 1}, "b": {"type": "string"}}});
    let ours = serde_json::json!({"p": {"b": {"type": "string"}, "a": {"type": "number", "maximum": 2.0}}});
    let mut out = Vec::new();
    differences(&ours, &theirs, "x", &mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    let ours =
        serde_json::json!({"p": {"a": {"type": "number", "maximum": 1.0, "description": "mine"}}});
    let mut out = Vec::new();
    differences(&ours, &theirs, "x", &mut out);
    assert_eq!(out, vec!["x.p.b: missing".to_owned()]);
}

#[test]
fn titles_are_made_as_ledfx_makes_them() {
    assert_eq!(title("transition_time"), "Transition Time");
    assert_eq!(title("ip_address"), "Ip Address");
    assert_eq!(title("port_s"), "Port S");
    assert_eq!(title("color"), "Color");
}

#[test]
fn a_key_selection_keeps_the_named_sections_and_a_type_is_served_bare() {
    use proto::api::schema::SchemaCommand;
    let read = |command| {
        let state = super::super::State::new(
            crate::config::ConfigDoc::default(),
            proto::pipeline::AudioSource::None,
        )
        .0;
        let pipeline = state.pipeline();
        let ctx = super::super::ReadCtx {
            state: &state,
            pipeline: &pipeline,
            segment: None,
            now_ns: 0,
        };
        <super::Schema as super::super::Resource>::read(&ctx, command)
    };
    let keys = |v: Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let selected = read(SchemaCommand::Get {
        keys: vec!["effects".into(), "nonsense".into(), "audio".into()],
    })
    .unwrap()
    .to_value();
    assert_eq!(keys(selected), ["effects", "audio"]);
    // Nothing valid left: everything, in LedFx's order.
    let everything = read(SchemaCommand::Get {
        keys: vec!["nonsense".into()],
    })
    .unwrap()
    .to_value();
    assert_eq!(keys(everything), super::SECTIONS);
    let effects = read(SchemaCommand::GetType {
        schema_type: "effects".into(),
    })
    .unwrap()
    .to_value();
    assert_eq!(effects, full()["effects"]);
    let err = read(SchemaCommand::GetType {
        schema_type: "lasers".into(),
    })
    .unwrap_err();
    assert_eq!(err.kind, proto::api::FailureKind::InvalidRequest);
    assert!(
        err.reason.contains("\"lasers\"") && err.reason.contains("wled_preferences"),
        "{}",
        err.reason
    );
}

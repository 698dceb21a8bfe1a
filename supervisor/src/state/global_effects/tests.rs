//! `/api/effects` bulk actions (ledfx-api.md §3.8).

use proto::api::effects::EffectCommand;
use proto::api::{EffectConfigArg, Json};
use serde_json::{json, Value};

use crate::state::test_support::{ok, with_dummies};
use crate::state::State;

/// Dummy devices `a`, `b`, `c`; `a` runs rainbow, `b` singleColor, `c` nothing.
fn setup() -> State {
    let mut s = with_dummies(&["a", "b", "c"], 4);
    for (id, effect) in [("a", "rainbow"), ("b", "singleColor")] {
        ok(
            &mut s,
            EffectCommand::Set {
                virtual_id: id.into(),
                effect_type: effect.into(),
                config: EffectConfigArg::Given(Json::from_value(&json!({}))),
            },
        );
    }
    s
}

fn config_of(s: &State, id: &str) -> Value {
    Value::Object(
        s.doc
            .virtual_entry(id)
            .unwrap()
            .effect
            .as_ref()
            .unwrap()
            .config
            .clone(),
    )
}

fn global(s: &mut State, body: Value) -> Result<Value, proto::api::ApiFailure> {
    s.apply(EffectCommand::ApplyGlobal {
        body: Json::from_value(&body),
    })
    .map(|j| j.to_value())
}

#[test]
fn the_list_shows_running_effects_and_clear_all_stops_every_virtual() {
    let mut s = setup();
    let listed = ok(&mut s, EffectCommand::ListAll);
    assert_eq!(listed["effects"]["a"]["effect_type"], "rainbow");
    assert_eq!(listed["effects"]["b"]["effect_config"]["color"], "#ff0000");
    assert!(listed["effects"].get("c").is_none());
    let out = ok(&mut s, EffectCommand::ClearAll);
    assert_eq!(
        out["payload"]["reason"],
        "Cleared all effects on all devices"
    );
    assert_eq!(ok(&mut s, EffectCommand::ListAll)["effects"], json!({}));
    assert!(s.doc.virtuals.iter().all(|v| !v.active));
}

#[test]
fn apply_global_changes_the_given_keys_of_running_effects_only() {
    let mut s = setup();
    let out = global(
        &mut s,
        json!({"brightness": 3, "flip": "toggle", "background_color": "blue"}),
    )
    .unwrap();
    assert_eq!(
        out["payload"]["reason"],
        "Applied global configuration to 2 effects (skipped 1)"
    );
    for id in ["a", "b"] {
        let c = config_of(&s, id);
        assert_eq!(
            (c["brightness"].clone(), c["flip"].clone()),
            (json!(1.0), json!(true))
        );
        assert_eq!(c["background_color"], "#0000ff");
    }
    // Toggle again, restricted to one virtual.
    global(&mut s, json!({"flip": "toggle", "virtuals": ["a"]})).unwrap();
    assert_eq!(config_of(&s, "a")["flip"], false);
    assert_eq!(config_of(&s, "b")["flip"], true);
}

#[test]
fn apply_global_refusals_name_the_attribute_and_change_nothing() {
    let mut s = setup();
    let before = s.doc.to_value();
    for (body, reason) in [
        (json!({}), "At least one of the following attributes must be provided: gradient, background_color, background_brightness, brightness, flip, mirror"),
        (json!({"flip": 1}), "Invalid value for \"flip\": must be true, false, or \"toggle\""),
        (json!({"brightness": 1, "virtuals": "a"}), "Invalid value for \"virtuals\": must be a list of virtual ids"),
        (json!({"brightness": "max"}), "Invalid value for \"brightness\": expected a number, got \"max\""),
        (json!({"gradient": "Rainbow"}), "Invalid value for \"gradient\": gradients are not supported by ledfx-rs yet"),
    ] {
        let err = global(&mut s, body.clone()).unwrap_err();
        assert_eq!(err.reason, reason, "{body}");
    }
    let err = global(&mut s, json!({"background_color": "nocolour"})).unwrap_err();
    assert!(
        err.reason.starts_with("Invalid value for background_color"),
        "{}",
        err.reason
    );
    assert_eq!(s.doc.to_value(), before);
}

#[test]
fn apply_global_effect_counts_applied_skipped_and_failed() {
    let mut s = setup();
    let out = ok(
        &mut s,
        EffectCommand::ApplyGlobalEffect {
            effect_type: "energy".into(),
            config: Some(Json::from_value(&json!({"sensitivity": 0.9}))),
            virtuals: Some(vec!["a".into(), "c".into(), "ghost".into()]),
            fallback_s: None,
        },
    );
    assert_eq!(
        out["payload"]["reason"],
        "Applied effect 'energy' to 2 virtuals (skipped 1, blocked 0, failed 0)"
    );
    assert_eq!(config_of(&s, "c")["sensitivity"], 0.9);
    let out = ok(
        &mut s,
        EffectCommand::ApplyGlobalEffect {
            effect_type: "rainbow".into(),
            config: Some(Json::from_value(&json!({"speed": 999}))),
            virtuals: None,
            fallback_s: None,
        },
    );
    assert_eq!(
        out["payload"]["reason"],
        "Applied effect 'rainbow' to 0 virtuals (skipped 0, blocked 0, failed 3)"
    );
    let err = s
        .apply(EffectCommand::ApplyGlobalEffect {
            effect_type: "lasers".into(),
            config: None,
            virtuals: None,
            fallback_s: None,
        })
        .unwrap_err();
    assert_eq!(err.reason, "Unknown effect type \"lasers\"");
}

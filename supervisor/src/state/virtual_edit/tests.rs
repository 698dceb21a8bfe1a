//! Creating virtuals, editing their config and segments, forgetting effect history
//! (ledfx-api.md §3.10, §3.11, §3.13).

use proto::api::effects::EffectCommand;
use proto::api::virtuals::VirtualCommand;
use proto::api::{ApiFailure, EffectConfigArg, Json};
use serde_json::{json, Value};

use crate::state::test_support::{ok, with_dummies};
use crate::state::{events, State};

fn save(s: &mut State, id: Option<&str>, config: Value) -> Result<Value, ApiFailure> {
    s.apply(VirtualCommand::Save {
        id: id.map(str::to_owned),
        config: Json::from_value(&config),
    })
    .map(|j| j.to_value())
}

fn segments(s: &mut State, id: &str, segments: Value) -> Result<Value, ApiFailure> {
    s.apply(VirtualCommand::SetSegments {
        id: id.into(),
        segments: Json::from_value(&segments),
    })
    .map(|j| j.to_value())
}

fn set_effect(s: &mut State, id: &str, effect: &str) {
    ok(
        s,
        EffectCommand::Set {
            virtual_id: id.into(),
            effect_type: effect.into(),
            config: EffectConfigArg::Given(Json::from_value(&json!({}))),
        },
    );
}

#[test]
fn a_created_virtual_gets_a_slug_id_defaults_and_no_segments() {
    let mut s = with_dummies(&["strip"], 30);
    let out = save(&mut s, None, json!({"name": "My Combo!! Virtual"})).unwrap();
    assert_eq!(out["payload"]["reason"], "Created Virtual my-combo-virtual");
    assert_eq!(out["virtual"]["id"], "my-combo-virtual");
    assert_eq!(out["virtual"]["is_device"], false);
    assert_eq!(out["virtual"]["config"]["mapping"], "span");
    assert_eq!(
        out["virtual"]["config"]["icon_name"],
        "mdi:led-strip-variant"
    );
    let again = save(&mut s, None, json!({"name": "My Combo Virtual"})).unwrap();
    assert_eq!(again["virtual"]["id"], "my-combo-virtual-1");
    let v = s.doc.virtual_entry("my-combo-virtual").unwrap();
    assert!(v.segments.is_empty() && !v.active);
}

#[test]
fn an_update_merges_validates_and_names_the_virtual() {
    let mut s = with_dummies(&["strip"], 30);
    save(&mut s, None, json!({"name": "Combo"})).unwrap();
    let before = s.clone();
    let out = save(&mut s, Some("combo"), json!({"mapping": "copy"})).unwrap();
    assert_eq!(out["payload"]["reason"], "Updated Virtual Combo");
    assert_eq!(out["virtual"]["config"]["mapping"], "copy");
    assert_eq!(out["virtual"]["config"]["name"], "Combo");
    let names: Vec<String> = events::between(&before, &s)
        .iter()
        .map(proto::feed::Event::name)
        .collect();
    assert_eq!(names, ["virtual_updated"]);
    // The device's own virtual keeps its flags in the reply.
    let out = save(&mut s, Some("strip"), json!({"max_brightness": 0.5})).unwrap();
    assert_eq!(out["virtual"]["is_device"], "strip");
}

#[test]
fn rejected_saves_change_nothing_and_say_why() {
    let mut s = with_dummies(&["strip"], 30);
    let before = s.doc.to_value();
    let err = save(&mut s, None, json!({"mapping": "span"})).unwrap_err();
    assert_eq!(err.reason, "Invalid virtual config: name: required");
    let err = save(&mut s, Some("strip"), json!({"mapping": "wrap"})).unwrap_err();
    assert!(
        err.reason.starts_with("Invalid virtual config: mapping:"),
        "{}",
        err.reason
    );
    let err = save(&mut s, Some("nope"), json!({})).unwrap_err();
    assert_eq!(err.reason, "Virtual with ID nope not found");
    let err = save(&mut s, None, json!([1])).unwrap_err();
    assert_eq!(err.reason, "config: expected an object");
    assert_eq!(s.doc.to_value(), before);
}

#[test]
fn global_transitions_copy_a_transition_change_to_virtuals_with_segments() {
    let mut s = with_dummies(&["a", "b"], 10);
    save(&mut s, None, json!({"name": "Empty"})).unwrap();
    s.doc
        .core_mut()
        .insert("global_transitions".into(), json!(true));
    save(
        &mut s,
        Some("a"),
        json!({"transition_mode": "Dissolve", "transition_time": 1.5}),
    )
    .unwrap();
    let config = |s: &State, id: &str| s.doc.virtual_entry(id).unwrap().config.clone();
    assert_eq!(config(&s, "b")["transition_mode"], "Dissolve");
    assert_eq!(config(&s, "b")["transition_time"], json!(1.5));
    assert_eq!(config(&s, "empty")["transition_mode"], "Add");
}

#[test]
fn segments_are_clamped_to_the_device_and_checked_whole() {
    let mut s = with_dummies(&["strip", "ring"], 30);
    save(&mut s, None, json!({"name": "Combo"})).unwrap();
    let out = segments(
        &mut s,
        "combo",
        json!([
            ["strip", 5, 200, true],
            ["gap-1", 0, 3, false],
            ["ring", -4, 9, false]
        ]),
    )
    .unwrap();
    assert_eq!(
        out["segments"],
        json!([
            ["strip", 5, 29, true],
            ["gap-1", 0, 3, false],
            ["ring", 0, 9, false]
        ])
    );
    let before = s.doc.to_value();
    for (body, reason) in [
        (
            json!([["strip", 0, 9, false], ["nodev", 0, 9, false]]),
            "Unable to set virtual segments: segments[1]: Invalid device id: nodev",
        ),
        (
            json!([["strip", 0, 9]]),
            "Unable to set virtual segments: segments[0]: expected [device_id, start, end, invert], got [\"strip\",0,9]",
        ),
        (
            json!([["strip", "a", 9, false]]),
            "Unable to set virtual segments: segments[0]: start: expected an integer, got \"a\"",
        ),
        (
            json!([["strip", 0, 9, "no"]]),
            "Unable to set virtual segments: segments[0]: invert: expected true or false, got \"no\"",
        ),
    ] {
        assert_eq!(segments(&mut s, "combo", body).unwrap_err().reason, reason);
    }
    assert!(segments(&mut s, "combo", json!("strip"))
        .unwrap_err()
        .reason
        .contains("expected a list"));
    assert_eq!(s.doc.to_value(), before);
}

#[test]
fn new_segments_on_an_active_virtual_claim_their_devices() {
    let mut s = with_dummies(&["strip", "ring"], 30);
    set_effect(&mut s, "strip", "rainbow");
    save(&mut s, None, json!({"name": "Combo"})).unwrap();
    segments(&mut s, "combo", json!([["ring", 0, 9, false]])).unwrap();
    set_effect(&mut s, "combo", "singleColor");
    assert!(s.doc.virtual_entry("strip").unwrap().active);
    let instance = s.instance_of("combo");
    segments(
        &mut s,
        "combo",
        json!([["ring", 0, 9, false], ["strip", 0, 4, false]]),
    )
    .unwrap();
    assert!(
        !s.doc.virtual_entry("strip").unwrap().active,
        "the strip's own virtual stepped aside"
    );
    assert_ne!(
        s.instance_of("combo"),
        instance,
        "a resize restarts the effect"
    );
    segments(&mut s, "combo", json!([])).unwrap();
    assert!(!s.doc.virtual_entry("combo").unwrap().active);
}

#[test]
fn forgetting_an_effect_type_clears_it_when_it_runs() {
    let mut s = with_dummies(&["strip"], 30);
    set_effect(&mut s, "strip", "rainbow");
    set_effect(&mut s, "strip", "singleColor");
    let forget = |s: &mut State, t: &str| {
        ok(
            s,
            VirtualCommand::ForgetEffect {
                id: "strip".into(),
                effect_type: t.into(),
            },
        )
    };
    assert_eq!(forget(&mut s, "rainbow"), json!({"status": "success"}));
    let v = s.doc.virtual_entry("strip").unwrap();
    assert!(!v.effects.contains_key("rainbow"));
    assert_eq!(v.effect.as_ref().unwrap().effect_type, "singleColor");
    forget(&mut s, "singleColor");
    forget(&mut s, "never-set");
    let v = s.doc.virtual_entry("strip").unwrap();
    assert!(v.effect.is_none() && v.effects.is_empty());
}

//! Scene rules (ledfx-api.md §2.7, §3.18, §3.19), without any process or socket.

use proto::api::effects::EffectCommand;
use proto::api::scenes::SceneCommand;
use proto::api::{EffectConfigArg, FailureKind, Json};
use serde_json::{json, Value};

use crate::state::test_support::{ok, with_dummies};
use crate::state::{events, State};

fn set(s: &mut State, vid: &str, effect_type: &str, config: Value) {
    ok(
        s,
        EffectCommand::Set {
            virtual_id: vid.into(),
            effect_type: effect_type.into(),
            config: EffectConfigArg::Given(Json::from_value(&config)),
        },
    );
}

fn save(s: &mut State, body: Value) -> Result<Value, proto::api::ApiFailure> {
    s.apply(SceneCommand::Save {
        body: Json::from_value(&body),
    })
    .map(|j| j.to_value())
}

fn effect_of(s: &State, vid: &str) -> Option<(String, Value)> {
    let v = s.doc.virtual_entry(vid).unwrap();
    v.effect
        .as_ref()
        .map(|e| (e.effect_type.clone(), Value::Object(e.config.clone())))
}

#[test]
fn a_snapshot_scene_round_trips_through_activation() {
    let mut s = with_dummies(&["a", "b", "c"], 8);
    set(&mut s, "a", "rainbow", json!({"speed": 3}));
    set(&mut s, "b", "singleColor", json!({"color": "#00ff00"}));
    set(&mut s, "c", "energy", json!({"sensitivity": 0.8}));
    let before: Vec<_> = ["a", "b", "c"].map(|v| effect_of(&s, v)).into();
    let saved = save(&mut s, json!({"name": "Party Time!"})).unwrap();
    assert_eq!(saved["scene"]["id"], "party-time");
    let config = &saved["scene"]["config"];
    assert_eq!(config["scene_image"], "Wallpaper");
    assert_eq!(config["scene_tags"], Value::Null);
    assert_eq!(config["virtuals"]["a"]["type"], "rainbow");
    assert!(config.get("active").is_none(), "no annotations on save");

    set(&mut s, "a", "singleColor", json!({}));
    ok(
        &mut s,
        EffectCommand::Clear {
            virtual_id: "b".into(),
        },
    );
    set(&mut s, "c", "energy", json!({"sensitivity": 0.4}));
    let listed = ok(&mut s, SceneCommand::List);
    assert_eq!(listed["scenes"]["party-time"]["active"], false);

    let previous = s.clone();
    // Scene ids are slugified before lookup.
    let out = ok(
        &mut s,
        SceneCommand::Activate {
            id: "Party Time!".into(),
        },
    );
    assert_eq!(
        out,
        json!({"status": "success", "payload": {"type": "info", "reason": "Activated Party Time!"}})
    );
    let after: Vec<_> = ["a", "b", "c"].map(|v| effect_of(&s, v)).into();
    assert_eq!(after, before);
    let listed = ok(&mut s, SceneCommand::List);
    assert_eq!(listed["scenes"]["party-time"]["active"], true);
    let names: Vec<String> = events::between(&previous, &s)
        .iter()
        .map(proto::feed::Event::name)
        .collect();
    assert_eq!(
        names.last().map(String::as_str),
        Some("scene_activated"),
        "{names:?}"
    );
    assert!(
        names.iter().filter(|n| *n == "effect_set").count() == 3,
        "{names:?}"
    );
}

#[test]
fn entries_stop_forceblack_ignore_and_presets_are_applied() {
    let mut s = with_dummies(&["a", "b", "c"], 8);
    set(&mut s, "a", "rainbow", json!({}));
    set(&mut s, "b", "rainbow", json!({}));
    set(&mut s, "c", "rainbow", json!({"speed": 5}));
    s.doc.core_mut().insert(
        "user_presets".into(),
        json!({"rainbow": {"fast": {"name": "Fast", "config": {"speed": 9}}}}),
    );
    save(
        &mut s,
        json!({"name": "mix", "virtuals": {
            "a": {"action": "stop"},
            "b": {"action": "forceblack"},
            "c": {"action": "activate", "type": "rainbow", "preset": "fast", "junk": 1},
            "gone": {"type": "rainbow", "config": {}},
            "bad": 7
        }}),
    )
    .unwrap();
    let stored = &s.scenes()["mix"]["virtuals"];
    assert!(
        stored.get("bad").is_none(),
        "non-object entries are dropped"
    );
    assert!(stored["c"].get("junk").is_none());
    assert_eq!(stored["c"]["preset"], "fast");
    ok(&mut s, SceneCommand::Activate { id: "mix".into() });
    assert_eq!(effect_of(&s, "a"), None);
    let (b_type, b_config) = effect_of(&s, "b").unwrap();
    assert_eq!(
        (b_type.as_str(), &b_config["color"]),
        ("singleColor", &json!("#000000"))
    );
    assert_eq!(effect_of(&s, "c").unwrap().1["speed"], 9.0);
    // A scene naming a virtual that is gone is never active.
    let one = ok(&mut s, SceneCommand::Get { id: "mix".into() });
    assert_eq!(one["scene"]["config"]["active"], false);
}

#[test]
fn an_entry_that_cannot_be_applied_is_reported_and_the_rest_applies() {
    let mut s = with_dummies(&["a", "b", "c"], 8);
    save(
        &mut s,
        json!({"name": "odd", "virtuals": {
            "a": {"type": "lasers", "config": {}},
            "b": {"type": "rainbow", "config": {"speed": 2}},
            "c": {"action": "dance"}
        }}),
    )
    .unwrap();
    let out = ok(&mut s, SceneCommand::Activate { id: "odd".into() });
    assert_eq!(out["payload"]["type"], "warning");
    let reason = out["payload"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("a (Unknown effect type \"lasers\")"),
        "{reason}"
    );
    assert!(reason.contains("c (unknown action \"dance\")"), "{reason}");
    assert_eq!(effect_of(&s, "b").unwrap().0, "rainbow");
}

#[test]
fn saved_configs_matching_a_preset_are_annotated() {
    let mut s = with_dummies(&["a", "b", "c"], 8);
    set(&mut s, "a", "rainbow", json!({}));
    set(&mut s, "b", "rainbow", json!({"speed": 9}));
    s.doc.core_mut().insert(
        "user_presets".into(),
        json!({"rainbow": {"fast": {"name": "Fast", "config": {"speed": 9}}}}),
    );
    save(&mut s, json!({"name": "p"})).unwrap();
    let listed = ok(&mut s, SceneCommand::List);
    let virtuals = &listed["scenes"]["p"]["virtuals"];
    assert_eq!(virtuals["a"]["preset"], "reset");
    assert_eq!(virtuals["a"]["preset_category"], "ledfx_presets");
    assert_eq!(virtuals["b"]["preset"], "fast");
    assert_eq!(virtuals["b"]["preset_category"], "user_presets");
    assert!(virtuals["c"].get("preset").is_none());
}

#[test]
fn updates_change_only_the_given_fields_and_deactivate_clears_the_scene_s_virtuals() {
    let mut s = with_dummies(&["a", "b", "c"], 8);
    set(&mut s, "a", "rainbow", json!({}));
    save(
        &mut s,
        json!({"name": "Show", "scene_tags": "loud", "virtuals": {"a": {"type": "rainbow", "config": {}}, "b": {}}}),
    )
    .unwrap();
    let updated = save(&mut s, json!({"id": "Show", "scene_image": "mdi:star"})).unwrap();
    let config = &updated["scene"]["config"];
    assert_eq!(
        (
            config["name"].clone(),
            config["scene_tags"].clone(),
            config["scene_image"].clone()
        ),
        (json!("Show"), json!("loud"), json!("mdi:star"))
    );
    assert_eq!(config["virtuals"]["a"]["type"], "rainbow");
    set(&mut s, "b", "rainbow", json!({}));
    let out = ok(&mut s, SceneCommand::Deactivate { id: "show".into() });
    assert_eq!(out["payload"]["reason"], "Deactivated Show");
    assert_eq!(effect_of(&s, "a"), None);
    assert!(effect_of(&s, "b").is_some(), "an empty entry is left alone");
    let out = ok(
        &mut s,
        SceneCommand::Rename {
            id: "show".into(),
            name: "Big Show".into(),
        },
    );
    assert_eq!(out["payload"]["reason"], "Renamed Show to Big Show");
    assert_eq!(s.scenes()["show"]["name"], "Big Show");
    // A second scene of the same name gets a suffix.
    let again = save(&mut s, json!({"name": "show"})).unwrap();
    assert_eq!(again["scene"]["id"], "show-1");
}

#[test]
fn rejected_requests_name_the_problem_and_change_nothing() {
    let mut s = with_dummies(&["a", "b", "c"], 8);
    save(&mut s, json!({"name": "x"})).unwrap();
    let before = s.doc.to_value();
    let cases = [
        (json!({}), "Required attribute 'name' was not provided"),
        (
            json!({"name": ""}),
            "Required attribute 'name' was not provided",
        ),
        (
            json!({"id": "nope"}),
            "Scene with id 'nope' does not exist. To create a new scene, omit the 'id' field.",
        ),
        (
            json!({"name": "y", "virtuals": [1]}),
            "virtuals: expected an object, got [1]",
        ),
        (json!({"id": 5}), "id: expected a string, got 5"),
    ];
    for (body, reason) in cases {
        let err = save(&mut s, body.clone()).unwrap_err();
        assert_eq!(
            (err.kind, err.reason.as_str()),
            (FailureKind::InvalidRequest, reason),
            "{body}"
        );
    }
    let err = s
        .apply(SceneCommand::Activate { id: "nope".into() })
        .unwrap_err();
    assert_eq!(err.reason, "Scene nope does not exist");
    let err = s
        .apply(SceneCommand::Delete {
            id: "nope".into(),
            from_path: false,
        })
        .unwrap_err();
    assert_eq!(err.reason, "Invalid request");
    let err = s
        .apply(SceneCommand::Delete {
            id: "nope".into(),
            from_path: true,
        })
        .unwrap_err();
    assert_eq!(err.reason, "Scene not found");
    assert_eq!(s.doc.to_value(), before);
    let out = ok(
        &mut s,
        SceneCommand::Delete {
            id: "X".into(),
            from_path: true,
        },
    );
    assert_eq!(out["payload"]["reason"], "Scene 'x' deleted.");
    assert!(s.scenes().is_empty());
}

#[test]
fn the_startup_scene_is_activated_and_a_missing_one_is_reported() {
    let mut s = with_dummies(&["a", "b", "c"], 8);
    set(&mut s, "a", "rainbow", json!({"speed": 7}));
    save(&mut s, json!({"name": "Opening"})).unwrap();
    ok(
        &mut s,
        EffectCommand::Clear {
            virtual_id: "a".into(),
        },
    );
    assert_eq!(s.activate_startup_scene(), None, "none configured");
    s.doc
        .core_mut()
        .insert("startup_scene_id".into(), json!("opening"));
    assert_eq!(
        s.activate_startup_scene(),
        Some(Ok("Activated Opening".to_owned()))
    );
    assert_eq!(effect_of(&s, "a").unwrap().1["speed"], 7.0);
    s.doc
        .core_mut()
        .insert("startup_scene_id".into(), json!("gone"));
    let err = s.activate_startup_scene().unwrap().unwrap_err();
    assert!(err.contains("Scene gone does not exist"), "{err}");
}

#[test]
fn scenes_that_are_not_an_object_in_the_file_are_kept_as_written() {
    let mut s = with_dummies(&["a", "b", "c"], 8);
    s.doc.core_mut().insert("scenes".into(), json!(["odd"]));
    let err = save(&mut s, json!({"name": "x"})).unwrap_err();
    assert!(
        err.reason.contains("leaves it as written"),
        "{}",
        err.reason
    );
    assert_eq!(s.doc.core["scenes"], json!(["odd"]));
    assert_eq!(ok(&mut s, SceneCommand::List)["scenes"], json!({}));
}

//! Built-in and user presets (ledfx-api.md §2.6, §3.9, §3.15).

use proto::api::effects::EffectCommand;
use proto::api::presets::{Category, PresetCommand};
use proto::api::{ApiFailure, EffectConfigArg, Json};
use serde_json::{json, Value};

use crate::state::test_support::{ok, with_dummies};
use crate::state::State;

fn run(s: &mut State, command: PresetCommand) -> Result<Value, ApiFailure> {
    s.apply(command).map(|j| j.to_value())
}

fn set(s: &mut State, effect: &str, config: Value) {
    ok(
        s,
        EffectCommand::Set {
            virtual_id: "strip".into(),
            effect_type: effect.into(),
            config: EffectConfigArg::Given(Json::from_value(&config)),
        },
    );
}

fn apply(
    s: &mut State,
    category: Category,
    effect: &str,
    preset: &str,
) -> Result<Value, ApiFailure> {
    run(
        s,
        PresetCommand::Apply {
            virtual_id: "strip".into(),
            category,
            effect_id: effect.into(),
            preset_id: preset.into(),
        },
    )
}

#[test]
fn effect_presets_list_reset_first_then_ledfx_s_own_filled_from_the_defaults() {
    let mut s = with_dummies(&["strip"], 10);
    let out = run(
        &mut s,
        PresetCommand::EffectPresets {
            effect_id: "singleColor".into(),
        },
    )
    .unwrap();
    let ids: Vec<&String> = out["ledfx_presets"].as_object().unwrap().keys().collect();
    assert_eq!(ids[0], "reset");
    assert!(ids.iter().any(|id| *id == "red"), "{ids:?}");
    // Filled: the preset's own keys plus every default it leaves out.
    assert_eq!(out["ledfx_presets"]["red"]["config"]["color"], "#ff0000");
    assert!(out["ledfx_presets"]["red"]["config"]
        .get("background_color")
        .is_some());
    assert_eq!(out["user_presets"], json!({}));
    let err = run(
        &mut s,
        PresetCommand::EffectPresets {
            effect_id: "nope".into(),
        },
    )
    .unwrap_err();
    assert_eq!(err.reason, "Effect nope does not exist");
}

#[test]
fn a_virtual_runs_a_preset_and_sees_which_one_is_active() {
    let mut s = with_dummies(&["strip"], 10);
    set(&mut s, "rainbow", json!({}));
    let listed = run(
        &mut s,
        PresetCommand::VirtualPresets {
            virtual_id: "strip".into(),
        },
    )
    .unwrap();
    assert_eq!(listed["effect"], "rainbow");
    assert_eq!(listed["ledfx_presets"]["reset"]["active"], true);
    assert_eq!(listed["ledfx_presets"]["cascade"]["active"], false);

    let out = apply(&mut s, Category::Ledfx, "singleColor", "red").unwrap();
    assert_eq!(out["effect"]["type"], "singleColor");
    assert_eq!(out["effect"]["config"]["color"], "#ff0000");
    let listed = run(
        &mut s,
        PresetCommand::VirtualPresets {
            virtual_id: "strip".into(),
        },
    )
    .unwrap();
    assert_eq!(listed["ledfx_presets"]["red"]["active"], true);
    assert_eq!(listed["ledfx_presets"]["reset"]["active"], false);

    let before = s.doc.to_value();
    let err = apply(&mut s, Category::Ledfx, "singleColor", "plaid").unwrap_err();
    assert_eq!(
        err.reason,
        "Preset plaid does not exist for effect singleColor in category ledfx_presets"
    );
    let err = apply(&mut s, Category::User, "singleColor", "mine").unwrap_err();
    assert_eq!(
        err.reason,
        "Effect singleColor does not exist in category user_presets"
    );
    assert_eq!(s.doc.to_value(), before);
}

#[test]
fn user_presets_are_saved_renamed_found_by_scenes_and_deleted() {
    let mut s = with_dummies(&["strip"], 10);
    set(&mut s, "singleColor", json!({"color": "#123456"}));
    let saved = run(
        &mut s,
        PresetCommand::Save {
            virtual_id: "strip".into(),
            name: "My Teal!".into(),
        },
    )
    .unwrap();
    assert_eq!(saved["preset"]["id"], "my-teal");
    assert_eq!(
        s.doc.core["user_presets"]["singleColor"]["my-teal"]["name"],
        "My Teal!"
    );
    assert_eq!(
        s.matching_preset(
            "singleColor",
            &s.doc
                .virtual_entry("strip")
                .unwrap()
                .effect
                .as_ref()
                .unwrap()
                .config
        ),
        Some(("my-teal".into(), "user_presets"))
    );
    run(
        &mut s,
        PresetCommand::Rename {
            effect_id: "singleColor".into(),
            category: Category::User,
            preset_id: "my-teal".into(),
            name: "Teal".into(),
        },
    )
    .unwrap();
    assert_eq!(
        s.doc.core["user_presets"]["singleColor"]["my-teal"]["name"],
        "Teal"
    );
    let err = run(
        &mut s,
        PresetCommand::Rename {
            effect_id: "singleColor".into(),
            category: Category::Ledfx,
            preset_id: "red".into(),
            name: "Crimson".into(),
        },
    )
    .unwrap_err();
    assert!(
        err.reason.starts_with("Built-in presets cannot be"),
        "{}",
        err.reason
    );

    set(&mut s, "rainbow", json!({}));
    apply(&mut s, Category::User, "singleColor", "my-teal").unwrap();
    assert_eq!(
        s.doc
            .virtual_entry("strip")
            .unwrap()
            .effect
            .as_ref()
            .unwrap()
            .config["color"],
        "#123456"
    );

    let err = run(
        &mut s,
        PresetCommand::Delete {
            effect_id: "singleColor".into(),
            category: Category::User,
            preset_id: None,
        },
    )
    .unwrap_err();
    assert_eq!(
        err.reason,
        "Required attribute \"preset_id\" was not provided"
    );
    run(
        &mut s,
        PresetCommand::DeleteUser {
            effect_id: "singleColor".into(),
            preset_id: "my-teal".into(),
        },
    )
    .unwrap();
    assert_eq!(
        s.doc.core["user_presets"]["singleColor"],
        json!({}),
        "the emptied entry stays"
    );
    let err = run(
        &mut s,
        PresetCommand::DeleteUser {
            effect_id: "singleColor".into(),
            preset_id: "my-teal".into(),
        },
    )
    .unwrap_err();
    assert_eq!(
        err.reason,
        "Preset my-teal does not exist for effect singleColor in user presets"
    );
}

#[test]
fn a_virtual_without_an_effect_has_no_presets_to_show_or_save() {
    let mut s = with_dummies(&["strip"], 10);
    for command in [
        PresetCommand::VirtualPresets {
            virtual_id: "strip".into(),
        },
        PresetCommand::Save {
            virtual_id: "strip".into(),
            name: "x".into(),
        },
    ] {
        assert_eq!(
            run(&mut s, command).unwrap_err().reason,
            "Virtual strip has no active effect"
        );
    }
}

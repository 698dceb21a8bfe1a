//! The virtual tools' rules (ledfx-api.md §3.16, §3.17).

use proto::api::effects::EffectCommand;
use proto::api::tools::ToolCommand;
use proto::api::{ApiFailure, EffectConfigArg, Json};
use serde_json::json;

use crate::state::test_support::{ok, with_dummies};
use crate::state::State;

fn run(s: &mut State, command: ToolCommand) -> Result<serde_json::Value, ApiFailure> {
    s.apply(command).map(|j| j.to_value())
}

fn set(s: &mut State, id: &str, effect: &str) {
    ok(
        s,
        EffectCommand::Set {
            virtual_id: id.into(),
            effect_type: effect.into(),
            config: EffectConfigArg::Given(Json::from_value(&json!({"speed": 2}))),
        },
    );
}

fn flash(virtual_id: Option<&str>) -> ToolCommand {
    ToolCommand::Oneshot {
        virtual_id: virtual_id.map(str::to_owned),
        color: "red".into(),
        ramp_ms: 0,
        hold_ms: 60_000,
        fade_ms: 0,
        brightness: 2.0,
    }
}

#[test]
fn flashes_go_to_active_virtuals_only_and_are_runtime_state() {
    let mut s = with_dummies(&["a", "b"], 4);
    set(&mut s, "a", "rainbow");
    let before = s.doc.to_value();
    assert_eq!(
        run(&mut s, flash(None)).unwrap(),
        json!({"status": "success", "tool": "oneshot"})
    );
    assert_eq!(s.tools["a"].oneshots.len(), 1);
    assert_eq!(s.tools["a"].oneshots[0].rgb, [255, 0, 0]);
    assert_eq!(s.tools["a"].oneshots[0].brightness, 1.0, "clamped");
    assert!(!s.tools.contains_key("b"), "b is not active");
    assert_eq!(s.doc.to_value(), before, "nothing for config.json");
    assert_eq!(s.pipeline().virtuals[0].tools.oneshots.len(), 1);
    assert_eq!(
        run(&mut s, flash(Some("b"))).unwrap_err().reason,
        "oneshot failed"
    );
    run(&mut s, ToolCommand::StopOneshots { virtual_id: None }).unwrap();
    assert_eq!(
        run(&mut s, ToolCommand::StopOneshots { virtual_id: None })
            .unwrap_err()
            .reason,
        "oneshot was not found"
    );
    let bad = ToolCommand::ForceColor {
        virtual_id: None,
        color: "plaid".into(),
    };
    assert_eq!(run(&mut s, bad).unwrap_err().reason, "Invalid color: plaid");
}

#[test]
fn force_color_paints_each_device_virtual_once_per_request() {
    let mut s = with_dummies(&["a", "b"], 4);
    let paint = || ToolCommand::ForceColor {
        virtual_id: None,
        color: "#00ff00".into(),
    };
    run(&mut s, paint()).unwrap();
    let first = s.tools["a"].paint.clone().unwrap();
    assert_eq!(first.rgb, [0, 255, 0]);
    assert!(s.tools["b"].paint.is_some());
    run(&mut s, paint()).unwrap();
    assert_ne!(
        s.tools["a"].paint.as_ref().unwrap().seq,
        first.seq,
        "the same colour paints again"
    );
}

#[test]
fn highlights_need_calibration_and_a_real_device_range() {
    let mut s = with_dummies(&["a"], 10);
    let highlight = |start, stop| ToolCommand::Highlight {
        virtual_id: "a".into(),
        on: true,
        device: "A".into(),
        start,
        stop,
        flip: false,
    };
    let err = run(&mut s, highlight(0, 3)).unwrap_err();
    assert_eq!(
        err.reason,
        "highlight error: Cannot set highlight when a is not in calibration mode"
    );
    run(
        &mut s,
        ToolCommand::Calibration {
            virtual_id: "a".into(),
            on: true,
        },
    )
    .unwrap();
    run(&mut s, highlight(2, 4)).unwrap();
    let h = s.tools["a"].highlight.clone().unwrap();
    assert_eq!((h.start, h.stop), (2, 4));
    assert_eq!(
        run(&mut s, highlight(0, 10)).unwrap_err().reason,
        "highlight error: start and end must be less than 10"
    );
    run(&mut s, highlight(-1, -1)).unwrap();
    assert_eq!(
        s.tools["a"].highlight.as_ref().unwrap().stop,
        9,
        "the whole device"
    );
    let elsewhere = ToolCommand::Highlight {
        virtual_id: "a".into(),
        on: true,
        device: "nope".into(),
        start: 0,
        stop: 1,
        flip: false,
    };
    assert_eq!(
        run(&mut s, elsewhere).unwrap_err().reason,
        "highlight error: Device nope not found"
    );
    run(
        &mut s,
        ToolCommand::Calibration {
            virtual_id: "a".into(),
            on: false,
        },
    )
    .unwrap();
    assert!(s.tools["a"].highlight.is_none());
}

#[test]
fn copy_runs_the_source_effect_on_each_target_that_can_take_it() {
    let mut s = with_dummies(&["a", "b", "c"], 4);
    let copy = |targets: &[&str]| ToolCommand::Copy {
        virtual_id: "a".into(),
        targets: targets.iter().map(|t| (*t).to_owned()).collect(),
    };
    assert_eq!(
        run(&mut s, copy(&["b"])).unwrap_err().reason,
        "Virtual copy failed, no active effect on source virtual"
    );
    set(&mut s, "a", "rainbow");
    run(&mut s, copy(&["b", "nope", "c"])).unwrap();
    for id in ["b", "c"] {
        let effect = s.doc.virtual_entry(id).unwrap().effect.clone().unwrap();
        assert_eq!(
            (effect.effect_type.as_str(), &effect.config["speed"]),
            ("rainbow", &json!(2.0))
        );
    }
    assert_eq!(
        run(&mut s, copy(&["nope"])).unwrap_err().reason,
        "Virtual copy failed, no valid targets"
    );
}

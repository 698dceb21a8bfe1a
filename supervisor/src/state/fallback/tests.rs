//! Fallback rules (ledfx-api.md §3.14).

use proto::api::effects::EffectCommand;
use proto::api::virtuals::VirtualCommand;
use proto::api::{EffectConfigArg, FailureKind, Json};
use serde_json::json;

use crate::state::test_support::{ok, with_dummies};
use crate::state::State;

fn set(id: &str, effect: &str) -> EffectCommand {
    EffectCommand::Set {
        virtual_id: id.into(),
        effect_type: effect.into(),
        config: EffectConfigArg::Given(Json::from_value(&json!({}))),
    }
}

fn with_fallback(id: &str, effect: &str) -> EffectCommand {
    EffectCommand::WithFallback {
        command: Box::new(set(id, effect)),
        seconds: 60.0,
    }
}

fn running(s: &State, id: &str) -> Option<String> {
    s.doc
        .virtual_entry(id)
        .and_then(|v| v.effect.as_ref())
        .map(|e| e.effect_type.clone())
}

fn fire(s: &mut State, id: &str, token: Option<u64>) {
    ok(
        s,
        EffectCommand::FireFallback {
            virtual_id: id.into(),
            token,
        },
    );
}

#[test]
fn the_effect_before_comes_back_and_a_second_fallback_keeps_it() {
    let mut s = with_dummies(&["strip"], 10);
    ok(&mut s, set("strip", "rainbow"));
    ok(&mut s, with_fallback("strip", "singleColor"));
    assert_eq!(running(&s, "strip").as_deref(), Some("singleColor"));
    let (id, first_token, due) = s.next_fallback_due().unwrap();
    assert_eq!(id, "strip");
    assert!(
        due > proto::monotonic_ns() + 50_000_000_000,
        "about 60 s away"
    );
    ok(&mut s, with_fallback("strip", "energy"));
    let (_, token, _) = s.next_fallback_due().unwrap();
    assert_ne!(token, first_token);
    fire(&mut s, "strip", Some(first_token));
    assert_eq!(
        running(&s, "strip").as_deref(),
        Some("energy"),
        "a stale timer does nothing"
    );
    fire(&mut s, "strip", Some(token));
    assert_eq!(
        running(&s, "strip").as_deref(),
        Some("rainbow"),
        "what ran before the first"
    );
    assert!(s.next_fallback_due().is_none());
}

#[test]
fn a_plain_set_cancels_and_nothing_before_means_cleared() {
    let mut s = with_dummies(&["strip"], 10);
    ok(&mut s, with_fallback("strip", "singleColor"));
    fire(&mut s, "strip", None);
    assert_eq!(running(&s, "strip"), None, "nothing ran before: cleared");
    assert!(!s.doc.virtual_entry("strip").unwrap().active);

    ok(&mut s, set("strip", "rainbow"));
    ok(&mut s, with_fallback("strip", "singleColor"));
    ok(&mut s, set("strip", "energy"));
    assert!(s.next_fallback_due().is_none(), "cancelled");
    fire(&mut s, "strip", None);
    assert_eq!(
        running(&s, "strip").as_deref(),
        Some("energy"),
        "nothing pending: no change"
    );
}

/// A virtual `combo` over all of `strip`, running: `strip`'s own virtual is streamed to.
fn stream_to_strip(s: &mut State) {
    ok(
        s,
        VirtualCommand::Save {
            id: None,
            config: Json::from_value(&json!({"name": "Combo"})),
        },
    );
    ok(
        s,
        VirtualCommand::SetSegments {
            id: "combo".into(),
            segments: Json::from_value(&json!([["strip", 0, 9, false]])),
        },
    );
    ok(s, set("combo", "rainbow"));
}

#[test]
fn a_virtual_being_streamed_to_refuses_a_fallback_with_409() {
    let mut s = with_dummies(&["strip"], 10);
    stream_to_strip(&mut s);
    let err = s.apply(with_fallback("strip", "singleColor")).unwrap_err();
    assert_eq!(err.kind, FailureKind::Conflict);
    assert_eq!(
        err.reason,
        "Unable to set effect: Virtual strip is being streamed to"
    );
}

#[test]
fn apply_global_effect_with_a_fallback_counts_streamed_to_virtuals_as_blocked() {
    let mut s = with_dummies(&["strip", "lamp"], 10);
    stream_to_strip(&mut s);
    let out = ok(
        &mut s,
        EffectCommand::ApplyGlobalEffect {
            effect_type: "singleColor".into(),
            config: None,
            virtuals: Some(vec!["strip".into(), "lamp".into()]),
            fallback_s: Some(30.0),
        },
    );
    assert_eq!(
        out["payload"]["reason"],
        "Applied effect 'singleColor' to 1 virtuals (skipped 0, blocked 1, failed 0)"
    );
    assert!(s.fallbacks.contains_key("lamp"));
}

//! `/api/colors` rules (ledfx-api.md §3.25), and the built-ins against LedFx 2.2.1's answer.

use proto::api::colors::ColorCommand;
use proto::api::Json;
use serde_json::{json, Value};

use crate::state::test_support::{ok, state};
use crate::state::State;

fn save(s: &mut State, body: Value) -> Result<Value, proto::api::ApiFailure> {
    s.apply(ColorCommand::Save {
        entries: Json::from_value(&body),
    })
    .map(|j| j.to_value())
}

#[test]
fn the_built_ins_are_ledfx_s() {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/ledfx-2.2.1/get_colors.json"
    ));
    let ledfx: Value = serde_json::from_str(text).unwrap();
    let ours = state().colors_view();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&ours["colors"]["builtin"]),
        keys(&ledfx["colors"]["builtin"])
    );
    assert_eq!(ours, ledfx);
}

#[test]
fn colours_and_gradients_are_stored_apart_and_built_ins_are_kept() {
    let mut s = state();
    let out = save(
        &mut s,
        json!({"my red": "RED", "sky": "rgb(0, 128, 255)", "fire": "linear-gradient(90deg, red 0%, yellow 100%)", "blue": "#123456"}),
    )
    .unwrap();
    assert_eq!(out["payload"]["reason"], "Saved my red, sky, fire, blue");
    let view = ok(&mut s, ColorCommand::List);
    assert_eq!(
        view["colors"]["user"],
        json!({"my red": "#ff0000", "sky": "#0080ff"})
    );
    assert_eq!(
        view["gradients"]["user"],
        json!({"fire": "linear-gradient(90deg, red 0%, yellow 100%)"})
    );
    assert_eq!(
        view["colors"]["builtin"]["blue"], "#0000ff",
        "a built-in is not overwritten"
    );

    let out = ok(
        &mut s,
        ColorCommand::DeleteMany {
            names: vec!["sky".into(), "fire".into(), "nothing".into()],
        },
    );
    assert_eq!(out["payload"]["reason"], "Deleted sky, fire, nothing");
    let view = ok(&mut s, ColorCommand::List);
    assert_eq!(view["colors"]["user"], json!({"my red": "#ff0000"}));
    assert_eq!(view["gradients"]["user"], json!({}));

    let one = |s: &mut State, id: &str| s.apply(ColorCommand::DeleteOne { id: id.into() });
    assert_eq!(
        one(&mut s, "my red").unwrap().to_value()["payload"]["reason"],
        "Deleted color my red"
    );
    assert_eq!(
        one(&mut s, "red").unwrap().to_value()["payload"]["reason"],
        "Deleted color red"
    );
    assert_eq!(
        ok(&mut s, ColorCommand::List)["colors"]["builtin"]["red"],
        "#ff0000"
    );
    assert_eq!(
        one(&mut s, "Rainbow").unwrap().to_value()["payload"]["reason"],
        "Deleted gradient Rainbow"
    );
    assert_eq!(
        one(&mut s, "nope").unwrap_err().reason,
        "Color or gradient nope not found"
    );
}

#[test]
fn a_bad_entry_saves_nothing_and_names_itself() {
    let mut s = state();
    let before = s.doc.to_value();
    let err = save(&mut s, json!({"ok": "#00ff00", "bad": "sparkly"})).unwrap_err();
    assert!(
        err.reason.starts_with("Invalid gradient: sparkly (bad: "),
        "{}",
        err.reason
    );
    let err = save(&mut s, json!({"n": 5})).unwrap_err();
    assert_eq!(err.reason, "n: expected a colour or gradient string, got 5");
    let err = save(&mut s, Value::Null).unwrap_err();
    assert_eq!(err.reason, "Required attribute was not provided");
    assert_eq!(s.doc.to_value(), before);
}

#[test]
fn a_colour_change_is_colors_updated_and_not_config_updated() {
    let mut s = state();
    let before = s.clone();
    save(
        &mut s,
        json!({"mine": "#010203", "fade": "linear-gradient(red, blue)"}),
    )
    .unwrap();
    assert_eq!(
        crate::state::events::between(&before, &s),
        vec![proto::feed::Event::ColorsUpdated]
    );
    let before = s.clone();
    ok(&mut s, ColorCommand::DeleteOne { id: "mine".into() });
    assert_eq!(
        crate::state::events::between(&before, &s),
        vec![proto::feed::Event::ColorsUpdated]
    );
}

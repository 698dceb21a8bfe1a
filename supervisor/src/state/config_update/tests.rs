//! `PUT /api/config` rules (ledfx-api.md §3.2).

use proto::api::system::SystemCommand;
use proto::api::{FailureKind, Json};
use serde_json::{json, Value};

use super::check_value;
use crate::state::test_support::state;
use crate::state::State;

fn put(s: &mut State, body: Value) -> Result<Value, proto::api::ApiFailure> {
    s.apply(SystemCommand::UpdateConfig {
        body: Json::from_value(&body),
    })
    .map(|j| j.to_value())
}

#[test]
fn permitted_keys_and_sections_are_applied_and_merged() {
    let mut s = state();
    let out = put(
        &mut s,
        json!({"global_brightness": 0.6, "audio": {"min_volume": 0.3, "delay_ms": 40},
               "wled_preferences": {"inactivity_timeout": {"setting": 5, "user_enabled": true}},
               "dev_mode": true, "allowed_origins": ["https://a.example"]}),
    )
    .unwrap();
    assert_eq!(out["payload"]["reason"], "Configuration Updated");
    let core = &s.doc.core;
    assert_eq!(core["global_brightness"], 0.6);
    assert_eq!(core["audio"]["min_volume"], 0.3);
    assert_eq!(core["audio"]["delay_ms"], 40);
    // Merged, not replaced.
    assert_eq!(core["audio"]["onset_method"], "hfc");
    assert_eq!(
        core["wled_preferences"]["inactivity_timeout"],
        json!({"setting": 5, "user_enabled": true})
    );
    assert_eq!(
        core["wled_preferences"]["wled_preferred_mode"]["setting"],
        "UDP"
    );
    assert_eq!(core["dev_mode"], true);
    // An integer given for a float key is stored as a float, as LedFx's Coerce(float) does.
    put(&mut s, json!({"global_brightness": 1})).unwrap();
    assert!(s.doc.core["global_brightness"].is_f64());
    assert_eq!(s.pipeline().global_brightness, 1.0);
}

#[test]
fn the_listening_address_is_reported_as_taking_effect_at_the_next_start() {
    let mut s = state();
    let out = put(&mut s, json!({"port": 9000})).unwrap();
    assert_eq!(
        out["payload"]["reason"],
        "Configuration Updated; port take effect when ledfx-rs next starts"
    );
    assert_eq!(s.doc.core["port"], 9000);
}

#[test]
fn unknown_keys_and_invalid_values_are_refused_with_ledfx_s_reason_and_change_nothing() {
    let mut s = state();
    let before = s.doc.to_value();
    let cases = [
        (json!({"nonsense": 1}), "Error updating config: \"Unknown/forbidden core config key: 'nonsense'\""),
        (json!({"scenes": {}}), "Error updating config: \"Unknown/forbidden core config key: 'scenes'\""),
        (json!({"audio": {"fft_size": 1}}), "Error updating config: \"Unknown/forbidden audio config key: 'fft_size'\""),
        (json!({"global_brightness": 2}), "Error updating config: global_brightness: expected a number between 0 and 1, got 2"),
        (json!({"visualisation_fps": "fast"}), "Error updating config: visualisation_fps: expected an integer, got \"fast\""),
        (json!({"transmission_mode": "zip"}), "Error updating config: transmission_mode: expected one of \"compressed\", \"uncompressed\", got \"zip\""),
        (json!({"lifx_broadcast_address": "nope"}), "Error updating config: lifx_broadcast_address: expected an IPv4 address, got \"nope\""),
        (json!({"melbanks": {"max_frequencies": [350, 99999]}}), "Error updating config: melbanks.max_frequencies[1]: expected an integer between 0 and 15000, got 99999"),
        (json!({"melbank_collection": [{"id": "m", "config": {"name": "x", "min_frequency": 5}}]}), "Error updating config: melbank_collection[0].config.min_frequency: expected an integer between 20 and 15000, got 5"),
        (json!({"melbank_collection": [{"name": "x"}]}), "Error updating config: melbank_collection[0]: expected {\"id\": \"…\", \"config\": {\"name\", \"min_frequency\", \"max_frequency\"}}, got {\"name\":\"x\"}"),
        (json!({"audio": {"audio_device": "mic"}}), "Error updating config: Invalid device index [mic]"),
        (json!({"user_presets": {"rainbow": {"fast": {"name": "Fast"}}}}), "Error updating config: user_presets.rainbow.fast: expected {\"name\", \"config\": {…}}"),
        // One bad key rejects the valid ones beside it.
        (json!({"dev_mode": true, "port": "x"}), "Error updating config: port: expected an integer, got \"x\""),
    ];
    for (body, reason) in cases {
        let err = put(&mut s, body.clone()).unwrap_err();
        assert_eq!(
            (err.kind, err.reason.as_str()),
            (FailureKind::InvalidRequest, reason),
            "{body}"
        );
    }
    assert_eq!(s.doc.to_value(), before);
}

#[test]
fn every_permitted_key_accepts_its_own_default() {
    // The schema the update checks against describes the defaults the document starts with.
    let schema = super::schema::full();
    let props = schema["core"]["schema"]["properties"].as_object().unwrap();
    let defaults = crate::config::core_defaults();
    for key in super::schema::CORE_PERMITTED {
        let Some(default) = defaults.get(*key) else {
            continue;
        };
        if *key == "melbank_collection" {
            continue; // checked entry by entry against its own section
        }
        check_value(key, &props[*key], default).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut s = state();
    put(
        &mut s,
        json!({"melbank_collection": defaults["melbank_collection"]}),
    )
    .unwrap();
}

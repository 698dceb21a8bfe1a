//! Rules of the state owner, checked without any process or socket.

use proto::api::devices::DeviceCommand;
use proto::api::effects::EffectCommand;
use proto::api::virtuals::VirtualCommand;
use proto::api::{EffectConfigArg, FailureKind, Json};
use proto::pipeline::AudioSource;
use serde_json::{json, Value};

use super::test_support::{ok, state};
use super::State;
use crate::config::ConfigDoc;

fn ddp(name: &str, port: u16, pixels: u32) -> DeviceCommand {
    DeviceCommand::Create {
        device_type: "ddp".into(),
        config: Json::from_value(
            &json!({"name": name, "ip_address": "127.0.0.1", "pixel_count": pixels, "port": port}),
        ),
    }
}

fn set_effect(virtual_id: &str, effect_type: &str, config: Value) -> EffectCommand {
    EffectCommand::Set {
        virtual_id: virtual_id.into(),
        effect_type: effect_type.into(),
        config: EffectConfigArg::Given(Json::from_value(&config)),
    }
}

#[test]
fn creating_a_device_creates_its_idle_virtual_with_one_segment() {
    let mut s = state();
    let out = ok(&mut s, ddp("Test Strip A", 4048, 60));
    assert_eq!(out["device"]["id"], "test-strip-a");
    assert_eq!(out["payload"]["reason"], "Created device Test Strip A");
    assert_eq!(out["device"]["config"]["refresh_rate"], 62);
    let v = ok(&mut s, VirtualCommand::List);
    let tv = &v["virtuals"]["test-strip-a"];
    assert_eq!(tv["segments"], json!([["test-strip-a", 0, 59, false]]));
    assert_eq!(tv["active"], false);
    assert_eq!(tv["is_device"], "test-strip-a");
    assert_eq!(tv["pixel_count"], 60);
    assert_eq!(tv["effect"], json!({}));
}

#[test]
fn same_address_port_and_destination_is_rejected_and_a_new_port_gets_a_suffixed_id() {
    let mut s = state();
    ok(&mut s, ddp("Test Strip A", 4048, 60));
    let err = s.apply(ddp("Test Strip A", 4048, 60)).unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);
    assert!(
        err.reason.starts_with("Error creating device: "),
        "{}",
        err.reason
    );
    let out = ok(&mut s, ddp("Test Strip A", 4049, 30));
    assert_eq!(out["device"]["id"], "test-strip-a-1");
    assert_eq!(s.doc.devices.len(), 2);
}

#[test]
fn setting_an_effect_activates_the_virtual_and_the_device() {
    let mut s = state();
    ok(&mut s, ddp("A", 4048, 10));
    let out = ok(
        &mut s,
        set_effect("a", "singleColor", json!({"color": "#FF0000"})),
    );
    assert_eq!(out["effect"]["type"], "singleColor");
    assert_eq!(out["effect"]["config"]["color"], "#ff0000");
    let p = s.pipeline();
    assert!(p.devices[0].active);
    assert!(p.virtuals[0].active);
    assert_eq!(
        p.virtuals[0].segments[0].device_slot,
        Some(p.devices[0].slot)
    );
    let v = &s.doc.virtuals[0];
    assert_eq!(v.last_effect.as_deref(), Some("singleColor"));
    assert!(v.effects.contains_key("singleColor"));
}

#[test]
fn invalid_effect_config_changes_nothing() {
    let mut s = state();
    ok(&mut s, ddp("A", 4048, 10));
    let before = s.doc.clone();
    let err = s
        .apply(set_effect("a", "rainbow", json!({"speed": "fast"})))
        .unwrap_err();
    assert!(err.reason.contains("speed"), "{}", err.reason);
    assert_eq!(s.doc, before);
    let err = s.apply(set_effect("a", "nope", json!({}))).unwrap_err();
    assert!(err.reason.contains("nope"));
    let err = s
        .apply(set_effect("missing", "rainbow", json!({})))
        .unwrap_err();
    assert_eq!(err.reason, "Virtual with ID missing not found");
}

#[test]
fn update_in_place_keeps_the_instance_and_a_colour_change_makes_a_new_one() {
    let mut s = state();
    ok(&mut s, ddp("A", 4048, 10));
    ok(&mut s, set_effect("a", "singleColor", json!({})));
    let first = s.pipeline().virtuals[0].effect.clone().unwrap().instance;
    ok(
        &mut s,
        EffectCommand::Update {
            virtual_id: "a".into(),
            effect_type: Some("singleColor".into()),
            config: Some(Json::from_value(&json!({"blur": 2.5}))),
        },
    );
    let e = s.pipeline().virtuals[0].effect.clone().unwrap();
    assert_eq!(e.instance, first);
    assert!(e.config_json.contains("2.5"));
    ok(
        &mut s,
        EffectCommand::Update {
            virtual_id: "a".into(),
            effect_type: Some("singleColor".into()),
            config: Some(Json::from_value(&json!({"color": "#00ff00"}))),
        },
    );
    assert_ne!(
        s.pipeline().virtuals[0].effect.clone().unwrap().instance,
        first
    );
}

#[test]
fn clearing_keeps_history_and_reactivation_restores_the_last_effect() {
    let mut s = state();
    ok(&mut s, ddp("A", 4048, 10));
    ok(&mut s, set_effect("a", "rainbow", json!({"speed": 2.0})));
    let out = ok(
        &mut s,
        EffectCommand::Clear {
            virtual_id: "a".into(),
        },
    );
    assert_eq!(out, json!({"status": "success", "effect": {}}));
    assert!(!s.pipeline().devices[0].active);
    let out = ok(
        &mut s,
        VirtualCommand::SetActive {
            id: "a".into(),
            active: true,
        },
    );
    assert_eq!(out["active"], true);
    let effect = s.doc.virtuals[0].effect.clone().unwrap();
    assert_eq!(effect.effect_type, "rainbow");
    assert_eq!(effect.config["speed"], 2.0);
}

#[test]
fn an_external_virtual_displaces_the_device_virtual() {
    let mut s = state();
    ok(&mut s, ddp("A", 4048, 30));
    ok(&mut s, set_effect("a", "rainbow", json!({})));
    s.doc
        .virtuals
        .push(std::sync::Arc::new(crate::config::VirtualEntry {
            id: "combo".into(),
            config: super::virtual_config::validate(
                json!({"name": "combo"}).as_object().unwrap(),
                "i",
            )
            .unwrap(),
            segments: vec![crate::config::Segment("a".into(), 0, 9, false)],
            is_device: Value::Bool(false),
            auto_generated: false,
            active: false,
            effect: None,
            effects: Default::default(),
            last_effect: None,
            extra: Default::default(),
            as_written: None,
        }));
    ok(&mut s, set_effect("combo", "singleColor", json!({})));
    let v = ok(&mut s, VirtualCommand::List);
    assert_eq!(v["virtuals"]["a"]["active"], false);
    assert_eq!(v["virtuals"]["a"]["streaming"], true);
    assert_eq!(v["virtuals"]["combo"]["active"], true);
    let d = ok(&mut s, DeviceCommand::List);
    assert_eq!(d["devices"]["a"]["active_virtuals"], json!(["combo"]));
}

#[test]
fn deleting_a_device_cascades_to_virtuals_left_without_segments() {
    let mut s = state();
    ok(&mut s, ddp("A", 4048, 30));
    ok(&mut s, ddp("B", 4049, 30));
    ok(&mut s, DeviceCommand::Delete { id: "a".into() });
    assert!(s.doc.virtual_entry("a").is_none());
    assert!(s.doc.virtual_entry("b").is_some());
    ok(&mut s, VirtualCommand::Delete { id: "b".into() });
    assert!(s.doc.devices.is_empty());
    let err = s
        .apply(DeviceCommand::Delete { id: "b".into() })
        .unwrap_err();
    assert_eq!(err.reason, "Device with ID b not found");
}

#[test]
fn updating_a_device_resizes_its_own_segment() {
    let mut s = state();
    ok(&mut s, ddp("A", 4048, 30));
    ok(
        &mut s,
        DeviceCommand::Update {
            id: "a".into(),
            config: Json::from_value(&json!({"pixel_count": 50})),
        },
    );
    assert_eq!(s.doc.virtuals[0].segments[0].2, 49);
    let err = s
        .apply(DeviceCommand::Update {
            id: "a".into(),
            config: Json::from_value(&json!({"pixel_count": "many"})),
        })
        .unwrap_err();
    assert!(err.reason.contains("pixel_count"), "{}", err.reason);
    assert_eq!(s.doc.devices[0].config["pixel_count"], 50);
}

#[test]
fn entries_that_cannot_be_used_are_set_aside_as_written_and_reported() {
    let as_loaded = json!({
        "devices": [
            {"id": "good", "type": "ddp", "config": {"name": "Good", "ip_address": "127.0.0.1", "pixel_count": 10}},
            {"id": "bad", "type": "ddp", "config": {"name": "Bad", "ip_address": "127.0.0.1", "pixel_count": "x"}},
            {"id": "alien", "type": "teleporter", "config": {"name": "Alien"}},
            {"id": "twin", "type": "ddp", "config": {"name": "Twin", "ip_address": "127.0.0.1", "pixel_count": 5}},
            {"type": "ddp"}
        ],
        "virtuals": [
            {"id": "good", "config": {"name": "Good"}, "is_device": "good",
             "segments": [["good", 0, 9, false]], "active": true,
             "effect": {"type": "rainbow", "config": {"speed": 2}}},
            {"id": "bad", "config": {"name": "Bad"}, "is_device": "bad", "segments": [["bad", 0, 5, false]]},
            {"id": "wide", "config": {"name": "Wide"}, "segments": [["good", 0, 4000000000u64, false]]},
            {"id": "odd", "config": {"name": "Odd", "mapping": "sideways"}, "segments": [["good", 0, 4, false]]},
            {"id": "fx", "config": {"name": "Fx"}, "segments": [["good", 0, 4, false]],
             "effect": {"type": "rainbow", "config": {"speed": 99}}}
        ]
    });
    let doc = ConfigDoc::from_value(as_loaded.clone()).unwrap();
    let (state, warnings) = State::new(doc, AudioSource::None);
    println!("{warnings:#?}");
    let usable: Vec<&str> = state.doc.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(usable, ["good"]);
    let usable: Vec<&str> = state.doc.virtuals.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(usable, ["good"]);
    let reasons: Vec<(String, String)> = state
        .doc
        .kept
        .iter()
        .map(|k| (k.id.clone(), k.reason.clone()))
        .collect();
    let reason = |id: &str| {
        reasons
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{id} not reported: {reasons:?}"))
    };
    assert!(reason("bad").contains("pixel_count"), "{}", reason("bad"));
    assert!(reason("alien").contains("teleporter"));
    assert!(
        reason("twin").contains("Good"),
        "a clash names the other device: {}",
        reason("twin")
    );
    assert!(reason("#4").contains("not a valid devices entry"));
    assert!(reason("wide").contains("outside"));
    assert!(reason("odd").contains("mapping"), "{}", reason("odd"));
    assert!(reason("fx").contains("speed"), "{}", reason("fx"));
    assert_eq!(warnings.len(), reasons.len());
    assert_eq!(
        reasons.iter().filter(|(id, _)| id == "bad").count(),
        2,
        "the device virtual of an unusable device is set aside too"
    );
    // Written back exactly as loaded, in the same places.
    let saved = state.doc.to_value();
    for key in ["devices", "virtuals"] {
        let (a, b) = (
            as_loaded[key].as_array().unwrap(),
            saved[key].as_array().unwrap(),
        );
        assert_eq!(a.len(), b.len());
        for (i, (loaded, written)) in a.iter().zip(b).enumerate() {
            if loaded.get("id") != Some(&json!("good")) {
                assert_eq!(loaded, written, "{key}[{i}]");
            }
        }
    }
    // Not driven, not shown, and their ids stay reserved.
    assert_eq!(state.pipeline().devices.len(), 1);
    let mut state = state;
    let devices = ok(&mut state, DeviceCommand::List);
    assert_eq!(devices["devices"].as_object().unwrap().len(), 1);
    let err = state
        .apply(DeviceCommand::Get { id: "bad".into() })
        .unwrap_err();
    assert!(err.reason.contains("cannot use it"), "{}", err.reason);
    let created = ok(
        &mut state,
        DeviceCommand::Create {
            device_type: "dummy".into(),
            config: Json::from_value(&json!({"name": "Alien", "pixel_count": 3})),
        },
    );
    assert_eq!(created["device"]["id"], "alien-1");
    let info = ok(&mut state, proto::api::system::SystemCommand::GetInfo);
    assert_eq!(
        info["config_problems"].as_array().unwrap().len(),
        reasons.len()
    );
    assert_eq!(info["config_problems"][0]["entry"], "devices");
}

#[test]
fn a_panicking_validator_sets_the_entry_aside_instead_of_stopping_the_start() {
    let doc = ConfigDoc::from_value(json!({
        "devices": [{"id": "boom", "type": "dummy", "config": {"name": "failpoint: panic in validation"}}]
    }))
    .unwrap();
    let (state, warnings) = State::new(doc, AudioSource::None);
    assert!(state.doc.devices.is_empty());
    assert!(warnings[0].contains("crashed"), "{warnings:?}");
}

#[test]
fn pause_toggles_and_keeps_devices_claimed() {
    let mut s = state();
    ok(&mut s, ddp("A", 4048, 10));
    ok(&mut s, set_effect("a", "rainbow", json!({})));
    assert_eq!(
        ok(&mut s, VirtualCommand::TogglePause),
        json!({"status": "success", "paused": true})
    );
    let p = s.pipeline();
    assert!(p.paused && p.devices[0].active);
    assert_eq!(ok(&mut s, VirtualCommand::TogglePause)["paused"], false);
}

#[test]
fn moving_a_device_onto_another_devices_address_is_rejected() {
    let mut s = state();
    ok(&mut s, ddp("A", 4048, 10));
    ok(&mut s, ddp("B", 4049, 10));
    let err = s
        .apply(DeviceCommand::Update {
            id: "b".into(),
            config: Json::from_value(&json!({"port": 4048})),
        })
        .unwrap_err();
    assert!(
        err.reason.starts_with("Error updating device b: "),
        "{}",
        err.reason
    );
    assert_eq!(s.doc.devices[1].config["port"], 4049);
}

#[test]
fn a_new_installation_gets_a_stable_uuid_shaped_instance_id() {
    let (s, _) = State::new(ConfigDoc::default(), AudioSource::None);
    let id = s.doc.core["instance_id"].as_str().unwrap().to_owned();
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    let (again, _) = State::new(s.doc.clone(), AudioSource::None);
    assert_eq!(again.doc.core["instance_id"], id.as_str());
}

#[test]
fn a_virtual_with_an_effect_ledfx_rs_does_not_have_is_kept_but_not_rendered() {
    let doc = ConfigDoc::from_value(json!({
        "devices": [{"id": "a", "type": "ddp", "config": {"name": "A", "ip_address": "127.0.0.1", "pixel_count": 10}}],
        "virtuals": [{"id": "a", "config": {"name": "A"}, "is_device": "a", "segments": [["a", 0, 9, false]],
                      "active": true, "effect": {"type": "scroll", "config": {"speed": 3}}}]
    }))
    .unwrap();
    let (state, warnings) = State::new(doc, AudioSource::None);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("\"scroll\" is not supported")),
        "{warnings:?}"
    );
    assert_eq!(
        state.doc.kept[0].raw["effect"]["config"]["speed"], 3,
        "kept untouched"
    );
    let p = state.pipeline();
    assert!(p.virtuals.is_empty());
    assert!(!p.devices[0].active);
}

#[test]
fn activating_a_device_answers_the_virtuals_and_an_unknown_one_is_named() {
    let mut s = super::test_support::with_dummies(&["lamp"], 5);
    let out = ok(&mut s, DeviceCommand::Activate { id: "lamp".into() });
    assert_eq!(out, ok(&mut s, VirtualCommand::List));
    let err = s
        .apply(DeviceCommand::Activate { id: "nope".into() })
        .unwrap_err();
    assert_eq!(err.reason, "Device with ID nope not found");
}

#[test]
fn randomize_sets_random_values_but_keeps_brightness_and_the_running_type() {
    let mut s = super::test_support::with_dummies(&["lamp"], 5);
    let out = ok(
        &mut s,
        EffectCommand::Set {
            virtual_id: "lamp".into(),
            effect_type: "rainbow".into(),
            config: EffectConfigArg::Randomize,
        },
    );
    assert_eq!(out["effect"]["type"], "rainbow");
    assert_eq!(
        out["effect"]["config"]["brightness"],
        json!(1.0),
        "kept at its default"
    );
    let running = |s: &State| s.doc.virtual_entry("lamp").unwrap().effect.clone().unwrap();
    ok(
        &mut s,
        EffectCommand::Update {
            virtual_id: "lamp".into(),
            effect_type: Some("rainbow".into()),
            config: Some(Json::from_value(&json!({"brightness": 0.3}))),
        },
    );
    let speeds: std::collections::BTreeSet<String> = (0..20)
        .map(|_| {
            ok(
                &mut s,
                EffectCommand::Update {
                    virtual_id: "lamp".into(),
                    effect_type: Some("energy".into()),
                    config: Some(Json::from_value(&json!("RANDOMIZE"))),
                },
            );
            let e = running(&s);
            assert_eq!(
                e.effect_type, "rainbow",
                "the running type, whatever was asked"
            );
            assert_eq!(e.config["brightness"], json!(0.3), "brightness is kept");
            e.config["speed"].to_string()
        })
        .collect();
    assert!(speeds.len() > 1, "random speeds: {speeds:?}");
}

#[test]
fn effect_instance_ids_are_the_first_free_ones_counting_the_instance_being_replaced() {
    let mut s = super::test_support::with_dummies(&["a", "b"], 10);
    let set = |s: &mut State, virtual_id: &str, effect_type: &str| {
        ok(
            s,
            EffectCommand::Set {
                virtual_id: virtual_id.into(),
                effect_type: effect_type.into(),
                config: EffectConfigArg::Given(Json::from_value(&json!({}))),
            },
        );
        s.effect_instance_id(virtual_id)
    };
    assert_eq!(set(&mut s, "a", "singleColor"), "singleColor");
    assert_eq!(set(&mut s, "b", "singleColor"), "singleColor-1");
    // `a`'s old instance still runs when its new one is made, as in LedFx.
    assert_eq!(set(&mut s, "a", "singleColor"), "singleColor-2");
    assert_eq!(set(&mut s, "a", "singleColor"), "singleColor");
    ok(
        &mut s,
        EffectCommand::Clear {
            virtual_id: "b".into(),
        },
    );
    assert_eq!(s.effect_instance_id("b"), "");
    assert_eq!(
        set(&mut s, "b", "singleColor"),
        "singleColor-1",
        "freed ids are reused"
    );
}

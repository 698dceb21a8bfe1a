//! LedFx's migration of older layouts (rules from LedFx 2.2.1's `migrate_config`), with
//! nothing dropped.

use serde_json::{json, Map, Value};

use super::{migrate, needed};

fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[test]
fn a_ledfx_2_0_layout_gets_virtuals_presets_and_scene_virtuals() {
    let mut doc = map(json!({
        "configuration_version": "2.2.0",
        "devices": [
            {"id": "porch", "type": "ddp", "config": {"name": "Porch Light", "pixel_count": 30}},
            {"id": "hall", "type": "fxmatrix", "config": {"name": "Hall", "pixel_count": 10}},
        ],
        "custom_presets": {"energy": {"mine": {"name": "Mine", "config": {"colour_lows": "#ff0000"}}}},
        "scenes": {"night": {"name": "Night", "scene_tags": "late", "devices": {
            "porch": {"type": "rainbow", "config": {"speed": 2}}
        }}},
        "audio": {"audio_device": 3, "min_volume": 4},
    }));
    assert!(needed(&doc));
    let done = migrate(&mut doc);
    assert!(done[0].contains("2.2.0"), "{done:?}");
    assert_eq!(doc["configuration_version"], "2.3.6");
    assert_eq!(
        doc["virtuals"],
        json!([
            {"id": "porch-light", "is_device": "porch", "auto_generated": false,
             "config": {"name": "Porch Light"}, "segments": [["porch", 0, 29, false]]},
            {"id": "hall", "is_device": "hall", "auto_generated": false,
             "config": {"name": "Hall"}, "segments": [["hall", 0, 9, false]]},
        ]),
        "every device, fxmatrix too (kept, not dropped)"
    );
    assert_eq!(
        doc["user_presets"]["energy"]["mine"]["config"],
        json!({"color_lows": "#ff0000"})
    );
    assert!(doc.get("custom_presets").is_none());
    let night = &doc["scenes"]["night"];
    assert_eq!(night["virtuals"]["porch-light"]["type"], "rainbow");
    assert_eq!(night["scene_tags"], "late", "scene fields are kept");
    assert_eq!(doc["audio"]["min_volume"], json!(0.2));
    assert_eq!(doc["audio"]["audio_device"], 3);
}

#[test]
fn displays_become_virtuals_and_old_effect_keys_get_their_new_names() {
    let mut doc = map(json!({
        "displays": [{"id": "wall", "config": {"name": "Wall"}, "segments": [],
            "effect": {"type": "equalizer2d", "config": {
                "flip vertical": true, "frequency_range": "Bass (60-250Hz)", "Diagnostic": false}},
            "effects": {"bars": {"type": "bars", "config": {"colour_mode": "x"}}}}],
    }));
    migrate(&mut doc);
    let wall = &doc["virtuals"][0];
    assert_eq!(
        wall["effect"]["config"],
        json!({"flip_vertical": true, "frequency_range": "Lows (beat+bass)", "diag": false})
    );
    assert_eq!(
        wall["effects"]["bars"]["config"],
        json!({"color_mode": "x"})
    );
    assert!(doc.get("displays").is_none());
}

#[test]
fn the_current_version_is_left_alone() {
    let doc = map(json!({"configuration_version": "2.3.6", "custom_presets": {}}));
    assert!(!needed(&doc));
    let mut untouched = map(json!({"global_brightness": 0.5}));
    assert!(
        migrate(&mut untouched).is_empty(),
        "nothing to do, nothing reported"
    );
    assert_eq!(untouched, map(json!({"global_brightness": 0.5})));
}

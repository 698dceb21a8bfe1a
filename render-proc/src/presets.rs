//! LedFx's built-in effect presets (`ledfx_presets`, ledfx-engine.md §3.3): data, recorded
//! from LedFx 2.2.1's `GET /api/config` into `data/ledfx_presets.json`, as
//! `{effect_type: {preset_id: {"name", "config"}}}`. Every effect also has the synthetic
//! preset `reset` (its defaults), which is not in the data.

use std::sync::LazyLock;

use serde_json::{Map, Value};

static PRESETS: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    match serde_json::from_str(include_str!("../data/ledfx_presets.json")) {
        Ok(Value::Object(map)) => map,
        // The file is checked by the test below; an unreadable one means no presets.
        _ => Map::new(),
    }
});

/// Every built-in preset, by effect type.
pub fn ledfx_presets() -> &'static Map<String, Value> {
    &PRESETS
}

/// The built-in presets of one effect type (without `reset`).
pub fn presets_of(effect_type: &str) -> Option<&'static Map<String, Value>> {
    PRESETS.get(effect_type).and_then(Value::as_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_presets_load_and_each_has_a_name_and_a_config() {
        assert_eq!(
            ledfx_presets().len(),
            34,
            "LedFx 2.2.1 ships presets for 34 effects"
        );
        for (effect, presets) in ledfx_presets() {
            for (id, preset) in presets.as_object().unwrap() {
                assert!(preset["name"].is_string(), "{effect}/{id}");
                assert!(preset["config"].is_object(), "{effect}/{id}");
            }
        }
        assert_eq!(presets_of("singleColor").unwrap()["red"]["name"], "Red");
    }
}

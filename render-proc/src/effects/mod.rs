//! The effect registry: one file per effect, one row per effect in [`EFFECTS`].
//!
//! Adding one of LedFx's other effects means adding a file with its field table, typed config,
//! implementation and tests, and one row here. Everything else (validation for the supervisor,
//! building in the render loop, names for the API) is driven from the table.
//!
//! An effect only produces its raw frame; post-processing (§2.3), clipping, centre offset,
//! transitions, brightness and mapping are done by the virtual (see `crate::engine`).
//!
//! Registry rows, field tables and typed configs are pure and always built; the `Effect`
//! trait, the constructors (`EffectEntry::build`) and the implementations are behind the
//! `stage` feature (see the crate documentation).

pub mod common;
pub mod energy;
pub mod modulation;
pub mod rainbow;
pub mod single_color;

#[cfg(feature = "stage")]
use std::time::Instant;

use serde_json::Value;

#[cfg(feature = "stage")]
use crate::audio::AudioSnapshot;
use crate::schema::{validate_fields, EffectConfigError, Field};
#[cfg(feature = "stage")]
use crate::Pixel;

#[cfg(feature = "stage")]
use self::common::CommonConfig;
use self::common::COMMON;

/// What an effect may read while rendering one frame.
#[cfg(feature = "stage")]
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// Time of this render tick.
    pub now: Instant,
    /// The latest fresh audio analysis, `None` for silence (no audio-proc, or stale frames).
    pub audio: Option<&'a AudioSnapshot>,
    /// The virtual's `frequency_min` (Hz), for the melbank view.
    pub frequency_min: u32,
    /// The virtual's `frequency_max` (Hz).
    pub frequency_max: u32,
}

#[cfg(feature = "stage")]
impl<'a> RenderContext<'a> {
    /// A context over the full frequency range (tests and effects that ignore the range).
    pub fn full_range(
        now: std::time::Instant,
        audio: Option<&'a crate::audio::AudioSnapshot>,
    ) -> Self {
        Self {
            now,
            audio,
            frequency_min: 20,
            frequency_max: 15000,
        }
    }
}

/// A running effect instance.
#[cfg(feature = "stage")]
pub trait Effect: Send + std::fmt::Debug {
    /// Writes the next raw frame into `out` (its length is the virtual's effective pixel
    /// count, which may change between calls; effects resize their state when it does).
    fn render(&mut self, ctx: &RenderContext<'_>, out: &mut [Pixel]);

    /// Applies a new validated config to the running instance (state is kept).
    fn update_config(&mut self, config: &Value) -> Result<(), EffectConfigError>;

    /// The common keys, for post-processing.
    fn common(&self) -> &CommonConfig;

    /// Whether `render` reads audio (the engine reads shared memory only when some due
    /// effect does).
    fn uses_audio(&self) -> bool {
        false
    }
}

/// Builds an effect from its validated config.
#[cfg(feature = "stage")]
pub type EffectBuilder = fn(&Value) -> Result<Box<dyn Effect>, EffectConfigError>;

/// One registered effect.
#[derive(Debug, Clone, Copy)]
pub struct EffectEntry {
    /// Registry key (LedFx's effect id, e.g. `singleColor`).
    pub id: &'static str,
    /// Human name.
    pub name: &'static str,
    /// LedFx's category for the effect picker ("Non-Reactive", "Classic", …).
    pub category: &'static str,
    /// Whether the effect reads the virtual's frequency range (LedFx shows the range then).
    pub uses_melbank_range: bool,
    /// The effect's own keys in LedFx's order, including overridden common keys.
    pub fields: &'static [Field],
    /// Shared parameter groups (e.g. modulation).
    pub groups: &'static [&'static [Field]],
    /// Constructor.
    #[cfg(feature = "stage")]
    pub build: EffectBuilder,
}

impl EffectEntry {
    /// Every key of the effect in the order LedFx's validated config lists them: own keys,
    /// groups, then the common keys the effect does not override.
    pub fn all_fields(&self) -> impl Iterator<Item = &'static Field> + Clone {
        let own = self.fields;
        own.iter()
            .chain(self.groups.iter().flat_map(|g| g.iter()))
            .chain(self.common_not_overridden())
    }

    /// Every key in LedFx's *schema* order, which differs: the common keys the effect does
    /// not override, the groups, then its own keys (overrides included).
    pub fn schema_fields(&self) -> impl Iterator<Item = &'static Field> + Clone {
        self.common_not_overridden()
            .chain(self.groups.iter().flat_map(|g| g.iter()))
            .chain(self.fields.iter())
    }

    fn common_not_overridden(&self) -> impl Iterator<Item = &'static Field> + Clone {
        let own = self.fields;
        COMMON
            .iter()
            .filter(move |c| !own.iter().any(|o| o.key == c.key))
    }
}

/// The registry.
pub const EFFECTS: &[EffectEntry] = &[single_color::ENTRY, rainbow::ENTRY, energy::ENTRY];

/// The registry row of `effect_type`.
pub fn entry(effect_type: &str) -> Option<&'static EffectEntry> {
    EFFECTS.iter().find(|e| e.id == effect_type)
}

/// Every registered effect type.
pub fn effect_types() -> impl Iterator<Item = &'static str> {
    EFFECTS.iter().map(|e| e.id)
}

/// The human name of `effect_type` ("Single Color", "Rainbow", "Energy").
pub fn effect_name(effect_type: &str) -> Option<&'static str> {
    entry(effect_type).map(|e| e.name)
}

/// Validates an effect config the way LedFx does: defaults filled in, numbers coerced,
/// colours normalised, unknown keys kept (after the known ones). Pure; no I/O.
pub fn validate_effect_config(effect_type: &str, raw: &Value) -> Result<Value, EffectConfigError> {
    let entry = entry(effect_type)
        .ok_or_else(|| EffectConfigError::UnknownEffect(effect_type.to_owned()))?;
    validate_fields(entry.all_fields(), raw).map(Value::Object)
}

/// Builds a running effect from a config (validated here again, so a raw config works too).
#[cfg(feature = "stage")]
pub fn build_effect(effect_type: &str, raw: &Value) -> Result<Box<dyn Effect>, EffectConfigError> {
    let entry = entry(effect_type)
        .ok_or_else(|| EffectConfigError::UnknownEffect(effect_type.to_owned()))?;
    let validated = validate_fields(entry.all_fields(), raw).map(Value::Object)?;
    (entry.build)(&validated)
}

/// Decodes a validated config into an effect's typed config.
#[cfg(feature = "stage")]
pub(crate) fn decode<T: for<'de> serde::Deserialize<'de>>(
    effect: &'static str,
    config: &Value,
) -> Result<T, EffectConfigError> {
    T::deserialize(config).map_err(|e| EffectConfigError::DecodeConfig {
        effect,
        reason: e.to_string(),
    })
}

/// Seconds between the previous render (if any) and `now`, for effects that advance by
/// elapsed time.
#[cfg(feature = "stage")]
pub(crate) fn elapsed_secs(last: &mut Option<Instant>, now: Instant) -> f64 {
    let dt = last.map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64());
    *last = Some(now);
    dt
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_key_of_every_effect_is_described_for_the_schema() {
        for effect in EFFECTS {
            for field in effect.all_fields() {
                assert!(
                    !field.description.is_empty(),
                    "{}.{} has no description",
                    effect.id,
                    field.key
                );
            }
            assert!(!effect.category.is_empty(), "{} has no category", effect.id);
        }
    }

    #[test]
    fn registry_lists_the_effects_with_their_names() {
        assert_eq!(
            effect_types().collect::<Vec<_>>(),
            ["singleColor", "rainbow", "energy"]
        );
        assert_eq!(effect_name("singleColor"), Some("Single Color"));
        assert_eq!(effect_name("rainbow"), Some("Rainbow"));
        assert_eq!(effect_name("energy"), Some("Energy"));
        assert_eq!(effect_name("nope"), None);
    }

    #[test]
    fn single_color_defaults_match_ledfx_exactly() {
        // API spec §2.4 example.
        let v = validate_effect_config("singleColor", &json!({})).unwrap();
        assert_eq!(
            v.to_string(),
            r##"{"color":"#ff0000","speed":1.0,"modulate":false,"modulation_effect":"sine","modulation_speed":0.5,"blur":0.0,"flip":false,"mirror":false,"brightness":1.0,"background_color":"#000000","background_brightness":1.0,"diag":false}"##
        );
    }

    #[test]
    fn energy_overrides_common_defaults_in_place() {
        let v = validate_effect_config("energy", &Value::Null).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "blur",
                "mirror",
                "color_cycler",
                "color_lows",
                "color_mids",
                "color_high",
                "sensitivity",
                "mixing_mode",
                "flip",
                "brightness",
                "background_color",
                "background_brightness",
                "diag"
            ]
        );
        assert_eq!(v["blur"], json!(4.0));
        assert_eq!(v["mirror"], json!(true));
        assert_eq!(v["color_lows"], json!("#ff0000"));
        assert_eq!(v["sensitivity"], json!(0.6));
    }

    #[test]
    fn validation_coerces_normalises_and_keeps_unknown_keys() {
        let v = validate_effect_config(
            "singleColor",
            &json!({"active": true, "color": "blue-light", "speed": 2, "background_color": "rgb(1,2,3)"}),
        )
        .unwrap();
        assert_eq!(v["color"], json!("#4169e1"));
        assert_eq!(v["speed"], json!(2.0));
        assert!(v["speed"].is_f64());
        assert_eq!(v["background_color"], json!("#010203"));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.last(), Some(&"active"));
    }

    #[test]
    fn validation_errors_read_well() {
        let err = |t: &str, raw: Value| validate_effect_config(t, &raw).unwrap_err().to_string();
        assert_eq!(
            err("singleColor", json!({"speed": 20})),
            "speed: expected a number between 0.1 and 10, got 20"
        );
        assert_eq!(
            err("singleColor", json!({"color": "nope"})),
            r#"color: invalid color "nope""#
        );
        assert_eq!(err("x", json!({})), r#"unknown effect type "x""#);
        assert_eq!(
            err("energy", json!({"mixing_mode": "blend"})),
            r#"mixing_mode: expected one of "additive", "overlap", got "blend""#
        );
        assert_eq!(
            err("rainbow", json!({"speed": 20.5})),
            "speed: expected a number between 0.1 and 20, got 20.5"
        );
    }

    #[cfg(feature = "stage")]
    #[test]
    fn every_registered_effect_builds_from_defaults() {
        for t in effect_types() {
            let effect = build_effect(t, &Value::Null).unwrap();
            let mut out = vec![[0.0; 3]; 12];
            let ctx = RenderContext {
                now: Instant::now(),
                audio: None,
                frequency_min: 20,
                frequency_max: 15000,
            };
            let mut effect = effect;
            effect.render(&ctx, &mut out);
            assert!(out.iter().flatten().all(|c| c.is_finite()), "{t}");
        }
    }
}

//! singleColor ("Single Color", engine spec §3.2): the whole strip one colour, optionally
//! brightness-modulated ([M], §2.7).
//!
//! Deliberate difference from LedFx: LedFx runs temporal effects in their own loop at
//! `10·speed` Hz and the virtual samples whatever that loop wrote last. We render on the
//! virtual's clock instead and advance the modulation phase by elapsed time at the same rate
//! (`10·speed` loop calls per second), so the motion is smooth at the device frame rate and
//! runs at LedFx's speed.

use serde::Deserialize;

use super::common::CommonConfig;
use super::modulation::{ModulationConfig, MODULATION};
use super::EffectEntry;
use crate::color::Rgb;
use crate::schema::Field;

#[cfg(feature = "stage")]
use {
    super::modulation::Modulator,
    super::{decode, elapsed_secs, Effect, RenderContext},
    crate::schema::EffectConfigError,
    crate::Pixel,
    serde_json::Value,
};

/// Registry key.
pub const ID: &str = "singleColor";

/// Own keys in LedFx's order.
pub const FIELDS: &[Field] = &[
    Field::color("color", "#FF0000").describe("The colour to show"),
    Field::float("speed", 1.0, 0.1, 10.0).describe("Speed of the brightness modulation"),
];

/// Registry row.
pub const ENTRY: EffectEntry = EffectEntry {
    id: ID,
    name: "Single Color",
    category: "Non-Reactive",
    uses_melbank_range: false,
    fields: FIELDS,
    groups: &[MODULATION],
    #[cfg(feature = "stage")]
    build,
};

/// Typed config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SingleColorConfig {
    pub color: Rgb,
    /// Temporal loop rate multiplier (only affects the modulation speed).
    pub speed: f64,
    #[serde(flatten)]
    pub modulation: ModulationConfig,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// A running singleColor.
#[cfg(feature = "stage")]
#[derive(Debug)]
pub struct SingleColor {
    config: SingleColorConfig,
    modulator: Modulator,
    last_render: Option<std::time::Instant>,
}

#[cfg(feature = "stage")]
fn build(config: &Value) -> Result<Box<dyn Effect>, EffectConfigError> {
    Ok(Box::new(SingleColor {
        config: decode(ID, config)?,
        modulator: Modulator::default(),
        last_render: None,
    }))
}

#[cfg(feature = "stage")]
impl Effect for SingleColor {
    fn render(&mut self, ctx: &RenderContext<'_>, out: &mut [Pixel]) {
        let dt = elapsed_secs(&mut self.last_render, ctx.now);
        out.fill(self.config.color.to_pixel());
        if self.config.modulation.modulate {
            let loops = dt * 10.0 * self.config.speed;
            self.modulator.apply(&self.config.modulation, loops, out);
        }
    }

    fn update_config(&mut self, config: &Value) -> Result<(), EffectConfigError> {
        self.config = decode(ID, config)?;
        Ok(())
    }

    fn common(&self) -> &CommonConfig {
        &self.config.common
    }
}

#[cfg(all(test, feature = "stage"))]
mod tests {
    use super::*;
    use crate::effects::build_effect;
    use serde_json::json;
    use std::time::{Duration, Instant};

    fn ctx(now: Instant) -> RenderContext<'static> {
        RenderContext::full_range(now, None)
    }

    #[test]
    fn fills_the_strip_with_the_colour() {
        let mut e = build_effect(ID, &json!({"color": "#102030"})).unwrap();
        let mut out = vec![[0.0; 3]; 5];
        e.render(&ctx(Instant::now()), &mut out);
        assert!(out.iter().all(|p| *p == [16.0, 32.0, 48.0]));
    }

    #[test]
    fn sine_modulation_moves_with_time() {
        let mut e = build_effect(
            ID,
            &json!({"color": "white", "modulate": true, "modulation_speed": 1.0, "speed": 10}),
        )
        .unwrap();
        let t0 = Instant::now();
        let mut a = vec![[0.0; 3]; 8];
        e.render(&ctx(t0), &mut a);
        // Phase 0: pixel 0 is sin(π)·0.3 + 0.4 = 0.4 of white.
        assert!((a[0][0] - 0.4 * 255.0).abs() < 1e-9);
        let mut b = vec![[0.0; 3]; 8];
        e.render(&ctx(t0 + Duration::from_millis(500)), &mut b);
        assert_ne!(a, b);
        assert!(b
            .iter()
            .flatten()
            .all(|&c| (0.1 * 255.0 - 1e-9..=0.7 * 255.0 + 1e-9).contains(&c)));
    }

    #[test]
    fn config_updates_apply_in_place() {
        let mut e = build_effect(ID, &Value::Null).unwrap();
        let cfg = crate::effects::validate_effect_config(ID, &json!({"color": "blue"})).unwrap();
        e.update_config(&cfg).unwrap();
        let mut out = vec![[0.0; 3]; 2];
        e.render(&ctx(Instant::now()), &mut out);
        assert_eq!(out[1], [0.0, 0.0, 255.0]);
    }
}

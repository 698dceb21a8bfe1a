//! rainbow ("Rainbow", engine spec §3.2): a scrolling HSV rainbow, saturation 0.95.
//!
//! Pixel i shows hue `H + i·frequency/N` (HSV→RGB, s 0.95, v 1, ×255). Deliberate difference
//! from LedFx: LedFx advances `H` by 0.01 per temporal loop call at `10·speed` Hz, so the
//! rainbow steps at 10·speed fps whatever the device rate. We advance `H` continuously by
//! elapsed time at the same speed (0.1·speed per second, starting at 0.1), so it animates
//! smoothly at the virtual's frame rate; at speed 1 a full cycle still takes 10 s.

use serde::Deserialize;

use super::common::CommonConfig;
use super::EffectEntry;
use crate::schema::Field;

#[cfg(feature = "stage")]
use {
    super::{decode, elapsed_secs, Effect, RenderContext},
    crate::color::hsv_to_rgb,
    crate::schema::EffectConfigError,
    crate::Pixel,
    serde_json::Value,
};

/// Registry key.
pub const ID: &str = "rainbow";

/// Own keys in LedFx's order.
pub const FIELDS: &[Field] = &[
    Field::float("speed", 1.0, 0.1, 20.0).describe("How fast the colours move along the strip"),
    Field::float("frequency", 1.0, 0.1, 64.0).describe("How many rainbows fit on the strip"),
];

/// Registry row.
pub const ENTRY: EffectEntry = EffectEntry {
    id: ID,
    name: "Rainbow",
    category: "Non-Reactive",
    uses_melbank_range: false,
    fields: FIELDS,
    groups: &[],
    #[cfg(feature = "stage")]
    build,
};

/// Hue of pixel 0 on the first frame.
#[cfg(feature = "stage")]
pub const START_HUE: f64 = 0.1;
/// Saturation LedFx uses.
#[cfg(feature = "stage")]
pub const SATURATION: f64 = 0.95;

/// Typed config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RainbowConfig {
    /// Hue cycles per 10 s.
    pub speed: f64,
    /// Rainbows across the strip.
    pub frequency: f64,
    #[serde(flatten)]
    pub common: CommonConfig,
}

/// A running rainbow.
#[cfg(feature = "stage")]
#[derive(Debug)]
pub struct Rainbow {
    config: RainbowConfig,
    /// Hue of pixel 0, kept in `[0, 1)`.
    hue: f64,
    last_render: Option<std::time::Instant>,
}

#[cfg(feature = "stage")]
fn build(config: &Value) -> Result<Box<dyn Effect>, EffectConfigError> {
    Ok(Box::new(Rainbow {
        config: decode(ID, config)?,
        hue: START_HUE,
        last_render: None,
    }))
}

/// The rainbow frame for pixel-0 hue `hue` (shared with tests that check published frames).
#[cfg(feature = "stage")]
pub fn rainbow_pixel(hue: f64, i: usize, n: usize, frequency: f64) -> Pixel {
    let h = hue + i as f64 * frequency / n as f64;
    hsv_to_rgb(h, SATURATION, 1.0).map(|c| c * 255.0)
}

#[cfg(feature = "stage")]
impl Effect for Rainbow {
    fn render(&mut self, ctx: &RenderContext<'_>, out: &mut [Pixel]) {
        let dt = elapsed_secs(&mut self.last_render, ctx.now);
        self.hue = (self.hue + 0.1 * self.config.speed * dt).rem_euclid(1.0);
        let n = out.len();
        for (i, px) in out.iter_mut().enumerate() {
            *px = rainbow_pixel(self.hue, i, n, self.config.frequency);
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

    fn close(a: Pixel, b: Pixel) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
    }

    #[test]
    fn first_frame_starts_at_hue_point_one() {
        let mut e = build_effect(ID, &json!({})).unwrap();
        let mut out = vec![[0.0; 3]; 10];
        e.render(&ctx(Instant::now()), &mut out);
        // h 0.1: sector 0, f 0.6 → (1, 1 − 0.95·0.4, 0.05).
        assert!(close(out[0], [255.0, 0.62 * 255.0, 12.75]));
        // Pixel 9: h 0.1 + 0.9 = 1 ≡ 0 → golden (255, 12.75, 12.75).
        assert!(close(out[9], [255.0, 12.75, 12.75]));
        // Pixel 4: h 0.5 → golden (12.75, 255, 255).
        assert!(close(out[4], [12.75, 255.0, 255.0]));
    }

    #[test]
    fn hue_advances_a_tenth_of_speed_per_second() {
        let mut e = build_effect(ID, &json!({"speed": 2.0, "frequency": 2.0})).unwrap();
        let t0 = Instant::now();
        let mut out = vec![[0.0; 3]; 6];
        e.render(&ctx(t0), &mut out);
        e.render(&ctx(t0 + Duration::from_millis(1500)), &mut out);
        // H = 0.1 + 0.1·2·1.5 = 0.4; pixel 3 adds 3·2/6 = 1 → 0.4 again.
        for (i, px) in out.iter().enumerate() {
            assert!(close(*px, rainbow_pixel(0.4, i, 6, 2.0)), "pixel {i}");
        }
        assert!(close(out[3], out[0]));
    }
}

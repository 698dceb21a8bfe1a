//! Brightness modulation ([M] in engine spec §2.2/§2.7), used by singleColor (and later by
//! gradient and scan).
//!
//! LedFx advances the modulation phase once per temporal loop call, i.e. `10·speed` times a
//! second. We advance it by elapsed time at the same rate (a fractional number of "loop calls"
//! per rendered frame), so the modulation is smooth at the device frame rate and runs at
//! LedFx's speed.

use serde::Deserialize;

use crate::schema::Field;
#[cfg(feature = "stage")]
use crate::Pixel;

/// The modulation keys in LedFx's order.
pub const MODULATION: &[Field] = &[
    Field::bool("modulate", false).describe("Vary the brightness over time"),
    Field::choice("modulation_effect", "sine", &["sine", "breath"])
        .describe("Shape of the brightness variation"),
    Field::float("modulation_speed", 0.5, 0.01, 1.0).describe("How fast the brightness varies"),
];

/// Typed modulation keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModulationConfig {
    pub modulate: bool,
    pub modulation_effect: ModulationEffect,
    pub modulation_speed: f64,
}

/// The two modulation shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModulationEffect {
    /// A slow travelling brightness wave (multiplier 0.1..0.7).
    Sine,
    /// A bar that grows and shrinks (pixels past the bar go black).
    Breath,
}

/// Entries of LedFx's breath table.
#[cfg(feature = "stage")]
const BREATH_LEN: usize = 540;
/// Entries of the breath table that rise (the rest decay).
#[cfg(feature = "stage")]
const BREATH_RISE: usize = 180;

/// Entry `i` of the breath table: `x = 9·i/539`, rising `0.4·sin(x − π/2) + 0.6` for the first
/// 180 entries, then decaying `exp(3 − x) + 0.2`.
#[cfg(feature = "stage")]
fn breath_level(i: usize) -> f64 {
    let x = 9.0 * i as f64 / (BREATH_LEN - 1) as f64;
    if i < BREATH_RISE {
        0.4 * (x - std::f64::consts::FRAC_PI_2).sin() + 0.6
    } else {
        (3.0 - x).exp() + 0.2
    }
}

/// Modulation phase of one effect instance.
#[cfg(feature = "stage")]
#[derive(Debug, Clone, Default)]
pub struct Modulator {
    phase: f64,
}

#[cfg(feature = "stage")]
impl Modulator {
    /// Advances the phase by `loops` LedFx loop calls (fractional) and applies the modulation
    /// to `frame` in place.
    pub fn apply(&mut self, config: &ModulationConfig, loops: f64, frame: &mut [Pixel]) {
        match config.modulation_effect {
            ModulationEffect::Sine => {
                let two_pi = std::f64::consts::TAU;
                self.phase = (self.phase
                    + loops * 0.1 * config.modulation_speed / std::f64::consts::PI)
                    .rem_euclid(two_pi);
                apply_sine(self.phase, frame);
            }
            ModulationEffect::Breath => {
                self.phase = (self.phase + loops * config.modulation_speed)
                    .rem_euclid((BREATH_LEN - 1) as f64);
                apply_breath(self.phase, frame);
            }
        }
    }
}

/// Multiplies pixel i by `0.3·sin(v_i) + 0.4` with `v = linspace(c + π, c, N)`.
#[cfg(feature = "stage")]
fn apply_sine(c: f64, frame: &mut [Pixel]) {
    let n = frame.len();
    let pi = std::f64::consts::PI;
    for (i, px) in frame.iter_mut().enumerate() {
        let v = if n > 1 {
            c + pi * (1.0 - i as f64 / (n - 1) as f64)
        } else {
            c + pi
        };
        let m = 0.3 * v.sin() + 0.4;
        px.iter_mut().for_each(|ch| *ch *= m);
    }
}

/// Blacks out the pixels from `int(B[int(c)]·N)` to the end.
#[cfg(feature = "stage")]
fn apply_breath(c: f64, frame: &mut [Pixel]) {
    let n = frame.len();
    let level = breath_level((c as usize).min(BREATH_LEN - 1));
    let from = ((level * n as f64) as usize).min(n);
    frame[from..].iter_mut().for_each(|px| *px = [0.0; 3]);
}

#[cfg(all(test, feature = "stage"))]
mod tests {
    use super::*;

    fn config(effect: ModulationEffect) -> ModulationConfig {
        ModulationConfig {
            modulate: true,
            modulation_effect: effect,
            modulation_speed: 0.5,
        }
    }

    #[test]
    fn breath_table_rises_then_decays() {
        assert!((breath_level(0) - 0.2).abs() < 1e-12);
        assert!(breath_level(179) > 0.99 && breath_level(179) < 1.0);
        // Just after the peak the decaying half starts above 1 (nothing is blacked out).
        assert!(breath_level(180) > 1.0);
        assert!((breath_level(539) - ((3.0f64 - 9.0).exp() + 0.2)).abs() < 1e-12);
    }

    #[test]
    fn sine_at_phase_zero_is_a_half_wave_from_dark_to_mid() {
        let mut frame = vec![[100.0; 3]; 3];
        Modulator::default().apply(&config(ModulationEffect::Sine), 0.0, &mut frame);
        // v = [π, π/2, 0] → multipliers 0.4, 0.7, 0.4.
        let expected = [40.0, 70.0, 40.0];
        for (px, e) in frame.iter().zip(expected) {
            assert!((px[0] - e).abs() < 1e-9, "{frame:?}");
        }
    }

    #[test]
    fn sine_phase_advances_at_ledfx_rate_and_wraps() {
        let mut m = Modulator::default();
        let mut frame = vec![[1.0; 3]; 4];
        // 10 loops of 0.1·0.5/π each.
        m.apply(&config(ModulationEffect::Sine), 10.0, &mut frame);
        assert!((m.phase - 0.5 / std::f64::consts::PI).abs() < 1e-12);
        m.apply(&config(ModulationEffect::Sine), 1e6, &mut frame);
        assert!(m.phase < std::f64::consts::TAU);
    }

    #[test]
    fn breath_blacks_out_the_tail() {
        let mut frame = vec![[10.0; 3]; 10];
        // Phase 0: level 0.4·sin(−π/2) + 0.6 = 0.19999999999999996 in floats (as in numpy),
        // so int(level·10) = 1 and pixels 1.. go black.
        Modulator::default().apply(&config(ModulationEffect::Breath), 0.0, &mut frame);
        assert_eq!(frame[0], [10.0; 3]);
        assert!(frame[1..].iter().all(|p| *p == [0.0; 3]));
        // Later in the rise the bar is longer.
        let mut frame = vec![[10.0; 3]; 10];
        let mut m = Modulator::default();
        m.apply(&config(ModulationEffect::Breath), 200.0, &mut frame);
        assert!(frame[..5].iter().all(|p| *p == [10.0; 3]));
    }
}

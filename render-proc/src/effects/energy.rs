//! energy ("Energy", engine spec §3.2): three bars from the start of the strip whose lengths
//! follow the mean lows/mids/highs of the virtual's melbank view, coloured per band and
//! smoothed by an ExpFilter. With the default mirror and blur it is a symmetric pulse from the
//! centre.
//!
//! LedFx computes the bar lengths on the audio thread and filters on the render thread; we do
//! both per render from the newest analysis frame. When there is no fresh audio (audio-proc
//! dead or stale, see `crate::audio`) the bars are empty and the filter decays to black.
//! The volume beat that drives the colour cycler is counted once per analysis frame.
//!
//! Defaults are LedFx's (§3.1 catalogue). The cycler picks from LedFx's built-in colour table
//! (ledfx-rs has no user colours in the pipeline state yet), leaving out black so a band never
//! disappears.

use serde::Deserialize;

use super::common::CommonConfig;
use super::EffectEntry;
use crate::color::Rgb;
use crate::schema::Field;

#[cfg(feature = "stage")]
use {
    super::{decode, Effect, RenderContext},
    crate::audio::{thirds_means, MelbankRange},
    crate::color::{parse_color, LEDFX_COLORS},
    crate::exp_filter::ExpFilter,
    crate::rng::SplitMix64,
    crate::schema::EffectConfigError,
    crate::Pixel,
    serde_json::Value,
};

/// Registry key.
pub const ID: &str = "energy";

/// Own keys (including the overridden common `blur` and `mirror`) in LedFx's order.
pub const FIELDS: &[Field] = &[
    Field::float("blur", 4.0, 0.0, 10.0).describe(super::common::BLUR),
    Field::bool("mirror", true).describe(super::common::MIRROR),
    Field::bool("color_cycler", false).describe("Pick new colours on every beat"),
    Field::color("color_lows", "#FF0000").describe("Colour of the bass"),
    Field::color("color_mids", "#00FF00").describe("Colour of the mid range"),
    Field::color("color_high", "#0000FF").describe("Colour of the highs"),
    Field::float("sensitivity", 0.6, 0.3, 0.99).describe("How quickly the bars follow the sound"),
    Field::choice("mixing_mode", "additive", &["additive", "overlap"])
        .describe("How the three bands' colours combine where they meet"),
];

/// Registry row.
pub const ENTRY: EffectEntry = EffectEntry {
    id: ID,
    name: "Energy",
    category: "Classic",
    uses_melbank_range: true,
    fields: FIELDS,
    groups: &[],
    #[cfg(feature = "stage")]
    build,
};

/// How overlapping bars combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MixingMode {
    /// Overlaps add up (white where all three bars are).
    Additive,
    /// Later bands overwrite earlier ones (lows, then mids, then highs).
    Overlap,
}

/// Typed config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EnergyConfig {
    pub color_cycler: bool,
    pub color_lows: Rgb,
    pub color_mids: Rgb,
    pub color_high: Rgb,
    pub sensitivity: f64,
    pub mixing_mode: MixingMode,
    #[serde(flatten)]
    pub common: CommonConfig,
}

#[cfg(feature = "stage")]
impl EnergyConfig {
    /// `ExpFilter(decay = (sensitivity − 0.1)·0.7, rise = sensitivity)`.
    fn filter_weights(&self) -> (f64, f64) {
        ((self.sensitivity - 0.1) * 0.7, self.sensitivity)
    }
}

/// A running energy effect.
#[cfg(feature = "stage")]
#[derive(Debug)]
pub struct Energy {
    config: EnergyConfig,
    /// Current lows/mids/highs colours (the cycler replaces them).
    colors: [Pixel; 3],
    /// Which band the next beat recolours.
    cycle: usize,
    filter: ExpFilter,
    /// Analysis frame whose beat was already counted.
    last_frame_no: u64,
    rng: SplitMix64,
}

#[cfg(feature = "stage")]
fn build(config: &Value) -> Result<Box<dyn Effect>, EffectConfigError> {
    let config: EnergyConfig = decode(ID, config)?;
    let (decay, rise) = config.filter_weights();
    Ok(Box::new(Energy {
        colors: band_colors(&config),
        config,
        cycle: 0,
        filter: ExpFilter::new(decay, rise),
        last_frame_no: 0,
        rng: SplitMix64::from_clock(),
    }))
}

#[cfg(feature = "stage")]
fn band_colors(config: &EnergyConfig) -> [Pixel; 3] {
    [config.color_lows, config.color_mids, config.color_high].map(Rgb::to_pixel)
}

#[cfg(feature = "stage")]
impl Energy {
    /// A random non-black colour from LedFx's built-in table (no allocation).
    fn random_color(&mut self) -> Pixel {
        let visible = || LEDFX_COLORS.iter().filter(|(name, _)| *name != "black");
        let pick = visible()
            .nth(self.rng.below(visible().count()))
            .map_or("#ffffff", |(_, hex)| *hex);
        parse_color(pick).unwrap_or(Rgb([255, 255, 255])).to_pixel()
    }
}

#[cfg(feature = "stage")]
impl Effect for Energy {
    fn render(&mut self, ctx: &RenderContext<'_>, out: &mut [Pixel]) {
        let n = out.len();
        let mut lengths = [0usize; 3];
        let mut beat = false;
        if let Some(snap) = ctx.audio {
            let range = MelbankRange::select(&snap.frame, ctx.frequency_min, ctx.frequency_max);
            let means = thirds_means(range.bins(&snap.frame, false));
            let mult = 1.6 - self.config.common.blur / 17.0;
            for (len, mean) in lengths.iter_mut().zip(means) {
                // Python int(): truncation; slices clamp at the strip's end.
                *len = ((mult * n as f64 * mean).max(0.0) as usize).min(n);
            }
            beat = snap.frame_no != self.last_frame_no && snap.frame.volume_beat != 0;
            self.last_frame_no = snap.frame_no;
        }
        if self.config.color_cycler && beat {
            self.colors[self.cycle] = self.random_color();
            self.cycle = (self.cycle + 1) % 3;
        }
        out.fill([0.0; 3]);
        for (band, &len) in lengths.iter().enumerate() {
            let color = self.colors[band];
            for px in &mut out[..len] {
                match self.config.mixing_mode {
                    MixingMode::Additive => {
                        for (ch, c) in px.iter_mut().zip(color) {
                            *ch += c;
                        }
                    }
                    MixingMode::Overlap => *px = color,
                }
            }
        }
        self.filter.update(out.as_flattened_mut());
    }

    fn update_config(&mut self, config: &Value) -> Result<(), EffectConfigError> {
        let config: EnergyConfig = decode(ID, config)?;
        (self.filter.decay, self.filter.rise) = config.filter_weights();
        self.colors = band_colors(&config);
        self.config = config;
        Ok(())
    }

    fn common(&self) -> &CommonConfig {
        &self.config.common
    }

    fn uses_audio(&self) -> bool {
        true
    }
}

#[cfg(all(test, feature = "stage"))]
mod tests {
    use super::*;
    use crate::audio::AudioSnapshot;
    use crate::effects::build_effect;
    use proto::audio::AudioFrame;
    use serde_json::json;
    use std::time::Instant;

    /// A frame whose unfiltered melbank has `lows`, `mids`, `highs` in its thirds (L = 20:
    /// bins 0–3, 4–9, 10–19).
    fn snapshot(levels: [f32; 3], beat: bool, frame_no: u64) -> AudioSnapshot {
        let mut f = AudioFrame::silent();
        f.mel_samples = 20;
        for bank in 0..3 {
            f.mel[bank][..4].fill(levels[0]);
            f.mel[bank][4..10].fill(levels[1]);
            f.mel[bank][10..20].fill(levels[2]);
        }
        f.volume_beat = u32::from(beat);
        AudioSnapshot { frame: f, frame_no }
    }

    fn ctx(audio: Option<&AudioSnapshot>) -> RenderContext<'_> {
        RenderContext::full_range(Instant::now(), audio)
    }

    fn plain() -> Box<dyn Effect> {
        // No blur (mult = 1.6) and no mirror, so the bars can be checked pixel by pixel.
        build_effect(ID, &json!({"blur": 0, "mirror": false})).unwrap()
    }

    #[test]
    fn bars_follow_the_thirds_and_add_up() {
        let mut e = plain();
        let mut out = vec![[0.0; 3]; 10];
        // Lengths: int(1.6·10·0.5) = 8, int(1.6·10·0.25) = 4, int(1.6·10·0.125) = 2.
        let snap = snapshot([0.5, 0.25, 0.125], false, 1);
        e.render(&ctx(Some(&snap)), &mut out);
        assert_eq!(out[0], [255.0, 255.0, 255.0]);
        assert_eq!(out[2], [255.0, 255.0, 0.0]);
        assert_eq!(out[5], [255.0, 0.0, 0.0]);
        assert_eq!(out[8], [0.0, 0.0, 0.0]);
    }

    #[test]
    fn overlap_mode_lets_later_bands_win() {
        let mut e = build_effect(
            ID,
            &json!({"blur": 0, "mirror": false, "mixing_mode": "overlap"}),
        )
        .unwrap();
        let mut out = vec![[0.0; 3]; 10];
        e.render(
            &ctx(Some(&snapshot([0.5, 0.25, 0.125], false, 1))),
            &mut out,
        );
        assert_eq!(out[0], [0.0, 0.0, 255.0]);
        assert_eq!(out[3], [0.0, 255.0, 0.0]);
        assert_eq!(out[6], [255.0, 0.0, 0.0]);
    }

    #[test]
    fn silence_decays_with_the_filter_weights() {
        let mut e = plain();
        let mut out = vec![[0.0; 3]; 10];
        e.render(&ctx(Some(&snapshot([1.0, 0.0, 0.0], false, 1))), &mut out);
        assert_eq!(out[0][0], 255.0);
        // Default sensitivity 0.6: decay weight 0.35, so each silent frame keeps 65 %.
        e.render(&ctx(None), &mut out);
        assert!((out[0][0] - 0.65 * 255.0).abs() < 1e-9);
        for _ in 0..40 {
            e.render(&ctx(None), &mut out);
        }
        assert!(out.iter().flatten().all(|&c| c < 1.0));
    }

    #[test]
    fn the_cycler_recolours_one_band_per_beat_once_per_analysis_frame() {
        let mut e = build_effect(
            ID,
            &json!({"blur": 0, "mirror": false, "color_cycler": true, "color_lows": "black"}),
        )
        .unwrap();
        let mut out = vec![[0.0; 3]; 10];
        let beat = snapshot([1.0, 0.0, 0.0], true, 7);
        e.render(&ctx(Some(&beat)), &mut out);
        // Lows were black; the beat gave them a visible colour.
        assert_ne!(out[0], [0.0; 3]);
        let first = out[0];
        // The same analysis frame again is not a new beat: band 1 is untouched, lows stay.
        e.render(&ctx(Some(&beat)), &mut out);
        assert_eq!(out[0], first);
    }

    #[test]
    fn sensitivity_update_keeps_the_filter_state() {
        let mut e = plain();
        let mut out = vec![[0.0; 3]; 4];
        e.render(&ctx(Some(&snapshot([1.0, 0.0, 0.0], false, 1))), &mut out);
        let cfg = crate::effects::validate_effect_config(
            ID,
            &json!({"blur": 0, "mirror": false, "sensitivity": 0.3}),
        )
        .unwrap();
        e.update_config(&cfg).unwrap();
        e.render(&ctx(None), &mut out);
        // decay weight (0.3 − 0.1)·0.7 = 0.14 → keeps 86 %.
        assert!((out[0][0] - 0.86 * 255.0).abs() < 1e-9);
    }
}

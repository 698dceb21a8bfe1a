//! Streaming conversion of mono samples at any capture rate into exact 500-sample hops at
//! 30 kHz.
//!
//! LedFx resamples every capture block with libsamplerate and *discards* blocks that do not
//! come out at exactly 500 samples; the engine spec (§1.2) asks a port to keep a FIFO and emit
//! exact hops instead, which is what [`HopStream`] does. The resampler is linear
//! interpolation behind a second-order low-pass at 13.5 kHz (when downsampling), which keeps
//! the worst aliasing out of the top melbank bins — good enough for analysis, and cheap.

use crate::analysis::HOP;
use crate::filter::{Biquad, BiquadCoeffs};
use crate::melbank::ANALYSIS_RATE;

/// Anti-alias cut-off used when the input rate is above the analysis rate, Hz.
const ANTI_ALIAS_HZ: f64 = 13_500.0;

/// Linear-interpolation resampler from `in_rate` to [`ANALYSIS_RATE`], streaming.
#[derive(Debug, Clone)]
pub struct Resampler {
    in_rate: u32,
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample, in input samples after `prev`.
    pos: f64,
    prev: Option<f32>,
    anti_alias: Option<Biquad>,
}

impl Resampler {
    /// A resampler for input at `in_rate` Hz (0 is treated as the analysis rate).
    pub fn new(in_rate: u32) -> Self {
        let in_rate = if in_rate == 0 { ANALYSIS_RATE } else { in_rate };
        let anti_alias = (in_rate > ANALYSIS_RATE)
            .then(|| BiquadCoeffs::low_pass(ANTI_ALIAS_HZ, f64::from(in_rate)).ok())
            .flatten()
            .map(Biquad::new);
        Self {
            in_rate,
            step: f64::from(in_rate) / f64::from(ANALYSIS_RATE),
            pos: 0.0,
            prev: None,
            anti_alias,
        }
    }

    /// The input rate, Hz.
    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    /// Resamples `input`, calling `out` for every output sample with the index in `input` of
    /// the newest input sample it depends on.
    pub fn process(&mut self, input: &[f32], mut out: impl FnMut(f32, usize)) {
        if self.in_rate == ANALYSIS_RATE {
            input.iter().enumerate().for_each(|(i, &x)| out(x, i));
            return;
        }
        for (i, &x) in input.iter().enumerate() {
            let x = match &mut self.anti_alias {
                Some(lp) => lp.process(x),
                None => x,
            };
            let Some(prev) = self.prev else {
                self.prev = Some(x);
                continue;
            };
            // Emit every output instant that falls between `prev` (0) and `x` (1).
            while self.pos < 1.0 {
                out(prev + (x - prev) * self.pos as f32, i);
                self.pos += self.step;
            }
            self.pos -= 1.0;
            self.prev = Some(x);
        }
    }
}

/// Resampler plus a FIFO that hands out exact [`HOP`]-sample hops.
#[derive(Debug, Clone)]
pub struct HopStream {
    resampler: Resampler,
    hop: [f32; HOP],
    fill: usize,
}

impl HopStream {
    /// A stream for input at `in_rate` Hz.
    pub fn new(in_rate: u32) -> Self {
        Self {
            resampler: Resampler::new(in_rate),
            hop: [0.0; HOP],
            fill: 0,
        }
    }

    /// Switches to a new input rate (a new capture stream); samples already in the FIFO stay.
    pub fn set_rate(&mut self, in_rate: u32) {
        self.resampler = Resampler::new(in_rate);
    }

    /// The current input rate, Hz.
    pub fn in_rate(&self) -> u32 {
        self.resampler.in_rate()
    }

    /// Drops a partly filled hop (after a gap, so stale samples do not join fresh ones).
    pub fn clear(&mut self) {
        self.fill = 0;
    }

    /// Feeds input samples; `on_hop` runs once for every completed hop.
    pub fn push(&mut self, input: &[f32], mut on_hop: impl FnMut(&[f32; HOP])) {
        self.push_counted(input, |hop, _| on_hop(hop));
    }

    /// [`push`](Self::push), also telling `on_hop` how many samples of `input` the hop
    /// needed (the index of its newest input sample, plus one).
    pub fn push_counted(&mut self, input: &[f32], mut on_hop: impl FnMut(&[f32; HOP], usize)) {
        let hop = &mut self.hop;
        let fill = &mut self.fill;
        self.resampler.process(input, |s, i| {
            hop[*fill] = s;
            *fill += 1;
            if *fill == HOP {
                *fill = 0;
                on_hop(hop, i + 1);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|n| (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    fn collect(rate: u32, input: &[f32], chunk: usize) -> Vec<f32> {
        let mut s = HopStream::new(rate);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            s.push(c, |hop| out.extend_from_slice(hop));
        }
        out
    }

    #[test]
    fn hops_say_how_much_input_they_needed() {
        let mut s = HopStream::new(30_000);
        let mut needed = Vec::new();
        s.push_counted(&[0.0; 1200], |_, n| needed.push(n));
        assert_eq!(needed, vec![500, 1000]);
        let mut s = HopStream::new(60_000);
        let mut needed = Vec::new();
        s.push_counted(&[0.0; 2100], |_, n| needed.push(n));
        // Twice the rate: a hop needs about 1000 input samples.
        assert_eq!(needed.len(), 2);
        assert!((999..=1002).contains(&needed[0]), "{needed:?}");
        assert!((1999..=2002).contains(&needed[1]), "{needed:?}");
    }

    #[test]
    fn thirty_khz_passes_through_in_exact_hops() {
        let input: Vec<f32> = (0..1750).map(|i| i as f32).collect();
        let out = collect(30_000, &input, 333);
        assert_eq!(out.len(), 1500);
        assert_eq!(out, input[..1500]);
    }

    #[test]
    fn output_count_follows_the_rate_ratio_whatever_the_block_size() {
        for (rate, chunk) in [(44_100, 735), (48_000, 800), (44_100, 17), (16_000, 100)] {
            let input = vec![0.1; rate as usize * 2];
            let out = collect(rate, &input, chunk);
            // Two seconds in → 60 000 samples out, to within one hop.
            assert!(
                (59_500..=60_000).contains(&out.len()),
                "{rate}: {}",
                out.len()
            );
            assert_eq!(out.len() % HOP, 0);
        }
    }

    #[test]
    fn a_tone_keeps_its_frequency_and_level() {
        let input = sine(44_100, 1000.0, 44_100);
        let out = collect(44_100, &input, 735);
        let tail = &out[3000..];
        // Count rising zero crossings: 1 kHz at 30 kHz is one per 30 samples.
        let crossings = tail
            .windows(2)
            .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
            .count();
        let expected = tail.len() as f64 * 1000.0 / 30_000.0;
        assert!(
            (crossings as f64 - expected).abs() <= 2.0,
            "{crossings} vs {expected}"
        );
        let peak = tail.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((peak - 1.0).abs() < 0.05, "{peak}");
    }

    #[test]
    fn content_above_the_new_nyquist_is_attenuated() {
        // 20 kHz at 48 kHz would alias to 10 kHz at 30 kHz.
        let input = sine(48_000, 20_000.0, 48_000);
        let out = collect(48_000, &input, 480);
        let tail = &out[3000..];
        let rms = (tail.iter().map(|v| v * v).sum::<f32>() / tail.len() as f32).sqrt();
        assert!(rms < 0.2, "alias rms {rms}");
    }
}

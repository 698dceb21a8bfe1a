//! Onset detection as LedFx gets it from aubio's `onset("hfc", 4096, 500, 30000)` (engine spec
//! §1.8), written from aubio's documented algorithm:
//!
//! 1. its own phase vocoder on the raw (not pre-emphasised, not gated) hop: 4096-sample
//!    window, periodic Hann, unnormalised magnitudes;
//! 2. log compression `ln(1 + λ·|X|)` with λ = 1;
//! 3. the high-frequency-content function `Σ (k+1)·|X_k|`;
//! 4. the peak picker: the last 7 values (5 before, 1 after the one judged) are smoothed
//!    forwards and backwards by a low-pass filter; the judged value minus the window's median
//!    minus `threshold` (0.058) × its mean is kept in a 3-value history, whose middle is an
//!    onset when it is a positive local maximum. The filter is meant to be the biquad
//!    `b = [0.16, 0.32, 0.16], a = [1, −0.5949, 0.2348]`, but the aubio LedFx ships stores
//!    the second feedback coefficient over the first, so what runs is
//!    `y = 0.16·x + 0.32·x₁ + 0.16·x₂ − 0.2348·y₁`. That is reproduced here: it is what
//!    LedFx 2.2.1's thresholded detection values (read through aubio's Python API) equal;
//!    the intended filter puts every onset one hop earlier;
//! 5. an onset in a hop below −70 dB SPL is dropped, and one closer than 50 ms to the last
//!    is dropped; at the very start (the first 4.3 hops) the first non-silent hop counts as
//!    an onset.
//!
//! The output is "an onset was detected on this hop", which is all LedFx reads. Checked
//! against LedFx 2.2.1's recorded onsets in `tests/ledfx_fidelity.rs`.

use crate::analysis::{db_spl, HOP};
use crate::spectrum::Vocoder;

/// aubio's hfc peak-picking threshold.
const THRESHOLD: f32 = 0.058;
/// Log-magnitude compression factor.
const LAMBDA: f32 = 1.0;
/// Values after and before the judged one in the peak picker's window.
const WIN_POST: usize = 5;
const WIN_PRE: usize = 1;
const WINDOW: usize = WIN_POST + WIN_PRE + 1;
/// Silence gate, dB SPL.
const SILENCE_DB: f32 = -70.0;
/// Least distance between onsets, samples (50 ms at 30 kHz).
const MIN_IOI: u64 = 1500;
/// aubio's detection delay, samples (4.3 hops).
const DELAY: u64 = (4.3 * HOP as f64) as u64;
/// The peak picker's smoothing filter as it runs in LedFx's aubio (module docs): feed-forward
/// `B`, one feedback coefficient `A1` on the previous output.
const B: [f64; 3] = [0.159_987_89, 0.319_975_77, 0.159_987_89];
const A1: f64 = 0.234_840_48;

/// Runs the smoothing filter over `x` in place from a reset state (in double precision, as
/// aubio's filters do).
fn smooth(x: &mut [f32]) {
    let (mut x1, mut x2, mut y1) = (0.0f64, 0.0f64, 0.0f64);
    for v in x.iter_mut() {
        let input = f64::from(*v);
        let y = B[0] * input + B[1] * x1 + B[2] * x2 - A1 * y1;
        x2 = x1;
        x1 = input;
        y1 = y;
        *v = y as f32;
    }
}

fn median(values: &mut [f32]) -> f32 {
    values.sort_by(f32::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    }
}

/// aubio's peak picker over the detection function.
#[derive(Debug, Clone, Default)]
struct PeakPicker {
    /// The last [`WINDOW`] detection values, oldest first.
    keep: [f32; WINDOW],
    /// The last three thresholded values.
    peek: [f32; 3],
}

impl PeakPicker {
    /// Takes the next detection value; whether the value judged now is a peak.
    fn push(&mut self, value: f32) -> bool {
        self.keep.rotate_left(1);
        self.keep[WINDOW - 1] = value;
        // Smooth forwards, then backwards (aubio's filtfilt, state reset for each pass).
        let mut proc = self.keep;
        smooth(&mut proc);
        proc.reverse();
        smooth(&mut proc);
        proc.reverse();
        let mean = proc.iter().sum::<f32>() / WINDOW as f32;
        let mut sorted = proc;
        let median = median(&mut sorted);
        self.peek.rotate_left(1);
        self.peek[2] = proc[WIN_POST] - median - mean * THRESHOLD;
        let [before, now, after] = self.peek;
        now > before && now > after && now > 0.0
    }
}

/// The detector's state.
pub struct Onset {
    vocoder: Vocoder,
    picker: PeakPicker,
    /// Samples analysed before this hop.
    total: u64,
    /// Sample position of the last accepted onset (0: none yet).
    last_onset: u64,
}

impl std::fmt::Debug for Onset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Onset")
            .field("total", &self.total)
            .field("last_onset", &self.last_onset)
            .finish()
    }
}

impl Default for Onset {
    fn default() -> Self {
        Self::new()
    }
}

impl Onset {
    pub fn new() -> Self {
        Self {
            vocoder: Vocoder::new(),
            picker: PeakPicker::default(),
            total: 0,
            last_onset: 0,
        }
    }

    /// Analyses one raw hop; whether it holds an onset.
    pub fn process(&mut self, hop: &[f32; HOP]) -> bool {
        let hfc: f32 = self
            .vocoder
            .push(hop)
            .iter()
            .enumerate()
            .map(|(k, &m)| (k + 1) as f32 * (LAMBDA * m).ln_1p())
            .sum();
        let peak = self.picker.push(hfc);
        let silent = db_spl(hop) < SILENCE_DB;
        let now = self.total;
        self.total += HOP as u64;
        if peak {
            if silent {
                return false;
            }
            // The judged value is one hop back; aubio rounds its sub-hop peak position to the
            // hop itself (the picker's peak is the middle of three).
            let new_onset = now + HOP as u64;
            if self.last_onset + MIN_IOI < new_onset {
                if self.last_onset > 0 && DELAY > new_onset {
                    return false;
                }
                self.last_onset = DELAY.max(new_onset);
                return true;
            }
            return false;
        }
        // At the start, the first sound counts as an onset.
        if now <= DELAY && !silent && (now == 0 || self.last_onset + MIN_IOI < now) {
            self.last_onset = now + DELAY;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_picker_fires_once_on_an_isolated_spike() {
        let mut p = PeakPicker::default();
        let fired: Vec<bool> = [0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
            .iter()
            .map(|&v| p.push(v))
            .collect();
        assert_eq!(fired.iter().filter(|&&f| f).count(), 1, "{fired:?}");
    }

    #[test]
    fn silence_has_no_onsets_and_each_burst_has_one() {
        let mut o = Onset::new();
        let silence = [0.0f32; HOP];
        assert!((0..60).all(|_| !o.process(&silence)));
        // A decaying noise burst every half second (30 hops), 8 of them. (A lone click is
        // no onset: the detection peaks a few hops later, when the input is already silent,
        // and aubio drops onsets in silent hops.)
        let mut seed = 1u32;
        let mut noise = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        let mut fired = Vec::new();
        for i in 0..240usize {
            let mut hop = [0.0f32; HOP];
            let into_burst = i % 30;
            if into_burst < 6 {
                for (n, s) in hop.iter_mut().enumerate() {
                    let t = (into_burst * HOP + n) as f32 / 30_000.0;
                    *s = 0.5 * (-t * 20.0).exp() * noise();
                }
            }
            if o.process(&hop) {
                fired.push(i);
            }
        }
        assert_eq!(fired.len(), 8, "one onset per burst: {fired:?}");
        for (k, &at) in fired.iter().enumerate() {
            assert!(
                (k * 30..k * 30 + 6).contains(&at),
                "onset {k} at hop {at}: {fired:?}"
            );
        }
    }
}

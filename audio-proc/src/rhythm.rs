//! A deliberately simple tempo estimator and beat oscillator.
//!
//! LedFx uses aubio's specflux beat tracker (engine spec §1.8); matching it is a later piece
//! of work (the onsets effects read are already aubio's, from [`crate::onset`]). Until then
//! this module gives effects a tempo, a tempo beat and a bar position from cheap means:
//!
//! * **onset** (its own input only; the frame's onset comes from [`crate::onset`]) — half-wave
//!   rectified flux of the hop's log energy, above an adaptive threshold and a silence gate,
//!   at most one per 50 ms;
//! * **tempo** — autocorrelation of that flux over the last ~8.5 s, re-estimated once a
//!   second over 60–180 BPM with a mild preference for 120 BPM (the octave errors of plain
//!   autocorrelation are the usual failure);
//! * **beat oscillator** — LedFx's 4-count bar position, advanced by the estimated period and
//!   pulled into phase by onsets that land near a predicted beat.
//!
//! Time is counted in hops, so the output is deterministic for a given input.

use std::collections::VecDeque;

/// Hops per second of the analysis (30 kHz / 500).
const HOPS_PER_SECOND: f64 = crate::analysis::HOPS_PER_SECOND as f64;
/// Onset-function history used for the tempo estimate (≈ 8.5 s, aubio's window).
const HISTORY: usize = 512;
/// Least history before a first tempo estimate (4 s).
const MIN_HISTORY: usize = 240;
/// Hops between tempo re-estimates.
const ESTIMATE_EVERY: u64 = 60;
/// Autocorrelation lags searched: 20 hops = 180 BPM … 60 hops = 60 BPM.
const MIN_LAG: usize = 20;
const MAX_LAG: usize = 60;
/// Hops over which the adaptive onset threshold averages the flux.
const THRESHOLD_HOPS: usize = 30;
/// Least rise in dB for an onset, and the level below which nothing counts (aubio: −70 dB).
const MIN_ONSET_DB: f32 = 3.0;
const SILENCE_DB: f32 = -70.0;
/// Least distance between onsets, hops (50 ms).
const MIN_ONSET_GAP: u64 = 3;

/// What the detectors report for one hop.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RhythmFrame {
    pub onset: bool,
    /// A (predicted or onset-aligned) beat of the estimated tempo happened on this hop.
    pub beat: bool,
    /// Estimated tempo, 0 until known.
    pub bpm: f32,
    /// Position within the current beat, 0..1.
    pub beat_oscillator: f32,
}

/// Onset, tempo and beat state.
#[derive(Debug, Clone)]
pub struct Rhythm {
    hop: u64,
    prev_db: Option<f32>,
    /// Recent onset-function values, oldest first.
    flux: VecDeque<f32>,
    last_onset: Option<u64>,
    bpm: f32,
    /// Beat period in hops (LedFx starts its oscillator with 2 s).
    period: f64,
    /// Hop of the last beat and the bar counter (0..4) at it.
    beat_hop: f64,
    counter: u32,
    /// Whether the last beat came from an onset (then no further phase nudge until the next).
    beat_was_onset: bool,
    scratch: Vec<f32>,
}

impl Default for Rhythm {
    fn default() -> Self {
        Self::new()
    }
}

impl Rhythm {
    /// Fresh state: no tempo known.
    pub fn new() -> Self {
        Self {
            hop: 0,
            prev_db: None,
            flux: VecDeque::with_capacity(HISTORY),
            last_onset: None,
            bpm: 0.0,
            period: 2.0 * HOPS_PER_SECOND,
            beat_hop: 0.0,
            counter: 0,
            beat_was_onset: false,
            scratch: Vec::with_capacity(HISTORY),
        }
    }

    /// Current tempo estimate (0 when unknown).
    pub fn bpm(&self) -> f32 {
        self.bpm
    }

    /// Feeds one raw hop (not pre-emphasised, not gated).
    pub fn process(&mut self, hop: &[f32]) -> RhythmFrame {
        let now = self.hop;
        self.hop += 1;
        let energy = hop.iter().map(|x| x * x).sum::<f32>() / hop.len().max(1) as f32;
        let db = 10.0 * (energy + 1e-12).log10();
        let rise = self.prev_db.map_or(0.0, |p| (db - p).max(0.0));
        self.prev_db = Some(db);
        let flux = if db > SILENCE_DB { rise } else { 0.0 };

        let recent = self.flux.iter().rev().take(THRESHOLD_HOPS);
        let recent_mean = recent.clone().sum::<f32>() / THRESHOLD_HOPS as f32;
        let onset = flux >= MIN_ONSET_DB
            && flux > 2.0 * recent_mean
            && self
                .last_onset
                .is_none_or(|last| now - last >= MIN_ONSET_GAP);
        if onset {
            self.last_onset = Some(now);
        }
        if self.flux.len() == HISTORY {
            self.flux.pop_front();
        }
        self.flux.push_back(flux);
        if now % ESTIMATE_EVERY == ESTIMATE_EVERY - 1 && self.flux.len() >= MIN_HISTORY {
            self.estimate_tempo();
        }
        let beat = self.track_beat(now as f64, onset);
        let since = (now as f64 - self.beat_hop) / self.period;
        let bar = (since + f64::from(self.counter)).rem_euclid(4.0);
        RhythmFrame {
            onset,
            beat,
            bpm: self.bpm,
            beat_oscillator: bar.fract() as f32,
        }
    }

    /// Advances the beat grid; returns whether a beat falls on this hop.
    fn track_beat(&mut self, now: f64, onset: bool) -> bool {
        if self.bpm <= 0.0 {
            return false;
        }
        let since = now - self.beat_hop;
        let beat = if onset && since >= 0.75 * self.period {
            self.beat_hop = now;
            self.beat_was_onset = true;
            true
        } else if since >= self.period {
            // Keep the grid unless we fell far behind it (a long gap): then restart it here.
            self.beat_hop = if since < 2.0 * self.period {
                self.beat_hop + self.period
            } else {
                now
            };
            self.beat_was_onset = false;
            true
        } else {
            if onset && since < 0.2 * self.period && !self.beat_was_onset {
                // The music's beat came just after the predicted one: move the phase to it.
                self.beat_hop = now;
                self.beat_was_onset = true;
            }
            false
        };
        if beat {
            self.counter = (self.counter + 1) % 4;
        }
        beat
    }

    /// Re-estimates the tempo from the autocorrelation of the onset function.
    fn estimate_tempo(&mut self) {
        self.scratch.clear();
        self.scratch.extend(self.flux.iter());
        let n = self.scratch.len();
        let mean = self.scratch.iter().sum::<f32>() / n as f32;
        for v in &mut self.scratch {
            *v -= mean;
        }
        let x = &self.scratch;
        let acf = |lag: usize| -> f32 {
            if lag >= n {
                return 0.0;
            }
            let s: f32 = x[..n - lag].iter().zip(&x[lag..]).map(|(a, b)| a * b).sum();
            s / (n - lag) as f32
        };
        let mut best: Option<(usize, f32)> = None;
        for lag in MIN_LAG..=MAX_LAG {
            let r = acf(lag);
            if r <= 0.0 {
                continue;
            }
            // Log-Gaussian preference around 120 BPM (30 hops), one octave wide.
            let octaves = (lag as f32 / 30.0).log2();
            let score = r * (-0.5 * octaves * octaves).exp();
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((lag, score));
            }
        }
        let Some((lag, _)) = best else {
            return;
        };
        let (r0, r1, r2) = (acf(lag - 1), acf(lag), acf(lag + 1));
        let curvature = r0 - 2.0 * r1 + r2;
        let offset = if curvature < 0.0 {
            (0.5 * (r0 - r2) / curvature).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let period = lag as f64 + f64::from(offset);
        self.period = period;
        self.bpm = (60.0 * HOPS_PER_SECOND / period) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hops of a click track: a loud hop every `every` hops, quiet noise-free floor otherwise.
    fn click_hop(i: usize, every: usize) -> Vec<f32> {
        let level = if i % every == 0 { 0.5 } else { 0.001 };
        (0..500)
            .map(|n| if n % 2 == 0 { level } else { -level })
            .collect()
    }

    #[test]
    fn clicks_are_onsets_and_silence_is_not() {
        let mut r = Rhythm::new();
        let mut onsets = Vec::new();
        for i in 0..120 {
            if r.process(&click_hop(i, 30)).onset {
                onsets.push(i);
            }
        }
        assert_eq!(onsets, vec![30, 60, 90], "first hop has no previous level");
        let mut r = Rhythm::new();
        assert!((0..100).all(|_| !r.process(&[0.0; 500]).onset));
    }

    #[test]
    fn a_120_bpm_click_track_is_estimated_at_120_bpm() {
        let mut r = Rhythm::new();
        let mut beats = Vec::new();
        for i in 0..600 {
            if r.process(&click_hop(i, 30)).beat {
                beats.push(i);
            }
        }
        assert!((r.bpm() - 120.0).abs() < 2.0, "bpm {}", r.bpm());
        // Once the tempo is known, beats land on the clicks.
        let late: Vec<_> = beats.iter().filter(|&&b| b > 400).collect();
        assert!(late.len() >= 5, "{beats:?}");
        assert!(
            late.iter().all(|&&b| b % 30 <= 1 || b % 30 == 29),
            "{beats:?}"
        );
    }

    #[test]
    fn the_oscillator_runs_from_0_to_1_between_beats() {
        let mut r = Rhythm::new();
        let mut frames = Vec::new();
        for i in 0..600 {
            frames.push(r.process(&click_hop(i, 30)));
        }
        let beat = frames
            .iter()
            .rposition(|f| f.beat)
            .expect("beats after tempo lock");
        assert!(frames[beat].beat_oscillator < 0.05);
        let later = &frames[beat + 1..(beat + 20).min(frames.len())];
        assert!(later
            .windows(2)
            .all(|w| w[1].beat_oscillator > w[0].beat_oscillator));
    }
}

//! Pitch as LedFx gets it from aubio's `pitch("yinfft", 4096, 500, 30000)` in MIDI units with
//! `pitch_tolerance` 0.8 (engine spec §1.8), written from aubio's documented "spectral YIN":
//!
//! 1. the last 4096 raw samples, periodic Hann window, FFT;
//! 2. the squared magnitude spectrum weighted by a fixed loudness curve (a table of 34
//!    frequency/dB points from 0 Hz to 25.1 kHz, interpolated linearly in dB per bin,
//!    then turned into a linear gain `10^(dB/20)`);
//! 3. YIN's difference function from that spectrum: `d(τ) = 2·Σ|X|²w − IFFT(|X|²w)(τ)`
//!    (unnormalised transforms), then the cumulative-mean-normalised `d'(τ) = d(τ)·τ/Σd`;
//! 4. the period is the lag of the smallest `d'` when that is below the tolerance, refined
//!    by a parabola through its neighbours; for lags of 23 samples or less (above 1.3 kHz)
//!    half the lag is preferred when it also passes, to avoid octave errors;
//! 5. pitch = 30000 / period, as a MIDI note (`69 + 12·log2(f/440)`); 0 when no lag passes
//!    or when the hop is below −50 dB SPL.
//!
//! Checked against LedFx 2.2.1's recorded pitch in `tests/ledfx_fidelity.rs`.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::analysis::{db_spl, HOP};
use crate::melbank::{ANALYSIS_RATE, FFT_SIZE};

/// LedFx's `pitch_tolerance` default.
pub const DEFAULT_TOLERANCE: f32 = 0.8;
/// Hops quieter than this have no pitch, dB SPL.
const SILENCE_DB: f32 = -50.0;
/// The loudness curve: frequencies (Hz) and gains (dB).
const CURVE_HZ: [f64; 34] = [
    0., 20., 25., 31.5, 40., 50., 63., 80., 100., 125., 160., 200., 250., 315., 400., 500., 630.,
    800., 1000., 1250., 1600., 2000., 2500., 3150., 4000., 5000., 6300., 8000., 9000., 10000.,
    12500., 15000., 20000., 25100.,
];
const CURVE_DB: [f64; 34] = [
    -75.8, -70.1, -60.8, -52.1, -44.2, -37.5, -31.3, -25.6, -20.9, -16.5, -12.6, -9.60, -7.00,
    -4.70, -3.00, -1.80, -0.80, -0.20, -0.00, 0.50, 1.60, 3.20, 5.40, 7.80, 8.10, 5.30, -2.40,
    -11.1, -12.8, -12.2, -7.40, -17.8, -17.8, -17.8,
];
/// Lags at or below this (≈ 1.3 kHz) are checked for octave errors.
const SHORT_PERIOD: usize = 23;

/// The per-bin gain of the loudness curve for bins `0..=FFT_SIZE/2`.
fn curve_gains() -> Vec<f32> {
    (0..=FFT_SIZE / 2)
        .map(|bin| {
            let f = bin as f64 * f64::from(ANALYSIS_RATE) / FFT_SIZE as f64;
            let j = CURVE_HZ
                .iter()
                .position(|&c| c >= f)
                .unwrap_or(CURVE_HZ.len() - 1)
                .max(1);
            let (f0, f1, d0, d1) = (CURVE_HZ[j - 1], CURVE_HZ[j], CURVE_DB[j - 1], CURVE_DB[j]);
            let db = if f1 == f0 {
                d0
            } else {
                d0 + (d1 - d0) * (f - f0) / (f1 - f0)
            };
            10f64.powf(db / 20.0) as f32
        })
        .collect()
}

/// The lag of a parabola's vertex through `y[pos−1..=pos+1]` (aubio's quadratic peak
/// position; at the ends, the better of the two neighbours).
fn parabola_vertex(y: &[f32], pos: usize) -> f32 {
    if pos == 0 || pos == y.len() - 1 {
        return pos as f32;
    }
    let (s0, s1, s2) = (y[pos - 1], y[pos], y[pos + 1]);
    let denominator = s0 - 2.0 * s1 + s2;
    if denominator == 0.0 {
        return pos as f32;
    }
    pos as f32 + 0.5 * (s0 - s2) / denominator
}

/// Frequency in Hz as a (fractional) MIDI note; 0 outside 2 Hz..100 kHz, as aubio.
pub fn freq_to_midi(freq: f32) -> f32 {
    if !(2.0..=100_000.0).contains(&freq) {
        return 0.0;
    }
    69.0 + 12.0 * (freq / 440.0).log2()
}

/// The detector's state.
pub struct Pitch {
    /// The last [`FFT_SIZE`] raw samples, oldest first.
    buf: Vec<f32>,
    hann: Vec<f32>,
    gains: Vec<f32>,
    fft: Arc<dyn Fft<f32>>,
    work: Vec<Complex32>,
    scratch: Vec<Complex32>,
    yin: Vec<f32>,
    tolerance: f32,
}

impl std::fmt::Debug for Pitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pitch")
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl Default for Pitch {
    fn default() -> Self {
        Self::new(DEFAULT_TOLERANCE)
    }
}

impl Pitch {
    /// A detector with YIN tolerance `tolerance` (LedFx's `pitch_tolerance`).
    pub fn new(tolerance: f32) -> Self {
        let fft = FftPlanner::new().plan_fft_forward(FFT_SIZE);
        let scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
        Self {
            buf: vec![0.0; FFT_SIZE],
            hann: crate::spectrum::hann_window(),
            gains: curve_gains(),
            fft,
            work: vec![Complex32::default(); FFT_SIZE],
            scratch,
            yin: vec![0.0; FFT_SIZE / 2 + 1],
            tolerance,
        }
    }

    /// Analyses one raw hop; the pitch as a MIDI note, 0 when there is none.
    pub fn process(&mut self, hop: &[f32; HOP]) -> f32 {
        self.buf.copy_within(HOP.., 0);
        self.buf[FFT_SIZE - HOP..].copy_from_slice(hop);
        let period = self.period();
        if period <= 0.0 || db_spl(hop) < SILENCE_DB {
            return 0.0;
        }
        freq_to_midi(ANALYSIS_RATE as f32 / period)
    }

    /// The YIN period of the buffer in samples (fractional), 0 when none passes.
    fn period(&mut self) -> f32 {
        for ((w, &x), &h) in self.work.iter_mut().zip(&self.buf).zip(&self.hann) {
            *w = Complex32::new(x * h, 0.0);
        }
        self.fft
            .process_with_scratch(&mut self.work, &mut self.scratch);
        // The weighted power spectrum, mirrored, as the input of the second transform.
        let half = FFT_SIZE / 2;
        let mut sum = 0.0f64;
        for l in 0..=half {
            let power = self.work[l].norm_sqr() * self.gains[l];
            sum += f64::from(power);
            self.work[l] = Complex32::new(power, 0.0);
        }
        for l in 1..half {
            self.work[FFT_SIZE - l] = self.work[l];
        }
        let sum = (2.0 * sum) as f32;
        self.fft
            .process_with_scratch(&mut self.work, &mut self.scratch);
        self.yin[0] = 1.0;
        let mut running = 0.0f32;
        for tau in 1..self.yin.len() {
            let d = sum - self.work[tau].re;
            running += d;
            self.yin[tau] = if running != 0.0 {
                d * tau as f32 / running
            } else {
                1.0
            };
        }
        let best = self
            .yin
            .iter()
            .enumerate()
            .fold(
                (0usize, f32::INFINITY),
                |b, (i, &v)| if v < b.1 { (i, v) } else { b },
            )
            .0;
        if self.yin[best] >= self.tolerance {
            return 0.0;
        }
        let pos = if best > SHORT_PERIOD {
            best
        } else {
            let halfway = (best as f32 / 2.0 + 0.5).floor() as usize;
            if self.yin[halfway] < self.tolerance {
                halfway
            } else {
                best
            }
        };
        parabola_vertex(&self.yin, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, amplitude: f32, hops: usize) -> Vec<[f32; HOP]> {
        (0..hops)
            .map(|h| {
                let mut hop = [0.0f32; HOP];
                for (i, s) in hop.iter_mut().enumerate() {
                    let t = (h * HOP + i) as f32 / ANALYSIS_RATE as f32;
                    *s = amplitude * (2.0 * std::f32::consts::PI * freq * t).sin();
                }
                hop
            })
            .collect()
    }

    #[test]
    fn a_sine_has_its_midi_note() {
        for (freq, note) in [(440.0, 69.0), (220.0, 57.0), (880.0, 81.0)] {
            let mut p = Pitch::default();
            let last = tone(freq, 0.5, 20)
                .iter()
                .map(|h| p.process(h))
                .last()
                .unwrap();
            assert!((last - note).abs() < 0.05, "{freq} Hz: {last}, want {note}");
        }
    }

    #[test]
    fn silence_and_quiet_hops_have_no_pitch() {
        let mut p = Pitch::default();
        assert_eq!(p.process(&[0.0; HOP]), 0.0);
        let quiet = tone(440.0, 0.001, 20); // −63 dB SPL
        assert!(quiet.iter().all(|h| p.process(h) == 0.0));
    }

    #[test]
    fn midi_conversion_is_aubio_s() {
        assert_eq!(freq_to_midi(440.0), 69.0);
        assert_eq!(freq_to_midi(1.0), 0.0);
        assert!((freq_to_midi(261.6256) - 60.0).abs() < 1e-4);
    }
}

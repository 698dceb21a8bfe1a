//! The per-hop analysis: one 500-sample hop at 30 kHz in, one [`AudioFrame`] out.
//!
//! It follows LedFx 2.2.1 (engine spec §1.3–§1.8, checked against LedFx's own output in
//! `tests/ledfx_fidelity.rs`): volume with its −90 initial-value quirk and the `min_volume`
//! gate, the pre-emphasis and three melbanks of the configured `coeffs_type` with peak
//! isolation, the 4096/500 vocoder, the AGC/smooth/floor/diff filter chain, frequency powers,
//! the volume beat, aubio's hfc onsets ([`crate::onset`]) and yinfft pitch ([`crate::pitch`]).
//! Tempo, the tempo beat and the beat oscillator come from the simpler [`crate::rhythm`] for
//! now.
//!
//! The [`Analyzer`] does no I/O and keeps no clock: time is counted in hops, so tests drive it
//! offline, faster than real time, and get the same result every run.

use std::collections::VecDeque;

use proto::audio::{AudioFrame, MAX_MEL_SAMPLES, MELBANKS};
use proto::pipeline::AudioSpec;

use crate::filter::{Biquad, BiquadCoeffs, ExpFilter, VecExpFilter};
use crate::melbank::{CoeffsType, Filterbank, MelbankError, ANALYSIS_RATE, MIN_FREQ_HZ};
use crate::onset::Onset;
use crate::pitch::Pitch;
use crate::rhythm::Rhythm;
use crate::spectrum::Vocoder;

/// Samples per hop at the analysis rate (30 kHz / 60 frames per second).
pub const HOP: usize = 500;
/// Analysis frames per second.
pub const HOPS_PER_SECOND: u32 = ANALYSIS_RATE / HOP as u32;
/// Largest `delay_ms` LedFx accepts.
pub const MAX_DELAY_MS: u32 = 5000;

/// Frequency-power cut-offs (beat | bass | mids | high), Hz (engine spec §1.7).
const POWER_CUTOFFS_HZ: [f32; 4] = [100.0, 250.0, 3000.0, 10_000.0];
/// Volume-beat history length: `int(0.2 · sample_rate)` frames.
const BEAT_HISTORY: usize = 12;
/// Least time between volume beats: "more than 0.1 s", i.e. more than 6 hops.
const BEAT_MIN_GAP_HOPS: u64 = 6;

/// Errors validating analysis settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalysisError {
    #[error("audio min_volume {0} must be within 0..1")]
    ValidateMinVolume(f32),
    #[error("melbank samples {0} must be within 1..{MAX_MEL_SAMPLES}")]
    ValidateMelSamples(u32),
    #[error("melbank peak_isolation {0} must be within 0..1 (exclusive of 1)")]
    ValidatePeakIsolation(f32),
    #[error("melbank max_frequencies {0:?} must have at least {MELBANKS} entries, each within 21..15000 Hz")]
    ValidateMaxFrequencies(Vec<u32>),
    #[error("melbanks coeffs_type {0:?} is not one of matt_mel, triangle, bark, mel, htk, scott, scott_mel")]
    ValidateCoeffsType(String),
    #[error("audio pitch_tolerance {0} must be within 0..2")]
    ValidatePitchTolerance(f32),
    #[error("audio delay_ms {0} must be within 0..{MAX_DELAY_MS}")]
    ValidateDelay(u32),
    #[error("building melbank: {0}")]
    BuildMelbank(#[from] MelbankError),
}

/// Validated analysis settings (the part of [`AudioSpec`] that shapes the analysis).
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisParams {
    /// Volume gate, 0..1.
    pub min_volume: f32,
    /// Bands per melbank, 1..=100.
    pub mel_samples: usize,
    /// LedFx `peak_isolation`, 0..1.
    pub peak_isolation: f32,
    /// Upper frequency of each melbank, Hz (extra entries of the config are ignored: the
    /// analysis frame carries three melbanks, as LedFx's analysis uses).
    pub max_frequencies: [u32; MELBANKS],
    /// LedFx `coeffs_type`: how the filterbanks and the pre-emphasis are built.
    pub coeffs: CoeffsType,
    /// LedFx `pitch_tolerance`: the YIN threshold, 0..2.
    pub pitch_tolerance: f32,
}

impl Default for AnalysisParams {
    fn default() -> Self {
        Self::from_spec(&AudioSpec::default()).unwrap_or(Self {
            min_volume: 0.2,
            mel_samples: 24,
            peak_isolation: 0.4,
            max_frequencies: [350, 2000, 15_000],
            coeffs: CoeffsType::MattMel,
            pitch_tolerance: crate::pitch::DEFAULT_TOLERANCE,
        })
    }
}

impl AnalysisParams {
    /// Validates the analysis part of `spec` (no I/O).
    pub fn from_spec(spec: &AudioSpec) -> Result<Self, AnalysisError> {
        if !(0.0..=1.0).contains(&spec.min_volume) {
            return Err(AnalysisError::ValidateMinVolume(spec.min_volume));
        }
        let mel_samples = spec.mel_samples as usize;
        if !(1..=MAX_MEL_SAMPLES).contains(&mel_samples) {
            return Err(AnalysisError::ValidateMelSamples(spec.mel_samples));
        }
        if !(0.0..1.0).contains(&spec.peak_isolation) {
            return Err(AnalysisError::ValidatePeakIsolation(spec.peak_isolation));
        }
        let freqs = &spec.max_frequencies;
        let valid = |f: &u32| (21..=ANALYSIS_RATE / 2).contains(f);
        if freqs.len() < MELBANKS || !freqs.iter().take(MELBANKS).all(valid) {
            return Err(AnalysisError::ValidateMaxFrequencies(freqs.clone()));
        }
        let mut max_frequencies = [0; MELBANKS];
        max_frequencies.copy_from_slice(&freqs[..MELBANKS]);
        let coeffs = CoeffsType::parse(&spec.coeffs_type)
            .ok_or_else(|| AnalysisError::ValidateCoeffsType(spec.coeffs_type.clone()))?;
        if !(0.0..=2.0).contains(&spec.pitch_tolerance) {
            return Err(AnalysisError::ValidatePitchTolerance(spec.pitch_tolerance));
        }
        Ok(Self {
            min_volume: spec.min_volume,
            mel_samples,
            peak_isolation: spec.peak_isolation,
            max_frequencies,
            coeffs,
            pitch_tolerance: spec.pitch_tolerance,
        })
    }

    /// The peak-isolation exponent `tan(π/4 · (peak_isolation + 1))` (0.4 → 1.9626).
    pub fn peak_power(&self) -> f32 {
        (std::f32::consts::FRAC_PI_4 * (self.peak_isolation + 1.0)).tan()
    }
}

/// Validates `delay_ms` and converts it to whole hops (`int(0.001 · delay_ms · 60)`).
pub fn delay_hops(delay_ms: u32) -> Result<usize, AnalysisError> {
    if delay_ms > MAX_DELAY_MS {
        return Err(AnalysisError::ValidateDelay(delay_ms));
    }
    Ok((u64::from(delay_ms) * u64::from(HOPS_PER_SECOND) / 1000) as usize)
}

/// `10·log10(mean(x²))`, −∞ for silence.
pub fn db_spl(x: &[f32]) -> f32 {
    let mean = x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64;
    (10.0 * mean.log10()) as f32
}

/// LedFx's raw volume: `clamp(1 + dB/100, 0, 1)` (0 for silence).
pub fn raw_volume(x: &[f32]) -> f32 {
    let db = db_spl(x);
    if db.is_finite() {
        (1.0 + db / 100.0).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Normalised Gaussian kernel with σ = 1 and radius `min(4, (n − 1) / 2)` (§1.5, §2.3).
fn blur_kernel(n: usize) -> Vec<f32> {
    let radius = 4.min(n.saturating_sub(1) / 2) as i32;
    let k: Vec<f32> = (-radius..=radius)
        .map(|x| (-(x * x) as f32 / 2.0).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.into_iter().map(|v| v / sum).collect()
}

/// Zero-padded "same" convolution of `x` with the odd-length `kernel`.
fn blur(x: &[f32], kernel: &[f32], out: &mut [f32]) {
    let r = (kernel.len() / 2) as isize;
    for (i, o) in out.iter_mut().enumerate() {
        *o = kernel
            .iter()
            .enumerate()
            .filter_map(|(j, k)| {
                let idx = i as isize + j as isize - r;
                usize::try_from(idx)
                    .ok()
                    .and_then(|idx| x.get(idx))
                    .map(|v| v * k)
            })
            .sum();
    }
}

/// One melbank's filterbank and filter chain.
#[derive(Debug, Clone)]
struct Melbank {
    bank: Filterbank,
    /// AGC: fast attack, very slow release on the blurred maximum.
    gain: ExpFilter,
    /// The "melbank" output.
    smooth: VecExpFilter,
    /// Running floor: follows drops at once, rises slowly.
    common: VecExpFilter,
    /// The "filtered" output: energy above the floor, fast attack, slow decay.
    diff: VecExpFilter,
    /// Work buffers.
    raw: Vec<f32>,
    blurred: Vec<f32>,
}

impl Melbank {
    fn new(coeffs: CoeffsType, max_hz: u32, n: usize) -> Result<Self, MelbankError> {
        Ok(Self {
            bank: Filterbank::build(coeffs, MIN_FREQ_HZ, f64::from(max_hz), n)?,
            gain: ExpFilter::new(0.01, 0.99),
            // Both are fed LedFx's melbank buffer first (see `ledfx_aliased`).
            smooth: VecExpFilter::ledfx_aliased(n, 0.7, 0.99),
            common: VecExpFilter::ledfx_aliased(n, 0.99, 0.01),
            diff: VecExpFilter::new(n, 0.15, 0.99),
            raw: vec![0.0; n],
            blurred: vec![0.0; n],
        })
    }

    /// Runs the §1.5 chain on `spectrum`, writing the unfiltered and filtered rows.
    fn process(
        &mut self,
        spectrum: &[f32],
        power: f32,
        kernel: &[f32],
        mel: &mut [f32],
        filtered: &mut [f32],
    ) {
        self.bank.apply(spectrum, &mut self.raw);
        for v in &mut self.raw {
            *v = v.powf(power);
        }
        blur(&self.raw, kernel, &mut self.blurred);
        let peak = self.blurred.iter().copied().fold(0.0f32, f32::max);
        let gain = self.gain.update(peak);
        // LedFx divides by zero here and zeroes the NaNs later; do it up front.
        let inv = if gain > 0.0 && gain.is_finite() {
            1.0 / gain
        } else {
            0.0
        };
        for v in &mut self.raw {
            *v *= inv;
        }
        let smooth = self.smooth.update(&self.raw);
        mel.copy_from_slice(smooth);
        let floor = self.common.update(smooth);
        for ((b, m), f) in self.blurred.iter_mut().zip(mel.iter()).zip(floor) {
            *b = m - f;
        }
        filtered.copy_from_slice(self.diff.update(&self.blurred));
    }
}

/// Turns hops into analysis frames.
#[derive(Debug)]
pub struct Analyzer {
    params: AnalysisParams,
    power: f32,
    volume: ExpFilter,
    preemphasis: Biquad,
    /// Pre-emphasised hop.
    emphasised: Vec<f32>,
    vocoder: Vocoder,
    melbanks: Vec<Melbank>,
    kernel: Vec<f32>,
    /// First melbank-2 bin above each of [`POWER_CUTOFFS_HZ`].
    power_bins: [usize; 4],
    powers: VecExpFilter,
    /// Melbank-0 bins `[0, beat_bins)` drive the volume beat.
    beat_bins: usize,
    beat_history: VecDeque<f32>,
    last_volume_beat: u64,
    rhythm: Rhythm,
    /// aubio's hfc onset detector, on the raw hop.
    onset: Box<Onset>,
    /// aubio's yinfft pitch, on the raw hop.
    pitch: Box<Pitch>,
    hops: u64,
    frame: AudioFrame,
}

impl Analyzer {
    /// Builds the analysis for validated `params`.
    pub fn new(params: &AnalysisParams) -> Result<Self, AnalysisError> {
        let n = params.mel_samples;
        let melbanks = params
            .max_frequencies
            .iter()
            .map(|&max| Melbank::new(params.coeffs, max, n))
            .collect::<Result<Vec<_>, _>>()?;
        let first_above = |centres: &[f32], hz: f32| {
            centres
                .iter()
                .position(|&c| c > hz)
                .unwrap_or(centres.len())
        };
        let power_centres = melbanks[MELBANKS - 1].bank.centres_hz();
        let power_bins = POWER_CUTOFFS_HZ.map(|hz| first_above(power_centres, hz));
        let beat_bins = first_above(melbanks[0].bank.centres_hz(), 100.0).saturating_sub(1);

        let mut frame = AudioFrame::silent();
        frame.mel_samples = n as u32;
        for (i, bank) in melbanks.iter().enumerate() {
            frame.melbank_max_hz[i] = bank.bank.max_hz() as f32;
            frame.mel_centre_hz[i][..n].copy_from_slice(bank.bank.centres_hz());
        }
        Ok(Self {
            params: params.clone(),
            power: params.peak_power(),
            volume: ExpFilter::with_initial(0.99, 0.99, -90.0),
            preemphasis: Biquad::new(BiquadCoeffs::preemphasis(params.coeffs)),
            emphasised: vec![0.0; HOP],
            vocoder: Vocoder::new(),
            kernel: blur_kernel(n),
            melbanks,
            power_bins,
            powers: VecExpFilter::with_initial(4, 0.2, 0.97, 0.0),
            beat_bins,
            beat_history: VecDeque::with_capacity(BEAT_HISTORY),
            last_volume_beat: 0,
            rhythm: Rhythm::new(),
            onset: Box::new(Onset::new()),
            pitch: Box::new(Pitch::new(params.pitch_tolerance)),
            hops: 0,
            frame,
        })
    }

    /// The settings this analysis was built from.
    pub fn params(&self) -> &AnalysisParams {
        &self.params
    }

    /// Number of hops processed so far.
    pub fn hops(&self) -> u64 {
        self.hops
    }

    /// The frame produced by the last [`Self::process`] (silent before the first).
    pub fn frame(&self) -> &AudioFrame {
        &self.frame
    }

    /// [`process`](Self::process) for a hop whose newest sample was captured at
    /// `capture_ns` (`CLOCK_MONOTONIC`; 0 for made-up silence), which the frame carries.
    pub fn process_captured(&mut self, hop: &[f32; HOP], capture_ns: u64) -> &AudioFrame {
        self.process(hop);
        self.frame.capture_ns = capture_ns;
        &self.frame
    }

    /// Analyses one hop of raw 30 kHz samples and returns the frame for it.
    pub fn process(&mut self, hop: &[f32; HOP]) -> &AudioFrame {
        let mut x = *hop;
        for s in &mut x {
            if !s.is_finite() {
                *s = 0.0;
            }
        }
        let volume = self.volume.update(raw_volume(&x));
        let n = self.params.mel_samples;
        let frame = &mut self.frame;
        if volume > self.params.min_volume {
            // The pre-emphasis and the vocoder only ever see frames that pass the gate.
            self.preemphasis.process_into(&x, &mut self.emphasised);
            let spectrum = self.vocoder.push(&self.emphasised);
            for (i, bank) in self.melbanks.iter_mut().enumerate() {
                bank.process(
                    spectrum,
                    self.power,
                    &self.kernel,
                    &mut frame.mel[i][..n],
                    &mut frame.mel_filtered[i][..n],
                );
            }
        } else {
            for i in 0..MELBANKS {
                frame.mel[i][..n].fill(0.0);
                frame.mel_filtered[i][..n].fill(0.0);
            }
        }
        frame.volume = volume.clamp(0.0, 1.0);

        // Frequency powers from melbank 2 (unfiltered).
        let m = &frame.mel[MELBANKS - 1][..n];
        let mut start = 0;
        let mut raw = [0.0f32; 4];
        for (r, &end) in raw.iter_mut().zip(&self.power_bins) {
            let band = &m[start.min(end)..end];
            *r = if band.is_empty() {
                0.0
            } else {
                (band.iter().sum::<f32>() / band.len() as f32).min(1.0)
            };
            start = end;
        }
        frame.raw_powers = raw;
        frame.powers.copy_from_slice(self.powers.update(&raw));

        let volume_beat = self.volume_beat();
        let rhythm = self.rhythm.process(&x);
        let onset = self.onset.process(&x);
        let pitch = self.pitch.process(&x);
        let frame = &mut self.frame;
        frame.volume_beat = u32::from(volume_beat);
        frame.onset = u32::from(onset);
        frame.pitch = pitch;
        frame.tempo_beat = u32::from(rhythm.beat);
        frame.bpm = rhythm.bpm;
        frame.beat_oscillator = rhythm.beat_oscillator;
        self.hops += 1;
        &self.frame
    }

    /// LedFx's `volume_beat_now` on the low bins of melbank 0 (§1.7).
    fn volume_beat(&mut self) -> bool {
        let bins = &self.frame.mel[0][..self.beat_bins];
        let power: f32 = bins.iter().sum();
        let max = bins.iter().copied().fold(0.0f32, f32::max);
        let history: f32 = self.beat_history.iter().sum();
        let diff = if history > 0.0 {
            power * BEAT_HISTORY as f32 / history - 1.0
        } else {
            0.0
        };
        if self.beat_history.len() == BEAT_HISTORY {
            self.beat_history.pop_front();
        }
        self.beat_history.push_back(power);
        // Time in hops: hop `i` completes `i + 1` hops after the analysis started. LedFx
        // counts its start as a beat, so nothing fires in the first 0.1 s either.
        let now = self.hops + 1;
        let rested = now - self.last_volume_beat > BEAT_MIN_GAP_HOPS;
        let beat = diff >= 0.5 && max >= 0.5 && rested;
        if beat {
            self.last_volume_beat = now;
        }
        beat
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::melbank::FFT_SIZE;
    use crate::synth::Synth;

    fn sine_hop(freq: f64, amp: f64, hop_index: usize) -> [f32; HOP] {
        let mut hop = [0.0f32; HOP];
        for (n, s) in hop.iter_mut().enumerate() {
            let t = (hop_index * HOP + n) as f64 / f64::from(ANALYSIS_RATE);
            *s = (amp * (2.0 * std::f64::consts::PI * freq * t).sin()) as f32;
        }
        hop
    }

    #[test]
    fn sine_through_vocoder_and_filterbank_matches_golden_vector_9() {
        let bank = Filterbank::matt_mel(20.0, 15_000.0, 24).unwrap();
        let mut vocoder = Vocoder::new();
        let mut out = vec![0.0; 24];
        let mut last = [0.0; HOP];
        for i in 0..12 {
            last = sine_hop(1000.0, 0.5, i);
            bank.apply(vocoder.push(&last), &mut out);
        }
        assert!((out[8] - 1.947).abs() < 0.01, "{out:?}");
        assert!((out[9] - 3.431).abs() < 0.01, "{out:?}");
        for (i, &v) in out.iter().enumerate() {
            if i != 8 && i != 9 {
                assert!(v < 0.02, "bin {i} = {v}");
            }
        }
        // The golden dB is that of a hop starting at phase 0 (hops 0, 3, 6, …: 500 samples
        // hold 16⅔ periods, so the hop energy depends on the phase, by a few hundredths of dB).
        let first = sine_hop(1000.0, 0.5, 0);
        assert!(
            (db_spl(&first) - -9.055).abs() < 0.001,
            "{}",
            db_spl(&first)
        );
        assert!((raw_volume(&first) - 0.909).abs() < 1e-3);
        assert!((db_spl(&last) - -9.055).abs() < 0.05);
        assert_eq!(FFT_SIZE, 4096);
    }

    #[test]
    fn volume_of_silence_and_full_scale() {
        assert_eq!(raw_volume(&[0.0; HOP]), 0.0);
        let full = sine_hop(1000.0, 1.0, 0);
        assert!((raw_volume(&full) - 0.97).abs() < 0.001);
    }

    #[test]
    fn peak_isolation_power_matches_the_table() {
        let mut p = AnalysisParams::default();
        for (iso, power) in [(0.0, 1.0), (0.2, 1.376), (0.4, 1.9626), (0.6, 3.078)] {
            p.peak_isolation = iso;
            assert!((p.peak_power() - power).abs() < 1e-3, "{iso}");
        }
    }

    #[test]
    fn the_pitch_tolerance_applies() {
        // A clean sine passes YIN's threshold at 0.8; nothing passes a threshold of 0.
        for (tolerance, voiced) in [(0.8, true), (0.0, false)] {
            let spec = AudioSpec {
                pitch_tolerance: tolerance,
                ..AudioSpec::default()
            };
            let mut a = Analyzer::new(&AnalysisParams::from_spec(&spec).unwrap()).unwrap();
            let mut pitch = 0.0;
            for i in 0..20 {
                pitch = a.process(&sine_hop(440.0, 0.5, i)).pitch;
            }
            assert_eq!(pitch > 0.0, voiced, "tolerance {tolerance}: pitch {pitch}");
        }
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let ok = AudioSpec::default();
        assert!(AnalysisParams::from_spec(&ok).is_ok());
        let bad = [
            AudioSpec {
                min_volume: 1.5,
                ..ok.clone()
            },
            AudioSpec {
                mel_samples: 0,
                ..ok.clone()
            },
            AudioSpec {
                mel_samples: 101,
                ..ok.clone()
            },
            AudioSpec {
                peak_isolation: 1.0,
                ..ok.clone()
            },
            AudioSpec {
                max_frequencies: vec![350, 2000],
                ..ok.clone()
            },
            AudioSpec {
                max_frequencies: vec![350, 2000, 20_000],
                ..ok.clone()
            },
            AudioSpec {
                pitch_tolerance: 2.5,
                ..ok.clone()
            },
            AudioSpec {
                coeffs_type: "slaney".into(),
                ..ok.clone()
            },
        ];
        for spec in bad {
            assert!(AnalysisParams::from_spec(&spec).is_err(), "{spec:?}");
        }
        assert_eq!(delay_hops(0), Ok(0));
        assert_eq!(delay_hops(100), Ok(6));
        assert_eq!(delay_hops(5000), Ok(300));
        assert!(delay_hops(5001).is_err());
    }

    #[test]
    fn frame_describes_its_melbanks() {
        let a = Analyzer::new(&AnalysisParams::default()).unwrap();
        let f = a.frame();
        assert_eq!(f.mel_samples, 24);
        assert_eq!(f.melbank_max_hz, [350.0, 2000.0, 15_000.0]);
        assert_eq!(f.mel_centre_hz[2][9], 1063.0);
        assert_eq!(a.power_bins, [1, 3, 15, 22], "spec §1.7 default indexes");
        assert_eq!(a.beat_bins, 7, "spec §1.7 volume-beat bins");
    }

    #[test]
    fn the_first_frame_is_gated_by_the_volume_quirk_and_silence_reads_zero() {
        let mut a = Analyzer::new(&AnalysisParams::default()).unwrap();
        let loud = sine_hop(1000.0, 0.5, 0);
        let f = *a.process(&loud);
        assert!(
            f.volume < 0.001,
            "0.99·0.909 − 0.9 is below any gate: {}",
            f.volume
        );
        assert!(f.mel.iter().all(|row| row.iter().all(|&v| v == 0.0)));
        for i in 1..20 {
            a.process(&sine_hop(1000.0, 0.5, i));
        }
        let f = *a.frame();
        assert!((f.volume - 0.909).abs() < 0.01);
        // The tone lands in melbank 2 bins 8–9 and melbank 1 near 1 kHz.
        let m2 = f.melbank(2, false);
        let loudest = m2
            .iter()
            .enumerate()
            .fold((0, 0.0f32), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        assert!(loudest.0 == 8 || loudest.0 == 9, "{m2:?}");
        assert!(f.powers[2] > 0.0, "mids power from a 1 kHz tone");
        for _ in 0..5 {
            a.process(&[0.0; HOP]);
        }
        let f = *a.frame();
        assert!(f.volume < 0.2);
        assert!(f.mel.iter().all(|row| row.iter().all(|&v| v == 0.0)));
    }

    #[test]
    fn nan_samples_count_as_silence() {
        let mut a = Analyzer::new(&AnalysisParams::default()).unwrap();
        let f = *a.process(&[f32::NAN; HOP]);
        assert_eq!(f.volume, 0.0);
        assert!(f.mel.iter().flatten().all(|v| v.is_finite()));
    }

    #[test]
    fn filtered_melbank_highlights_energy_above_the_floor() {
        let mut a = Analyzer::new(&AnalysisParams::default()).unwrap();
        for i in 0..300 {
            a.process(&sine_hop(1000.0, 0.5, i));
        }
        // A steady tone: the floor catches up, so the filtered value falls well below the
        // unfiltered one.
        let f = *a.frame();
        assert!(f.mel[2][9] > 0.5);
        assert!(
            f.mel_filtered[2][9] < 0.5 * f.mel[2][9],
            "{}",
            f.mel_filtered[2][9]
        );
    }

    #[test]
    fn synth_volume_beats_every_half_second() {
        // The synth at 44.1 kHz, resampled offline, no real-time waiting.
        let mut synth = Synth::new();
        let mut stream = crate::resample::HopStream::new(crate::synth::SYNTH_RATE);
        let mut a = Analyzer::new(&AnalysisParams::default()).unwrap();
        let mut beats = Vec::new();
        let mut onsets = 0;
        let mut block = vec![0.0; 441];
        for _ in 0..(10 * 100) {
            synth.fill(&mut block);
            stream.push(&block, |hop| {
                let f = *a.process(hop);
                if f.volume_beat == 1 {
                    beats.push(a.hops() - 1);
                }
                onsets += f.onset;
            });
        }
        assert!(beats.len() >= 18, "{beats:?}");
        // Nothing in the first 0.1 s (LedFx counts the start as a beat), so the synth's first
        // kick may land late; from the second on, every half second.
        assert!(beats[0] >= 6, "{beats:?}");
        for w in beats[1..].windows(2) {
            let gap = w[1] - w[0];
            assert!((29..=31).contains(&gap), "beats {beats:?}");
        }
        assert!(onsets >= 19, "{onsets}");
        assert!((a.frame().bpm - 120.0).abs() < 3.0, "bpm {}", a.frame().bpm);
    }
}

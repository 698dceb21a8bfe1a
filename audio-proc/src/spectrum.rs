//! The magnitude half of aubio's phase vocoder as LedFx uses it (engine spec §1.3): a sliding
//! 4096-sample window advanced by one 500-sample hop at a time, a periodic Hann window and a
//! real FFT whose unnormalised magnitudes (bins 0..=2048) feed the melbanks.
//!
//! aubio also rotates the windowed buffer by half a window ("zero phase") before the FFT;
//! that only changes phases, so it is left out here — only magnitudes are used.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::melbank::{FFT_SIZE, SPECTRUM_BINS};

/// aubio's `hanningz` window over [`FFT_SIZE`] samples: the periodic Hann
/// `0.5 − 0.5·cos(2πn/N)`, shared by every transform of the analysis.
pub fn hann_window() -> Vec<f32> {
    (0..FFT_SIZE)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * n as f64 / FFT_SIZE as f64;
            (0.5 - 0.5 * phase.cos()) as f32
        })
        .collect()
}

/// A sliding-window magnitude spectrum.
pub struct Vocoder {
    /// The last [`FFT_SIZE`] samples, oldest first.
    window_buf: Vec<f32>,
    /// Periodic Hann window, `0.5 − 0.5·cos(2πn/N)`.
    hann: Vec<f32>,
    fft: Arc<dyn Fft<f32>>,
    /// FFT input/output, reused every hop.
    work: Vec<Complex32>,
    scratch: Vec<Complex32>,
    /// Magnitudes of the latest hop.
    magnitudes: Vec<f32>,
}

impl std::fmt::Debug for Vocoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocoder").field("size", &FFT_SIZE).finish()
    }
}

impl Default for Vocoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Vocoder {
    /// A vocoder whose window starts out silent.
    pub fn new() -> Self {
        let fft = FftPlanner::new().plan_fft_forward(FFT_SIZE);
        let scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
        Self {
            window_buf: vec![0.0; FFT_SIZE],
            hann: hann_window(),
            fft,
            work: vec![Complex32::default(); FFT_SIZE],
            scratch,
            magnitudes: vec![0.0; SPECTRUM_BINS],
        }
    }

    /// Appends `hop` (at most [`FFT_SIZE`] samples) to the window and returns the magnitudes
    /// `|X[k]|`, k = 0..=2048, of the windowed buffer.
    pub fn push(&mut self, hop: &[f32]) -> &[f32] {
        let hop = &hop[hop.len().saturating_sub(FFT_SIZE)..];
        self.window_buf.copy_within(hop.len().., 0);
        let tail = FFT_SIZE - hop.len();
        self.window_buf[tail..].copy_from_slice(hop);
        for ((w, &x), &h) in self.work.iter_mut().zip(&self.window_buf).zip(&self.hann) {
            *w = Complex32::new(x * h, 0.0);
        }
        self.fft
            .process_with_scratch(&mut self.work, &mut self.scratch);
        for (m, c) in self.magnitudes.iter_mut().zip(&self.work) {
            *m = c.norm();
        }
        &self.magnitudes
    }

    /// The magnitudes computed by the last [`Self::push`] (zeros before the first).
    pub fn magnitudes(&self) -> &[f32] {
        &self.magnitudes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bin_centred_sine_peaks_at_its_bin_with_hann_gain() {
        let mut v = Vocoder::new();
        // Bin 100 exactly: f = 100·30000/4096.
        let k = 100.0;
        let x: Vec<f32> = (0..FFT_SIZE)
            .map(|n| (2.0 * std::f64::consts::PI * k * n as f64 / FFT_SIZE as f64).sin() as f32)
            .collect();
        let mags = v.push(&x).to_vec();
        let peak = mags
            .iter()
            .enumerate()
            .fold((0, 0.0f32), |b, (i, &m)| if m > b.1 { (i, m) } else { b });
        assert_eq!(peak.0, 100);
        // Amplitude 1, N/2 for the sine, × 0.5 coherent gain of Hann = N/4.
        assert!((peak.1 - FFT_SIZE as f32 / 4.0).abs() < 0.5, "{}", peak.1);
        // Hann leaks into the direct neighbours only (half the peak), nothing further out.
        assert!((mags[99] - FFT_SIZE as f32 / 8.0).abs() < 0.5);
        assert!(mags[97] < 1e-2);
    }

    #[test]
    fn the_window_slides_by_one_hop() {
        let mut v = Vocoder::new();
        // One hop of a DC level: only the newest 500 samples are non-zero.
        let mags = v.push(&[1.0; 500]).to_vec();
        let dc_one: f32 = (FFT_SIZE - 500..FFT_SIZE).map(|n| v.hann[n]).sum();
        assert!((mags[0] - dc_one).abs() < 1e-2);
        let mags = v.push(&[0.0; 500]).to_vec();
        let dc_two: f32 = (FFT_SIZE - 1000..FFT_SIZE - 500).map(|n| v.hann[n]).sum();
        assert!((mags[0] - dc_two).abs() < 1e-2);
    }
}

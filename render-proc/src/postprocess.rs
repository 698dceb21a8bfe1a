//! Post-processing of an effect's frame (engine spec §2.3), in LedFx's exact order:
//! flip → mirror → additive background → brightness → blur. Nothing is clipped here; the
//! virtual clips afterwards, so values above 255 saturate there as in LedFx.
//!
//! The blur kernel and a scratch frame are kept between frames so the steady state does not
//! allocate.

use crate::effects::common::CommonConfig;
use crate::Pixel;

/// Per-effect-instance post-processing state (kernel cache and scratch space).
#[derive(Debug, Default)]
pub struct PostProcessor {
    kernel: Vec<f64>,
    /// `(blur σ bits, frame length)` the cached kernel was built for.
    kernel_for: Option<(u64, usize)>,
    scratch: Vec<Pixel>,
}

impl PostProcessor {
    /// Applies the common keys to `frame` in place.
    pub fn apply(&mut self, config: &CommonConfig, frame: &mut [Pixel]) {
        if config.flip {
            frame.reverse();
        }
        if config.mirror {
            mirror(frame, &mut self.scratch);
        }
        if config.background_color != crate::color::Rgb::BLACK {
            let bg = config
                .background_color
                .to_pixel()
                .map(|c| c * config.background_brightness);
            for px in frame.iter_mut() {
                for (ch, b) in px.iter_mut().zip(bg) {
                    *ch += b;
                }
            }
        }
        if config.brightness != 1.0 {
            for ch in frame.as_flattened_mut() {
                *ch *= config.brightness;
            }
        }
        if config.blur != 0.0 && frame.len() > 3 {
            let key = (config.blur.to_bits(), frame.len());
            if self.kernel_for != Some(key) {
                gaussian_kernel(config.blur, frame.len(), &mut self.kernel);
                self.kernel_for = Some(key);
            }
            convolve_same(frame, &self.kernel, &mut self.scratch);
        }
    }
}

/// `m = reverse(p) ++ p`, `out[i] = max(m[2i], m[2i+1])` per channel: N pixels, the effect's
/// first pixel in the centre, its last at both ends, at half resolution.
fn mirror(frame: &mut [Pixel], scratch: &mut Vec<Pixel>) {
    let n = frame.len();
    scratch.clear();
    scratch.extend_from_slice(frame);
    let m = |j: usize| {
        if j < n {
            scratch[n - 1 - j]
        } else {
            scratch[j - n]
        }
    };
    for (i, px) in frame.iter_mut().enumerate() {
        let (a, b) = (m(2 * i), m(2 * i + 1));
        *px = [a[0].max(b[0]), a[1].max(b[1]), a[2].max(b[2])];
    }
}

/// LedFx's blur kernel: `σ' = max(1e-5, σ)`, radius `round(4σ')` (half to even, as Python),
/// limited to `(N−1)/2`, Gaussian weights normalised to sum 1.
pub fn gaussian_kernel(sigma: f64, n: usize, out: &mut Vec<f64>) {
    let sigma = sigma.max(1e-5);
    let r = ((4.0 * sigma).round_ties_even() as usize).max(1);
    let r = r.min((n.saturating_sub(1)) / 2).max(1);
    out.clear();
    out.extend((0..=2 * r).map(|i| {
        let x = i as f64 - r as f64;
        (-(x * x) / (2.0 * sigma * sigma)).exp()
    }));
    let sum: f64 = out.iter().sum();
    out.iter_mut().for_each(|k| *k /= sum);
}

/// Per-channel `numpy.convolve(channel, kernel, "same")` with zero padding (the ends of the
/// strip lose energy, as in LedFx). The kernel is symmetric and no longer than the frame.
fn convolve_same(frame: &mut [Pixel], kernel: &[f64], scratch: &mut Vec<Pixel>) {
    let n = frame.len() as isize;
    let r = (kernel.len() / 2) as isize;
    scratch.clear();
    scratch.extend_from_slice(frame);
    for (i, px) in frame.iter_mut().enumerate() {
        let i = i as isize;
        let mut acc = [0.0; 3];
        let lo = (i - r).max(0);
        let hi = (i + r).min(n - 1);
        for j in lo..=hi {
            let k = kernel[(j - i + r) as usize];
            let src = scratch[j as usize];
            for c in 0..3 {
                acc[c] += k * src[c];
            }
        }
        *px = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::color::Rgb;

    fn ramp(n: usize) -> Vec<Pixel> {
        (0..n).map(|i| [10.0 * i as f64; 3]).collect()
    }

    fn channel0(frame: &[Pixel]) -> Vec<f64> {
        frame.iter().map(|p| p[0]).collect()
    }

    fn assert_close(got: &[f64], expected: &[f64], tol: f64) {
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(expected) {
            assert!((g - e).abs() <= tol, "got {got:?}, expected {expected:?}");
        }
    }

    #[test]
    fn mirror_golden_vector() {
        let mut frame = ramp(8);
        let config = CommonConfig {
            mirror: true,
            ..Default::default()
        };
        PostProcessor::default().apply(&config, &mut frame);
        assert_eq!(
            channel0(&frame),
            [70.0, 50.0, 30.0, 10.0, 10.0, 30.0, 50.0, 70.0]
        );
    }

    #[test]
    fn flip_golden_vector() {
        let mut frame = ramp(8);
        let config = CommonConfig {
            flip: true,
            ..Default::default()
        };
        PostProcessor::default().apply(&config, &mut frame);
        assert_eq!(
            channel0(&frame),
            [70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 10.0, 0.0]
        );
    }

    #[test]
    fn flip_then_mirror_puts_the_end_in_the_centre() {
        let mut frame = ramp(8);
        let config = CommonConfig {
            flip: true,
            mirror: true,
            ..Default::default()
        };
        PostProcessor::default().apply(&config, &mut frame);
        assert_eq!(
            channel0(&frame),
            [10.0, 30.0, 50.0, 70.0, 70.0, 50.0, 30.0, 10.0]
        );
    }

    #[test]
    fn blur_sigma_one_golden_vector() {
        let mut kernel = Vec::new();
        gaussian_kernel(1.0, 8, &mut kernel);
        assert_close(
            &kernel,
            // The spec prints the centre as 0.3989 (the untruncated Gaussian); truncated to
            // r = 3 and normalised it is 0.39905, which is what its 39.91 output implies.
            &[0.0044, 0.0540, 0.2420, 0.3991, 0.2420, 0.0540, 0.0044],
            5e-5,
        );
        let mut frame = vec![[0.0; 3]; 8];
        frame[0] = [100.0; 3];
        frame[4] = [100.0; 3];
        let config = CommonConfig {
            blur: 1.0,
            ..Default::default()
        };
        PostProcessor::default().apply(&config, &mut frame);
        assert_close(
            &channel0(&frame),
            &[39.91, 24.65, 10.80, 24.65, 39.91, 24.20, 5.40, 0.44],
            5e-3,
        );
    }

    #[test]
    fn blur_sigma_four_on_sixty_pixels_has_33_taps() {
        let mut kernel = Vec::new();
        gaussian_kernel(4.0, 60, &mut kernel);
        assert_eq!(kernel.len(), 33);
        assert!((kernel[16] - 0.0997).abs() < 5e-5);
    }

    #[test]
    fn blur_is_skipped_on_tiny_strips() {
        let mut frame = vec![[0.0; 3], [90.0; 3], [0.0; 3]];
        let config = CommonConfig {
            blur: 3.0,
            ..Default::default()
        };
        PostProcessor::default().apply(&config, &mut frame);
        assert_eq!(channel0(&frame), [0.0, 90.0, 0.0]);
    }

    #[test]
    fn background_then_brightness_golden_vector() {
        let mut frame = vec![[0.0; 3], [200.0; 3]];
        let config = CommonConfig {
            brightness: 0.5,
            background_color: Rgb([0x10, 0x20, 0x30]),
            ..Default::default()
        };
        PostProcessor::default().apply(&config, &mut frame);
        assert_eq!(frame, [[8.0, 16.0, 24.0], [108.0, 116.0, 124.0]]);
    }

    #[test]
    fn background_brightness_scales_only_the_background() {
        let mut frame = vec![[100.0; 3]];
        let config = CommonConfig {
            background_color: Rgb([100, 0, 0]),
            background_brightness: 0.5,
            ..Default::default()
        };
        PostProcessor::default().apply(&config, &mut frame);
        assert_eq!(frame, [[150.0, 100.0, 100.0]]);
    }
}

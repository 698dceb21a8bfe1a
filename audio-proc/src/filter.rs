//! The small stateful filters the analysis is built from: LedFx's `ExpFilter` (scalar and
//! vector) and a direct-form-I biquad (the melbank pre-emphasis and the resampler's
//! anti-alias low-pass).
//!
//! They live apart from the analysis so their exact semantics — which LedFx users' effects
//! depend on — can be pinned by the spec's golden vectors (engine spec §1.6, §9.7).

/// Errors of this module. The filters themselves cannot fail; only a biquad design with
/// impossible parameters can.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error(
        "low-pass cut-off {cutoff_hz} Hz must lie strictly between 0 and half of {rate_hz} Hz"
    )]
    DesignLowPass { cutoff_hz: f64, rate_hz: f64 },
}

/// LedFx's exponential filter on a scalar (engine spec §1.6).
///
/// `rise` and `decay` are the weights of the *new* sample (0.99 ≈ follows instantly,
/// 0.01 ≈ very slow); `rise` applies when the input is above the current value, `decay`
/// otherwise (ties use `decay`). An unset filter passes its first input straight through.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpFilter {
    decay: f32,
    rise: f32,
    value: Option<f32>,
}

impl ExpFilter {
    /// A filter with no value yet.
    pub fn new(decay: f32, rise: f32) -> Self {
        Self {
            decay,
            rise,
            value: None,
        }
    }

    /// A filter starting at `initial` (LedFx's volume filter starts at −90, for example).
    pub fn with_initial(decay: f32, rise: f32, initial: f32) -> Self {
        Self {
            decay,
            rise,
            value: Some(initial),
        }
    }

    /// Feeds one sample and returns the new value.
    pub fn update(&mut self, x: f32) -> f32 {
        let next = match self.value {
            None => x,
            Some(v) => {
                let a = if x > v { self.rise } else { self.decay };
                a * x + (1.0 - a) * v
            }
        };
        self.value = Some(next);
        next
    }

    /// The current value, `None` before the first update of an unset filter.
    pub fn value(&self) -> Option<f32> {
        self.value
    }
}

/// [`ExpFilter`] applied element-wise to a vector of fixed length.
#[derive(Debug, Clone, PartialEq)]
pub struct VecExpFilter {
    decay: f32,
    rise: f32,
    value: Vec<f32>,
    /// Updates still to pass straight through (an unset filter passes its first).
    pass_through: u8,
}

impl VecExpFilter {
    /// An unset filter over vectors of `len` elements.
    pub fn new(len: usize, decay: f32, rise: f32) -> Self {
        Self {
            decay,
            rise,
            value: vec![0.0; len],
            pass_through: 1,
        }
    }

    /// An unset filter that, like LedFx's melbank smoothing and floor filters, passes its
    /// first *two* updates straight through.
    ///
    /// Why: LedFx's `ExpFilter` keeps a reference to its first input instead of a copy, and
    /// those two filters are first fed the melbank's own output buffer, which LedFx then
    /// overwrites in place with the next frame's values before the next update. That update
    /// therefore compares the new input with itself and keeps it as it is. Recorded from
    /// LedFx 2.2.1 (`tests/fixtures/audio`): without this the melbanks differ by up to 0.13
    /// for the first few frames after audio starts.
    pub fn ledfx_aliased(len: usize, decay: f32, rise: f32) -> Self {
        Self {
            pass_through: 2,
            ..Self::new(len, decay, rise)
        }
    }

    /// A filter over vectors of `len` elements, all starting at `initial`.
    pub fn with_initial(len: usize, decay: f32, rise: f32, initial: f32) -> Self {
        Self {
            decay,
            rise,
            value: vec![initial; len],
            pass_through: 0,
        }
    }

    /// Feeds one vector (must have the filter's length; extra elements are ignored, missing
    /// ones keep their value) and returns the new value.
    pub fn update(&mut self, x: &[f32]) -> &[f32] {
        if self.pass_through == 0 {
            for (v, &x) in self.value.iter_mut().zip(x) {
                let a = if x > *v { self.rise } else { self.decay };
                *v = a * x + (1.0 - a) * *v;
            }
        } else {
            for (v, &x) in self.value.iter_mut().zip(x) {
                *v = x;
            }
            self.pass_through -= 1;
        }
        &self.value
    }

    /// The current value (zeros, or the initial value, before the first update).
    pub fn value(&self) -> &[f32] {
        &self.value
    }
}

/// Coefficients of a biquad, normalised so that `a0 = 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BiquadCoeffs {
    pub b0: f64,
    pub b1: f64,
    pub b2: f64,
    pub a1: f64,
    pub a2: f64,
}

impl BiquadCoeffs {
    /// LedFx's `matt_mel` pre-emphasis (engine spec §1.3). It has a pole and a zero on the
    /// unit circle at z = 1 that cancel; the state is kept in `f64` so they keep cancelling.
    pub const MATT_MEL_PREEMPHASIS: BiquadCoeffs = BiquadCoeffs {
        b0: 0.8268,
        b1: -1.6536,
        b2: 0.8268,
        a1: -1.6536,
        a2: 0.6536,
    };

    /// LedFx's pre-emphasis for `scott_mel`.
    pub const SCOTT_MEL_PREEMPHASIS: BiquadCoeffs = BiquadCoeffs {
        b0: 1.3662,
        b1: -1.9256,
        b2: 0.5621,
        a1: -1.9256,
        a2: 0.9283,
    };

    /// LedFx's pre-emphasis for every other coefficient type.
    pub const GENERIC_PREEMPHASIS: BiquadCoeffs = BiquadCoeffs {
        b0: 0.85870,
        b1: -1.71740,
        b2: 0.85870,
        a1: -1.71605,
        a2: 0.71874,
    };

    /// The pre-emphasis LedFx uses with `coeffs_type`.
    pub fn preemphasis(coeffs_type: crate::melbank::CoeffsType) -> Self {
        use crate::melbank::CoeffsType;
        match coeffs_type {
            CoeffsType::MattMel => Self::MATT_MEL_PREEMPHASIS,
            CoeffsType::ScottMel => Self::SCOTT_MEL_PREEMPHASIS,
            _ => Self::GENERIC_PREEMPHASIS,
        }
    }

    /// A second-order Butterworth low-pass (RBJ cookbook, Q = 1/√2).
    pub fn low_pass(cutoff_hz: f64, rate_hz: f64) -> Result<Self, FilterError> {
        if !(cutoff_hz > 0.0 && cutoff_hz < rate_hz / 2.0) {
            return Err(FilterError::DesignLowPass { cutoff_hz, rate_hz });
        }
        let w0 = 2.0 * std::f64::consts::PI * cutoff_hz / rate_hz;
        let alpha = w0.sin() / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let cos = w0.cos();
        let a0 = 1.0 + alpha;
        Ok(Self {
            b0: (1.0 - cos) / 2.0 / a0,
            b1: (1.0 - cos) / a0,
            b2: (1.0 - cos) / 2.0 / a0,
            a1: -2.0 * cos / a0,
            a2: (1.0 - alpha) / a0,
        })
    }
}

/// A stateful direct-form-I biquad: `y = b0·x + b1·x1 + b2·x2 − a1·y1 − a2·y2`.
#[derive(Debug, Clone, PartialEq)]
pub struct Biquad {
    c: BiquadCoeffs,
    x1: f64,
    x2: f64,
    y1: f64,
    y2: f64,
}

impl Biquad {
    /// A biquad at rest.
    pub fn new(c: BiquadCoeffs) -> Self {
        Self {
            c,
            x1: 0.0,
            x2: 0.0,
            y1: 0.0,
            y2: 0.0,
        }
    }

    /// Filters one sample.
    pub fn process(&mut self, x: f32) -> f32 {
        let x = f64::from(x);
        let c = &self.c;
        let y = c.b0 * x + c.b1 * self.x1 + c.b2 * self.x2 - c.a1 * self.y1 - c.a2 * self.y2;
        self.x2 = self.x1;
        self.x1 = x;
        self.y2 = self.y1;
        self.y1 = y;
        y as f32
    }

    /// Filters `input` into `out` (same length).
    pub fn process_into(&mut self, input: &[f32], out: &mut [f32]) {
        for (o, &x) in out.iter_mut().zip(input) {
            *o = self.process(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledfx_aliased_filter_passes_two_updates_then_smooths() {
        let mut f = VecExpFilter::ledfx_aliased(1, 0.5, 0.5);
        assert_eq!(f.update(&[1.0]), &[1.0]);
        assert_eq!(f.update(&[3.0]), &[3.0]);
        assert_eq!(f.update(&[1.0]), &[2.0]);
        let mut plain = VecExpFilter::new(1, 0.5, 0.5);
        plain.update(&[1.0]);
        assert_eq!(plain.update(&[3.0]), &[2.0]);
    }

    #[test]
    fn exp_filter_matches_golden_vector_7() {
        // Engine spec §9.7: ExpFilter(decay .35, rise .6), inputs 1,0,0,1,1.
        let mut f = ExpFilter::new(0.35, 0.6);
        let out: Vec<f32> = [1.0, 0.0, 0.0, 1.0, 1.0]
            .iter()
            .map(|&x| f.update(x))
            .collect();
        let expected = [1.0, 0.65, 0.4225, 0.769, 0.9076];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-3, "{out:?} vs {expected:?}");
        }
    }

    #[test]
    fn vec_exp_filter_is_element_wise_and_ties_take_decay() {
        let mut f = VecExpFilter::new(2, 0.35, 0.6);
        assert_eq!(f.update(&[1.0, 0.0]), &[1.0, 0.0]);
        let v = f.update(&[0.0, 1.0]).to_vec();
        assert!((v[0] - 0.65).abs() < 1e-6 && (v[1] - 0.6).abs() < 1e-6);
        // A tie takes the decay branch, which leaves the value unchanged either way.
        let v2 = f.update(&v).to_vec();
        assert_eq!(v2, v);
    }

    #[test]
    fn initial_value_quirk_of_the_volume_filter() {
        // Engine spec §1.3: the first filtered volume is 0.99·x − 0.9.
        let mut f = ExpFilter::with_initial(0.99, 0.99, -90.0);
        let first = f.update(0.5);
        assert!((first - (0.99 * 0.5 - 0.9)).abs() < 1e-5);
        assert!(first < 0.0);
        // After that it is effectively pass-through.
        assert!((f.update(0.5) - 0.5).abs() < 0.02);
    }

    #[test]
    fn preemphasis_is_a_first_order_high_pass() {
        let mut b = Biquad::new(BiquadCoeffs::MATT_MEL_PREEMPHASIS);
        // DC is removed: the output of a constant input decays to zero.
        let mut last = 1.0;
        for _ in 0..200 {
            last = b.process(1.0);
        }
        assert!(last.abs() < 1e-6, "dc leaks through: {last}");
        // A Nyquist-rate square wave passes with gain 0.8268·2/1.6536 = 1.
        let mut b = Biquad::new(BiquadCoeffs::MATT_MEL_PREEMPHASIS);
        let mut y = 0.0;
        for i in 0..400 {
            y = b.process(if i % 2 == 0 { 1.0 } else { -1.0 });
        }
        assert!((y.abs() - 1.0).abs() < 1e-3, "nyquist gain {y}");
    }

    #[test]
    fn low_pass_passes_dc_and_rejects_near_nyquist() {
        let c = BiquadCoeffs::low_pass(13_500.0, 48_000.0).unwrap();
        let mut b = Biquad::new(c);
        let mut y = 0.0;
        for _ in 0..1000 {
            y = b.process(1.0);
        }
        assert!((y - 1.0).abs() < 1e-4);
        let mut b = Biquad::new(c);
        let mut peak: f32 = 0.0;
        for i in 0..2000 {
            let y = b.process(if i % 2 == 0 { 1.0 } else { -1.0 });
            if i > 1000 {
                peak = peak.max(y.abs());
            }
        }
        assert!(peak < 0.05, "nyquist leaks: {peak}");
        assert!(BiquadCoeffs::low_pass(30_000.0, 48_000.0).is_err());
    }
}

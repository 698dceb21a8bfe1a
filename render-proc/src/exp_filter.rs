//! LedFx's exponential smoothing filter (engine spec §1.6).
//!
//! `rise` and `decay` are the *weights of the new sample* (0.99 ≈ instant, 0.01 ≈ very slow),
//! chosen element-wise by whether the new sample is above the state; ties take `decay`. The
//! first update passes the input straight through. The state is kept in a reusable buffer so
//! filtering a whole frame every render does not allocate.

/// An element-wise exponential filter over a vector of fixed length.
#[derive(Debug, Clone)]
pub struct ExpFilter {
    /// Weight of a new sample that is not above the state.
    pub decay: f64,
    /// Weight of a new sample that is above the state.
    pub rise: f64,
    state: Vec<f64>,
    /// Whether `state` holds a value ("unset" until the first update).
    primed: bool,
}

impl ExpFilter {
    /// An unset filter.
    pub fn new(decay: f64, rise: f64) -> Self {
        Self {
            decay,
            rise,
            state: Vec::new(),
            primed: false,
        }
    }

    /// Forgets the state: the next update passes through.
    pub fn reset(&mut self) {
        self.primed = false;
    }

    /// Feeds `values` and replaces them with the filtered values. A change of length resets
    /// the filter (the frame size changed, the old state means nothing).
    pub fn update(&mut self, values: &mut [f64]) {
        if !self.primed || self.state.len() != values.len() {
            self.state.clear();
            self.state.extend_from_slice(values);
            self.primed = true;
            return;
        }
        for (s, x) in self.state.iter_mut().zip(values.iter_mut()) {
            let a = if *x > *s { self.rise } else { self.decay };
            *s = a * *x + (1.0 - a) * *s;
            *x = *s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_vector() {
        // Engine spec §1.6/§9.7: decay 0.35, rise 0.6, inputs 1,0,0,1,1.
        let mut f = ExpFilter::new(0.35, 0.6);
        let out: Vec<f64> = [1.0, 0.0, 0.0, 1.0, 1.0]
            .iter()
            .map(|&x| {
                let mut v = [x];
                f.update(&mut v);
                v[0]
            })
            .collect();
        let expected = [1.0, 0.65, 0.4225, 0.769, 0.9076];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 5e-5, "{out:?}");
        }
    }

    #[test]
    fn elements_rise_and_decay_independently_and_reset_passes_through() {
        let mut f = ExpFilter::new(0.5, 1.0);
        let mut v = [1.0, 0.0];
        f.update(&mut v);
        let mut v = [0.0, 1.0];
        f.update(&mut v);
        assert_eq!(v, [0.5, 1.0]);
        f.reset();
        let mut v = [7.0, 8.0];
        f.update(&mut v);
        assert_eq!(v, [7.0, 8.0]);
    }
}

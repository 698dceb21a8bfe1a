//! Transitions between two effects on a virtual (engine spec §5).
//!
//! A transition lasts `total = refresh_rate × transition_time` frames of the virtual (counted
//! in frames, not wall-clock, as LedFx does). Each frame the counter goes up by one (clamped to
//! `total`), `w = counter/total`, and the new frame `F` is blended in place with the old
//! effect's frame `T`. The blend runs on the effective frame after clipping and centre offset,
//! before max/global brightness.

use crate::rng::SplitMix64;
use crate::Pixel;

/// LedFx's transition modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionMode {
    Add,
    Dissolve,
    Push,
    Slide,
    Iris,
    ThroughWhite,
    ThroughBlack,
    None,
}

impl TransitionMode {
    /// Parses LedFx's mode name; unknown names fall back to the default, Add (the supervisor
    /// validates the name, so this only guards against a version skew).
    pub fn from_name(name: &str) -> Self {
        match name {
            "Dissolve" => Self::Dissolve,
            "Push" => Self::Push,
            "Slide" => Self::Slide,
            "Iris" => Self::Iris,
            "Through White" => Self::ThroughWhite,
            "Through Black" => Self::ThroughBlack,
            "None" => Self::None,
            _ => Self::Add,
        }
    }
}

/// Per-virtual masks that depend only on the frame length.
#[derive(Debug, Clone, Default)]
pub struct Masks {
    /// Dissolve: a fixed random threshold per pixel, drawn when the layout is (re)built and
    /// reused for every later transition (as LedFx does).
    dissolve: Vec<f64>,
    /// Iris: the V-shaped threshold mask.
    iris: Vec<f64>,
}

impl Masks {
    /// Masks for a frame of `len` pixels.
    pub fn new(len: usize, rng: &mut SplitMix64) -> Self {
        let mut iris = Vec::new();
        iris_mask(len, &mut iris);
        Self {
            dissolve: (0..len).map(|_| rng.next_f64()).collect(),
            iris,
        }
    }

    /// Frame length the masks were built for.
    pub fn len(&self) -> usize {
        self.iris.len()
    }

    /// Whether the masks are for an empty frame.
    pub fn is_empty(&self) -> bool {
        self.iris.is_empty()
    }
}

/// The Iris mask: `linspace(1, 0, E)`, even-indexed values in order followed by the
/// odd-indexed ones reversed (E=6 → [1, .6, .2, 0, .4, .8]). Pixels whose value exceeds the
/// progress still show the old effect, so the new one opens from the middle.
pub fn iris_mask(len: usize, out: &mut Vec<f64>) {
    out.clear();
    let value = |i: usize| {
        if len > 1 {
            1.0 - i as f64 / (len - 1) as f64
        } else {
            1.0
        }
    };
    out.extend((0..len).step_by(2).map(value));
    let odd_start = out.len();
    out.extend((1..len).step_by(2).map(value));
    out[odd_start..].reverse();
}

/// Progress of a running transition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    counter: f64,
    total: f64,
}

impl Progress {
    /// A transition of `refresh_rate × transition_time` frames (fractional: 62 × 0.4 = 24.8
    /// finishes on the 25th frame).
    pub fn new(refresh_rate: u32, transition_time: f64) -> Self {
        Self {
            counter: 0.0,
            total: f64::from(refresh_rate) * transition_time,
        }
    }

    /// Counts one frame and returns its weight `w` (1 when `total` is 0).
    pub fn step(&mut self) -> f64 {
        self.counter = (self.counter + 1.0).min(self.total);
        if self.total <= 0.0 {
            1.0
        } else {
            self.counter / self.total
        }
    }

    /// Whether the last counted frame completed the transition.
    pub fn finished(&self) -> bool {
        self.counter >= self.total
    }
}

/// Blends the new frame `new` with the old frame `old` at progress `w`, in place on `new`.
pub fn blend(mode: TransitionMode, w: f64, new: &mut [Pixel], old: &[Pixel], masks: &Masks) {
    let e = new.len().min(old.len());
    let k = (((1.0 - w) * e as f64) as usize).min(e);
    match mode {
        TransitionMode::Add => {
            for (n, o) in new.iter_mut().zip(old) {
                for (nc, oc) in n.iter_mut().zip(o) {
                    *nc = w * *nc + (1.0 - w) * oc;
                }
            }
        }
        TransitionMode::Dissolve => show_old_where(&masks.dissolve, w, new, old),
        TransitionMode::Iris => show_old_where(&masks.iris, w, new, old),
        TransitionMode::Push => new[..k].copy_from_slice(&old[e - k..e]),
        TransitionMode::Slide => new[..k].copy_from_slice(&old[..k]),
        TransitionMode::ThroughWhite => {
            if w < 0.5 {
                let floor = 2.0 * w * 255.0;
                for (n, o) in new.iter_mut().zip(old) {
                    *n = o.map(|c| c.max(floor));
                }
            } else {
                let floor = 2.0 * (1.0 - w) * 255.0;
                for n in new.iter_mut() {
                    *n = n.map(|c| c.max(floor));
                }
            }
        }
        TransitionMode::ThroughBlack => {
            if w < 0.5 {
                let ceiling = 255.0 * (1.0 - 2.0 * w);
                for (n, o) in new.iter_mut().zip(old) {
                    *n = o.map(|c| c.min(ceiling));
                }
            } else {
                let ceiling = 255.0 * 2.0 * (w - 0.5);
                for n in new.iter_mut() {
                    *n = n.map(|c| c.min(ceiling));
                }
            }
        }
        TransitionMode::None => {}
    }
}

/// Pixel i shows the old frame while `mask[i] > w`.
fn show_old_where(mask: &[f64], w: f64, new: &mut [Pixel], old: &[Pixel]) {
    for ((n, o), &m) in new.iter_mut().zip(old).zip(mask) {
        if m > w {
            *n = *o;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masks(len: usize) -> Masks {
        Masks::new(len, &mut SplitMix64::new(3))
    }

    fn frame(values: &[f64]) -> Vec<Pixel> {
        values.iter().map(|&v| [v; 3]).collect()
    }

    fn ch0(f: &[Pixel]) -> Vec<f64> {
        f.iter().map(|p| p[0]).collect()
    }

    #[test]
    fn iris_mask_golden_examples() {
        let mut m = Vec::new();
        iris_mask(6, &mut m);
        let expected = [1.0, 0.6, 0.2, 0.0, 0.4, 0.8];
        assert!(
            m.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12),
            "{m:?}"
        );
        iris_mask(5, &mut m);
        assert_eq!(m, [1.0, 0.5, 0.0, 0.25, 0.75]);
        iris_mask(1, &mut m);
        assert_eq!(m, [1.0]);
    }

    #[test]
    fn iris_opens_from_the_middle() {
        let old = frame(&[9.0; 6]);
        let mut new = frame(&[1.0; 6]);
        blend(TransitionMode::Iris, 0.5, &mut new, &old, &masks(6));
        // Mask [1, .6, .2, 0, .4, .8] > 0.5 → pixels 0, 1, 5 still old.
        assert_eq!(ch0(&new), [9.0, 9.0, 1.0, 1.0, 1.0, 9.0]);
    }

    #[test]
    fn add_is_a_crossfade() {
        let old = frame(&[200.0, 0.0]);
        let mut new = frame(&[0.0, 100.0]);
        blend(TransitionMode::Add, 0.25, &mut new, &old, &masks(2));
        assert_eq!(ch0(&new), [150.0, 25.0]);
    }

    #[test]
    fn push_and_slide_keep_part_of_the_old_frame_at_the_start() {
        let old = frame(&[1.0, 2.0, 3.0, 4.0]);
        let mut push = frame(&[0.0; 4]);
        // k = int(0.5·4) = 2.
        blend(TransitionMode::Push, 0.5, &mut push, &old, &masks(4));
        assert_eq!(ch0(&push), [3.0, 4.0, 0.0, 0.0]);
        let mut slide = frame(&[0.0; 4]);
        blend(TransitionMode::Slide, 0.5, &mut slide, &old, &masks(4));
        assert_eq!(ch0(&slide), [1.0, 2.0, 0.0, 0.0]);
    }

    #[test]
    fn through_white_and_black_pass_through_the_extreme() {
        let old = frame(&[100.0]);
        let mut new = frame(&[50.0]);
        blend(
            TransitionMode::ThroughWhite,
            0.25,
            &mut new,
            &old,
            &masks(1),
        );
        assert_eq!(ch0(&new), [127.5]);
        let mut new = frame(&[50.0]);
        blend(
            TransitionMode::ThroughWhite,
            0.75,
            &mut new,
            &old,
            &masks(1),
        );
        assert_eq!(ch0(&new), [127.5]);
        let mut new = frame(&[50.0]);
        blend(
            TransitionMode::ThroughBlack,
            0.25,
            &mut new,
            &old,
            &masks(1),
        );
        assert_eq!(ch0(&new), [100.0]);
        let mut new = frame(&[200.0]);
        blend(TransitionMode::ThroughBlack, 0.5, &mut new, &old, &masks(1));
        assert_eq!(ch0(&new), [0.0]);
    }

    #[test]
    fn dissolve_uses_a_fixed_random_order() {
        let m = masks(50);
        let old = frame(&[1.0; 50]);
        let mut a = frame(&[0.0; 50]);
        blend(TransitionMode::Dissolve, 0.5, &mut a, &old, &m);
        let shown_old = ch0(&a).iter().filter(|&&v| v == 1.0).count();
        assert!((10..40).contains(&shown_old), "{shown_old}");
        let mut b = frame(&[0.0; 50]);
        blend(TransitionMode::Dissolve, 0.5, &mut b, &old, &m);
        assert_eq!(a, b);
        let mut done = frame(&[0.0; 50]);
        blend(TransitionMode::Dissolve, 1.0, &mut done, &old, &m);
        assert!(ch0(&done).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn progress_counts_frames_and_finishes_on_the_frame_after_a_fraction() {
        let mut p = Progress::new(62, 0.4);
        let mut frames = 0;
        loop {
            let w = p.step();
            frames += 1;
            assert!(w > 0.0 && w <= 1.0);
            if p.finished() {
                assert_eq!(w, 1.0);
                break;
            }
        }
        assert_eq!(frames, 25);
        let mut instant = Progress::new(62, 0.0);
        assert_eq!(instant.step(), 1.0);
        assert!(instant.finished());
    }

    #[test]
    fn mode_names_parse() {
        assert_eq!(
            TransitionMode::from_name("Through White"),
            TransitionMode::ThroughWhite
        );
        assert_eq!(TransitionMode::from_name("None"), TransitionMode::None);
        assert_eq!(TransitionMode::from_name("bogus"), TransitionMode::Add);
    }
}

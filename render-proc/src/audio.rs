//! What audio-reactive effects see of audio-proc's analysis (engine spec §1.7).
//!
//! * [`AudioReader`] copies the newest [`AudioFrame`] out of shared memory once per tick and
//!   hides frames older than [`STALE_AFTER_NS`]: when audio-proc is dead or hung, effects see
//!   silence and decay to black, and they resume as soon as fresh frames arrive.
//! * [`MelbankRange`] is the per-virtual melbank view: the virtual's `frequency_min/max` choose
//!   the melbank and the bin range; [`melbank_into`] interpolates it onto any size and
//!   [`thirds_means`] gives the lows/mids/highs means of `melbank_thirds`.

use proto::audio::{AudioFrame, MELBANKS};
use proto::slot::FrameSlot;

/// An audio frame older than this counts as silence.
pub const STALE_AFTER_NS: u64 = 250_000_000;

/// The latest fresh analysis frame and its number in the slot.
#[derive(Debug, Clone, Copy)]
pub struct AudioSnapshot {
    pub frame: AudioFrame,
    /// Slot frame number: a new value means a new analysis hop (for once-per-hop events such
    /// as the volume beat).
    pub frame_no: u64,
}

/// Reads the audio slot, reusing its buffers.
#[derive(Debug, Default)]
pub struct AudioReader {
    bytes: Vec<u8>,
    snapshot: Option<AudioSnapshot>,
    timestamp_ns: u64,
}

impl AudioReader {
    /// Refreshes from `slot` and returns the current snapshot, `None` when there is no frame
    /// or the newest one is older than [`STALE_AFTER_NS`] at `now_ns`.
    pub fn refresh(&mut self, slot: &FrameSlot<'_>, now_ns: u64) -> Option<&AudioSnapshot> {
        let latest = slot.latest_frame_no();
        let cached = self.snapshot.map(|s| s.frame_no);
        if latest != 0 && cached != Some(latest) {
            if let Some(meta) = slot.read_latest(&mut self.bytes) {
                if let Some(frame) = AudioFrame::from_bytes(&self.bytes) {
                    self.snapshot = Some(AudioSnapshot {
                        frame,
                        frame_no: meta.frame_no,
                    });
                    self.timestamp_ns = meta.timestamp_ns;
                }
            }
        }
        self.current(now_ns)
    }

    /// The cached snapshot if it is still fresh at `now_ns`.
    pub fn current(&self, now_ns: u64) -> Option<&AudioSnapshot> {
        let fresh = now_ns.saturating_sub(self.timestamp_ns) <= STALE_AFTER_NS;
        self.snapshot.as_ref().filter(|_| fresh)
    }
}

/// Which melbank and which bins `[lo, hi)` an effect on a virtual reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MelbankRange {
    pub bank: usize,
    pub lo: usize,
    pub hi: usize,
}

impl MelbankRange {
    /// LedFx's selection: the first melbank whose maximum frequency reaches `frequency_max`
    /// (the last one if none does); `lo` = first bin centred at or above `frequency_min`
    /// (else 0), `hi` = first bin centred at or above `frequency_max` (else all), at least one
    /// bin.
    pub fn select(frame: &AudioFrame, frequency_min: u32, frequency_max: u32) -> Self {
        let (fmin, fmax) = (frequency_min as f32, frequency_max as f32);
        let bank = frame
            .melbank_max_hz
            .iter()
            .position(|&m| m >= fmax)
            .unwrap_or(MELBANKS - 1);
        let n = frame.melbank(bank, false).len();
        let centres = &frame.mel_centre_hz[bank][..n];
        let lo = centres.iter().position(|&c| c >= fmin).unwrap_or(0);
        let hi = centres.iter().position(|&c| c >= fmax).unwrap_or(n);
        let hi = hi.max(lo + 1).min(n);
        Self {
            bank,
            lo: lo.min(hi),
            hi,
        }
    }

    /// The selected bins of the unfiltered or filtered melbank (NaN read as 0 by callers).
    pub fn bins<'a>(&self, frame: &'a AudioFrame, filtered: bool) -> &'a [f32] {
        &frame.melbank(self.bank, filtered)[self.lo..self.hi]
    }
}

/// `melbank(filtered, size)`: the view interpolated onto `size` points
/// (`interp(linspace(0,1,size), linspace(0,1,L), values)`), NaNs zeroed, written into `out`.
pub fn melbank_into(values: &[f32], size: usize, out: &mut Vec<f64>) {
    out.clear();
    let clean = |v: f32| if v.is_nan() { 0.0 } else { f64::from(v) };
    let l = values.len();
    if l == 0 {
        out.resize(size, 0.0);
        return;
    }
    if size == l {
        out.extend(values.iter().map(|&v| clean(v)));
        return;
    }
    out.extend((0..size).map(|j| {
        let t = if size > 1 {
            j as f64 * (l - 1) as f64 / (size - 1) as f64
        } else {
            0.0
        };
        let i0 = (t.floor() as usize).min(l - 1);
        let frac = t - i0 as f64;
        let a = clean(values[i0]);
        match values.get(i0 + 1) {
            Some(&b) if frac > 0.0 => a + frac * (clean(b) - a),
            _ => a,
        }
    }));
}

/// Means of `melbank_thirds`: the view split at `int(0.2·L)` and `int(0.5·L)` into lows, mids
/// and highs; an empty part counts as `[0.0]`; NaNs as 0.
pub fn thirds_means(values: &[f32]) -> [f64; 3] {
    let l = values.len();
    let a = (0.2 * l as f64) as usize;
    let b = (0.5 * l as f64) as usize;
    let mean = |part: &[f32]| {
        if part.is_empty() {
            return 0.0;
        }
        let sum: f64 = part
            .iter()
            .map(|&v| if v.is_nan() { 0.0 } else { f64::from(v) })
            .sum();
        sum / part.len() as f64
    };
    [mean(&values[..a]), mean(&values[a..b]), mean(&values[b..])]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame with 24 bins per melbank, centres spread log-like from 50 Hz to the bank's max.
    fn frame() -> AudioFrame {
        let mut f = AudioFrame::silent();
        f.mel_samples = 24;
        f.melbank_max_hz = [350.0, 2000.0, 15000.0];
        for bank in 0..MELBANKS {
            let max = f.melbank_max_hz[bank];
            for i in 0..24 {
                f.mel_centre_hz[bank][i] = 50.0 * (max / 50.0).powf(i as f32 / 23.0);
            }
        }
        f
    }

    #[test]
    fn full_range_selects_the_widest_melbank_and_all_bins() {
        let r = MelbankRange::select(&frame(), 20, 15000);
        assert_eq!(
            r,
            MelbankRange {
                bank: 2,
                lo: 0,
                hi: 23
            }
        );
        // 15000 Hz is the last centre exactly, so hi stops before it, as LedFx's ">=" does.
    }

    #[test]
    fn a_low_range_selects_the_first_melbank_and_a_bin_window() {
        let f = frame();
        let r = MelbankRange::select(&f, 60, 250);
        assert_eq!(r.bank, 0);
        let centres = &f.mel_centre_hz[0];
        assert!(centres[r.lo] >= 60.0 && centres[r.lo - 1] < 60.0);
        assert!(centres[r.hi] >= 250.0 && centres[r.hi - 1] < 250.0);
    }

    #[test]
    fn an_empty_range_still_has_one_bin_and_missing_centres_mean_everything() {
        let f = frame();
        let r = MelbankRange::select(&f, 349, 350);
        assert_eq!(r.hi - r.lo, 1);
        let mut bare = AudioFrame::silent();
        bare.mel_samples = 24;
        let r = MelbankRange::select(&bare, 20, 15000);
        assert_eq!(
            r,
            MelbankRange {
                bank: 2,
                lo: 0,
                hi: 24
            }
        );
    }

    #[test]
    fn interpolation_onto_more_and_fewer_points() {
        let mut out = Vec::new();
        melbank_into(&[0.0, 1.0, f32::NAN], 5, &mut out);
        assert_eq!(out, [0.0, 0.5, 1.0, 0.5, 0.0]);
        melbank_into(&[0.0, 2.0, 4.0], 2, &mut out);
        assert_eq!(out, [0.0, 4.0]);
        melbank_into(&[3.0, 4.0], 2, &mut out);
        assert_eq!(out, [3.0, 4.0]);
    }

    #[test]
    fn thirds_split_at_twenty_and_fifty_percent() {
        // L = 24: bins 0–3, 4–11, 12–23 (engine spec §1.7).
        let mut v = [0.0f32; 24];
        v[..4].fill(1.0);
        v[4..12].fill(2.0);
        v[12..].fill(3.0);
        assert_eq!(thirds_means(&v), [1.0, 2.0, 3.0]);
        // L = 2: lows empty → 0.
        assert_eq!(thirds_means(&[5.0, 7.0]), [0.0, 5.0, 7.0]);
    }

    #[test]
    fn stale_frames_read_as_silence() {
        let seg = proto::layout::Segment::create().unwrap();
        let slot = seg.audio_slot();
        let mut reader = AudioReader::default();
        assert!(reader.refresh(&slot, 1_000).is_none());
        let mut f = frame();
        f.volume = 0.5;
        slot.publish(f.as_bytes(), 1_000_000_000);
        let snap = reader.refresh(&slot, 1_100_000_000).unwrap();
        assert_eq!((snap.frame.volume, snap.frame_no), (0.5, 1));
        assert!(reader.refresh(&slot, 1_300_000_000).is_none());
        slot.publish(f.as_bytes(), 1_300_000_000);
        assert_eq!(reader.refresh(&slot, 1_300_000_001).unwrap().frame_no, 2);
    }
}

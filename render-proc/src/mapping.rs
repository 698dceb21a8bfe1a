//! From a virtual's effective frame to device pixels (engine spec §4.3–§4.5).
//!
//! * [`Layout`] is what a virtual's segments, mapping and grouping mean: its pixel count, the
//!   effective pixel count `E` its effect renders, and where each segment lands.
//! * [`Layout::write_segment`] writes one segment's pixels into a device's byte buffer (span:
//!   the grouped frame laid end to end, inverted segments reversed; copy: the frame resampled
//!   to each segment). Bytes are produced by truncation, as LedFx's `astype(uint8)`.
//! * [`priority_virtual`] picks the virtual that sends a shared device's frame.
//!
//! Everything is computed per pixel on the fly, so mapping allocates nothing per frame.

use proto::pipeline::{Mapping, VirtualSpec};

use crate::Pixel;

/// One segment of a virtual, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedSegment {
    /// Device pixel slot; `None` for gaps (and devices unknown to the pipeline), which take
    /// up virtual pixels but are never written.
    pub slot: Option<u16>,
    /// First device pixel.
    pub start: usize,
    /// Device pixels covered.
    pub width: usize,
    pub invert: bool,
    /// Span mapping: the segment's first physical pixel within the virtual.
    pub offset: usize,
}

/// How a virtual's frame maps onto its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub mapping: Mapping,
    /// Physical pixels per effect pixel (≥ 1).
    pub group: usize,
    /// Span: sum of segment widths; copy: the largest width (gaps included in both).
    pub pixel_count: usize,
    /// Pixels the effect renders: `ceil(pixel_count / group)`.
    pub effective: usize,
    pub segments: Vec<PlacedSegment>,
    /// Device slots written to, each once, in first-use order.
    pub slots: Vec<u16>,
}

impl Layout {
    /// The layout of `spec`.
    pub fn new(spec: &VirtualSpec) -> Self {
        let group = spec.grouping.max(1) as usize;
        let mut offset = 0;
        let segments: Vec<PlacedSegment> = spec
            .segments
            .iter()
            .map(|s| {
                let width = s.end.saturating_sub(s.start) as usize + 1;
                let placed = PlacedSegment {
                    slot: s.device_slot,
                    start: s.start as usize,
                    width,
                    invert: s.invert,
                    offset,
                };
                offset += width;
                placed
            })
            .collect();
        let pixel_count = match spec.mapping {
            Mapping::Span => offset,
            Mapping::Copy => segments.iter().map(|s| s.width).max().unwrap_or(0),
        };
        let mut slots: Vec<u16> = Vec::new();
        for slot in segments.iter().filter_map(|s| s.slot) {
            if !slots.contains(&slot) {
                slots.push(slot);
            }
        }
        Self {
            mapping: spec.mapping,
            group,
            pixel_count,
            effective: pixel_count.div_ceil(group),
            segments,
            slots,
        }
    }

    /// Writes segment `seg`'s pixels of the effective `frame` into `device` (RGB bytes of the
    /// whole device; pixels beyond its end are dropped).
    pub fn write_segment(&self, seg: &PlacedSegment, frame: &[Pixel], device: &mut [u8]) {
        let device_pixels = device.len() / 3;
        if frame.is_empty() || seg.start >= device_pixels {
            return;
        }
        let width = seg.width.min(device_pixels - seg.start);
        let dst = &mut device[seg.start * 3..(seg.start + width) * 3];
        let g = self.group;
        match self.mapping {
            Mapping::Span => {
                for (k, out) in dst.chunks_exact_mut(3).enumerate() {
                    let within = if seg.invert { seg.width - 1 - k } else { k };
                    let effective = ((seg.offset + within) / g).min(frame.len() - 1);
                    write_pixel(out, frame[effective]);
                }
            }
            Mapping::Copy => {
                // Resample E → Ew = ceil(w/g), reverse if inverted, expand groups to w.
                let ew = seg.width.div_ceil(g);
                for (k, out) in dst.chunks_exact_mut(3).enumerate() {
                    let j = k / g;
                    let j = if seg.invert { ew - 1 - j } else { j };
                    write_pixel(out, resample(frame, j, ew));
                }
            }
        }
    }

    /// Whether the layout writes to device slot `slot`.
    pub fn uses_slot(&self, slot: u16) -> bool {
        self.slots.contains(&slot)
    }
}

/// Point `j` of `interp(linspace(0,1,ew), linspace(0,1,E), frame)`, per channel.
fn resample(frame: &[Pixel], j: usize, ew: usize) -> Pixel {
    let e = frame.len();
    if e == 1 || ew <= 1 {
        return frame[0];
    }
    // j·(E−1)/(Ew−1) is exact when Ew == E, so an unscaled copy is bit-exact.
    let t = j as f64 * (e - 1) as f64 / (ew - 1) as f64;
    let i0 = (t.floor() as usize).min(e - 1);
    let frac = t - i0 as f64;
    if frac <= 0.0 || i0 + 1 >= e {
        return frame[i0];
    }
    let (a, b) = (frame[i0], frame[i0 + 1]);
    [0, 1, 2].map(|c| a[c] + frac * (b[c] - a[c]))
}

/// Float channel → byte by truncation (values are already clipped to 0..255; `as` saturates
/// anything else and maps NaN to 0).
fn write_pixel(out: &mut [u8], px: Pixel) {
    for (o, c) in out.iter_mut().zip(px) {
        *o = c as u8;
    }
}

/// The device's priority virtual (§4.5): among `candidates` (virtual index, refresh rate) of
/// the active virtuals using the device, in registration order, the first whose refresh rate
/// is the highest.
pub fn priority_virtual(candidates: impl Iterator<Item = (usize, u32)> + Clone) -> Option<usize> {
    let max = candidates.clone().map(|(_, rate)| rate).max()?;
    candidates
        .into_iter()
        .find(|&(_, rate)| rate == max)
        .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::pipeline::SegmentSpec;

    fn seg(slot: Option<u16>, start: u32, end: u32, invert: bool) -> SegmentSpec {
        SegmentSpec {
            device_id: slot.map_or("gap-x".into(), |s| format!("d{s}")),
            device_slot: slot,
            start,
            end,
            invert,
        }
    }

    fn spec(segments: Vec<SegmentSpec>, mapping: Mapping, grouping: u32) -> VirtualSpec {
        VirtualSpec {
            id: "v".into(),
            segments,
            mapping,
            grouping,
            center_offset: 0,
            max_brightness: 1.0,
            preview_only: false,
            transition_mode: "Add".into(),
            transition_time: 0.0,
            frequency_min: 20,
            frequency_max: 15000,
            rows: 1,
            active: true,
            effect: None,
            tools: Default::default(),
            vis: None,
        }
    }

    /// Effective frame whose pixel i has red = i·10 (so bytes name the source pixel).
    fn frame(n: usize) -> Vec<Pixel> {
        (0..n).map(|i| [i as f64 * 10.0, 0.0, 0.0]).collect()
    }

    fn reds(device: &[u8]) -> Vec<u8> {
        device.chunks(3).map(|p| p[0]).collect()
    }

    fn render(layout: &Layout, frame: &[Pixel], slot: u16, pixels: usize) -> Vec<u8> {
        let mut device = vec![0u8; pixels * 3];
        for s in layout.segments.iter().filter(|s| s.slot == Some(slot)) {
            layout.write_segment(s, frame, &mut device);
        }
        reds(&device)
    }

    #[test]
    fn span_lays_segments_end_to_end_with_gaps_and_inversion() {
        let l = Layout::new(&spec(
            vec![
                seg(Some(0), 0, 2, false),
                seg(None, 0, 1, false),
                seg(Some(1), 4, 6, true),
            ],
            Mapping::Span,
            1,
        ));
        assert_eq!((l.pixel_count, l.effective), (8, 8));
        let f = frame(8);
        assert_eq!(render(&l, &f, 0, 3), [0, 10, 20]);
        // Pixels 3–4 fall on the gap; 5–7 land reversed on device 1 pixels 4–6.
        assert_eq!(render(&l, &f, 1, 8), [0, 0, 0, 0, 70, 60, 50, 0]);
        assert_eq!(l.slots, [0, 1]);
    }

    #[test]
    fn span_grouping_repeats_effective_pixels_and_truncates_the_last_group() {
        let l = Layout::new(&spec(vec![seg(Some(0), 0, 6, false)], Mapping::Span, 3));
        assert_eq!((l.pixel_count, l.effective), (7, 3));
        assert_eq!(render(&l, &frame(3), 0, 7), [0, 0, 0, 10, 10, 10, 20]);
        // Inverted: the physical slice is reversed after grouping.
        let l = Layout::new(&spec(vec![seg(Some(0), 0, 6, true)], Mapping::Span, 3));
        assert_eq!(render(&l, &frame(3), 0, 7), [20, 10, 10, 10, 0, 0, 0]);
    }

    #[test]
    fn copy_resamples_the_frame_into_every_segment() {
        let l = Layout::new(&spec(
            vec![seg(Some(0), 0, 4, false), seg(Some(1), 0, 2, true)],
            Mapping::Copy,
            1,
        ));
        assert_eq!((l.pixel_count, l.effective), (5, 5));
        let f = frame(5);
        assert_eq!(render(&l, &f, 0, 5), [0, 10, 20, 30, 40]);
        // Ew = 3: positions 0, 0.5, 1 → 0, 20, 40, reversed.
        assert_eq!(render(&l, &f, 1, 3), [40, 20, 0]);
    }

    #[test]
    fn copy_with_grouping_expands_after_resampling() {
        let l = Layout::new(&spec(
            vec![seg(Some(0), 0, 5, false), seg(Some(1), 0, 2, false)],
            Mapping::Copy,
            2,
        ));
        assert_eq!((l.pixel_count, l.effective), (6, 3));
        let f = frame(3);
        assert_eq!(render(&l, &f, 0, 6), [0, 0, 10, 10, 20, 20]);
        // w = 3 → Ew = 2 → [0, 20] expanded by 2 and truncated to 3.
        assert_eq!(render(&l, &f, 1, 3), [0, 0, 20]);
    }

    #[test]
    fn bytes_are_truncated_and_writes_stay_inside_the_device() {
        let l = Layout::new(&spec(vec![seg(Some(0), 2, 9, false)], Mapping::Span, 1));
        let f = vec![[12.99, 254.999, 0.5]; 8];
        let mut device = vec![0u8; 4 * 3];
        l.write_segment(&l.segments[0], &f, &mut device);
        assert_eq!(&device[6..9], &[12, 254, 0]);
        assert_eq!(&device[..6], &[0; 6]);
    }

    #[test]
    fn priority_is_the_first_virtual_with_the_highest_rate() {
        let c = [(0usize, 30u32), (1, 62), (2, 62), (3, 45)];
        assert_eq!(priority_virtual(c.iter().copied()), Some(1));
        assert_eq!(priority_virtual([(5usize, 30u32)].into_iter()), Some(5));
        assert_eq!(priority_virtual(std::iter::empty()), None);
    }
}

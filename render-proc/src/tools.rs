//! The runtime tools of `/api/virtuals_tools` (ledfx-api.md §3.16–§3.17) as they are drawn:
//! oneshot flashes blended over a virtual's frame, and calibration, which shows where each
//! segment lies on its device (each in its own colour, brightening towards the segment's
//! end so its direction shows) with an optional white highlight.

use proto::pipeline::{Highlight, Oneshot};

use crate::mapping::PlacedSegment;
use crate::Pixel;

/// Calibration colours, given to the segments in turn (LedFx's order).
const CALIBRATION_COLORS: [[u8; 3]; 6] = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [0, 255, 255],
    [255, 0, 255],
    [255, 255, 0],
];

/// The dimmest pixel of a calibration segment, as a fraction of full colour.
const CALIBRATION_FLOOR: f64 = 0.15;

/// Blends every live flash over `frame`, in order.
pub fn blend_oneshots(frame: &mut [Pixel], oneshots: &[Oneshot], now_ns: u64) {
    for o in oneshots {
        let Some(w) = o.weight(now_ns).filter(|w| *w > 0.0) else {
            continue;
        };
        let color = o.rgb.map(f64::from);
        for px in frame.iter_mut() {
            for (c, target) in px.iter_mut().zip(color) {
                *c = *c * (1.0 - w) + target * w;
            }
        }
    }
}

/// Draws calibration segment number `index` into its device's bytes.
pub fn draw_calibration_segment(seg: &PlacedSegment, index: usize, bytes: &mut [u8]) {
    let color = CALIBRATION_COLORS[index % CALIBRATION_COLORS.len()];
    for i in 0..seg.width {
        let along = if seg.width > 1 {
            i as f64 / (seg.width - 1) as f64
        } else {
            1.0
        };
        let level = CALIBRATION_FLOOR + (1.0 - CALIBRATION_FLOOR) * along;
        let pixel = if seg.invert {
            seg.start + seg.width - 1 - i
        } else {
            seg.start + i
        };
        if let Some(out) = bytes.get_mut(pixel * 3..pixel * 3 + 3) {
            for (b, c) in out.iter_mut().zip(color) {
                *b = (f64::from(c) * level) as u8;
            }
        }
    }
}

/// Lights a highlight's pixels white in its device's bytes.
pub fn draw_highlight(h: &Highlight, bytes: &mut [u8]) {
    let count = bytes.len() / 3;
    for p in h.start..=h.stop {
        let p = p as usize;
        if p >= count {
            break;
        }
        let pixel = if h.flip { count - 1 - p } else { p };
        bytes[pixel * 3..pixel * 3 + 3].fill(255);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_brightens_along_the_segment_and_follows_inversion() {
        let mut bytes = vec![0u8; 5 * 3];
        let seg = PlacedSegment {
            slot: Some(0),
            start: 1,
            width: 3,
            invert: true,
            offset: 0,
        };
        draw_calibration_segment(&seg, 1, &mut bytes);
        // Green; inverted, so the brightest pixel is the segment's first device pixel.
        assert_eq!(&bytes[3..6], &[0, 255, 0]);
        assert!(bytes[7] < bytes[4] && bytes[10] < bytes[7]);
        assert_eq!(&bytes[..3], &[0, 0, 0], "outside the segment");
        let h = Highlight {
            device_slot: 0,
            start: 0,
            stop: 1,
            flip: true,
        };
        draw_highlight(&h, &mut bytes);
        assert_eq!(&bytes[9..15], &[255; 6]);
    }

    #[test]
    fn a_flash_pulls_the_frame_towards_its_colour() {
        let mut frame = vec![[0.0, 0.0, 200.0]; 2];
        let o = Oneshot {
            rgb: [255, 255, 255],
            ramp_ms: 0,
            hold_ms: 1000,
            fade_ms: 0,
            brightness: 0.5,
            start_ns: 0,
        };
        blend_oneshots(&mut frame, &[o], 10_000_000);
        assert_eq!(frame[0], [127.5, 127.5, 227.5]);
    }
}

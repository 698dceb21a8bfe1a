//! Virtual frames for the live preview (ledfx-api.md §4.7): while api-proc marks a virtual's
//! visualisation slot as wanted, each rendered frame is copied there as RGB bytes, with every
//! effect pixel repeated `grouping` times up to the virtual's physical pixel count, as LedFx
//! shows it.

use std::sync::atomic::Ordering;

use proto::layout::{Segment, DEVICE_FRAME_BYTES};
use proto::pipeline::VisSlot;

use crate::Pixel;

/// Whether someone watches `vis` now.
pub fn wanted(segment: &Segment, vis: VisSlot, now_ns: u64) -> bool {
    segment.vis_wanted(vis.slot).load(Ordering::Relaxed) > now_ns
}

/// Fills `out` with the physical pixels of `frame` (bytes by truncation, as the device
/// frames are) and publishes them in the slot.
pub fn publish(
    segment: &Segment,
    vis: VisSlot,
    frame: &[Pixel],
    group: usize,
    pixel_count: usize,
    out: &mut Vec<u8>,
    now_ns: u64,
) {
    out.clear();
    let pixels = pixel_count.min(DEVICE_FRAME_BYTES / 3);
    for px in frame
        .iter()
        .flat_map(|px| std::iter::repeat_n(px, group.max(1)))
        .take(pixels)
    {
        out.extend(px.iter().map(|c| *c as u8));
    }
    segment
        .vis_slot(vis.slot)
        .publish_generation(out, now_ns, vis.generation);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_pixels_are_repeated_up_to_the_physical_count() {
        let segment = Segment::create().unwrap();
        let vis = VisSlot {
            slot: 3,
            generation: 9,
        };
        assert!(!wanted(&segment, vis, 100));
        segment.vis_wanted(3).store(200, Ordering::Relaxed);
        assert!(wanted(&segment, vis, 100));
        let mut out = Vec::new();
        let frame = [[255.0, 0.5, 9.9], [1.0, 2.0, 3.0]];
        publish(&segment, vis, &frame, 2, 3, &mut out, 5);
        let mut read = Vec::new();
        let meta = segment.vis_slot(3).read_latest(&mut read).unwrap();
        assert_eq!(read, [255, 0, 9, 255, 0, 9, 1, 2, 3]);
        assert_eq!(meta.generation, 9);
    }
}

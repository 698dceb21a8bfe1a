//! Per-virtual render timing for LedFx's `virtual_diag` (the effect's `diag` switch): frames
//! per second and render time average/min/max over each second, and the cycle and sleep
//! time of the frame that closes the second.

use std::time::{Duration, Instant};

use proto::layout::RenderDiag;

/// Counts one virtual's frames.
#[derive(Debug, Default)]
pub struct DiagClock {
    second_start: Option<Instant>,
    frames: u64,
    total: Duration,
    min: Option<Duration>,
    max: Duration,
    last_end: Option<Instant>,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl DiagClock {
    /// Records a frame rendered from `start` to `end`; returns the last second's figures
    /// when this frame closes a second.
    pub fn record(&mut self, start: Instant, end: Instant) -> Option<RenderDiag> {
        let took = end.saturating_duration_since(start);
        self.frames += 1;
        self.total += took;
        self.min = Some(self.min.map_or(took, |m| m.min(took)));
        self.max = self.max.max(took);
        let previous_end = self.last_end.replace(end);
        let second_start = *self.second_start.get_or_insert(start);
        if end.saturating_duration_since(second_start) < Duration::from_secs(1) {
            return None;
        }
        let report = RenderDiag {
            fps: self.frames,
            r_avg_ns: ns(self.total) / self.frames.max(1),
            r_min_ns: self.min.map_or(0, ns),
            r_max_ns: ns(self.max),
            cycle_ns: previous_end.map_or(0, |p| ns(end.saturating_duration_since(p))),
            sleep_ns: previous_end.map_or(0, |p| ns(start.saturating_duration_since(p))),
        };
        *self = Self {
            second_start: Some(end),
            last_end: Some(end),
            ..Self::default()
        };
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_frames_is_reported_once() {
        let mut clock = DiagClock::default();
        let t0 = Instant::now();
        let period = Duration::from_millis(16);
        let mut reports = Vec::new();
        for n in 0..130u32 {
            let start = t0 + period * n;
            let took = Duration::from_micros(if n % 2 == 0 { 100 } else { 300 });
            if let Some(r) = clock.record(start, start + took) {
                reports.push(r);
            }
        }
        // 130 frames of 16 ms span 2.08 s: two full seconds.
        assert_eq!(reports.len(), 2, "{reports:?}");
        let first = reports[0];
        // Frames 0..=63: the 64th ends just past the first second.
        assert_eq!(first.fps, 64);
        assert_eq!(reports[1].fps, 63);
        assert_eq!((first.r_min_ns, first.r_max_ns), (100_000, 300_000));
        assert!((190_000..=210_000).contains(&first.r_avg_ns), "{first:?}");
        // The closing frame (63) took 300 µs, after one that took 100 µs.
        assert_eq!(first.sleep_ns, 16_000_000 - 100_000);
        assert_eq!(first.cycle_ns, 16_000_000 - 100_000 + 300_000);
    }
}

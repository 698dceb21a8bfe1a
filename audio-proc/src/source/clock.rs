//! When the samples of a feed were captured, so every analysis frame can say when its sound
//! happened (`AudioFrame::capture_ns`, from which the latency to light is measured).
//!
//! The source records, after each delivery, how many samples it has pushed in all and the
//! `CLOCK_MONOTONIC` time its newest sample was captured; the analysis reads both and works
//! back to any earlier sample at the feed's rate. Written from the capture callback, so a
//! tiny seqlock (the source is the only writer): two stores and two increments, no lock,
//! no allocation; a reader that races a write retries.

use std::sync::atomic::{fence, AtomicU64, Ordering};

/// The newest delivery of one feed.
#[derive(Debug, Default)]
pub struct CaptureClock {
    /// Odd while a write is in progress.
    seq: AtomicU64,
    /// Samples pushed into the ring so far.
    samples: AtomicU64,
    /// Capture time of the newest of them, ns (`CLOCK_MONOTONIC`).
    ns: AtomicU64,
}

impl CaptureClock {
    /// Records that `samples` have been pushed in all, the newest captured at `ns`. Only
    /// the feed's source calls this.
    pub fn record(&self, samples: u64, ns: u64) {
        self.seq.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.samples.store(samples, Ordering::Relaxed);
        self.ns.store(ns, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::Release);
    }

    /// `(samples pushed, capture time of the newest)`, `None` before the first delivery.
    pub fn read(&self) -> Option<(u64, u64)> {
        for _ in 0..64 {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let samples = self.samples.load(Ordering::Relaxed);
            let ns = self.ns.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == before {
                return (samples > 0).then_some((samples, ns));
            }
        }
        None
    }

    /// Capture time of the sample at position `index` (0-based, in push order) of a feed at
    /// `rate` Hz, worked back from the newest delivery; `None` before any.
    pub fn time_of(&self, index: u64, rate: u32) -> Option<u64> {
        let (samples, ns) = self.read()?;
        let newest = samples - 1;
        let rate = u64::from(rate.max(1));
        Some(if index <= newest {
            ns.saturating_sub((newest - index) * 1_000_000_000 / rate)
        } else {
            ns + (index - newest) * 1_000_000_000 / rate
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_samples_are_worked_back_at_the_rate() {
        let clock = CaptureClock::default();
        assert_eq!(clock.time_of(0, 30_000), None);
        clock.record(30_000, 5_000_000_000);
        assert_eq!(clock.read(), Some((30_000, 5_000_000_000)));
        // The newest sample is index 29 999; index 0 was captured one second before it,
        // less one sample.
        assert_eq!(clock.time_of(29_999, 30_000), Some(5_000_000_000));
        assert_eq!(clock.time_of(29_999 - 300, 30_000), Some(4_990_000_000));
    }
}

//! LedFx's refresh-rate table: which `refresh_rate` values a device may have and how long one
//! frame really lasts at each.
//!
//! LedFx builds the table from a 1 ms sleep granularity: for every whole-millisecond period
//! from 99 ms down to 8 ms the nominal rate is `floor(1000 / period)`, and each rate keeps the
//! shortest period that produces it (engine spec §0.1). A requested rate is snapped *up* to
//! the first table key, anything above the largest key becomes the largest. The engine spec's
//! printed table omits 43 fps (23 ms); LedFx's own rule and the API spec (§2.3) include it, so
//! this table does too.

use std::time::Duration;

/// `(nominal fps, real period in ms)`, sorted by fps.
pub const REFRESH_RATES: [(u32, u32); 46] = [
    (10, 91),
    (11, 84),
    (12, 77),
    (13, 72),
    (14, 67),
    (15, 63),
    (16, 59),
    (17, 56),
    (18, 53),
    (19, 51),
    (20, 48),
    (21, 46),
    (22, 44),
    (23, 42),
    (24, 41),
    (25, 39),
    (26, 38),
    (27, 36),
    (28, 35),
    (29, 34),
    (30, 33),
    (31, 32),
    (32, 31),
    (33, 30),
    (34, 29),
    (35, 28),
    (37, 27),
    (38, 26),
    (40, 25),
    (41, 24),
    (43, 23),
    (45, 22),
    (47, 21),
    (50, 20),
    (52, 19),
    (55, 18),
    (58, 17),
    (62, 16),
    (66, 15),
    (71, 14),
    (76, 13),
    (83, 12),
    (90, 11),
    (100, 10),
    (111, 9),
    (125, 8),
];

/// The default device refresh rate: the first table key ≥ 60.
pub const DEFAULT_REFRESH_RATE: u32 = 62;

/// The table entry for `fps`: the first whose key is ≥ `fps`, or the last one.
fn entry(fps: i64) -> (u32, u32) {
    REFRESH_RATES
        .iter()
        .copied()
        .find(|&(key, _)| i64::from(key) >= fps)
        .unwrap_or(REFRESH_RATES[REFRESH_RATES.len() - 1])
}

/// Snaps a requested refresh rate up to the table (values below 10 become 10, above 125
/// become 125).
pub fn snap_refresh_rate(requested: i64) -> u32 {
    entry(requested).0
}

/// The real period of one frame at `refresh_rate` (62 → 16 ms, 60 → 16 ms, 125 → 8 ms).
pub fn frame_period(refresh_rate: u32) -> Duration {
    Duration::from_millis(u64::from(entry(i64::from(refresh_rate)).1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_follows_ledfx_rule_of_whole_millisecond_periods() {
        // Rebuild the table from the rule and compare.
        let mut derived: Vec<(u32, u32)> = Vec::new();
        for period in (8..100u32).rev() {
            let fps = 1000 / period;
            match derived.iter_mut().find(|(f, _)| *f == fps) {
                Some(entry) => entry.1 = period,
                None => derived.push((fps, period)),
            }
        }
        assert_eq!(derived, REFRESH_RATES.to_vec());
    }

    #[test]
    fn snapping_goes_up_and_is_bounded() {
        assert_eq!(snap_refresh_rate(60), 62);
        assert_eq!(snap_refresh_rate(62), 62);
        assert_eq!(snap_refresh_rate(36), 37);
        assert_eq!(snap_refresh_rate(42), 43);
        assert_eq!(snap_refresh_rate(126), 125);
        assert_eq!(snap_refresh_rate(10_000), 125);
        assert_eq!(snap_refresh_rate(1), 10);
        assert_eq!(snap_refresh_rate(-5), 10);
        assert_eq!(snap_refresh_rate(i64::MAX), 125);
        assert_eq!(snap_refresh_rate(i64::MIN), 10);
    }

    #[test]
    fn periods_match_the_engine_spec_table() {
        assert_eq!(frame_period(62), Duration::from_millis(16));
        assert_eq!(frame_period(60), Duration::from_millis(16));
        assert_eq!(frame_period(10), Duration::from_millis(91));
        assert_eq!(frame_period(30), Duration::from_millis(33));
        assert_eq!(frame_period(125), Duration::from_millis(8));
        assert_eq!(frame_period(500), Duration::from_millis(8));
        assert_eq!(frame_period(0), Duration::from_millis(91));
        assert_eq!(DEFAULT_REFRESH_RATE, snap_refresh_rate(60));
    }
}

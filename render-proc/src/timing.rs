//! LedFx's frame-pacing table (engine spec §0.1): allowed refresh rates and the loop period
//! each really runs at. LedFx built it for a 1 ms sleep granularity, so 62 fps means a 16 ms
//! period (62.5 fps); we use the same periods so a virtual runs at LedFx's real rate.

use std::time::Duration;

/// `(nominal fps, period ms)`, ascending.
pub const FPS_TABLE: &[(u32, u64)] = &[
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

/// LedFx's default device refresh rate.
pub const DEFAULT_REFRESH_RATE: u32 = 62;

/// The table entry for `fps`: the first key ≥ `fps`, the last one above 125.
fn entry(fps: u32) -> (u32, u64) {
    FPS_TABLE
        .iter()
        .copied()
        .find(|&(key, _)| key >= fps)
        .unwrap_or(FPS_TABLE[FPS_TABLE.len() - 1])
}

/// A requested refresh rate snapped up to a table key.
pub fn snap_refresh_rate(fps: u32) -> u32 {
    entry(fps).0
}

/// The loop period of a virtual running at `fps`.
pub fn period_for(fps: u32) -> Duration {
    Duration::from_millis(entry(fps).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_snap_up_and_periods_follow_the_table() {
        assert_eq!(snap_refresh_rate(60), 62);
        assert_eq!(snap_refresh_rate(62), 62);
        assert_eq!(snap_refresh_rate(36), 37);
        assert_eq!(snap_refresh_rate(500), 125);
        assert_eq!(snap_refresh_rate(1), 10);
        assert_eq!(period_for(62), Duration::from_millis(16));
        assert_eq!(period_for(60), Duration::from_millis(16));
        assert_eq!(period_for(30), Duration::from_millis(33));
        assert_eq!(period_for(200), Duration::from_millis(8));
        assert!(FPS_TABLE
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 > w[1].1));
    }
}

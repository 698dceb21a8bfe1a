//! Layout of the one shared-memory segment the supervisor creates and every stage maps.
//!
//! ```text
//! offset 0        header: magic, layout version, segment length
//! offset 64       heartbeats: per stage [beats, 3 reserved words]
//! offset 4096     audio slot: the latest AudioFrame
//! DEVICE_STATS    per device slot: [frames_sent, send_errors, last_send_ns, reserved]
//! VIS_WANTED      per virtual visualisation slot: [wanted_until_ns]
//! VIS_DIAG        per virtual visualisation slot: the last second's render timing (`RenderDiag`)
//! LOG             the log ring: [records pushed], then LOG_ENTRIES entries (`logring.rs`)
//! AUDIO_STATUS    a FrameSlot holding audio-proc's encoded `AudioStatus` (`audio_status.rs`)
//! PIXELS          per device slot: a FrameSlot of up to MAX_PIXELS_PER_DEVICE RGB pixels
//! VIS_PIXELS      per virtual visualisation slot: a FrameSlot of the same size
//! ```
//!
//! Virtual frames exist only for the live preview: api-proc marks the slots a client watches
//! as wanted (until a time a little ahead), and render-proc copies a virtual's frame only
//! while its slot is wanted, so an unwatched virtual costs nothing.
//!
//! The pixel area is large (tens of MiB) but memfd pages are only backed by memory once
//! written, so an installation with a few small strips uses a few pages.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::audio::AUDIO_FRAME_BYTES;
use crate::audio_status::AUDIO_STATUS_BYTES;
use crate::logring::{LogRing, LOG_ENTRIES, LOG_ENTRY_WORDS};
use crate::shm::{SharedMemory, ShmError};
use crate::slot::{slot_words, FrameSlot};
use crate::stage::StageKind;

/// Identifies a ledfx-rs segment ("LEDFXRS" + 0).
pub const MAGIC: u64 = u64::from_le_bytes(*b"LEDFXRS\0");
/// Bumped whenever anything in this file (or the slot format of `slot.rs`) changes meaning.
/// 2: frame buffers carry a generation word. 3: virtual visualisation slots and render
/// diagnostics, and the log ring. 4: the audio status slot. 5: the audio frame carries the
/// tempo beat and the pitch.
pub const LAYOUT_VERSION: u64 = 5;
/// How many devices can be driven at once.
pub const MAX_DEVICE_SLOTS: usize = 512;
/// How many virtuals can be visualised at once.
pub const MAX_VIS_SLOTS: usize = 512;
/// Largest pixel count of one device (and of one visualised virtual frame).
pub const MAX_PIXELS_PER_DEVICE: usize = 16_384;
/// Bytes of one device frame at full size (RGB, one byte per channel).
pub const DEVICE_FRAME_BYTES: usize = MAX_PIXELS_PER_DEVICE * 3;

const PAGE: usize = 4096;
const HEARTBEAT_OFFSET: usize = 64;
const HEARTBEAT_WORDS: usize = 4;
const AUDIO_OFFSET: usize = PAGE;
const AUDIO_WORDS: usize = slot_words(AUDIO_FRAME_BYTES);
const DEVICE_STATS_OFFSET: usize = round_up(AUDIO_OFFSET + AUDIO_WORDS * 8, PAGE);
const DEVICE_STATS_WORDS: usize = 4;
const VIS_WANTED_OFFSET: usize = round_up(
    DEVICE_STATS_OFFSET + MAX_DEVICE_SLOTS * DEVICE_STATS_WORDS * 8,
    PAGE,
);
const VIS_DIAG_OFFSET: usize = round_up(VIS_WANTED_OFFSET + MAX_VIS_SLOTS * 8, PAGE);
const VIS_DIAG_WORDS: usize = 8;
const LOG_OFFSET: usize = round_up(VIS_DIAG_OFFSET + MAX_VIS_SLOTS * VIS_DIAG_WORDS * 8, PAGE);
const LOG_WORDS: usize = 8 + LOG_ENTRIES * LOG_ENTRY_WORDS;
const AUDIO_STATUS_OFFSET: usize = round_up(LOG_OFFSET + LOG_WORDS * 8, PAGE);
const AUDIO_STATUS_WORDS: usize = slot_words(AUDIO_STATUS_BYTES);
const PIXELS_OFFSET: usize = round_up(AUDIO_STATUS_OFFSET + AUDIO_STATUS_WORDS * 8, PAGE);
const PIXEL_SLOT_WORDS: usize = slot_words(DEVICE_FRAME_BYTES);
const VIS_PIXELS_OFFSET: usize = round_up(
    PIXELS_OFFSET + MAX_DEVICE_SLOTS * PIXEL_SLOT_WORDS * 8,
    PAGE,
);
/// Total size of the segment in bytes.
pub const SEGMENT_BYTES: usize = round_up(
    VIS_PIXELS_OFFSET + MAX_VIS_SLOTS * PIXEL_SLOT_WORDS * 8,
    PAGE,
);

// The regions must not overlap; checked at compile time.
const _: () = {
    assert!(HEARTBEAT_OFFSET + 4 * HEARTBEAT_WORDS * 8 <= AUDIO_OFFSET);
    assert!(AUDIO_OFFSET + AUDIO_WORDS * 8 <= DEVICE_STATS_OFFSET);
    assert!(DEVICE_STATS_OFFSET + MAX_DEVICE_SLOTS * DEVICE_STATS_WORDS * 8 <= VIS_WANTED_OFFSET);
    assert!(VIS_WANTED_OFFSET + MAX_VIS_SLOTS * 8 <= VIS_DIAG_OFFSET);
    assert!(VIS_DIAG_OFFSET + MAX_VIS_SLOTS * VIS_DIAG_WORDS * 8 <= LOG_OFFSET);
    assert!(LOG_OFFSET + LOG_WORDS * 8 <= AUDIO_STATUS_OFFSET);
    assert!(AUDIO_STATUS_OFFSET + AUDIO_STATUS_WORDS * 8 <= PIXELS_OFFSET);
    assert!(PIXELS_OFFSET + MAX_DEVICE_SLOTS * PIXEL_SLOT_WORDS * 8 <= VIS_PIXELS_OFFSET);
    assert!(VIS_PIXELS_OFFSET + MAX_VIS_SLOTS * PIXEL_SLOT_WORDS * 8 <= SEGMENT_BYTES);
};

const fn round_up(value: usize, to: usize) -> usize {
    value.div_ceil(to) * to
}

/// Errors attaching to the segment.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error(transparent)]
    Shm(#[from] ShmError),
    #[error("shared memory has layout version {found}, this binary expects {expected}")]
    VersionMismatch { found: u64, expected: u64 },
    #[error("shared memory does not start with the ledfx-rs magic number")]
    BadMagic,
}

/// The mapped segment with typed accessors.
#[derive(Debug)]
pub struct Segment {
    shm: SharedMemory,
}

impl Segment {
    /// Creates a fresh segment (supervisor only).
    pub fn create() -> Result<Self, LayoutError> {
        let shm = SharedMemory::create("ledfx-rs", SEGMENT_BYTES)?;
        let header = shm.words(0, 3);
        header[1].store(LAYOUT_VERSION, Ordering::Relaxed);
        header[2].store(SEGMENT_BYTES as u64, Ordering::Relaxed);
        header[0].store(MAGIC, Ordering::Release);
        Ok(Self { shm })
    }

    /// Attaches to the segment behind `fd` (a stage's inherited memfd, adopted by
    /// `stage::bootstrap`), checking seals, size, magic and version.
    pub fn attach(fd: std::os::fd::OwnedFd) -> Result<Self, LayoutError> {
        let shm = SharedMemory::attach(fd, SEGMENT_BYTES)?;
        Self::check(shm)
    }

    fn check(shm: SharedMemory) -> Result<Self, LayoutError> {
        let header = shm.words(0, 3);
        if header[0].load(Ordering::Acquire) != MAGIC {
            return Err(LayoutError::BadMagic);
        }
        let found = header[1].load(Ordering::Relaxed);
        if found != LAYOUT_VERSION {
            return Err(LayoutError::VersionMismatch {
                found,
                expected: LAYOUT_VERSION,
            });
        }
        Ok(Self { shm })
    }

    /// Maps the same segment a second time through a duplicate of its fd (tests, and
    /// processes that want an independent handle).
    pub fn duplicate(&self) -> Result<Self, LayoutError> {
        let fd = self
            .shm
            .fd()
            .try_clone_to_owned()
            .map_err(|source| ShmError::Duplicate { source })?;
        Self::attach(fd)
    }

    /// The underlying memory, for passing its fd to a child.
    pub fn shm(&self) -> &SharedMemory {
        &self.shm
    }

    /// The heartbeat record of `stage`.
    pub fn heartbeat(&self, stage: StageKind) -> Heartbeat<'_> {
        let offset = HEARTBEAT_OFFSET + stage.index() * HEARTBEAT_WORDS * 8;
        Heartbeat {
            words: self.shm.words(offset, HEARTBEAT_WORDS),
        }
    }

    /// The slot holding the latest audio analysis frame.
    pub fn audio_slot(&self) -> FrameSlot<'_> {
        FrameSlot::new(self.shm.words(AUDIO_OFFSET, AUDIO_WORDS), AUDIO_FRAME_BYTES)
    }

    /// The slot holding audio-proc's latest encoded [`crate::audio_status::AudioStatus`].
    pub fn audio_status_slot(&self) -> FrameSlot<'_> {
        FrameSlot::new(
            self.shm.words(AUDIO_STATUS_OFFSET, AUDIO_STATUS_WORDS),
            AUDIO_STATUS_BYTES,
        )
    }

    /// The latest audio status, if audio-proc ever published one.
    pub fn audio_status(&self) -> Option<crate::audio_status::AudioStatus> {
        let mut bytes = Vec::new();
        self.audio_status_slot().read_latest(&mut bytes)?;
        crate::audio_status::AudioStatus::decode(&bytes)
    }

    /// The pixel slot of device slot `index` (`index < MAX_DEVICE_SLOTS`).
    pub fn device_slot(&self, index: u16) -> FrameSlot<'_> {
        let index = usize::from(index);
        assert!(index < MAX_DEVICE_SLOTS, "device slot {index} out of range");
        let offset = PIXELS_OFFSET + index * PIXEL_SLOT_WORDS * 8;
        FrameSlot::new(self.shm.words(offset, PIXEL_SLOT_WORDS), DEVICE_FRAME_BYTES)
    }

    /// The frame slot of virtual visualisation slot `index` (`index < MAX_VIS_SLOTS`).
    pub fn vis_slot(&self, index: u16) -> FrameSlot<'_> {
        let index = usize::from(index);
        assert!(
            index < MAX_VIS_SLOTS,
            "visualisation slot {index} out of range"
        );
        let offset = VIS_PIXELS_OFFSET + index * PIXEL_SLOT_WORDS * 8;
        FrameSlot::new(self.shm.words(offset, PIXEL_SLOT_WORDS), DEVICE_FRAME_BYTES)
    }

    /// Until when (monotonic ns) someone watches visualisation slot `index`.
    pub fn vis_wanted(&self, index: u16) -> &AtomicU64 {
        let index = usize::from(index);
        assert!(
            index < MAX_VIS_SLOTS,
            "visualisation slot {index} out of range"
        );
        &self.shm.words(VIS_WANTED_OFFSET + index * 8, 1)[0]
    }

    /// The render diagnostics record of visualisation slot `index`.
    pub fn vis_diag(&self, index: u16) -> VisDiag<'_> {
        let index = usize::from(index);
        assert!(
            index < MAX_VIS_SLOTS,
            "visualisation slot {index} out of range"
        );
        VisDiag {
            words: self
                .shm
                .words(VIS_DIAG_OFFSET + index * VIS_DIAG_WORDS * 8, VIS_DIAG_WORDS),
        }
    }

    /// The log ring every process writes its INFO+ records to.
    pub fn log_ring(&self) -> LogRing<'_> {
        let words = self.shm.words(LOG_OFFSET, LOG_WORDS);
        LogRing::new(&words[0], &words[8..])
    }

    /// Output counters of device slot `index`.
    pub fn device_stats(&self, index: u16) -> DeviceStats<'_> {
        let index = usize::from(index);
        assert!(index < MAX_DEVICE_SLOTS, "device slot {index} out of range");
        let offset = DEVICE_STATS_OFFSET + index * DEVICE_STATS_WORDS * 8;
        DeviceStats {
            words: self.shm.words(offset, DEVICE_STATS_WORDS),
        }
    }
}

/// A stage's liveness record. The stage bumps `beats` from the loop whose progress matters;
/// the supervisor treats a record that stops changing as a hung stage.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat<'a> {
    words: &'a [AtomicU64],
}

impl Heartbeat<'_> {
    /// Records progress now.
    pub fn beat(&self) {
        self.words[0].fetch_add(1, Ordering::Relaxed);
    }

    /// Number of beats so far.
    pub fn beats(&self) -> u64 {
        self.words[0].load(Ordering::Relaxed)
    }

    /// Resets the record for a newly spawned process.
    pub fn reset(&self) {
        for w in self.words {
            w.store(0, Ordering::Relaxed);
        }
    }
}

/// One second of a virtual's rendering, as LedFx's `virtual_diag` reports it (times in ns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderDiag {
    /// Frames rendered in the second.
    pub fps: u64,
    pub r_avg_ns: u64,
    pub r_min_ns: u64,
    pub r_max_ns: u64,
    /// From the end of the previous frame to the end of the last one.
    pub cycle_ns: u64,
    /// From the end of the previous frame to the start of the last one.
    pub sleep_ns: u64,
}

/// A virtual's [`RenderDiag`] record: render-proc writes one per second while the effect
/// has `diag` on; readers take a consistent copy.
#[derive(Debug, Clone, Copy)]
pub struct VisDiag<'a> {
    words: &'a [AtomicU64],
}

impl VisDiag<'_> {
    /// Publishes a record (single writer: render-proc). The sequence word is odd while the
    /// fields change.
    pub fn publish(&self, diag: &RenderDiag) {
        let seq = self.words[0].load(Ordering::Relaxed);
        self.words[0].store(seq | 1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        let fields = [
            diag.fps,
            diag.r_avg_ns,
            diag.r_min_ns,
            diag.r_max_ns,
            diag.cycle_ns,
            diag.sleep_ns,
        ];
        for (word, value) in self.words[1..].iter().zip(fields) {
            word.store(value, Ordering::Relaxed);
        }
        self.words[0].store((seq | 1) + 1, Ordering::Release);
    }

    /// The latest record and its sequence number (which grows with every record), if one
    /// was published and could be read consistently.
    pub fn read(&self) -> Option<(u64, RenderDiag)> {
        for _ in 0..4 {
            let before = self.words[0].load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let v: Vec<u64> = self.words[1..7]
                .iter()
                .map(|w| w.load(Ordering::Relaxed))
                .collect();
            std::sync::atomic::fence(Ordering::Acquire);
            if self.words[0].load(Ordering::Relaxed) == before {
                let diag = RenderDiag {
                    fps: v[0],
                    r_avg_ns: v[1],
                    r_min_ns: v[2],
                    r_max_ns: v[3],
                    cycle_ns: v[4],
                    sleep_ns: v[5],
                };
                return Some((before, diag));
            }
        }
        None
    }
}

/// Counters output-proc keeps per device slot, readable by everyone.
#[derive(Debug, Clone, Copy)]
pub struct DeviceStats<'a> {
    words: &'a [AtomicU64],
}

impl DeviceStats<'_> {
    /// Counts one frame sent now.
    pub fn record_sent(&self, now_ns: u64) {
        self.words[0].fetch_add(1, Ordering::Relaxed);
        self.words[2].store(now_ns, Ordering::Relaxed);
    }

    /// Counts one failed send.
    pub fn record_error(&self) {
        self.words[1].fetch_add(1, Ordering::Relaxed);
    }

    /// Frames sent so far.
    pub fn frames_sent(&self) -> u64 {
        self.words[0].load(Ordering::Relaxed)
    }

    /// Failed sends so far.
    pub fn send_errors(&self) -> u64 {
        self.words[1].load(Ordering::Relaxed)
    }

    /// Monotonic time of the last successful send, ns (0 if none).
    pub fn last_send_ns(&self) -> u64 {
        self.words[2].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::AudioFrame;

    #[test]
    fn a_second_mapping_sees_frames_and_heartbeats() {
        let seg = Segment::create().unwrap();
        let other = seg.duplicate().unwrap();
        seg.device_slot(511).publish(&[1, 2, 3], 5);
        let mut out = Vec::new();
        other.device_slot(511).read_latest(&mut out).unwrap();
        assert_eq!(out, [1, 2, 3]);
        seg.vis_slot(511).publish(&[4, 5, 6], 6);
        other.vis_slot(511).read_latest(&mut out).unwrap();
        assert_eq!(out, [4, 5, 6]);
        seg.vis_wanted(7).store(99, Ordering::Relaxed);
        assert_eq!(other.vis_diag(7).read(), None);
        let diag = RenderDiag {
            fps: 61,
            r_avg_ns: 7,
            r_min_ns: 2,
            r_max_ns: 11,
            cycle_ns: 16_080,
            sleep_ns: 16_070,
        };
        seg.vis_diag(7).publish(&diag);
        let (first, read) = other.vis_diag(7).read().unwrap();
        assert_eq!(read, diag);
        seg.vis_diag(7).publish(&diag);
        assert!(other.vis_diag(7).read().unwrap().0 > first);
        assert_eq!(other.vis_wanted(7).load(Ordering::Relaxed), 99);
        seg.heartbeat(StageKind::Render).beat();
        assert_eq!(other.heartbeat(StageKind::Render).beats(), 1);
        assert_eq!(other.heartbeat(StageKind::Audio).beats(), 0);
        let mut frame = AudioFrame::silent();
        frame.volume = 0.25;
        seg.audio_slot().publish(frame.as_bytes(), 1);
        other.audio_slot().read_latest(&mut out).unwrap();
        assert_eq!(AudioFrame::from_bytes(&out).unwrap().volume, 0.25);
    }

    #[test]
    fn an_unsealed_memfd_is_refused() {
        // Right size, right header, but another process could shrink it under our mapping.
        let flags = rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING;
        let fd = rustix::fs::memfd_create("ledfx-rs-test", flags).unwrap();
        rustix::fs::ftruncate(&fd, SEGMENT_BYTES as u64).unwrap();
        let mut header = Vec::new();
        for word in [MAGIC, LAYOUT_VERSION, SEGMENT_BYTES as u64] {
            header.extend_from_slice(&word.to_ne_bytes());
        }
        rustix::io::pwrite(&fd, &header, 0).unwrap();
        let err = Segment::attach(fd).unwrap_err();
        assert!(
            matches!(err, LayoutError::Shm(ShmError::MissingSeals { .. })),
            "{err}"
        );
        // The same contents in a sealed segment attach fine.
        let seg = Segment::create().unwrap();
        assert!(Segment::attach(seg.shm().fd().try_clone_to_owned().unwrap()).is_ok());
    }
}

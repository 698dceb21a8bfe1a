//! Latest-frame slots in shared memory: one writer, any number of readers.
//!
//! A slot holds two buffers, each guarded by its own sequence counter (a seqlock), and a
//! `latest` counter naming the buffer that holds the newest complete frame. The writer always
//! fills the buffer that is *not* the latest one, so:
//!
//! * the writer never waits for anybody (no locks, no reader acknowledgements);
//! * a reader copies the latest buffer and retries if its sequence changed under it, so a torn
//!   frame is never returned;
//! * a writer killed mid-write leaves its buffer's sequence odd, but `latest` still names the
//!   other, complete buffer; the next writer (the restarted stage) simply overwrites the torn
//!   one. A reader killed mid-read changes nothing, because readers never write.
//!
//! Words are copied with relaxed atomic loads and stores, ordered by the release/acquire
//! fences of the classic seqlock protocol, so cross-process access is free of data races.
//!
//! Every frame carries a *generation* chosen by its writer, stored in the buffer header under
//! the same seqlock as the bytes, so a reader gets the frame and its generation consistently.
//! Device slots are reused: the supervisor gives each hand-over of a slot to a device a fresh
//! generation, render-proc tags the device's frames with it, and output-proc ignores frames of
//! any other generation. A deleted device's last frame left in a reused slot is thereby
//! "nothing yet" for the new device, without a second writer blanking the slot. Slots without
//! owners that change (the audio slot) use generation 0.

use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Words in a slot header: `latest`, then per buffer
/// `seq, len, timestamp_ns, frame_no, generation`.
const HEADER_WORDS: usize = 1 + 2 * BUF_HEADER_WORDS;
const BUF_HEADER_WORDS: usize = 5;
/// How often a reader retries a read that raced with the writer before giving up this time.
const READ_RETRIES: usize = 64;

/// Metadata of a frame read from a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    /// Number of frames ever published in this slot (1 for the first). Strictly increasing,
    /// also across a restart of the writer, so readers can tell a new frame from an old one.
    pub frame_no: u64,
    /// `CLOCK_MONOTONIC` time at which the writer published the frame, in nanoseconds.
    pub timestamp_ns: u64,
    /// Length of the frame in bytes.
    pub len: usize,
    /// The generation the writer tagged the frame with (see the module documentation).
    pub generation: u64,
}

/// Number of 8-byte words a slot with room for `capacity_bytes` of frame data occupies.
pub const fn slot_words(capacity_bytes: usize) -> usize {
    HEADER_WORDS + 2 * capacity_bytes.div_ceil(8)
}

/// A view of one slot inside a shared-memory segment.
#[derive(Clone, Copy)]
pub struct FrameSlot<'a> {
    words: &'a [AtomicU64],
    capacity_words: usize,
}

impl std::fmt::Debug for FrameSlot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameSlot")
            .field("capacity_bytes", &self.capacity_bytes())
            .finish()
    }
}

impl<'a> FrameSlot<'a> {
    /// Wraps `words`, which must be exactly [`slot_words`]`(capacity_bytes)` long.
    pub fn new(words: &'a [AtomicU64], capacity_bytes: usize) -> Self {
        let capacity_words = capacity_bytes.div_ceil(8);
        assert_eq!(
            words.len(),
            slot_words(capacity_bytes),
            "slot size mismatch"
        );
        Self {
            words,
            capacity_words,
        }
    }

    /// Largest frame, in bytes, the slot can hold.
    pub fn capacity_bytes(&self) -> usize {
        self.capacity_words * 8
    }

    fn latest(&self) -> &AtomicU64 {
        &self.words[0]
    }

    fn buf_header(&self, index: usize) -> &[AtomicU64] {
        let start = 1 + index * BUF_HEADER_WORDS;
        &self.words[start..start + BUF_HEADER_WORDS]
    }

    fn buf_data(&self, index: usize) -> &[AtomicU64] {
        let start = HEADER_WORDS + index * self.capacity_words;
        &self.words[start..start + self.capacity_words]
    }

    /// Publishes `frame` (truncated to the capacity) as the newest frame, with generation 0.
    /// Never blocks. Must only be called by the slot's single writer.
    pub fn publish(&self, frame: &[u8], timestamp_ns: u64) -> u64 {
        self.publish_generation(frame, timestamp_ns, 0)
    }

    /// Publishes `frame` (truncated to the capacity) as the newest frame of `generation`.
    /// Never blocks. Must only be called by the slot's single writer. Returns the frame's
    /// number.
    pub fn publish_generation(&self, frame: &[u8], timestamp_ns: u64, generation: u64) -> u64 {
        let frame = &frame[..frame.len().min(self.capacity_bytes())];
        let latest = self.latest().load(Ordering::Acquire);
        let next = latest.wrapping_add(1);
        let index = (next & 1) as usize;
        let header = self.buf_header(index);
        let seq = &header[0];
        // Mark the buffer as being written. If a previous writer died mid-write the sequence
        // is already odd and stays so until this write completes.
        let writing = seq.load(Ordering::Relaxed) | 1;
        seq.store(writing, Ordering::Relaxed);
        fence(Ordering::Release);

        let data = self.buf_data(index);
        let mut chunks = frame.chunks_exact(8);
        for (word, chunk) in data.iter().zip(&mut chunks) {
            let bytes: [u8; 8] = chunk.try_into().expect("chunks_exact yields 8 bytes");
            word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut bytes = [0u8; 8];
            bytes[..rest.len()].copy_from_slice(rest);
            data[frame.len() / 8].store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        header[1].store(frame.len() as u64, Ordering::Relaxed);
        header[2].store(timestamp_ns, Ordering::Relaxed);
        header[3].store(next, Ordering::Relaxed);
        header[4].store(generation, Ordering::Relaxed);

        seq.store(writing.wrapping_add(1), Ordering::Release);
        self.latest().store(next, Ordering::Release);
        next
    }

    /// The number of the newest published frame (0 if none), without copying it.
    pub fn latest_frame_no(&self) -> u64 {
        self.latest().load(Ordering::Acquire)
    }

    /// Copies the newest complete frame into `out` (resized to the frame length).
    ///
    /// Returns `None` when nothing was ever published, or in the (practically unreachable)
    /// case that the writer overtook this reader on every retry; `out` is then unspecified.
    pub fn read_latest(&self, out: &mut Vec<u8>) -> Option<FrameMeta> {
        for _ in 0..READ_RETRIES {
            let latest = self.latest().load(Ordering::Acquire);
            if latest == 0 {
                return None;
            }
            let index = (latest & 1) as usize;
            let header = self.buf_header(index);
            let seq_before = header[0].load(Ordering::Acquire);
            if seq_before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let len = (header[1].load(Ordering::Relaxed) as usize).min(self.capacity_bytes());
            let timestamp_ns = header[2].load(Ordering::Relaxed);
            let frame_no = header[3].load(Ordering::Relaxed);
            let generation = header[4].load(Ordering::Relaxed);
            out.clear();
            out.reserve(len.div_ceil(8) * 8);
            for word in &self.buf_data(index)[..len.div_ceil(8)] {
                out.extend_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
            }
            out.truncate(len);
            fence(Ordering::Acquire);
            if header[0].load(Ordering::Relaxed) == seq_before {
                return Some(FrameMeta {
                    frame_no,
                    timestamp_ns,
                    len,
                    generation,
                });
            }
            std::hint::spin_loop();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(n: usize) -> Vec<AtomicU64> {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn empty_slot_reads_nothing() {
        let w = words(slot_words(16));
        let slot = FrameSlot::new(&w, 16);
        let mut out = Vec::new();
        assert_eq!(slot.read_latest(&mut out), None);
        assert_eq!(slot.latest_frame_no(), 0);
    }

    #[test]
    fn reads_back_the_newest_frame_with_odd_lengths() {
        let w = words(slot_words(20));
        let slot = FrameSlot::new(&w, 20);
        let mut out = Vec::new();
        slot.publish(&[1, 2, 3], 10);
        slot.publish(&[9; 13], 20);
        let meta = slot.read_latest(&mut out).unwrap();
        assert_eq!(out, vec![9; 13]);
        assert_eq!(
            meta,
            FrameMeta {
                frame_no: 2,
                timestamp_ns: 20,
                len: 13,
                generation: 0,
            }
        );
        let meta = {
            slot.publish(&[7, 7, 7, 7, 7], 30);
            slot.read_latest(&mut out).unwrap()
        };
        assert_eq!(out, vec![7; 5]);
        assert_eq!(meta.frame_no, 3);
    }

    #[test]
    fn each_frame_carries_its_own_generation() {
        let w = words(slot_words(8));
        let slot = FrameSlot::new(&w, 8);
        let mut out = Vec::new();
        slot.publish_generation(&[1; 6], 1, 7);
        assert_eq!(slot.read_latest(&mut out).unwrap().generation, 7);
        // The next frame lands in the other buffer: its generation must not be the old one's.
        slot.publish_generation(&[2; 6], 2, 8);
        let meta = slot.read_latest(&mut out).unwrap();
        assert_eq!((meta.generation, meta.frame_no, out[0]), (8, 2, 2));
        slot.publish(&[3; 6], 3);
        assert_eq!(slot.read_latest(&mut out).unwrap().generation, 0);
    }

    #[test]
    fn oversized_frames_are_truncated_to_capacity() {
        let w = words(slot_words(8));
        let slot = FrameSlot::new(&w, 8);
        let mut out = Vec::new();
        slot.publish(&[5; 12], 1);
        slot.read_latest(&mut out).unwrap();
        assert_eq!(out, vec![5; 8]);
    }

    #[test]
    fn a_writer_that_died_mid_write_leaves_the_previous_frame_readable() {
        let w = words(slot_words(8));
        let slot = FrameSlot::new(&w, 8);
        let mut out = Vec::new();
        slot.publish(&[1; 8], 1);
        // Simulate a writer killed after marking buffer 0 (the next one) as being written.
        let header_of_next = &w[1..1 + BUF_HEADER_WORDS];
        header_of_next[0].store(1, Ordering::Relaxed);
        w[HEADER_WORDS].store(u64::MAX, Ordering::Relaxed);
        let meta = slot.read_latest(&mut out).unwrap();
        assert_eq!((out.as_slice(), meta.frame_no), (&[1u8; 8][..], 1));
        // The restarted writer repairs the torn buffer with its next frame.
        slot.publish(&[2; 8], 2);
        let meta = slot.read_latest(&mut out).unwrap();
        assert_eq!((out.as_slice(), meta.frame_no), (&[2u8; 8][..], 2));
    }

    #[test]
    fn concurrent_reader_never_sees_a_torn_frame() {
        use std::sync::atomic::AtomicBool;
        let w = words(slot_words(4096));
        let slot = FrameSlot::new(&w, 4096);
        let writer_done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..20_000u32 {
                    let byte = (i % 251) as u8;
                    // The generation follows the content, so a reader can check that the two
                    // are read consistently.
                    slot.publish_generation(&[byte; 4096], u64::from(i), u64::from(i));
                }
                writer_done.store(true, Ordering::Release);
            });
            s.spawn(|| {
                let mut out = Vec::new();
                let mut reads = 0u64;
                while !writer_done.load(Ordering::Acquire) {
                    if let Some(meta) = slot.read_latest(&mut out) {
                        assert!(out.iter().all(|&b| b == out[0]), "torn frame");
                        assert_eq!((meta.generation % 251) as u8, out[0], "torn generation");
                        reads += 1;
                    }
                }
                println!("{reads} consistent reads while the writer ran");
            });
        });
        let mut out = Vec::new();
        let meta = slot.read_latest(&mut out).unwrap();
        assert_eq!(meta.frame_no, 20_000);
        assert!(out.iter().all(|&b| b == (19_999 % 251) as u8));
    }
}

//! The analysis frame audio-proc publishes once per hop (60 times a second by default).
//!
//! It is a plain `#[repr(C)]` record of numbers so it can be copied through a shared-memory
//! [`crate::slot::FrameSlot`] byte for byte. Readers that need "is this fresh?" compare the
//! slot's timestamp with the clock.

use bytemuck::{Pod, Zeroable};

/// Number of melbanks LedFx computes (each spanning 20 Hz up to its own maximum).
pub const MELBANKS: usize = 3;
/// Largest `melbanks.samples` value LedFx accepts.
pub const MAX_MEL_SAMPLES: usize = 100;

/// One analysis frame.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct AudioFrame {
    /// `CLOCK_MONOTONIC` time (ns) at which the last sample of this frame's hop was captured
    /// (for a device: as its audio host reports it; for the synth, a file or stdin: when the
    /// source delivered it); 0 for frames of silence published while no audio arrives. The
    /// latency from sound to light is measured from it.
    pub capture_ns: u64,
    /// Filtered volume 0..1 (LedFx `volume()`).
    pub volume: f32,
    /// 1 when the volume-beat detector fired on this frame.
    pub volume_beat: u32,
    /// 1 when the onset detector fired on this frame.
    pub onset: u32,
    /// Number of valid entries in each melbank row.
    pub mel_samples: u32,
    /// Filtered frequency powers: beat, bass, mids, high (each 0..1).
    pub powers: [f32; 4],
    /// The same powers before filtering.
    pub raw_powers: [f32; 4],
    /// Estimated tempo in beats per minute (0 when unknown).
    pub bpm: f32,
    /// Position within the current beat, 0..1.
    pub beat_oscillator: f32,
    /// 1 when the tempo tracker puts a beat on this frame (LedFx `bpm_beat_now`).
    pub tempo_beat: u32,
    /// Pitch as a (fractional) MIDI note, 0 when there is none (LedFx `pitch()`).
    pub pitch: f32,
    /// Keeps the frame a whole number of 8-byte words (no padding, as `Pod` requires).
    pub reserved: u32,
    /// Upper frequency of each melbank, Hz.
    pub melbank_max_hz: [f32; MELBANKS],
    /// Unfiltered (AGC-normalised, smoothed) melbanks.
    pub mel: [[f32; MAX_MEL_SAMPLES]; MELBANKS],
    /// Filtered melbanks (energy above the running floor).
    pub mel_filtered: [[f32; MAX_MEL_SAMPLES]; MELBANKS],
    /// Centre frequency of every melbank bin, Hz.
    pub mel_centre_hz: [[f32; MAX_MEL_SAMPLES]; MELBANKS],
}

/// Size of an [`AudioFrame`] in bytes, as stored in shared memory.
pub const AUDIO_FRAME_BYTES: usize = std::mem::size_of::<AudioFrame>();

impl AudioFrame {
    /// Silence: every value zero.
    pub fn silent() -> Self {
        Self::zeroed()
    }

    /// The frame as bytes, for publishing.
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }

    /// Reads a frame back from bytes; `None` if the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytemuck::try_pod_read_unaligned(bytes).ok()
    }

    /// The unfiltered (`filtered == false`) or filtered row of melbank `index`.
    pub fn melbank(&self, index: usize, filtered: bool) -> &[f32] {
        let n = (self.mel_samples as usize).min(MAX_MEL_SAMPLES);
        let rows = if filtered {
            &self.mel_filtered
        } else {
            &self.mel
        };
        &rows[index.min(MELBANKS - 1)][..n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_through_bytes() {
        let mut f = AudioFrame::silent();
        f.volume = 0.5;
        f.mel_samples = 24;
        f.mel[2][3] = 1.25;
        let back = AudioFrame::from_bytes(f.as_bytes()).unwrap();
        assert_eq!(back.volume, 0.5);
        assert_eq!(back.melbank(2, false)[3], 1.25);
        assert_eq!(back.melbank(2, false).len(), 24);
        assert!(AudioFrame::from_bytes(&[0u8; 3]).is_none());
    }
}

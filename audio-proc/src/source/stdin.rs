//! The `stdin` source: raw little-endian PCM (f32 or s16, any rate and channel count) read
//! from this process's standard input.
//!
//! It is paced by the data itself: whatever arrives is analysed as soon as it arrives, so a
//! producer that writes in real time gets real-time analysis. Reads wait in `poll` with a
//! short timeout, so the thread notices a stop request even when no data comes; at end of
//! input the source finishes and the analysis falls back to silent frames.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use proto::pipeline::{PcmEncoding, PcmFormat};
use rustix::event::{PollFd, PollFlags};

use super::FeedSender;

/// How long one `poll` on stdin waits before checking the stop flag again.
const POLL_TIMEOUT: Duration = Duration::from_millis(50);
/// Bytes read from stdin at a time.
const READ_BYTES: usize = 16 * 1024;

/// Errors reading stdin.
#[derive(Debug, thiserror::Error)]
pub enum StdinError {
    #[error("polling stdin: {0}")]
    Poll(std::io::Error),
    #[error("reading stdin: {0}")]
    Read(std::io::Error),
}

/// Decodes raw interleaved PCM into mono `f32`, across arbitrary read boundaries.
#[derive(Debug, Clone)]
pub struct PcmDecoder {
    format: PcmFormat,
    /// Bytes of an incomplete frame left over from the previous chunk.
    carry: Vec<u8>,
}

impl PcmDecoder {
    /// A decoder for `format` (a channel count of 0 is treated as mono).
    pub fn new(format: PcmFormat) -> Self {
        Self {
            format: PcmFormat {
                channels: format.channels.max(1),
                ..format
            },
            carry: Vec::new(),
        }
    }

    fn bytes_per_sample(&self) -> usize {
        match self.format.encoding {
            PcmEncoding::F32Le => 4,
            PcmEncoding::S16Le => 2,
        }
    }

    /// Decodes `bytes`, appending one mono sample per complete frame to `out`.
    pub fn decode(&mut self, bytes: &[u8], out: &mut Vec<f32>) {
        let sample_bytes = self.bytes_per_sample();
        let channels = usize::from(self.format.channels);
        let frame_bytes = sample_bytes * channels;
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let whole = data.len() / frame_bytes * frame_bytes;
        let gain = 1.0 / channels as f32;
        for frame in data[..whole].chunks_exact(frame_bytes) {
            let sum: f32 = frame
                .chunks_exact(sample_bytes)
                .map(|s| match self.format.encoding {
                    PcmEncoding::F32Le => f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
                    PcmEncoding::S16Le => f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0,
                })
                .sum();
            out.push(sum * gain);
        }
        data.drain(..whole);
        self.carry = data;
    }

    /// Sample rate of the decoded stream, Hz.
    pub fn rate(&self) -> u32 {
        self.format.rate
    }
}

/// Runs the stdin source until `stop`, end of input, or a read error.
pub(crate) fn run(format: PcmFormat, feeds: &FeedSender, stop: &AtomicBool) {
    match pump(format, feeds, stop) {
        Ok(true) => tracing::info!("stdin reached end of input; publishing silence"),
        Ok(false) => {}
        Err(err) => tracing::error!(error = %err, "stdin audio source failed; publishing silence"),
    }
}

/// Moves stdin into the ring; `Ok(true)` at end of input, `Ok(false)` when stopped.
fn pump(format: PcmFormat, feeds: &FeedSender, stop: &AtomicBool) -> Result<bool, StdinError> {
    let mut decoder = PcmDecoder::new(format);
    let Some(mut writer) = feeds.open(decoder.rate()) else {
        return Ok(false);
    };
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let mut bytes = vec![0u8; READ_BYTES];
    let mut samples = Vec::with_capacity(READ_BYTES / 2);
    let timeout = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: POLL_TIMEOUT.as_nanos() as i64,
    };
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(StdinError::Poll(e.into())),
        }
        // Read the descriptor directly: std's buffered stdin could hold data `poll` cannot see.
        let n = match rustix::io::read(fd, &mut bytes) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
            Err(e) => return Err(StdinError::Read(e.into())),
        };
        samples.clear();
        decoder.decode(&bytes[..n], &mut samples);
        // Paced by the data: wait for room rather than drop, the producer can slow down.
        let mut rest = samples.as_slice();
        while !rest.is_empty() {
            rest = writer.push_now(rest);
            if !rest.is_empty() {
                if stop.load(Ordering::Relaxed) || writer.is_abandoned() {
                    return Ok(false);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(encoding: PcmEncoding, channels: u16) -> PcmFormat {
        PcmFormat {
            encoding,
            rate: 44_100,
            channels,
        }
    }

    #[test]
    fn f32_mono_decodes_exactly() {
        let mut d = PcmDecoder::new(fmt(PcmEncoding::F32Le, 1));
        let bytes: Vec<u8> = [0.5f32, -1.0, 0.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = Vec::new();
        d.decode(&bytes, &mut out);
        assert_eq!(out, [0.5, -1.0, 0.25]);
    }

    #[test]
    fn s16_stereo_is_scaled_and_mixed() {
        let mut d = PcmDecoder::new(fmt(PcmEncoding::S16Le, 2));
        let bytes: Vec<u8> = [16_384i16, 0, -32_768, -32_768]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = Vec::new();
        d.decode(&bytes, &mut out);
        assert_eq!(out, [0.25, -1.0]);
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let mut d = PcmDecoder::new(fmt(PcmEncoding::F32Le, 2));
        let bytes: Vec<u8> = [0.5f32, 0.25, -0.5, -0.75]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let mut out = Vec::new();
        // Feed one byte at a time: only complete frames come out.
        for (i, b) in bytes.iter().enumerate() {
            d.decode(std::slice::from_ref(b), &mut out);
            assert_eq!(out.len(), (i + 1) / 8);
        }
        assert_eq!(out, [0.375, -0.625]);
    }
}

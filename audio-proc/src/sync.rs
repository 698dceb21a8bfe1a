//! WLED Audio Sync out: the analysis as WLED's sound-reactive "Audio Sync V2" UDP packets, so
//! WLED devices in the room run their own sound-reactive effects on the same audio.
//!
//! The packet is the 44-byte little-endian struct WLED's audioreactive usermod receives on
//! port 11988 (multicast group 239.0.0.1 by default):
//!
//! ```text
//! offset size field          from the ledfx-rs analysis frame
//!  0      6   header         "00002\0"
//!  6      2   (padding)      0
//!  8      4   sampleRaw f32  volume × 255
//! 12      4   sampleSmth f32 volume × 255, smoothed (rise at once, fall with factor 0.85/packet)
//! 16      1   samplePeak u8  1 when the volume beat or the onset detector fired since the last packet
//! 17      1   frameCounter   rolling packet counter
//! 18     16   fftResult[16]  16 GEQ channels 0..255: melbank 2 (20 Hz–15 kHz) regrouped, × 255
//! 34      2   (padding)      0 (some WLED forks read a zero-crossing count here)
//! 36      4   FFT_Magnitude  the strongest GEQ channel × 16 (WLED's raw FFT scale reaches ~4096)
//! 40      4   FFT_MajorPeak  centre frequency (Hz) of the strongest melbank-2 bin, 1..11025
//! ```
//!
//! Packets go out on every second analysis hop (30 per second; WLED itself sends at most
//! every 20 ms) from the analysis thread through a non-blocking socket: a send that would
//! block or fails is counted and dropped, never retried, so a dead network cannot slow the
//! analysis.

use std::net::{SocketAddr, UdpSocket};

use proto::audio::AudioFrame;

/// Size of an Audio Sync V2 packet.
pub const PACKET_BYTES: usize = 44;
/// Analysis hops per packet.
const HOPS_PER_PACKET: u64 = 2;
/// Per-packet decay of `sampleSmth` when the level falls.
const SMOOTH_FALL: f32 = 0.85;
/// WLED clamps the major peak to this band.
const PEAK_HZ: (f32, f32) = (1.0, 11_025.0);

/// The 16 GEQ channels from a melbank row: each channel is the loudest bin of its share of
/// the row (with fewer than 16 bins, neighbouring channels share a bin).
pub fn geq_channels(row: &[f32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = row.len();
    if n == 0 {
        return out;
    }
    for (c, slot) in out.iter_mut().enumerate() {
        let start = c * n / 16;
        let end = ((c + 1) * n / 16).max(start + 1).min(n);
        let loudest = row[start..end].iter().copied().fold(0.0f32, f32::max);
        *slot = (loudest.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
    out
}

/// Encodes one packet. `smooth` is the sender's smoothed level (0..255), `peak` whether a
/// beat or onset fired since the previous packet.
pub fn encode(frame: &AudioFrame, smooth: f32, peak: bool, counter: u8) -> [u8; PACKET_BYTES] {
    let mut p = [0u8; PACKET_BYTES];
    p[..6].copy_from_slice(b"00002\0");
    let raw = frame.volume.clamp(0.0, 1.0) * 255.0;
    p[8..12].copy_from_slice(&raw.to_le_bytes());
    p[12..16].copy_from_slice(&smooth.to_le_bytes());
    p[16] = u8::from(peak);
    p[17] = counter;
    let row = frame.melbank(2, false);
    let geq = geq_channels(row);
    p[18..34].copy_from_slice(&geq);
    let magnitude = f32::from(geq.iter().copied().max().unwrap_or(0)) * 16.0;
    p[36..40].copy_from_slice(&magnitude.to_le_bytes());
    let loudest = row
        .iter()
        .enumerate()
        .fold(
            (0usize, f32::MIN),
            |best, (i, &v)| if v > best.1 { (i, v) } else { best },
        )
        .0;
    let centres = &frame.mel_centre_hz[2];
    let major = if row.is_empty() {
        PEAK_HZ.0
    } else {
        centres[loudest].clamp(PEAK_HZ.0, PEAK_HZ.1)
    };
    p[40..44].copy_from_slice(&major.to_le_bytes());
    p
}

/// Counters of the sender, for the audio status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounters {
    pub packets_sent: u64,
    pub send_errors: u64,
}

/// The sender: owned by the analysis thread.
#[derive(Debug)]
pub struct AudioSync {
    socket: UdpSocket,
    target: SocketAddr,
    hops: u64,
    counter: u8,
    smooth: f32,
    peak_pending: bool,
    pub counters: SyncCounters,
}

impl AudioSync {
    /// A sender to `target` (a multicast group or a unicast address).
    pub fn new(target: SocketAddr) -> std::io::Result<Self> {
        let any: SocketAddr = if target.is_ipv4() {
            "0.0.0.0:0".parse().expect("a valid address")
        } else {
            "[::]:0".parse().expect("a valid address")
        };
        let socket = UdpSocket::bind(any)?;
        socket.set_nonblocking(true)?;
        if target.ip().is_multicast() && target.is_ipv4() {
            // Stay on the local network, as WLED's own senders do.
            socket.set_multicast_ttl_v4(1)?;
        }
        Ok(Self {
            socket,
            target,
            hops: 0,
            counter: 0,
            smooth: 0.0,
            peak_pending: false,
            counters: SyncCounters::default(),
        })
    }

    /// Where the packets go.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Takes one analysis frame; sends a packet every [`HOPS_PER_PACKET`] frames.
    pub fn on_frame(&mut self, frame: &AudioFrame) {
        self.peak_pending |= frame.volume_beat != 0 || frame.onset != 0;
        self.hops += 1;
        if self.hops % HOPS_PER_PACKET != 0 {
            return;
        }
        let level = frame.volume.clamp(0.0, 1.0) * 255.0;
        self.smooth = level.max(self.smooth * SMOOTH_FALL);
        let packet = encode(frame, self.smooth, self.peak_pending, self.counter);
        self.peak_pending = false;
        self.counter = self.counter.wrapping_add(1);
        match self.socket.send_to(&packet, self.target) {
            Ok(_) => self.counters.packets_sent += 1,
            Err(_) => self.counters.send_errors += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> AudioFrame {
        let mut f = AudioFrame::silent();
        f.volume = 0.5;
        f.mel_samples = 24;
        for i in 0..24 {
            f.mel[2][i] = i as f32 / 23.0;
            f.mel_centre_hz[2][i] = 100.0 * (i + 1) as f32;
        }
        f.mel[2][5] = 2.0; // loudest, and above full scale
        f
    }

    #[test]
    fn the_packet_has_wled_s_v2_layout() {
        let p = encode(&frame(), 200.0, true, 7);
        assert_eq!(&p[..6], b"00002\0");
        assert_eq!(&p[6..8], &[0, 0]);
        let f32_at = |o: usize| f32::from_le_bytes(p[o..o + 4].try_into().unwrap());
        assert_eq!(f32_at(8), 127.5);
        assert_eq!(f32_at(12), 200.0);
        assert_eq!(p[16], 1);
        assert_eq!(p[17], 7);
        // 24 bins into 16 channels: channel 3 covers bins 4..6, where bin 5 is 2.0 → 255.
        assert_eq!(p[18 + 3], 255);
        assert_eq!(p[18], 0, "channel 0 is bin 0, which is silent");
        assert_eq!(
            p[18 + 15],
            255,
            "the last channel holds bin 23 at full scale"
        );
        assert_eq!(&p[34..36], &[0, 0]);
        assert_eq!(f32_at(36), 255.0 * 16.0);
        assert_eq!(f32_at(40), 600.0, "bin 5's centre");
    }

    #[test]
    fn fewer_bins_than_channels_share_bins_and_silence_is_zero() {
        let geq = geq_channels(&[0.0, 1.0]);
        assert_eq!(&geq[..8], &[0; 8]);
        assert_eq!(&geq[8..], &[255; 8]);
        assert_eq!(geq_channels(&[]), [0; 16]);
        let silent = encode(&AudioFrame::silent(), 0.0, false, 0);
        assert_eq!(&silent[18..34], &[0; 16]);
        assert_eq!(f32::from_le_bytes(silent[40..44].try_into().unwrap()), 1.0);
    }

    #[test]
    fn every_second_frame_is_sent_to_the_target_with_held_peaks() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut sync = AudioSync::new(rx.local_addr().unwrap()).unwrap();
        let mut beat = frame();
        beat.volume_beat = 1;
        sync.on_frame(&beat); // held until the packet of the next frame
        sync.on_frame(&frame());
        sync.on_frame(&frame());
        sync.on_frame(&frame());
        let mut buf = [0u8; 64];
        let (n, _) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(n, PACKET_BYTES);
        assert_eq!((buf[16], buf[17]), (1, 0));
        let (n, _) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(n, PACKET_BYTES);
        assert_eq!((buf[16], buf[17]), (0, 1));
        assert_eq!(sync.counters.packets_sent, 2);
        let smth = f32::from_le_bytes(buf[12..16].try_into().unwrap());
        assert_eq!(smth, 127.5);
    }
}

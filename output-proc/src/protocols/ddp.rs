//! DDP (Distributed Display Protocol), device type `ddp`, exactly as LedFx 2.2.1 sends it
//! (engine spec §6.2).
//!
//! A frame is split into packets of at most 480 pixels (1440 payload bytes), each with a
//! 10-byte big-endian header: flags (`0x40` version 1, plus `0x01` PUSH on the last packet of
//! the frame only), sequence `frame_count % 15 + 1` (frame_count starts at 1, so the first
//! frame has sequence 2), data type `0x0B` (RGB, 8 bits per channel), destination id, the
//! payload's offset in bytes within the frame, and the payload length. The decoder and
//! `DdpReassembler` (both with the `stage` feature, like the encoder) exist for the tests of
//! this crate and the end-to-end tests.
//!
//! A DDP device occupies one destination id at its receiver's UDP port, so two DDP devices
//! may share an address when their ports or destination ids differ (LedFx's rule).

use serde_json::Value;

use super::ProtocolEntry;
#[cfg(feature = "stage")]
use super::{Packets, Protocol, Transport};
use crate::coexist::{Claim, Share};
use crate::config::{self, DeviceConfigError, DeviceKey, RawConfig};

/// Registry row.
pub const ENTRY: ProtocolEntry = ProtocolEntry {
    device_type: "ddp",
    validate,
    claims,
    keys: KEYS,
    #[cfg(feature = "stage")]
    build,
};

/// The type's keys for `/api/schema`.
const KEYS: &[DeviceKey] = &[
    DeviceKey::required_text("ip_address", "Host name or IP address of the DDP receiver"),
    config::PIXEL_COUNT_KEY,
    DeviceKey::integer(
        "port",
        DEFAULT_PORT as i64,
        Some(1),
        Some(65_535),
        true,
        "UDP port of the receiver",
    ),
    DeviceKey::integer(
        "destination_id",
        DEFAULT_DESTINATION_ID as i64,
        Some(1),
        Some(255),
        false,
        "DDP destination id on the receiver (1 is its default output)",
    ),
];

/// Default UDP port of DDP receivers.
pub const DEFAULT_PORT: u16 = 4048;
/// Default destination id (1 = the default output device).
pub const DEFAULT_DESTINATION_ID: u8 = 1;
/// Largest payload per packet: 480 RGB pixels.
#[cfg(feature = "stage")]
pub const MAX_PAYLOAD: usize = 1440;
/// Header length.
#[cfg(feature = "stage")]
pub const HEADER_LEN: usize = 10;
/// Version 1 in the flags byte.
#[cfg(feature = "stage")]
pub const FLAG_VERSION_1: u8 = 0x40;
/// PUSH flag: display the frame now.
#[cfg(feature = "stage")]
pub const FLAG_PUSH: u8 = 0x01;
/// Data type: RGB, 8 bits per channel.
#[cfg(feature = "stage")]
pub const DATA_TYPE_RGB8: u8 = 0x0B;

/// The `ddp` device keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdpConfig {
    pub ip_address: String,
    pub pixel_count: u32,
    pub port: u16,
    pub destination_id: u8,
}

impl DdpConfig {
    /// Reads the type's keys from a raw config, filling defaults.
    pub fn from_raw(raw: &RawConfig) -> Result<Self, DeviceConfigError> {
        let ip_address = config::required_string(raw, "ip_address")?;
        let pixel_count = config::pixel_count(raw)?;
        let port = config::integer(raw, "port", DEFAULT_PORT.into(), 1, 65_535)?;
        let destination_id =
            config::integer(raw, "destination_id", DEFAULT_DESTINATION_ID.into(), 1, 255)?;
        Ok(Self {
            ip_address,
            pixel_count,
            // In range by the checks above.
            port: u16::try_from(port).unwrap_or(DEFAULT_PORT),
            destination_id: u8::try_from(destination_id).unwrap_or(DEFAULT_DESTINATION_ID),
        })
    }

    /// Writes the keys in LedFx's order.
    fn write(&self, out: &mut RawConfig) {
        out.insert("ip_address".into(), Value::String(self.ip_address.clone()));
        out.insert("pixel_count".into(), Value::from(self.pixel_count));
        out.insert("port".into(), Value::from(self.port));
        out.insert("destination_id".into(), Value::from(self.destination_id));
    }
}

fn validate(raw: &RawConfig, out: &mut RawConfig) -> Result<u32, DeviceConfigError> {
    let config = DdpConfig::from_raw(raw)?;
    config.write(out);
    Ok(config.pixel_count)
}

/// The receiver's UDP port, and the destination id on it.
fn claims(raw: &RawConfig) -> Result<Vec<Claim>, DeviceConfigError> {
    let config = DdpConfig::from_raw(raw)?;
    Ok(vec![Claim::udp(
        config.ip_address,
        config.port,
        Share::DdpDestination(config.destination_id),
    )])
}

#[cfg(feature = "stage")]
fn build(raw: &RawConfig) -> Result<Box<dyn Protocol>, DeviceConfigError> {
    Ok(Box::new(Ddp::new(DdpConfig::from_raw(raw)?)))
}

/// The DDP encoder of one device.
#[cfg(feature = "stage")]
#[derive(Debug)]
pub struct Ddp {
    config: DdpConfig,
    /// Frames encoded so far (the current frame included once `encode` starts).
    frame_count: u64,
}

#[cfg(feature = "stage")]
impl Ddp {
    pub fn new(config: DdpConfig) -> Self {
        Self {
            config,
            frame_count: 0,
        }
    }
}

#[cfg(feature = "stage")]
impl Protocol for Ddp {
    fn transport(&self) -> Transport {
        Transport::Udp {
            host: self.config.ip_address.clone(),
            port: self.config.port,
        }
    }

    fn encode(&mut self, rgb: &[u8], out: &mut Packets) {
        self.frame_count += 1;
        let sequence = (self.frame_count % 15 + 1) as u8;
        encode_frame(rgb, sequence, self.config.destination_id, out);
    }
}

/// Encodes one frame with the given sequence number and destination id.
#[cfg(feature = "stage")]
pub fn encode_frame(rgb: &[u8], sequence: u8, destination_id: u8, out: &mut Packets) {
    let count = rgb.len().div_ceil(MAX_PAYLOAD);
    for (index, chunk) in rgb.chunks(MAX_PAYLOAD).enumerate() {
        let flags = if index + 1 == count {
            FLAG_VERSION_1 | FLAG_PUSH
        } else {
            FLAG_VERSION_1
        };
        // Offsets stay far below u32::MAX: a device has at most MAX_PIXELS_PER_DEVICE pixels.
        let offset = (index * MAX_PAYLOAD) as u32;
        let len = chunk.len() as u16;
        let mut header = [0u8; HEADER_LEN];
        header[0] = flags;
        header[1] = sequence;
        header[2] = DATA_TYPE_RGB8;
        header[3] = destination_id;
        header[4..8].copy_from_slice(&offset.to_be_bytes());
        header[8..10].copy_from_slice(&len.to_be_bytes());
        out.push(&[&header, chunk]);
    }
}

/// Why a datagram is not a DDP data packet this crate understands.
#[cfg(feature = "stage")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DdpDecodeError {
    #[error("packet of {0} bytes is shorter than the DDP header")]
    TooShort(usize),
    #[error("flags {0:#04x} do not say DDP version 1")]
    WrongVersion(u8),
    #[error("header says {declared} payload bytes, packet carries {actual}")]
    LengthMismatch { declared: usize, actual: usize },
}

/// A decoded DDP data packet.
#[cfg(feature = "stage")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdpPacket<'a> {
    pub push: bool,
    pub sequence: u8,
    pub data_type: u8,
    pub destination_id: u8,
    /// Byte offset of the payload within the frame.
    pub offset: u32,
    pub payload: &'a [u8],
}

/// Decodes one DDP packet (no timecode; LedFx never sends one).
#[cfg(feature = "stage")]
pub fn decode_packet(bytes: &[u8]) -> Result<DdpPacket<'_>, DdpDecodeError> {
    if bytes.len() < HEADER_LEN {
        return Err(DdpDecodeError::TooShort(bytes.len()));
    }
    if bytes[0] & 0xC0 != FLAG_VERSION_1 {
        return Err(DdpDecodeError::WrongVersion(bytes[0]));
    }
    let declared = usize::from(u16::from_be_bytes([bytes[8], bytes[9]]));
    let payload = &bytes[HEADER_LEN..];
    if payload.len() != declared {
        return Err(DdpDecodeError::LengthMismatch {
            declared,
            actual: payload.len(),
        });
    }
    Ok(DdpPacket {
        push: bytes[0] & FLAG_PUSH != 0,
        sequence: bytes[1],
        data_type: bytes[2],
        destination_id: bytes[3],
        offset: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        payload,
    })
}

/// Rebuilds whole frames from DDP packets, as a receiver's display buffer would.
#[cfg(feature = "stage")]
#[derive(Debug, Default, Clone)]
pub struct DdpReassembler {
    buffer: Vec<u8>,
    /// Highest byte written since the last PUSH.
    filled: usize,
    /// Whether every packet since the last PUSH carried the same sequence number.
    consistent: bool,
    /// Sequence number of the previous packet since the last PUSH.
    sequence: Option<u8>,
    /// Packets received since the last PUSH.
    packets_since_push: usize,
}

/// A frame completed by a PUSH packet.
#[cfg(feature = "stage")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdpFrame {
    /// Sequence number of the PUSH packet.
    pub sequence: u8,
    /// Whether all packets of the frame had that sequence number.
    pub consistent_sequence: bool,
    /// Number of packets that made up the frame.
    pub packets: usize,
    /// The frame's bytes (up to the end of the last payload received).
    pub rgb: Vec<u8>,
}

#[cfg(feature = "stage")]
impl DdpReassembler {
    /// Adds one packet; returns the frame when the packet carries PUSH.
    pub fn push(&mut self, packet: &DdpPacket<'_>) -> Option<DdpFrame> {
        if self.sequence.is_none() {
            self.consistent = true;
        }
        if self.sequence.is_some_and(|s| s != packet.sequence) {
            self.consistent = false;
        }
        self.sequence = Some(packet.sequence);
        let start = packet.offset as usize;
        let end = start + packet.payload.len();
        if self.buffer.len() < end {
            self.buffer.resize(end, 0);
        }
        self.buffer[start..end].copy_from_slice(packet.payload);
        self.filled = self.filled.max(end);
        self.packets_since_push += 1;
        let packets = self.packets_since_push;
        if !packet.push {
            return None;
        }
        let frame = DdpFrame {
            sequence: packet.sequence,
            consistent_sequence: self.consistent,
            packets,
            rgb: self.buffer[..self.filled].to_vec(),
        };
        self.filled = 0;
        self.sequence = None;
        self.packets_since_push = 0;
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_defaults() {
        let raw = json!({"ip_address": "wled.local"});
        let config = DdpConfig::from_raw(raw.as_object().unwrap()).unwrap();
        assert_eq!(
            config,
            DdpConfig {
                ip_address: "wled.local".into(),
                pixel_count: 1,
                port: 4048,
                destination_id: 1
            }
        );
    }

    #[test]
    fn claims_the_destination_id_at_the_receivers_port() {
        let claims = |v: Value| claims(v.as_object().unwrap());
        assert_eq!(
            claims(json!({"ip_address": "10.0.0.2", "port": 4049, "destination_id": 7})),
            Ok(vec![Claim::udp(
                "10.0.0.2".into(),
                4049,
                Share::DdpDestination(7)
            )])
        );
        // Defaults fill in, as for validation.
        assert_eq!(
            claims(json!({"ip_address": "h"})),
            Ok(vec![Claim::udp("h".into(), 4048, Share::DdpDestination(1))])
        );
        assert!(claims(json!({})).is_err(), "no address, nothing to claim");
    }
}

/// Encoder and decoder tests (they need the `stage` feature, like the encoder).
#[cfg(all(test, feature = "stage"))]
mod encoder_tests {
    use super::*;
    use serde_json::json;

    fn packets_of(p: &Packets) -> Vec<Vec<u8>> {
        p.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn two_pixel_golden_vector_from_the_spec() {
        // Engine spec §6.2: (255,10.9,0),(1,2,3), first frame (float → byte truncates).
        let mut ddp = Ddp::new(DdpConfig {
            ip_address: "x".into(),
            pixel_count: 2,
            port: DEFAULT_PORT,
            destination_id: 1,
        });
        let mut out = Packets::default();
        ddp.encode(&[255, 10, 0, 1, 2, 3], &mut out);
        assert_eq!(
            packets_of(&out),
            [vec![
                0x41, 0x02, 0x0B, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0xFF, 0x0A, 0x00, 0x01,
                0x02, 0x03
            ]]
        );
    }

    #[test]
    fn four_hundred_eighty_one_black_pixels_golden_vector() {
        let mut out = Packets::default();
        encode_frame(&[0u8; 481 * 3], 2, 1, &mut out);
        let packets = packets_of(&out);
        assert_eq!(packets.len(), 2);
        assert_eq!(
            packets[0][..10],
            [0x40, 0x02, 0x0B, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0xA0]
        );
        assert_eq!(packets[0].len(), 10 + 1440);
        assert!(packets[0][10..].iter().all(|&b| b == 0));
        assert_eq!(
            packets[1],
            [0x41, 0x02, 0x0B, 0x01, 0x00, 0x00, 0x05, 0xA0, 0x00, 0x03, 0, 0, 0]
        );
    }

    #[test]
    fn exactly_480_pixels_fit_one_packet_with_push() {
        let mut out = Packets::default();
        encode_frame(&[7u8; 1440], 5, 9, &mut out);
        let packets = packets_of(&out);
        assert_eq!(packets.len(), 1);
        assert_eq!(packets[0][..10], [0x41, 5, 0x0B, 9, 0, 0, 0, 0, 0x05, 0xA0]);
    }

    #[test]
    fn sequence_starts_at_two_and_cycles_through_one_to_fifteen() {
        let raw = json!({"ip_address": "h", "destination_id": 7});
        let mut ddp = Ddp::new(DdpConfig::from_raw(raw.as_object().unwrap()).unwrap());
        let mut out = Packets::default();
        let mut seen = Vec::new();
        for _ in 0..17 {
            out.clear();
            ddp.encode(&[1, 2, 3], &mut out);
            let packet = out.iter().next().unwrap();
            assert_eq!(packet[3], 7, "destination id from config");
            seen.push(packet[1]);
        }
        let expected: Vec<u8> = (1..=17u64).map(|n| (n % 15 + 1) as u8).collect();
        assert_eq!(seen, expected);
        assert_eq!(&seen[..3], [2, 3, 4]);
        assert_eq!(seen[13], 15);
        assert_eq!(seen[14], 1);
    }

    #[test]
    fn transport_is_the_configured_destination() {
        let raw = json!({"ip_address": "wled.local"});
        let config = DdpConfig::from_raw(raw.as_object().unwrap()).unwrap();
        assert_eq!(
            Ddp::new(config).transport(),
            Transport::Udp {
                host: "wled.local".into(),
                port: 4048
            }
        );
    }

    #[test]
    fn decoder_round_trips_the_encoder_and_rejects_garbage() {
        let rgb: Vec<u8> = (0..1000 * 3).map(|i| (i % 251) as u8).collect();
        let mut out = Packets::default();
        encode_frame(&rgb, 3, 1, &mut out);
        let mut reassembler = DdpReassembler::default();
        let mut frames = Vec::new();
        for packet in out.iter() {
            let decoded = decode_packet(packet).unwrap();
            assert_eq!(decoded.data_type, DATA_TYPE_RGB8);
            frames.extend(reassembler.push(&decoded));
        }
        assert_eq!(
            frames,
            [DdpFrame {
                sequence: 3,
                consistent_sequence: true,
                packets: 3,
                rgb
            }]
        );
        assert_eq!(
            decode_packet(&[0x41, 1, 2]),
            Err(DdpDecodeError::TooShort(3))
        );
        assert_eq!(
            decode_packet(&[0x81, 1, 0x0B, 1, 0, 0, 0, 0, 0, 0]),
            Err(DdpDecodeError::WrongVersion(0x81))
        );
        assert_eq!(
            decode_packet(&[0x41, 1, 0x0B, 1, 0, 0, 0, 0, 0, 3, 1]),
            Err(DdpDecodeError::LengthMismatch {
                declared: 3,
                actual: 1
            })
        );
    }

    #[test]
    fn reassembler_notices_mixed_sequences() {
        let mut r = DdpReassembler::default();
        let a = [0x40, 1, 0x0B, 1, 0, 0, 0, 0, 0, 3, 9, 9, 9];
        let b = [0x41, 2, 0x0B, 1, 0, 0, 0, 3, 0, 3, 8, 8, 8];
        assert_eq!(r.push(&decode_packet(&a).unwrap()), None);
        let frame = r.push(&decode_packet(&b).unwrap()).unwrap();
        assert!(!frame.consistent_sequence);
        assert_eq!(frame.rgb, [9, 9, 9, 8, 8, 8]);
    }
}

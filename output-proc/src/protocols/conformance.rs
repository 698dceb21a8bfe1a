//! Conformance suite: every network protocol in the registry, sent through the shared sender
//! path to a real UDP socket on 127.0.0.1, must deliver frames that decode back to the pixels
//! that went in, in datagrams that fit an Ethernet MTU.
//!
//! Each network protocol needs a row in [`DECODERS`]; a protocol added to the registry without
//! one makes `every_network_protocol_has_a_decoder` fail, so nothing ships untested.

use std::time::Duration;

use serde_json::{json, Value};

use super::{build_protocol, ddp, Packets, Transport, PROTOCOLS};
use crate::coexist::Resource;
use crate::config::validate_device_config;
use crate::sender::{send_frame, Link, SendOutcome};

/// Largest datagram that fits a 1500-byte MTU without fragmentation (IPv4 + UDP headers).
const MAX_DATAGRAM: usize = 1472;

/// Turns received datagrams back into frames.
trait FrameDecoder {
    /// Feeds one datagram; returns a frame when it completes one.
    fn feed(&mut self, datagram: &[u8]) -> Option<Vec<u8>>;
}

/// A conformance row: how to configure a protocol for a receiver, and how to decode it.
struct Conformance {
    device_type: &'static str,
    config: fn(port: u16, pixel_count: u32) -> Value,
    decoder: fn() -> Box<dyn FrameDecoder>,
}

struct DdpDecoder(ddp::DdpReassembler);

impl FrameDecoder for DdpDecoder {
    fn feed(&mut self, datagram: &[u8]) -> Option<Vec<u8>> {
        let packet = ddp::decode_packet(datagram).ok()?;
        let frame = self.0.push(&packet)?;
        assert!(frame.consistent_sequence, "one sequence number per frame");
        Some(frame.rgb)
    }
}

const DECODERS: &[Conformance] = &[Conformance {
    device_type: "ddp",
    config: |port, pixel_count| {
        json!({"name": "conformance", "ip_address": "127.0.0.1", "port": port,
               "pixel_count": pixel_count})
    },
    decoder: || Box::new(DdpDecoder(ddp::DdpReassembler::default())),
}];

/// Whether a registered protocol sends over the network (judged from a minimal config).
fn is_network(device_type: &str) -> bool {
    let config = json!({"name": "probe", "ip_address": "127.0.0.1"});
    let Ok(validated) = validate_device_config(device_type, &config) else {
        return true; // a config we cannot even build is certainly not the dummy
    };
    build_protocol(device_type, &validated.config.to_string())
        .map(|p| p.transport() != Transport::None)
        .unwrap_or(true)
}

#[test]
fn every_network_protocol_has_a_decoder() {
    for entry in PROTOCOLS {
        if is_network(entry.device_type) {
            assert!(
                DECODERS.iter().any(|c| c.device_type == entry.device_type),
                "protocol {} has no conformance decoder",
                entry.device_type
            );
        }
    }
}

#[test]
fn every_network_protocol_claims_the_destination_it_sends_to() {
    // Otherwise the clash check would let two devices drive one receiver unnoticed.
    let config = json!({"name": "probe", "ip_address": "127.0.0.1"});
    for entry in PROTOCOLS {
        let validated = validate_device_config(entry.device_type, &config).unwrap();
        let protocol = build_protocol(entry.device_type, &validated.config.to_string()).unwrap();
        let claims = (entry.claims)(validated.config.as_object().unwrap()).unwrap();
        match protocol.transport() {
            Transport::None => {}
            Transport::Udp { host, port } => assert!(
                claims.iter().any(|c| c.resource
                    == Resource::Udp {
                        host: host.clone(),
                        port
                    }),
                "{} sends to {host}:{port} but claims {claims:?}",
                entry.device_type
            ),
        }
    }
}

#[tokio::test]
async fn frames_round_trip_through_a_real_udp_socket() {
    let receiver = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = receiver.local_addr().unwrap().port();
    let segment = proto::layout::Segment::create().unwrap();
    let stats = segment.device_stats(0);
    for row in DECODERS {
        for pixel_count in [1u32, 2, 480, 481, 1000, 16_384] {
            let validated =
                validate_device_config(row.device_type, &(row.config)(port, pixel_count)).unwrap();
            let mut protocol =
                build_protocol(row.device_type, &validated.config.to_string()).unwrap();
            let link = Link::connect(&protocol.transport()).await.unwrap();
            let mut decoder = (row.decoder)();
            let mut packets = Packets::default();
            let mut buf = vec![0u8; 65_536];
            for round in 0..3u32 {
                let frame: Vec<u8> = (0..pixel_count * 3)
                    .map(|i| (i.wrapping_mul(7).wrapping_add(round * 13) % 256) as u8)
                    .collect();
                let outcome = send_frame(&link, protocol.as_mut(), &frame, &mut packets, &stats);
                assert_eq!(
                    outcome,
                    SendOutcome::Sent,
                    "{} {pixel_count}",
                    row.device_type
                );
                let decoded = loop {
                    let (n, _) =
                        tokio::time::timeout(Duration::from_secs(5), receiver.recv_from(&mut buf))
                            .await
                            .expect("datagram arrives")
                            .unwrap();
                    assert!(
                        n <= MAX_DATAGRAM,
                        "{} sent a {n}-byte datagram",
                        row.device_type
                    );
                    if let Some(frame) = decoder.feed(&buf[..n]) {
                        break frame;
                    }
                };
                assert_eq!(
                    decoded, frame,
                    "{} with {pixel_count} px, round {round}",
                    row.device_type
                );
            }
        }
    }
}

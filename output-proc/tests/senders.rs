//! In-process tests of the sender machinery against real UDP sockets on 127.0.0.1.
//!
//! They create the shared segment the way the supervisor does, publish frames into device
//! slots the way render-proc does, drive [`output_proc::Output`] the way the stage binary does,
//! and decode the DDP packets that arrive. Timing is only ever checked as "at least a sane
//! rate", polled to generous deadlines, never as a maximum.

use std::sync::Arc;
use std::time::Duration;

use output_proc::protocols::ddp::{decode_packet, DdpReassembler};
use output_proc::{validate_device_config, Output};
use proto::layout::Segment;
use proto::pipeline::{DeviceSpec, PipelineState};
use serde_json::json;
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

/// The slot generation of the devices made by [`ddp_device`]; frames for them are published
/// with it, as render-proc does.
const GENERATION: u64 = 1;

/// A DDP device spec aimed at 127.0.0.1:`port`, built from a config that went through the
/// supervisor's validation.
fn ddp_device(
    id: &str,
    slot: u16,
    port: u16,
    pixels: u32,
    center_offset: i32,
    dest: u8,
) -> DeviceSpec {
    let validated = validate_device_config(
        "ddp",
        &json!({"name": id, "ip_address": "127.0.0.1", "port": port, "pixel_count": pixels,
                "center_offset": center_offset, "destination_id": dest}),
    )
    .expect("valid config");
    DeviceSpec {
        id: id.into(),
        slot,
        generation: GENERATION,
        device_type: "ddp".into(),
        pixel_count: validated.pixel_count,
        refresh_rate: validated.refresh_rate,
        center_offset: validated.center_offset,
        config_json: validated.config.to_string(),
        active: true,
    }
}

fn state(devices: Vec<DeviceSpec>) -> PipelineState {
    PipelineState {
        devices,
        ..Default::default()
    }
}

/// One frame as it arrived: its packets' headers and the reassembled pixels.
#[derive(Debug)]
struct Received {
    sequence: u8,
    destination_id: u8,
    /// `(push, byte offset, payload length)` of each packet.
    packets: Vec<(bool, u32, usize)>,
    rgb: Vec<u8>,
}

/// Receives packets until one frame completes (PUSH), or `None` at the deadline.
async fn recv_frame(socket: &UdpSocket, within: Duration) -> Option<Received> {
    let deadline = Instant::now() + within;
    let mut reassembler = DdpReassembler::default();
    let mut headers = Vec::new();
    let mut buf = vec![0u8; 2048];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let (n, _) = timeout(left, socket.recv_from(&mut buf)).await.ok()?.ok()?;
        let packet = decode_packet(&buf[..n]).expect("a DDP packet");
        headers.push((packet.push, packet.offset, packet.payload.len()));
        if let Some(frame) = reassembler.push(&packet) {
            assert!(frame.consistent_sequence);
            return Some(Received {
                sequence: frame.sequence,
                destination_id: packet.destination_id,
                packets: headers,
                rgb: frame.rgb,
            });
        }
    }
}

fn pixel(i: usize) -> [u8; 3] {
    [(i % 256) as u8, (i / 256) as u8 + 1, 200]
}

#[tokio::test]
async fn ddp_device_streams_the_latest_frame_then_blacks_out_when_deactivated() {
    let segment = Arc::new(Segment::create().unwrap());
    let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = receiver.local_addr().unwrap().port();
    let mut output = Output::new(Arc::clone(&segment));
    let device = ddp_device("strip", 3, port, 500, 2, 3);
    output.apply(&state(vec![device.clone()]));

    // Nothing is sent before render-proc published a first frame.
    assert!(recv_frame(&receiver, Duration::from_millis(200))
        .await
        .is_none());

    // A frame shorter than the device (400 of 500 pixels): padded with black, then rotated
    // by center_offset 2 towards higher indices.
    let published: Vec<u8> = (0..400).flat_map(pixel).collect();
    segment
        .device_slot(3)
        .publish_generation(&published, proto::monotonic_ns(), GENERATION);
    let first = recv_frame(&receiver, Duration::from_secs(5))
        .await
        .expect("first frame");
    let mut expected = vec![0u8; 500 * 3];
    for i in 0..400 {
        let to = (i + 2) % 500;
        expected[to * 3..to * 3 + 3].copy_from_slice(&pixel(i));
    }
    assert_eq!(first.rgb, expected);
    assert_eq!(first.sequence, 2, "frame_count 1 → sequence 2");
    assert_eq!(first.destination_id, 3);
    assert_eq!(first.packets, [(false, 0, 1440), (true, 1440, 60)]);

    // Sequence numbers advance by one per frame through 1..=15.
    let mut previous = first.sequence;
    for _ in 0..20 {
        let frame = recv_frame(&receiver, Duration::from_secs(5))
            .await
            .expect("frame");
        assert_eq!(frame.sequence, previous % 15 + 1);
        assert_eq!(frame.rgb, expected, "the latest frame is resent every tick");
        previous = frame.sequence;
    }

    // A new frame (longer than the device: truncated) replaces the old one.
    let longer = vec![7u8; 600 * 3];
    segment
        .device_slot(3)
        .publish_generation(&longer, proto::monotonic_ns(), GENERATION);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let frame = recv_frame(&receiver, Duration::from_secs(5))
            .await
            .expect("frame");
        if frame.rgb == [7u8; 500 * 3] {
            break;
        }
        assert!(Instant::now() < deadline, "new frame never arrived");
    }

    // Deactivated: one black frame, then silence.
    let mut inactive = device;
    inactive.active = false;
    output.apply(&state(vec![inactive]));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let frame = recv_frame(&receiver, Duration::from_secs(5))
            .await
            .expect("frame");
        if frame.rgb.iter().all(|&b| b == 0) {
            assert_eq!(frame.rgb.len(), 500 * 3);
            break;
        }
        assert!(Instant::now() < deadline, "black frame never arrived");
    }
    assert!(recv_frame(&receiver, Duration::from_millis(300))
        .await
        .is_none());
    assert!(output.running_devices().is_empty());

    let stats = segment.device_stats(3);
    println!(
        "strip: {} frames sent, {} errors",
        stats.frames_sent(),
        stats.send_errors()
    );
    assert!(stats.frames_sent() >= 23);
    assert_eq!(stats.send_errors(), 0);
    output.shutdown(false).await;
}

#[tokio::test]
async fn a_dead_device_does_not_slow_a_healthy_one() {
    let segment = Arc::new(Segment::create().unwrap());
    let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = receiver.local_addr().unwrap().port();
    // A port with nothing listening: bind, note it, close it.
    let dead_port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let healthy = ddp_device("healthy", 0, port, 300, 0, 1);
    let dead = ddp_device("dead", 1, dead_port, 300, 0, 1);
    let dead_big = ddp_device("dead-big", 2, dead_port, 16_384, 0, 2);
    // A host name that cannot resolve, and fails without asking any DNS server (the resolver
    // rejects the NUL byte locally).
    let mut unresolvable = ddp_device("unresolvable", 3, port, 300, 0, 3);
    unresolvable.config_json = unresolvable
        .config_json
        .replace("127.0.0.1", "no\\u0000such-host");
    for slot in 0..4 {
        segment.device_slot(slot).publish_generation(
            &vec![9u8; 16_384 * 3],
            proto::monotonic_ns(),
            GENERATION,
        );
    }
    let mut output = Output::new(Arc::clone(&segment));
    output.apply(&state(vec![healthy, dead, dead_big, unresolvable]));

    // Count complete frames arriving at the healthy receiver in the background.
    let counter = tokio::spawn(async move {
        let mut frames = 0u64;
        let mut buf = vec![0u8; 2048];
        while let Ok(Ok((n, _))) =
            timeout(Duration::from_secs(2), receiver.recv_from(&mut buf)).await
        {
            if decode_packet(&buf[..n]).is_ok_and(|p| p.push) {
                frames += 1;
            }
        }
        frames
    });

    // Wait for the healthy device to be running, then measure over about a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    while segment.device_stats(0).frames_sent() == 0 {
        assert!(Instant::now() < deadline, "healthy device never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let start = Instant::now();
    let sent_before: Vec<u64> = (0..4)
        .map(|s| segment.device_stats(s).frames_sent())
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let elapsed = start.elapsed();
    let sent: Vec<u64> = (0..4)
        .map(|s| segment.device_stats(s).frames_sent() - sent_before[s as usize])
        .collect();
    let errors: Vec<u64> = (0..4)
        .map(|s| segment.device_stats(s).send_errors())
        .collect();
    output.shutdown(false).await;
    let received = counter.await.unwrap();

    let nominal = elapsed.as_secs_f64() / output_proc::frame_period(62).as_secs_f64();
    println!(
        "over {elapsed:?} (nominal {nominal:.1} frames): healthy sent {}, dead sent {}, \
         dead-big sent {}, unresolvable sent {}; errors {errors:?}; \
         healthy receiver got {received} frames in total",
        sent[0], sent[1], sent[2], sent[3]
    );
    assert!(
        sent[0] as f64 > 0.8 * nominal,
        "healthy device sent {} frames, nominal {nominal:.1}",
        sent[0]
    );
    assert!(received >= sent[0], "every frame counted as sent arrived");
    assert_eq!(sent[3], 0, "an unresolvable device sends nothing");
    assert!(errors[3] >= 1, "and counts its failed resolution");
}

#[tokio::test]
async fn shutdown_with_flush_blacks_out_every_active_device() {
    let segment = Arc::new(Segment::create().unwrap());
    let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = receiver.local_addr().unwrap().port();
    // Two devices on one receiver, told apart by destination id.
    let a = ddp_device("a", 10, port, 20, 0, 1);
    let b = ddp_device("b", 11, port, 30, 0, 2);
    segment
        .device_slot(10)
        .publish_generation(&[50u8; 60], proto::monotonic_ns(), GENERATION);
    segment
        .device_slot(11)
        .publish_generation(&[60u8; 90], proto::monotonic_ns(), GENERATION);
    let mut output = Output::new(Arc::clone(&segment));
    output.apply(&state(vec![a, b]));

    let mut seen = [false; 2];
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen != [true, true] {
        assert!(Instant::now() < deadline, "devices never sent");
        if let Some(f) = recv_frame(&receiver, Duration::from_secs(5)).await {
            seen[usize::from(f.destination_id - 1)] = true;
        }
    }
    output.shutdown(true).await;

    // Drain: the last frame of each device must be black.
    let mut last: [Option<Vec<u8>>; 2] = [None, None];
    while let Some(f) = recv_frame(&receiver, Duration::from_millis(300)).await {
        last[usize::from(f.destination_id - 1)] = Some(f.rgb);
    }
    assert_eq!(last[0].as_deref(), Some(&[0u8; 60][..]));
    assert_eq!(last[1].as_deref(), Some(&[0u8; 90][..]));
}

#[tokio::test]
async fn pause_stops_sending_and_unpause_resumes() {
    let segment = Arc::new(Segment::create().unwrap());
    let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = receiver.local_addr().unwrap().port();
    let device = ddp_device("p", 20, port, 10, 0, 1);
    segment
        .device_slot(20)
        .publish_generation(&[1u8; 30], proto::monotonic_ns(), GENERATION);
    let mut output = Output::new(Arc::clone(&segment));
    output.apply(&state(vec![device.clone()]));
    let first = recv_frame(&receiver, Duration::from_secs(5))
        .await
        .expect("frame");

    let mut paused = state(vec![device.clone()]);
    paused.paused = true;
    output.apply(&paused);
    // Frames already in flight may still arrive; after them, silence.
    while recv_frame(&receiver, Duration::from_millis(300))
        .await
        .is_some()
    {}
    assert!(recv_frame(&receiver, Duration::from_millis(300))
        .await
        .is_none());

    output.apply(&state(vec![device]));
    let resumed = recv_frame(&receiver, Duration::from_secs(5))
        .await
        .expect("resumed");
    assert_eq!(resumed.rgb, first.rgb);
    output.shutdown(false).await;
}

#[tokio::test]
async fn a_reused_slot_never_sends_the_previous_devices_frame() {
    let segment = Arc::new(Segment::create().unwrap());
    let receiver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = receiver.local_addr().unwrap().port();
    // Both devices use slot 30 and the same receiver; destination ids tell them apart.
    let old = ddp_device("old", 30, port, 10, 0, 1);
    let mut new = ddp_device("new", 30, port, 10, 0, 2);
    new.generation = old.generation + 1;
    let stale = [5u8; 30];
    segment
        .device_slot(30)
        .publish_generation(&stale, proto::monotonic_ns(), old.generation);
    let mut output = Output::new(Arc::clone(&segment));
    output.apply(&state(vec![old]));
    let first = recv_frame(&receiver, Duration::from_secs(5))
        .await
        .expect("the old device sends its frame");
    assert_eq!(
        (first.destination_id, first.rgb.as_slice()),
        (1, &stale[..])
    );

    // The old device is deleted and its slot handed to the new one. Its frame is still the
    // newest in the slot (render-proc has not drawn the new device yet): nothing may go out
    // for the new device. The old one's farewell black frame may still arrive.
    output.apply(&state(vec![new.clone()]));
    while let Some(frame) = recv_frame(&receiver, Duration::from_millis(400)).await {
        assert_eq!(
            frame.destination_id, 1,
            "the new device sent {:?}",
            frame.rgb
        );
    }
    assert_eq!(segment.device_stats(30).send_errors(), 0);

    // Its own first frame goes out, and only frames of its generation ever do.
    let fresh = [9u8; 30];
    segment
        .device_slot(30)
        .publish_generation(&fresh, proto::monotonic_ns(), new.generation);
    let frame = recv_frame(&receiver, Duration::from_secs(5))
        .await
        .expect("the new device sends its own frame");
    assert_eq!(
        (frame.destination_id, frame.rgb.as_slice()),
        (2, &fresh[..])
    );
    // A stray frame of the old generation (as if its writer were still alive) is ignored
    // too: the new device keeps sending its own frame.
    segment
        .device_slot(30)
        .publish_generation(&stale, proto::monotonic_ns(), new.generation - 1);
    for _ in 0..5 {
        let frame = recv_frame(&receiver, Duration::from_secs(5))
            .await
            .expect("frame");
        assert_eq!(
            (frame.destination_id, frame.rgb.as_slice()),
            (2, &fresh[..])
        );
    }
    output.shutdown(false).await;
}

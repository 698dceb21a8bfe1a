//! The live preview end to end: a WebSocket client subscribed to `visualisation_update`
//! gets the frames the devices are sent (shrunk as LedFx shrinks them) at
//! `visualisation_fps`, for device and for virtual ids.

use std::time::{Duration, Instant};

use api_proc::ws::preview::{event_fields, PreviewSettings};
use base64::Engine as _;
use e2e_tests::ws::WsClient;
use e2e_tests::{DdpReceiver, Ledfx};
use serde_json::{json, Value};

/// How long each test watches.
const WATCH: Duration = Duration::from_secs(3);

fn decode(message: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(message["pixels"].as_str().expect("compressed pixels"))
        .expect("base64")
}

/// Subscribes `client` to the frames of `vis_id` and collects them (and, on another
/// thread, the DDP frames `receiver` gets) for [`WATCH`].
fn watch(
    client: &mut WsClient,
    vis_id: &str,
    is_device: bool,
    mut receiver: DdpReceiver,
) -> (Vec<Value>, Vec<Vec<u8>>, Duration) {
    receiver.drain();
    let ddp = std::thread::spawn(move || receiver.collect(WATCH + Duration::from_millis(500)));
    client.send(
        &json!({"id": 0, "type": "subscribe_event", "event_type": "visualisation_update",
                        "event_filter": {"vis_id": vis_id, "is_device": is_device}}),
    );
    let start = Instant::now();
    let mut frames = Vec::new();
    while start.elapsed() < WATCH {
        if let Some(message) = client.next(Duration::from_millis(500)) {
            frames.push(message);
        }
    }
    let took = start.elapsed();
    let sent: Vec<Vec<u8>> = ddp.join().unwrap().into_iter().map(|f| f.rgb).collect();
    (frames, sent, took)
}

/// How many preview frames equal some device frame after the documented shrinking.
fn matching(frames: &[Value], sent: &[Vec<u8>], rows: usize, id: &str, is_device: bool) -> usize {
    let settings = PreviewSettings::default();
    let shrunk: Vec<Vec<u8>> = sent
        .iter()
        .map(|rgb| decode(&event_fields(is_device, id, rgb, rows, &settings)))
        .collect();
    frames
        .iter()
        .filter(|f| shrunk.contains(&decode(f)))
        .count()
}

#[test]
fn a_strip_and_a_matrix_arrive_shrunk_as_ledfx_shrinks_them_at_the_preview_rate() {
    let ledfx = Ledfx::start();
    let strip_rx = DdpReceiver::new();
    let matrix_rx = DdpReceiver::new();
    let strip = ledfx.add_ddp_device("Strip", strip_rx.port(), 100);
    let matrix = ledfx.add_ddp_device("Matrix", matrix_rx.port(), 100);
    let (status, _) = ledfx.request(
        "POST",
        "/api/virtuals",
        &json!({"id": matrix, "config": {"name": "Matrix", "rows": 10}}).to_string(),
    );
    assert_eq!(status, 200);
    ledfx.set_effect(&strip, "rainbow", json!({"speed": 2.0}));
    ledfx.set_effect(&matrix, "rainbow", json!({"speed": 2.0}));

    for (id, rx, rows, shape) in [
        (&strip, strip_rx, 1, json!([1, 81])),
        (&matrix, matrix_rx, 10, json!([9, 9])),
    ] {
        let mut client = WsClient::connect(ledfx.port).unwrap();
        let (frames, sent, took) = watch(&mut client, id, true, rx);
        let fps = frames.len() as f64 / took.as_secs_f64();
        let matched = matching(&frames, &sent, rows, id, true);
        println!("{id}: {} preview frames in {took:?} ({fps:.1}/s), {matched} equal a sent frame; {} DDP frames", frames.len(), sent.len());
        assert!(!frames.is_empty(), "no preview frames for {id}");
        for frame in &frames {
            assert_eq!(frame["event_type"], "visualisation_update");
            assert_eq!(
                (&frame["id"], &frame["vis_id"], &frame["is_device"]),
                (&json!(0), &json!(id), &json!(true))
            );
            assert_eq!(frame["shape"], shape, "{id}");
            assert_eq!(decode(frame).len(), 81 * 3);
        }
        // visualisation_fps is 30: never more (the throttle), and a loaded machine still
        // keeps well above half of it.
        assert!(
            fps <= 31.0,
            "{id}: {fps:.1} frames/s exceeds visualisation_fps"
        );
        assert!(fps >= 15.0, "{id}: only {fps:.1} frames/s");
        let distinct = frames
            .iter()
            .map(decode)
            .collect::<std::collections::HashSet<_>>()
            .len();
        assert!(
            distinct > frames.len() / 2,
            "{id}: the preview animates ({distinct} distinct)"
        );
        // output-proc sends on its own clock, so a preview frame may be one it skipped;
        // nearly all are frames the device got.
        assert!(
            matched * 10 >= frames.len() * 8,
            "{id}: {matched} of {} preview frames match a sent frame",
            frames.len()
        );
    }
}

#[test]
fn a_virtual_over_two_devices_is_previewed_until_unsubscribed() {
    let ledfx = Ledfx::start();
    let left_rx = DdpReceiver::new();
    let right_rx = DdpReceiver::new();
    let left = ledfx.add_ddp_device("Left", left_rx.port(), 30);
    let right = ledfx.add_ddp_device("Right", right_rx.port(), 30);
    let (status, reply) = ledfx.request(
        "POST",
        "/api/virtuals",
        &json!({"config": {"name": "Both"}}).to_string(),
    );
    assert_eq!(status, 200, "{reply}");
    let both = reply["virtual"]["id"].as_str().unwrap_or("both").to_owned();
    let segments = json!({"segments": [[left, 0, 29, false], [right, 0, 29, false]]});
    let (status, reply) = ledfx.request(
        "POST",
        &format!("/api/virtuals/{both}"),
        &segments.to_string(),
    );
    assert_eq!(
        (status, &reply["status"]),
        (200, &json!("success")),
        "{reply}"
    );
    ledfx.set_effect(&both, "singleColor", json!({"color": "#ff8000"}));
    // Past the fade-in (transition_time 0.4 s).
    std::thread::sleep(Duration::from_secs(1));
    let mut client = WsClient::connect(ledfx.port).unwrap();
    let (frames, _, took) = watch(&mut client, &both, false, left_rx);
    println!("{both}: {} preview frames in {took:?}", frames.len());
    assert!(!frames.is_empty(), "no preview frames for the virtual");
    for frame in &frames {
        assert_eq!(
            (&frame["vis_id"], &frame["is_device"], &frame["shape"]),
            (&json!(both), &json!(false), &json!([1, 60]))
        );
        let pixels = decode(frame);
        assert!(
            pixels.chunks(3).all(|p| p == [255, 128, 0]),
            "{:?}",
            &pixels[..6]
        );
    }
    // Unsubscribed, nothing more arrives.
    client.send(&json!({"id": 0, "type": "unsubscribe_event"}));
    std::thread::sleep(Duration::from_millis(200));
    let _ = client.drain(Duration::from_millis(100), 100);
    assert!(client.next(Duration::from_millis(500)).is_none());
}

#[test]
fn virtual_diag_reports_each_second_of_a_virtual_whose_effect_has_diag_on() {
    let ledfx = Ledfx::start();
    let quiet_rx = DdpReceiver::new();
    let loud_rx = DdpReceiver::new();
    let quiet = ledfx.add_ddp_device("Quiet", quiet_rx.port(), 50);
    let watched = ledfx.add_ddp_device("Watched", loud_rx.port(), 50);
    ledfx.set_effect(&quiet, "rainbow", json!({}));
    ledfx.set_effect(&watched, "rainbow", json!({"diag": true}));
    let mut client = WsClient::connect(ledfx.port).unwrap();
    client.send(&json!({"id": 9998, "type": "subscribe_event", "event_type": "virtual_diag"}));
    let mut reports = Vec::new();
    let start = Instant::now();
    while reports.len() < 3 && start.elapsed() < Duration::from_secs(10) {
        if let Some(message) = client.wait_for("virtual_diag", Duration::from_secs(3)) {
            reports.push(message);
        }
    }
    println!(
        "{} reports in {:?}: {:?}",
        reports.len(),
        start.elapsed(),
        reports.last()
    );
    assert!(reports.len() >= 3, "{reports:?}");
    for r in &reports {
        assert_eq!(
            (&r["id"], &r["virtual_id"]),
            (&json!(9998), &json!(watched)),
            "only the diag virtual: {r}"
        );
        let fps = r["fps"].as_u64().expect("fps");
        assert!((30..=70).contains(&fps), "{r}");
        let (avg, min, max) = (
            r["r_avg"].as_f64().unwrap(),
            r["r_min"].as_f64().unwrap(),
            r["r_max"].as_f64().unwrap(),
        );
        assert!(
            0.0 < min && min <= avg && avg <= max && max < 1.0,
            "render times in seconds: {r}"
        );
        let cycle = r["cycle"].as_f64().unwrap();
        assert!(cycle > 0.0 && cycle < 1.0, "{r}");
        assert_eq!(
            r["phy"],
            json!({"fps": null, "ver": null, "n": null, "name": null, "rssi": null, "qual": null})
        );
    }
    drop((quiet_rx, loud_rx));
}

#[test]
fn an_idle_device_sends_no_leftover_frame() {
    let ledfx = Ledfx::start();
    let rx = DdpReceiver::new();
    let id = ledfx.add_ddp_device("Idle", rx.port(), 30);
    ledfx.set_effect(&id, "singleColor", json!({"color": "#0000ff"}));
    std::thread::sleep(Duration::from_millis(600));
    let (status, _) = ledfx.request("DELETE", &format!("/api/virtuals/{id}/effects"), "");
    assert_eq!(status, 200);
    // Past the fade-out and the one second after which a frame counts as a leftover.
    std::thread::sleep(Duration::from_millis(2000));
    let mut client = WsClient::connect(ledfx.port).unwrap();
    client.send(
        &json!({"id": 0, "type": "subscribe_event", "event_type": "visualisation_update",
                        "event_filter": {"vis_id": id, "is_device": true}}),
    );
    assert_eq!(
        client.next(Duration::from_millis(1000)),
        None,
        "the slot still holds the last frame, but it is not news"
    );
    drop(rx);
}

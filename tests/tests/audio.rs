//! Real capture end to end: a private PulseAudio daemon with a null sink, a generated 120 BPM
//! kick track played into it, ledfx-rs capturing the sink's monitor through cpal's native
//! PulseAudio host, and an `energy` strip received over DDP on 127.0.0.1.
//!
//! Checked: `/api/audio/devices` lists the monitor and selecting it persists; the analysis
//! reports ≈ 120 BPM; the strip's brightness rises and falls with the beat; after the daemon
//! is SIGKILLed and started again, audio-proc captures again by itself within the budget,
//! and no stage process was restarted. And WLED Audio Sync out: packets received on
//! 127.0.0.1 decode to the documented layout and follow the synth's beat.

use std::time::{Duration, Instant};

use e2e_tests::pulse::{write_beat_wav, PulseDaemon};
use e2e_tests::ws::WsClient;
use e2e_tests::{children, poll_until, DdpReceiver, Ledfx};
use serde_json::{json, Value};

const SINK: &str = "ledfx_beat";
/// The sink's description, so its monitor is recognisable in the device list.
const DESCRIPTION: &str = "LedfxBeat";

fn add_beat_sink(pulse: &PulseDaemon) {
    pulse.pactl_ok(&[
        "load-module",
        "module-null-sink",
        &format!("sink_name={SINK}"),
        &format!("sink_properties=device.description={DESCRIPTION}"),
    ]);
}

fn status(ledfx: &Ledfx) -> Value {
    ledfx.request("GET", "/api/audio/status", "").1
}

/// Sum of all channel values: 0 for a black frame.
fn light(rgb: &[u8]) -> u64 {
    rgb.iter().map(|&b| u64::from(b)).sum()
}

/// Rises of the strip's light above the midpoint between its extremes, over `frames`.
fn pulses(levels: &[u64]) -> usize {
    let (min, max) = (
        levels.iter().min().copied().unwrap_or(0),
        levels.iter().max().copied().unwrap_or(0),
    );
    let mid = (min + max) / 2;
    levels
        .windows(2)
        .filter(|w| w[0] <= mid && w[1] > mid)
        .count()
}

#[test]
fn captures_a_null_sink_monitor_follows_its_beat_and_survives_a_server_restart() {
    let mut pulse = PulseDaemon::start();
    add_beat_sink(&pulse);
    let tmp = tempfile::tempdir().expect("tempdir");
    let wav = tmp.path().join("beat120.wav");
    write_beat_wav(&wav, 90);
    pulse.play(SINK, &wav);

    let config = tmp.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    // No --audio: the binary's default (the stored device, else the system default).
    let ledfx = Ledfx::start_with_env(&config, &[], &pulse.env_refs());

    // The monitor is listed (the device watcher lists within ~2 s).
    let mut monitor = None;
    let listed = poll_until(Duration::from_secs(15), || {
        let devices = ledfx.request("GET", "/api/audio/devices", "").1;
        monitor = devices["devices"].as_object().and_then(|d| {
            d.iter()
                .find(|(_, name)| {
                    name.as_str()
                        .is_some_and(|n| n.contains(&format!("Monitor of {DESCRIPTION}")))
                })
                .map(|(index, name)| (index.clone(), name.as_str().unwrap_or("").to_owned()))
        });
        monitor.is_some()
    });
    let (index, name) = monitor.unwrap_or_else(|| {
        panic!(
            "the sink's monitor was never listed: {}",
            ledfx.request("GET", "/api/audio/devices", "").1
        )
    });
    println!("monitor listed after {listed:?}: #{index} {name:?}");
    assert!(name.starts_with("PulseAudio: "), "{name}");

    // Select it; it is stored as LedFx stores it.
    let index_n: u64 = index.parse().unwrap();
    let (code, body) = ledfx.request(
        "PUT",
        "/api/audio/devices",
        &json!({"audio_device": index_n}).to_string(),
    );
    assert_eq!((code, body), (200, json!({"status": "success"})));
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(config.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(saved["audio"]["audio_device"], json!(index_n));
    assert_eq!(saved["audio"]["audio_device_name"], json!(name));
    let (_, bad) = ledfx.request("PUT", "/api/audio/devices", r#"{"audio_device": 999}"#);
    assert_eq!(
        bad["payload"]["reason"],
        json!("Invalid device index [999]")
    );

    // A sink added to the server: clients hear `audio_device_list_changed` and the new
    // monitor is listed.
    let mut client = WsClient::connect(ledfx.port).expect("websocket");
    client.send(
        &json!({"id": 1, "type": "subscribe_event", "event_type": "audio_device_list_changed"}),
    );
    let added_at = Instant::now();
    pulse.add_null_sink("ledfx_second");
    let event = client.wait_for("audio_device_list_changed", Duration::from_secs(15));
    println!("audio_device_list_changed after {:?}", added_at.elapsed());
    assert!(
        event.is_some(),
        "no audio_device_list_changed after adding a sink"
    );
    let devices = ledfx.request("GET", "/api/audio/devices", "").1;
    assert_eq!(
        devices["devices"].as_object().map(|d| d.len()),
        Some(2),
        "both monitors listed: {devices}"
    );

    // ≈ 120 BPM from the analysis of what is captured.
    let mut last = Value::Null;
    let bpm_in = poll_until(Duration::from_secs(45), || {
        last = status(&ledfx);
        last["state"] == json!("capturing")
            && last["active_device_name"] == json!(name)
            && last["bpm"]
                .as_f64()
                .is_some_and(|b| (b - 120.0).abs() < 3.0)
    });
    println!("status after {bpm_in:?}: {last}");
    assert!(
        bpm_in.is_some(),
        "the analysis never reported ≈ 120 BPM: {last}"
    );
    assert_eq!(last["host"], json!("PulseAudio"));
    // Frames carry when their sound was captured: a plausible, positive analysis latency.
    let latency = last["capture_to_frame_ms"].as_f64();
    println!("capture → frame: {latency:?} ms");
    assert!(
        latency.is_some_and(|ms| (0.0..500.0).contains(&ms)),
        "capture_to_frame_ms {latency:?}"
    );

    // An energy strip pulses with the beat: 120 BPM is 2 beats a second.
    let mut rx = DdpReceiver::new();
    let id = ledfx.add_ddp_device("Beat Strip", rx.port(), 60);
    ledfx.set_effect(&id, "energy", json!({}));
    rx.next_frame(Duration::from_secs(5)).expect("frames");
    let mut seen = (0, 0, 0);
    let beating = poll_until(Duration::from_secs(20), || {
        rx.drain();
        let frames = rx.collect(Duration::from_secs(4));
        let levels: Vec<u64> = frames.iter().map(|f| light(&f.rgb)).collect();
        let max = levels.iter().max().copied().unwrap_or(0);
        seen = (frames.len(), max, pulses(&levels));
        // 8 beats in 4 s; allow a missed or merged one either side.
        max > 1000 && (6..=10).contains(&seen.2)
    });
    println!(
        "energy: {} frames, brightest {}, {} pulses in 4 s",
        seen.0, seen.1, seen.2
    );
    assert!(
        beating.is_some(),
        "the strip did not rise and fall with the beat"
    );

    // Kill the audio server, start it again: audio-proc captures again by itself.
    let stages = || {
        let mut c = children(ledfx.pid());
        c.sort();
        c
    };
    let stages_before = stages();
    let opened_before = status(&ledfx)["streams_opened"].as_u64().unwrap_or(0);
    pulse.kill();
    let lost = poll_until(Duration::from_secs(10), || {
        status(&ledfx)["state"] != json!("capturing")
    });
    println!(
        "capture noticed the server was gone after {lost:?}: {}",
        status(&ledfx)
    );
    assert!(
        lost.is_some(),
        "audio-proc never noticed the server was gone"
    );
    pulse.restart();
    add_beat_sink(&pulse);
    let restarted_at = Instant::now();
    pulse.play(SINK, &wav);
    let recovered = poll_until(Duration::from_secs(10), || {
        last = status(&ledfx);
        last["state"] == json!("capturing")
            && last["streams_opened"].as_u64().unwrap_or(0) > opened_before
            && last["active_device_name"] == json!(name)
    });
    println!(
        "capturing again {:?} after the server came back: {last}",
        recovered.map(|_| restarted_at.elapsed())
    );
    assert!(recovered.is_some(), "audio-proc did not recover: {last}");
    let loud = poll_until(Duration::from_secs(10), || {
        status(&ledfx)["volume"].as_f64().unwrap_or(0.0) > 0.1
    });
    assert!(
        loud.is_some(),
        "no sound after the recovery: {}",
        status(&ledfx)
    );
    assert_eq!(stages(), stages_before, "a stage was restarted");
}

/// One decoded Audio Sync V2 packet (the fields the test looks at).
struct SyncPacket {
    sample_raw: f32,
    peak: u8,
    counter: u8,
    geq: [u8; 16],
    major_peak_hz: f32,
}

fn decode_sync(bytes: &[u8]) -> SyncPacket {
    assert_eq!(bytes.len(), 44, "an Audio Sync V2 packet is 44 bytes");
    assert_eq!(&bytes[..6], b"00002\0", "header");
    let f32_at = |o: usize| f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    SyncPacket {
        sample_raw: f32_at(8),
        peak: bytes[16],
        counter: bytes[17],
        geq: bytes[18..34].try_into().unwrap(),
        major_peak_hz: f32_at(40),
    }
}

#[test]
fn wled_audio_sync_packets_follow_the_beat_and_stop_when_turned_off() {
    let ledfx = Ledfx::start();
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = rx.local_addr().unwrap().port();
    let body = json!({"enabled": true, "address": "127.0.0.1", "port": port}).to_string();
    assert_eq!(
        ledfx.request("PUT", "/api/audio/sync", &body),
        (200, json!({"status": "success"}))
    );

    // Three seconds of packets from the synth's 120 BPM beat.
    let mut packets = Vec::new();
    let mut buf = [0u8; 128];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        if let Ok((n, _)) = rx.recv_from(&mut buf) {
            packets.push(decode_sync(&buf[..n]));
        }
    }
    let rate = packets.len() as f64 / 3.0;
    let levels: Vec<u64> = packets.iter().map(|p| p.sample_raw as u64).collect();
    let rises = pulses(&levels);
    let peaks = packets.iter().filter(|p| p.peak != 0).count();
    let counters_step = packets
        .windows(2)
        .all(|w| w[1].counter == w[0].counter.wrapping_add(1));
    let loudest = packets.iter().map(|p| p.sample_raw).fold(0.0, f32::max);
    let spectrum_lit = packets.iter().any(|p| p.geq.iter().any(|&g| g > 100));
    let peak_hz_ok = packets
        .iter()
        .all(|p| (1.0..=11_025.0).contains(&p.major_peak_hz));
    println!(
        "audio sync: {} packets ({rate:.1}/s), loudest sampleRaw {loudest:.0}, {rises} rises, {peaks} peak flags",
        packets.len()
    );
    assert!(
        (25.0..=35.0).contains(&rate),
        "{rate} packets a second, want 30"
    );
    assert!(counters_step, "frame counters must step by one");
    assert!(loudest > 100.0, "the level never rose");
    assert!(
        (4..=8).contains(&rises),
        "{rises} rises in 3 s of a 120 BPM beat"
    );
    assert!(peaks >= 3, "only {peaks} beat flags");
    assert!(spectrum_lit, "the 16 GEQ channels stayed dark");
    assert!(peak_hz_ok, "FFT_MajorPeak outside WLED's 1..11025 Hz");
    let (_, view) = ledfx.request("GET", "/api/audio/sync", "");
    assert_eq!(view["enabled"], json!(true));
    let sent_seen = poll_until(Duration::from_secs(5), || {
        ledfx.request("GET", "/api/audio/sync", "").1["packets_sent"]
            .as_u64()
            .is_some_and(|n| n > 0)
    });
    assert!(sent_seen.is_some(), "packets_sent never counted");

    // Off: the packets stop.
    ledfx.request("PUT", "/api/audio/sync", r#"{"enabled": false}"#);
    // Let the ones in flight arrive (bounded), then listen for half a second.
    let drain_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < drain_until && rx.recv_from(&mut buf).is_ok() {}
    let quiet_from = Instant::now();
    let mut late = 0;
    while quiet_from.elapsed() < Duration::from_millis(500) {
        late += usize::from(rx.recv_from(&mut buf).is_ok());
    }
    assert_eq!(late, 0, "packets still arrive after turning Audio Sync off");
    let (_, bad) = ledfx.request("PUT", "/api/audio/sync", r#"{"port": 70000}"#);
    assert_eq!(
        bad["payload"]["reason"],
        json!("audio_sync.port: expected an integer between 1 and 65535, got 70000")
    );
}

/// Environment in which no capture device exists: no PulseAudio server, and an ALSA
/// configuration that defines no device.
fn no_audio_env(dir: &std::path::Path) -> Vec<(String, String)> {
    let alsa = dir.join("asound.conf");
    std::fs::write(&alsa, "# no devices\n").unwrap();
    vec![
        (
            "PULSE_SERVER".into(),
            format!("unix:{}", dir.join("no-server").display()),
        ),
        ("XDG_RUNTIME_DIR".into(), dir.display().to_string()),
        ("ALSA_CONFIG_PATH".into(), alsa.display().to_string()),
    ]
}

#[test]
fn without_a_capture_device_default_is_silence_and_says_so_and_auto_plays_the_synth() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = no_audio_env(tmp.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let config = tmp.path().join("default");
    std::fs::create_dir_all(&config).unwrap();
    let ledfx = Ledfx::start_with_env(&config, &[], &env);
    let mut info = Value::Null;
    let reported = poll_until(Duration::from_secs(15), || {
        info = ledfx.request("GET", "/api/info", "").1["ledfx_rs"]["audio"].clone();
        info["state"] == json!("no capture device")
    });
    println!("--audio default without a device: {info} after {reported:?}");
    assert!(
        reported.is_some(),
        "no 'no capture device' in /api/info: {info}"
    );
    // Silence, not a fake beat.
    let status = ledfx.request("GET", "/api/audio/status", "").1;
    assert_eq!(status["volume"], json!(0.0), "{status}");
    drop(ledfx);

    let config = tmp.path().join("auto");
    std::fs::create_dir_all(&config).unwrap();
    let ledfx = Ledfx::start_with_env(&config, &["--audio", "auto"], &env);
    let mut status = Value::Null;
    let synth = poll_until(Duration::from_secs(15), || {
        status = ledfx.request("GET", "/api/audio/status", "").1;
        status["state"] == json!("not capturing")
            && status["source"]
                .as_str()
                .is_some_and(|s| s.contains("synth"))
            && status["volume"].as_f64().is_some_and(|v| v > 0.1)
    });
    println!("--audio auto without a device: {status}");
    assert!(
        synth.is_some(),
        "auto did not fall back to the synth: {status}"
    );
}

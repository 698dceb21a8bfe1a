//! Real capture in-process: a 1 kHz tone played into a null sink of a private PulseAudio
//! daemon must reach the analysis through the sink's monitor, via both `device:pulse` (the
//! first device whose name contains "pulse") and `default`.
//!
//! The capture runs in a child process (this same test binary, running the ignored helper
//! test `capture_child`) whose environment points at the daemon. That keeps
//! `std::env::set_var` out of a multi-threaded test process. The daemon is
//! [`e2e_tests::pulse::PulseDaemon`]; its monitor is made the default source.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use audio_proc::pipeline::{AudioPipeline, FrameSink};
use e2e_tests::pulse::{describe, PulseDaemon};
use proto::audio::AudioFrame;
use proto::pipeline::{AudioSource, AudioSpec};

/// Set in the child's environment: run the capture there.
const CHILD_FLAG: &str = "LEDFX_PULSE_CAPTURE_CHILD";
const SINK: &str = "ledfx_test";
const TONE_HZ: f64 = 1000.0;

/// A 20 s, 44.1 kHz mono WAV of a 1 kHz tone at half scale.
fn write_tone(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("creating the tone WAV");
    for n in 0..44_100 * 20 {
        let s = 0.5 * (2.0 * std::f64::consts::PI * TONE_HZ * f64::from(n) / 44_100.0).sin();
        w.write_sample((s * 32_767.0) as i16)
            .expect("writing the tone WAV");
    }
    w.finalize().expect("finishing the tone WAV");
}

#[test]
fn pulse_capture_sees_a_1khz_tone() {
    let mut pulse = PulseDaemon::start();
    pulse.add_null_sink(SINK);
    pulse.pactl_ok(&["set-default-source", &format!("{SINK}.monitor")]);
    let wav = std::env::temp_dir().join(format!("ledfx-tone-{}.wav", std::process::id()));
    write_tone(&wav);
    pulse.play(SINK, &wav);

    let exe = std::env::current_exe().expect("locating the test binary");
    let mut child = Command::new(exe)
        .args([
            "capture_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(pulse.env().iter().map(|(k, v)| (k, v)))
        .env(CHILD_FLAG, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the capture child");
    // Bound the child: it has its own deadlines, this is a backstop against a hang.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if child.try_wait().ok().flatten().is_none() {
        let _ = child.kill();
    }
    let out = child
        .wait_with_output()
        .expect("collecting the capture child");
    let _ = std::fs::remove_file(&wav);
    drop(pulse);
    let text = describe(&out);
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "capture through PulseAudio failed:\n{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the capture child did not run its test:\n{text}"
    );
}

/// Forwards frames to the test.
struct ChannelSink(mpsc::Sender<AudioFrame>);

impl FrameSink for ChannelSink {
    fn publish(&mut self, frame: &AudioFrame) {
        let _ = self.0.send(*frame);
    }
    fn beat(&mut self) {}
}

/// Index of the largest value.
fn loudest(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
        .0
}

/// Captures from `source` until 30 frames (0.5 s) show the tone, or fails after 20 s.
fn capture_tone(source: AudioSource) {
    let spec = AudioSpec {
        source: source.clone(),
        ..AudioSpec::default()
    };
    let (tx, rx) = mpsc::channel();
    let pipeline = AudioPipeline::start(&spec, Box::new(ChannelSink(tx))).expect("pipeline");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut frames, mut tone_frames) = (0, 0);
    let mut last = AudioFrame::silent();
    while tone_frames < 30 && Instant::now() < deadline {
        let Ok(f) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        frames += 1;
        // Melbank 2 (20 Hz–15 kHz): the 1 kHz tone lands in bins 8–9 (867 / 1063 Hz).
        // The synth fallback would put its kick at bin 0, silence would fail the gate.
        let bin = loudest(f.melbank(2, false));
        if f.volume > spec.min_volume && (bin == 8 || bin == 9) && f.raw_powers[2] > f.raw_powers[0]
        {
            tone_frames += 1;
        }
        last = f;
    }
    let samples = pipeline
        .stats()
        .samples_in
        .load(std::sync::atomic::Ordering::Relaxed);
    drop(pipeline);
    println!(
        "{source:?}: {frames} frames, {tone_frames} with the tone, {samples} samples captured, last volume {}",
        last.volume
    );
    assert!(
        tone_frames >= 30,
        "{source:?}: only {tone_frames} of {frames} frames showed the 1 kHz tone above the gate \
         (last frame: volume {}, melbank 2 {:?})",
        last.volume,
        last.melbank(2, false)
    );
    assert!(samples > 0, "{source:?}: nothing was captured");
}

#[test]
#[ignore = "helper: run by pulse_capture_sees_a_1khz_tone in a child process pointed at the server"]
fn capture_child() {
    if std::env::var_os(CHILD_FLAG).is_none() {
        eprintln!("capture_child only does something inside pulse_capture_sees_a_1khz_tone");
        return;
    }
    capture_tone(AudioSource::Device("pulse".into()));
    capture_tone(AudioSource::Default);
}

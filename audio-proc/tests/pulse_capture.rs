//! Real capture through cpal → ALSA → PulseAudio: a 1 kHz tone played into a null sink must
//! reach the analysis through the sink's monitor, via both `device:pulse` and `default`.
//!
//! What the test needs on the machine: `pulseaudio`, `pactl` and `paplay` on `PATH`
//! (Debian: `pulseaudio pulseaudio-utils`), the ALSA pulse plugin (`libasound2-plugins`,
//! which provides the `pulse` PCM and makes `default` route to PulseAudio when a server is
//! running), and `libasound2-dev` + `pkg-config` to build cpal. No sound card is needed.
//!
//! How it runs:
//!
//! * If a PulseAudio (or PipeWire-pulse) server is already reachable (`PULSE_SERVER` is set
//!   or `$XDG_RUNTIME_DIR/pulse/native` exists, and `pactl info` succeeds), it is used as is,
//!   and the default source it had is restored afterwards.
//! * Otherwise the test starts a private daemon with a temporary `HOME` and
//!   `XDG_RUNTIME_DIR` (so nothing is written into the real home directory):
//!   `pulseaudio --daemonize=yes --exit-idle-time=-1 --system=no -n
//!   --load="module-native-protocol-unix auth-anonymous=1 socket=…"`.
//!   Running as root works: PulseAudio only warns that it is "not intended to be run as root"
//!   in user mode. `-n` skips the default script (which probes for sound hardware that CI
//!   machines do not have); `auth-anonymous=1` spares the client the cookie lookup.
//! * It loads `module-null-sink sink_name=ledfx_test`, makes `ledfx_test.monitor` the default
//!   source, and plays a generated WAV of a 1 kHz tone into the sink with `paplay` (bounded:
//!   the file is 20 s long and the player is killed at the end).
//! * The capture itself runs in a child process (this same test binary, running the ignored
//!   helper test `capture_child`) whose environment points at the server. That keeps
//!   `std::env::set_var` out of a multi-threaded test process, and gives ALSA a fresh
//!   configuration that sees the running server.
//! * Teardown (also on failure): stop the player, unload the module, restore the default
//!   source, stop the daemon if the test started it, remove the temporary directory.
//!
//! If PulseAudio cannot be started at all, the test fails and says why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use audio_proc::pipeline::{AudioPipeline, FrameSink};
use proto::audio::AudioFrame;
use proto::pipeline::{AudioSource, AudioSpec};

/// Set in the child's environment: run the capture there.
const CHILD_FLAG: &str = "LEDFX_PULSE_CAPTURE_CHILD";
const SINK: &str = "ledfx_test";
const TONE_HZ: f64 = 1000.0;

fn run(cmd: &mut Command) -> std::io::Result<Output> {
    cmd.stdin(Stdio::null()).output()
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// Where the server is and how to talk to it.
struct Pulse {
    /// Environment for every client command (empty when using an existing server).
    env: Vec<(String, String)>,
    /// Temporary directory of a private daemon we started.
    private_dir: Option<PathBuf>,
    module: Option<String>,
    previous_source: Option<String>,
    player: Option<Child>,
}

impl Pulse {
    fn pactl(&self) -> Command {
        let mut c = Command::new("pactl");
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    fn reachable(&self) -> bool {
        run(self.pactl().arg("info")).is_ok_and(|o| o.status.success())
    }

    /// Uses a running server, or starts a private one.
    fn connect() -> Pulse {
        let mut pulse = Pulse {
            env: Vec::new(),
            private_dir: None,
            module: None,
            previous_source: None,
            player: None,
        };
        // Only probe for a running server where one could be: a bare `pactl info` without a
        // server creates ~/.config/pulse in the real home directory.
        let hinted = std::env::var_os("PULSE_SERVER").is_some()
            || std::env::var_os("XDG_RUNTIME_DIR")
                .is_some_and(|d| Path::new(&d).join("pulse/native").exists());
        if hinted && pulse.reachable() {
            eprintln!("using the PulseAudio server that is already running");
            return pulse;
        }
        let dir = std::env::temp_dir().join(format!("ledfx-pulse-test-{}", std::process::id()));
        let runtime = dir.join("run");
        let home = dir.join("home");
        for d in [&runtime, &home] {
            std::fs::create_dir_all(d).expect("creating the temporary PulseAudio directories");
        }
        // libpulse refuses a runtime directory that others can read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
            .expect("restricting the runtime directory");
        let socket = runtime.join("native");
        pulse.env = vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("PULSE_SERVER".into(), format!("unix:{}", socket.display())),
        ];
        pulse.private_dir = Some(dir);
        let started = run(Command::new("pulseaudio")
            .envs(pulse.env.iter().map(|(k, v)| (k, v)))
            .env_remove("PULSE_SERVER")
            .args([
                "--daemonize=yes",
                "--exit-idle-time=-1",
                "--system=no",
                "-n",
                &format!(
                    "--load=module-native-protocol-unix auth-anonymous=1 socket={}",
                    socket.display()
                ),
            ]));
        let started = match started {
            Ok(out) => out,
            Err(err) => panic!(
                "cannot run `pulseaudio` ({err}); install it: apt-get install pulseaudio \
                 pulseaudio-utils alsa-utils libasound2-plugins"
            ),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !pulse.reachable() {
            assert!(
                Instant::now() < deadline,
                "PulseAudio could not be started; the daemon said:\n{}",
                describe(&started)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!(
            "started a private PulseAudio daemon at {}",
            socket.display()
        );
        pulse
    }

    /// Loads the null sink, makes its monitor the default source and starts the tone.
    fn set_up(&mut self, wav: &Path) {
        let out = run(self.pactl().args([
            "load-module",
            "module-null-sink",
            &format!("sink_name={SINK}"),
        ]))
        .expect("running pactl load-module");
        assert!(
            out.status.success(),
            "loading the null sink: {}",
            describe(&out)
        );
        self.module = Some(String::from_utf8_lossy(&out.stdout).trim().to_owned());

        let previous = run(self.pactl().arg("get-default-source")).expect("running pactl");
        if previous.status.success() {
            self.previous_source =
                Some(String::from_utf8_lossy(&previous.stdout).trim().to_owned());
        }
        let out = run(self
            .pactl()
            .args(["set-default-source", &format!("{SINK}.monitor")]))
        .expect("running pactl set-default-source");
        assert!(
            out.status.success(),
            "setting the default source: {}",
            describe(&out)
        );

        let player = Command::new("paplay")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg(format!("--device={SINK}"))
            .arg(wav)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting paplay (pulseaudio-utils)");
        self.player = Some(player);
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        if let Some(mut player) = self.player.take() {
            let _ = player.kill();
            let _ = player.wait();
        }
        if let Some(source) = self.previous_source.take().filter(|s| !s.is_empty()) {
            let _ = run(self.pactl().args(["set-default-source", &source]));
        }
        if let Some(module) = self.module.take() {
            let _ = run(self.pactl().args(["unload-module", &module]));
        }
        if let Some(dir) = self.private_dir.take() {
            let _ = run(self.pactl().arg("exit"));
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.reachable() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

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
    let mut pulse = Pulse::connect();
    let wav = std::env::temp_dir().join(format!("ledfx-tone-{}.wav", std::process::id()));
    write_tone(&wav);
    pulse.set_up(&wav);

    let exe = std::env::current_exe().expect("locating the test binary");
    let mut child = Command::new(exe)
        .args([
            "capture_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(pulse.env.iter().map(|(k, v)| (k, v)))
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

//! A private PulseAudio daemon for tests that capture real audio: null sinks to play into,
//! their monitors to capture from, and a server that can be killed and started again.
//!
//! The daemon always is a private one, with a temporary `HOME` and `XDG_RUNTIME_DIR`, so a
//! test never touches (or kills) the user's own server and writes nothing into the real home
//! directory: `pulseaudio --daemonize=yes --exit-idle-time=-1 --system=no -n
//! --load="module-native-protocol-unix auth-anonymous=1 socket=…"`. `-n` skips the default
//! script (which probes for sound hardware CI machines do not have); `auth-anonymous=1`
//! spares clients the cookie lookup; running as root only makes PulseAudio warn. Processes
//! that should reach it get [`PulseDaemon::env`].
//!
//! Needs `pulseaudio`, `pactl` and `paplay` on `PATH` (Debian: `pulseaudio pulseaudio-utils`;
//! `make test` installs them). A daemon that cannot be started fails the test, saying why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the daemon gets to come up (a loaded 2-core machine can be slow).
const START_WITHIN: Duration = Duration::from_secs(15);

/// A running private daemon. Dropping it stops the daemon and every player it started.
pub struct PulseDaemon {
    dir: PathBuf,
    env: Vec<(String, String)>,
    players: Vec<Child>,
}

fn run(cmd: &mut Command) -> std::io::Result<Output> {
    cmd.stdin(Stdio::null()).output()
}

/// Status and output of a finished command, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

impl PulseDaemon {
    /// Starts a daemon in a new temporary directory.
    pub fn start() -> Self {
        // Unique per daemon, also for several daemons of one test process.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ledfx-pulse-{}-{n}", std::process::id()));
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
        let env = vec![
            ("HOME".into(), home.display().to_string()),
            ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
            ("PULSE_SERVER".into(), format!("unix:{}", socket.display())),
        ];
        let daemon = Self {
            dir,
            env,
            players: Vec::new(),
        };
        daemon.launch();
        daemon
    }

    /// Environment that points a client at this daemon.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The environment as `(&str, &str)` pairs, as [`crate::Ledfx::start_with_env`] takes it.
    pub fn env_refs(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("run").join("native")
    }

    fn launch(&self) {
        let started = run(Command::new("pulseaudio")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("PULSE_SERVER")
            .args([
                "--daemonize=yes",
                "--exit-idle-time=-1",
                "--system=no",
                "-n",
                &format!(
                    "--load=module-native-protocol-unix auth-anonymous=1 socket={}",
                    self.socket().display()
                ),
            ]));
        let started = match started {
            Ok(out) => out,
            Err(err) => panic!(
                "cannot run `pulseaudio` ({err}); install it: apt-get install pulseaudio \
                 pulseaudio-utils"
            ),
        };
        let deadline = Instant::now() + START_WITHIN;
        while !self.reachable() {
            assert!(
                Instant::now() < deadline,
                "PulseAudio could not be started; the daemon said:\n{}",
                describe(&started)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A `pactl` command aimed at this daemon.
    pub fn pactl(&self) -> Command {
        let mut c = Command::new("pactl");
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs `pactl args…`, failing the test if it fails; returns its standard output.
    pub fn pactl_ok(&self, args: &[&str]) -> String {
        let out = run(self.pactl().args(args)).expect("running pactl");
        assert!(out.status.success(), "pactl {args:?}: {}", describe(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Whether the daemon answers.
    pub fn reachable(&self) -> bool {
        run(self.pactl().arg("info")).is_ok_and(|o| o.status.success())
    }

    /// Adds a null sink; its monitor is the source `<name>.monitor`.
    pub fn add_null_sink(&self, name: &str) {
        self.pactl_ok(&[
            "load-module",
            "module-null-sink",
            &format!("sink_name={name}"),
        ]);
    }

    /// Plays `wav` into `sink` until the file ends or the daemon is dropped.
    pub fn play(&mut self, sink: &str, wav: &Path) {
        let player = Command::new("paplay")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg(format!("--device={sink}"))
            .arg(wav)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting paplay (pulseaudio-utils)");
        self.players.push(player);
    }

    /// SIGKILLs the daemon (as a crash would end it) and waits until it is gone. Its players
    /// die with it.
    pub fn kill(&mut self) {
        let pid_file = self.dir.join("run").join("pulse").join("pid");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .expect("the daemon's pid file");
        crate::signal_pid(pid, rustix::process::Signal::KILL);
        let deadline = Instant::now() + Duration::from_secs(10);
        while crate::alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!crate::alive(pid), "the PulseAudio daemon survived SIGKILL");
        for mut p in self.players.drain(..) {
            let _ = p.kill();
            let _ = p.wait();
        }
        // A killed daemon leaves its pid file and socket behind; the next start replaces them.
        let _ = std::fs::remove_file(pid_file);
    }

    /// Starts the daemon again after [`kill`](Self::kill) (same socket, no sinks).
    pub fn restart(&self) {
        self.launch();
    }
}

impl Drop for PulseDaemon {
    fn drop(&mut self) {
        for mut p in self.players.drain(..) {
            let _ = p.kill();
            let _ = p.wait();
        }
        let _ = run(self.pactl().arg("exit"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.reachable() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes a 44.1 kHz mono WAV of `seconds` of a 120 BPM kick drum: a 150 ms, 50–150 Hz
/// falling sine burst every 0.5 s, silence between.
pub fn write_beat_wav(path: &Path, seconds: u32) {
    let rate = 44_100u32;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("creating the beat WAV");
    for n in 0..rate * seconds {
        let t = f64::from(n) / f64::from(rate);
        let in_beat = t % 0.5;
        let v = if in_beat < 0.15 {
            let f = 50.0 + 100.0 * (-in_beat * 30.0).exp();
            0.9 * (-in_beat * 18.0).exp() * (2.0 * std::f64::consts::PI * f * in_beat).sin()
        } else {
            0.0
        };
        w.write_sample((v * 32_767.0) as i16)
            .expect("writing the beat WAV");
    }
    w.finalize().expect("finishing the beat WAV");
}

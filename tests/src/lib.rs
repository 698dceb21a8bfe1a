//! Helpers for tests and benchmarks that run the real binaries.
//!
//! [`Ledfx::start`] launches `ledfx-rs` (found next to the test executable's target
//! directory, so `cargo build --workspace --bins` must have run) with a fresh config directory
//! and a free port; [`http`] speaks plain HTTP/1.1 to it; [`DdpReceiver`] receives and
//! reassembles DDP frames on a UDP socket on 127.0.0.1; [`children`] reads the process tree
//! from /proc; [`sse::EventStream`] follows a Server-Sent Events endpoint; [`ws::WsClient`]
//! speaks LedFx's WebSocket protocol and [`ws_script`] runs a scripted WebSocket session.

pub mod pulse;
pub mod shape;
pub mod sse;
pub mod ws;
pub mod ws_script;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Directory holding the workspace's binaries (`target/debug` or `target/release`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LEDFX_RS_BIN_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `ledfx-rs`.
pub struct Ledfx {
    pub child: Child,
    pub port: u16,
    pub config_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Ledfx {
    /// Starts `ledfx-rs --audio synth` with a new temporary config directory.
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut ledfx = Self::start_in(&dir, &["--audio", "synth"]);
        ledfx._tmp = Some(tmp);
        ledfx
    }

    /// Starts `ledfx-rs` with `config_dir` and extra arguments, and waits until the API
    /// answers.
    pub fn start_in(config_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(config_dir, extra, &[])
    }

    /// Like [`Ledfx::start_in`], with extra environment variables for ledfx-rs and its stages.
    pub fn start_with_env(config_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = Command::new(bin_dir().join("ledfx-rs"))
            .envs(env.iter().copied())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--config-dir",
            ])
            .arg(config_dir)
            .args(extra)
            .env(
                "LEDFX_RS_LOG",
                std::env::var("LEDFX_RS_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn ledfx-rs (did `cargo build --workspace --bins` run?)");
        let ledfx = Self {
            child,
            port,
            config_dir: config_dir.to_path_buf(),
            _tmp: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ledfx.try_get("/api/info").is_none() {
            assert!(
                Instant::now() < deadline,
                "ledfx-rs did not answer /api/info within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ledfx
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// GET that returns `None` when the server does not answer.
    pub fn try_get(&self, path: &str) -> Option<(u16, Value)> {
        http(self.port, "GET", path, "")
            .ok()
            .map(|(s, b)| (s, parse(&b)))
    }

    /// A request whose response body is JSON; panics if the server does not answer.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let (status, body) =
            http(self.port, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        (status, parse(&body))
    }

    /// Adds a DDP device pointed at `port` on 127.0.0.1 and returns its id.
    pub fn add_ddp_device(&self, name: &str, port: u16, pixels: u32) -> String {
        let body = serde_json::json!({"type": "ddp", "config": {"name": name, "ip_address": "127.0.0.1", "pixel_count": pixels, "port": port}});
        let (status, reply) = self.request("POST", "/api/devices", &body.to_string());
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["status"], "success", "{reply}");
        reply["device"]["id"]
            .as_str()
            .expect("device id")
            .to_owned()
    }

    /// Sets an effect on a virtual.
    pub fn set_effect(&self, virtual_id: &str, effect: &str, config: Value) {
        let body = serde_json::json!({"type": effect, "config": config});
        let (status, reply) = self.request(
            "POST",
            &format!("/api/virtuals/{virtual_id}/effects"),
            &body.to_string(),
        );
        assert_eq!(
            (status, &reply["status"]),
            (200, &Value::from("success")),
            "{reply}"
        );
    }

    /// Sends a signal to the supervisor.
    pub fn signal(&self, signal: rustix::process::Signal) {
        signal_pid(self.pid(), signal);
    }

    /// Waits for the supervisor to exit (bounded); true if it did.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Ledfx {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let kids = children(self.pid());
            let _ = self.child.kill();
            let _ = self.child.wait();
            for (pid, _) in kids {
                signal_pid(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()))
}

/// Sends `signal` to `pid`, ignoring a process that is already gone.
pub fn signal_pid(pid: i32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// A minimal HTTP/1.1 request (Connection: close). Returns status and body.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    http_with(port, method, path, &[], body).map(|r| (r.status, r.body))
}

/// A response of [`http_with`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// [`http`] with extra request headers (a `Host` among them replaces `127.0.0.1:<port>`).
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !extra.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(
        stream,
        "{head}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("malformed HTTP response"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// `(pid, process name)` of the direct children of `parent`.
pub fn children(parent: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Format: pid (comm) state ppid ...; comm may contain spaces, so split at the last ')'.
        let Some((left, right)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = left
            .split_once('(')
            .map(|(_, n)| n.to_owned())
            .unwrap_or_default();
        let mut fields = right.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: i32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(-1);
        if ppid == parent && state != "Z" {
            out.push((pid, name));
        }
    }
    out
}

/// The pid of `parent`'s live child named `name`.
pub fn child_named(parent: i32, name: &str) -> Option<i32> {
    children(parent)
        .into_iter()
        .find(|(_, n)| n == name)
        .map(|(p, _)| p)
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
                .unwrap_or(false)
        })
        .unwrap_or(false)
}

/// One reassembled DDP frame.
#[derive(Debug, Clone)]
pub struct DdpFrame {
    pub sequence: u8,
    pub destination: u8,
    pub rgb: Vec<u8>,
    pub received: Instant,
}

/// Receives DDP on a UDP socket on 127.0.0.1 and reassembles frames (ends at PUSH).
pub struct DdpReceiver {
    pub socket: UdpSocket,
    partial: Vec<u8>,
}

impl Default for DdpReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl DdpReceiver {
    pub fn new() -> Self {
        Self::bind("127.0.0.1:0").expect("bind udp")
    }

    /// A receiver on a given loopback address, e.g. a device's fixed port from a fixture.
    pub fn bind(addr: &str) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(addr)?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(Self {
            socket,
            partial: Vec::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("addr").port()
    }

    /// Discards everything queued.
    pub fn drain(&mut self) {
        let _ = self.socket.set_nonblocking(true);
        let mut buf = [0u8; 2048];
        while self.socket.recv(&mut buf).is_ok() {}
        let _ = self.socket.set_nonblocking(false);
        self.partial.clear();
    }

    /// The next complete frame, or `None` if none arrives within `timeout`.
    pub fn next_frame(&mut self, timeout: Duration) -> Option<DdpFrame> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            let Ok(n) = self.socket.recv(&mut buf) else {
                continue;
            };
            let packet = &buf[..n];
            assert!(n >= 10, "DDP packet shorter than its header");
            assert_eq!(packet[0] & 0xC0, 0x40, "DDP version 1");
            assert_eq!(packet[2], 0x0B, "DDP data type RGB8");
            let offset = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]) as usize;
            let len = u16::from_be_bytes([packet[8], packet[9]]) as usize;
            assert_eq!(n, 10 + len, "DDP length field matches the payload");
            if offset == 0 {
                self.partial.clear();
            }
            if self.partial.len() != offset {
                // A packet of this frame was lost (or we joined mid-frame): wait for the next.
                self.partial.clear();
                continue;
            }
            self.partial.extend_from_slice(&packet[10..]);
            if packet[0] & 0x01 == 0x01 {
                return Some(DdpFrame {
                    sequence: packet[1],
                    destination: packet[3],
                    rgb: std::mem::take(&mut self.partial),
                    received: Instant::now(),
                });
            }
        }
        None
    }

    /// Collects frames for `duration`.
    pub fn collect(&mut self, duration: Duration) -> Vec<DdpFrame> {
        let end = Instant::now() + duration;
        let mut frames = Vec::new();
        while Instant::now() < end {
            if let Some(f) = self.next_frame(end.saturating_duration_since(Instant::now())) {
                frames.push(f);
            }
        }
        frames
    }
}

/// Frames per second over a list of frames (by arrival times).
pub fn fps(frames: &[DdpFrame]) -> f64 {
    if frames.len() < 2 {
        return 0.0;
    }
    let span = frames[frames.len() - 1].received - frames[0].received;
    (frames.len() - 1) as f64 / span.as_secs_f64()
}

/// The longest gap between consecutive frames.
pub fn max_gap(frames: &[DdpFrame]) -> Duration {
    frames
        .windows(2)
        .map(|w| w[1].received - w[0].received)
        .max()
        .unwrap_or_default()
}

/// Polls `condition` every 5 ms until it holds or `deadline` passes; returns the time it took.
pub fn poll_until(deadline: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if condition() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

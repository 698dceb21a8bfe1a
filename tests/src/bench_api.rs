//! The API case of `ledfx-rs-bench`: REST latency, alone and under write load.
//!
//! It starts `ledfx-rs` with a temporary config, builds a realistic state through the API
//! (dummy devices of 100 pixels, `rainbow` on every other device virtual), then runs two
//! phases of fixed length:
//!
//! 1. **reads alone**: one reader issues `GET /api/devices` back to back;
//! 2. **reads under write load**: the same reader while W writers (8 by default) each loop
//!    over writes that change and persist state — `PUT /api/devices/{id}` toggling
//!    `refresh_rate` and `PUT /api/virtuals/{id}/effects` toggling rainbow `speed`. Every
//!    writer owns its own devices and alternates each target between two values, so every
//!    write really changes the document.
//!
//! Every request goes over its own persistent HTTP/1.1 keep-alive connection (one per
//! thread, `TCP_NODELAY`) to 127.0.0.1, and its latency is measured from writing the
//! request to having read the full response body — connection set-up is not measured
//! (the `http()` helper of the e2e tests opens a connection per request, which would be).
//! A write counts as successful only with a 2xx status and a LedFx `status` other than
//! `"failed"`; failures are reported separately. All loops stop at their deadline (each
//! request is bounded by a 10 s socket timeout).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_tests::{children, Ledfx};
use serde_json::{json, Value};

use crate::{cpu_ticks, percentile};

/// Parameters of the API case.
pub struct ApiOptions {
    /// Length of each phase.
    pub seconds: f64,
    /// Number of writer threads in phase 2.
    pub writers: usize,
    /// Number of dummy devices created first (raised to `writers` if smaller).
    pub devices: usize,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            seconds: 5.0,
            writers: 8,
            devices: 20,
        }
    }
}

/// A keep-alive HTTP/1.1 connection to 127.0.0.1:`port`.
struct Conn {
    port: u16,
    reader: BufReader<TcpStream>,
    /// Times the connection had to be re-opened (server closed it or an I/O error).
    reconnects: u64,
    /// The server announced it closes the connection: re-open before the next request.
    closing: bool,
}

impl Conn {
    fn open(port: u16) -> std::io::Result<BufReader<TcpStream>> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(BufReader::with_capacity(64 * 1024, stream))
    }

    fn connect(port: u16) -> std::io::Result<Self> {
        Ok(Self {
            port,
            reader: Self::open(port)?,
            reconnects: 0,
            closing: false,
        })
    }

    /// One request; returns status, body and the latency (request written → body read).
    /// On an I/O error the connection is re-opened and the request retried once; the
    /// retry's latency is the one reported.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &str,
    ) -> std::io::Result<(u16, Vec<u8>, Duration)> {
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        if self.closing {
            self.reconnect()?;
        }
        match self.exchange(raw.as_bytes()) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.reconnect()?;
                self.exchange(raw.as_bytes())
            }
        }
    }

    fn reconnect(&mut self) -> std::io::Result<()> {
        self.reconnects += 1;
        self.reader = Self::open(self.port)?;
        self.closing = false;
        Ok(())
    }

    fn exchange(&mut self, raw: &[u8]) -> std::io::Result<(u16, Vec<u8>, Duration)> {
        let started = Instant::now();
        self.reader.get_mut().write_all(raw)?;
        let (status, body, close) = self.read_response()?;
        let latency = started.elapsed();
        self.closing = close;
        Ok((status, body, latency))
    }

    fn line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.clear();
        if self.reader.read_until(b'\n', buf)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(())
    }

    /// Reads one response: status, body (by Content-Length or chunked), and whether the
    /// server will close the connection.
    fn read_response(&mut self) -> std::io::Result<(u16, Vec<u8>, bool)> {
        let bad = |what: &str| std::io::Error::other(format!("malformed response: {what}"));
        let mut line = Vec::with_capacity(256);
        self.line(&mut line)?;
        let status: u16 = std::str::from_utf8(&line)
            .ok()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("status line"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            self.line(&mut line)?;
            let header = String::from_utf8_lossy(&line).to_ascii_lowercase();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                match name.trim() {
                    "content-length" => length = value.parse::<usize>().ok(),
                    "transfer-encoding" => chunked = value.contains("chunked"),
                    "connection" => close = value.contains("close"),
                    _ => {}
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                self.line(&mut line)?;
                let size = std::str::from_utf8(&line)
                    .ok()
                    .and_then(|l| usize::from_str_radix(l.trim().split(';').next()?, 16).ok())
                    .ok_or_else(|| bad("chunk size"))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    loop {
                        self.line(&mut line)?;
                        if line.trim_ascii().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                let start = body.len();
                body.resize(start + size, 0);
                self.reader.read_exact(&mut body[start..])?;
                self.line(&mut line)?; // CRLF after the chunk
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            self.reader.read_exact(&mut body)?;
        } else if status >= 200 && status != 204 && status != 304 {
            // No length: the body runs to the end of the connection.
            self.reader.read_to_end(&mut body)?;
            close = true;
        }
        Ok((status, body, close))
    }
}

/// What one thread measured.
#[derive(Default, Clone)]
struct Tally {
    latencies_ms: Vec<f64>,
    ok: u64,
    failed: u64,
    io_errors: u64,
    reconnects: u64,
    /// The first failed reply (status and body), to tell why requests failed.
    first_failure: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_ms.extend(other.latencies_ms);
        self.ok += other.ok;
        self.failed += other.failed;
        self.io_errors += other.io_errors;
        self.reconnects += other.reconnects;
        self.first_failure = self.first_failure.take().or(other.first_failure);
    }

    fn fail(&mut self, status: u16, body: &[u8]) {
        self.failed += 1;
        if self.first_failure.is_none() {
            let body = String::from_utf8_lossy(&body[..body.len().min(300)]);
            self.first_failure = Some(format!("{status} {body}"));
        }
    }

    /// Latency percentiles and counts as JSON (`per_second` over `seconds`).
    fn summary(mut self, seconds: f64) -> Value {
        self.latencies_ms.sort_by(f64::total_cmp);
        let l = &self.latencies_ms;
        json!({
            "requests": l.len(),
            "ok": self.ok,
            "failed": self.failed,
            "io_errors": self.io_errors,
            "reconnects": self.reconnects,
            "ok_per_second": if seconds > 0.0 { self.ok as f64 / seconds } else { 0.0 },
            "p50_ms": percentile(l, 0.5),
            "p99_ms": percentile(l, 0.99),
            "max_ms": l.last().copied().unwrap_or(0.0),
            "first_failure": self.first_failure,
        })
    }
}

/// Back-to-back `GET /api/devices` until `stop` (or `deadline`).
fn reader(port: u16, stop: Arc<AtomicBool>, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let Ok(mut conn) = Conn::connect(port) else {
        tally.io_errors += 1;
        return tally;
    };
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match conn.request("GET", "/api/devices", "") {
            Ok((status, body, latency)) => {
                tally.latencies_ms.push(latency.as_secs_f64() * 1000.0);
                if (200..300).contains(&status) {
                    tally.ok += 1;
                } else {
                    tally.fail(status, &body);
                }
            }
            Err(_) => {
                tally.io_errors += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    tally.reconnects = conn.reconnects;
    tally
}

/// A state-changing write target owned by one writer.
enum Target {
    /// `PUT /api/devices/{id}` toggling `refresh_rate` between 50 and 62 (values of the
    /// refresh-rate table, which others would be snapped to).
    Device(String),
    /// `PUT /api/virtuals/{id}/effects` toggling rainbow `speed` between 2 and 1.
    Effect(String),
}

/// Round-robin over `targets`, each alternating between two values (the first differing
/// from the initial state), until `deadline`. Also returns the last `refresh_rate`
/// successfully written to the first target if that is a device. The tallies are for
/// device writes and effect writes.
fn writer(port: u16, targets: Vec<Target>, deadline: Instant) -> ([Tally; 2], Option<u32>) {
    let mut tallies = [Tally::default(), Tally::default()];
    let mut last = None;
    let Ok(mut conn) = Conn::connect(port) else {
        tallies[0].io_errors += 1;
        return (tallies, last);
    };
    let mut round = 0u64;
    'outer: while !targets.is_empty() {
        let flip = round % 2 == 1;
        for (i, target) in targets.iter().enumerate() {
            if Instant::now() >= deadline {
                break 'outer;
            }
            let (path, body) = match target {
                Target::Device(id) => (
                    format!("/api/devices/{id}"),
                    json!({"config": {"refresh_rate": if flip { 62 } else { 50 }}}),
                ),
                Target::Effect(id) => (
                    format!("/api/virtuals/{id}/effects"),
                    json!({"type": "rainbow", "config": {"speed": if flip { 1.0 } else { 2.0 }}}),
                ),
            };
            let tally = &mut tallies[usize::from(matches!(target, Target::Effect(_)))];
            match conn.request("PUT", &path, &body.to_string()) {
                Ok((status, reply, latency)) => {
                    tally.latencies_ms.push(latency.as_secs_f64() * 1000.0);
                    let failed = serde_json::from_slice::<Value>(&reply)
                        .map(|v| v["status"] == "failed")
                        .unwrap_or(true);
                    if (200..300).contains(&status) && !failed {
                        tally.ok += 1;
                        if i == 0 && matches!(target, Target::Device(_)) {
                            last = Some(if flip { 62 } else { 50 });
                        }
                    } else {
                        tally.fail(status, &reply);
                    }
                }
                Err(_) => {
                    tally.io_errors += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        round += 1;
    }
    tallies[0].reconnects = conn.reconnects;
    (tallies, last)
}

/// CPU % of one core per process of the tree since `start` (ticks from [`cpu_ticks`]).
fn cpu_since(processes: &[(i32, String)], start: &[u64], seconds: f64) -> Value {
    let hz = rustix::param::clock_ticks_per_second() as f64;
    let per: serde_json::Map<String, Value> = processes
        .iter()
        .zip(start)
        .map(|((pid, name), a)| {
            let used = cpu_ticks(*pid).saturating_sub(*a) as f64 / hz;
            (name.clone(), json!(used / seconds.max(1e-9) * 100.0))
        })
        .collect();
    Value::Object(per)
}

/// Runs the API case and returns its results as JSON.
pub fn run_api_case(options: &ApiOptions) -> Value {
    let writers = options.writers.max(1);
    let devices = options.devices.max(writers);
    let phase = Duration::from_secs_f64(options.seconds.max(0.1));
    eprintln!(
        "api case: {devices} dummy devices, {writers} writers, {:.1} s per phase: starting",
        phase.as_secs_f64()
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let ledfx = Ledfx::start_in(tmp.path(), &["--audio", "synth"]);
    let mut ids = Vec::with_capacity(devices);
    for i in 0..devices {
        let body =
            json!({"type": "dummy", "config": {"name": format!("Lamp {i}"), "pixel_count": 100}});
        let (status, reply) = ledfx.request("POST", "/api/devices", &body.to_string());
        assert!(
            status == 200 && reply["status"] == "success",
            "creating dummy device {i}: {status} {reply}"
        );
        let id = reply["device"]["id"]
            .as_str()
            .expect("device id")
            .to_owned();
        if i % 2 == 0 {
            ledfx.set_effect(&id, "rainbow", json!({}));
        }
        ids.push(id);
    }
    let (status, reply) = ledfx.request("GET", "/api/devices", "");
    let listed = reply["devices"].as_object().map_or(0, |d| d.len());
    assert!(
        status == 200 && listed == devices,
        "GET /api/devices lists {listed} of {devices} devices"
    );
    // Let the stages settle on the new state, and warm the reader's path once.
    std::thread::sleep(Duration::from_secs(1));
    let never = Arc::new(AtomicBool::new(false));
    reader(ledfx.port, never.clone(), Instant::now() + phase / 10);

    let mut processes = vec![(ledfx.pid(), "ledfx-rs".to_owned())];
    processes.extend(children(ledfx.pid()));
    let ticks = |p: &[(i32, String)]| p.iter().map(|(pid, _)| cpu_ticks(*pid)).collect::<Vec<_>>();

    // Phase 1: reads alone.
    let start_ticks = ticks(&processes);
    let started = Instant::now();
    let alone = reader(ledfx.port, never, started + phase);
    let alone_seconds = started.elapsed().as_secs_f64();
    let alone_cpu = cpu_since(&processes, &start_ticks, alone_seconds);
    eprintln!(
        "api case: reads alone: {} requests",
        alone.latencies_ms.len()
    );

    // Phase 2: the same reader while the writers run; writer w owns devices i ≡ w (mod W).
    let mut owned: Vec<Vec<Target>> = (0..writers).map(|_| Vec::new()).collect();
    for (i, id) in ids.iter().enumerate() {
        owned[i % writers].push(Target::Device(id.clone()));
        if i % 2 == 0 {
            owned[i % writers].push(Target::Effect(id.clone()));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let start_ticks = ticks(&processes);
    let started = Instant::now();
    let deadline = started + phase;
    let port = ledfx.port;
    let write_threads: Vec<_> = owned
        .into_iter()
        .map(|targets| std::thread::spawn(move || writer(port, targets, deadline)))
        .collect();
    let read_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || reader(port, stop, deadline))
    };
    let (mut device_writes, mut effect_writes) = (Tally::default(), Tally::default());
    let mut expected_refresh_rate = None;
    for (w, t) in write_threads.into_iter().enumerate() {
        let ([device, effect], last) = t.join().unwrap_or_default();
        device_writes.merge(device);
        effect_writes.merge(effect);
        if w == 0 {
            expected_refresh_rate = last;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let loaded = read_thread.join().unwrap_or_default();
    let loaded_seconds = started.elapsed().as_secs_f64();
    let loaded_cpu = cpu_since(&processes, &start_ticks, loaded_seconds);
    let mut writes = device_writes.clone();
    writes.merge(effect_writes.clone());
    eprintln!(
        "api case: under load: {} reads, {} writes ({} failed)",
        loaded.latencies_ms.len(),
        writes.latencies_ms.len(),
        writes.failed + writes.io_errors
    );

    // Writer 0's last write to device 0 must be what the API serves: the writes really
    // changed the document. (GET /api/devices/{id} answers the config, as LedFx does.)
    let (_, after) = ledfx.request("GET", &format!("/api/devices/{}", ids[0]), "");
    let refresh_rate = after["refresh_rate"].as_u64();
    let state_check = match expected_refresh_rate {
        Some(want) if refresh_rate == Some(u64::from(want)) => "ok".to_owned(),
        Some(want) => format!("device 0 refresh_rate {refresh_rate:?}, last written {want}"),
        None => "no successful write to device 0".to_owned(),
    };
    if state_check != "ok" {
        eprintln!("api case: warning: {state_check}");
    }
    drop(ledfx);
    json!({
        "devices": devices,
        "pixels": 100,
        "effects": devices.div_ceil(2),
        "writers": writers,
        "phase_seconds": phase.as_secs_f64(),
        "reads_alone": alone.summary(alone_seconds),
        "reads_under_load": loaded.summary(loaded_seconds),
        "writes": writes.summary(loaded_seconds),
        "device_writes": device_writes.summary(loaded_seconds),
        "effect_writes": effect_writes.summary(loaded_seconds),
        "cpu_percent_reads_alone": alone_cpu,
        "cpu_percent_under_load": loaded_cpu,
        "state_check": state_check,
    })
}

/// The API case as a markdown table.
pub fn markdown(r: &Value) -> String {
    let mut out = format!(
        "API: {} dummy devices × {} px ({} with rainbow), {} writers, {:.1} s per phase\n\n",
        r["devices"],
        r["pixels"],
        r["effects"],
        r["writers"],
        r["phase_seconds"].as_f64().unwrap_or(0.0)
    );
    if r["state_check"] != "ok" {
        out.push_str(&format!(
            "State check after the writes: {}\n\n",
            r["state_check"]
        ));
    }
    out.push_str("| measurement | requests | ok | failed | p50 ms | p99 ms | max ms | ok/s |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for (label, key) in [
        ("GET /api/devices, alone", "reads_alone"),
        ("GET /api/devices, under write load", "reads_under_load"),
        ("writes, all", "writes"),
        (
            "writes: PUT /api/devices/{id} refresh_rate",
            "device_writes",
        ),
        (
            "writes: PUT /api/virtuals/{id}/effects speed",
            "effect_writes",
        ),
    ] {
        let s = &r[key];
        let f = |k: &str| s[k].as_f64().unwrap_or(0.0);
        out.push_str(&format!(
            "| {label} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.0} |\n",
            s["requests"],
            s["ok"],
            f("failed") + f("io_errors"),
            f("p50_ms"),
            f("p99_ms"),
            f("max_ms"),
            f("ok_per_second"),
        ));
    }
    for (label, key) in [
        ("reads alone", "cpu_percent_reads_alone"),
        ("under write load", "cpu_percent_under_load"),
    ] {
        let per: Vec<String> = r[key]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(n, c)| format!("{n} {:.1}", c.as_f64().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "\nCPU % of one core, {label}: {}\n",
            per.join(", ")
        ));
    }
    out
}

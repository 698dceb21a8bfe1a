//! `ledfx-rs-bench`: end-to-end benchmark of the real binaries.
//!
//! For each case it starts `ledfx-rs` with a temporary config, creates N DDP devices of P
//! pixels pointed at UDP sockets this process owns on 127.0.0.1, sets an effect on each, warms
//! up, then measures for a fixed time: delivered frames per second per device (min/median),
//! frame-interval jitter (p50/p99 of |interval − median interval|), CPU % per process and in
//! total (from /proc/<pid>/stat), and memory (RSS and PSS sums from /proc). Results go to
//! `target/bench/` as markdown and JSON.
//!
//! The `api` case (in [`bench_api`]) measures REST latency instead: `GET /api/devices` p50/p99
//! alone and while 8 clients write, write p50/p99 and successful writes per second.
//!
//! The `ws` case (in [`bench_ws`]) measures the WebSocket live preview under load: 500
//! clients watching 10 devices, 20 clients that never read.
//!
//! The `capture` case (in [`bench_capture`]) measures what real audio capture costs
//! audio-proc, through a private PulseAudio daemon and a null sink's monitor.
//!
//! Usage: `ledfx-rs-bench [--cases 10x1000,100x1000,api,ws,capture] [--effect rainbow] [--seconds 10]
//! [--api-seconds 5] [--api-writers 8] [--api-devices 20] [--ws-seconds 30] [--ws-readers 500]
//! [--ws-stalled 20]`; `--only-api` is `--cases api`.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench_api::ApiOptions;
use bench_ws::WsOptions;
use e2e_tests::{children, Ledfx};
use serde_json::json;

mod bench_api;
mod bench_capture;
mod bench_ws;

const USAGE: &str =
    "ledfx-rs-bench [--cases 10x1000,100x1000,api,ws,capture] [--effect rainbow] [--seconds 10] \
[--api-seconds 5] [--api-writers 8] [--api-devices 20] [--ws-seconds 30] [--ws-readers 500] \
[--ws-stalled 20] [--only-api]";

/// One benchmark case.
enum Case {
    /// N DDP devices of P pixels.
    Ddp(usize, u32),
    /// REST latency alone and under write load.
    Api,
    /// The WebSocket live preview under many clients.
    Ws,
    /// Real capture through a private PulseAudio daemon.
    Capture,
}

struct Options {
    cases: Vec<Case>,
    effect: String,
    seconds: u64,
    api: ApiOptions,
    ws: WsOptions,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        cases: vec![
            Case::Ddp(10, 1000),
            Case::Ddp(100, 1000),
            Case::Api,
            Case::Ws,
            Case::Capture,
        ],
        effect: "rainbow".into(),
        seconds: 10,
        api: ApiOptions::default(),
        ws: WsOptions::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--cases" => {
                options.cases = value()?
                    .split(',')
                    .map(|c| {
                        if c == "api" {
                            return Ok(Case::Api);
                        }
                        if c == "ws" {
                            return Ok(Case::Ws);
                        }
                        if c == "capture" {
                            return Ok(Case::Capture);
                        }
                        let (n, p) = c.split_once('x').ok_or_else(|| {
                            format!("case {c:?} is neither NxP, api, ws nor capture")
                        })?;
                        Ok(Case::Ddp(
                            n.parse().map_err(|_| format!("bad N in {c:?}"))?,
                            p.parse().map_err(|_| format!("bad P in {c:?}"))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?;
            }
            "--effect" => options.effect = value()?,
            "--seconds" => {
                options.seconds = value()?.parse().map_err(|_| "--seconds needs a number")?
            }
            "--only-api" => options.cases = vec![Case::Api],
            "--api-seconds" => {
                options.api.seconds = value()?
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && *s <= 600.0)
                    .ok_or("--api-seconds needs a number of seconds in (0, 600]")?
            }
            "--api-writers" => {
                options.api.writers = value()?
                    .parse()
                    .ok()
                    .filter(|w| (1..=64).contains(w))
                    .ok_or("--api-writers needs a number in 1..=64")?
            }
            "--api-devices" => {
                options.api.devices = value()?
                    .parse()
                    .ok()
                    .filter(|d| (1..=1000).contains(d))
                    .ok_or("--api-devices needs a number in 1..=1000")?
            }
            "--ws-seconds" => {
                options.ws.seconds = value()?
                    .parse()
                    .ok()
                    .filter(|s| (1..=600).contains(s))
                    .ok_or("--ws-seconds needs a number of seconds in 1..=600")?
            }
            "--ws-readers" => {
                options.ws.readers = value()?
                    .parse()
                    .ok()
                    .filter(|r| (1..=5000).contains(r))
                    .ok_or("--ws-readers needs a number in 1..=5000")?
            }
            "--ws-stalled" => {
                options.ws.stalled = value()?
                    .parse()
                    .ok()
                    .filter(|s| *s <= 5000)
                    .ok_or("--ws-stalled needs a number in 0..=5000")?
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

/// Per-device receiver: counts PUSH packets (one per frame) and their arrival times.
fn receive(socket: UdpSocket, stop: Arc<AtomicBool>) -> Vec<Instant> {
    let mut buf = [0u8; 2048];
    // Discard what queued up in the kernel during the warm-up; read in a burst, it would
    // look like frames arriving with no interval.
    let _ = socket.set_nonblocking(true);
    while socket.recv(&mut buf).is_ok() {}
    let _ = socket.set_nonblocking(false);
    let _ = socket.set_read_timeout(Some(Duration::from_millis(100)));
    let mut arrivals = Vec::with_capacity(4096);
    while !stop.load(Ordering::Relaxed) {
        if let Ok(n) = socket.recv(&mut buf) {
            if n >= 10 && buf[0] & 0x01 == 0x01 {
                arrivals.push(Instant::now());
            }
        }
    }
    arrivals
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    stat_ticks(&format!("/proc/{pid}/stat"))
}

/// utime + stime from a `stat` file of /proc (a process's or one of its threads'), in clock
/// ticks; 0 when it cannot be read.
fn stat_ticks(path: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state(0) ppid(1) … utime(11) stime(12).
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

/// A `kB` field of /proc/<pid>/<file>.
fn kb(pid: i32, file: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn run_case(devices: usize, pixels: u32, effect: &str, seconds: u64) -> serde_json::Value {
    eprintln!("case {devices} x {pixels} px, {effect}: starting");
    let tmp = tempfile::tempdir().expect("tempdir");
    let ledfx = Ledfx::start_in(tmp.path(), &["--audio", "synth"]);
    let sockets: Vec<UdpSocket> = (0..devices)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
        .collect();
    for (i, socket) in sockets.iter().enumerate() {
        let port = socket.local_addr().expect("addr").port();
        let id = ledfx.add_ddp_device(&format!("Bench {i}"), port, pixels);
        ledfx.set_effect(&id, effect, json!({}));
    }
    std::thread::sleep(Duration::from_secs(2));
    let stop = Arc::new(AtomicBool::new(false));
    let mut processes = vec![(ledfx.pid(), "ledfx-rs".to_owned())];
    processes.extend(children(ledfx.pid()));
    let start_ticks: Vec<u64> = processes.iter().map(|(p, _)| cpu_ticks(*p)).collect();
    let started = Instant::now();
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|s| {
            let stop = stop.clone();
            std::thread::spawn(move || receive(s, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let end_ticks: Vec<u64> = processes.iter().map(|(p, _)| cpu_ticks(*p)).collect();
    let rss_kb: u64 = processes
        .iter()
        .map(|(p, _)| kb(*p, "status", "VmRSS:"))
        .sum();
    let pss_kb: u64 = processes
        .iter()
        .map(|(p, _)| kb(*p, "smaps_rollup", "Pss:"))
        .sum();
    let arrivals: Vec<Vec<Instant>> = receivers
        .into_iter()
        .map(|r| r.join().unwrap_or_default())
        .collect();

    let tick_hz = rustix::param::clock_ticks_per_second() as f64;
    let cpu: Vec<(String, f64)> = processes
        .iter()
        .zip(start_ticks.iter().zip(&end_ticks))
        .map(|((_, name), (a, b))| {
            (
                name.clone(),
                (b.saturating_sub(*a)) as f64 / tick_hz / elapsed * 100.0,
            )
        })
        .collect();
    let total_cpu: f64 = cpu.iter().map(|(_, c)| c).sum();
    let fps = sorted_fps(&arrivals);
    let mut intervals_ms: Vec<f64> = arrivals
        .iter()
        .flat_map(|a| {
            a.windows(2)
                .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
                .collect::<Vec<_>>()
        })
        .collect();
    intervals_ms.sort_by(f64::total_cmp);
    let median_interval = percentile(&intervals_ms, 0.5);
    let mut jitter: Vec<f64> = intervals_ms
        .iter()
        .map(|i| (i - median_interval).abs())
        .collect();
    jitter.sort_by(f64::total_cmp);
    drop(ledfx);
    json!({
        "devices": devices,
        "pixels": pixels,
        "effect": effect,
        "seconds": elapsed,
        "fps_min": fps.first().copied().unwrap_or(0.0),
        "fps_median": percentile(&fps, 0.5),
        "interval_median_ms": median_interval,
        "jitter_p50_ms": percentile(&jitter, 0.5),
        "jitter_p99_ms": percentile(&jitter, 0.99),
        "cpu_percent": cpu.iter().map(|(n, c)| json!({"process": n, "percent": c})).collect::<Vec<_>>(),
        "cpu_total_percent": total_cpu,
        "rss_total_kb": rss_kb,
        "pss_total_kb": pss_kb,
    })
}

/// Frames per second of each receiver (first to last arrival), sorted.
fn sorted_fps(arrivals: &[Vec<Instant>]) -> Vec<f64> {
    let mut fps: Vec<f64> = arrivals
        .iter()
        .map(|a| match (a.first(), a.last()) {
            (Some(first), Some(last)) if a.len() > 1 => {
                (a.len() - 1) as f64 / (*last - *first).as_secs_f64()
            }
            _ => 0.0,
        })
        .collect();
    fps.sort_by(f64::total_cmp);
    fps
}

/// `name percent, …` of a `cpu_percent` list.
fn cpu_per_process(list: &serde_json::Value) -> String {
    let per: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    format!(
                        "{} {:.1}",
                        c["process"].as_str().unwrap_or("?"),
                        c["percent"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    per.join(", ")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cpu}, {cores} cores")
}

fn markdown(results: &[serde_json::Value], machine: &str) -> String {
    let mut out = format!("Machine: {machine}\n\n");
    out.push_str("| devices × px | effect | fps min | fps median | jitter p50 ms | jitter p99 ms | CPU total % | CPU per process % | RSS sum MiB | PSS sum MiB |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for r in results {
        let per = cpu_per_process(&r["cpu_percent"]);
        out.push_str(&format!(
            "| {} × {} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.1} | {} | {:.1} | {:.1} |\n",
            r["devices"],
            r["pixels"],
            r["effect"].as_str().unwrap_or(""),
            r["fps_min"].as_f64().unwrap_or(0.0),
            r["fps_median"].as_f64().unwrap_or(0.0),
            r["jitter_p50_ms"].as_f64().unwrap_or(0.0),
            r["jitter_p99_ms"].as_f64().unwrap_or(0.0),
            r["cpu_total_percent"].as_f64().unwrap_or(0.0),
            per,
            r["rss_total_kb"].as_f64().unwrap_or(0.0) / 1024.0,
            r["pss_total_kb"].as_f64().unwrap_or(0.0) / 1024.0,
        ));
    }
    out
}

fn main() {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ledfx-rs-bench: {e}");
            std::process::exit(2);
        }
    };
    let mut results: Vec<serde_json::Value> = Vec::new();
    let mut api = None;
    let mut ws = None;
    let mut capture = None;
    for case in &options.cases {
        match case {
            Case::Ddp(n, p) => results.push(run_case(*n, *p, &options.effect, options.seconds)),
            Case::Api => api = Some(bench_api::run_api_case(&options.api)),
            Case::Ws => ws = Some(bench_ws::run_ws_case(&options.ws, &options.effect)),
            Case::Capture => capture = Some(bench_capture::run_capture_case(options.seconds)),
        }
    }
    let machine = machine();
    let mut table = if results.is_empty() {
        format!("Machine: {machine}\n")
    } else {
        markdown(&results, &machine)
    };
    if let Some(api) = &api {
        table.push('\n');
        table.push_str(&bench_api::markdown(api));
    }
    if let Some(ws) = &ws {
        table.push('\n');
        table.push_str(&bench_ws::markdown(ws));
    }
    if let Some(capture) = &capture {
        table.push('\n');
        table.push_str(&bench_capture::markdown(capture));
    }
    println!("{table}");
    let dir = e2e_tests::bin_dir()
        .parent()
        .map(|t| t.join("bench"))
        .unwrap_or_else(|| "target/bench".into());
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join("results.md"), &table))
        .and_then(|_| {
            std::fs::write(
                dir.join("results.json"),
                serde_json::to_string_pretty(
                    &json!({"machine": machine, "results": results, "api": api, "ws": ws, "capture": capture}),
                )
                .unwrap_or_default(),
            )
        })
    {
        eprintln!("ledfx-rs-bench: writing results to {}: {e}", dir.display());
        std::process::exit(1);
    }
    eprintln!("results written to {}", dir.display());
}

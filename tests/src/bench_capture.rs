//! The `capture` case of `ledfx-rs-bench`: what real audio capture costs.
//!
//! It starts a private PulseAudio daemon ([`e2e_tests::pulse`]) with a null sink, plays a
//! 120 BPM kick track into it, starts `ledfx-rs` (default `--audio`) pointed at the daemon,
//! chooses the sink's monitor through `PUT /api/audio/devices`, waits until the analysis
//! hears the beat, and then measures audio-proc's CPU for the case's seconds, in all and per
//! thread (`/proc/<pid>/task/*/stat`), so the capture threads (the PulseAudio reactor, cpal's
//! latency poll, the device watcher) stand apart from the analysis.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e_tests::pulse::{write_beat_wav, PulseDaemon};
use e2e_tests::{child_named, poll_until, Ledfx};
use serde_json::{json, Value};

use crate::{cpu_ticks, stat_ticks};

const SINK: &str = "ledfx_bench";

/// `(thread name, utime + stime ticks)` of every thread of `pid`, summed by name.
fn thread_ticks(pid: i32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm"))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let ticks = stat_ticks(&path.join("stat").display().to_string());
        *out.entry(name).or_insert(0) += ticks;
    }
    out
}

pub fn run_capture_case(seconds: u64) -> Value {
    eprintln!("case capture: starting a private PulseAudio daemon");
    let mut pulse = PulseDaemon::start();
    pulse.add_null_sink(SINK);
    let tmp = tempfile::tempdir().expect("tempdir");
    let wav = tmp.path().join("beat120.wav");
    write_beat_wav(&wav, (seconds + 60) as u32);
    pulse.play(SINK, &wav);
    let config = tmp.path().join("config");
    std::fs::create_dir_all(&config).expect("config dir");
    let ledfx = Ledfx::start_with_env(&config, &[], &pulse.env_refs());

    let mut monitor = None;
    poll_until(Duration::from_secs(15), || {
        let devices = ledfx.request("GET", "/api/audio/devices", "").1;
        monitor = devices["devices"].as_object().and_then(|d| {
            d.iter()
                .find(|(_, n)| n.as_str().is_some_and(|n| n.contains("Monitor")))
                .and_then(|(i, _)| i.parse::<u64>().ok())
        });
        monitor.is_some()
    });
    let Some(index) = monitor else {
        return json!({"error": "the null sink's monitor was never listed"});
    };
    ledfx.request(
        "PUT",
        "/api/audio/devices",
        &json!({"audio_device": index}).to_string(),
    );
    let hears = poll_until(Duration::from_secs(30), || {
        let s = ledfx.request("GET", "/api/audio/status", "").1;
        s["state"] == json!("capturing") && s["bpm"].as_f64().is_some_and(|b| b > 0.0)
    });
    if hears.is_none() {
        return json!({"error": "the analysis never heard the track"});
    }
    let Some(pid) = child_named(ledfx.pid(), "audio-proc") else {
        return json!({"error": "no audio-proc"});
    };
    let status = ledfx.request("GET", "/api/audio/status", "").1;
    let ticks_per_s = rustix::param::clock_ticks_per_second() as f64;
    let (total_before, threads_before) = (cpu_ticks(pid), thread_ticks(pid));
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let took = started.elapsed().as_secs_f64();
    let (total_after, threads_after) = (cpu_ticks(pid), thread_ticks(pid));
    let percent = |ticks: u64| ticks as f64 / ticks_per_s / took * 100.0;
    let threads: BTreeMap<String, f64> = threads_after
        .iter()
        .map(|(name, &t)| {
            let before = threads_before.get(name).copied().unwrap_or(0);
            (name.clone(), percent(t.saturating_sub(before)))
        })
        .collect();
    let analysis = threads.get("analysis").copied().unwrap_or(0.0);
    let all = percent(total_after - total_before);
    eprintln!("case capture: audio-proc {all:.1} % of a core ({analysis:.1} % analysis)");
    json!({
        "seconds": took,
        "host": status["host"],
        "device": status["active_device_name"],
        "audio_proc_percent": all,
        "analysis_percent": analysis,
        "capture_percent": all - analysis,
        "threads": threads,
    })
}

/// The case's result as a markdown table.
pub fn markdown(result: &Value) -> String {
    if let Some(error) = result["error"].as_str() {
        return format!("Capture case failed: {error}\n");
    }
    let threads = result["threads"]
        .as_object()
        .map(|t| {
            t.iter()
                .map(|(n, p)| format!("{n} {:.1}", p.as_f64().unwrap_or(0.0)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "| capture host | device | s | audio-proc % of a core | of it: analysis | capture (the rest) | per thread % |\n\
         |---|---|---|---|---|---|---|\n\
         | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {threads} |\n",
        result["host"].as_str().unwrap_or("?"),
        result["device"].as_str().unwrap_or("?"),
        result["seconds"].as_f64().unwrap_or(0.0),
        result["audio_proc_percent"].as_f64().unwrap_or(0.0),
        result["analysis_percent"].as_f64().unwrap_or(0.0),
        result["capture_percent"].as_f64().unwrap_or(0.0),
    )
}

//! `ledfx-rs-diff`: sends the same requests to LedFx 2.2.1 and to ledfx-rs and reports every
//! difference in status code, body kind (JSON or text) and JSON shape (keys and value
//! types; values are ignored, so ids, timestamps and versions do not count).
//!
//! Both servers start with a fresh, empty config directory on 127.0.0.1. The requests are
//! data: `tests/fixtures/diff/requests.json` holds a scenario (devices, virtuals, effects,
//! scenes, colours, config, …, each step sent to both) and a sweep (every LedFx path with
//! every verb and a set of bad bodies) inserted where the scenario says `{"sweep": true}`.
//! Run it inside a network namespace (`make diff-ledfx` does) so LedFx's discovery
//! endpoints multicast nowhere.
//!
//! With `--record-ws <file>` it instead runs the WebSocket session of
//! `tests/fixtures/ws/script.json` against LedFx alone and writes what LedFx sent to `file`
//! (`tests/tests/websocket.rs` compares ledfx-rs with that recording).
//!
//! Usage: `ledfx-rs-diff --ledfx <path of LedFx's ledfx script> [--script <requests.json>]
//! [--out <report.md>] [--record-ws <recording.json>]`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e_tests::shape::{differences, kind};
use e2e_tests::{free_port, http_with, Ledfx};
use serde_json::Value;

const USAGE: &str =
    "ledfx-rs-diff --ledfx <path to LedFx 2.2.1's `ledfx`> [--script <requests.json>] \
     [--out <report.md>] [--record-ws <recording.json>]";

/// One request of the run.
#[derive(Debug, Clone)]
struct Step {
    method: String,
    path: String,
    /// The exact body text sent (empty: none).
    body: String,
    /// Wait until both servers answer again afterwards (LedFx restarts on some requests).
    wait_ready: bool,
}

/// One server's answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Result<Value, String>,
}

fn answer(port: u16, step: &Step) -> Answer {
    match http_with(port, &step.method, &step.path, &[], &step.body) {
        Ok(r) => Answer {
            status: r.status,
            body: serde_json::from_str(&r.body).map_err(|_| r.body.trim().to_owned()),
        },
        Err(e) => Answer {
            status: 0,
            body: Err(format!("no answer: {e}")),
        },
    }
}

fn wait_ready(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let info = Step {
            method: "GET".into(),
            path: "/api/info".into(),
            body: String::new(),
            wait_ready: false,
        };
        if answer(port, &info).status == 200 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// The body of a step: a JSON value is sent as JSON, `raw` as written, nothing as empty.
fn body_of(step: &Value) -> String {
    match (step.get("raw"), step.get("body")) {
        (Some(Value::String(raw)), _) => raw.clone(),
        (_, Some(body)) => body.to_string(),
        _ => String::new(),
    }
}

/// The scenario with the sweep expanded in place.
fn steps(script: &Value) -> Result<Vec<Step>, String> {
    let sweep = &script["sweep"];
    let list = |key: &str| -> Vec<String> {
        sweep[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (paths, methods, bodies, skip) =
        (list("paths"), list("methods"), list("bodies"), list("skip"));
    let mut out = Vec::new();
    for step in script["steps"]
        .as_array()
        .ok_or("the script has no \"steps\" list")?
    {
        if step.get("sweep").is_some() {
            for path in &paths {
                for method in &methods {
                    if skip.iter().any(|s| s == &format!("{method} {path}")) {
                        continue;
                    }
                    for body in &bodies {
                        out.push(Step {
                            method: method.clone(),
                            path: path.clone(),
                            body: body.clone(),
                            wait_ready: false,
                        });
                    }
                }
            }
            continue;
        }
        let field = |k: &str| step[k].as_str().map(str::to_owned);
        out.push(Step {
            method: field("method").ok_or(format!("a step without \"method\": {step}"))?,
            path: field("path").ok_or(format!("a step without \"path\": {step}"))?,
            body: body_of(step),
            wait_ready: step["wait_ready"].as_bool().unwrap_or(false),
        });
    }
    Ok(out)
}

/// What differs between the two answers, if anything.
fn compare(theirs: &Answer, ours: &Answer) -> Vec<String> {
    let mut found = Vec::new();
    if theirs.status != ours.status {
        found.push(format!(
            "status {} in LedFx, {} in ledfx-rs",
            theirs.status, ours.status
        ));
    }
    match (&theirs.body, &ours.body) {
        (Ok(a), Ok(b)) => found.extend(differences(a, b)),
        (Err(a), Err(b)) if a == b => {}
        (Err(a), Err(b)) => found.push(format!("text {a:?} in LedFx, {b:?} in ledfx-rs")),
        (Ok(a), Err(b)) => found.push(format!("JSON {} in LedFx, text {b:?} in ledfx-rs", kind(a))),
        (Err(a), Ok(b)) => found.push(format!("text {a:?} in LedFx, JSON {} in ledfx-rs", kind(b))),
    }
    found
}

fn start_ledfx(ledfx: &Path, dir: &Path, port: u16) -> std::io::Result<Child> {
    Command::new(ledfx)
        .args(["-p", &port.to_string(), "--offline", "-c"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

fn shown(body: &str) -> String {
    let short: String = body.chars().take(60).collect();
    if short.len() < body.len() {
        format!("{short}…")
    } else {
        short
    }
}

fn run(ledfx: &Path, script: &Path, out: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(script).map_err(|e| format!("{}: {e}", script.display()))?;
    let script: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", script.display()))?;
    let steps = steps(&script)?;

    let ledfx_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ledfx_port = free_port();
    let mut reference = start_ledfx(ledfx, ledfx_dir.path(), ledfx_port)
        .map_err(|e| format!("starting {}: {e}", ledfx.display()))?;
    let ours = Ledfx::start();
    if !wait_ready(ledfx_port, Duration::from_secs(90)) {
        let _ = reference.kill();
        return Err("LedFx did not answer /api/info within 90 s".into());
    }

    // `LEDFX_DIFF_SHOW=<n>,…` prints both full answers of those steps, to look into one.
    let show: Vec<usize> = std::env::var("LEDFX_DIFF_SHOW")
        .unwrap_or_default()
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let mut report = String::new();
    let mut differing = 0;
    let mut statuses_equal = 0;
    for (n, step) in steps.iter().enumerate() {
        let theirs = answer(ledfx_port, step);
        let mine = answer(ours.port, step);
        if step.wait_ready {
            let _ = wait_ready(ledfx_port, Duration::from_secs(60));
            let _ = wait_ready(ours.port, Duration::from_secs(60));
        }
        if show.contains(&n) {
            println!(
                "#{n} {} {}\n  LedFx    {theirs:?}\n  ledfx-rs {mine:?}",
                step.method, step.path
            );
        }
        if theirs.status == mine.status {
            statuses_equal += 1;
        }
        let found = compare(&theirs, &mine);
        if found.is_empty() {
            continue;
        }
        differing += 1;
        let _ = writeln!(
            report,
            "* #{n} `{} {}` body `{}`",
            step.method,
            step.path,
            shown(&step.body)
        );
        for line in found.iter().take(12) {
            let _ = writeln!(report, "  * {line}");
        }
        if found.len() > 12 {
            let _ = writeln!(report, "  * … {} more", found.len() - 12);
        }
    }
    let _ = reference.kill();
    let _ = reference.wait();

    let summary = format!(
        "# ledfx-rs against LedFx 2.2.1\n\n{} requests; same status code for {statuses_equal}; \
         same status and shape for {}; {differing} differ.\n\n",
        steps.len(),
        steps.len() - differing
    );
    std::fs::write(out, format!("{summary}{report}"))
        .map_err(|e| format!("{}: {e}", out.display()))?;
    print!("{summary}");
    println!("report: {}", out.display());
    Ok(differing)
}

/// Runs the WebSocket script against LedFx and writes the recording.
fn record_ws(ledfx: &Path, script: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(script).map_err(|e| format!("{}: {e}", script.display()))?;
    let script: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", script.display()))?;
    let steps = script["steps"]
        .as_array()
        .ok_or("the script has no \"steps\" list")?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port();
    let mut reference = start_ledfx(ledfx, dir.path(), port)
        .map_err(|e| format!("starting {}: {e}", ledfx.display()))?;
    let result = if wait_ready(port, Duration::from_secs(90)) {
        e2e_tests::ws_script::run(port, steps)
    } else {
        Err("LedFx did not answer /api/info within 90 s".into())
    };
    let _ = reference.kill();
    let _ = reference.wait();
    let recorded: Vec<Value> = result?
        .into_iter()
        .map(|r| serde_json::json!({"step": r.step, "what": r.what, "got": r.got}))
        .collect();
    let recording = serde_json::json!({
        "about": "What LedFx 2.2.1 sent for tests/fixtures/ws/script.json, normalised (tests/src/ws_script.rs). Written by `make record-ws`; do not edit by hand.",
        "recorded": recorded,
    });
    let text = serde_json::to_string_pretty(&recording).map_err(|e| e.to_string())?;
    std::fs::write(out, text + "\n").map_err(|e| format!("{}: {e}", out.display()))?;
    println!("recorded {} steps into {}", recorded.len(), out.display());
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut ledfx, mut script, mut out, mut record) = (None, None, None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ledfx" => ledfx = args.next().map(PathBuf::from),
            "--script" => script = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--record-ws" => record = args.next().map(PathBuf::from),
            _ => {
                eprintln!("unknown argument {arg}\nusage: {USAGE}");
                std::process::exit(2);
            }
        }
    }
    let Some(ledfx) = ledfx else {
        eprintln!("usage: {USAGE}");
        std::process::exit(2);
    };
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(record) = record {
        let script = script.unwrap_or_else(|| here.join("fixtures/ws/script.json"));
        if let Err(e) = record_ws(&ledfx, &script, &record) {
            eprintln!("ledfx-rs-diff: {e}");
            std::process::exit(1);
        }
        return;
    }
    let script = script.unwrap_or_else(|| here.join("fixtures/diff/requests.json"));
    let out = out.unwrap_or_else(|| here.join("../target/ledfx-diff.md"));
    match run(&ledfx, &script, &out) {
        Ok(_) => {}
        Err(e) => {
            eprintln!("ledfx-rs-diff: {e}");
            std::process::exit(1);
        }
    }
}

//! The WebSocket case of `ledfx-rs-bench`: many clients watching the live preview, plus
//! clients that never read.
//!
//! It starts `ledfx-rs` with V DDP devices (300 px, the effect of `--effect`) pointed at UDP
//! sockets this process owns, connects R reading clients, each subscribed to the
//! `visualisation_update` of every device, and S stalled clients that subscribe the same way
//! and then never read. After a warm-up it measures for a fixed time: preview frames each
//! reading client got against `visualisation_fps` × V × seconds (min, median), device
//! frames per second (min), CPU % per process, and api-proc's RSS sampled every second (its
//! maximum and its last value, to show it stays bounded). The clients run on one
//! current-thread tokio runtime and only count frames, so they cost as little as they can.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_tests::{child_named, children, Ledfx};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::{cpu_per_process, cpu_ticks, kb, percentile, receive, sorted_fps};

/// The preview rate ledfx-rs runs with by default (`visualisation_fps`).
const PREVIEW_FPS: f64 = 30.0;

/// Parameters of the WebSocket case.
pub struct WsOptions {
    pub seconds: u64,
    pub readers: usize,
    pub stalled: usize,
    pub virtuals: usize,
}

impl Default for WsOptions {
    fn default() -> Self {
        Self {
            seconds: 30,
            readers: 500,
            stalled: 20,
            virtuals: 10,
        }
    }
}

/// One client: connects, subscribes to every id, then counts preview frames while
/// `measuring` is set (or, stalled, never reads again) until `stop`.
async fn client(
    port: u16,
    ids: Arc<Vec<String>>,
    read: bool,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Result<u64, String> {
    let url = format!("ws://127.0.0.1:{port}/api/websocket");
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    let _greeting = socket.next().await;
    for (n, id) in ids.iter().enumerate() {
        let subscribe = json!({"id": n, "type": "subscribe_event", "event_type": "visualisation_update",
                               "event_filter": {"vis_id": id, "is_device": true}});
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .map_err(|e| e.to_string())?;
    }
    if !read {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        return Ok(0);
    }
    let mut frames = 0;
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                if measuring.load(Ordering::Relaxed) && text.contains("\"visualisation_update\"") {
                    frames += 1;
                }
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(None) => return Err("the socket closed".into()),
        }
    }
    Ok(frames)
}

/// Runs the case and returns its figures.
pub fn run_ws_case(options: &WsOptions, effect: &str) -> Value {
    eprintln!(
        "case ws: {} readers, {} stalled, {} previewed devices, {} s",
        options.readers, options.stalled, options.virtuals, options.seconds
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let ledfx = Ledfx::start_in(tmp.path(), &["--audio", "synth"]);
    let sockets: Vec<UdpSocket> = (0..options.virtuals)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let mut ids = Vec::new();
    for (i, socket) in sockets.iter().enumerate() {
        let port = socket.local_addr().expect("addr").port();
        let id = ledfx.add_ddp_device(&format!("Preview {i}"), port, 300);
        ledfx.set_effect(&id, effect, json!({}));
        ids.push(id);
    }
    let ids = Arc::new(ids);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let port = ledfx.port;
    let (readers, stalled) = (options.readers, options.stalled);
    let clients = {
        let (ids, measuring, stop) = (ids.clone(), measuring.clone(), stop.clone());
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let tasks: Vec<_> = (0..readers + stalled)
                    .map(|n| {
                        tokio::spawn(client(
                            port,
                            ids.clone(),
                            n < readers,
                            measuring.clone(),
                            stop.clone(),
                        ))
                    })
                    .collect();
                let mut counts = Vec::new();
                for (n, task) in tasks.into_iter().enumerate() {
                    let result = task.await.map_err(|e| e.to_string()).and_then(|r| r);
                    if n < readers {
                        counts.push(result);
                    }
                }
                counts
            })
        })
    };
    // Connections and subscriptions settle, then the window starts.
    std::thread::sleep(Duration::from_secs(3));
    let api = child_named(ledfx.pid(), "api-proc").expect("api-proc");
    let mut processes = vec![(ledfx.pid(), "ledfx-rs".to_owned())];
    processes.extend(children(ledfx.pid()));
    let start_ticks: Vec<u64> = processes.iter().map(|(p, _)| cpu_ticks(*p)).collect();
    let device_stop = Arc::new(AtomicBool::new(false));
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|s| {
            let stop = device_stop.clone();
            std::thread::spawn(move || receive(s, stop))
        })
        .collect();
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut rss_samples = Vec::new();
    while started.elapsed() < Duration::from_secs(options.seconds) {
        std::thread::sleep(Duration::from_secs(1));
        rss_samples.push(kb(api, "status", "VmRSS:"));
    }
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let end_ticks: Vec<u64> = processes.iter().map(|(p, _)| cpu_ticks(*p)).collect();
    device_stop.store(true, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let counts = clients.join().expect("clients");
    let arrivals: Vec<Vec<Instant>> = receivers
        .into_iter()
        .map(|r| r.join().unwrap_or_default())
        .collect();
    drop(ledfx);

    let failed = counts.iter().filter(|c| c.is_err()).count();
    let expected = PREVIEW_FPS * options.virtuals as f64 * elapsed;
    let mut got: Vec<f64> = counts
        .iter()
        .map(|c| *c.as_ref().unwrap_or(&0) as f64 / expected * 100.0)
        .collect();
    got.sort_by(f64::total_cmp);
    let device_fps = sorted_fps(&arrivals);
    let tick_hz = rustix::param::clock_ticks_per_second() as f64;
    let cpu: Vec<Value> = processes
        .iter()
        .zip(start_ticks.iter().zip(&end_ticks))
        .map(|((_, name), (a, b))| {
            json!({"process": name, "percent": (b.saturating_sub(*a)) as f64 / tick_hz / elapsed * 100.0})
        })
        .collect();
    json!({
        "seconds": elapsed,
        "readers": options.readers,
        "stalled": options.stalled,
        "previewed_devices": options.virtuals,
        "failed_readers": failed,
        "frames_percent_min": got.first().copied().unwrap_or(0.0),
        "frames_percent_median": percentile(&got, 0.5),
        "device_fps_min": device_fps.first().copied().unwrap_or(0.0),
        "cpu_percent": cpu,
        "api_rss_kb_max": rss_samples.iter().max().copied().unwrap_or(0),
        "api_rss_kb_first": rss_samples.first().copied().unwrap_or(0),
        "api_rss_kb_last": rss_samples.last().copied().unwrap_or(0),
    })
}

/// The case as a markdown table.
pub fn markdown(r: &Value) -> String {
    let per = cpu_per_process(&r["cpu_percent"]);
    let mib = |key: &str| r[key].as_f64().unwrap_or(0.0) / 1024.0;
    format!(
        "| readers + stalled | previewed devices | s | preview frames per reader, % of {PREVIEW_FPS} fps (min / median) | failed readers | device fps min | CPU per process % | api-proc RSS MiB (first / max / last) |\n\
         |---|---|---|---|---|---|---|---|\n\
         | {} + {} | {} | {:.0} | {:.1} / {:.1} | {} | {:.1} | {} | {:.1} / {:.1} / {:.1} |\n",
        r["readers"], r["stalled"], r["previewed_devices"], r["seconds"].as_f64().unwrap_or(0.0),
        r["frames_percent_min"].as_f64().unwrap_or(0.0), r["frames_percent_median"].as_f64().unwrap_or(0.0),
        r["failed_readers"], r["device_fps_min"].as_f64().unwrap_or(0.0), per,
        mib("api_rss_kb_first"), mib("api_rss_kb_max"), mib("api_rss_kb_last"),
    )
}

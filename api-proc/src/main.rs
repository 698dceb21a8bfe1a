//! `api-proc`: serves the LedFx HTTP API on the listener the supervisor bound, forwarding
//! every request to the state owner over the control socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_proc::backend::Call;
use api_proc::feed::Hub;
use api_proc::Backend;
use proto::api::ApiReply;
use proto::control::{r#async as framing, ToStage, ToSupervisor};
use proto::exit::ExitCode;
use proto::layout::Segment;
use proto::pipeline::PipelineState;
use proto::stage::StageKind;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<ApiReply>>>>;

fn main() {
    proto::stage::init_logging("info");
    let ctx = match proto::stage::bootstrap(StageKind::Api) {
        Ok(ctx) => ctx,
        Err(e) => {
            tracing::error!(error = %e, "api-proc cannot start");
            e.exit_code().exit();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "starting the async runtime");
            ExitCode::Internal.exit();
        }
    };
    let code = runtime.block_on(serve(ctx.control, ctx.segment, ctx.http_listener));
    code.exit();
}

async fn serve(
    control: std::os::unix::net::UnixStream,
    segment: Segment,
    http_listener: Option<std::os::fd::OwnedFd>,
) -> ExitCode {
    let control = match control
        .set_nonblocking(true)
        .and_then(|_| tokio::net::UnixStream::from_std(control))
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "control socket");
            return ExitCode::Internal;
        }
    };
    let (mut reader, mut writer) = control.into_split();
    // The pipeline state that follows the handshake is not needed: api-proc asks the owner
    // for what it needs, and follows changes on the feed.
    if let Err(e) = framing::stage_handshake(&mut reader, &mut writer, StageKind::Api).await {
        tracing::error!(error = %e, "control handshake failed");
        return match e {
            proto::control::ControlError::VersionMismatch { .. } => ExitCode::IpcVersionMismatch,
            _ => ExitCode::SupervisorGone,
        };
    }
    let listener = match listener(http_listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "adopting the HTTP listener");
            return ExitCode::Internal;
        }
    };
    let url = std::env::var("LEDFX_RS_URL").unwrap_or_else(|_| "http://localhost:8888".into());
    let (backend, calls) = Backend::channel(256);
    let pending: Pending = Arc::default();
    let (shutdown_tx, mut shutdown_rx) = watch::channel(None::<ExitCode>);
    let (out_tx, out_rx) = mpsc::channel::<ToSupervisor>(256);
    tokio::spawn(write_loop(writer, out_rx, shutdown_tx.clone()));
    tokio::spawn(forward_calls(calls, out_tx.clone(), pending.clone()));
    let hub = Hub::default();
    let ws = api_proc::ws::Bus::default();
    let (pipeline_tx, pipeline_rx) = watch::channel(None);
    tokio::spawn(read_loop(
        reader,
        pending,
        hub.clone(),
        pipeline_tx,
        shutdown_tx.clone(),
    ));
    let logs = api_proc::ws::log::LogStreams::new(segment.duplicate().ok().map(Arc::new));
    if let Ok(segment) = segment.duplicate() {
        tokio::spawn(api_proc::ws::audio_devices::follow(segment, ws.clone()));
    }
    match segment.duplicate() {
        Ok(segment) => {
            let visualiser = api_proc::ws::visualiser::Visualiser {
                segment,
                pipeline: pipeline_rx,
                bus: ws.clone(),
                hub: hub.clone(),
            };
            tokio::spawn(visualiser.run());
        }
        // The API works without the live preview; say so once.
        Err(e) => {
            tracing::error!(error = %e, "mapping shared memory for the live preview failed; no visualisation_update events")
        }
    }
    proto::stage::spawn_heartbeat(Box::new(segment), StageKind::Api);
    if out_tx.send(ToSupervisor::Ready).await.is_err() {
        return ExitCode::SupervisorGone;
    }
    let app = api_proc::app(backend, hub, ws.clone(), logs, url);
    let mut stop = shutdown_rx.clone();
    // Handlers that care who is asking (the log post's rate limit) find the peer address.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop.wait_for(Option::is_some).await;
    });
    let server = tokio::spawn(async move { server.await });
    let code = match shutdown_rx.wait_for(Option::is_some).await {
        Ok(code) => code.unwrap_or(ExitCode::Ok),
        Err(_) => ExitCode::Internal,
    };
    // WebSocket clients hear `shutdown` and a close, as LedFx's do. Then let in-flight
    // requests and those closes finish, but never hold up the supervisor's shutdown.
    ws.close_all(&api_proc::ws::LedfxEvent::new(
        "shutdown",
        serde_json::Value::Null,
    ));
    let _ = tokio::time::timeout(Duration::from_millis(300), async {
        let _ = server.await;
        while !ws.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    code
}

/// The HTTP listener the supervisor bound, adopted by `proto::stage::bootstrap`.
fn listener(fd: Option<std::os::fd::OwnedFd>) -> std::io::Result<tokio::net::TcpListener> {
    let fd = fd.ok_or_else(|| std::io::Error::other("no HTTP listener was inherited"))?;
    let listener = std::net::TcpListener::from(fd);
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut out: mpsc::Receiver<ToSupervisor>,
    shutdown: watch::Sender<Option<ExitCode>>,
) {
    while let Some(msg) = out.recv().await {
        if framing::write_msg(&mut writer, &msg).await.is_err() {
            let _ = shutdown.send(Some(ExitCode::SupervisorGone));
            return;
        }
    }
}

async fn forward_calls(
    mut calls: mpsc::Receiver<Call>,
    out: mpsc::Sender<ToSupervisor>,
    pending: Pending,
) {
    let mut next_id = 1u64;
    while let Some((call, reply_to)) = calls.recv().await {
        let request_id = next_id;
        next_id += 1;
        if let Ok(mut map) = pending.lock() {
            // Drop entries whose handler gave up (timed out), so the map stays bounded.
            map.retain(|_, tx| !tx.is_closed());
            map.insert(request_id, reply_to);
        }
        if out
            .send(ToSupervisor::Api {
                request_id,
                call,
                sent_ns: proto::monotonic_ns(),
            })
            .await
            .is_err()
        {
            return;
        }
    }
}

async fn read_loop(
    mut reader: OwnedReadHalf,
    pending: Pending,
    hub: Hub,
    pipeline: watch::Sender<Option<Arc<PipelineState>>>,
    shutdown: watch::Sender<Option<ExitCode>>,
) {
    loop {
        match framing::read_msg::<ToStage>(&mut reader).await {
            Ok(ToStage::ApiReply { request_id, reply }) => {
                let waiter = pending
                    .lock()
                    .ok()
                    .and_then(|mut map| map.remove(&request_id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(reply);
                }
            }
            Ok(ToStage::Feed(json)) => match serde_json::from_str(&json.0) {
                Ok(item) => hub.publish(item),
                Err(e) => {
                    tracing::error!(error = %e, "unreadable change-feed item; are api-proc and the supervisor from the same build?")
                }
            },
            Ok(ToStage::State(state)) => {
                let _ = pipeline.send(Some(Arc::new(state)));
            }
            Ok(ToStage::Shutdown) => {
                let _ = shutdown.send(Some(ExitCode::Ok));
                return;
            }
            Ok(_) => {}
            Err(_) => {
                let _ = shutdown.send(Some(ExitCode::SupervisorGone));
                return;
            }
        }
    }
}

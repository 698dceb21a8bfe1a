//! Running the stage processes: spawn, handshake, watch, restart, shut down.
//!
//! Each stage has one supervising task that loops: spawn the process with its endpoints at
//! fixed descriptor numbers (control socketpair at 3, shared memory at 4, the HTTP listener at
//! 5 for api-proc), perform the version handshake, send the current desired state, wait for
//! `Ready`, then forward every new state until the process exits, stops beating its heartbeat,
//! or shutdown is requested. A crashed stage is restarted with jittered exponential backoff
//! (immediately the first time); a stage that exits saying its configuration is unusable is
//! not restarted in a tight loop.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use proto::control::{r#async as framing, ToStage, ToSupervisor, PROTOCOL_VERSION};
use proto::exit::ExitCode;
use proto::feed::FeedItem;
use proto::layout::Segment;
use proto::pipeline::{AudioSource, PipelineState};
use proto::stage::{StageKind, CONTROL_FD, HTTP_LISTENER_FD, SHM_FD};
use rand::Rng;
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc, watch};

use crate::owner::OwnerHandle;

/// A heartbeat that has not moved for this long means the stage is hung.
pub const HANG_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a stage may take from spawn to `Ready`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a stage gets to exit after `Shutdown` before it is killed. Three shutdown
/// phases of this length fit in the 2 s the supervisor allows itself.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// A stage that ran this long before failing starts its backoff from scratch.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Wait before retrying a stage that said its configuration is unusable.
const BAD_CONFIG_RETRY: Duration = Duration::from_secs(30);

/// Spawns child processes from one dedicated, long-lived thread.
///
/// `PR_SET_PDEATHSIG` (which makes the stages die with the supervisor) fires when the *thread*
/// that forked the child exits, not the process. Async runtime threads may come and go, so
/// every child is forked from this thread, which lives as long as the supervisor needs its
/// children.
#[derive(Debug, Clone)]
pub struct Spawner {
    tx: std::sync::mpsc::Sender<SpawnRequest>,
}

type SpawnRequest = (
    std::process::Command,
    tokio::sync::oneshot::Sender<std::io::Result<tokio::process::Child>>,
);

impl Spawner {
    /// Starts the spawner thread; children are registered with `runtime`'s process driver.
    pub fn start(runtime: tokio::runtime::Handle) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("spawner".into())
            .spawn(move || {
                let _guard = runtime.enter();
                for (command, reply) in rx {
                    let _ = reply.send(tokio::process::Command::from(command).spawn());
                }
            })?;
        Ok(Self { tx })
    }

    async fn spawn(
        &self,
        command: std::process::Command,
    ) -> std::io::Result<tokio::process::Child> {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        self.tx
            .send((command, reply_tx))
            .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
        reply_rx
            .await
            .map_err(|_| std::io::Error::other("spawner thread is gone"))?
    }
}

/// What every stage task shares.
#[derive(Clone)]
pub struct StageEnv {
    pub spawner: Spawner,
    pub stage_dir: PathBuf,
    pub segment: Arc<Segment>,
    pub http_listener: Arc<OwnedFd>,
    pub owner: OwnerHandle,
    pub states: watch::Receiver<Arc<PipelineState>>,
    /// Where readiness and failures are reported for crash-loop detection.
    pub health: mpsc::UnboundedSender<crate::health::StageEvent>,
    /// Extra environment for children (log settings, public URL).
    pub env: Vec<(String, String)>,
    pub audio_source: AudioSource,
}

/// How a run of a stage process ended.
#[derive(Debug)]
enum RunEnd {
    Exited(Option<ExitCode>, Option<i32>),
    Hung,
    ShutdownRequested,
    SpawnFailed(String),
}

/// Backoff before restart number `failures` (1 = first restart after a crash).
pub fn backoff(failures: u32, rng: &mut impl Rng) -> Duration {
    if failures <= 1 {
        return Duration::from_millis(rng.random_range(0..50));
    }
    let base_ms = 100u64.saturating_mul(1 << (failures - 1).min(6)).min(5000);
    let jitter = rng.random_range(0.8..1.2);
    Duration::from_millis((base_ms as f64 * jitter) as u64)
}

/// Resolves once shutdown has been requested (or the sender is gone).
async fn wait_for_shutdown(shutdown: &mut watch::Receiver<bool>) {
    // Map the borrowed value away so no lock guard lives across an await point.
    let _ = shutdown.wait_for(|s| *s).await.map(|_| ());
}

/// Supervises one stage until `shutdown` turns true.
pub async fn supervise(kind: StageKind, env: StageEnv, mut shutdown: watch::Receiver<bool>) {
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        let started = Instant::now();
        let started_revision = env.states.borrow().revision;
        let end = run_once(kind, &env, shutdown.clone()).await;
        let stopping = *shutdown.borrow();
        if matches!(end, RunEnd::ShutdownRequested)
            || (stopping && matches!(end, RunEnd::Exited(Some(ExitCode::Ok), _)))
        {
            return;
        }
        // A stage that ran for a while before failing starts its backoff from scratch.
        if started.elapsed() > STABLE_AFTER {
            failures = 0;
        }
        failures += 1;
        // Only the stage's own verdict on its configuration makes a change suspect at once;
        // a usage error or a version mismatch is about the binaries, not the configuration.
        let bad_config = matches!(end, RunEnd::Exited(Some(ExitCode::BadConfig), _));
        // Exit codes that say restarting the same way would fail the same way.
        let unusable = matches!(&end, RunEnd::Exited(Some(code), _) if !code.should_restart() && *code != ExitCode::Ok);
        if !matches!(end, RunEnd::SpawnFailed(_)) {
            let _ = env.health.send(crate::health::StageEvent::Failed {
                stage: kind,
                bad_config,
            });
        }
        let delay = match &end {
            RunEnd::Exited(Some(code), _) if unusable => {
                tracing::error!(stage = %kind, exit = %code, "stage cannot run with this configuration; retrying in {}s", BAD_CONFIG_RETRY.as_secs());
                BAD_CONFIG_RETRY
            }
            RunEnd::Exited(code, signal) => {
                let delay = backoff(failures, &mut rand::rng());
                tracing::warn!(stage = %kind, exit = ?code, signal = ?signal, restart_in_ms = delay.as_millis() as u64, "stage exited; restarting");
                delay
            }
            RunEnd::Hung => {
                let delay = backoff(failures, &mut rand::rng());
                tracing::warn!(stage = %kind, restart_in_ms = delay.as_millis() as u64, "stage stopped beating its heartbeat; killed, restarting");
                delay
            }
            RunEnd::SpawnFailed(reason) => {
                let delay = backoff(failures, &mut rand::rng()).max(Duration::from_secs(1));
                tracing::error!(stage = %kind, %reason, "could not start stage");
                delay
            }
            RunEnd::ShutdownRequested => return,
        };
        // A stage waiting out a bad configuration is retried as soon as the configuration
        // differs from the one it failed with (for example after a rollback). Comparing
        // revisions, not waiting for a change notification, cannot miss a rollback that was
        // published while this task was still deciding.
        let mut states = env.states.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = states.wait_for(|s| s.revision != started_revision), if unusable => {}
            _ = wait_for_shutdown(&mut shutdown) => return,
        }
    }
}

fn stage_path(dir: &Path, kind: StageKind) -> PathBuf {
    dir.join(kind.binary_name())
}

async fn run_once(kind: StageKind, env: &StageEnv, mut shutdown: watch::Receiver<bool>) -> RunEnd {
    let (ours, theirs) = match StdUnixStream::pair() {
        Ok(pair) => pair,
        Err(e) => return RunEnd::SpawnFailed(format!("socketpair: {e}")),
    };
    let theirs = OwnedFd::from(theirs);
    let shm = match env.segment.shm().fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(e) => return RunEnd::SpawnFailed(format!("dup shared memory fd: {e}")),
    };
    let mut mappings = vec![
        FdMapping {
            parent_fd: theirs,
            child_fd: CONTROL_FD,
        },
        FdMapping {
            parent_fd: shm,
            child_fd: SHM_FD,
        },
    ];
    if kind == StageKind::Api {
        match env.http_listener.as_fd().try_clone_to_owned() {
            Ok(fd) => mappings.push(FdMapping {
                parent_fd: fd,
                child_fd: HTTP_LISTENER_FD,
            }),
            Err(e) => return RunEnd::SpawnFailed(format!("dup listener fd: {e}")),
        }
    }
    let mut command = std::process::Command::new(stage_path(&env.stage_dir, kind));
    // Each stage gets its own process group, so a Ctrl-C (or a SIGTERM sent to the
    // terminal's process group) reaches only the supervisor, which then stops the stages in
    // order instead of having them all die at once.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
        .env(proto::stage::ENV_STAGE, kind.binary_name())
        .env(
            proto::stage::ENV_SUPERVISOR_PID,
            std::process::id().to_string(),
        )
        .envs(env.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .stdin(
            if kind == StageKind::Audio && matches!(env.audio_source, AudioSource::Stdin(_)) {
                Stdio::inherit()
            } else {
                Stdio::null()
            },
        );
    if let Err(e) = command.fd_mappings(mappings) {
        return RunEnd::SpawnFailed(format!("fd mapping: {e}"));
    }
    env.segment.heartbeat(kind).reset();
    let mut child = match env.spawner.spawn(command).await {
        Ok(child) => child,
        Err(e) => {
            return RunEnd::SpawnFailed(format!(
                "{}: {e}",
                stage_path(&env.stage_dir, kind).display()
            ))
        }
    };
    let pid = child.id();
    tracing::debug!(stage = %kind, pid, "spawned");
    let stream = match ours
        .set_nonblocking(true)
        .and_then(|_| UnixStream::from_std(ours))
    {
        Ok(s) => s,
        Err(e) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return RunEnd::SpawnFailed(format!("control socket: {e}"));
        }
    };
    let (ready_tx, mut ready_rx) = watch::channel(false);
    let (to_stage_tx, to_stage_rx) = mpsc::channel::<ToStage>(64);
    let connection = tokio::spawn(serve_connection(
        kind,
        stream,
        env.clone(),
        ready_tx,
        to_stage_tx.clone(),
        to_stage_rx,
    ));

    let heartbeat = env.segment.heartbeat(kind);
    let spawned_at = Instant::now();
    let mut last_beats = 0u64;
    let mut last_progress = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let end = loop {
        tokio::select! {
            status = child.wait() => {
                break match status {
                    Ok(status) => {
                        use std::os::unix::process::ExitStatusExt;
                        RunEnd::Exited(status.code().and_then(ExitCode::from_code), status.signal())
                    }
                    Err(e) => RunEnd::SpawnFailed(format!("wait: {e}")),
                };
            }
            _ = wait_for_shutdown(&mut shutdown) => {
                // Never wait on a stage that stopped reading: the grace period below bounds it.
                let _ = to_stage_tx.try_send(ToStage::Shutdown);
                if tokio::time::timeout(SHUTDOWN_GRACE, child.wait()).await.is_err() {
                    tracing::warn!(stage = %kind, "did not exit in time; killing");
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
                break RunEnd::ShutdownRequested;
            }
            _ = tick.tick() => {
                if ready_rx.has_changed().unwrap_or(false) {
                    // The heartbeat is judged from the moment the stage says it is ready.
                    last_beats = heartbeat.beats();
                    last_progress = Instant::now();
                    let _ = env.health.send(crate::health::StageEvent::Ready(kind));
                }
                let ready = *ready_rx.borrow_and_update();
                if !ready {
                    if spawned_at.elapsed() > STARTUP_TIMEOUT {
                        tracing::warn!(stage = %kind, "not ready after {}s", STARTUP_TIMEOUT.as_secs());
                        let _ = child.start_kill();
                        let _ = child.wait().await;
                        break RunEnd::Hung;
                    }
                    continue;
                }
                let beats = heartbeat.beats();
                if beats != last_beats {
                    last_beats = beats;
                    last_progress = Instant::now();
                } else if last_progress.elapsed() > HANG_TIMEOUT {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    break RunEnd::Hung;
                }
            }
        }
    };
    connection.abort();
    end
}

/// Handshake, initial state, then message pumping for one process.
async fn serve_connection(
    kind: StageKind,
    stream: UnixStream,
    env: StageEnv,
    ready: watch::Sender<bool>,
    to_stage: mpsc::Sender<ToStage>,
    mut outbox: mpsc::Receiver<ToStage>,
) {
    let (mut reader, mut writer) = stream.into_split();
    match framing::read_msg::<ToSupervisor>(&mut reader).await {
        Ok(ToSupervisor::Hello {
            stage,
            protocol_version,
            ..
        }) if stage == kind && protocol_version == PROTOCOL_VERSION => {}
        Ok(ToSupervisor::Hello {
            stage,
            protocol_version,
            ..
        }) => {
            tracing::error!(stage = %kind, peer_stage = %stage, peer_version = protocol_version, "handshake mismatch; closing");
            let _ = framing::write_msg(
                &mut writer,
                &ToStage::Welcome {
                    protocol_version: PROTOCOL_VERSION,
                },
            )
            .await;
            return;
        }
        Ok(other) => {
            tracing::error!(stage = %kind, message = ?other, "expected Hello");
            return;
        }
        Err(e) => {
            tracing::debug!(stage = %kind, error = %e, "control connection closed during handshake");
            return;
        }
    }
    let mut states = env.states.clone();
    let first = ToStage::State((**states.borrow_and_update()).clone());
    if framing::write_msg(
        &mut writer,
        &ToStage::Welcome {
            protocol_version: PROTOCOL_VERSION,
        },
    )
    .await
    .is_err()
        || framing::write_msg(&mut writer, &first).await.is_err()
    {
        return;
    }
    // Writer: everything to the stage goes through the outbox, in order.
    let writer_task = tokio::spawn(async move {
        while let Some(msg) = outbox.recv().await {
            if framing::write_msg(&mut writer, &msg).await.is_err() {
                return;
            }
        }
    });
    // Every stage gets every new pipeline state (api-proc reads the slots of the live
    // preview from it); api-proc also gets the change feed.
    let forwarder = {
        let to_stage = to_stage.clone();
        tokio::spawn(async move {
            while states.changed().await.is_ok() {
                let state = (**states.borrow_and_update()).clone();
                if to_stage.send(ToStage::State(state)).await.is_err() {
                    return;
                }
            }
        })
    };
    let feed = (kind == StageKind::Api)
        .then(|| tokio::spawn(forward_feed(env.owner.clone(), to_stage.clone())));
    loop {
        match framing::read_msg::<ToSupervisor>(&mut reader).await {
            Ok(ToSupervisor::Ready) => {
                tracing::info!(stage = %kind, "ready");
                let _ = ready.send(true);
            }
            Ok(ToSupervisor::Api {
                request_id,
                call,
                sent_ns,
            }) if kind == StageKind::Api => {
                let owner = env.owner.clone();
                let to_stage = to_stage.clone();
                let expires_ns = sent_ns.saturating_add(proto::control::API_COMMAND_EXPIRY_NS);
                tokio::spawn(async move {
                    let reply = owner.call_until(&call, Some(expires_ns)).await;
                    let _ = to_stage.send(ToStage::ApiReply { request_id, reply }).await;
                });
            }
            Ok(other) => {
                tracing::warn!(stage = %kind, message = ?other, "unexpected control message ignored")
            }
            Err(_) => break,
        }
    }
    writer_task.abort();
    forwarder.abort();
    if let Some(feed) = feed {
        feed.abort();
    }
}

/// The change feed to api-proc: a snapshot, then every change after it, in order. If
/// api-proc falls so far behind that the owner's buffer overflows, it gets a fresh snapshot
/// instead of a gap. A restarted api-proc gets a new connection, so it starts from a snapshot
/// too.
async fn forward_feed(owner: OwnerHandle, to_stage: mpsc::Sender<ToStage>) {
    let send = |item: &FeedItem| {
        ToStage::Feed(proto::api::Json(
            serde_json::to_string(item).unwrap_or_default(),
        ))
    };
    loop {
        let (snapshot, mut changes) = owner.subscribe();
        let revision = snapshot.state.revision;
        let item = FeedItem::Snapshot {
            boot: snapshot.state.boot.clone(),
            revision,
            state: snapshot.state.feed_state(),
        };
        drop(snapshot);
        if to_stage.send(send(&item)).await.is_err() {
            return;
        }
        loop {
            match changes.recv().await {
                // Already in the snapshot.
                Ok(change) if change.revision <= revision => {}
                Ok(change) => {
                    if to_stage
                        .send(send(&FeedItem::Change((*change).clone())))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "api-proc fell behind the change feed; sending a fresh snapshot"
                    );
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_restart_is_immediate_and_later_ones_back_off_to_a_cap() {
        let mut rng = rand::rng();
        for _ in 0..100 {
            assert!(backoff(1, &mut rng) < Duration::from_millis(50));
            let second = backoff(2, &mut rng);
            assert!(
                (Duration::from_millis(160)..=Duration::from_millis(240)).contains(&second),
                "{second:?}"
            );
            assert!(backoff(30, &mut rng) <= Duration::from_millis(6000));
        }
    }
}

//! The render-proc stage binary: connects to the supervisor, runs the [`Engine`] on one
//! thread, sleeping until the earliest virtual deadline, and follows state updates.
//!
//! The heartbeat is bumped every loop iteration and the loop never sleeps longer than
//! [`MAX_SLEEP`], so a stage with nothing to render still shows it is alive and still sees
//! control events promptly.

use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use proto::exit::ExitCode;
use proto::stage::{StageEvent, StageKind, StageLink};
use render_proc::Engine;

/// Longest sleep between loop iterations (heartbeat and control polling).
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// How often the frame counters are logged (at debug level).
const STATS_EVERY: Duration = Duration::from_secs(60);

fn main() {
    proto::stage::init_logging("info");
    let (mut link, first) = match StageLink::connect(StageKind::Render) {
        Ok(connected) => connected,
        Err(err) => {
            tracing::error!(%err, "cannot connect to the supervisor");
            err.exit_code().exit();
        }
    };
    let mut engine = Engine::new();
    failpoint(&first);
    engine.apply_state(&first);
    if let Err(err) = link.send_ready() {
        tracing::error!(%err, "cannot report ready");
        ExitCode::SupervisorGone.exit();
    }
    tracing::info!(
        revision = first.revision,
        virtuals = engine.rendering_virtuals(),
        "render-proc running"
    );

    let mut last_stats = Instant::now();
    loop {
        link.beat();
        loop {
            match link.events.try_recv() {
                Ok(StageEvent::State(state)) => {
                    failpoint(&state);
                    engine.apply_state(&state);
                }
                Ok(StageEvent::Shutdown) => {
                    tracing::info!(stats = ?engine.stats(), "shutting down");
                    ExitCode::Ok.exit();
                }
                Ok(StageEvent::Disconnected) | Err(TryRecvError::Disconnected) => {
                    tracing::warn!("supervisor connection lost");
                    ExitCode::SupervisorGone.exit();
                }
                Err(TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        let next = engine.tick(&link.segment, now);
        if now.duration_since(last_stats) >= STATS_EVERY {
            last_stats = now;
            tracing::debug!(stats = ?engine.stats(), rendering = engine.rendering_virtuals(), "render counters");
        }
        let wake = next.map_or(now + MAX_SLEEP, |n| n.min(now + MAX_SLEEP));
        let sleep = wake.saturating_duration_since(Instant::now());
        if !sleep.is_zero() {
            std::thread::sleep(sleep);
        }
    }
}

/// Fault injection for the end-to-end tests (feature `failpoints`, see Cargo.toml).
#[cfg(feature = "failpoints")]
fn failpoint(state: &proto::pipeline::PipelineState) {
    let Ok(spec) = std::env::var("LEDFX_RS_FAILPOINTS") else {
        return;
    };
    let Some(effect) = spec.strip_prefix("render-proc:abort-on-effect=") else {
        return;
    };
    let hit = state
        .virtuals
        .iter()
        .any(|v| v.active && v.effect.as_ref().is_some_and(|e| e.effect_type == effect));
    if hit {
        tracing::error!(effect, "failpoint: aborting");
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
fn failpoint(_: &proto::pipeline::PipelineState) {}

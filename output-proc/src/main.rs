//! The output-proc stage: connects to the supervisor, drives one sender per active device,
//! and follows state changes until told to shut down.
//!
//! Everything runs on one current-thread tokio runtime: the device senders, a 50 ms heartbeat
//! task (on the same runtime, so a stuck runtime stops beating and the supervisor restarts us)
//! and the control loop that polls the supervisor's events.

use std::sync::Arc;
use std::time::Duration;

use output_proc::Output;
use proto::exit::ExitCode;
use proto::pipeline::PipelineState;
use proto::stage::{StageEvent, StageKind, StageLink};

/// How often the control loop looks for supervisor events.
const POLL_EVERY: Duration = Duration::from_millis(20);

fn main() {
    proto::stage::init_logging("info");
    let (link, first) = match StageLink::connect(StageKind::Output) {
        Ok(connected) => connected,
        Err(error) => {
            tracing::error!(%error, "cannot connect to the supervisor");
            error.exit_code().exit();
        }
    };
    let code = match run(link, first) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "output-proc failed");
            ExitCode::Internal
        }
    };
    tracing::info!(%code, "output-proc exiting");
    code.exit();
}

fn run(mut link: StageLink, first: PipelineState) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    // The senders need the segment for their whole life, independently of the link, so they
    // get a second mapping of it.
    let segment = Arc::new(
        link.segment
            .duplicate()
            .context("mapping the shared segment for the senders")?,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    runtime.block_on(async move {
        proto::stage::spawn_heartbeat(Arc::clone(&segment), StageKind::Output);

        let mut output = Output::new(segment);
        output.apply(&first);
        let mut state = first;
        tracing::info!(
            revision = state.revision,
            devices = output.running_devices().len(),
            "output-proc ready"
        );
        if let Err(error) = link.send_ready() {
            tracing::error!(%error, "cannot report ready");
            return Ok(ExitCode::SupervisorGone);
        }

        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            poll.tick().await;
            loop {
                match link.events.try_recv() {
                    Ok(StageEvent::State(next)) => {
                        output.apply(&next);
                        tracing::debug!(revision = next.revision, "applied new state");
                        state = *next;
                    }
                    Ok(StageEvent::Shutdown) => {
                        tracing::info!(
                            blackout = state.flush_on_deactivate,
                            "shutting down output"
                        );
                        output.shutdown(state.flush_on_deactivate).await;
                        return Ok(ExitCode::Ok);
                    }
                    Ok(StageEvent::Disconnected)
                    | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        tracing::warn!("supervisor connection lost");
                        return Ok(ExitCode::SupervisorGone);
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                }
            }
        }
    })
}

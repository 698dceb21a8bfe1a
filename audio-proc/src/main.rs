//! The `audio-proc` stage binary: connects to the supervisor, runs the audio pipeline, applies
//! new audio settings as they arrive, and exits with the typed exit code the supervisor's
//! restart policy reads (bad settings → `BadConfig`, so the change is rolled back instead of
//! restart-looping).
//!
//! All the work happens on the pipeline's threads; this thread only waits for control events.
//! It deliberately does not beat the heartbeat: the analysis thread does, so a hung analysis
//! is noticed by the supervisor.

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use audio_proc::pipeline::{AudioPipeline, PipelineError, ShmSink};
use audio_proc::status::StatusBoard;
use proto::exit::ExitCode;
use proto::stage::{StageEvent, StageKind, StageLink};

/// How often the control loop wakes up without events (only to notice a vanished channel).
const EVENT_WAIT: Duration = Duration::from_millis(100);

fn exit_code_for(err: &PipelineError) -> ExitCode {
    if err.is_bad_config() {
        ExitCode::BadConfig
    } else {
        ExitCode::Internal
    }
}

fn main() {
    // The pulseaudio crate logs each closed server connection as an error; audio-proc
    // reports what matters about a lost stream itself.
    proto::stage::init_logging_quieting("info", &["pulseaudio"]);
    let (mut link, state) = match StageLink::connect(StageKind::Audio) {
        Ok(connected) => connected,
        Err(err) => {
            tracing::error!(error = %err, "audio-proc cannot connect to the supervisor");
            err.exit_code().exit();
        }
    };
    let segment = match link.segment.duplicate() {
        Ok(segment) => segment,
        Err(err) => {
            tracing::error!(error = %err, "mapping the shared segment for the analysis thread");
            ExitCode::Internal.exit();
        }
    };
    let status_segment = match link.segment.duplicate() {
        Ok(segment) => segment,
        Err(err) => {
            tracing::error!(error = %err, "mapping the shared segment for the audio status");
            ExitCode::Internal.exit();
        }
    };
    let board = StatusBoard::shm(status_segment);
    let started =
        AudioPipeline::start_reporting(&state.audio, Box::new(ShmSink::new(segment)), board);
    let mut pipeline = match started {
        Ok(pipeline) => pipeline,
        Err(err) => {
            tracing::error!(error = %err, "starting the audio pipeline");
            exit_code_for(&err).exit();
        }
    };
    if let Err(err) = link.send_ready() {
        tracing::error!(error = %err, "telling the supervisor we are ready");
        ExitCode::SupervisorGone.exit();
    }
    tracing::info!(revision = state.revision, "audio-proc ready");
    loop {
        match link.events.recv_timeout(EVENT_WAIT) {
            Ok(StageEvent::State(state)) => {
                if let Err(err) = pipeline.apply(&state.audio) {
                    tracing::error!(error = %err, revision = state.revision, "applying new audio settings");
                    exit_code_for(&err).exit();
                }
            }
            Ok(StageEvent::Shutdown) => {
                tracing::info!("shutting down");
                drop(pipeline);
                ExitCode::Ok.exit();
            }
            Ok(StageEvent::Disconnected) | Err(RecvTimeoutError::Disconnected) => {
                tracing::warn!("control connection lost; exiting");
                ExitCode::SupervisorGone.exit();
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

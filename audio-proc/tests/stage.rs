//! The real `audio-proc` binary under a stand-in supervisor: this test plays the supervisor's
//! part of the contract (socketpair at fd 3, shared segment at fd 4, handshake, state
//! snapshots, shutdown) and checks what the stage does with it — frames and heartbeats in
//! shared memory, settings applied live, and the typed exit codes.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use proto::audio::AudioFrame;
use proto::control::{read_msg, write_msg, ToStage, ToSupervisor, PROTOCOL_VERSION};
use proto::exit::ExitCode;
use proto::layout::Segment;
use proto::pipeline::{AudioSource, AudioSpec, PipelineState};
use proto::stage::{StageKind, CONTROL_FD, ENV_STAGE, ENV_SUPERVISOR_PID, SHM_FD};

/// Generous bound for anything to happen; the tests poll, they never assert a maximum.
const DEADLINE: Duration = Duration::from_secs(30);

struct Stage {
    child: Child,
    control: UnixStream,
}

/// Spawns the stage with its endpoints and does the handshake; sends `first` as the state.
fn spawn(segment: &Segment, first: &PipelineState) -> Stage {
    let (control, stage_end) = UnixStream::pair().expect("socketpair");
    let shm: OwnedFd = segment
        .shm()
        .fd()
        .try_clone_to_owned()
        .expect("duplicating the segment fd");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_audio-proc"));
    cmd.env(ENV_STAGE, StageKind::Audio.binary_name())
        .env(ENV_SUPERVISOR_PID, std::process::id().to_string())
        .stdin(Stdio::null())
        .fd_mappings(vec![
            FdMapping {
                parent_fd: OwnedFd::from(stage_end),
                child_fd: CONTROL_FD,
            },
            FdMapping {
                parent_fd: shm,
                child_fd: SHM_FD,
            },
        ])
        .expect("fd mappings");
    let child = cmd.spawn().expect("spawning audio-proc");
    // Dropping the command closes our copy of the stage's socket end, so the stage sees EOF
    // when we close ours.
    drop(cmd);
    let mut stage = Stage { child, control };
    match read_msg::<ToSupervisor>(&mut stage.control).expect("hello") {
        ToSupervisor::Hello { stage: kind, .. } => assert_eq!(kind, StageKind::Audio),
        other => panic!("expected hello, got {other:?}"),
    }
    write_msg(
        &mut stage.control,
        &ToStage::Welcome {
            protocol_version: PROTOCOL_VERSION,
        },
    )
    .expect("welcome");
    send(&mut stage, first);
    stage
}

fn send(stage: &mut Stage, state: &PipelineState) {
    write_msg(&mut stage.control, &ToStage::State(state.clone())).expect("sending state");
}

fn state(audio: AudioSpec, revision: u64) -> PipelineState {
    PipelineState {
        revision,
        audio,
        ..PipelineState::default()
    }
}

fn wait_exit(stage: &mut Stage) -> ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = stage.child.try_wait().expect("waiting for the stage") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = stage.child.kill();
            panic!("the stage did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls the audio slot until a new frame satisfies `pred`.
fn wait_frame(segment: &Segment, pred: impl Fn(&AudioFrame) -> bool) -> AudioFrame {
    let deadline = Instant::now() + DEADLINE;
    let mut bytes = Vec::new();
    let mut seen = 0;
    while Instant::now() < deadline {
        if let Some(meta) = segment.audio_slot().read_latest(&mut bytes) {
            if meta.frame_no != seen {
                seen = meta.frame_no;
                let frame = AudioFrame::from_bytes(&bytes).expect("a whole frame");
                if pred(&frame) {
                    return frame;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("no matching audio frame before the deadline");
}

/// Polls `cond` until it holds, failing with `what` at the deadline.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_stage_publishes_applies_settings_and_shuts_down_cleanly() {
    let segment = Segment::create().expect("segment");
    let mut stage = spawn(&segment, &state(AudioSpec::default(), 1));
    assert_eq!(
        read_msg::<ToSupervisor>(&mut stage.control).expect("ready"),
        ToSupervisor::Ready
    );

    // The synth: loud frames and volume beats, heartbeats advancing.
    let f = wait_frame(&segment, |f| f.volume_beat == 1);
    assert!(f.volume > 0.2 && f.mel_samples == 24);
    let beats = segment.heartbeat(StageKind::Audio).beats();
    wait_until("the heartbeat advances", || {
        segment.heartbeat(StageKind::Audio).beats() > beats
    });

    // Switch to silence and to 16 bands, live.
    let quiet = AudioSpec {
        source: AudioSource::None,
        mel_samples: 16,
        ..AudioSpec::default()
    };
    send(&mut stage, &state(quiet, 2));
    let f = wait_frame(&segment, |f| f.mel_samples == 16 && f.volume == 0.0);
    assert!(f.mel.iter().flatten().all(|&v| v == 0.0));
    // Silent frames keep coming, so consumers see fresh data.
    let before = segment.audio_slot().latest_frame_no();
    wait_until("silent frames keep coming", || {
        segment.audio_slot().latest_frame_no() > before + 10
    });

    write_msg(&mut stage.control, &ToStage::Shutdown).expect("shutdown");
    let status = wait_exit(&mut stage);
    assert_eq!(status.code(), Some(ExitCode::Ok as i32), "{status}");
}

#[test]
fn invalid_settings_exit_with_bad_config() {
    let segment = Segment::create().expect("segment");
    let bad = AudioSpec {
        mel_samples: 0,
        ..AudioSpec::default()
    };
    let mut stage = spawn(&segment, &state(bad, 1));
    let status = wait_exit(&mut stage);
    assert_eq!(status.code(), Some(ExitCode::BadConfig as i32), "{status}");
}

#[test]
fn a_vanished_supervisor_ends_the_stage() {
    let segment = Segment::create().expect("segment");
    let none = AudioSpec {
        source: AudioSource::None,
        ..AudioSpec::default()
    };
    let mut stage = spawn(&segment, &state(none, 1));
    assert_eq!(
        read_msg::<ToSupervisor>(&mut stage.control).expect("ready"),
        ToSupervisor::Ready
    );
    // Closing the control socket is what the stage sees when the supervisor dies.
    stage
        .control
        .shutdown(std::net::Shutdown::Both)
        .expect("closing control");
    let status = wait_exit(&mut stage);
    assert_eq!(
        status.code(),
        Some(ExitCode::SupervisorGone as i32),
        "{status}"
    );
}

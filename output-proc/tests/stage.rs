//! Runs the real `output-proc` binary under a minimal stand-in for the supervisor: the test
//! creates the shared segment and a control socketpair, places them at the descriptor numbers
//! a stage expects, performs the handshake, hands over a state, and checks what the stage does
//! on the wire and how it exits.

use std::net::UdpSocket;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use output_proc::protocols::ddp::{decode_packet, DdpReassembler};
use output_proc::validate_device_config;
use proto::control::{read_msg, write_msg, ToStage, ToSupervisor, PROTOCOL_VERSION};
use proto::exit::ExitCode;
use proto::layout::Segment;
use proto::pipeline::{DeviceSpec, PipelineState};
use proto::stage::{StageKind, CONTROL_FD, ENV_STAGE, ENV_SUPERVISOR_PID, SHM_FD};
use serde_json::json;

/// The stage process and our end of its control socket.
struct Stage {
    child: Child,
    control: UnixStream,
}

impl Drop for Stage {
    fn drop(&mut self) {
        // Only reached with the child still running when an assertion failed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_stage(segment: &Segment) -> Stage {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let shm: OwnedFd = segment.shm().fd().try_clone_to_owned().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_output-proc"));
    command
        .env(ENV_STAGE, StageKind::Output.binary_name())
        .env(ENV_SUPERVISOR_PID, std::process::id().to_string())
        .fd_mappings(vec![
            FdMapping {
                parent_fd: theirs.into(),
                child_fd: CONTROL_FD,
            },
            FdMapping {
                parent_fd: shm,
                child_fd: SHM_FD,
            },
        ])
        .unwrap();
    let child = command.spawn().unwrap();
    Stage {
        child,
        control: ours,
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "stage did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn handshake(stage: &mut Stage, state: PipelineState) {
    match read_msg::<ToSupervisor>(&mut stage.control).unwrap() {
        ToSupervisor::Hello {
            stage: kind,
            protocol_version,
            ..
        } => {
            assert_eq!(kind, StageKind::Output);
            assert_eq!(protocol_version, PROTOCOL_VERSION);
        }
        other => panic!("expected Hello, got {other:?}"),
    }
    write_msg(
        &mut stage.control,
        &ToStage::Welcome {
            protocol_version: PROTOCOL_VERSION,
        },
    )
    .unwrap();
    write_msg(&mut stage.control, &ToStage::State(state)).unwrap();
    assert_eq!(
        read_msg::<ToSupervisor>(&mut stage.control).unwrap(),
        ToSupervisor::Ready
    );
}

fn ddp_state(port: u16, flush: bool) -> PipelineState {
    let validated = validate_device_config(
        "ddp",
        &json!({"name": "Stage Strip", "ip_address": "127.0.0.1", "port": port, "pixel_count": 4}),
    )
    .unwrap();
    PipelineState {
        revision: 1,
        devices: vec![DeviceSpec {
            id: "stage-strip".into(),
            slot: 5,
            generation: 1,
            device_type: "ddp".into(),
            pixel_count: 4,
            refresh_rate: validated.refresh_rate,
            center_offset: 0,
            config_json: validated.config.to_string(),
            active: true,
        }],
        flush_on_deactivate: flush,
        ..Default::default()
    }
}

/// Receives DDP frames until the deadline; returns them in order.
fn frames_until(
    socket: &UdpSocket,
    deadline: Instant,
    mut stop: impl FnMut(&[u8]) -> bool,
) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut reassembler = DdpReassembler::default();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let packet = decode_packet(&buf[..n]).unwrap();
        if let Some(frame) = reassembler.push(&packet) {
            let done = stop(&frame.rgb);
            frames.push(frame.rgb);
            if done {
                break;
            }
        }
    }
    frames
}

#[test]
fn stage_streams_beats_and_blacks_out_on_shutdown() {
    let segment = Segment::create().unwrap();
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = receiver.local_addr().unwrap().port();
    let mut stage = spawn_stage(&segment);
    handshake(&mut stage, ddp_state(port, true));

    // Tagged with the device's generation, as render-proc publishes it.
    segment.device_slot(5).publish_generation(
        &[10, 20, 30, 40, 50, 60, 70, 80, 90, 1, 2, 3],
        proto::monotonic_ns(),
        1,
    );
    let frames = frames_until(&receiver, Instant::now() + Duration::from_secs(10), |_| {
        true
    });
    assert_eq!(
        frames.last().map(Vec::as_slice),
        Some(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 1, 2, 3][..])
    );

    // The heartbeat advances on its own.
    let beats = segment.heartbeat(StageKind::Output).beats();
    let deadline = Instant::now() + Duration::from_secs(10);
    while segment.heartbeat(StageKind::Output).beats() < beats + 3 {
        assert!(Instant::now() < deadline, "heartbeat stalled");
        std::thread::sleep(Duration::from_millis(20));
    }

    write_msg(&mut stage.control, &ToStage::Shutdown).unwrap();
    let status = wait_exit(&mut stage.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(ExitCode::Ok as i32));
    // flush_on_deactivate: the last frame on the wire is black.
    let rest = frames_until(
        &receiver,
        Instant::now() + Duration::from_millis(500),
        |_| false,
    );
    assert_eq!(rest.last().map(Vec::as_slice), Some(&[0u8; 12][..]));
    assert!(segment.device_stats(5).frames_sent() >= 2);
}

#[test]
fn stage_exits_supervisor_gone_when_the_control_socket_closes() {
    let segment = Segment::create().unwrap();
    let mut stage = spawn_stage(&segment);
    handshake(&mut stage, PipelineState::default());
    // Close our end: the stage must notice and leave with its own exit code.
    stage.control.shutdown(std::net::Shutdown::Both).unwrap();
    let status = wait_exit(&mut stage.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(ExitCode::SupervisorGone as i32));
}

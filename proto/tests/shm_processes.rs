//! Frame slots shared between real processes, with writers and readers killed mid-operation.
//!
//! The test binary re-executes itself as the child: `SHM_ROLE` picks the child's role, and
//! the segment's memfd is handed over at the stage descriptor number, exactly as the
//! supervisor hands it to a stage.

use std::os::fd::AsFd;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use proto::layout::Segment;
use proto::stage::SHM_FD;

const FRAME_BYTES: usize = 3 * 3000;
const SLOT: u16 = 7;

/// Entry point of the child processes (a no-op when run as a normal test).
#[test]
fn child_role() {
    let Ok(role) = std::env::var("SHM_ROLE") else {
        return;
    };
    let segment = Segment::attach(inherited_segment()).expect("attach inherited segment");
    let slot = segment.device_slot(SLOT);
    match role.as_str() {
        // Publishes frames whose bytes all equal the low byte of the frame number, forever
        // (bounded: the parent kills it; a safety cap ends it after 60 s).
        "writer" => {
            let start = Instant::now();
            let mut frame = vec![0u8; FRAME_BYTES];
            let mut n = slot.latest_frame_no();
            while start.elapsed() < Duration::from_secs(60) {
                n += 1;
                frame.fill((n % 251) as u8);
                slot.publish(&frame, n);
            }
        }
        // Reads continuously and aborts (non-zero exit) on a torn frame.
        "reader" => {
            let start = Instant::now();
            let mut out = Vec::new();
            while start.elapsed() < Duration::from_secs(60) {
                if slot.read_latest(&mut out).is_some() && out.iter().any(|&b| b != out[0]) {
                    std::process::exit(3);
                }
            }
        }
        other => panic!("unknown SHM_ROLE {other}"),
    }
}

/// The segment the parent mapped at [`SHM_FD`], as an owned descriptor. A stage gets it from
/// `proto::stage::bootstrap`, which also wants a control socket and a supervisor; this child
/// reopens the memfd through `/proc` instead (a new descriptor of the same memfd, seals
/// included), which needs no adoption of a raw number.
fn inherited_segment() -> std::os::fd::OwnedFd {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{SHM_FD}"))
        .expect("reopen the inherited memfd")
        .into()
}

fn spawn(segment: &Segment, role: &str) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env("SHM_ROLE", role);
    let fd = segment.shm().fd().as_fd().try_clone_to_owned().unwrap();
    cmd.fd_mappings(vec![FdMapping {
        parent_fd: fd,
        child_fd: SHM_FD,
    }])
    .unwrap();
    cmd.spawn().unwrap()
}

fn kill(child: &mut Child) {
    rustix::process::kill_process(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    child.wait().unwrap();
}

fn wait_for_frames(segment: &Segment, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while segment.device_slot(SLOT).latest_frame_no() < at_least {
        assert!(Instant::now() < deadline, "writer produced no frames");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn assert_consistent(segment: &Segment) -> u64 {
    let mut out = Vec::new();
    let meta = segment
        .device_slot(SLOT)
        .read_latest(&mut out)
        .expect("a complete frame is readable");
    assert_eq!(out.len(), FRAME_BYTES);
    assert!(out.iter().all(|&b| b == out[0]), "torn frame");
    assert_eq!(
        u64::from(out[0]),
        meta.frame_no % 251,
        "frame content matches its number"
    );
    meta.frame_no
}

#[test]
fn writer_killed_mid_write_leaves_a_complete_frame_and_a_new_writer_resumes() {
    if std::env::var("SHM_ROLE").is_ok() {
        return;
    }
    let segment = Segment::create().unwrap();
    for round in 0..5 {
        let mut writer = spawn(&segment, "writer");
        let before = segment.device_slot(SLOT).latest_frame_no();
        wait_for_frames(&segment, before + 1000);
        // The writer publishes back-to-back, so a kill almost always lands mid-write.
        kill(&mut writer);
        let last = assert_consistent(&segment);
        println!("round {round}: writer killed after frame {last}");
        // Reading again gives the same complete frame: nothing changes without a writer.
        assert_eq!(assert_consistent(&segment), last);
    }
    let mut writer = spawn(&segment, "writer");
    let before = segment.device_slot(SLOT).latest_frame_no();
    wait_for_frames(&segment, before + 100);
    kill(&mut writer);
    assert!(assert_consistent(&segment) > before);
}

#[test]
fn readers_in_other_processes_never_see_torn_frames_and_killing_them_changes_nothing() {
    if std::env::var("SHM_ROLE").is_ok() {
        return;
    }
    let segment = Segment::create().unwrap();
    let mut writer = spawn(&segment, "writer");
    wait_for_frames(&segment, 1);
    let mut readers: Vec<Child> = (0..2).map(|_| spawn(&segment, "reader")).collect();
    std::thread::sleep(Duration::from_millis(500));
    for reader in &mut readers {
        assert!(
            reader.try_wait().unwrap().is_none(),
            "a reader saw a torn frame"
        );
        kill(reader);
    }
    // The writer did not notice the readers dying.
    let before = segment.device_slot(SLOT).latest_frame_no();
    wait_for_frames(&segment, before + 1000);
    let mut reader = spawn(&segment, "reader");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        reader.try_wait().unwrap().is_none(),
        "a reader saw a torn frame"
    );
    kill(&mut reader);
    kill(&mut writer);
    assert_consistent(&segment);
}

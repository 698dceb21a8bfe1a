//! `proto::stage::bootstrap` in real child processes: the descriptors a stage inherits are
//! adopted exactly once, api-proc gets its HTTP listener, and a panic on any thread of a
//! bootstrapped stage kills the process with SIGABRT (a visible crash the supervisor
//! restarts), although the workspace builds with unwinding.
//!
//! The test binary re-executes itself as the child (`STAGE_ROLE` picks what it does), wired
//! the way the supervisor wires a stage: control socket at fd 3, segment at fd 4, listener at
//! fd 5, identity and supervisor pid in the environment.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};

use command_fds::{CommandFdExt, FdMapping};
use proto::layout::Segment;
use proto::stage::{
    bootstrap, StageKind, CONTROL_FD, ENV_STAGE, ENV_SUPERVISOR_PID, HTTP_LISTENER_FD, SHM_FD,
};

/// Exit codes of the child that name what went wrong (the parent prints them).
const CHILD_OK: i32 = 0;
const CHILD_BOOTSTRAP_FAILED: i32 = 10;
const CHILD_WRONG_LISTENER: i32 = 11;
const CHILD_ADOPTED_TWICE: i32 = 12;
const CHILD_PANIC_DID_NOT_ABORT: i32 = 13;

/// Entry point of the child processes (a no-op when run as a normal test).
#[test]
fn child_role() {
    let Ok(role) = std::env::var("STAGE_ROLE") else {
        return;
    };
    match role.as_str() {
        // Bootstraps as api-proc, checks the listener is the one the parent bound, and that
        // a second bootstrap cannot adopt the same numbers again.
        "api" => {
            let Ok(ctx) = bootstrap(StageKind::Api) else {
                std::process::exit(CHILD_BOOTSTRAP_FAILED);
            };
            let expected: u16 = std::env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            let listener = ctx.http_listener.map(std::net::TcpListener::from);
            let port = listener
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.port());
            if port != Some(expected) {
                std::process::exit(CHILD_WRONG_LISTENER);
            }
            if bootstrap(StageKind::Api).is_ok() {
                std::process::exit(CHILD_ADOPTED_TWICE);
            }
            std::process::exit(CHILD_OK);
        }
        // Bootstraps as render-proc, then panics on a worker thread. Without the abort hook
        // the panic would only end that thread, and the process would exit normally.
        "panic" => {
            proto::stage::init_logging("info");
            let Ok(ctx) = bootstrap(StageKind::Render) else {
                std::process::exit(CHILD_BOOTSTRAP_FAILED);
            };
            if ctx.http_listener.is_some() {
                std::process::exit(CHILD_WRONG_LISTENER);
            }
            let worker = std::thread::Builder::new()
                .name("worker".into())
                .spawn(|| panic!("injected stage failure"))
                .unwrap();
            let _ = worker.join();
            std::process::exit(CHILD_PANIC_DID_NOT_ABORT);
        }
        other => panic!("unknown STAGE_ROLE {other}"),
    }
}

/// Runs the child in `role` as stage `kind` with the supervisor's descriptor wiring, plus
/// `extra` descriptors, and returns its output.
fn run_child(role: &str, kind: StageKind, extra: Vec<FdMapping>, env: &[(&str, String)]) -> Output {
    let segment = Segment::create().unwrap();
    // The parent keeps its end open until the child is gone, as the supervisor does.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut mappings = vec![
        FdMapping {
            parent_fd: OwnedFd::from(theirs),
            child_fd: CONTROL_FD,
        },
        FdMapping {
            parent_fd: segment.shm().fd().as_fd().try_clone_to_owned().unwrap(),
            child_fd: SHM_FD,
        },
    ];
    mappings.extend(extra);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env("STAGE_ROLE", role)
        .env(ENV_STAGE, kind.binary_name())
        .env(ENV_SUPERVISOR_PID, std::process::id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.fd_mappings(mappings).unwrap();
    let output = cmd.spawn().unwrap().wait_with_output().unwrap();
    drop(ours);
    output
}

#[test]
fn a_panic_on_any_thread_of_a_stage_aborts_the_process() {
    if std::env::var("STAGE_ROLE").is_ok() {
        return;
    }
    let output = run_child("panic", StageKind::Render, Vec::new(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.signal(),
        Some(sigabrt()),
        "child should die by SIGABRT, got {:?}; stderr:\n{stderr}",
        output.status
    );
    assert!(stderr.contains("injected stage failure"), "{stderr}");
    assert!(
        stderr.contains("stage_bootstrap.rs"),
        "location logged: {stderr}"
    );
}

#[test]
fn api_proc_gets_its_listener_and_descriptors_are_adopted_once() {
    if std::env::var("STAGE_ROLE").is_ok() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let extra = vec![FdMapping {
        parent_fd: OwnedFd::from(listener),
        child_fd: HTTP_LISTENER_FD,
    }];
    let output = run_child(
        "api",
        StageKind::Api,
        extra,
        &[("EXPECTED_PORT", port.to_string())],
    );
    assert_eq!(
        output.status.code(),
        Some(CHILD_OK),
        "stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// SIGABRT's number, from rustix (no libc dependency in this crate).
fn sigabrt() -> i32 {
    rustix::process::Signal::ABORT.as_raw()
}

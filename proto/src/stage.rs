//! How a stage process is started and finds what the supervisor gave it.
//!
//! The supervisor places inherited endpoints at fixed descriptor numbers and names the
//! stage's identity in environment variables. A stage calls [`bootstrap`] first thing: it
//! makes every panic abort the process, arranges to die with the supervisor
//! (`PR_SET_PDEATHSIG`), checks the supervisor is still its parent, and adopts the control
//! socket, the shared-memory segment and (api-proc) the HTTP listener. `bootstrap` is the only
//! place that turns those fixed numbers into owned descriptors, exactly once per process.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use crate::exit::ExitCode;
use crate::layout::Segment;

/// Descriptor number of the control socket in a stage.
pub const CONTROL_FD: i32 = 3;
/// Descriptor number of the shared-memory segment in a stage.
pub const SHM_FD: i32 = 4;
/// Descriptor number of the HTTP listener in api-proc.
pub const HTTP_LISTENER_FD: i32 = 5;
/// Environment variable carrying the supervisor's process id.
pub const ENV_SUPERVISOR_PID: &str = "LEDFX_RS_SUPERVISOR_PID";
/// Environment variable carrying the stage kind (a sanity check against wrong wiring).
pub const ENV_STAGE: &str = "LEDFX_RS_STAGE";

/// The four pipeline stages.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum StageKind {
    Audio,
    Render,
    Output,
    Api,
}

impl StageKind {
    /// All stages in start-up order: producers before consumers, the API last.
    pub const ALL: [StageKind; 4] = [
        StageKind::Audio,
        StageKind::Render,
        StageKind::Output,
        StageKind::Api,
    ];

    /// Index into per-stage tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The binary (and process) name of the stage.
    pub fn binary_name(self) -> &'static str {
        match self {
            StageKind::Audio => "audio-proc",
            StageKind::Render => "render-proc",
            StageKind::Output => "output-proc",
            StageKind::Api => "api-proc",
        }
    }

    /// Parses a binary name back into a stage.
    pub fn from_binary_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.binary_name() == name)
    }
}

impl std::fmt::Display for StageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.binary_name())
    }
}

/// What a stage got from the supervisor.
#[derive(Debug)]
pub struct StageContext {
    /// Which stage this process is.
    pub kind: StageKind,
    /// Blocking control connection to the supervisor.
    pub control: UnixStream,
    /// The shared-memory segment.
    pub segment: Segment,
    /// The HTTP listening socket the supervisor bound (`Some` for [`StageKind::Api`] only).
    pub http_listener: Option<OwnedFd>,
}

/// Errors that make a stage unable to start.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "{ENV_STAGE} is {found:?}, but this binary is {expected}: start ledfx-rs, not the stage"
    )]
    WrongStage {
        expected: StageKind,
        found: Option<String>,
    },
    #[error("{ENV_SUPERVISOR_PID} is missing or invalid: start ledfx-rs, not the stage")]
    NoSupervisor,
    #[error("the supervisor (pid {0}) is already gone")]
    SupervisorGone(i32),
    #[error("control socket: {0}")]
    Control(std::io::Error),
    #[error("inherited descriptors: {0}")]
    Inherited(std::io::Error),
    #[error("shared memory: {0}")]
    Segment(#[from] crate::layout::LayoutError),
}

impl BootstrapError {
    /// The exit code a stage should use for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            BootstrapError::WrongStage { .. } | BootstrapError::NoSupervisor => ExitCode::Usage,
            BootstrapError::SupervisorGone(_) => ExitCode::SupervisorGone,
            BootstrapError::Segment(crate::layout::LayoutError::VersionMismatch { .. }) => {
                ExitCode::IpcVersionMismatch
            }
            BootstrapError::Control(_)
            | BootstrapError::Inherited(_)
            | BootstrapError::Segment(_) => ExitCode::Internal,
        }
    }
}

/// Makes every panic abort the process and ties it to the supervisor, then adopts its
/// inherited endpoints.
pub fn bootstrap(kind: StageKind) -> Result<StageContext, BootstrapError> {
    install_abort_on_panic();
    let found = std::env::var(ENV_STAGE).ok();
    if found.as_deref() != Some(kind.binary_name()) {
        return Err(BootstrapError::WrongStage {
            expected: kind,
            found,
        });
    }
    let supervisor: i32 = std::env::var(ENV_SUPERVISOR_PID)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(BootstrapError::NoSupervisor)?;
    // Die with the supervisor, however it dies. Then close the race where it died before
    // the request was made: our parent would already be someone else.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| BootstrapError::Control(e.into()))?;
    let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
    if parent != Some(supervisor) {
        return Err(BootstrapError::SupervisorGone(supervisor));
    }
    // Only the supervisor decides when a stage stops. Service managers that signal every
    // process of a service at once (systemd's default KillMode, s6) would otherwise kill the
    // stages before the supervisor can stop them in order; the flag is never read.
    let ignored = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, ignored.clone()).map_err(BootstrapError::Control)?;
    }
    let numbers: &[i32] = match kind {
        StageKind::Api => &[CONTROL_FD, SHM_FD, HTTP_LISTENER_FD],
        _ => &[CONTROL_FD, SHM_FD],
    };
    let mut fds = crate::shm::adopt_inherited_fds(numbers)
        .map_err(BootstrapError::Inherited)?
        .into_iter();
    // `adopt_inherited_fds` returns one descriptor per number, in order.
    let missing = || BootstrapError::Inherited(std::io::Error::other("descriptor missing"));
    let control = fds.next().ok_or_else(missing)?;
    let shm = fds.next().ok_or_else(missing)?;
    let http_listener = fds.next();
    let segment = Segment::attach(shm)?;
    // This stage's INFO+ records go to the log ring too, for `GET /api/log`.
    if let Ok(copy) = segment.duplicate() {
        crate::logring::log_to(copy, kind.binary_name());
    }
    Ok(StageContext {
        kind,
        control: UnixStream::from(control),
        segment,
        http_listener,
    })
}

/// Makes any panic, on any thread, abort the whole process after logging it.
///
/// Stages are built with unwinding (the supervisor, in the same workspace, needs it to catch
/// a panic in config validation), but a panic in a stage must stay a visible crash the
/// supervisor restarts (death by SIGABRT), not a silently dead thread or task. The message
/// and location go through `tracing` when a subscriber is set (the stages set one first),
/// else straight to stderr.
pub fn install_abort_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(non-string panic payload)");
        let location = info
            .location()
            .map_or_else(|| "unknown location".to_owned(), ToString::to_string);
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        // Captured only when RUST_BACKTRACE / RUST_LIB_BACKTRACE ask for it.
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
            _ => String::new(),
        };
        if tracing::dispatcher::has_been_set() {
            tracing::error!(%location, thread, "panic, aborting: {message}{backtrace}");
        } else {
            eprintln!("panic in thread {thread} at {location}, aborting: {message}{backtrace}");
        }
        std::process::abort();
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_names_round_trip() {
        for s in StageKind::ALL {
            assert_eq!(StageKind::from_binary_name(s.binary_name()), Some(s));
            assert_eq!(StageKind::ALL[s.index()], s);
        }
    }
}

/// What the control connection delivers to a stage's work loop.
#[derive(Debug)]
pub enum StageEvent {
    /// A new desired state.
    State(Box<crate::pipeline::PipelineState>),
    /// The supervisor asks for a clean exit.
    Shutdown,
    /// The control connection broke: the supervisor is gone, exit with
    /// [`ExitCode::SupervisorGone`].
    Disconnected,
}

/// A connected pipeline stage: the shared segment, the events from the supervisor, and the
/// write half of the control socket.
#[derive(Debug)]
pub struct StageLink {
    pub kind: StageKind,
    pub segment: Segment,
    /// Events from the control reader thread. Poll with `try_recv` from the work loop.
    pub events: std::sync::mpsc::Receiver<StageEvent>,
    writer: UnixStream,
}

/// Errors connecting a stage.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error("control handshake: {0}")]
    Handshake(#[from] crate::control::ControlError),
}

impl ConnectError {
    /// The exit code a stage should use for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ConnectError::Bootstrap(e) => e.exit_code(),
            ConnectError::Handshake(crate::control::ControlError::VersionMismatch { .. }) => {
                ExitCode::IpcVersionMismatch
            }
            ConnectError::Handshake(_) => ExitCode::SupervisorGone,
        }
    }
}

impl StageLink {
    /// Bootstraps, performs the handshake, waits for the first state snapshot and starts the
    /// control reader thread. Returns the link and that first state.
    pub fn connect(
        kind: StageKind,
    ) -> Result<(Self, crate::pipeline::PipelineState), ConnectError> {
        use crate::control::{read_msg, stage_handshake, ControlError, ToStage};
        let StageContext {
            mut control,
            segment,
            ..
        } = bootstrap(kind)?;
        stage_handshake(&mut control, kind)?;
        let first = loop {
            match read_msg::<ToStage>(&mut control)? {
                ToStage::State(state) => break state,
                ToStage::Shutdown => ExitCode::Ok.exit(),
                _ => continue,
            }
        };
        let writer = control.try_clone().map_err(ControlError::Io)?;
        let (tx, events) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || loop {
                let event = match read_msg::<ToStage>(&mut control) {
                    Ok(ToStage::State(state)) => StageEvent::State(Box::new(state)),
                    Ok(ToStage::Shutdown) => StageEvent::Shutdown,
                    Ok(_) => continue,
                    Err(_) => StageEvent::Disconnected,
                };
                let last = matches!(event, StageEvent::Disconnected | StageEvent::Shutdown);
                if tx.send(event).is_err() || last {
                    return;
                }
            })
            .map_err(ControlError::Io)?;
        Ok((
            Self {
                kind,
                segment,
                events,
                writer,
            },
            first,
        ))
    }

    /// Tells the supervisor this stage is up.
    pub fn send_ready(&mut self) -> Result<(), crate::control::ControlError> {
        crate::control::write_msg(&mut self.writer, &crate::control::ToSupervisor::Ready)
    }

    /// Records progress in this stage's heartbeat.
    pub fn beat(&self) {
        self.segment.heartbeat(self.kind).beat();
    }
}

/// Sets up `tracing` for a process: text or JSON on stderr, filtered by `LEDFX_RS_LOG`
/// (an `EnvFilter` directive, default `info`). The supervisor passes its own settings down.
pub fn init_logging(default_filter: &str) {
    init_logging_quieting(default_filter, &[]);
}

/// [`init_logging`], with the log targets in `quiet` silenced (unless `LEDFX_RS_LOG` names
/// them): libraries that log expected events as errors (the `pulseaudio` crate logs every
/// closed connection as a "Reactor error").
pub fn init_logging_quieting(default_filter: &str, quiet: &[&str]) {
    let configured = std::env::var(ENV_LOG).ok();
    let mut filter = configured
        .as_deref()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default_filter));
    let mut ring = tracing_subscriber::EnvFilter::new("info");
    for target in quiet {
        if configured.as_deref().is_some_and(|c| c.contains(target)) {
            continue;
        }
        if let Ok(directive) = format!("{target}=off").parse() {
            filter = filter.add_directive(directive);
        }
        if let Ok(directive) = format!("{target}=off").parse() {
            ring = ring.add_directive(directive);
        }
    }
    let json = std::env::var(ENV_LOG_FORMAT).is_ok_and(|f| f == "json");
    install(filter, ring, json);
}

/// Logs to standard error through `filter` (as JSON lines when `json`), and INFO+ records
/// to the log ring once [`crate::logring::log_to`] names it. The supervisor uses this too.
pub fn install_logging(filter: tracing_subscriber::EnvFilter, json: bool) {
    install(filter, tracing_subscriber::EnvFilter::new("info"), json);
}

fn install(
    filter: tracing_subscriber::EnvFilter,
    ring_filter: tracing_subscriber::EnvFilter,
    json: bool,
) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let stderr = if json {
        stderr.json().boxed()
    } else {
        stderr.boxed()
    };
    let ring = crate::logring::RingLayer.with_filter(ring_filter);
    let _ = tracing_subscriber::registry()
        .with(stderr.with_filter(filter))
        .with(ring)
        .try_init();
}

/// Environment variable with the log filter.
pub const ENV_LOG: &str = "LEDFX_RS_LOG";
/// Environment variable with the log format (`text` or `json`).
pub const ENV_LOG_FORMAT: &str = "LEDFX_RS_LOG_FORMAT";

/// Beats `kind`'s heartbeat every 50 ms from the current tokio runtime, for stages whose work
/// is a set of async tasks: if the runtime wedges, the beats stop and the supervisor restarts
/// the stage. The task runs until the runtime shuts down.
#[cfg(feature = "async")]
pub fn spawn_heartbeat<S>(segment: S, kind: StageKind)
where
    S: std::ops::Deref<Target = Segment> + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            segment.heartbeat(kind).beat();
        }
    });
}

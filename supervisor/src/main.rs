//! `ledfx-rs`: parse the command line, load the config, start and watch the stages, and shut
//! everything down in order on SIGTERM/SIGINT/SIGHUP — or, on SIGUSR1 (what
//! `POST /api/power {"action":"restart"}` sends), shut down the same way and start again.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use proto::layout::Segment;
use proto::stage::StageKind;
use supervisor::cli::{Cli, LogFormat};
use supervisor::config::ConfigStore;
use supervisor::stages::{self, StageEnv};
use supervisor::state::State;
use tokio::signal::unix::{signal, SignalKind};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter =
        std::env::var(proto::stage::ENV_LOG).unwrap_or_else(|_| cli.log_filter().to_owned());
    let format = match cli.log_format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    };
    // Children inherit these through `StageEnv::env`; the supervisor reads them too.
    let child_env = vec![
        (proto::stage::ENV_LOG.to_owned(), filter.clone()),
        (proto::stage::ENV_LOG_FORMAT.to_owned(), format.to_owned()),
    ];
    init_logging(&filter, cli.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let ending = runtime.block_on(run(cli, child_env))?;
    drop(runtime);
    match ending {
        Ending::Stop => Ok(()),
        Ending::Restart => Err(restart()),
    }
}

/// How a run ended.
enum Ending {
    Stop,
    /// Start again from the beginning: the config is read anew and every stage is new.
    Restart,
}

/// Replaces this process with a fresh `ledfx-rs` with the same arguments; returns only if
/// that fails. Every stage is already gone (and would die with the spawner thread anyway).
fn restart() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "ledfx-rs".into());
    // The running binary's file, so an upgraded binary is the one that starts.
    let program = std::env::current_exe()
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| argv0.into());
    tracing::info!(program = %program.display(), "restarting");
    let error = std::process::Command::new(&program).args(args).exec();
    anyhow::Error::new(error).context(format!("restarting {}", program.display()))
}

fn init_logging(filter: &str, format: LogFormat) {
    proto::stage::install_logging(
        tracing_subscriber_filter(filter),
        matches!(format, LogFormat::Json),
    );
}

fn tracing_subscriber_filter(filter: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

async fn run(cli: Cli, mut child_env: Vec<(String, String)>) -> anyhow::Result<Ending> {
    // Before anything is spawned, so a signal during start-up is a clean shutdown too.
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    // A closed terminal stops ledfx-rs in order instead of killing it outright.
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut usr1 = signal(SignalKind::user_defined1()).context("installing the SIGUSR1 handler")?;
    let config_dir = cli.config_dir();
    let store = ConfigStore::open(&config_dir).context("opening the config directory")?;
    let loaded = store.load();
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let doc = loaded.doc;
    let host = cli
        .host
        .clone()
        .or_else(|| {
            doc.core
                .get("host")
                .and_then(|h| h.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "0.0.0.0".to_owned());
    let port = match cli.port {
        Some(p) => p,
        None => doc
            .core
            .get("port")
            .and_then(|p| p.as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(8888),
    };
    let listener = TcpListener::bind((host.as_str(), port)).with_context(|| {
        format!("cannot listen on {host}:{port} (is another LedFx or ledfx-rs running? use --port)")
    })?;
    let url_host = if host == "0.0.0.0" || host == "::" {
        "localhost"
    } else {
        host.as_str()
    };
    child_env.push((
        "LEDFX_RS_URL".to_owned(),
        format!("http://{url_host}:{port}"),
    ));

    let stage_dir = match std::env::var_os("LEDFX_RS_STAGE_DIR") {
        Some(dir) => dir.into(),
        None => std::env::current_exe()
            .context("locating the ledfx-rs binary")?
            .parent()
            .map(ToOwned::to_owned)
            .context("the ledfx-rs binary has no parent directory")?,
    };
    for kind in StageKind::ALL {
        let path = stage_dir.join(kind.binary_name());
        if !path.is_file() {
            bail!("stage binary {} not found (build the whole workspace: cargo build --workspace --bins)", path.display());
        }
    }

    let segment = Arc::new(Segment::create().context("creating shared memory")?);
    // The supervisor's own INFO+ records join the stages' in the log ring (`GET /api/log`).
    if let Ok(copy) = segment.duplicate() {
        proto::logring::log_to(copy, "ledfx-rs");
    }
    let (mut state, set_aside) = State::new(doc, cli.audio.clone());
    for problem in &set_aside {
        tracing::warn!("config.json: {problem}");
    }
    match state.activate_startup_scene() {
        Some(Ok(done)) => tracing::info!("startup scene: {done}"),
        Some(Err(problem)) => tracing::warn!("{problem}"),
        None => {}
    }
    if let Some(copy) = store
        .preserve_original()
        .context("keeping a copy of the original config")?
    {
        tracing::info!(copy = %copy.display(), "kept a copy of the config as it was before ledfx-rs first ran here");
    }
    // Write at start only when there is nothing on disk yet: the config the user gave us
    // stays byte for byte as it was until they change something (and even then, entries
    // ledfx-rs cannot use are written back as they were).
    if !store.path().exists() {
        tracing::info!(path = %store.path().display(), "no config yet: starting with defaults");
        store.save(&state.doc).context("writing config.json")?;
    }
    let (owner, states) = supervisor::owner::spawn(state, store, Some(segment.clone()))
        .context("starting the state writer")?;
    let (health_tx, health_rx) = tokio::sync::mpsc::unbounded_channel();
    let health = tokio::spawn(supervisor::health::run(
        owner.clone(),
        states.clone(),
        health_rx,
        supervisor::health::Policy::default(),
    ));
    let fallbacks = tokio::spawn(supervisor::fallback_timer::run(owner.clone()));
    let spawner = stages::Spawner::start(tokio::runtime::Handle::current())
        .context("starting the spawner thread")?;
    let env = StageEnv {
        spawner,
        stage_dir,
        segment,
        http_listener: Arc::new(OwnedFd::from(listener)),
        owner,
        states,
        health: health_tx,
        env: child_env,
        audio_source: cli.audio.clone(),
    };
    tracing::info!(%host, port, config_dir = %config_dir.display(), audio = ?cli.audio, "ledfx-rs starting");
    // One shutdown switch per stage, so stages can be stopped in order.
    let mut running = Vec::new();
    for kind in StageKind::ALL {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        running.push((
            kind,
            stop_tx,
            tokio::spawn(stages::supervise(kind, env.clone(), stop_rx)),
        ));
    }
    drop(env);

    let (which, ending) = tokio::select! {
        _ = term.recv() => ("SIGTERM", Ending::Stop),
        _ = int.recv() => ("SIGINT", Ending::Stop),
        _ = hup.recv() => ("SIGHUP", Ending::Stop),
        _ = usr1.recv() => ("SIGUSR1", Ending::Restart),
    };
    tracing::info!(
        signal = which,
        restart = matches!(ending, Ending::Restart),
        "shutting down"
    );
    // Stages going away now are not a configuration problem: no rollbacks from here on.
    health.abort();
    fallbacks.abort();
    // In order: stop taking requests, then stop producing frames, and stop sending last so
    // output-proc can blank the devices. Each phase is bounded, so the whole shutdown stays
    // within 2 s; whatever is still running when we exit dies with us (PR_SET_PDEATHSIG).
    for phase in SHUTDOWN_ORDER {
        let stopping: Vec<_> = running
            .iter_mut()
            .filter(|(kind, _, _)| phase.contains(kind))
            .map(|(_, stop, task)| {
                let _ = stop.send(true);
                task
            })
            .collect();
        for task in stopping {
            if tokio::time::timeout(stages::SHUTDOWN_GRACE + Duration::from_millis(100), task)
                .await
                .is_err()
            {
                tracing::warn!("a stage did not stop in time");
            }
        }
    }
    tracing::info!("stopped");
    Ok(ending)
}

/// Shutdown phases: the API first, then the producers, then output.
const SHUTDOWN_ORDER: [&[StageKind]; 3] = [
    &[StageKind::Api],
    &[StageKind::Audio, StageKind::Render],
    &[StageKind::Output],
];

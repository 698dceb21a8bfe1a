//! `ledfx-rs`: parse the command line, load the config, start and watch the stages, and shut
//! everything down in order on SIGTERM/SIGINT.

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
    runtime.block_on(run(cli, child_env))
}

fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber_filter(filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn tracing_subscriber_filter(filter: &str) -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

async fn run(cli: Cli, mut child_env: Vec<(String, String)>) -> anyhow::Result<()> {
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
    let state = State::new(doc, cli.audio.clone());
    store.save(&state.doc).context("writing config.json")?;
    let (owner, states) = supervisor::owner::spawn(state, store);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let spawner = stages::Spawner::start(tokio::runtime::Handle::current())
        .context("starting the spawner thread")?;
    let env = StageEnv {
        spawner,
        stage_dir,
        segment,
        http_listener: Arc::new(OwnedFd::from(listener)),
        owner,
        states,
        shutdown: shutdown_rx,
        env: child_env,
        audio_source: cli.audio.clone(),
    };
    tracing::info!(%host, port, config_dir = %config_dir.display(), audio = ?cli.audio, "ledfx-rs starting");
    let tasks: Vec<_> = StageKind::ALL
        .into_iter()
        .map(|kind| tokio::spawn(stages::supervise(kind, env.clone())))
        .collect();
    drop(env);

    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = which, "shutting down");
    let _ = shutdown_tx.send(true);
    let all = futures_join(tasks);
    if tokio::time::timeout(Duration::from_millis(1800), all)
        .await
        .is_err()
    {
        tracing::warn!("some stages did not stop in time");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        let _ = task.await;
    }
}

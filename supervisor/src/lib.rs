//! The ledfx-rs supervisor: the one binary a user runs.
//!
//! It parses the command line, loads the LedFx-format config, creates the shared-memory
//! segment and the HTTP listener, then spawns and watches the four stage processes
//! (audio-proc, render-proc, output-proc, api-proc). It owns the desired state: every API
//! change is applied and persisted here before it is acknowledged, and every stage receives
//! the full state when it (re)starts.
//!
//! * [`cli`] — command-line options.
//! * [`config`] — LedFx's `config.json`: defaults, atomic save, last-good backup.
//! * [`state`] — the LedFx rules that turn API commands into a new desired state.
//! * [`owner`] — the task that owns the state, persists it and publishes it.
//! * [`fallback_timer`] — fires effect fallbacks when they are due.
//! * [`health`] — rolls a configuration change back when it makes a stage crash-loop.
//! * [`stages`] — spawning, handshake, heartbeat watchdog, restart with backoff, shutdown.

pub mod cli;
pub mod config;
pub mod fallback_timer;
pub mod health;
pub mod ids;
pub mod owner;
pub mod stages;
pub mod state;

//! Contracts shared by every ledfx-rs process.
//!
//! * [`shm`] — the only module with `unsafe`: memfd segments and atomic word views.
//! * [`slot`] — seqlock latest-frame slots built on those words (writer never blocks, reader
//!   never sees a torn frame, nothing stale after a SIGKILL).
//! * [`layout`] — where heartbeats, the audio frame and the per-device pixel frames live in
//!   the one segment the supervisor creates.
//! * [`logring`] — every process's recent log records, for the log WebSocket.
//! * [`audio`] — the analysis frame audio-proc publishes once per hop.
//! * [`audio_status`] — audio-proc's device list and capture state.
//! * [`control`] — typed, length-prefixed control messages with a version handshake.
//! * [`pipeline`] — the desired state handed to render-proc and output-proc.
//! * [`api`] — the calls api-proc sends to the state owner (one module per resource group)
//!   and their replies.
//! * [`feed`] — the change feed: typed events with revisions, from the state owner to api-proc.
//! * [`exit`] — the exit-code contract between stages and supervisor.
//! * [`timing`] — LedFx's refresh-rate table, shared by render-proc, output-proc and the
//!   supervisor so that rendering and sending agree on every frame period.
//! * [`stage`] — how a stage finds its inherited endpoints and ties its life to the supervisor.

pub mod api;
pub mod audio;
pub mod audio_status;
pub mod control;
pub mod exit;
pub mod feed;
pub mod layout;
pub mod logring;
pub mod pipeline;
pub mod shm;
pub mod slot;
pub mod stage;
pub mod timing;

/// `CLOCK_MONOTONIC` now, in nanoseconds. The clock is system-wide, so timestamps written by
/// one process can be compared by another.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

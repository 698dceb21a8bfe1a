//! audio-proc: the audio stage of ledfx-rs.
//!
//! Captures audio (a cpal input device, a looped WAV file, raw PCM on stdin, a built-in
//! 120 BPM synth, or nothing), resamples it into exact 500-sample hops at 30 kHz and runs a
//! LedFx-compatible analysis on every hop, publishing one [`proto::audio::AudioFrame`] per hop
//! into shared memory for render-proc.
//!
//! The crate is a library so the pieces can be tested without a supervisor:
//!
//! * [`source`] — the sources, each on its own thread, feeding lock-free SPSC rings;
//! * [`resample`] — any capture rate → exact 30 kHz hops;
//! * [`analysis`] — hop → frame ([`analysis::Analyzer`], pure, drivable offline), built from
//!   [`filter`], [`spectrum`], [`melbank`], [`onset`] (aubio's hfc detector), [`pitch`]
//!   (aubio's yinfft) and [`rhythm`] (tempo);
//! * [`status`] — the device list and capture state, published for the other processes;
//! * [`sync`] — WLED Audio Sync out: the analysis as WLED sound-reactive UDP packets;
//! * [`synth`] — the deterministic test beat;
//! * [`pipeline`] — the running stage: source thread + analysis thread behind one handle that
//!   applies new settings by diffing. `main.rs` only wires it to the supervisor.

pub mod analysis;
pub mod filter;
pub mod melbank;
pub mod onset;
pub mod pipeline;
pub mod pitch;
pub mod resample;
pub mod rhythm;
pub mod source;
pub mod spectrum;
pub mod status;
pub mod sync;
pub mod synth;

pub use analysis::{AnalysisParams, Analyzer, HOP};
pub use pipeline::{Applied, AudioPipeline, FrameSink, PipelineError, ShmSink};

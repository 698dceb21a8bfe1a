//! render-proc: the ledfx-rs render stage as a library.
//!
//! The stage binary (`main.rs`) only wires the `engine::Engine` to the supervisor link and a
//! sleep loop. Everything else lives here so that the supervisor can validate effect configs
//! with exactly the code that renders them ([`validate_effect_config`], [`effect_name`],
//! [`effect_types`]) and tests can drive the engine in-process. The library has no
//! process-level side effects (no logging set-up, no signals, no exits).
//!
//! The pure part (registry rows, field tables, typed configs, colour parsing, validation) is
//! always built. Everything that renders is behind the `stage` feature (on by default): the
//! supervisor depends on this crate with `default-features = false`, so it validates configs
//! without linking renderers, the engine or shared-memory frame writing. Each effect keeps its
//! config, implementation and tests in one file; the implementation parts are gated there.
//!
//! Always:
//! * [`effects`] — the effect registry (one file per effect) and its shared pieces.
//! * [`schema`] — config field tables and LedFx-compatible validation.
//! * [`color`] — LedFx colour parsing (§2.4) and HSV→RGB.
//!
//! With `stage`:
//! * `postprocess` — flip, mirror, background, brightness, blur (§2.3).
//! * `exp_filter`, `audio` — smoothing and the per-virtual melbank view (§1.6, §1.7).
//! * `transition` — effect-to-effect transitions (§5).
//! * `mapping` — segments, grouping, span/copy mapping, priority virtuals (§4.3–§4.5).
//! * `engine` — the per-virtual render loop over shared memory (§4.1).
//! * `rng` — the small generator behind transition masks and colour cycling.
//! * `tools` — oneshot flashes and calibration of `/api/virtuals_tools`.
//! * `vis` — virtual frames for the live preview, only while someone watches.
//! * `diag` — per-second render timing for `virtual_diag`.

#[cfg(feature = "stage")]
pub mod audio;
pub mod color;
#[cfg(feature = "stage")]
pub mod diag;
pub mod effects;
#[cfg(feature = "stage")]
pub mod engine;
#[cfg(feature = "stage")]
pub mod exp_filter;
pub mod gradient;
#[cfg(feature = "stage")]
pub mod mapping;
#[cfg(feature = "stage")]
pub mod postprocess;
pub mod presets;
#[cfg(feature = "stage")]
pub mod rng;
pub mod schema;
#[cfg(feature = "stage")]
pub mod tools;
#[cfg(feature = "stage")]
pub mod transition;
#[cfg(feature = "stage")]
pub mod vis;

pub use effects::{effect_name, effect_types, validate_effect_config};
#[cfg(feature = "stage")]
pub use engine::{Engine, EngineStats};
pub use schema::EffectConfigError;

/// One RGB pixel of an effect frame, channels nominally 0..255 (LedFx computes in floats and
/// only truncates to bytes at the device).
pub type Pixel = [f64; 3];

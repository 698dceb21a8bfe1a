//! output-proc: sends each active device's latest pixel frame to the device, in its protocol,
//! at its refresh rate.
//!
//! The library half serves two callers:
//! * the supervisor, for pure validation with no I/O ([`validate_device_config`],
//!   [`check_coexistence`], [`device_types`], [`snap_refresh_rate`], [`frame_period`]), so a
//!   device config it accepts is one this stage can drive;
//! * the stage binary (`main.rs`) and the tests, for the sender machinery (`Output`).
//!
//! The sender machinery, the sockets (tokio) and the protocol encoders are behind the `stage`
//! feature (on by default). The supervisor depends on this crate with
//! `default-features = false`, so it links only the pure part: registry rows, typed configs,
//! validation and resource claims. Each protocol keeps its config, claims, encoder and tests in
//! one file; the encoder parts are gated there.
//!
//! Modules:
//! * [`config`] — device config validation and normalisation (base keys);
//! * [`coexist`] — resource claims and the generic clash check between devices;
//! * refresh-rate timing comes from `proto::timing`, shared with render-proc;
//! * [`protocols`] — the protocol registry, one file per protocol;
//! * `sender` (stage) — one device's send loop (resolution, pacing, non-blocking sends);
//! * `output` (stage) — the set of senders, diffed against each new desired state.

pub mod coexist;
pub mod config;
#[cfg(feature = "stage")]
pub mod output;
pub mod protocols;
#[cfg(feature = "stage")]
pub mod sender;

pub use coexist::{check_coexistence, Claim, Resource, Share};
pub use config::{clean_ip_address, validate_device_config, DeviceConfigError, ValidatedDevice};
#[cfg(feature = "stage")]
pub use output::Output;
pub use proto::timing::{frame_period, snap_refresh_rate};
pub use protocols::device_types;

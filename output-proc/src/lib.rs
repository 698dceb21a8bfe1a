//! output-proc: sends each active device's latest pixel frame to the device, in its protocol,
//! at its refresh rate.
//!
//! The library half serves two callers:
//! * the supervisor, for pure validation with no I/O ([`validate_device_config`],
//!   [`check_coexistence`], [`device_types`], [`snap_refresh_rate`], [`frame_period`]), so a
//!   device config it accepts is one this stage can drive;
//! * the stage binary (`main.rs`) and the tests, for the sender machinery ([`Output`]).
//!
//! Modules:
//! * [`config`] — device config validation and normalisation (base keys);
//! * [`coexist`] — LedFx's rules for devices sharing an IP address;
//! * refresh-rate timing comes from `proto::timing`, shared with render-proc;
//! * [`protocols`] — the protocol registry, one file per protocol;
//! * [`sender`] — one device's send loop (resolution, pacing, non-blocking sends);
//! * [`output`] — the set of senders, diffed against each new desired state.

pub mod coexist;
pub mod config;
pub mod output;
pub mod protocols;
pub mod sender;

pub use coexist::check_coexistence;
pub use config::{clean_ip_address, validate_device_config, DeviceConfigError, ValidatedDevice};
pub use output::Output;
pub use proto::timing::{frame_period, snap_refresh_rate};
pub use protocols::device_types;

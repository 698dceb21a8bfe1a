//! The configuration document: LedFx's own `config.json` layout, loaded with defaults filled
//! in and saved atomically.
//!
//! Keeping LedFx's layout lets a user point ledfx-rs at an existing LedFx config directory.
//!
//! * [`doc`] — the document: entries, core defaults, entries kept because they cannot be used.
//! * [`migrate`] — older LedFx layouts brought to the current one.
//! * [`store`] — the file: atomic save with a last-good backup, and recovery at start-up.

mod doc;
pub mod migrate;
mod store;

pub use doc::{
    core_defaults, ConfigDoc, DeviceEntry, EffectEntry, Kept, Section, Segment, VirtualEntry,
    Written,
};
pub use store::{ConfigError, ConfigStore, Loaded, CONFIGURATION_VERSION};

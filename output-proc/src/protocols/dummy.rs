//! The `dummy` device (engine spec §6.10): a pixel count and nothing else.
//!
//! It is used for browser-only previews, test layouts and (with an id starting `gap-`) as a
//! layout gap placeholder. Flushing it sends nothing; the sender still counts the frames it
//! "delivered", so the device's statistics show that its output loop runs. It occupies no
//! resource, so it never clashes with another device.

use serde_json::Value;

use super::ProtocolEntry;
#[cfg(feature = "stage")]
use super::{Packets, Protocol, Transport};
use crate::coexist::no_claims;
use crate::config::{self, DeviceConfigError, RawConfig};

/// Registry row.
pub const ENTRY: ProtocolEntry = ProtocolEntry {
    device_type: "dummy",
    validate,
    claims: no_claims,
    keys: &[config::PIXEL_COUNT_KEY],
    #[cfg(feature = "stage")]
    build,
};

/// The `dummy` device keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DummyConfig {
    pub pixel_count: u32,
}

impl DummyConfig {
    /// Reads the type's keys from a raw config, filling defaults.
    pub fn from_raw(raw: &RawConfig) -> Result<Self, DeviceConfigError> {
        Ok(Self {
            pixel_count: config::pixel_count(raw)?,
        })
    }
}

fn validate(raw: &RawConfig, out: &mut RawConfig) -> Result<u32, DeviceConfigError> {
    let config = DummyConfig::from_raw(raw)?;
    out.insert("pixel_count".into(), Value::from(config.pixel_count));
    Ok(config.pixel_count)
}

#[cfg(feature = "stage")]
fn build(raw: &RawConfig) -> Result<Box<dyn Protocol>, DeviceConfigError> {
    DummyConfig::from_raw(raw)?;
    Ok(Box::new(Dummy))
}

/// The encoder that produces nothing.
#[cfg(feature = "stage")]
#[derive(Debug, Clone, Copy)]
pub struct Dummy;

#[cfg(feature = "stage")]
impl Protocol for Dummy {
    fn transport(&self) -> Transport {
        Transport::None
    }

    fn encode(&mut self, _rgb: &[u8], _out: &mut Packets) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[cfg(feature = "stage")]
    #[test]
    fn dummy_has_no_transport_and_encodes_nothing() {
        let raw = json!({"pixel_count": 10});
        let mut p = build(raw.as_object().unwrap()).unwrap();
        assert_eq!(p.transport(), Transport::None);
        let mut out = Packets::default();
        p.encode(&[1; 30], &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn dummy_only_knows_pixel_count() {
        let raw = json!({"pixel_count": 3, "ip_address": "1.2.3.4"});
        let mut out = RawConfig::new();
        assert_eq!(validate(raw.as_object().unwrap(), &mut out), Ok(3));
        assert_eq!(Value::Object(out), json!({"pixel_count": 3}));
        let bad = json!({"pixel_count": -1});
        assert!(validate(bad.as_object().unwrap(), &mut RawConfig::new()).is_err());
    }

    #[test]
    fn dummy_claims_nothing_even_with_an_address() {
        // LedFx keeps unknown keys, so a dummy may carry an `ip_address`; it sends nothing
        // there, so it cannot clash with a device that does.
        let raw = json!({"pixel_count": 3, "ip_address": "1.2.3.4", "port": 4048});
        assert_eq!((ENTRY.claims)(raw.as_object().unwrap()), Ok(Vec::new()));
    }
}

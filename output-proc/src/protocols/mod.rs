//! The output-protocol registry: one file per protocol, one row per protocol in [`PROTOCOLS`].
//!
//! A protocol file holds its typed config (validated from the device's JSON config), the
//! resources a config of it occupies ([`crate::coexist::Claim`]s, checked for clashes when a
//! device is created or changed), its encoder (a `Protocol`: frame in, datagrams out,
//! synchronous and allocation-free once warm) and its tests. Sockets, address resolution and
//! pacing are shared (see `crate::sender`), so a protocol only says *where* its bytes go
//! (`Transport`) and *what* they are. Adding E1.31, Art-Net or WLED means adding a file and a
//! table row; the conformance suite (`conformance.rs`) then refuses to pass until the new
//! network protocol has a decoder there and claims the destination it sends to.
//!
//! Config validation and claims are pure and always built; encoders, `Transport` and
//! `build_protocol` need the `stage` feature.

use crate::coexist::Claim;
use crate::config::{DeviceConfigError, DeviceKey, RawConfig};

pub mod ddp;
pub mod dummy;

#[cfg(all(test, feature = "stage"))]
mod conformance;

/// Where a protocol's packets go.
#[cfg(feature = "stage")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Nowhere: the device only exists for previews and layouts.
    None,
    /// UDP datagrams to `host` (an IP address or a hostname, resolved by the sender) at `port`.
    Udp { host: String, port: u16 },
}

/// An encoder for one device.
#[cfg(feature = "stage")]
pub trait Protocol: Send {
    /// Where the encoded packets are sent.
    fn transport(&self) -> Transport;

    /// Encodes one frame of RGB bytes (3 per pixel, exactly the device's pixel count) as
    /// packets appended to `out`. Called once per frame sent, so it may advance per-frame
    /// state such as sequence numbers.
    fn encode(&mut self, rgb: &[u8], out: &mut Packets);
}

/// Packets of one frame in one reusable buffer, so encoding allocates nothing once warm.
#[cfg(feature = "stage")]
#[derive(Debug, Default, Clone)]
pub struct Packets {
    data: Vec<u8>,
    /// End offset in `data` of each packet.
    ends: Vec<usize>,
}

#[cfg(feature = "stage")]
impl Packets {
    /// Forgets all packets, keeping the memory.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    /// Appends one packet made of `parts` laid end to end.
    pub fn push(&mut self, parts: &[&[u8]]) {
        for part in parts {
            self.data.extend_from_slice(part);
        }
        self.ends.push(self.data.len());
    }

    /// Number of packets.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no packets.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The packets in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.data[start..end])
    }
}

/// One registered protocol.
#[derive(Debug)]
pub struct ProtocolEntry {
    /// The LedFx device type (`"ddp"`, …).
    pub device_type: &'static str,
    /// Validates the type's own config keys from the raw config, writes them (defaults
    /// filled in) into the normalised config in LedFx's key order, and returns the pixel count.
    pub validate: fn(raw: &RawConfig, out: &mut RawConfig) -> Result<u32, DeviceConfigError>,
    /// The resources a validated config of this type occupies (a UDP destination and what
    /// part of the receiver behind it, a serial port, …), for the clash check between
    /// devices. A type that occupies nothing (the dummy) returns none.
    pub claims: fn(config: &RawConfig) -> Result<Vec<Claim>, DeviceConfigError>,
    /// The type's own keys as `/api/schema` describes them, in order.
    pub keys: &'static [DeviceKey],
    /// Builds the encoder from a validated config.
    #[cfg(feature = "stage")]
    pub build: fn(config: &RawConfig) -> Result<Box<dyn Protocol>, DeviceConfigError>,
}

/// Every protocol output-proc can drive.
pub const PROTOCOLS: &[ProtocolEntry] = &[ddp::ENTRY, dummy::ENTRY];

/// The registry row of `device_type`.
pub fn lookup(device_type: &str) -> Option<&'static ProtocolEntry> {
    PROTOCOLS.iter().find(|p| p.device_type == device_type)
}

/// The device types output-proc can drive, in registry order.
pub fn device_types() -> impl Iterator<Item = &'static str> {
    PROTOCOLS.iter().map(|p| p.device_type)
}

/// Why an encoder could not be built from a device spec.
#[cfg(feature = "stage")]
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("unknown device type {0:?}")]
    UnknownType(String),
    #[error("device config is not valid JSON: {0}")]
    ParseConfig(#[from] serde_json::Error),
    #[error("device config is not an object")]
    ConfigNotAnObject,
    #[error(transparent)]
    Config(#[from] DeviceConfigError),
}

/// Builds the encoder for a device from its type and validated config JSON text (as carried
/// by `proto::pipeline::DeviceSpec`).
#[cfg(feature = "stage")]
pub fn build_protocol(
    device_type: &str,
    config_json: &str,
) -> Result<Box<dyn Protocol>, BuildError> {
    let entry =
        lookup(device_type).ok_or_else(|| BuildError::UnknownType(device_type.to_owned()))?;
    let value: serde_json::Value = serde_json::from_str(config_json)?;
    let config = value.as_object().ok_or(BuildError::ConfigNotAnObject)?;
    Ok((entry.build)(config)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "stage")]
    #[test]
    fn packets_keep_their_boundaries() {
        let mut p = Packets::default();
        assert!(p.is_empty());
        p.push(&[&[1, 2], &[3]]);
        p.push(&[]);
        p.push(&[&[4]]);
        let all: Vec<&[u8]> = p.iter().collect();
        assert_eq!(all, [&[1u8, 2, 3][..], &[][..], &[4][..]]);
        assert_eq!(p.len(), 3);
        p.clear();
        assert_eq!(p.iter().count(), 0);
    }

    #[test]
    fn the_schema_keys_of_every_protocol_match_its_validation() {
        use crate::config::{DeviceKeyKind, BASE_KEYS};
        for entry in PROTOCOLS {
            let keys: Vec<&DeviceKey> = BASE_KEYS.iter().chain(entry.keys).collect();
            // Required keys without a default are what a minimal config must give.
            let mut raw = serde_json::Map::new();
            for key in &keys {
                if let DeviceKeyKind::Text { default: None } = key.kind {
                    raw.insert(key.key.into(), serde_json::json!("127.0.0.1"));
                }
            }
            let validated =
                crate::validate_device_config(entry.device_type, &serde_json::Value::Object(raw))
                    .unwrap_or_else(|e| panic!("{}: {e}", entry.device_type));
            let config = validated.config.as_object().unwrap();
            for key in &keys {
                let expected = match key.kind {
                    DeviceKeyKind::Integer { default, .. } => default.map(serde_json::Value::from),
                    DeviceKeyKind::Text { default } => default.map(serde_json::Value::from),
                    DeviceKeyKind::RefreshRate => Some(proto::timing::DEFAULT_REFRESH_RATE.into()),
                };
                if let Some(expected) = expected {
                    assert_eq!(
                        config.get(key.key),
                        Some(&expected),
                        "{}.{}",
                        entry.device_type,
                        key.key
                    );
                }
                assert!(
                    !key.description.is_empty(),
                    "{}.{}",
                    entry.device_type,
                    key.key
                );
            }
            // Every key the validation writes is described.
            for written in config.keys() {
                assert!(
                    keys.iter().any(|k| k.key == written),
                    "{}.{written} is not in the schema",
                    entry.device_type
                );
            }
            // Bounds are enforced: one past each bound is refused.
            for key in &keys {
                if let DeviceKeyKind::Integer { min, max, .. } = key.kind {
                    for outside in [min.map(|m| m - 1), max.map(|m| m + 1)]
                        .into_iter()
                        .flatten()
                    {
                        let mut raw = config.clone();
                        raw.insert(key.key.into(), outside.into());
                        let result = crate::validate_device_config(
                            entry.device_type,
                            &serde_json::Value::Object(raw),
                        );
                        assert!(
                            result.is_err(),
                            "{}.{} = {outside} accepted",
                            entry.device_type,
                            key.key
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_protocol_claims_from_its_validated_config() {
        // A minimal config every protocol accepts (unknown keys are kept, so extra ones do no
        // harm); its validated form must yield claims, or the clash check would refuse it.
        let raw = serde_json::json!({"name": "probe", "ip_address": "127.0.0.1"});
        for entry in PROTOCOLS {
            let validated = crate::validate_device_config(entry.device_type, &raw).unwrap();
            let claims = (entry.claims)(validated.config.as_object().unwrap());
            assert!(claims.is_ok(), "{}: {claims:?}", entry.device_type);
        }
    }

    #[test]
    fn registry_has_unique_types_and_lookup_finds_them() {
        let types: Vec<&str> = device_types().collect();
        assert_eq!(types, ["ddp", "dummy"]);
        for t in &types {
            assert_eq!(lookup(t).map(|e| e.device_type), Some(*t));
        }
        assert!(lookup("wled").is_none());
    }

    #[cfg(feature = "stage")]
    #[test]
    fn build_protocol_reports_what_is_wrong() {
        assert!(matches!(
            build_protocol("foo", "{}"),
            Err(BuildError::UnknownType(_))
        ));
        assert!(matches!(
            build_protocol("ddp", "{"),
            Err(BuildError::ParseConfig(_))
        ));
        assert!(matches!(
            build_protocol("ddp", "[]"),
            Err(BuildError::ConfigNotAnObject)
        ));
        assert!(matches!(
            build_protocol("ddp", r#"{"name":"a"}"#),
            Err(BuildError::Config(DeviceConfigError::MissingField {
                field: "ip_address"
            }))
        ));
        let p =
            build_protocol("ddp", r#"{"name":"a","ip_address":"10.0.0.2","port":4049}"#).unwrap();
        assert_eq!(
            p.transport(),
            Transport::Udp {
                host: "10.0.0.2".into(),
                port: 4049
            }
        );
    }
}

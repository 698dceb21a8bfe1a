//! Resource claims: what each device occupies, and the one generic check of whether two
//! devices clash (API spec §3.4 step 3: creating or changing a device that would drive what
//! another device already drives is refused).
//!
//! Each protocol declares, in its registry row (`ProtocolEntry::claims`), a pure function from
//! a validated config to the [`Claim`]s it makes: a [`Resource`] (a UDP destination, a serial
//! port, …) and the [`Share`] of it the device uses (a DDP destination id, a range of DMX
//! universes, or the whole resource). [`Claim::clash`] is the only place that compares claims,
//! so a new protocol adds a file and a registry row, not a rule here; a new *kind* of share
//! (say, OpenRGB ids) adds one variant and one arm.
//!
//! Two claims clash when they name the same resource and their shares overlap; two different
//! kinds of share on one resource always clash (one receiver port cannot tell a DDP device
//! from an E1.31 one), and so does [`Share::Whole`]. The messages are LedFx's for the pairs
//! LedFx has (clients show them); the API prefixes them with `Error creating device: `.
//!
//! Devices of types outside the registry are not driven by ledfx-rs (they are kept in
//! `config.json` untouched), so they occupy nothing and clash with nothing. Unlike LedFx,
//! which refuses any pair of devices on one address that none of its rules allows, a device
//! without claims (the dummy) never clashes either: it sends nothing anywhere.

use serde_json::Value;

use crate::config::{quote, DeviceConfigError, RawConfig};
use crate::protocols;

/// Something that devices must not drive at the same time, beyond the share each takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A UDP destination: `host` as configured (an IP address or a host name) and `port`.
    Udp { host: String, port: u16 },
    /// A serial port, by device path.
    Serial { path: String },
}

impl Resource {
    /// Whether the two name the same resource. Host names are compared as DNS does (ASCII
    /// case-insensitive, a trailing dot ignored); addresses are not resolved (no I/O here).
    fn same_as(&self, other: &Resource) -> bool {
        match (self, other) {
            (Resource::Udp { host: a, port: p }, Resource::Udp { host: b, port: q }) => {
                p == q && normal_host(a).eq_ignore_ascii_case(normal_host(b))
            }
            (Resource::Serial { path: a }, Resource::Serial { path: b }) => a == b,
            _ => false,
        }
    }
}

/// A host as the sender resolves it: surrounding blanks and a trailing dot do not matter.
fn normal_host(host: &str) -> &str {
    host.trim().trim_end_matches('.')
}

/// The part of a [`Resource`] a device occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// All of it: nothing else may use the resource.
    Whole,
    /// One DDP destination id (a DDP receiver routes packets by it).
    DdpDestination(u8),
    /// The DMX universes `first..=last` (E1.31 and Art-Net receivers route by universe).
    Universes { first: u16, last: u16 },
}

impl Share {
    /// Whether two shares of one resource overlap.
    fn overlaps(self, other: Share) -> bool {
        match (self, other) {
            (Share::DdpDestination(a), Share::DdpDestination(b)) => a == b,
            (
                Share::Universes { first, last },
                Share::Universes {
                    first: other_first,
                    last: other_last,
                },
            ) => first <= other_last && other_first <= last,
            // The whole resource overlaps everything, and two different ways of addressing
            // parts of one receiver cannot be told apart by it.
            _ => true,
        }
    }
}

/// One resource a device occupies, and how much of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub resource: Resource,
    pub share: Share,
}

impl Claim {
    /// A share of the UDP destination `host:port`.
    pub fn udp(host: String, port: u16, share: Share) -> Self {
        Self {
            resource: Resource::Udp { host, port },
            share,
        }
    }

    /// The whole serial port at `path`.
    pub fn serial(path: String) -> Self {
        Self {
            resource: Resource::Serial { path },
            share: Share::Whole,
        }
    }

    /// `None` when a new device claiming `self` can coexist with an existing device named
    /// `existing_name` that claims `existing`; otherwise the message refusing it.
    pub fn clash(&self, existing: &Claim, existing_name: &str) -> Option<String> {
        if !self.resource.same_as(&existing.resource) || !self.share.overlaps(existing.share) {
            return None;
        }
        Some(match (&self.resource, self.share, existing.share) {
            (Resource::Udp { host, port }, Share::DdpDestination(_), Share::DdpDestination(_)) => {
                format!(
                    "Ignoring {host}: Shares IP, port {port} and destination_id with existing device {existing_name}"
                )
            }
            (
                Resource::Udp { host, port },
                Share::Universes { .. },
                Share::Universes { .. },
            ) => format!(
                "Ignoring {host}: Shares IP and port {port} and starting universe with existing device {existing_name}"
            ),
            (Resource::Udp { host, .. }, _, _) => {
                format!("Ignoring {host}: Shares IP and port with existing device {existing_name}")
            }
            (Resource::Serial { path }, _, _) => {
                format!("Ignoring {path}: Shares serial port with existing device {existing_name}")
            }
        })
    }
}

/// The message refusing a device claiming `new` next to one named `existing_name` claiming
/// `existing`, for the first clashing pair; `None` when every pair can coexist.
pub fn first_clash(new: &[Claim], existing: &[Claim], existing_name: &str) -> Option<String> {
    new.iter()
        .find_map(|n| existing.iter().find_map(|e| n.clash(e, existing_name)))
}

/// The claims of a device config of `device_type`, or `None` for a type outside the registry
/// (not driven by ledfx-rs, so it occupies nothing ledfx-rs uses).
pub fn claims_of(
    device_type: &str,
    config: &Value,
) -> Result<Option<Vec<Claim>>, DeviceConfigError> {
    let Some(entry) = protocols::lookup(device_type) else {
        return Ok(None);
    };
    let raw = config
        .as_object()
        .ok_or_else(|| DeviceConfigError::NotAnObject(quote(config)))?;
    (entry.claims)(raw).map(Some)
}

/// `ProtocolEntry::claims` of a type that occupies nothing.
pub fn no_claims(_config: &RawConfig) -> Result<Vec<Claim>, DeviceConfigError> {
    Ok(Vec::new())
}

/// Decides whether a new device may be created (or changed) next to an existing one. `Err`
/// carries LedFx's message; the API prefixes it with `Error creating device: `.
///
/// The supervisor calls it against every other device: devices on different hosts claim
/// different resources, so they never clash. Configs are taken
/// at their type's defaults for missing keys, so a raw config and its validated form give the
/// same answer.
pub fn check_coexistence(
    new_type: &str,
    new: &Value,
    existing_type: &str,
    existing_name: &str,
    existing: &Value,
) -> Result<(), String> {
    let new_claims = match claims_of(new_type, new) {
        Ok(Some(claims)) => claims,
        Ok(None) => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    // An existing config that does not validate is not driven (the supervisor sets such
    // entries aside, untouched, when it loads config.json), so it occupies nothing.
    let Ok(Some(existing_claims)) = claims_of(existing_type, existing) else {
        return Ok(());
    };
    match first_clash(&new_claims, &existing_claims, existing_name) {
        Some(message) => Err(message),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(new_type: &str, new: Value, old_type: &str, old: Value) -> Result<(), String> {
        check_coexistence(new_type, &new, old_type, "Test Strip A", &old)
    }

    #[test]
    fn ddp_pairs_need_another_port_or_destination() {
        let a = json!({"ip_address": "127.0.0.1", "port": 4048, "destination_id": 1});
        assert_eq!(
            check("ddp", a.clone(), "ddp", a.clone()),
            Err("Ignoring 127.0.0.1: Shares IP, port 4048 and destination_id with existing device Test Strip A".into())
        );
        // Raw config without the keys means the defaults.
        assert!(check("ddp", json!({"ip_address": "127.0.0.1"}), "ddp", a.clone()).is_err());
        assert_eq!(
            check(
                "ddp",
                json!({"ip_address": "127.0.0.1", "destination_id": 2}),
                "ddp",
                a.clone()
            ),
            Ok(())
        );
        assert_eq!(
            check(
                "ddp",
                json!({"ip_address": "127.0.0.1", "port": 4049}),
                "ddp",
                a.clone()
            ),
            Ok(())
        );
        assert!(check(
            "ddp",
            json!({"ip_address": "127.0.0.1", "port": 4048.0}),
            "ddp",
            a
        )
        .is_err());
    }

    #[test]
    fn hosts_compare_like_dns_names_and_other_hosts_never_clash() {
        let old = json!({"ip_address": "wled-porch.local"});
        assert_eq!(
            check("ddp", json!({"ip_address": "WLED-Porch.local."}), "ddp", old.clone()),
            Err("Ignoring WLED-Porch.local.: Shares IP, port 4048 and destination_id with existing device Test Strip A".into())
        );
        assert_eq!(
            check(
                "ddp",
                json!({"ip_address": "wled-garden.local"}),
                "ddp",
                old
            ),
            Ok(())
        );
    }

    #[test]
    fn unregistered_types_and_the_dummy_occupy_nothing() {
        let ddp = json!({"ip_address": "h", "port": 4048});
        // Types ledfx-rs does not drive: kept in config.json, never in the way.
        assert_eq!(
            check("ddp", ddp.clone(), "wled", json!({"ip_address": "h"})),
            Ok(())
        );
        assert_eq!(
            check(
                "ddp",
                ddp.clone(),
                "udp",
                json!({"ip_address": "h", "port": 4048})
            ),
            Ok(())
        );
        assert_eq!(check("zengee", json!({}), "zengee", json!({})), Ok(()));
        // A dummy sends nothing, even when it carries an address.
        assert_eq!(
            check("dummy", json!({"ip_address": "h"}), "ddp", ddp.clone()),
            Ok(())
        );
        assert_eq!(
            check("ddp", ddp.clone(), "dummy", json!({"ip_address": "h"})),
            Ok(())
        );
        // An existing entry that does not validate is not driven either.
        assert_eq!(check("ddp", ddp, "ddp", json!({"ip_address": 7})), Ok(()));
    }

    #[test]
    fn a_new_config_that_does_not_validate_is_refused_with_its_error() {
        assert_eq!(
            check("ddp", json!({"port": 1}), "ddp", json!({"ip_address": "h"})),
            Err("ip_address: required".into())
        );
    }

    #[test]
    fn universe_ranges_clash_only_when_they_overlap() {
        let universes =
            |first, last| Claim::udp("h".into(), 5568, Share::Universes { first, last });
        assert_eq!(universes(1, 3).clash(&universes(4, 9), "B"), None);
        assert_eq!(
            universes(1, 4).clash(&universes(4, 9), "B"),
            Some(
                "Ignoring h: Shares IP and port 5568 and starting universe with existing device B"
                    .into()
            )
        );
        assert!(universes(5, 5).clash(&universes(4, 9), "B").is_some());
        // Same universes on another port (E1.31 next to Art-Net) are another resource.
        let artnet = Claim::udp("h".into(), 6454, Share::Universes { first: 1, last: 3 });
        assert_eq!(universes(1, 3).clash(&artnet, "B"), None);
    }

    #[test]
    fn different_shares_of_one_port_and_whole_resources_always_clash() {
        let ddp = Claim::udp("h".into(), 21324, Share::DdpDestination(1));
        let wled = Claim::udp("h".into(), 21324, Share::Whole);
        let e131 = Claim::udp("h".into(), 21324, Share::Universes { first: 1, last: 1 });
        let general = "Ignoring h: Shares IP and port with existing device B";
        assert_eq!(ddp.clash(&wled, "B").as_deref(), Some(general));
        assert_eq!(wled.clash(&ddp, "B").as_deref(), Some(general));
        assert_eq!(e131.clash(&ddp, "B").as_deref(), Some(general));
        assert_eq!(wled.clash(&wled, "B").as_deref(), Some(general));
        let elsewhere = Claim::udp("h".into(), 21325, Share::Whole);
        assert_eq!(wled.clash(&elsewhere, "B"), None);
        // A serial port is never the same resource as a UDP destination.
        let serial = Claim::serial("/dev/ttyUSB0".into());
        assert_eq!(serial.clash(&wled, "B"), None);
        assert_eq!(
            serial.clash(&Claim::serial("/dev/ttyUSB0".into()), "B"),
            Some("Ignoring /dev/ttyUSB0: Shares serial port with existing device B".into())
        );
        assert_eq!(
            serial.clash(&Claim::serial("/dev/ttyUSB1".into()), "B"),
            None
        );
    }

    #[test]
    fn the_first_clashing_pair_decides() {
        let a = Claim::udp("h".into(), 1, Share::DdpDestination(1));
        let b = Claim::udp("h".into(), 2, Share::DdpDestination(1));
        let c = Claim::udp("h".into(), 3, Share::Whole);
        assert_eq!(
            first_clash(&[a.clone(), c.clone()], std::slice::from_ref(&b), "B"),
            None
        );
        assert_eq!(
            first_clash(&[a, b.clone()], &[c, b], "B"),
            Some("Ignoring h: Shares IP, port 2 and destination_id with existing device B".into())
        );
        assert_eq!(first_clash(&[], &[], "B"), None);
    }
}

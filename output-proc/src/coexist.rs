//! LedFx's rules for two devices that share an IP address (API spec §3.4 step 3).
//!
//! Creating a device whose address equals an existing device's is refused unless a rule says
//! the pair can share it: different universes (E1.31/Art-Net), OpenRGB ids, OSC targets, DDP
//! port/destination, Hue groups, or simply different ports. The rules run in LedFx's order and
//! the first that decides wins; the messages are LedFx's, because clients show them.
//!
//! The rules cover every LedFx device type, not only those output-proc drives, because a
//! `config.json` from LedFx may hold any of them. A key missing from either config is taken
//! at its type's default, so the answer is the same for a raw config and a validated one
//! (LedFx itself fails with a `KeyError` in that case).

use serde_json::Value;

/// E1.31's port; an `e131` config has no `port` key but occupies this one.
const E131_PORT: u16 = 5568;

/// Defaults of the keys the rules compare, per device type.
fn default_of(device_type: &str, key: &str) -> Option<Value> {
    let value = match (device_type, key) {
        ("ddp", "port") => Value::from(4048),
        ("ddp", "destination_id") => Value::from(1),
        ("e131", "universe") => Value::from(1),
        ("artnet", "universe") => Value::from(0),
        ("artnet", "port") => Value::from(6454),
        ("udp", "port") => Value::from(21324),
        ("openrgb", "openrgb_id") => Value::from(0),
        ("openrgb", "port") => Value::from(6742),
        ("osc", "port") => Value::from(9000),
        ("osc", "path") => Value::from("/0/dmx/{address}"),
        ("osc", "starting_addr") => Value::from(0),
        ("nanoleaf", "port") => Value::from(16021),
        _ => return None,
    };
    Some(value)
}

/// The value of `key` in a config, or the type's default (`None` if neither exists).
fn get(device_type: &str, config: &Value, key: &str) -> Option<Value> {
    match config.get(key) {
        Some(Value::Null) | None => default_of(device_type, key),
        Some(value) => Some(value.clone()),
    }
}

/// Python's `==` on the values LedFx compares: numbers by value, everything else exactly.
fn same(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A value as Python's f-string would print it (strings bare, whole numbers without `.0`).
fn show(value: &Option<Value>) -> String {
    match value {
        None | Some(Value::Null) => "None".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Some(other) => other.to_string(),
    }
}

/// The port a device occupies for the general rule: its `port` key, else 5568 for `e131`.
fn general_port(device_type: &str, config: &Value) -> Option<Value> {
    match config.get("port") {
        Some(Value::Null) | None if device_type == "e131" => Some(Value::from(E131_PORT)),
        Some(Value::Null) | None => default_of(device_type, "port"),
        Some(port) => Some(port.clone()),
    }
}

/// Decides whether a new device may share its IP address with an existing one. Call it only
/// when the two addresses (or resolved addresses) are equal. `Err` carries LedFx's message;
/// the API prefixes it with `Error creating device: `.
pub fn check_coexistence(
    new_type: &str,
    new: &Value,
    existing_type: &str,
    existing_name: &str,
    existing: &Value,
) -> Result<(), String> {
    let ip = new
        .get("ip_address")
        .map(|v| show(&Some(v.clone())))
        .unwrap_or_else(|| "unknown".to_owned());
    let pair = |a: &str, b: &str| new_type == a && existing_type == b;
    let new_get = |key: &str| get(new_type, new, key);
    let old_get = |key: &str| get(existing_type, existing, key);

    if pair("wled", "wled") {
        return Err(format!(
            "Ignoring {ip}: WLED device already exists as {existing_name}"
        ));
    }
    let universe_types = ["e131", "artnet"];
    if universe_types.contains(&new_type) && universe_types.contains(&existing_type) {
        if same(&new_get("universe"), &old_get("universe")) {
            let port = match new.get("port") {
                Some(port) if !port.is_null() => show(&Some(port.clone())),
                _ => E131_PORT.to_string(),
            };
            return Err(format!(
                "Ignoring {ip}: Shares IP and port {port} and starting universe with existing device {existing_name}"
            ));
        }
        return Ok(());
    }
    if pair("openrgb", "openrgb") {
        if same(&new_get("openrgb_id"), &old_get("openrgb_id")) {
            return Err(format!(
                "Ignoring {ip}: Shares IP and OpenRGB ID with existing device {existing_name}"
            ));
        }
        return Ok(());
    }
    if pair("osc", "osc") {
        let all_same = ["port", "path", "starting_addr"]
            .iter()
            .all(|key| same(&new_get(key), &old_get(key)));
        if all_same {
            return Err(format!(
                "Ignoring {ip}: Shares IP, Port, Path and starting address with existing device {existing_name}"
            ));
        }
        return Ok(());
    }
    if pair("ddp", "ddp") {
        let port = new_get("port");
        if same(&port, &old_get("port"))
            && same(&new_get("destination_id"), &old_get("destination_id"))
        {
            return Err(format!(
                "Ignoring {ip}: Shares IP, port {} and destination_id with existing device {existing_name}",
                show(&port)
            ));
        }
        return Ok(());
    }
    if pair("hue", "hue") {
        if same(&new_get("group_name"), &old_get("group_name")) {
            return Err(format!(
                "Ignoring {ip}: Shares IP and group_name with existing device {existing_name}"
            ));
        }
        return Ok(());
    }
    let new_port = general_port(new_type, new);
    let old_port = general_port(existing_type, existing);
    if new_port.is_some() && old_port.is_some() {
        if same(&new_port, &old_port) {
            return Err(format!(
                "Ignoring {ip}: Shares IP and port with existing device {existing_name}"
            ));
        }
        return Ok(());
    }
    Err(format!(
        "Ignoring {ip}: Shares IP with existing device {existing_name} and no coexistence rule matched"
    ))
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
    fn wled_pairs_are_always_rejected() {
        assert_eq!(
            check("wled", json!({"ip_address": "10.0.0.9"}), "wled", json!({})),
            Err("Ignoring 10.0.0.9: WLED device already exists as Test Strip A".into())
        );
    }

    #[test]
    fn universe_rules_for_e131_and_artnet() {
        assert_eq!(
            check("e131", json!({"ip_address": "h", "universe": 1}), "artnet", json!({"universe": 1})),
            Err("Ignoring h: Shares IP and port 5568 and starting universe with existing device Test Strip A".into())
        );
        assert_eq!(
            check(
                "artnet",
                json!({"ip_address": "h", "universe": 3, "port": 6454}),
                "e131",
                json!({"universe": 2})
            ),
            Ok(())
        );
        assert_eq!(
            check("artnet", json!({"ip_address": "h", "universe": 2, "port": 6454}), "e131", json!({"universe": 2})),
            Err("Ignoring h: Shares IP and port 6454 and starting universe with existing device Test Strip A".into())
        );
        // Defaults: e131 universe 1, artnet universe 0.
        assert_eq!(
            check("e131", json!({"ip_address": "h"}), "artnet", json!({})),
            Ok(())
        );
    }

    #[test]
    fn openrgb_osc_and_hue_rules() {
        assert!(check(
            "openrgb",
            json!({"ip_address": "h"}),
            "openrgb",
            json!({"openrgb_id": 0})
        )
        .is_err());
        assert_eq!(
            check(
                "openrgb",
                json!({"ip_address": "h", "openrgb_id": 1}),
                "openrgb",
                json!({"openrgb_id": 0})
            ),
            Ok(())
        );
        assert_eq!(
            check("osc", json!({"ip_address": "h"}), "osc", json!({"port": 9000})),
            Err("Ignoring h: Shares IP, Port, Path and starting address with existing device Test Strip A".into())
        );
        assert_eq!(
            check(
                "osc",
                json!({"ip_address": "h", "starting_addr": 5}),
                "osc",
                json!({})
            ),
            Ok(())
        );
        assert_eq!(
            check(
                "hue",
                json!({"ip_address": "h", "group_name": "x"}),
                "hue",
                json!({"group_name": "x"})
            ),
            Err("Ignoring h: Shares IP and group_name with existing device Test Strip A".into())
        );
        assert_eq!(
            check(
                "hue",
                json!({"ip_address": "h", "group_name": "x"}),
                "hue",
                json!({"group_name": "y"})
            ),
            Ok(())
        );
    }

    #[test]
    fn general_port_rule_and_fallback() {
        // DDP next to a UDP device on another port may share the address.
        assert_eq!(
            check(
                "ddp",
                json!({"ip_address": "h", "port": 4048}),
                "udp",
                json!({"port": 21324})
            ),
            Ok(())
        );
        assert_eq!(
            check(
                "udp",
                json!({"ip_address": "h", "port": 5568}),
                "e131",
                json!({"universe": 1})
            ),
            Err("Ignoring h: Shares IP and port with existing device Test Strip A".into())
        );
        // A dummy has no port: nothing allows the pair.
        assert_eq!(
            check("dummy", json!({"ip_address": "h"}), "ddp", json!({"port": 4048})),
            Err("Ignoring h: Shares IP with existing device Test Strip A and no coexistence rule matched".into())
        );
        assert_eq!(
            check("ddp", json!({"ip_address": "h"}), "hue", json!({"group_name": "g"})),
            Err("Ignoring h: Shares IP with existing device Test Strip A and no coexistence rule matched".into())
        );
        assert_eq!(
            check("zengee", json!({}), "zengee", json!({})),
            Err("Ignoring unknown: Shares IP with existing device Test Strip A and no coexistence rule matched".into())
        );
    }
}

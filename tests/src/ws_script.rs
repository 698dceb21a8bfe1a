//! A scripted WebSocket session, run the same way against LedFx 2.2.1 (to record what it
//! sends) and against ledfx-rs (to compare with the recording).
//!
//! A script is a list of steps: `{"connect": "a"}` opens client `a`; `{"send": "a",
//! "message": {...}}` (or `"text": "..."`) sends a frame; `{"http": {"method", "path",
//! "body"?}, "record"?: true}` makes a REST call (recording its answer if asked);
//! `{"expect": "a"}` records every message `a` receives until it has been quiet for a
//! while; `{"close": "a"}` closes `a`. Recorded messages are normalised so that two runs
//! compare equal: each client's id becomes `<client a>`, other UUIDs `<uuid>`, and
//! timestamps `<time>`.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::http;
use crate::ws::WsClient;

/// How long a client must stay quiet before an `expect` step ends. LedFx delivers events
/// from its event loop within a few milliseconds; this leaves room for a loaded machine.
const QUIET: Duration = Duration::from_millis(700);
/// Messages recorded per `expect` at most (a runaway stream stops the step).
const LIMIT: usize = 200;
/// Keys whose values are wall-clock times.
const TIME_KEYS: [&str; 2] = ["connected_at", "timestamp_ms"];

/// What one step recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub step: usize,
    /// The step itself, for reports.
    pub what: Value,
    pub got: Value,
}

/// Runs `steps` against the server on `port`.
pub fn run(port: u16, steps: &[Value]) -> Result<Vec<Recorded>, String> {
    let mut clients: HashMap<String, WsClient> = HashMap::new();
    let mut names: Vec<(String, String)> = Vec::new();
    let mut recorded = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let client_of = |key: &str| step[key].as_str().map(str::to_owned);
        if let Some(name) = client_of("connect") {
            let client = WsClient::connect(port).map_err(|e| format!("step {n}: {e}"))?;
            names.push((client.client_id.clone(), name.clone()));
            clients.insert(name, client);
        } else if let Some(name) = client_of("send") {
            let client = clients
                .get_mut(&name)
                .ok_or(format!("step {n}: no client {name}"))?;
            match (&step["text"], &step["message"]) {
                (Value::String(text), _) => client.send_text(text),
                (_, message) => client.send(message),
            }
        } else if let Some(name) = client_of("expect") {
            let client = clients
                .get_mut(&name)
                .ok_or(format!("step {n}: no client {name}"))?;
            let got = Value::Array(client.drain(QUIET, LIMIT));
            recorded.push(Recorded {
                step: n,
                what: step.clone(),
                got: normalise(&got, &names),
            });
        } else if let Some(name) = client_of("close") {
            clients.remove(&name);
        } else if let Some(request) = step.get("http") {
            let body = request
                .get("body")
                .map(Value::to_string)
                .unwrap_or_default();
            let method = request["method"].as_str().unwrap_or("GET");
            let path = request["path"]
                .as_str()
                .ok_or(format!("step {n}: http without path"))?;
            let (status, text) =
                http(port, method, path, &body).map_err(|e| format!("step {n}: {e}"))?;
            if step["record"].as_bool().unwrap_or(false) {
                let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                let got = json!({"status": status, "body": body});
                recorded.push(Recorded {
                    step: n,
                    what: step.clone(),
                    got: normalise(&got, &names),
                });
            }
        } else if let Some(ms) = step["sleep_ms"].as_u64() {
            std::thread::sleep(Duration::from_millis(ms));
        } else {
            return Err(format!("step {n}: unknown step {step}"));
        }
    }
    Ok(recorded)
}

fn looks_like_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn normal_text(text: &str, names: &[(String, String)]) -> String {
    if let Some((_, name)) = names.iter().find(|(id, _)| id == text) {
        return format!("<client {name}>");
    }
    if looks_like_uuid(text) {
        return "<uuid>".into();
    }
    if let Some(rest) = text.strip_prefix("b-") {
        if looks_like_uuid(rest) {
            return "b-<uuid>".into();
        }
    }
    // `Client-<first 8 of the id>`
    for (id, name) in names {
        if text.contains(&id[..8]) {
            return text.replace(&id[..8], &format!("<client {name} prefix>"));
        }
    }
    text.to_owned()
}

/// The value with client ids, other UUIDs and times replaced by placeholders.
pub fn normalise(value: &Value, names: &[(String, String)]) -> Value {
    match value {
        Value::String(text) => Value::String(normal_text(text, names)),
        Value::Array(items) => Value::Array(items.iter().map(|v| normalise(v, names)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if TIME_KEYS.contains(&k.as_str()) && v.is_number() {
                        Value::from("<time>")
                    } else {
                        normalise(v, names)
                    };
                    (normal_text(k, names), v)
                })
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

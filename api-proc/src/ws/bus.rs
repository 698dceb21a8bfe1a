//! The LedFx event bus: every open WebSocket, what each subscribed to, and who said who it
//! is (ledfx-api.md §4.3–4.5, §3.23).
//!
//! [`Bus::fire`] delivers an event to every matching subscription, as one message per
//! subscription in the connection's [`Outbox`]. It never waits on a client: a slow one only
//! loses its own backlog (outbox.rs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Map, Value};

use super::outbox::Outbox;

/// The client types LedFx accepts; anything else becomes `unknown`.
const CLIENT_TYPES: [&str; 7] = [
    "controller",
    "visualiser",
    "mobile",
    "display",
    "api",
    "not-set",
    "unknown",
];

/// The event whose messages go to the per-`vis_id` slots instead of the control queue.
pub const VISUALISATION_UPDATE: &str = "visualisation_update";

/// One event as LedFx's clients see it: its type and its fields, spread into the message.
#[derive(Debug, Clone, PartialEq)]
pub struct LedfxEvent {
    pub event_type: String,
    pub fields: Map<String, Value>,
}

impl LedfxEvent {
    /// An event with the fields of `fields` (an object; anything else means no fields).
    pub fn new(event_type: &str, fields: Value) -> Self {
        Self {
            event_type: event_type.to_owned(),
            fields: match fields {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }

    /// Whether every key of `filter` is a field with an equal value (`event_type` counts
    /// as a field, as in LedFx).
    fn matches(&self, filter: &Map<String, Value>) -> bool {
        // Events have a handful of fields: a scan beats hashing each key (this runs for every
        // subscription of the event's type, per live-preview frame).
        let field = |key: &str| self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
        filter.iter().all(|(key, want)| match key.as_str() {
            "event_type" => want.as_str() == Some(self.event_type.as_str()),
            _ => field(key) == Some(want),
        })
    }

    /// The message body after `{"id":N,"type":"event",`, serialised once per event.
    fn tail(&self) -> String {
        let mut tail = format!("\"event_type\":{}", Value::from(self.event_type.as_str()));
        let fields = Value::Object(self.fields.clone()).to_string();
        if self.fields.is_empty() {
            tail.push('}');
        } else {
            tail.push(',');
            tail.push_str(&fields[1..]);
        }
        tail
    }
}

/// What a client said about itself (`set_client_info` / `update_client_info`).
#[derive(Debug, Clone)]
struct ClientInfo {
    name: String,
    kind: String,
    device_id: Value,
    /// Order of identification, so `GET /api/clients` lists clients as LedFx does.
    seq: u64,
}

#[derive(Debug)]
struct Subscription {
    id: i64,
    event_type: String,
    filter: Map<String, Value>,
}

#[derive(Debug)]
struct Connection {
    ip: String,
    /// Seconds since the Unix epoch.
    connected_at: f64,
    info: Option<ClientInfo>,
    subscriptions: Vec<Subscription>,
    outbox: Arc<Outbox>,
}

#[derive(Debug, Default)]
struct Connections {
    by_id: HashMap<String, Connection>,
    next_seq: u64,
}

/// Cheap handle to the bus.
#[derive(Debug, Clone, Default)]
pub struct Bus {
    inner: Arc<Mutex<Connections>>,
}

/// What `set_client_info` / `update_client_info` resolved.
#[derive(Debug, PartialEq)]
pub struct Identified {
    pub name: String,
    pub kind: String,
    /// The requested name was taken and a ` (n)` suffix was added.
    pub name_conflict: bool,
}

fn client_type(requested: Option<&str>) -> String {
    match requested {
        Some(kind) if CLIENT_TYPES.contains(&kind) => kind.to_owned(),
        _ => "unknown".to_owned(),
    }
}

fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

impl Bus {
    fn lock(&self) -> MutexGuard<'_, Connections> {
        // Every operation leaves the map consistent, so a poisoned lock is still good.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection and returns its client id and outbox.
    pub fn connect(&self, ip: String) -> (String, Arc<Outbox>) {
        let client_id = uuid::Uuid::new_v4().to_string();
        let outbox = Arc::new(Outbox::default());
        self.lock().by_id.insert(
            client_id.clone(),
            Connection {
                ip,
                connected_at: now_epoch(),
                info: None,
                subscriptions: Vec::new(),
                outbox: outbox.clone(),
            },
        );
        (client_id, outbox)
    }

    /// Forgets a connection, its subscriptions and its info; `true` if it was there.
    pub fn disconnect(&self, client_id: &str) -> bool {
        self.lock().by_id.remove(client_id).is_some()
    }

    /// Delivers `event` to every subscription that wants it.
    pub fn fire(&self, event: &LedfxEvent) {
        let tail = event.tail();
        let vis_id = (event.event_type == VISUALISATION_UPDATE)
            .then(|| event.fields.get("vis_id").map(Value::to_string))
            .flatten();
        let connections = self.lock();
        for connection in connections.by_id.values() {
            for subscription in &connection.subscriptions {
                if subscription.event_type != event.event_type
                    || !event.matches(&subscription.filter)
                {
                    continue;
                }
                let message = format!("{{\"id\":{},\"type\":\"event\",{tail}", subscription.id);
                match &vis_id {
                    Some(vis_id) => connection.outbox.push_frame(vis_id, message),
                    None => connection.outbox.push_control(message),
                }
            }
        }
    }

    /// Adds a subscription; one with the same id is replaced (LedFx would keep both and
    /// deliver twice, which no client wants).
    pub fn subscribe(
        &self,
        client_id: &str,
        id: i64,
        event_type: &str,
        filter: Map<String, Value>,
    ) {
        if let Some(connection) = self.lock().by_id.get_mut(client_id) {
            connection.subscriptions.retain(|s| s.id != id);
            connection.subscriptions.push(Subscription {
                id,
                event_type: event_type.to_owned(),
                filter,
            });
        }
    }

    /// Removes the subscription `id`; an unknown id is ignored.
    pub fn unsubscribe(&self, client_id: &str, id: i64) {
        if let Some(connection) = self.lock().by_id.get_mut(client_id) {
            connection.subscriptions.retain(|s| s.id != id);
        }
    }

    /// Whether any connection subscribed to `event_type` (so producers of costly events can
    /// skip the work).
    pub fn wanted(&self, event_type: &str) -> bool {
        self.lock()
            .by_id
            .values()
            .any(|c| c.subscriptions.iter().any(|s| s.event_type == event_type))
    }

    /// The `(vis_id, is_device)` filter values of every `visualisation_update` subscription
    /// (`None`: that key is not filtered on).
    pub fn visualisation_wants(&self) -> Vec<(Option<Value>, Option<Value>)> {
        self.lock()
            .by_id
            .values()
            .flat_map(|c| &c.subscriptions)
            .filter(|s| s.event_type == VISUALISATION_UPDATE)
            .map(|s| {
                (
                    s.filter.get("vis_id").cloned(),
                    s.filter.get("is_device").cloned(),
                )
            })
            .collect()
    }

    /// `set_client_info`: stores the client's info, resolving a name another client uses with
    /// ` (2)`, ` (3)`, …; an empty name becomes `Client-<first 8 of the id>`.
    pub fn set_info(
        &self,
        client_id: &str,
        name: Option<&str>,
        kind: Option<&str>,
        device_id: Value,
    ) -> Option<Identified> {
        let mut connections = self.lock();
        let wanted = match name {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => default_name(client_id),
        };
        let taken = |candidate: &str| {
            connections.by_id.iter().any(|(id, c)| {
                id != client_id && c.info.as_ref().is_some_and(|i| i.name == candidate)
            })
        };
        let mut resolved = wanted.clone();
        let mut counter = 1;
        while taken(&resolved) {
            counter += 1;
            resolved = format!("{wanted} ({counter})");
        }
        let seq = connections.next_seq;
        connections.next_seq += 1;
        let connection = connections.by_id.get_mut(client_id)?;
        let kind = client_type(kind);
        connection.info = Some(ClientInfo {
            name: resolved.clone(),
            kind: kind.clone(),
            device_id,
            seq: connection.info.as_ref().map_or(seq, |i| i.seq),
        });
        Some(Identified {
            name_conflict: resolved != wanted,
            name: resolved,
            kind,
        })
    }

    /// `update_client_info`: changes the name and/or type. A name another client uses is
    /// refused with LedFx's message; nothing changes then.
    pub fn update_info(
        &self,
        client_id: &str,
        name: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Identified, String> {
        let mut connections = self.lock();
        if let Some(name) = name {
            let taken = connections
                .by_id
                .iter()
                .any(|(id, c)| id != client_id && c.info.as_ref().is_some_and(|i| i.name == name));
            if taken {
                return Err(format!("Name '{name}' is already taken by another client"));
            }
        }
        let seq = connections.next_seq;
        connections.next_seq += 1;
        let connection = connections
            .by_id
            .get_mut(client_id)
            .ok_or_else(|| "Client is not connected".to_owned())?;
        let info = connection.info.get_or_insert_with(|| ClientInfo {
            name: default_name(client_id),
            kind: "unknown".to_owned(),
            device_id: Value::Null,
            seq,
        });
        if let Some(name) = name {
            info.name = name.to_owned();
        }
        if kind.is_some() {
            info.kind = client_type(kind);
        }
        Ok(Identified {
            name: info.name.clone(),
            kind: info.kind.clone(),
            name_conflict: false,
        })
    }

    /// The sender's identity for a broadcast: its name (or the default one) and type.
    pub fn identity(&self, client_id: &str) -> (String, String) {
        let connections = self.lock();
        match connections
            .by_id
            .get(client_id)
            .and_then(|c| c.info.as_ref())
        {
            Some(info) => (info.name.clone(), info.kind.clone()),
            None => (default_name(client_id), "unknown".to_owned()),
        }
    }

    /// The identified clients as `(id, name, type)`, in identification order.
    pub fn identified(&self) -> Vec<(String, String, String)> {
        let connections = self.lock();
        let mut clients: Vec<(&String, &ClientInfo)> = connections
            .by_id
            .iter()
            .filter_map(|(id, c)| c.info.as_ref().map(|info| (id, info)))
            .collect();
        clients.sort_by_key(|(_, info)| info.seq);
        clients
            .into_iter()
            .map(|(id, info)| (id.clone(), info.name.clone(), info.kind.clone()))
            .collect()
    }

    /// `GET /api/clients`: the identified clients by id.
    pub fn clients(&self) -> Value {
        let connections = self.lock();
        let mut clients: Vec<(&String, &Connection, &ClientInfo)> = connections
            .by_id
            .iter()
            .filter_map(|(id, c)| c.info.as_ref().map(|info| (id, c, info)))
            .collect();
        clients.sort_by_key(|(_, _, info)| info.seq);
        let listed: Map<String, Value> = clients
            .into_iter()
            .map(|(id, c, info)| {
                let entry = json!({
                    "ip": c.ip,
                    "name": info.name,
                    "type": info.kind,
                    "device_id": info.device_id,
                    "connected_at": c.connected_at,
                });
                (id.clone(), entry)
            })
            .collect();
        Value::Object(listed)
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sends `last` (the `shutdown` event, to its subscribers) and closes every connection.
    pub fn close_all(&self, last: &LedfxEvent) {
        self.fire(last);
        for connection in self.lock().by_id.values() {
            connection.outbox.close(None);
        }
    }
}

fn default_name(client_id: &str) -> String {
    format!("Client-{}", client_id.get(..8).unwrap_or(client_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribed(bus: &Bus, id: i64, event_type: &str, filter: Value) -> (String, Arc<Outbox>) {
        let (client, outbox) = bus.connect("127.0.0.1".into());
        let Value::Object(filter) = filter else {
            panic!("filter must be an object")
        };
        bus.subscribe(&client, id, event_type, filter);
        (client, outbox)
    }

    #[test]
    fn an_event_reaches_each_matching_subscription_with_its_id() {
        let bus = Bus::default();
        let (_, all) = subscribed(&bus, 7, "effect_set", json!({}));
        let (_, porch) = subscribed(&bus, 8, "effect_set", json!({"virtual_id": "porch"}));
        let (_, other) = subscribed(&bus, 9, "scene_activated", json!({}));
        bus.fire(&LedfxEvent::new(
            "effect_set",
            json!({"virtual_id": "shed", "active": false}),
        ));
        assert_eq!(
            all.take().control,
            [
                r#"{"id":7,"type":"event","event_type":"effect_set","virtual_id":"shed","active":false}"#
            ]
        );
        assert!(porch.take().control.is_empty(), "filter on another virtual");
        assert!(other.take().control.is_empty(), "another event type");
        bus.fire(&LedfxEvent::new(
            "effect_set",
            json!({"virtual_id": "porch"}),
        ));
        assert_eq!(porch.take().control.len(), 1);
        bus.fire(&LedfxEvent::new("colors_updated", Value::Null));
        let (_, colors) = subscribed(&bus, 1, "colors_updated", json!({}));
        bus.fire(&LedfxEvent::new("colors_updated", Value::Null));
        assert_eq!(
            colors.take().control,
            [r#"{"id":1,"type":"event","event_type":"colors_updated"}"#]
        );
    }

    #[test]
    fn a_filter_on_a_missing_field_never_matches_and_frames_share_a_slot_per_vis_id() {
        let bus = Bus::default();
        let (_, strict) = subscribed(&bus, 1, VISUALISATION_UPDATE, json!({"is_device": true}));
        let (_, loose) = subscribed(&bus, 2, VISUALISATION_UPDATE, json!({}));
        for n in 0..3 {
            bus.fire(&LedfxEvent::new(
                VISUALISATION_UPDATE,
                json!({"vis_id": "a", "n": n}),
            ));
        }
        assert!(strict.take().frames.is_empty());
        let frames = loose.take().frames;
        assert_eq!(frames.len(), 1);
        assert!(frames[0].ends_with(r#""n":2}"#), "{frames:?}");
    }

    #[test]
    fn resubscribing_an_id_replaces_it_and_unsubscribe_removes_it() {
        let bus = Bus::default();
        let (client, outbox) = subscribed(&bus, 5, "global_pause", json!({}));
        bus.subscribe(&client, 5, "global_pause", Map::new());
        bus.fire(&LedfxEvent::new("global_pause", json!({"paused": true})));
        assert_eq!(outbox.take().control.len(), 1);
        bus.unsubscribe(&client, 5);
        bus.unsubscribe(&client, 99);
        bus.fire(&LedfxEvent::new("global_pause", json!({"paused": false})));
        assert!(outbox.take().control.is_empty());
    }

    #[test]
    fn names_are_made_unique_on_set_and_refused_on_update() {
        let bus = Bus::default();
        let (a, _) = bus.connect("10.0.0.1".into());
        let (b, _) = bus.connect("10.0.0.2".into());
        let (c, _) = bus.connect("10.0.0.3".into());
        let kitchen = bus
            .set_info(&a, Some("Kitchen"), Some("mobile"), Value::Null)
            .unwrap();
        assert_eq!(
            (kitchen.name.as_str(), kitchen.name_conflict),
            ("Kitchen", false)
        );
        let second = bus
            .set_info(&b, Some("Kitchen"), Some("bogus"), json!("dev-2"))
            .unwrap();
        assert_eq!(
            second,
            Identified {
                name: "Kitchen (2)".into(),
                kind: "unknown".into(),
                name_conflict: true
            }
        );
        let third = bus
            .set_info(&c, Some("Kitchen"), None, Value::Null)
            .unwrap();
        assert_eq!(third.name, "Kitchen (3)");
        assert_eq!(
            bus.set_info(&a, Some("Kitchen"), None, Value::Null)
                .unwrap()
                .name,
            "Kitchen",
            "a client's own name is not a conflict"
        );
        assert_eq!(
            bus.update_info(&c, Some("Kitchen"), None),
            Err("Name 'Kitchen' is already taken by another client".into())
        );
        assert_eq!(
            bus.update_info(&c, Some("Hall"), Some("display"))
                .unwrap()
                .kind,
            "display"
        );
        let listed = bus.clients();
        let names: Vec<&str> = [&a, &b, &c]
            .iter()
            .map(|id| listed[id.as_str()]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Kitchen", "Kitchen (2)", "Hall"]);
        assert_eq!(listed[b.as_str()]["device_id"], "dev-2");
        assert_eq!(listed[b.as_str()]["ip"], "10.0.0.2");
        let order: Vec<String> = bus.identified().into_iter().map(|(id, _, _)| id).collect();
        assert_eq!(order, [a.clone(), b, c]);
        let (anonymous, _) = bus.connect("10.0.0.4".into());
        assert!(
            bus.clients().get(&anonymous).is_none(),
            "anonymous clients are not listed"
        );
        assert_eq!(
            bus.set_info(&anonymous, Some(""), None, Value::Null)
                .unwrap()
                .name,
            format!("Client-{}", &anonymous[..8])
        );
    }
}

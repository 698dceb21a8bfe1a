//! What the server does with each client → server command (ledfx-api.md §4.3). Replies go
//! through the connection's own outbox, behind the events already queued for it, as in
//! LedFx.

use serde_json::{json, Map, Value};

use super::broadcast;
use super::bus::{Bus, Identified, LedfxEvent};
use super::message::Incoming;
use super::outbox::Outbox;
use crate::routes::kind_of;

/// Events a client cannot subscribe to, and what to use instead.
const NOT_SUBSCRIBABLE: [(&str, &str); 2] = [
    ("device_update", "visualisation_update"),
    ("virtual_update", "visualisation_update"),
];

/// One connection, as the commands see it.
#[derive(Debug)]
pub struct Client<'a> {
    pub bus: &'a Bus,
    pub id: &'a str,
    pub outbox: &'a Outbox,
}

/// LedFx's error reply.
pub fn error_reply(id: &Value, message: &str) -> String {
    json!({"id": id, "success": false, "error": {"message": message}}).to_string()
}

impl Client<'_> {
    fn reply(&self, message: &Value) {
        self.outbox.push_control(message.to_string());
    }

    fn error(&self, id: i64, message: &str) {
        self.outbox
            .push_control(error_reply(&Value::from(id), message));
    }

    /// Runs one command.
    pub fn handle(&self, message: &Incoming) {
        let body = &message.body;
        let id = message.id;
        let result = match message.kind.as_str() {
            "subscribe_event" => self.subscribe(id, body),
            "unsubscribe_event" => {
                self.bus.unsubscribe(self.id, id);
                Ok(())
            }
            "set_client_info" => self.set_client_info(id, body),
            "update_client_info" => self.update_client_info(id, body),
            "broadcast" => self.broadcast(id, body),
            "song_info" => {
                self.song_info(body);
                Ok(())
            }
            "audio_stream_start" | "audio_stream_stop" | "audio_stream_config" => {
                // Browser audio is not built yet (README); LedFx only logs these too, apart
                // from the device list entry.
                let stream = body.get("client").map(Value::to_string);
                tracing::info!(kind = %message.kind, ?stream, "web audio message ignored: browser audio is not built");
                Ok(())
            }
            "audio_stream_data" | "audio_stream_data_v2" => Ok(()),
            _ => {
                self.error(id, "Unknown command type.");
                Ok(())
            }
        };
        if let Err(reason) = result {
            self.error(id, &format!("Invalid message format: {reason}"));
        }
    }

    fn subscribe(&self, id: i64, body: &Map<String, Value>) -> Result<(), String> {
        let event_type = match body.get("event_type") {
            Some(Value::String(t)) => t.as_str(),
            // LedFx registers a listener for no event, which never fires.
            None | Some(Value::Null) => return Ok(()),
            Some(other) => {
                return Err(format!(
                    "event_type: expected a string, got {}",
                    kind_of(other)
                ))
            }
        };
        if let Some((_, instead)) = NOT_SUBSCRIBABLE.iter().find(|(e, _)| *e == event_type) {
            self.error(
                id,
                &format!(
                    "Websocket cannot subscribe to {event_type} events - use {instead} instead"
                ),
            );
            return Ok(());
        }
        let filter = match body.get("event_filter") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(filter)) => filter.clone(),
            Some(other) => {
                return Err(format!(
                    "event_filter: expected an object, got {}",
                    kind_of(other)
                ))
            }
        };
        self.bus.subscribe(self.id, id, event_type, filter);
        Ok(())
    }

    fn set_client_info(&self, id: i64, body: &Map<String, Value>) -> Result<(), String> {
        let data = data_object(body)?;
        let name = optional_string(&data, "name")?;
        let kind = data.get("type").and_then(Value::as_str);
        let device_id = data.get("device_id").cloned().unwrap_or(Value::Null);
        let Some(identified) = self.bus.set_info(self.id, name, kind, device_id) else {
            return Ok(());
        };
        self.identified(id, &identified, true);
        Ok(())
    }

    /// The `client_info_updated` reply (`set_client_info`'s also says whether the name was
    /// changed to be unique), then `clients_updated` for everyone.
    fn identified(&self, id: i64, identified: &Identified, with_conflict: bool) {
        let mut reply = json!({
            "id": id,
            "event_type": "client_info_updated",
            "client_id": self.id,
            "name": identified.name,
            "type": identified.kind,
        });
        if with_conflict {
            reply["name_conflict"] = identified.name_conflict.into();
        }
        self.reply(&reply);
        self.bus
            .fire(&LedfxEvent::new("clients_updated", Value::Null));
    }

    fn update_client_info(&self, id: i64, body: &Map<String, Value>) -> Result<(), String> {
        let data = data_object(body)?;
        let name = optional_string(&data, "name")?;
        // Any non-null type counts as an update (an unknown one becomes `unknown`).
        let kind = match data.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(kind)) => Some(kind.as_str()),
            Some(_) => Some(""),
        };
        if name.is_none() && kind.is_none() {
            self.error(id, "No valid updates provided");
            return Ok(());
        }
        match self.bus.update_info(self.id, name, kind) {
            Ok(identified) => self.identified(id, &identified, false),
            Err(message) => self.error(id, &message),
        }
        Ok(())
    }

    fn broadcast(&self, id: i64, body: &Map<String, Value>) -> Result<(), String> {
        let data = body.get("data").cloned().unwrap_or_else(|| json!({}));
        let validated = match broadcast::validate(&data) {
            Ok(validated) => validated,
            Err(reason) => {
                self.error(id, &format!("Invalid broadcast data: {reason}"));
                return Ok(());
            }
        };
        let size = broadcast::payload_size(&validated.payload);
        if size > broadcast::MAX_PAYLOAD_BYTES {
            self.error(
                id,
                &format!(
                    "Payload size ({size} bytes) exceeds maximum ({} bytes)",
                    broadcast::MAX_PAYLOAD_BYTES
                ),
            );
            return Ok(());
        }
        let targets = broadcast::targets(&validated.target, &self.bus.identified(), self.id);
        if targets.is_empty() {
            let spec = broadcast::python_repr(&Value::Object(validated.target));
            self.error(
                id,
                &format!("No clients matched target specification: {spec}"),
            );
            return Ok(());
        }
        let broadcast_id = format!("b-{}", uuid::Uuid::new_v4());
        let (sender_name, sender_type) = self.bus.identity(self.id);
        self.bus.fire(&LedfxEvent::new(
            "client_broadcast",
            json!({
                "broadcast_type": validated.broadcast_type,
                "broadcast_id": broadcast_id,
                "sender_uuid": self.id,
                "sender_name": sender_name,
                "sender_type": sender_type,
                "target_uuids": targets,
                "payload": validated.payload,
            }),
        ));
        self.reply(&json!({
            "id": id,
            "event_type": "broadcast_sent",
            "broadcast_id": broadcast_id,
            "targets_matched": targets.len(),
            "target_uuids": targets,
        }));
        Ok(())
    }

    fn song_info(&self, body: &Map<String, Value>) {
        let field = |key: &str, default: Value| body.get(key).cloned().unwrap_or(default);
        self.bus.fire(&LedfxEvent::new(
            "song_detected",
            json!({
                "title": field("title", "Unknown".into()),
                "artist": field("artist", "Unknown".into()),
                "album": field("album", "".into()),
                "thumbnail": field("thumbnail", Value::Null),
                "position": field("position", Value::Null),
                "duration": field("duration", Value::Null),
                "playing": field("playing", false.into()),
                "timestamp": field("timestamp", Value::Null),
            }),
        ));
    }
}

/// The command's `data` object (`{}` when absent).
fn data_object(body: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    match body.get("data") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(data)) => Ok(data.clone()),
        Some(other) => Err(format!("data: expected an object, got {}", kind_of(other))),
    }
}

fn optional_string<'a>(data: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!(
            "data.{key}: expected a string, got {}",
            kind_of(other)
        )),
    }
}

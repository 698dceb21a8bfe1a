//! The change feed: what the state owner tells api-proc about every accepted change.
//!
//! Every accepted change gets the next revision number and yields one or more typed
//! [`Event`]s, carried together in one [`Change`]. The supervisor sends api-proc a [`FeedItem::Snapshot`] when the
//! connection starts (and again whenever api-proc could have missed something), then every
//! [`FeedItem::Change`] with a revision above the snapshot's, in order, with no gap and no
//! duplicate. Inside api-proc one hub hands them to every consumer (the LedFx WebSocket, the
//! events stream, later the state-sync and monitoring channels).
//!
//! Items cross the control socket as JSON text, named by their `event` tag, so new events
//! and fields are added without a control protocol version change. `docs/architecture.md`
//! maps each event to the LedFx WebSocket event it becomes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One change to the desired state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A device was added.
    DeviceCreated {
        device_id: String,
        device_type: String,
        name: String,
    },
    /// A device's config (or type) changed.
    DeviceUpdated { device_id: String },
    /// A device was removed (directly, or with a virtual it belonged to).
    DeviceDeleted { device_id: String },
    /// A virtual was added.
    VirtualCreated { virtual_id: String },
    /// A virtual's config or segments changed; `config` is its full config.
    VirtualUpdated { virtual_id: String, config: Value },
    /// A virtual was removed.
    VirtualDeleted { virtual_id: String },
    /// A virtual started (`active: true`) or stopped being driven.
    VirtualActivated { virtual_id: String, active: bool },
    /// A new effect instance was set on a virtual. `was_active`/`was_streaming` are the
    /// virtual's state before the change, as LedFx reports them.
    EffectSet {
        virtual_id: String,
        effect_type: String,
        effect_name: String,
        /// LedFx's instance id, `<type>-<n>`.
        effect_id: String,
        was_active: bool,
        was_streaming: bool,
    },
    /// The running effect's config changed in place.
    EffectUpdated {
        virtual_id: String,
        effect_id: String,
    },
    /// A virtual's effect was removed.
    EffectCleared { virtual_id: String },
    /// The global pause was toggled.
    GlobalPause { paused: bool },
    /// A scene was activated (its effects are in the events before this one).
    SceneActivated { scene_id: String },
    /// The user's colours or gradients (`/api/colors`) changed.
    ColorsUpdated,
    /// A different capture device was chosen (`audio.audio_device_name`).
    AudioDeviceChanged { name: String },
    /// Top-level config keys (anything but devices, virtuals and the user's colours)
    /// changed; `config` holds
    /// their new values.
    ConfigUpdated { config: Value },
    /// A configuration that made a stage crash-loop was rolled back; the events of the
    /// revert itself follow in the same change.
    RolledBack {
        reason: String,
        /// The revisions whose changes were undone.
        reverted_revisions: Vec<u64>,
        /// Later revisions whose changes were kept (the failing stage does not run them).
        kept_revisions: Vec<u64>,
    },
}

/// One accepted change: its revision (one more than the previous change's, so a consumer
/// sees a gap or a duplicate at once) and the events it produced, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub revision: u64,
    pub events: Vec<Event>,
}

/// What the supervisor sends api-proc on the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeedItem {
    /// The state at `revision`: consumers start (again) from here.
    Snapshot {
        /// Names this run of the supervisor. Revisions start again at 1 when it restarts, so
        /// a position in the feed is `(boot, revision)`: a consumer holding a revision of
        /// another boot must start again from a snapshot.
        boot: String,
        revision: u64,
        /// The configuration as `GET /api/config` shows it, plus `paused`.
        state: Value,
    },
    /// A change after the snapshot.
    Change(Change),
}

impl Event {
    /// The event's name as it travels (its `event` tag), e.g. `device_created`.
    pub fn name(&self) -> String {
        match serde_json::to_value(self) {
            Ok(value) => value["event"].as_str().unwrap_or_default().to_owned(),
            Err(_) => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_are_self_describing_json() {
        let item = FeedItem::Change(Change {
            revision: 7,
            events: vec![Event::GlobalPause { paused: true }],
        });
        let text = serde_json::to_value(&item).unwrap();
        assert_eq!(
            text,
            json!({"kind": "change", "revision": 7, "events": [{"event": "global_pause", "paused": true}]})
        );
        assert_eq!(serde_json::from_value::<FeedItem>(text).unwrap(), item);
    }
}

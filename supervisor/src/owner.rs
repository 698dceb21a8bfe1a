//! The state owner: one task that holds the desired state, applies API commands to it,
//! persists every change before acknowledging it, and publishes the derived pipeline state.
//!
//! Commands are serialised through one channel, so two API requests never interleave. Each is
//! applied to a copy; the copy becomes current only once it has been written to disk, so a
//! rejected request or a failed save changes nothing.

use std::collections::VecDeque;
use std::sync::Arc;

use proto::api::{ApiCommand, ApiFailure, ApiReply, FailureKind};
use proto::pipeline::PipelineState;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{ConfigDoc, ConfigStore};
use crate::state::State;

/// How many recent configurations are kept (as compact JSON) until the health task has had
/// the chance to pin its rollback target; the pinned one is kept however many follow.
const HISTORY: usize = 16;

/// A request to the owner.
enum Request {
    /// A command, the `CLOCK_MONOTONIC` time after which it must not be applied, and where
    /// the reply goes.
    Api(ApiCommand, Option<u64>, oneshot::Sender<ApiReply>),
    Rollback {
        against_revision: u64,
        to_revision: u64,
        reason: String,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// Keep the configuration in force at this revision until told otherwise (`None`).
    Pin(Option<u64>),
}

/// Cheap handle for sending commands to the owner.
#[derive(Debug, Clone)]
pub struct OwnerHandle {
    tx: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Api(command, _, _) => f.debug_tuple("Api").field(command).finish(),
            Request::Rollback { to_revision, .. } => f
                .debug_struct("Rollback")
                .field("to_revision", to_revision)
                .finish(),
            Request::Pin(revision) => f.debug_tuple("Pin").field(revision).finish(),
        }
    }
}

impl OwnerHandle {
    /// Applies `command` and waits for the reply.
    pub async fn call(&self, command: ApiCommand) -> ApiReply {
        self.call_until(command, None).await
    }

    /// Like [`OwnerHandle::call`], but the command is dropped unapplied (with an error reply)
    /// if the owner only gets to it after `expires_ns` (`CLOCK_MONOTONIC`).
    pub async fn call_until(&self, command: ApiCommand, expires_ns: Option<u64>) -> ApiReply {
        let (tx, rx) = oneshot::channel();
        let gone = || ApiFailure {
            kind: FailureKind::Internal,
            reason: "ledfx-rs is shutting down".into(),
        };
        self.tx
            .send(Request::Api(command, expires_ns, tx))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Asks the owner to keep the configuration in force at `revision` (a rollback target)
    /// however many changes follow; `None` releases it.
    pub async fn pin(&self, revision: Option<u64>) {
        let _ = self.tx.send(Request::Pin(revision)).await;
    }

    /// Restores the configuration that was in force at `to_revision` (persisted and published
    /// as a new revision, which is returned), provided the current revision is still
    /// `against_revision`: a change accepted after the decision is never thrown away.
    /// `reason` is kept for the API to report.
    pub async fn rollback(
        &self,
        against_revision: u64,
        to_revision: u64,
        reason: String,
    ) -> Result<u64, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Rollback {
                against_revision,
                to_revision,
                reason,
                reply: tx,
            })
            .await
            .map_err(|_| "the state owner is gone".to_owned())?;
        rx.await.map_err(|_| "the state owner is gone".to_owned())?
    }
}

/// The owner task's state.
struct Owner {
    state: State,
    store: ConfigStore,
    feed: watch::Sender<Arc<PipelineState>>,
    /// The shared segment, to blank the pixel slot of a newly added device before any stage
    /// hears of it (a slot may still hold the last frame of a device deleted earlier).
    segment: Option<Arc<proto::layout::Segment>>,
    /// `(revision, document as JSON)` of recent accepted configurations, oldest first.
    history: VecDeque<(u64, String)>,
    /// The rollback target the health task asked to keep: `(revision, document as JSON)`.
    pinned: Option<(u64, String)>,
}

fn snapshot(doc: &ConfigDoc) -> String {
    doc.to_value().to_string()
}

impl Owner {
    fn handle_api(&mut self, command: ApiCommand) -> Result<(State, ApiReply), ApiReply> {
        if command.is_read_only() {
            let lists_devices = matches!(command, ApiCommand::GetDevices);
            let reply = self.state.apply(command);
            return Err(match (reply, &self.segment) {
                (Ok(json), Some(segment)) if lists_devices => {
                    let mut value = json.to_value();
                    mark_online(
                        &mut value,
                        &self.feed.borrow(),
                        segment,
                        proto::monotonic_ns(),
                    );
                    Ok(proto::api::Json::from_value(&value))
                }
                (reply, _) => reply,
            });
        }
        let mut candidate = self.state.clone();
        let reply = candidate.apply(command);
        let changed = candidate.doc != self.state.doc || candidate.paused != self.state.paused;
        // A rejected command never changes anything, whatever it did to the copy.
        if !changed || reply.is_err() {
            return Err(reply);
        }
        Ok((candidate, reply))
    }

    /// Persists (when the document changed) and publishes `candidate` as the next revision.
    async fn commit(&mut self, mut candidate: State) -> Result<u64, ApiFailure> {
        if candidate.doc != self.state.doc {
            // Saving is a few small blocking writes; awaiting it here keeps the order of saves
            // equal to the order of commands.
            let (doc, store) = (candidate.doc.clone(), self.store.clone());
            let saved = tokio::task::spawn_blocking(move || store.save(&doc))
                .await
                .unwrap_or_else(|e| {
                    Err(crate::config::ConfigError::Write {
                        path: self.store.path(),
                        source: std::io::Error::other(e),
                    })
                });
            if let Err(e) = saved {
                tracing::error!(error = %e, "saving config failed; change rejected");
                return Err(ApiFailure {
                    kind: FailureKind::PersistFailed,
                    reason: format!("Could not save the configuration, nothing was changed: {e}"),
                });
            }
        }
        candidate.revision = self.state.revision + 1;
        let doc_changed = candidate.doc != self.state.doc;
        self.state = candidate;
        if doc_changed {
            self.history
                .push_back((self.state.revision, snapshot(&self.state.doc)));
            if self.history.len() > HISTORY {
                self.history.pop_front();
            }
        }
        let pipeline = self.state.pipeline();
        if let Some(segment) = &self.segment {
            let previous = self.feed.borrow();
            for device in &pipeline.devices {
                if !previous.devices.iter().any(|d| d.slot == device.slot) {
                    // An empty frame means "nothing yet" to output-proc.
                    segment
                        .device_slot(device.slot)
                        .publish(&[], proto::monotonic_ns());
                }
            }
        }
        self.feed.send_replace(Arc::new(pipeline));
        Ok(self.state.revision)
    }

    async fn rollback(
        &mut self,
        against_revision: u64,
        to_revision: u64,
        reason: String,
    ) -> Result<u64, String> {
        if self.state.revision != against_revision {
            return Err(format!(
                "the configuration changed again (revision {} is current, not {against_revision})",
                self.state.revision
            ));
        }
        let kept = self
            .pinned
            .iter()
            .filter(|(r, _)| *r == to_revision)
            .chain(self.history.iter().rev().filter(|(r, _)| *r <= to_revision))
            .next();
        let Some((_, json)) = kept else {
            return Err(format!("revision {to_revision} is no longer kept"));
        };
        let doc = serde_json::from_str(json)
            .map_err(|e| e.to_string())
            .and_then(ConfigDoc::from_value)
            .map_err(|e| {
                format!("the kept configuration of revision {to_revision} is unreadable: {e}")
            })?;
        if doc == self.state.doc {
            return Err("the configuration is already the one to roll back to".into());
        }
        let mut candidate = self.state.clone();
        candidate.replace_doc(doc);
        candidate.last_rollback = Some(crate::state::Rollback {
            reason: reason.clone(),
            from_revision: self.state.revision,
            to_revision,
        });
        tracing::error!(%reason, from = self.state.revision, to = to_revision, "rolling the configuration back");
        self.commit(candidate).await.map_err(|e| e.reason)
    }
}

/// A device that is being driven counts as online while output-proc's sends to it succeed
/// (a successful send within the last second); one that is not driven keeps LedFx's default,
/// online. An unresolvable host or a refused destination therefore shows as offline.
const ONLINE_WITHIN_NS: u64 = 1_000_000_000;

fn mark_online(
    reply: &mut serde_json::Value,
    pipeline: &PipelineState,
    segment: &proto::layout::Segment,
    now_ns: u64,
) {
    let Some(devices) = reply.get_mut("devices").and_then(|d| d.as_object_mut()) else {
        return;
    };
    for spec in pipeline.devices.iter().filter(|d| d.active) {
        let Some(view) = devices.get_mut(&spec.id) else {
            continue;
        };
        let last = segment.device_stats(spec.slot).last_send_ns();
        let online = last != 0 && now_ns.saturating_sub(last) <= ONLINE_WITHIN_NS;
        view["online"] = serde_json::Value::Bool(online);
    }
}

/// Starts the owner task. Returns the command handle and the feed of pipeline states (the
/// current one is always available to a (re)starting stage).
pub fn spawn(
    state: State,
    store: ConfigStore,
    segment: Option<Arc<proto::layout::Segment>>,
) -> (OwnerHandle, watch::Receiver<Arc<PipelineState>>) {
    let (tx, mut rx) = mpsc::channel::<Request>(64);
    let (feed, feed_rx) = watch::channel(Arc::new(state.pipeline()));
    let history = VecDeque::from([(state.revision, snapshot(&state.doc))]);
    let mut owner = Owner {
        state,
        store,
        feed,
        segment,
        history,
        pinned: None,
    };
    tokio::spawn(async move {
        while let Some(request) = rx.recv().await {
            match request {
                Request::Api(_, Some(expires_ns), reply_to)
                    if proto::monotonic_ns() > expires_ns =>
                {
                    let _ = reply_to.send(Err(ApiFailure::internal(
                        "the request waited too long and was not applied; nothing was changed",
                    )));
                }
                Request::Api(command, _, reply_to) => {
                    let reply = match owner.handle_api(command) {
                        Err(unchanged) => unchanged,
                        Ok((candidate, reply)) => match owner.commit(candidate).await {
                            Ok(_) => reply,
                            Err(failure) => Err(failure),
                        },
                    };
                    let _ = reply_to.send(reply);
                }
                Request::Pin(revision) => {
                    owner.pinned = revision.and_then(|r| {
                        let kept = owner.history.iter().rev().find(|(h, _)| *h <= r)?;
                        Some((r, kept.1.clone()))
                    });
                }
                Request::Rollback {
                    against_revision,
                    to_revision,
                    reason,
                    reply,
                } => {
                    let result = owner.rollback(against_revision, to_revision, reason).await;
                    let _ = reply.send(result);
                }
            }
        }
    });
    (OwnerHandle { tx }, feed_rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigDoc;
    use proto::api::Json;
    use proto::pipeline::AudioSource;
    use serde_json::json;

    fn create(name: &str) -> ApiCommand {
        ApiCommand::CreateDevice {
            device_type: "dummy".into(),
            config: Json::from_value(&json!({"name": name, "pixel_count": 5})),
        }
    }

    #[tokio::test]
    async fn a_change_is_on_disk_before_it_is_acknowledged_and_published() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        let (state, _) = State::new(ConfigDoc::default(), AudioSource::None);
        let (owner, mut feed) = spawn(state, store.clone(), None);
        let before = feed.borrow_and_update().revision;
        owner.call(create("Lamp")).await.unwrap();
        let saved = store.load().doc;
        assert_eq!(
            saved.devices[0].id, "lamp",
            "acknowledged change is on disk"
        );
        assert!(feed.has_changed().unwrap());
        assert_eq!(feed.borrow_and_update().revision, before + 1);
        // Reads and rejected commands publish nothing.
        owner.call(ApiCommand::GetDevices).await.unwrap();
        let rejected = ApiCommand::CreateDevice {
            device_type: "dummy".into(),
            config: Json::from_value(&json!({"name": "Bad", "pixel_count": -1})),
        };
        owner.call(rejected).await.unwrap_err();
        assert!(!feed.has_changed().unwrap());
        assert_eq!(store.load().doc.devices.len(), 1);
    }

    #[tokio::test]
    async fn a_failed_save_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(&dir.path().join("cfg")).unwrap();
        let (state, _) = State::new(ConfigDoc::default(), AudioSource::None);
        let (owner, feed) = spawn(state, store, None);
        // Replace the config directory with a file: every write into it now fails.
        std::fs::remove_dir_all(dir.path().join("cfg")).unwrap();
        std::fs::write(dir.path().join("cfg"), b"not a directory").unwrap();
        let err = owner.call(create("Lamp")).await.unwrap_err();
        assert_eq!(err.kind, FailureKind::PersistFailed);
        let devices = owner.call(ApiCommand::GetDevices).await.unwrap().to_value();
        assert_eq!(
            devices["devices"],
            json!({}),
            "the rejected change is not in memory"
        );
        assert!(feed.borrow().devices.is_empty());
    }

    #[tokio::test]
    async fn a_rollback_restores_persists_and_publishes_an_earlier_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        let (state, _) = State::new(ConfigDoc::default(), AudioSource::None);
        let (owner, mut feed) = spawn(state, store.clone(), None);
        owner.call(create("Lamp")).await.unwrap();
        let good = feed.borrow_and_update().revision;
        let set = ApiCommand::SetEffect {
            virtual_id: "lamp".into(),
            effect_type: "rainbow".into(),
            config: proto::api::EffectConfigArg::Last,
        };
        owner.call(set).await.unwrap();
        let before = feed.borrow_and_update().virtuals[0].effect.clone();
        assert!(before.is_some());
        let current = feed.borrow().revision;
        assert!(
            owner
                .rollback(current - 1, good, "stale".into())
                .await
                .is_err(),
            "a decision made against an older revision is refused"
        );
        let revision = owner
            .rollback(current, good, "render-proc kept crashing".into())
            .await
            .unwrap();
        assert_eq!(revision, good + 2, "a rollback is a new revision");
        let after = feed.borrow_and_update().clone();
        assert!(after.virtuals[0].effect.is_none() && !after.virtuals[0].active);
        assert!(
            store.load().doc.virtuals[0].effect.is_none(),
            "the rollback is on disk"
        );
        let info = owner.call(ApiCommand::GetInfo).await.unwrap().to_value();
        assert_eq!(info["last_rollback"]["reason"], "render-proc kept crashing");
        assert_eq!(info["last_rollback"]["to_revision"], good);
        // Rolling back to what is already in force, or to an unknown revision, is refused.
        assert!(owner
            .rollback(revision, good, "again".into())
            .await
            .is_err());
        assert!(owner.rollback(revision, 0, "unknown".into()).await.is_err());
    }
}

#[cfg(test)]
mod pin_tests {
    use super::*;
    use crate::config::ConfigDoc;
    use proto::api::Json;
    use proto::pipeline::AudioSource;
    use serde_json::json;

    #[tokio::test]
    async fn a_pinned_target_outlives_the_short_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        let (state, _) = State::new(ConfigDoc::default(), AudioSource::None);
        let (owner, feed) = spawn(state, store, None);
        let target = feed.borrow().revision;
        owner.pin(Some(target)).await;
        for i in 0..(HISTORY + 5) {
            let create = ApiCommand::CreateDevice {
                device_type: "dummy".into(),
                config: Json::from_value(&json!({"name": format!("Lamp {i}"), "pixel_count": 1})),
            };
            owner.call(create).await.unwrap();
        }
        let current = feed.borrow().revision;
        owner
            .rollback(current, target, "test".into())
            .await
            .unwrap();
        assert!(
            feed.borrow().devices.is_empty(),
            "back to the pinned, empty configuration"
        );
        // Without the pin, a revision that old is gone.
        owner.pin(None).await;
        let current = feed.borrow().revision;
        for i in 0..(HISTORY + 1) {
            let create = ApiCommand::CreateDevice {
                device_type: "dummy".into(),
                config: Json::from_value(&json!({"name": format!("Other {i}"), "pixel_count": 1})),
            };
            owner.call(create).await.unwrap();
        }
        let now = feed.borrow().revision;
        assert!(owner.rollback(now, current, "gone".into()).await.is_err());
    }
}

#[cfg(test)]
mod expiry_tests {
    use super::*;
    use crate::config::ConfigDoc;
    use proto::api::Json;
    use proto::pipeline::AudioSource;
    use serde_json::json;

    #[tokio::test]
    async fn an_expired_command_is_not_applied() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        let (state, _) = State::new(ConfigDoc::default(), AudioSource::None);
        let (owner, feed) = spawn(state, store, None);
        let create = ApiCommand::CreateDevice {
            device_type: "dummy".into(),
            config: Json::from_value(&json!({"name": "Lamp", "pixel_count": 10})),
        };
        let expired = Some(proto::monotonic_ns() - 1);
        let err = owner.call_until(create.clone(), expired).await.unwrap_err();
        assert!(err.reason.contains("not applied"), "{}", err.reason);
        assert!(feed.borrow().devices.is_empty());
        let later = Some(proto::monotonic_ns() + 10_000_000_000);
        owner.call_until(create, later).await.unwrap();
        assert_eq!(feed.borrow().devices.len(), 1);
    }
}

#[cfg(test)]
mod online_tests {
    use super::*;
    use crate::config::ConfigDoc;
    use proto::api::{EffectConfigArg, Json};
    use proto::pipeline::AudioSource;
    use serde_json::json;

    #[tokio::test]
    async fn a_driven_device_is_online_only_while_sends_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        let segment = Arc::new(proto::layout::Segment::create().unwrap());
        let (state, _) = State::new(ConfigDoc::default(), AudioSource::None);
        let (owner, feed) = spawn(state, store, Some(segment.clone()));
        let create = ApiCommand::CreateDevice {
            device_type: "ddp".into(),
            config: Json::from_value(
                &json!({"name": "Lamp", "ip_address": "127.0.0.1", "pixel_count": 10}),
            ),
        };
        owner.call(create).await.unwrap();
        let online = |owner: OwnerHandle| async move {
            owner.call(ApiCommand::GetDevices).await.unwrap().to_value()["devices"]["lamp"]
                ["online"]
                .clone()
        };
        assert_eq!(
            online(owner.clone()).await,
            true,
            "not driven: LedFx's default"
        );
        let set = ApiCommand::SetEffect {
            virtual_id: "lamp".into(),
            effect_type: "rainbow".into(),
            config: EffectConfigArg::Last,
        };
        owner.call(set).await.unwrap();
        assert_eq!(
            online(owner.clone()).await,
            false,
            "driven, nothing sent yet"
        );
        let slot = feed.borrow().devices[0].slot;
        segment
            .device_stats(slot)
            .record_sent(proto::monotonic_ns());
        assert_eq!(online(owner.clone()).await, true, "driven and sending");
    }
}

#[cfg(test)]
mod slot_tests {
    use super::*;
    use crate::config::ConfigDoc;
    use proto::api::Json;
    use proto::pipeline::AudioSource;
    use serde_json::json;

    #[tokio::test]
    async fn a_new_device_starts_with_an_empty_slot() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        let segment = Arc::new(proto::layout::Segment::create().unwrap());
        // Leftover pixels of some earlier device in every slot.
        for slot in 0..4 {
            segment.device_slot(slot).publish(&[255; 30], 1);
        }
        let (state, _) = State::new(ConfigDoc::default(), AudioSource::None);
        let (owner, feed) = spawn(state, store, Some(segment.clone()));
        let create = ApiCommand::CreateDevice {
            device_type: "dummy".into(),
            config: Json::from_value(&json!({"name": "Lamp", "pixel_count": 10})),
        };
        owner.call(create).await.unwrap();
        let slot = feed.borrow().devices[0].slot;
        let mut frame = vec![1];
        segment.device_slot(slot).read_latest(&mut frame).unwrap();
        assert!(
            frame.is_empty(),
            "the slot was blanked before the device was published"
        );
    }
}

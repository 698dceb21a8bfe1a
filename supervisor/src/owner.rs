//! The state owner: one task that holds the desired state, applies API commands to it,
//! persists every change before acknowledging it, and publishes the derived pipeline state.
//!
//! Commands are serialised through one channel, so two API requests never interleave. Each is
//! applied to a copy; the copy becomes current only once it has been written to disk, so a
//! rejected request or a failed save changes nothing.

use std::sync::Arc;

use proto::api::{ApiCommand, ApiFailure, ApiReply, FailureKind};
use proto::pipeline::PipelineState;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::ConfigStore;
use crate::state::State;

/// A request to the owner.
type Request = (ApiCommand, oneshot::Sender<ApiReply>);

/// Cheap handle for sending commands to the owner.
#[derive(Debug, Clone)]
pub struct OwnerHandle {
    tx: mpsc::Sender<Request>,
}

impl OwnerHandle {
    /// Applies `command` and waits for the reply.
    pub async fn call(&self, command: ApiCommand) -> ApiReply {
        let (tx, rx) = oneshot::channel();
        let gone = || ApiFailure {
            kind: FailureKind::Internal,
            reason: "ledfx-rs is shutting down".into(),
        };
        self.tx.send((command, tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }
}

/// Starts the owner task. Returns the command handle and the feed of pipeline states (the
/// current one is always available to a (re)starting stage).
pub fn spawn(
    state: State,
    store: ConfigStore,
) -> (OwnerHandle, watch::Receiver<Arc<PipelineState>>) {
    let (tx, mut rx) = mpsc::channel::<Request>(64);
    let (feed_tx, feed_rx) = watch::channel(Arc::new(state.pipeline()));
    tokio::spawn(async move {
        let mut state = state;
        while let Some((command, reply_to)) = rx.recv().await {
            if command.is_read_only() {
                let _ = reply_to.send(state.apply(command));
                continue;
            }
            let mut candidate = state.clone();
            let reply = candidate.apply(command);
            let doc_changed = candidate.doc != state.doc;
            let changed = doc_changed || candidate.paused != state.paused;
            // A rejected command never changes anything, whatever it did to the copy.
            if !changed || reply.is_err() {
                let _ = reply_to.send(reply);
                continue;
            }
            if doc_changed {
                // Saving is a few small blocking writes; awaiting it here keeps the order of
                // saves equal to the order of commands.
                let (doc, store_ref) = (candidate.doc.clone(), store.clone());
                let saved = tokio::task::spawn_blocking(move || store_ref.save(&doc))
                    .await
                    .unwrap_or_else(|e| {
                        Err(crate::config::ConfigError::Write {
                            path: store.path(),
                            source: std::io::Error::other(e),
                        })
                    });
                if let Err(e) = saved {
                    tracing::error!(error = %e, "saving config failed; change rejected");
                    let _ = reply_to.send(Err(ApiFailure {
                        kind: FailureKind::PersistFailed,
                        reason: format!(
                            "Could not save the configuration, nothing was changed: {e}"
                        ),
                    }));
                    continue;
                }
            }
            candidate.revision = state.revision + 1;
            state = candidate;
            feed_tx.send_replace(Arc::new(state.pipeline()));
            let _ = reply_to.send(reply);
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
        let (owner, mut feed) = spawn(state, store.clone());
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
        let (owner, feed) = spawn(state, store);
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
}

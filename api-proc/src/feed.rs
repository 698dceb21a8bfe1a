//! The hub: api-proc's one copy of the change feed, handed to every consumer.
//!
//! The supervisor sends a snapshot when the control connection starts (and again if api-proc
//! fell behind), then every change in revision order. The hub keeps the latest snapshot and
//! the changes since it (the most recent [`RECENT`] of them, for consumers that resume from a
//! revision) and broadcasts each item. A consumer subscribes with the [`Position`] it has; it
//! gets the missing changes from the hub's memory when they are all there, and otherwise
//! starts again from a snapshot — never a gap, never a duplicate. Revisions start at 1 on
//! every supervisor start, so a position names the supervisor's boot too.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use proto::feed::{Change, Event, FeedItem};
use serde_json::{Map, Value};
use tokio::sync::broadcast;

/// Changes kept for consumers that resume.
pub const RECENT: usize = 1024;
/// Items buffered per consumer before a slow one must start again from a snapshot.
const CONSUMER_BUFFER: usize = 256;

/// What consumers receive.
#[derive(Debug, Clone)]
pub enum HubItem {
    /// Start again from a snapshot: something may have been missed upstream.
    Resync,
    Change(Arc<Change>),
}

/// The latest snapshot the supervisor sent.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub boot: String,
    pub revision: u64,
    pub state: Arc<Value>,
}

/// A place in the feed: a revision of one supervisor boot. Written `<boot>-<revision>` (the
/// events stream uses it as the event id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub boot: String,
    pub revision: u64,
}

impl Position {
    /// Parses `<boot>-<revision>`.
    pub fn parse(text: &str) -> Option<Self> {
        let (boot, revision) = text.trim().rsplit_once('-')?;
        Some(Self {
            boot: boot.to_owned(),
            revision: revision.parse().ok()?,
        })
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.boot, self.revision)
    }
}

#[derive(Debug, Default)]
struct Inner {
    snapshot: Option<Snapshot>,
    /// Changes after `snapshot`, consecutive, at most [`RECENT`].
    recent: VecDeque<Arc<Change>>,
    /// The current values of the config keys api-proc itself acts on (see [`api_settings`]).
    api_settings: Arc<Map<String, Value>>,
}

/// Cheap handle to the hub.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Mutex<Inner>>,
    tx: broadcast::Sender<HubItem>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            tx: broadcast::channel(CONSUMER_BUFFER).0,
        }
    }
}

/// Where a subscriber starts.
#[derive(Debug)]
pub enum Start {
    /// The changes after the revision it asked for (possibly none).
    Replay(Vec<Arc<Change>>),
    /// The hub cannot prove it has every change after that revision: start from a snapshot.
    NeedSnapshot,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The data stays consistent under every operation, so a poisoned lock is still good.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one item from the supervisor.
    pub fn publish(&self, item: FeedItem) {
        let mut inner = self.lock();
        match item {
            FeedItem::Snapshot {
                boot,
                revision,
                state,
            } => {
                if let Some(config) = state.get("config").and_then(Value::as_object) {
                    inner.api_settings = Arc::new(api_settings(config));
                }
                let same_boot = inner.snapshot.as_ref().is_some_and(|s| s.boot == boot);
                let continuous = same_boot && inner.last_revision() == Some(revision);
                inner.snapshot = Some(Snapshot {
                    boot,
                    revision,
                    state: Arc::new(state),
                });
                if !continuous {
                    inner.recent.clear();
                    let _ = self.tx.send(HubItem::Resync);
                }
            }
            FeedItem::Change(change) => {
                if let Some(last) = inner.last_revision() {
                    if change.revision != last + 1 {
                        tracing::error!(
                            last,
                            got = change.revision,
                            "change feed out of order; consumers resync"
                        );
                        inner.recent.clear();
                        let _ = self.tx.send(HubItem::Resync);
                    }
                }
                for event in &change.events {
                    if let Event::ConfigUpdated {
                        config: Value::Object(changed),
                    } = event
                    {
                        let mut settings = (*inner.api_settings).clone();
                        settings.extend(api_settings(changed));
                        inner.api_settings = Arc::new(settings);
                    }
                }
                let change = Arc::new(change);
                inner.recent.push_back(change.clone());
                if inner.recent.len() > RECENT {
                    inner.recent.pop_front();
                }
                let _ = self.tx.send(HubItem::Change(change));
            }
        }
    }

    /// The position of the latest item, if any arrived.
    pub fn position(&self) -> Option<Position> {
        let inner = self.lock();
        Some(Position {
            boot: inner.snapshot.as_ref()?.boot.clone(),
            revision: inner.last_revision()?,
        })
    }

    /// The current values of the config keys api-proc acts on (empty until the first
    /// snapshot arrives).
    pub fn api_settings(&self) -> Arc<Map<String, Value>> {
        self.lock().api_settings.clone()
    }

    /// The latest snapshot the supervisor sent.
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.lock().snapshot.clone()
    }

    /// Subscribes a consumer that has everything up to `since` (`None`: nothing yet).
    /// Items broadcast after this call arrive on the receiver; skip revisions already seen.
    pub fn subscribe(&self, since: Option<&Position>) -> (broadcast::Receiver<HubItem>, Start) {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let boot = inner.snapshot.as_ref().map(|s| s.boot.as_str());
        let since = since
            .filter(|p| Some(p.boot.as_str()) == boot)
            .map(|p| p.revision);
        let start = match (since, inner.last_revision()) {
            // Ahead of the hub (it read a newer snapshot from the state owner than the one the
            // hub has): the hub receives every change after its own snapshot in order, so the
            // consumer only has to skip those it already has.
            (Some(since), Some(last)) if since >= last => Start::Replay(Vec::new()),
            (Some(since), Some(last)) if since < last => {
                let first = inner.recent.front().map(|c| c.revision);
                if first.is_some_and(|first| first <= since + 1) {
                    Start::Replay(
                        inner
                            .recent
                            .iter()
                            .filter(|c| c.revision > since)
                            .cloned()
                            .collect(),
                    )
                } else {
                    Start::NeedSnapshot
                }
            }
            _ => Start::NeedSnapshot,
        };
        (rx, start)
    }
}

/// The keys api-proc acts on ([`crate::origin::SETTINGS_KEYS`] and
/// [`crate::ws::preview::SETTINGS_KEYS`]) found in `config`.
fn api_settings(config: &Map<String, Value>) -> Map<String, Value> {
    crate::origin::SETTINGS_KEYS
        .iter()
        .chain(&crate::ws::preview::SETTINGS_KEYS)
        .filter_map(|k| config.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

impl Inner {
    fn last_revision(&self) -> Option<u64> {
        self.recent
            .back()
            .map(|c| c.revision)
            .or(self.snapshot.as_ref().map(|s| s.revision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(revision: u64) -> FeedItem {
        FeedItem::Change(Change {
            revision,
            events: vec![Event::GlobalPause {
                paused: revision % 2 == 0,
            }],
        })
    }

    fn snapshot(revision: u64) -> FeedItem {
        FeedItem::Snapshot {
            boot: "b1".into(),
            revision,
            state: Value::Null,
        }
    }

    fn at(revision: u64) -> Position {
        Position {
            boot: "b1".into(),
            revision,
        }
    }

    fn revisions(start: Start) -> Option<Vec<u64>> {
        match start {
            Start::Replay(changes) => Some(changes.iter().map(|c| c.revision).collect()),
            Start::NeedSnapshot => None,
        }
    }

    #[test]
    fn a_consumer_resumes_from_memory_when_it_can_and_from_a_snapshot_otherwise() {
        let hub = Hub::default();
        assert!(revisions(hub.subscribe(None).1).is_none());
        hub.publish(snapshot(10));
        for r in 11..=14 {
            hub.publish(change(r));
        }
        assert_eq!(
            revisions(hub.subscribe(Some(&at(12))).1),
            Some(vec![13, 14])
        );
        assert_eq!(
            revisions(hub.subscribe(Some(&at(10))).1),
            Some(vec![11, 12, 13, 14])
        );
        assert_eq!(revisions(hub.subscribe(Some(&at(14))).1), Some(vec![]));
        assert!(
            revisions(hub.subscribe(Some(&at(9))).1).is_none(),
            "before the snapshot"
        );
        let other_boot = Position {
            boot: "b0".into(),
            revision: 12,
        };
        assert!(
            revisions(hub.subscribe(Some(&other_boot)).1).is_none(),
            "a revision of an earlier run of the supervisor"
        );
        assert_eq!(Position::parse("b1-12"), Some(at(12)));
        assert_eq!(at(12).to_string(), "b1-12");
        assert_eq!(
            revisions(hub.subscribe(Some(&at(20))).1),
            Some(vec![]),
            "ahead of the hub: wait for it to catch up"
        );
    }

    #[test]
    fn a_snapshot_after_a_gap_makes_consumers_resync() {
        let hub = Hub::default();
        hub.publish(snapshot(1));
        let (mut rx, _) = hub.subscribe(Some(&at(1)));
        hub.publish(change(2));
        // The supervisor re-sends a snapshot at the same revision: nothing was missed.
        hub.publish(snapshot(2));
        hub.publish(change(3));
        // A snapshot further on: the changes in between are lost to the hub.
        hub.publish(snapshot(7));
        let seen: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|item| match item {
                HubItem::Resync => "resync".to_owned(),
                HubItem::Change(c) => c.revision.to_string(),
            })
            .collect();
        assert_eq!(seen, ["2", "3", "resync"]);
        assert!(revisions(hub.subscribe(Some(&at(3))).1).is_none());
        assert_eq!(revisions(hub.subscribe(Some(&at(7))).1), Some(vec![]));
    }
}

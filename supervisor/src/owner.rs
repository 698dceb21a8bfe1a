//! The state owner: holds the desired state, answers reads from an immutable snapshot,
//! commits writes in groups, persists every change before acknowledging it, and publishes the
//! derived pipeline state and the change feed.
//!
//! * **Reads** run in the caller's task against the current [`Snapshot`] (an `Arc` swapped on
//!   commit), so a read never waits for a write or a save.
//! * **Writes** go through one writer thread, in arrival order. Writes that arrive while a
//!   save is in flight are committed together in the next save (group commit): each is
//!   applied to a copy of the state and gets its own revision and events; one save holds them
//!   all; only then do the snapshot, the pipeline state and the feed move on and the replies
//!   go out. A rejected command, a panicking one, or a failed save changes nothing.
//!
//! The writer is a dedicated thread (it does blocking saves itself) running at a lower
//! scheduling priority than the async runtime that answers reads: on a loaded machine the
//! CPU goes to reads first, and writes, which wait for an fsync anyway, absorb the delay.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use proto::api::{ApiCall, ApiFailure, ApiReply, Command, FailureKind};
use proto::feed::{Change, Event};
use proto::pipeline::PipelineState;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::config::{ConfigDoc, ConfigStore};
use crate::health::Decision;
use crate::state::rollback::{self, Part};
use crate::state::{events, prepare_call, Prepared, ReadCtx, State};

/// How many recent configurations are kept (as compact JSON) until the health task has had
/// the chance to pin its rollback target; the pinned one is kept however many follow.
const HISTORY: usize = 16;
/// At most this many writes share one save, so one slow batch cannot grow without bound.
const MAX_BATCH: usize = 64;
/// Changes the feed buffers for a slow subscriber before it must start again from a
/// snapshot.
const FEED_BUFFER: usize = 1024;
/// Revisions whose touched parts are remembered, so a rollback can revert only what a
/// failing stage runs.
const TOUCHED: usize = 4096;

/// The state readers see: immutable, replaced whole on every commit.
#[derive(Debug)]
pub struct Snapshot {
    pub state: State,
    pub pipeline: Arc<PipelineState>,
}

type WriteFn = Box<dyn FnOnce(&mut State) -> ApiReply + Send>;

/// The writer thread's niceness above the rest of the supervisor (Linux: per thread).
const WRITER_NICENESS: i32 = 5;

/// A request to the writer thread.
enum Request {
    /// A write, what it was (for the log), the `CLOCK_MONOTONIC` time after which it must
    /// not be applied, and where the reply goes.
    Write {
        write: WriteFn,
        call: ApiCall,
        expires_ns: Option<u64>,
        /// What audio-proc published about its devices when the call arrived.
        audio: Option<Box<proto::audio_status::AudioStatus>>,
        reply: oneshot::Sender<ApiReply>,
    },
    Rollback {
        decision: Decision,
        reply: oneshot::Sender<Result<u64, String>>,
    },
    /// Keep the configuration in force at this revision until told otherwise (`None`).
    Pin(Option<u64>),
    /// Tests: hold the writer until the sender fires, as a slow save would.
    #[cfg(test)]
    Stall(oneshot::Receiver<()>),
}

/// Cheap handle for reading the state and sending commands to the owner.
#[derive(Clone)]
pub struct OwnerHandle {
    tx: mpsc::Sender<Request>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    changes: broadcast::Sender<Arc<Change>>,
    segment: Option<Arc<proto::layout::Segment>>,
}

impl std::fmt::Debug for OwnerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerHandle").finish_non_exhaustive()
    }
}

fn gone() -> ApiFailure {
    ApiFailure::internal("ledfx-rs is shutting down")
}

/// The reply to a command whose handler panicked: nothing was changed.
fn panicked(call: &ApiCall) -> ApiFailure {
    tracing::error!(group = %call.group, command = %call.command.0, "a command handler panicked; the request was answered with an error and nothing was changed");
    ApiFailure::internal(
        "ledfx-rs hit an internal error handling this request (logged); nothing was changed",
    )
}

impl OwnerHandle {
    /// Runs a typed command and waits for the reply.
    pub async fn call<C: Command>(&self, command: C) -> ApiReply {
        self.call_until(&ApiCall::new(&command), None).await
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Runs `call`: a read at once against the current snapshot, a write through the writer.
    /// A write is dropped unapplied (with an error reply) if the writer only gets to it after
    /// `expires_ns` (`CLOCK_MONOTONIC`).
    pub async fn call_until(&self, call: &ApiCall, expires_ns: Option<u64>) -> ApiReply {
        match prepare_call(call)? {
            Prepared::Read(read) => {
                let snapshot = self.snapshot();
                let ctx = ReadCtx {
                    state: &snapshot.state,
                    pipeline: &snapshot.pipeline,
                    segment: self.segment.as_deref(),
                    now_ns: proto::monotonic_ns(),
                };
                catch_unwind(AssertUnwindSafe(|| read(&ctx)))
                    .unwrap_or_else(|_| Err(panicked(call)))
            }
            Prepared::Write(write) => {
                let (tx, rx) = oneshot::channel();
                let request = Request::Write {
                    write,
                    call: call.clone(),
                    expires_ns,
                    audio: self
                        .segment
                        .as_deref()
                        .and_then(|s| s.audio_status())
                        .map(Box::new),
                    reply: tx,
                };
                self.tx.send(request).await.map_err(|_| gone())?;
                rx.await.map_err(|_| gone())?
            }
        }
    }

    /// The current snapshot and every change after it: subscribe first, then read the
    /// snapshot, so a change is either in the snapshot or on the receiver (or both: skip
    /// revisions up to the snapshot's).
    pub fn subscribe(&self) -> (Arc<Snapshot>, broadcast::Receiver<Arc<Change>>) {
        let changes = self.changes.subscribe();
        (self.snapshot(), changes)
    }

    /// Tests: holds the writer thread until the returned sender is dropped or fires.
    #[cfg(test)]
    async fn stall(&self) -> oneshot::Sender<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Request::Stall(rx)).await;
        tx
    }

    /// Asks the owner to keep the configuration in force at `revision` (a rollback target)
    /// however many changes follow; `None` releases it.
    pub async fn pin(&self, revision: Option<u64>) {
        let _ = self.tx.send(Request::Pin(revision)).await;
    }

    /// Rolls back what the failing stages run to the configuration in force at the
    /// decision's `to_revision` (persisted and published as a new revision, which is
    /// returned), provided the current revision is still `against_revision`: a change
    /// accepted after the decision is never thrown away. The reason, and the revisions undone
    /// and kept, are kept for the API to report.
    pub async fn rollback(&self, decision: &Decision) -> Result<u64, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Rollback {
                decision: decision.clone(),
                reply: tx,
            })
            .await
            .map_err(|_| "the state owner is gone".to_owned())?;
        rx.await.map_err(|_| "the state owner is gone".to_owned())?
    }
}

/// The writer thread's state.
struct Owner {
    current: Arc<Snapshot>,
    store: ConfigStore,
    snapshots: watch::Sender<Arc<Snapshot>>,
    pipelines: watch::Sender<Arc<PipelineState>>,
    changes: broadcast::Sender<Arc<Change>>,
    /// `(revision, document as JSON)` of recent accepted configurations, oldest first.
    history: VecDeque<(u64, String)>,
    /// The rollback target the health task asked to keep: `(revision, document as JSON)`.
    pinned: Option<(u64, String)>,
    /// The parts of the document each recent revision changed, oldest first (revisions that
    /// changed only runtime state are not listed).
    touched: VecDeque<(u64, Parts)>,
    /// Every document-changing revision from this one on is in `touched`.
    touched_complete_from: u64,
}

fn doc_json(doc: &ConfigDoc) -> String {
    doc.to_value().to_string()
}

type Parts = std::collections::BTreeSet<Part>;

/// A write that was applied to the working copy, waiting for its save.
struct Accepted {
    reply_to: oneshot::Sender<ApiReply>,
    reply: ApiReply,
}

impl Owner {
    /// Applies a batch of writes to a working copy, saves once, publishes, then answers.
    fn commit_batch(&mut self, batch: Vec<Request>) {
        let mut working = self.current.state.clone();
        let mut accepted: Vec<Accepted> = Vec::new();
        let mut changes: Vec<Change> = Vec::new();
        let mut parts = Vec::new();
        let mut backups = Vec::new();
        for request in batch {
            let Request::Write {
                write,
                call,
                expires_ns,
                audio,
                reply,
            } = request
            else {
                continue;
            };
            if expires_ns.is_some_and(|at| proto::monotonic_ns() > at) {
                let _ = reply.send(Err(ApiFailure::internal(
                    "the request waited too long and was not applied; nothing was changed",
                )));
                continue;
            }
            let mut candidate = working.clone();
            candidate.audio_status = audio.map(|a| *a);
            let result = catch_unwind(AssertUnwindSafe(|| write(&mut candidate)))
                .unwrap_or_else(|_| Err(panicked(&call)));
            let changed = candidate.doc != working.doc
                || candidate.audio_chosen != working.audio_chosen
                || candidate.paused != working.paused
                || candidate.tools != working.tools
                || candidate.fallbacks != working.fallbacks;
            // A rejected command never changes anything, whatever it did to the copy.
            if result.is_err() || !changed {
                let _ = reply.send(result);
                continue;
            }
            candidate.revision = working.revision + 1;
            backups.extend(candidate.backup_to.take());
            let events = events::between(&working, &candidate);
            let touched = rollback::touched(&working.doc, &candidate.doc);
            if !touched.is_empty() {
                parts.push((candidate.revision, touched));
            }
            changes.push(Change {
                revision: candidate.revision,
                events,
            });
            working = candidate;
            accepted.push(Accepted {
                reply_to: reply,
                reply: result,
            });
        }
        if accepted.is_empty() {
            return;
        }
        // The copies a whole-config replacement asked for come first: without them, the
        // change is not saved (and so not made).
        for name in &backups {
            match self.store.keep_copy(name) {
                Ok(Some(path)) => {
                    tracing::info!(copy = %path.display(), "kept a copy of the configuration before replacing it")
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "keeping a copy of the config failed; change rejected");
                    let failure = ApiFailure {
                        kind: FailureKind::PersistFailed,
                        reason: format!(
                            "Could not keep a copy of the configuration, nothing was changed: {e}"
                        ),
                    };
                    for a in accepted {
                        let _ = a.reply_to.send(Err(failure.clone()));
                    }
                    return;
                }
            }
        }
        let text = match self.save(&working.doc) {
            Ok(text) => text,
            Err(failure) => {
                for a in accepted {
                    let _ = a.reply_to.send(Err(failure.clone()));
                }
                return;
            }
        };
        self.publish(working, changes, parts, text);
        for a in accepted {
            let _ = a.reply_to.send(a.reply);
        }
    }

    /// Writes `doc` if it differs from what is on disk; returns the text written, if any.
    fn save(&self, doc: &ConfigDoc) -> Result<Option<String>, ApiFailure> {
        if *doc == self.current.state.doc {
            return Ok(None);
        }
        self.store.save(doc).map(Some).map_err(|e| {
            tracing::error!(error = %e, "saving config failed; change rejected");
            ApiFailure {
                kind: FailureKind::PersistFailed,
                reason: format!("Could not save the configuration, nothing was changed: {e}"),
            }
        })
    }

    /// Makes `state` current: snapshot first, then the pipeline, then the feed, so anyone who
    /// hears of a change finds it in the snapshot.
    /// `saved` is the document's text when it changed (kept for rollbacks).
    fn publish(
        &mut self,
        state: State,
        changes: Vec<Change>,
        parts: Vec<(u64, Parts)>,
        saved: Option<String>,
    ) {
        for (revision, parts) in parts {
            self.touched.push_back((revision, parts));
            if self.touched.len() > TOUCHED {
                if let Some((dropped, _)) = self.touched.pop_front() {
                    self.touched_complete_from = dropped + 1;
                }
            }
        }
        if let Some(text) = saved {
            self.history.push_back((state.revision, text));
            if self.history.len() > HISTORY {
                self.history.pop_front();
            }
        }
        let pipeline = Arc::new(state.pipeline());
        self.current = Arc::new(Snapshot {
            state,
            pipeline: pipeline.clone(),
        });
        self.snapshots.send_replace(self.current.clone());
        self.pipelines.send_replace(pipeline);
        for change in changes {
            // No subscriber is not an error: the feed is for whoever listens.
            let _ = self.changes.send(Arc::new(change));
        }
    }

    fn rollback(&mut self, decision: Decision) -> Result<u64, String> {
        let Decision {
            against_revision,
            to_revision,
            reason,
            stages,
        } = decision;
        let state = &self.current.state;
        if state.revision != against_revision {
            return Err(format!(
                "the configuration changed again (revision {} is current, not {against_revision})",
                state.revision
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
        let target = serde_json::from_str(json)
            .map_err(|e| e.to_string())
            .and_then(ConfigDoc::from_value)
            .map_err(|e| {
                format!("the kept configuration of revision {to_revision} is unreadable: {e}")
            })?;
        let since: Vec<(u64, Parts)> = self
            .touched
            .iter()
            .filter(|(r, _)| *r > to_revision)
            .cloned()
            .collect();
        let complete = to_revision + 1 >= self.touched_complete_from;
        let plan = rollback::plan(&state.doc, &target, &since, complete, &stages);
        let mut candidate = state.clone();
        candidate.replace_doc(plan.doc);
        if candidate.doc == state.doc {
            return Err("the configuration is already the one to roll back to".into());
        }
        candidate.last_rollback = Some(crate::state::Rollback {
            reason: reason.clone(),
            from_revision: state.revision,
            to_revision,
            reverted_revisions: plan.reverted.clone(),
            kept_revisions: plan.kept.clone(),
        });
        candidate.revision = state.revision + 1;
        tracing::error!(%reason, from = state.revision, to = to_revision, reverted = ?plan.reverted, kept = ?plan.kept, "rolling the configuration back");
        let mut events = vec![Event::RolledBack {
            reason,
            reverted_revisions: plan.reverted,
            kept_revisions: plan.kept,
        }];
        events.extend(events::between(state, &candidate));
        let change = Change {
            revision: candidate.revision,
            events,
        };
        let parts = vec![(
            candidate.revision,
            rollback::touched(&state.doc, &candidate.doc),
        )];
        let text = self.save(&candidate.doc).map_err(|e| e.reason)?;
        let revision = candidate.revision;
        self.publish(candidate, vec![change], parts, text);
        Ok(revision)
    }
}

/// Starts the writer thread. Returns the handle and the feed of pipeline states (the current
/// one is always available to a (re)starting stage).
pub fn spawn(
    state: State,
    store: ConfigStore,
    segment: Option<Arc<proto::layout::Segment>>,
) -> std::io::Result<(OwnerHandle, watch::Receiver<Arc<PipelineState>>)> {
    let (tx, rx) = mpsc::channel::<Request>(256);
    let pipeline = Arc::new(state.pipeline());
    let (pipelines, pipelines_rx) = watch::channel(pipeline.clone());
    let history = VecDeque::from([(state.revision, doc_json(&state.doc))]);
    let touched_complete_from = state.revision + 1;
    let current = Arc::new(Snapshot { state, pipeline });
    let (snapshots, snapshot_rx) = watch::channel(current.clone());
    let (changes, _) = broadcast::channel(FEED_BUFFER);
    let handle = OwnerHandle {
        tx,
        snapshot: snapshot_rx,
        changes: changes.clone(),
        segment,
    };
    let owner = Owner {
        current,
        store,
        snapshots,
        pipelines,
        changes,
        history,
        pinned: None,
        touched: VecDeque::new(),
        touched_complete_from,
    };
    std::thread::Builder::new()
        .name("state-writer".into())
        .spawn(move || {
            lower_priority();
            owner.run(rx);
        })?;
    Ok((handle, pipelines_rx))
}

/// Lowers the calling thread's scheduling priority (best effort: a thread that cannot be
/// reniced simply runs at the normal priority).
fn lower_priority() {
    let tid = rustix::thread::gettid();
    let current = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
    if let Err(e) = rustix::process::setpriority_process(Some(tid), current + WRITER_NICENESS) {
        tracing::debug!(error = %e, "could not lower the writer thread's priority");
    }
}

impl Owner {
    /// The writer loop: until every handle is gone.
    fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut next = rx.blocking_recv();
        while let Some(request) = next.take() {
            match request {
                write @ Request::Write { .. } => {
                    // Everything already waiting joins this save; a non-write ends the batch
                    // and runs after it, so requests keep their order.
                    let mut batch = vec![write];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(w @ Request::Write { .. }) => batch.push(w),
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.commit_batch(batch);
                }
                #[cfg(test)]
                Request::Stall(until) => {
                    let _ = until.blocking_recv();
                }
                Request::Pin(revision) => {
                    self.pinned = revision.and_then(|r| {
                        let kept = self.history.iter().rev().find(|(h, _)| *h <= r)?;
                        Some((r, kept.1.clone()))
                    });
                }
                Request::Rollback { decision, reply } => {
                    let _ = reply.send(self.rollback(decision));
                }
            }
            if next.is_none() {
                next = rx.blocking_recv();
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! Crash-loop detection: a configuration change that makes a pipeline stage crash repeatedly
//! (or exit saying the configuration is unusable) is rolled back to the last configuration
//! under which every stage ran healthily, and the reason is kept for `/api/info`.
//!
//! Only changes made while the system was healthy can be blamed: the revision in force at
//! that moment becomes the rollback target, and it stays the target through any quick
//! follow-up changes (a slider being dragged) until the newest revision has itself run
//! healthily for a while. A failure that persists whatever the configuration (a missing
//! device, an overloaded machine) therefore never triggers rollback after rollback: once a
//! rollback happened, the system is not healthy, so nothing is blamed until it is.
//!
//! The decision logic ([`Tracker`]) is pure and unit-tested; [`run`] feeds it the stage
//! events reported by the stage tasks and the revisions published by the state owner.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::pipeline::PipelineState;
use proto::stage::StageKind;
use tokio::sync::{mpsc, watch};

use crate::owner::OwnerHandle;

/// The stages whose failures a configuration can cause: they receive the pipeline state.
/// api-proc does not, so its failures never blame a change.
const PIPELINE: [StageKind; 3] = [StageKind::Audio, StageKind::Render, StageKind::Output];

/// What a stage task reports.
#[derive(Debug, Clone, Copy)]
pub enum StageEvent {
    /// The stage said `Ready`.
    Ready(StageKind),
    /// The stage exited or was killed.
    Failed {
        stage: StageKind,
        /// It exited with `BadConfig`: it says the configuration is unusable.
        bad_config: bool,
    },
}

/// When a failing configuration is rolled back.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// This many pipeline-stage failures after a blamable change trigger a rollback.
    pub threshold: usize,
    /// The system is healthy once every pipeline stage is up and none failed for this long.
    pub stable_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            threshold: 3,
            stable_after: Duration::from_secs(5),
        }
    }
}

/// What to roll back to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The revision in force when the decision was made; the owner refuses the rollback if
    /// anything was accepted since (it might be the user's fix).
    pub against_revision: u64,
    pub to_revision: u64,
    pub reason: String,
    /// The pipeline stages that failed since the change: the rollback reverts what they run.
    pub stages: Vec<StageKind>,
}

/// Tracks revisions and stage events; decides when to roll back.
#[derive(Debug)]
pub struct Tracker {
    policy: Policy,
    current: u64,
    current_since: Instant,
    up: BTreeSet<StageKind>,
    last_failure: Option<Instant>,
    /// The revision to restore if the changes made since it break a stage.
    target: Option<u64>,
    /// Pipeline-stage failures since `target` was set.
    failures: usize,
    /// The stages those failures came from.
    failed: BTreeSet<StageKind>,
}

impl Tracker {
    pub fn new(policy: Policy, revision: u64, now: Instant) -> Self {
        Self {
            policy,
            current: revision,
            current_since: now,
            up: BTreeSet::new(),
            last_failure: None,
            target: None,
            failures: 0,
            failed: BTreeSet::new(),
        }
    }

    /// Every pipeline stage is up and none has failed for `stable_after`.
    fn healthy(&self, now: Instant) -> bool {
        PIPELINE.iter().all(|s| self.up.contains(s))
            && self
                .last_failure
                .is_none_or(|at| now.duration_since(at) >= self.policy.stable_after)
    }

    /// The revision changes are currently measured against, if any.
    pub fn target(&self) -> Option<u64> {
        self.target
    }

    /// A new desired state was published.
    pub fn revision_changed(&mut self, revision: u64, now: Instant) {
        if revision == self.current {
            return;
        }
        let settled = now.duration_since(self.current_since) >= self.policy.stable_after;
        if self.target.is_none() && settled && self.healthy(now) {
            // A change away from a configuration that has proven itself: blamable.
            self.target = Some(self.current);
            self.failures = 0;
            self.failed.clear();
        }
        self.current = revision;
        self.current_since = now;
    }

    /// Periodic check: once the newest revision has run healthily, it is fine, and the next
    /// change is measured against it.
    pub fn tick(&mut self, now: Instant) {
        let settled = now.duration_since(self.current_since) >= self.policy.stable_after;
        if self.target.is_some() && settled && self.healthy(now) {
            self.target = None;
            self.failures = 0;
            self.failed.clear();
        }
    }

    /// A stage event; a failure may yield a rollback decision.
    pub fn event(&mut self, event: StageEvent, now: Instant) -> Option<Decision> {
        let (stage, bad_config) = match event {
            StageEvent::Ready(stage) => {
                self.up.insert(stage);
                return None;
            }
            StageEvent::Failed { stage, bad_config } => (stage, bad_config),
        };
        if !PIPELINE.contains(&stage) {
            return None;
        }
        self.up.remove(&stage);
        self.last_failure = Some(now);
        let target = self.target?;
        self.failures += 1;
        self.failed.insert(stage);
        if !bad_config && self.failures < self.policy.threshold {
            return None;
        }
        let why = if bad_config {
            format!(
                "{stage} cannot run with the configuration of revision {}",
                self.current
            )
        } else {
            format!(
                "{stage} failed {} times after the configuration changed (revision {})",
                self.failures, self.current
            )
        };
        self.target = None;
        self.failures = 0;
        Some(Decision {
            against_revision: self.current,
            to_revision: target,
            reason: format!("{why}; rolled back to revision {target}"),
            stages: std::mem::take(&mut self.failed).into_iter().collect(),
        })
    }
}

/// The health task: runs until the event channel closes.
pub async fn run(
    owner: OwnerHandle,
    mut states: watch::Receiver<Arc<PipelineState>>,
    mut events: mpsc::UnboundedReceiver<StageEvent>,
    policy: Policy,
) {
    let mut tracker = Tracker::new(policy, states.borrow_and_update().revision, Instant::now());
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut pinned = None;
    loop {
        // The owner keeps only a few recent configurations; it must keep the target.
        if tracker.target() != pinned {
            pinned = tracker.target();
            owner.pin(pinned).await;
        }
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() {
                    return;
                }
                let revision = states.borrow_and_update().revision;
                tracker.revision_changed(revision, Instant::now());
            }
            event = events.recv() => {
                let Some(event) = event else { return };
                if let Some(decision) = tracker.event(event, Instant::now()) {
                    match owner.rollback(&decision).await {
                        Ok(revision) => tracing::warn!(revision, reason = %decision.reason, "configuration rolled back"),
                        Err(e) => tracing::error!(error = %e, reason = %decision.reason, "rollback not done"),
                    }
                }
            }
            _ = tick.tick() => tracker.tick(Instant::now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash(stage: StageKind) -> StageEvent {
        StageEvent::Failed {
            stage,
            bad_config: false,
        }
    }

    /// A tracker at revision 1 with every stage up, healthy since `t0`.
    fn healthy_tracker(t0: Instant) -> Tracker {
        let mut t = Tracker::new(Policy::default(), 1, t0);
        for s in StageKind::ALL {
            t.event(StageEvent::Ready(s), t0);
        }
        t
    }

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn repeated_crashes_after_a_change_from_a_healthy_system_roll_back() {
        let t0 = Instant::now();
        let mut t = healthy_tracker(t0);
        t.revision_changed(2, secs(t0, 10));
        assert_eq!(t.target(), Some(1));
        assert_eq!(t.event(crash(StageKind::Render), secs(t0, 11)), None);
        assert_eq!(t.event(crash(StageKind::Render), secs(t0, 11)), None);
        let d = t
            .event(crash(StageKind::Render), secs(t0, 12))
            .expect("rollback");
        assert_eq!((d.against_revision, d.to_revision), (2, 1));
        assert_eq!(
            d.stages,
            [StageKind::Render],
            "the rollback knows what failed"
        );
        assert!(
            d.reason.contains("render-proc failed 3 times"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn quick_follow_up_changes_keep_the_original_target() {
        let t0 = Instant::now();
        let mut t = healthy_tracker(t0);
        t.revision_changed(2, secs(t0, 10));
        t.revision_changed(3, secs(t0, 11));
        t.revision_changed(4, secs(t0, 12));
        t.tick(secs(t0, 13));
        assert_eq!(t.target(), Some(1));
        for _ in 0..2 {
            t.event(crash(StageKind::Output), secs(t0, 13));
        }
        let d = t
            .event(crash(StageKind::Output), secs(t0, 13))
            .expect("rollback");
        assert_eq!((d.against_revision, d.to_revision), (4, 1));
    }

    #[test]
    fn a_change_that_runs_fine_becomes_the_new_baseline() {
        let t0 = Instant::now();
        let mut t = healthy_tracker(t0);
        t.revision_changed(2, secs(t0, 10));
        t.tick(secs(t0, 16));
        assert_eq!(t.target(), None, "revision 2 proved itself");
        t.revision_changed(3, secs(t0, 30));
        assert_eq!(t.target(), Some(2));
    }

    #[test]
    fn no_rollback_when_the_system_was_not_healthy_at_the_change() {
        let t0 = Instant::now();
        // Stages never became ready: nothing is known to be good.
        let mut t = Tracker::new(Policy::default(), 1, t0);
        t.revision_changed(2, secs(t0, 10));
        for s in 0..5 {
            assert_eq!(t.event(crash(StageKind::Render), secs(t0, 11 + s)), None);
        }
        // A persistently failing stage: changes made meanwhile are not blamed either.
        let mut t = healthy_tracker(t0);
        t.event(crash(StageKind::Audio), secs(t0, 20));
        t.revision_changed(2, secs(t0, 21));
        assert_eq!(t.target(), None);
        for s in 0..5 {
            assert_eq!(t.event(crash(StageKind::Audio), secs(t0, 22 + s)), None);
        }
    }

    #[test]
    fn after_a_rollback_nothing_more_is_rolled_back_until_the_system_is_healthy() {
        let t0 = Instant::now();
        let mut t = healthy_tracker(t0);
        t.revision_changed(2, secs(t0, 10));
        for _ in 0..3 {
            t.event(crash(StageKind::Render), secs(t0, 11));
        }
        t.revision_changed(3, secs(t0, 11)); // the rollback itself
        assert_eq!(t.target(), None);
        for s in 0..6 {
            assert_eq!(
                t.event(crash(StageKind::Render), secs(t0, 12 + s)),
                None,
                "no ping-pong"
            );
        }
    }

    #[test]
    fn api_failures_never_blame_a_change_and_bad_config_rolls_back_at_once() {
        let t0 = Instant::now();
        let mut t = healthy_tracker(t0);
        t.revision_changed(2, secs(t0, 10));
        for _ in 0..5 {
            assert_eq!(t.event(crash(StageKind::Api), secs(t0, 11)), None);
        }
        let bad = StageEvent::Failed {
            stage: StageKind::Audio,
            bad_config: true,
        };
        let d = t.event(bad, secs(t0, 12)).expect("rollback");
        assert_eq!(d.stages, [StageKind::Audio], "api-proc is not blamed");
        assert!(
            d.reason.starts_with("audio-proc cannot run"),
            "{}",
            d.reason
        );
    }
}

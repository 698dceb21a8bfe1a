//! Crash-loop detection: a configuration change that makes a stage crash repeatedly (or exit
//! saying the configuration is unusable) is rolled back to the last configuration under which
//! every stage ran stably, and the reason is kept for `/api/info`.
//!
//! The decision logic ([`Tracker`]) is pure and unit-tested; [`run`] feeds it the stage
//! failures reported by the stage tasks and the revisions published by the state owner.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proto::pipeline::PipelineState;
use proto::stage::StageKind;
use tokio::sync::{mpsc, watch};

use crate::owner::OwnerHandle;

/// A stage failure reported by its supervising task.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub stage: StageKind,
    /// The stage exited saying its configuration is unusable (exit code `BadConfig`).
    pub bad_config: bool,
}

/// When a failing configuration is rolled back.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures counted within this window…
    pub window: Duration,
    /// …this many of them after a change trigger a rollback.
    pub threshold: usize,
    /// A revision under which no stage failed for this long becomes the rollback target.
    pub stable_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30),
            threshold: 3,
            stable_after: Duration::from_secs(5),
        }
    }
}

/// What to roll back to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub to_revision: u64,
    pub reason: String,
}

/// Tracks revisions and failures; decides when to roll back.
#[derive(Debug)]
pub struct Tracker {
    policy: Policy,
    current: u64,
    current_since: Instant,
    /// The last revision every stage ran under without failing for `stable_after`.
    good: Option<u64>,
    /// `(when, stage, revision in force)`.
    failures: VecDeque<(Instant, StageKind, u64)>,
}

impl Tracker {
    pub fn new(policy: Policy, revision: u64, now: Instant) -> Self {
        Self {
            policy,
            current: revision,
            current_since: now,
            good: None,
            failures: VecDeque::new(),
        }
    }

    /// The last known-good revision.
    pub fn good(&self) -> Option<u64> {
        self.good
    }

    /// A new desired state was published.
    pub fn revision_changed(&mut self, revision: u64, now: Instant) {
        if revision != self.current {
            self.current = revision;
            self.current_since = now;
        }
    }

    /// Periodic check: promotes the current revision to good once it has been stable.
    pub fn tick(&mut self, now: Instant) {
        let failed_since_change = self
            .failures
            .iter()
            .any(|(at, _, _)| *at >= self.current_since);
        if !failed_since_change
            && now.duration_since(self.current_since) >= self.policy.stable_after
        {
            self.good = Some(self.current);
        }
    }

    /// A stage failed; returns a rollback decision when the current configuration is to blame.
    pub fn failed(&mut self, failure: Failure, now: Instant) -> Option<Decision> {
        self.failures.push_back((now, failure.stage, self.current));
        while self
            .failures
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) > self.policy.window)
        {
            self.failures.pop_front();
        }
        let good = self.good?;
        if self.current <= good {
            return None;
        }
        let since_change: Vec<&(Instant, StageKind, u64)> = self
            .failures
            .iter()
            .filter(|(_, _, rev)| *rev > good)
            .collect();
        let looping = since_change.len() >= self.policy.threshold;
        if !(looping || failure.bad_config) {
            return None;
        }
        let reason = if failure.bad_config {
            format!(
                "{} cannot run with the configuration of revision {}",
                failure.stage, self.current
            )
        } else {
            format!(
                "{} failed {} times within {} s after the configuration changed (revision {})",
                failure.stage,
                since_change.len(),
                self.policy.window.as_secs(),
                self.current
            )
        };
        self.failures.clear();
        Some(Decision {
            to_revision: good,
            reason: format!("{reason}; rolled back to revision {good}"),
        })
    }
}

/// The health task: runs until the failure channel closes.
pub async fn run(
    owner: OwnerHandle,
    mut states: watch::Receiver<Arc<PipelineState>>,
    mut failures: mpsc::UnboundedReceiver<Failure>,
    policy: Policy,
) {
    let mut tracker = Tracker::new(policy, states.borrow_and_update().revision, Instant::now());
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() {
                    return;
                }
                let revision = states.borrow_and_update().revision;
                tracker.revision_changed(revision, Instant::now());
            }
            failure = failures.recv() => {
                let Some(failure) = failure else { return };
                if let Some(decision) = tracker.failed(failure, Instant::now()) {
                    match owner.rollback(decision.to_revision, decision.reason.clone()).await {
                        Ok(revision) => tracing::warn!(revision, reason = %decision.reason, "configuration rolled back"),
                        Err(e) => tracing::error!(error = %e, reason = %decision.reason, "rollback not possible"),
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

    const CRASH: Failure = Failure {
        stage: StageKind::Render,
        bad_config: false,
    };

    fn policy() -> Policy {
        Policy::default()
    }

    #[test]
    fn a_revision_becomes_good_only_after_running_stably() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(), 1, t0);
        t.tick(t0 + Duration::from_secs(1));
        assert_eq!(t.good(), None);
        t.tick(t0 + Duration::from_secs(6));
        assert_eq!(t.good(), Some(1));
        t.revision_changed(2, t0 + Duration::from_secs(7));
        t.failed(CRASH, t0 + Duration::from_secs(8));
        t.tick(t0 + Duration::from_secs(20));
        assert_eq!(t.good(), Some(1), "a revision with failures is not good");
    }

    #[test]
    fn repeated_crashes_after_a_change_roll_back_to_the_good_revision() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(), 1, t0);
        t.tick(t0 + Duration::from_secs(6));
        t.revision_changed(2, t0 + Duration::from_secs(7));
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(t.failed(CRASH, at(8)), None);
        assert_eq!(t.failed(CRASH, at(9)), None);
        let decision = t.failed(CRASH, at(10)).expect("third crash rolls back");
        assert_eq!(decision.to_revision, 1);
        assert!(
            decision.reason.contains("render-proc failed 3 times"),
            "{}",
            decision.reason
        );
    }

    #[test]
    fn crashes_spread_out_or_before_any_good_revision_do_not_roll_back() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut t = Tracker::new(policy(), 1, t0);
        // Nothing was ever stable: nothing to roll back to.
        for s in 0..5 {
            assert_eq!(t.failed(CRASH, at(s)), None);
        }
        let mut t = Tracker::new(policy(), 1, t0);
        t.tick(at(6));
        t.revision_changed(2, at(7));
        assert_eq!(t.failed(CRASH, at(10)), None);
        assert_eq!(t.failed(CRASH, at(50)), None);
        assert_eq!(
            t.failed(CRASH, at(90)),
            None,
            "crashes 40 s apart are not a loop"
        );
    }

    #[test]
    fn crashes_under_the_good_revision_itself_do_not_roll_back() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(), 4, t0);
        t.tick(t0 + Duration::from_secs(6));
        for s in 7..12 {
            assert_eq!(t.failed(CRASH, t0 + Duration::from_secs(s)), None);
        }
    }

    #[test]
    fn a_bad_config_exit_rolls_back_at_once() {
        let t0 = Instant::now();
        let mut t = Tracker::new(policy(), 1, t0);
        t.tick(t0 + Duration::from_secs(6));
        t.revision_changed(2, t0 + Duration::from_secs(7));
        let bad = Failure {
            stage: StageKind::Audio,
            bad_config: true,
        };
        let decision = t
            .failed(bad, t0 + Duration::from_secs(8))
            .expect("rollback");
        assert_eq!(decision.to_revision, 1);
        assert!(
            decision.reason.starts_with("audio-proc cannot run"),
            "{}",
            decision.reason
        );
    }
}

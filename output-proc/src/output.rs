//! The set of running device senders, kept in step with the desired state.
//!
//! [`Output::apply`] diffs a new `PipelineState` against what runs: it starts a sender for each
//! newly active device, stops (after one black frame) the senders of devices that became
//! inactive or were removed, and restarts a sender only when its device's spec changed, so an
//! unrelated change (a new effect, another device) never interrupts a device's stream.
//! [`Output::shutdown`] stops everything within a bounded time. The stage binary drives this;
//! tests drive it in-process against sockets on 127.0.0.1.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use proto::layout::{Segment, MAX_DEVICE_SLOTS};
use proto::pipeline::{DeviceSpec, PipelineState};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::protocols::build_protocol;
use crate::sender::{DeviceTask, Stop};

/// How long [`Output::shutdown`] waits for senders to send their last frame and finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(400);

/// A running device sender.
struct Running {
    /// The spec it was started from (a change means a restart).
    spec: DeviceSpec,
    /// Tells the task to stop; `None` once used.
    stop: Option<oneshot::Sender<Stop>>,
    handle: JoinHandle<()>,
}

impl Running {
    fn stop(&mut self, blackout: bool) {
        if let Some(stop) = self.stop.take() {
            // The task may already have ended; then there is nothing to stop.
            let _ = stop.send(Stop { blackout });
        }
    }
}

/// All device senders of this process.
pub struct Output {
    segment: Arc<Segment>,
    running: HashMap<String, Running>,
    /// Senders asked to stop that may still be sending their last frame.
    stopping: Vec<JoinHandle<()>>,
    /// Specs that could not be built, so the same error is logged once, not on every state.
    failed: HashMap<String, DeviceSpec>,
    paused: watch::Sender<bool>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("running", &self.running.keys().collect::<Vec<_>>())
            .field("stopping", &self.stopping.len())
            .field("failed", &self.failed.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Output {
    /// An output with no senders. `segment` is the shared memory holding the device frames.
    pub fn new(segment: Arc<Segment>) -> Self {
        Self {
            segment,
            running: HashMap::new(),
            stopping: Vec::new(),
            failed: HashMap::new(),
            paused: watch::Sender::new(false),
        }
    }

    /// Brings the senders in line with `state`. Must be called from within a tokio runtime
    /// (it spawns tasks); it never waits.
    pub fn apply(&mut self, state: &PipelineState) {
        self.paused.send_replace(state.paused);
        self.stopping.retain(|h| !h.is_finished());

        let wanted: HashMap<&str, &DeviceSpec> = state
            .devices
            .iter()
            .filter(|d| d.active)
            .map(|d| (d.id.as_str(), d))
            .collect();

        // Devices no longer driven get a black frame so their lights do not freeze.
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|id| !wanted.contains_key(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            if let Some(mut running) = self.running.remove(&id) {
                tracing::info!(device = %id, "stopping device output");
                running.stop(true);
                self.stopping.push(running.handle);
            }
        }
        self.failed.retain(|id, _| wanted.contains_key(id.as_str()));

        for (id, spec) in wanted {
            if let Some(running) = self.running.get(id) {
                if running.spec == *spec {
                    continue;
                }
                if let Some(mut old) = self.running.remove(id) {
                    tracing::info!(device = %id, "device changed, restarting its output");
                    old.stop(false);
                    self.stopping.push(old.handle);
                }
            }
            if self.failed.get(id) == Some(spec) {
                continue;
            }
            match self.start(spec) {
                Ok(running) => {
                    self.failed.remove(id);
                    self.running.insert(id.to_owned(), running);
                }
                Err(error) => {
                    tracing::error!(device = %id, %error, "cannot drive device");
                    self.failed.insert(id.to_owned(), spec.clone());
                }
            }
        }
    }

    fn start(&self, spec: &DeviceSpec) -> Result<Running, StartError> {
        if usize::from(spec.slot) >= MAX_DEVICE_SLOTS {
            return Err(StartError::SlotOutOfRange(spec.slot));
        }
        let protocol = build_protocol(&spec.device_type, &spec.config_json)?;
        tracing::info!(
            device = %spec.id,
            device_type = %spec.device_type,
            pixels = spec.pixel_count,
            fps = spec.refresh_rate,
            "starting device output"
        );
        let task = DeviceTask {
            spec: spec.clone(),
            protocol,
            segment: Arc::clone(&self.segment),
            paused: self.paused.subscribe(),
        };
        let (stop, stop_rx) = oneshot::channel();
        let handle = tokio::spawn(task.run(stop_rx));
        Ok(Running {
            spec: spec.clone(),
            stop: Some(stop),
            handle,
        })
    }

    /// Ids of the devices with a running sender.
    pub fn running_devices(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.running.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Stops every sender, after one black frame each when `blackout` is set, and waits for
    /// them for at most [`SHUTDOWN_GRACE`]; stragglers are aborted.
    pub async fn shutdown(&mut self, blackout: bool) {
        let mut handles = std::mem::take(&mut self.stopping);
        for (_, mut running) in self.running.drain() {
            running.stop(blackout);
            handles.push(running.handle);
        }
        let aborts: Vec<_> = handles.iter().map(JoinHandle::abort_handle).collect();
        let all = async {
            for handle in handles {
                // A task that panicked aborts the process (the panic hook of
                // `proto::stage::bootstrap`), so in the stage a join error here can only be a
                // cancellation.
                let _ = handle.await;
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, all).await.is_err() {
            tracing::warn!("device senders did not stop in time; aborting them");
            for abort in aborts {
                abort.abort();
            }
        }
    }
}

/// Why a device's sender could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("device slot {0} is out of range")]
    SlotOutOfRange(u16),
    #[error(transparent)]
    Build(#[from] crate::protocols::BuildError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dummy(id: &str, slot: u16, active: bool) -> DeviceSpec {
        DeviceSpec {
            id: id.into(),
            slot,
            generation: 1,
            device_type: "dummy".into(),
            pixel_count: 4,
            refresh_rate: 125,
            center_offset: 0,
            config_json: r#"{"name":"x","pixel_count":4}"#.into(),
            active,
        }
    }

    fn state(devices: Vec<DeviceSpec>) -> PipelineState {
        PipelineState {
            devices,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn diffing_starts_stops_and_restarts_only_what_changed() {
        let segment = Arc::new(Segment::create().unwrap());
        let mut output = Output::new(Arc::clone(&segment));
        output.apply(&state(vec![dummy("a", 0, true), dummy("b", 1, false)]));
        assert_eq!(output.running_devices(), ["a"]);
        let first_a = output.running["a"].handle.id();

        // Same spec for a, b activated: a keeps its task.
        output.apply(&state(vec![dummy("a", 0, true), dummy("b", 1, true)]));
        assert_eq!(output.running_devices(), ["a", "b"]);
        assert_eq!(output.running["a"].handle.id(), first_a);

        // a's spec changes: restarted. b removed: stopped.
        let mut a2 = dummy("a", 0, true);
        a2.refresh_rate = 30;
        output.apply(&state(vec![a2]));
        assert_eq!(output.running_devices(), ["a"]);
        assert_ne!(output.running["a"].handle.id(), first_a);

        output.shutdown(false).await;
        assert!(output.running_devices().is_empty());
    }

    #[tokio::test]
    async fn unusable_devices_are_skipped_not_fatal() {
        let segment = Arc::new(Segment::create().unwrap());
        let mut output = Output::new(segment);
        let mut unknown = dummy("w", 2, true);
        unknown.device_type = "wled".into();
        let bad_slot = dummy("s", u16::MAX, true);
        output.apply(&state(vec![unknown, bad_slot, dummy("ok", 3, true)]));
        assert_eq!(output.running_devices(), ["ok"]);
        assert_eq!(output.failed.len(), 2);
        output.shutdown(false).await;
    }

    #[tokio::test]
    async fn dummy_counts_frames_once_a_frame_exists() {
        let segment = Arc::new(Segment::create().unwrap());
        let mut output = Output::new(Arc::clone(&segment));
        output.apply(&state(vec![dummy("a", 7, true)]));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            segment.device_stats(7).frames_sent(),
            0,
            "no frame published yet"
        );
        segment
            .device_slot(7)
            .publish_generation(&[1; 12], proto::monotonic_ns(), 1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while segment.device_stats(7).frames_sent() < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "dummy never counted frames"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        output.shutdown(false).await;
    }
}

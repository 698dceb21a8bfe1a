//! The live preview (ledfx-api.md §4.7): at `visualisation_fps`, the newest frame of every
//! device and virtual a client watches becomes a `visualisation_update`.
//!
//! Device frames are the frames render-proc publishes for output-proc, fitted and rotated as
//! output-proc sends them. Virtual frames come from the visualisation slots, which
//! render-proc fills only while this task marks them as wanted, so nothing is copied for a
//! virtual no one watches, and with no subscriber this task only looks at the subscriptions.
//! A frame is sent once: a virtual that stops rendering (inactive, paused) sends nothing.
//! The same loop turns render-proc's per-second timing records into `virtual_diag`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use proto::layout::Segment;
use proto::pipeline::{fit_device_frame, PipelineState};
use serde_json::Value;
use tokio::sync::watch;

use super::bus::{Bus, LedfxEvent, VISUALISATION_UPDATE};
use super::preview::{event_fields, PreviewSettings};
use crate::feed::Hub;

/// How far ahead a watched virtual's slot is marked wanted; render-proc stops copying this
/// long after the last client stopped watching.
const WANTED_FOR: Duration = Duration::from_secs(1);
/// A frame published longer ago than this is an idle slot's leftover, not sent.
const STALE_AFTER_NS: u64 = 1_000_000_000;

/// Everything the visualiser reads.
#[derive(Debug)]
pub struct Visualiser {
    pub segment: Segment,
    pub pipeline: watch::Receiver<Option<Arc<PipelineState>>>,
    pub bus: Bus,
    pub hub: Hub,
}

/// Which frames the subscriptions ask for.
struct Wants(Vec<(Option<Value>, Option<Value>)>);

impl Wants {
    fn frame(&self, vis_id: &str, is_device: bool) -> bool {
        self.0.iter().any(|(id, device)| {
            id.as_ref().is_none_or(|id| id.as_str() == Some(vis_id))
                && device
                    .as_ref()
                    .is_none_or(|d| d.as_bool() == Some(is_device))
        })
    }
}

/// Nanoseconds as LedFx's seconds.
fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl Visualiser {
    /// Fires `virtual_diag` for every virtual whose render-proc diagnostics record has a new
    /// second in it (render-proc writes one only while the effect has `diag` on). A record
    /// seen for the first time may be an old one, so it only sets the mark.
    fn diagnostics(&self, state: &PipelineState, seen: &mut HashMap<String, u64>) {
        if !self.bus.wanted("virtual_diag") {
            seen.clear();
            return;
        }
        for v in &state.virtuals {
            let Some(vis) = v.vis else { continue };
            let Some((seq, diag)) = self.segment.vis_diag(vis.slot).read() else {
                continue;
            };
            let before = seen.insert(v.id.clone(), seq);
            if before.is_none_or(|b| b == seq) {
                continue;
            }
            // `phy` is the WLED-reported state, which needs the `wled` device type.
            let fields = serde_json::json!({
                "virtual_id": v.id,
                "fps": diag.fps,
                "r_avg": secs(diag.r_avg_ns),
                "r_min": secs(diag.r_min_ns),
                "r_max": secs(diag.r_max_ns),
                "cycle": secs(diag.cycle_ns),
                "sleep": secs(diag.sleep_ns),
                "phy": {"fps": null, "ver": null, "n": null, "name": null, "rssi": null, "qual": null},
            });
            self.bus.fire(&LedfxEvent::new("virtual_diag", fields));
        }
    }

    /// Runs until the runtime ends.
    pub async fn run(self) {
        let mut sent: HashMap<(bool, String), u64> = HashMap::new();
        let mut diag_seen: HashMap<String, u64> = HashMap::new();
        let (mut frame, mut fitted) = (Vec::new(), Vec::new());
        let mut fps = 0;
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            let settings = PreviewSettings::from_config(&self.hub.api_settings());
            if settings.fps != fps {
                fps = settings.fps;
                // A late tick is made up for at once (tokio's default), so a busy moment does
                // not lower the rate; a frame is still sent only once, so a burst never
                // exceeds what was rendered.
                ticks = tokio::time::interval(Duration::from_secs(1) / fps.max(1));
            }
            ticks.tick().await;
            let Some(state) = self.pipeline.borrow().clone() else {
                continue;
            };
            self.diagnostics(&state, &mut diag_seen);
            let wants = Wants(self.bus.visualisation_wants());
            if wants.0.is_empty() {
                sent.clear();
                continue;
            }
            if state.paused {
                continue;
            }
            let rows = |id: &str| {
                state
                    .virtuals
                    .iter()
                    .find(|v| v.id == id)
                    .map_or(1, |v| v.rows.max(1) as usize)
            };
            let fire = |is_device: bool, id: &str, pixels: &[u8]| {
                let fields = event_fields(is_device, id, pixels, rows(id), &settings);
                self.bus
                    .fire(&LedfxEvent::new(VISUALISATION_UPDATE, fields));
            };
            // A frame left in a slot long ago (an idle device's last one) is not news.
            let now_ns = proto::monotonic_ns();
            let fresh = |timestamp_ns: u64| now_ns.saturating_sub(timestamp_ns) < STALE_AFTER_NS;
            for device in &state.devices {
                if !wants.frame(&device.id, true) {
                    continue;
                }
                let Some(meta) = self
                    .segment
                    .device_slot(device.slot)
                    .read_latest(&mut frame)
                else {
                    continue;
                };
                let known = sent.get(&(true, device.id.clone())).copied();
                if meta.generation != device.generation
                    || known == Some(meta.frame_no)
                    || !fresh(meta.timestamp_ns)
                {
                    continue;
                }
                fit_device_frame(
                    &frame,
                    device.pixel_count,
                    device.center_offset,
                    &mut fitted,
                );
                sent.insert((true, device.id.clone()), meta.frame_no);
                fire(true, &device.id, &fitted);
            }
            for v in &state.virtuals {
                // A device virtual's frames equal its device's: LedFx lets the device frame
                // through when both are watched (they share one throttle), so does this.
                let device_watched =
                    state.devices.iter().any(|d| d.id == v.id) && wants.frame(&v.id, true);
                let Some(vis) = v
                    .vis
                    .filter(|_| !device_watched && wants.frame(&v.id, false))
                else {
                    continue;
                };
                let until = now_ns + WANTED_FOR.as_nanos() as u64;
                self.segment
                    .vis_wanted(vis.slot)
                    .store(until, Ordering::Relaxed);
                let Some(meta) = self.segment.vis_slot(vis.slot).read_latest(&mut frame) else {
                    continue;
                };
                let known = sent.get(&(false, v.id.clone())).copied();
                if meta.generation != vis.generation
                    || known == Some(meta.frame_no)
                    || !fresh(meta.timestamp_ns)
                {
                    continue;
                }
                sent.insert((false, v.id.clone()), meta.frame_no);
                fire(false, &v.id, &frame);
            }
        }
    }
}

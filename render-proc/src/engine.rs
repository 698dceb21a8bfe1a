//! The render engine: runs every active virtual's effect on the virtual's own clock and
//! writes device frames into shared memory (engine spec §4.1, §4.4, §4.5, §4.7, §5).
//!
//! The engine is a plain value driven from outside, so the stage binary stays thin and tests
//! can drive it with a synthetic clock:
//!
//! * [`Engine::apply_state`] diffs a new desired state against what is running: a new effect
//!   `instance` starts a new effect (with the virtual's transition), the same instance with a
//!   new config is updated in place, a removed effect fades to black and then stops.
//! * [`Engine::tick`] renders every virtual whose deadline has passed and returns the next
//!   deadline, so the caller can sleep until then (one thread for all virtuals; no busy wait).
//!
//! One virtual's effect, transition, clock and frame live in `engine/runner.rs`; this file
//! holds the engine that drives them and owns the device buffers.
//!
//! Per rendered frame of a virtual: effect → post-processing → clip 0..255 → centre-offset
//! roll → transition blend → × max_brightness × global_brightness → segments into device
//! buffers (bytes by truncation) → the device's priority virtual publishes the device frame.
//! Buffers are reused, so the steady state does not allocate, and nothing per frame is logged.
//!
//! Choices made here:
//!
//! * The first state applied after start-up starts its effects without transitions: after a
//!   crash the restarted stage resumes the running effects instead of fading them in again.
//! * LedFx clears an effect by fading to black while the virtual stays registered; the
//!   supervisor reports a cleared virtual as inactive in the same state. An effect that
//!   disappears is therefore faded out even when the virtual turns inactive at the same time;
//!   a virtual that turns inactive while keeping its effect stops at once.
//! * A device's frame is published only by its priority virtual (§4.5); preview-only virtuals
//!   never write device buffers and are never priority virtuals; when paused nothing is
//!   written or published, but effects and transitions keep running.
//! * The device's own `center_offset` is not applied here: output-proc rotates just before
//!   sending (see `DeviceSpec::center_offset`).
//! * While api-proc marks a virtual's visualisation slot as wanted, each of its frames is also
//!   copied there for the live preview (`vis.rs`); preview-only virtuals included, paused
//!   ones not.
//! * With the effect's `diag` on, each second's render timing goes to the virtual's
//!   diagnostics record (`diag.rs`), which api-proc turns into `virtual_diag`.
//! * Every device frame is published tagged with its `DeviceSpec::generation`, and a buffer
//!   whose slot was handed to another device (a new generation) starts black. output-proc
//!   sends only frames of the generation it knows, so a frame a deleted device left in a
//!   reused slot is never sent to the slot's new device, and render-proc stays the slot's only
//!   writer.

use std::collections::HashMap;
use std::time::Instant;

use proto::layout::{Segment, MAX_DEVICE_SLOTS, MAX_PIXELS_PER_DEVICE};
use proto::pipeline::PipelineState;

use crate::audio::AudioReader;
use crate::effects::RenderContext;
use crate::mapping::priority_virtual;
use crate::rng::SplitMix64;

mod runner;

use runner::{DeviceBuffer, VirtualRunner};

/// Counters for occasional logging (never logged per frame).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Virtual frames rendered.
    pub frames_rendered: u64,
    /// Device frames published to shared memory.
    pub frames_published: u64,
    /// Renders that started more than one period late (the deadline was resynchronised).
    pub late_frames: u64,
}

/// Runs all virtuals of the pipeline state. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    devices: HashMap<u16, DeviceBuffer>,
    virtuals: Vec<VirtualRunner>,
    global_brightness: f64,
    paused: bool,
    flush_on_deactivate: bool,
    audio: AudioReader,
    /// Whether a state was applied before (the first one starts effects without transition).
    started: bool,
    rng: SplitMix64,
    stats: EngineStats,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// An engine with nothing to render.
    pub fn new() -> Self {
        Self {
            devices: HashMap::new(),
            virtuals: Vec::new(),
            global_brightness: 1.0,
            paused: false,
            flush_on_deactivate: false,
            audio: AudioReader::default(),
            started: false,
            rng: SplitMix64::from_clock(),
            stats: EngineStats::default(),
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Number of virtuals currently rendered.
    pub fn rendering_virtuals(&self) -> usize {
        self.virtuals.iter().filter(|v| v.rendering).count()
    }

    /// Applies a new desired state, keeping whatever did not change running.
    pub fn apply_state(&mut self, state: &PipelineState) {
        self.global_brightness = state.global_brightness.clamp(0.0, 1.0);
        self.paused = state.paused;
        self.flush_on_deactivate = state.flush_on_deactivate;
        self.apply_devices(state);

        let allow_transition = self.started;
        self.started = true;
        let mut old: HashMap<String, VirtualRunner> = self
            .virtuals
            .drain(..)
            .map(|v| (v.spec.id.clone(), v))
            .collect();
        for spec in &state.virtuals {
            let mut runner = old
                .remove(&spec.id)
                .unwrap_or_else(|| VirtualRunner::new(spec, &mut self.rng));
            runner.update(spec, &self.devices, allow_transition, &mut self.rng);
            self.virtuals.push(runner);
        }
        for (_, removed) in old {
            if removed.rendering && self.flush_on_deactivate {
                removed.zero_ranges(&mut self.devices);
            }
        }
        for v in &mut self.virtuals {
            let wants = v.wants_render();
            if wants && !v.rendering {
                v.deadline = None;
            }
            if !wants && v.rendering && self.flush_on_deactivate {
                v.zero_ranges(&mut self.devices);
            }
            v.rendering = wants;
        }
        self.update_priorities();
        tracing::debug!(
            revision = state.revision,
            devices = self.devices.len(),
            virtuals = self.virtuals.len(),
            rendering = self.rendering_virtuals(),
            "state applied"
        );
    }

    fn apply_devices(&mut self, state: &PipelineState) {
        let mut seen = Vec::with_capacity(state.devices.len());
        for d in &state.devices {
            if usize::from(d.slot) >= MAX_DEVICE_SLOTS {
                tracing::warn!(device = %d.id, slot = d.slot, "device slot out of range, not rendered");
                continue;
            }
            seen.push(d.slot);
            let len = (d.pixel_count as usize).min(MAX_PIXELS_PER_DEVICE) * 3;
            let buffer = self.devices.entry(d.slot).or_insert_with(|| DeviceBuffer {
                bytes: vec![0; len],
                generation: d.generation,
                refresh_rate: d.refresh_rate,
                priority: None,
            });
            if buffer.generation != d.generation {
                // The slot belongs to another device now: none of the old pixels carry over.
                buffer.bytes.fill(0);
                buffer.generation = d.generation;
            }
            if buffer.bytes.len() != len {
                buffer.bytes = vec![0; len];
            }
            buffer.refresh_rate = d.refresh_rate.max(1);
        }
        self.devices.retain(|slot, _| seen.contains(slot));
    }

    /// Recomputes every device's priority virtual; a device that gains one after having none
    /// starts from a black buffer (LedFx zeroes a device's buffer on activation).
    fn update_priorities(&mut self) {
        for (&slot, device) in &mut self.devices {
            let candidates = self
                .virtuals
                .iter()
                .enumerate()
                .filter(|(_, v)| v.rendering && !v.spec.preview_only && v.layout.uses_slot(slot))
                .map(|(i, v)| (i, v.refresh_rate));
            let priority = priority_virtual(candidates);
            if device.priority.is_none() && priority.is_some() {
                device.bytes.fill(0);
            }
            device.priority = priority;
        }
    }

    /// Renders every virtual that is due at `now`, writes and publishes device frames, and
    /// returns the next deadline (`None` when nothing is being rendered).
    pub fn tick(&mut self, segment: &Segment, now: Instant) -> Option<Instant> {
        let Engine {
            devices,
            virtuals,
            global_brightness,
            paused,
            audio,
            stats,
            ..
        } = self;
        let needs_audio = virtuals
            .iter()
            .any(|v| v.rendering && v.due(now) && v.uses_audio());
        let snapshot = if needs_audio {
            audio.refresh(&segment.audio_slot(), proto::monotonic_ns())
        } else {
            None
        };
        let mut stopped = false;
        for (index, v) in virtuals.iter_mut().enumerate() {
            if !v.rendering || !v.due(now) {
                continue;
            }
            let ctx = RenderContext {
                now,
                audio: snapshot,
                frequency_min: v.spec.frequency_min,
                frequency_max: v.spec.frequency_max,
            };
            let started = Instant::now();
            let last = v.render(&ctx, *global_brightness);
            stats.frames_rendered += 1;
            let diag_on = v.current.as_ref().is_some_and(|c| c.effect.common().diag);
            if let Some(vis) = v.spec.vis.filter(|_| diag_on) {
                if let Some(report) = v.diag.record(started, Instant::now()) {
                    segment.vis_diag(vis.slot).publish(&report);
                }
            }
            if v.schedule(now) {
                stats.late_frames += 1;
            }
            if let Some(vis) = v.spec.vis.filter(|_| !*paused) {
                let now_ns = proto::monotonic_ns();
                if crate::vis::wanted(segment, vis, now_ns) {
                    let (group, pixels) = (v.layout.group, v.layout.pixel_count);
                    crate::vis::publish(
                        segment,
                        vis,
                        &v.frame,
                        group,
                        pixels,
                        &mut v.vis_bytes,
                        now_ns,
                    );
                }
            }
            if !*paused && !v.spec.preview_only {
                v.write_devices(devices);
                for slot in &v.layout.slots {
                    if let Some(device) = devices.get(slot).filter(|d| d.priority == Some(index)) {
                        segment.device_slot(*slot).publish_generation(
                            &device.bytes,
                            proto::monotonic_ns(),
                            device.generation,
                        );
                        stats.frames_published += 1;
                    }
                }
            }
            if last {
                v.clearing = false;
                v.pending_black = false;
                v.transition = None;
                v.rendering = false;
                stopped = true;
            }
        }
        if stopped {
            self.update_priorities();
        }
        self.next_deadline(now)
    }

    /// The earliest deadline of the rendered virtuals.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.virtuals
            .iter()
            .filter(|v| v.rendering)
            .map(|v| v.deadline.unwrap_or(now))
            .min()
    }
}

#[cfg(test)]
mod tests;

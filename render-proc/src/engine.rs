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
use std::time::{Duration, Instant};

use proto::layout::{Segment, MAX_DEVICE_SLOTS, MAX_PIXELS_PER_DEVICE};
use proto::pipeline::{EffectSpec, PipelineState, VirtualSpec};
use serde_json::Value;

use crate::audio::AudioReader;
use crate::effects::{build_effect, validate_effect_config, Effect, RenderContext};
use crate::mapping::{priority_virtual, Layout};
use crate::postprocess::PostProcessor;
use crate::rng::SplitMix64;
use crate::transition::{blend, Masks, Progress, TransitionMode};
use crate::Pixel;
use proto::timing::{frame_period, DEFAULT_REFRESH_RATE};

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

/// One device's pixel buffer, shared by the virtuals that write to it.
#[derive(Debug)]
struct DeviceBuffer {
    /// RGB bytes, `pixel_count × 3` (capped at the slot's capacity).
    bytes: Vec<u8>,
    /// The slot's current hand-over (`DeviceSpec::generation`), published with every frame.
    generation: u64,
    refresh_rate: u32,
    /// Index of the virtual that publishes this device's frames.
    priority: Option<usize>,
}

/// A built effect with its post-processing state.
#[derive(Debug)]
struct EffectSlot {
    effect_type: String,
    instance: u64,
    /// The config text last applied, to detect in-place updates.
    config_json: String,
    effect: Box<dyn Effect>,
    post: PostProcessor,
}

impl EffectSlot {
    /// Builds the effect of `spec`. A config that does not validate (a version skew with the
    /// supervisor) falls back to the defaults; an unknown type yields `None`.
    fn build(virtual_id: &str, spec: &EffectSpec) -> Option<Self> {
        let raw: Value = serde_json::from_str(&spec.config_json).unwrap_or(Value::Null);
        let effect = build_effect(&spec.effect_type, &raw)
            .or_else(|err| {
                tracing::warn!(virtual_id, effect = %spec.effect_type, %err, "invalid effect config, using defaults");
                build_effect(&spec.effect_type, &Value::Null)
            })
            .map_err(|err| {
                tracing::warn!(virtual_id, effect = %spec.effect_type, %err, "cannot build effect");
            })
            .ok()?;
        Some(Self {
            effect_type: spec.effect_type.clone(),
            instance: spec.instance,
            config_json: spec.config_json.clone(),
            effect,
            post: PostProcessor::default(),
        })
    }

    /// Applies a new config of the same instance in place (an invalid one is ignored, as
    /// LedFx ignores invalid values in an in-place update).
    fn update(&mut self, virtual_id: &str, config_json: &str) {
        self.config_json = config_json.to_owned();
        let raw: Value = serde_json::from_str(config_json).unwrap_or(Value::Null);
        let result = validate_effect_config(&self.effect_type, &raw)
            .and_then(|validated| self.effect.update_config(&validated));
        if let Err(err) = result {
            tracing::warn!(virtual_id, effect = %self.effect_type, %err, "effect config update ignored");
        }
    }

    /// Renders, post-processes, clips and rolls one frame into `buf`.
    fn render(&mut self, ctx: &RenderContext<'_>, buf: &mut [Pixel], center_offset: i32) {
        buf.fill([0.0; 3]);
        self.effect.render(ctx, buf);
        self.post.apply(self.effect.common(), buf);
        for c in buf.as_flattened_mut() {
            // `clamp` keeps NaN; LedFx's clip would too, and the byte cast maps it to 0.
            *c = c.clamp(0.0, 255.0);
        }
        if !buf.is_empty() {
            let shift = i64::from(center_offset).rem_euclid(buf.len() as i64) as usize;
            buf.rotate_right(shift);
        }
    }
}

/// A running transition: the old effect (`None` = black) being blended out.
#[derive(Debug)]
struct Transition {
    from: Option<EffectSlot>,
    progress: Progress,
}

/// Everything about one virtual.
#[derive(Debug)]
struct VirtualRunner {
    spec: VirtualSpec,
    layout: Layout,
    refresh_rate: u32,
    period: Duration,
    mode: TransitionMode,
    /// `transition_time` and `max_brightness` widened once per state (see [`widen`]).
    transition_time: f64,
    max_brightness: f64,
    current: Option<EffectSlot>,
    transition: Option<Transition>,
    /// The effect was removed: fading to black, then stopping.
    clearing: bool,
    /// Send one black frame, then stop (a removal without a transition).
    pending_black: bool,
    /// Whether the virtual is being rendered (as of the last state or tick).
    rendering: bool,
    /// When the next frame is due (`None`: at once).
    deadline: Option<Instant>,
    frame: Vec<Pixel>,
    old_frame: Vec<Pixel>,
    masks: Masks,
    /// The last `force_color` paint seen, and one waiting to be drawn.
    painted: u64,
    pending_paint: Option<Pixel>,
    /// The last frame as the live preview shows it (reused buffer).
    vis_bytes: Vec<u8>,
    /// Render timing, kept while the effect has `diag` on.
    diag: crate::diag::DiagClock,
}

impl VirtualRunner {
    fn new(spec: &VirtualSpec, rng: &mut SplitMix64) -> Self {
        let layout = Layout::new(spec);
        Self {
            masks: Masks::new(layout.effective, rng),
            layout,
            spec: spec.clone(),
            refresh_rate: DEFAULT_REFRESH_RATE,
            period: frame_period(DEFAULT_REFRESH_RATE),
            mode: TransitionMode::from_name(&spec.transition_mode),
            transition_time: spec.transition_time,
            max_brightness: spec.max_brightness.clamp(0.0, 1.0),
            current: None,
            transition: None,
            clearing: false,
            pending_black: false,
            rendering: false,
            deadline: None,
            frame: Vec::new(),
            old_frame: Vec::new(),
            // A paint that predates this runner (render-proc restarted) is not drawn again.
            painted: spec.tools.paint.as_ref().map_or(0, |p| p.seq),
            pending_paint: None,
            vis_bytes: Vec::new(),
            diag: crate::diag::DiagClock::default(),
        }
    }

    fn transitions_enabled(&self) -> bool {
        self.mode != TransitionMode::None && self.transition_time > 0.0
    }

    fn new_progress(&self) -> Progress {
        Progress::new(self.refresh_rate, self.transition_time)
    }

    /// Whether the virtual should be rendered now.
    fn wants_render(&self) -> bool {
        self.layout.effective > 0
            && ((self.spec.active && self.current.is_some())
                || self.clearing
                || self.pending_black
                || self.pending_paint.is_some()
                || self.spec.tools.calibration)
    }

    fn uses_audio(&self) -> bool {
        let from = self.transition.as_ref().and_then(|t| t.from.as_ref());
        self.current
            .iter()
            .chain(from)
            .any(|s| s.effect.uses_audio())
    }

    fn due(&self, now: Instant) -> bool {
        self.deadline.is_none_or(|d| d <= now)
    }

    /// Brings the runner in line with `spec`.
    fn update(
        &mut self,
        spec: &VirtualSpec,
        devices: &HashMap<u16, DeviceBuffer>,
        allow_transition: bool,
        rng: &mut SplitMix64,
    ) {
        let layout = Layout::new(spec);
        if layout != self.layout {
            if layout.effective != self.layout.effective {
                // The old effect's state is for another size: no blending across it.
                self.end_transition();
            }
            self.masks = Masks::new(layout.effective, rng);
            self.layout = layout;
        }
        self.refresh_rate = self
            .layout
            .slots
            .iter()
            .filter_map(|slot| devices.get(slot).map(|d| d.refresh_rate))
            .min()
            .unwrap_or(DEFAULT_REFRESH_RATE);
        self.period = frame_period(self.refresh_rate);
        self.mode = TransitionMode::from_name(&spec.transition_mode);
        self.transition_time = spec.transition_time;
        self.max_brightness = spec.max_brightness.clamp(0.0, 1.0);
        if let Some(paint) = spec.tools.paint.as_ref().filter(|p| p.seq != self.painted) {
            self.painted = paint.seq;
            self.pending_paint = Some(paint.rgb.map(f64::from));
        }
        self.spec = spec.clone();
        if !self.transitions_enabled() {
            self.end_transition();
        }
        self.apply_effect(spec.effect.as_ref(), allow_transition);
    }

    /// Drops a running transition; a clear in progress completes with a black frame.
    fn end_transition(&mut self) {
        self.transition = None;
        if self.clearing {
            self.clearing = false;
            self.pending_black = true;
        }
    }

    fn apply_effect(&mut self, spec: Option<&EffectSpec>, allow_transition: bool) {
        let id = self.spec.id.clone();
        match (spec, self.current.as_mut()) {
            (None, None) => {}
            (None, Some(_)) => {
                let old = self.current.take();
                if self.rendering && allow_transition && self.transitions_enabled() {
                    self.transition = Some(Transition {
                        from: old,
                        progress: self.new_progress(),
                    });
                    self.clearing = true;
                } else {
                    self.transition = None;
                    self.pending_black = self.rendering;
                }
            }
            (Some(spec), Some(current))
                if current.instance == spec.instance && current.effect_type == spec.effect_type =>
            {
                if current.config_json != spec.config_json {
                    current.update(&id, &spec.config_json);
                }
            }
            (Some(spec), _) => {
                let Some(slot) = EffectSlot::build(&id, spec) else {
                    return;
                };
                // The outgoing picture: the running effect, or the one a clear was fading.
                let from = match self.current.take() {
                    Some(current) => Some(current),
                    None => self.transition.take().and_then(|t| t.from),
                };
                self.clearing = false;
                self.pending_black = false;
                self.transition =
                    (allow_transition && self.transitions_enabled()).then(|| Transition {
                        from,
                        progress: self.new_progress(),
                    });
                self.current = Some(slot);
            }
        }
    }

    /// Renders one frame into `self.frame`. Returns true when this is the virtual's last
    /// frame (a clear finished, or the black frame of a clear without transition).
    fn render(&mut self, ctx: &RenderContext<'_>, global_brightness: f64) -> bool {
        let e = self.layout.effective;
        self.frame.resize(e, [0.0; 3]);
        if self.pending_black {
            self.frame.fill([0.0; 3]);
            return true;
        }
        if let Some(color) = self.pending_paint.take() {
            self.frame.fill(color);
            self.scale(global_brightness);
            // The last frame unless an effect or calibration keeps the virtual rendering.
            let keeps_rendering =
                (self.spec.active && self.current.is_some()) || self.spec.tools.calibration;
            return !keeps_rendering;
        }
        let offset = self.spec.center_offset;
        match self.current.as_mut() {
            Some(slot) => slot.render(ctx, &mut self.frame, offset),
            None => self.frame.fill([0.0; 3]),
        }
        let mut finished = false;
        if let Some(transition) = self.transition.as_mut() {
            self.old_frame.resize(e, [0.0; 3]);
            match transition.from.as_mut() {
                Some(slot) => slot.render(ctx, &mut self.old_frame, offset),
                None => self.old_frame.fill([0.0; 3]),
            }
            let w = transition.progress.step();
            blend(self.mode, w, &mut self.frame, &self.old_frame, &self.masks);
            if transition.progress.finished() {
                self.transition = None;
                finished = self.clearing;
            }
        }
        crate::tools::blend_oneshots(
            &mut self.frame,
            &self.spec.tools.oneshots,
            proto::monotonic_ns(),
        );
        self.scale(global_brightness);
        finished
    }

    fn scale(&mut self, global_brightness: f64) {
        let scale = self.max_brightness * global_brightness;
        if scale != 1.0 {
            for c in self.frame.as_flattened_mut() {
                *c *= scale;
            }
        }
    }

    /// Sets the next deadline one period after the last, resynchronising when more than a
    /// period late. Returns whether it had to resynchronise.
    fn schedule(&mut self, now: Instant) -> bool {
        let next = self.deadline.unwrap_or(now) + self.period;
        let late = next <= now;
        self.deadline = Some(if late { now + self.period } else { next });
        late
    }

    /// Writes the current frame into the buffers of the devices it covers (in calibration,
    /// the calibration picture instead).
    fn write_devices(&self, devices: &mut HashMap<u16, DeviceBuffer>) {
        if self.spec.tools.calibration {
            self.write_calibration(devices);
            return;
        }
        for seg in &self.layout.segments {
            if let Some(device) = seg.slot.and_then(|slot| devices.get_mut(&slot)) {
                self.layout
                    .write_segment(seg, &self.frame, &mut device.bytes);
            }
        }
    }

    /// Each device black but for this virtual's segments, each in its calibration colour,
    /// and the highlight.
    fn write_calibration(&self, devices: &mut HashMap<u16, DeviceBuffer>) {
        for slot in &self.layout.slots {
            if let Some(device) = devices.get_mut(slot) {
                device.bytes.fill(0);
            }
        }
        for (index, seg) in self.layout.segments.iter().enumerate() {
            if let Some(device) = seg.slot.and_then(|slot| devices.get_mut(&slot)) {
                crate::tools::draw_calibration_segment(seg, index, &mut device.bytes);
            }
        }
        if let Some(h) = &self.spec.tools.highlight {
            if let Some(device) = devices.get_mut(&h.device_slot) {
                crate::tools::draw_highlight(h, &mut device.bytes);
            }
        }
    }

    /// Blanks this virtual's ranges in the device buffers (`flush_on_deactivate`).
    fn zero_ranges(&self, devices: &mut HashMap<u16, DeviceBuffer>) {
        for seg in &self.layout.segments {
            if let Some(device) = seg.slot.and_then(|slot| devices.get_mut(&slot)) {
                let end = ((seg.start + seg.width) * 3).min(device.bytes.len());
                let start = (seg.start * 3).min(end);
                device.bytes[start..end].fill(0);
            }
        }
    }
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

//! One virtual inside the render engine: its effect (and the one a transition blends out),
//! its clock, its frame, and how the frame reaches device buffers. `engine.rs` drives these.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proto::pipeline::{EffectSpec, VirtualSpec};
use serde_json::Value;

use crate::effects::{build_effect, validate_effect_config, Effect, RenderContext};
use crate::mapping::Layout;
use crate::postprocess::PostProcessor;
use crate::rng::SplitMix64;
use crate::transition::{blend, Masks, Progress, TransitionMode};
use crate::Pixel;
use proto::timing::{frame_period, DEFAULT_REFRESH_RATE};

/// One device's pixel buffer, shared by the virtuals that write to it.
#[derive(Debug)]
pub(super) struct DeviceBuffer {
    /// RGB bytes, `pixel_count × 3` (capped at the slot's capacity).
    pub(super) bytes: Vec<u8>,
    /// The slot's current hand-over (`DeviceSpec::generation`), published with every frame.
    pub(super) generation: u64,
    pub(super) refresh_rate: u32,
    /// Index of the virtual that publishes this device's frames.
    pub(super) priority: Option<usize>,
}

/// A built effect with its post-processing state.
#[derive(Debug)]
pub(super) struct EffectSlot {
    pub(super) effect_type: String,
    pub(super) instance: u64,
    /// The config text last applied, to detect in-place updates.
    pub(super) config_json: String,
    pub(super) effect: Box<dyn Effect>,
    pub(super) post: PostProcessor,
}

impl EffectSlot {
    /// Builds the effect of `spec`. A config that does not validate (a version skew with the
    /// supervisor) falls back to the defaults; an unknown type yields `None`.
    pub(super) fn build(virtual_id: &str, spec: &EffectSpec) -> Option<Self> {
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
    pub(super) fn update(&mut self, virtual_id: &str, config_json: &str) {
        self.config_json = config_json.to_owned();
        let raw: Value = serde_json::from_str(config_json).unwrap_or(Value::Null);
        let result = validate_effect_config(&self.effect_type, &raw)
            .and_then(|validated| self.effect.update_config(&validated));
        if let Err(err) = result {
            tracing::warn!(virtual_id, effect = %self.effect_type, %err, "effect config update ignored");
        }
    }

    /// Renders, post-processes, clips and rolls one frame into `buf`.
    pub(super) fn render(
        &mut self,
        ctx: &RenderContext<'_>,
        buf: &mut [Pixel],
        center_offset: i32,
    ) {
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
pub(super) struct Transition {
    pub(super) from: Option<EffectSlot>,
    pub(super) progress: Progress,
}

/// Everything about one virtual.
#[derive(Debug)]
pub(super) struct VirtualRunner {
    pub(super) spec: VirtualSpec,
    pub(super) layout: Layout,
    pub(super) refresh_rate: u32,
    pub(super) period: Duration,
    pub(super) mode: TransitionMode,
    /// `transition_time` and `max_brightness` widened once per state (see [`widen`]).
    pub(super) transition_time: f64,
    pub(super) max_brightness: f64,
    pub(super) current: Option<EffectSlot>,
    pub(super) transition: Option<Transition>,
    /// The effect was removed: fading to black, then stopping.
    pub(super) clearing: bool,
    /// Send one black frame, then stop (a removal without a transition).
    pub(super) pending_black: bool,
    /// Whether the virtual is being rendered (as of the last state or tick).
    pub(super) rendering: bool,
    /// When the next frame is due (`None`: at once).
    pub(super) deadline: Option<Instant>,
    pub(super) frame: Vec<Pixel>,
    pub(super) old_frame: Vec<Pixel>,
    pub(super) masks: Masks,
    /// The last `force_color` paint seen, and one waiting to be drawn.
    pub(super) painted: u64,
    pub(super) pending_paint: Option<Pixel>,
    /// The last frame as the live preview shows it (reused buffer).
    pub(super) vis_bytes: Vec<u8>,
    /// Render timing, kept while the effect has `diag` on.
    pub(super) diag: crate::diag::DiagClock,
}

impl VirtualRunner {
    pub(super) fn new(spec: &VirtualSpec, rng: &mut SplitMix64) -> Self {
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

    pub(super) fn transitions_enabled(&self) -> bool {
        self.mode != TransitionMode::None && self.transition_time > 0.0
    }

    pub(super) fn new_progress(&self) -> Progress {
        Progress::new(self.refresh_rate, self.transition_time)
    }

    /// Whether the virtual should be rendered now.
    pub(super) fn wants_render(&self) -> bool {
        self.layout.effective > 0
            && ((self.spec.active && self.current.is_some())
                || self.clearing
                || self.pending_black
                || self.pending_paint.is_some()
                || self.spec.tools.calibration)
    }

    pub(super) fn uses_audio(&self) -> bool {
        let from = self.transition.as_ref().and_then(|t| t.from.as_ref());
        self.current
            .iter()
            .chain(from)
            .any(|s| s.effect.uses_audio())
    }

    pub(super) fn due(&self, now: Instant) -> bool {
        self.deadline.is_none_or(|d| d <= now)
    }

    /// Brings the runner in line with `spec`.
    pub(super) fn update(
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
    pub(super) fn end_transition(&mut self) {
        self.transition = None;
        if self.clearing {
            self.clearing = false;
            self.pending_black = true;
        }
    }

    pub(super) fn apply_effect(&mut self, spec: Option<&EffectSpec>, allow_transition: bool) {
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
    pub(super) fn render(&mut self, ctx: &RenderContext<'_>, global_brightness: f64) -> bool {
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

    pub(super) fn scale(&mut self, global_brightness: f64) {
        let scale = self.max_brightness * global_brightness;
        if scale != 1.0 {
            for c in self.frame.as_flattened_mut() {
                *c *= scale;
            }
        }
    }

    /// Sets the next deadline one period after the last, resynchronising when more than a
    /// period late. Returns whether it had to resynchronise.
    pub(super) fn schedule(&mut self, now: Instant) -> bool {
        let next = self.deadline.unwrap_or(now) + self.period;
        let late = next <= now;
        self.deadline = Some(if late { now + self.period } else { next });
        late
    }

    /// Writes the current frame into the buffers of the devices it covers (in calibration,
    /// the calibration picture instead).
    pub(super) fn write_devices(&self, devices: &mut HashMap<u16, DeviceBuffer>) {
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
    pub(super) fn write_calibration(&self, devices: &mut HashMap<u16, DeviceBuffer>) {
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
    pub(super) fn zero_ranges(&self, devices: &mut HashMap<u16, DeviceBuffer>) {
        for seg in &self.layout.segments {
            if let Some(device) = seg.slot.and_then(|slot| devices.get_mut(&slot)) {
                let end = ((seg.start + seg.width) * 3).min(device.bytes.len());
                let start = (seg.start * 3).min(end);
                device.bytes[start..end].fill(0);
            }
        }
    }
}

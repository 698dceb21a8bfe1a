//! `/api/virtuals_tools` (ledfx-api.md §3.16, §3.17): flashes, one-off paints, calibration
//! with highlights, and copying an effect to other virtuals. Everything but `copy` is runtime
//! state the stages draw ([`proto::pipeline::VirtualTools`]); none of it is saved.

use proto::api::tools::ToolCommand;
use proto::api::{ApiFailure, ApiReply, EffectConfigArg, Json};
use proto::pipeline::{Highlight, Oneshot, Paint};
use render_proc::color::parse_color;
use serde_json::{json, Value};

use super::{invalid, not_found, reply, ReadCtx, Resource, State};
use crate::config::Section;

/// The tool group.
pub struct Tools;

fn done(tool: &str) -> ApiReply {
    reply(json!({"status": "success", "tool": tool}))
}

fn rgb(color: &str) -> Result<[u8; 3], ApiFailure> {
    parse_color(color)
        .map(|c| c.0)
        .map_err(|_| invalid(format!("Invalid color: {color}")))
}

impl Resource for Tools {
    type Command = ToolCommand;

    fn read(_: &ReadCtx<'_>, command: ToolCommand) -> ApiReply {
        Err(ApiFailure::internal(format!("{command:?} is not a read")))
    }

    fn write(state: &mut State, command: ToolCommand) -> ApiReply {
        let now = proto::monotonic_ns();
        // Flashes that are over are dropped whenever the tools change.
        for tools in state.tools.values_mut() {
            tools.oneshots.retain(|o| o.weight(now).is_some());
        }
        match command {
            ToolCommand::Oneshot {
                virtual_id,
                color,
                ramp_ms,
                hold_ms,
                fade_ms,
                brightness,
            } => {
                let flash = Oneshot {
                    rgb: rgb(&color)?,
                    ramp_ms,
                    hold_ms,
                    fade_ms,
                    brightness: brightness.clamp(0.0, 1.0),
                    start_ns: now,
                };
                let targets: Vec<String> = match &virtual_id {
                    Some(id) => {
                        let v = state.existing(id)?;
                        if !State::shown_active(v) {
                            return Err(invalid("oneshot failed"));
                        }
                        vec![id.clone()]
                    }
                    // Every active virtual; the others are skipped.
                    None => state
                        .doc
                        .virtuals
                        .iter()
                        .filter(|v| State::shown_active(v))
                        .map(|v| v.id.clone())
                        .collect(),
                };
                for id in targets {
                    state
                        .tools
                        .entry(id)
                        .or_default()
                        .oneshots
                        .push(flash.clone());
                }
                done("oneshot")
            }
            ToolCommand::StopOneshots { virtual_id } => {
                if let Some(id) = &virtual_id {
                    state.existing(id)?;
                }
                let mut stopped = 0;
                for (id, tools) in &mut state.tools {
                    if virtual_id.as_ref().is_none_or(|v| v == id) {
                        stopped += tools.oneshots.len();
                        tools.oneshots.clear();
                    }
                }
                if stopped == 0 {
                    return Err(invalid("oneshot was not found"));
                }
                done("oneshot")
            }
            ToolCommand::ForceColor { virtual_id, color } => {
                let rgb = rgb(&color)?;
                let targets: Vec<String> = match &virtual_id {
                    Some(id) => {
                        state.existing(id)?;
                        vec![id.clone()]
                    }
                    // The devices' own virtuals.
                    None => state
                        .doc
                        .virtuals
                        .iter()
                        .filter(|v| v.device_id() == Some(v.id.as_str()))
                        .map(|v| v.id.clone())
                        .collect(),
                };
                for id in targets {
                    state.next_paint += 1;
                    let seq = state.next_paint;
                    state.tools.entry(id).or_default().paint = Some(Paint { seq, rgb });
                }
                done("force_color")
            }
            ToolCommand::Calibration { virtual_id, on } => {
                state.existing(&virtual_id)?;
                let tools = state.tools.entry(virtual_id).or_default();
                tools.calibration = on;
                if !on {
                    tools.highlight = None;
                }
                done("calibration")
            }
            ToolCommand::Highlight {
                virtual_id,
                on,
                device,
                start,
                stop,
                flip,
            } => state.highlight(&virtual_id, on, &device, (start, stop), flip),
            ToolCommand::Copy {
                virtual_id,
                targets,
            } => state.copy_effect(&virtual_id, &targets),
        }
    }
}

impl State {
    fn existing(&self, id: &str) -> Result<&crate::config::VirtualEntry, ApiFailure> {
        self.doc
            .virtual_entry(id)
            .ok_or_else(|| not_found(&self.doc, Section::Virtuals, id))
    }

    fn highlight(
        &mut self,
        virtual_id: &str,
        on: bool,
        device: &str,
        (start, stop): (i64, i64),
        flip: bool,
    ) -> ApiReply {
        let v = self.existing(virtual_id)?;
        let name = v
            .config
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(virtual_id)
            .to_owned();
        if !self.tools.get(virtual_id).is_some_and(|t| t.calibration) {
            return Err(invalid(format!(
                "highlight error: Cannot set highlight when {name} is not in calibration mode"
            )));
        }
        if !on {
            if let Some(tools) = self.tools.get_mut(virtual_id) {
                tools.highlight = None;
            }
            return done("highlight");
        }
        let device = device.to_lowercase();
        let (Some(entry), Some((slot, _))) = (self.doc.device(&device), self.slots.get(&device))
        else {
            return Err(invalid(format!(
                "highlight error: Device {device} not found"
            )));
        };
        let count = entry.pixel_count();
        let (start, stop) = match (start, stop) {
            (-1, -1) => (0, count - 1),
            (-1, stop) => (0, stop),
            (start, -1) => (start, count - 1),
            pair => pair,
        };
        if start >= count || stop >= count {
            return Err(invalid(format!(
                "highlight error: start and end must be less than {count}"
            )));
        }
        if start < 0 || stop < start {
            return Err(invalid(
                "highlight error: start must be at least 0 and not after end",
            ));
        }
        let slot = *slot;
        if let Some(tools) = self.tools.get_mut(virtual_id) {
            tools.highlight = Some(Highlight {
                device_slot: slot,
                start: start as u32,
                stop: stop as u32,
                flip,
            });
        }
        done("highlight")
    }

    /// The source's running effect, set on every target that can take it.
    fn copy_effect(&mut self, source: &str, targets: &[String]) -> ApiReply {
        let Some(effect) = self.existing(source)?.effect.clone() else {
            return Err(invalid(
                "Virtual copy failed, no active effect on source virtual",
            ));
        };
        let config = Json::from_value(&Value::Object(effect.config));
        let mut copied = 0;
        for target in targets.iter().filter(|t| *t != source) {
            let given = EffectConfigArg::Given(config.clone());
            if self.set_effect(target, &effect.effect_type, given).is_ok() {
                copied += 1;
            }
        }
        if copied == 0 {
            return Err(invalid("Virtual copy failed, no valid targets"));
        }
        done("copy")
    }
}

#[cfg(test)]
mod tests;

//! `/api/virtuals_tools` and `/api/virtuals_tools/{id}` (ledfx-api.md §3.16, §3.17). A
//! `virtual_id` of `None` means every virtual the tool applies to.

use serde::{Deserialize, Serialize};

use super::Command;

/// Tool commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToolCommand {
    /// Add a flash (`POST … {"tool": "oneshot"}`).
    Oneshot {
        virtual_id: Option<String>,
        color: String,
        ramp_ms: u32,
        hold_ms: u32,
        fade_ms: u32,
        brightness: f64,
    },
    /// Stop the running flashes (`PUT … {"tool": "oneshot"}`).
    StopOneshots { virtual_id: Option<String> },
    /// Paint once (`PUT … {"tool": "force_color"}`); all: the device virtuals.
    ForceColor {
        virtual_id: Option<String>,
        color: String,
    },
    /// Calibration mode on or off.
    Calibration { virtual_id: String, on: bool },
    /// Highlight device pixels while calibrating; `start`/`stop` of -1 mean the whole device.
    Highlight {
        virtual_id: String,
        on: bool,
        device: String,
        start: i64,
        stop: i64,
        flip: bool,
    },
    /// Run the source's effect on each target.
    Copy {
        virtual_id: String,
        targets: Vec<String>,
    },
}

impl Command for ToolCommand {
    const GROUP: &'static str = "tools";

    fn is_read(&self) -> bool {
        false
    }
}

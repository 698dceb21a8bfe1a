//! `/api/virtuals` and `/api/virtuals/{id}` (ledfx-api.md §3.10, §3.11).

use serde::{Deserialize, Serialize};

use super::Command;

/// Virtual commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum VirtualCommand {
    /// `GET /api/virtuals`.
    List,
    /// `PUT /api/virtuals`: toggle the global pause.
    TogglePause,
    /// `GET /api/virtuals/{id}`.
    Get { id: String },
    /// `PUT /api/virtuals/{id}`.
    SetActive { id: String, active: bool },
    /// `DELETE /api/virtuals/{id}`.
    Delete { id: String },
}

impl Command for VirtualCommand {
    const GROUP: &'static str = "virtuals";

    fn is_read(&self) -> bool {
        matches!(self, Self::List | Self::Get { .. })
    }
}

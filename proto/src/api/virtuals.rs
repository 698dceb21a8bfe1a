//! `/api/virtuals`, `/api/virtuals/{id}` and `/api/virtuals/{id}/effects/delete`
//! (ledfx-api.md §3.10, §3.11, §3.13).

use serde::{Deserialize, Serialize};

use super::{Command, Json};

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
    /// `POST /api/virtuals`: create (no `id`) or update the config of `id`, merged over the
    /// current one.
    Save { id: Option<String>, config: Json },
    /// `POST /api/virtuals/{id}`: replace the segments; `segments` as the client sent it.
    SetSegments { id: String, segments: Json },
    /// `POST /api/virtuals/{id}/effects/delete`: forget one effect type's stored config.
    ForgetEffect { id: String, effect_type: String },
}

impl Command for VirtualCommand {
    const GROUP: &'static str = "virtuals";

    fn is_read(&self) -> bool {
        matches!(self, Self::List | Self::Get { .. })
    }
}

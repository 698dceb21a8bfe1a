//! `/api/scenes` and `/api/scenes/{scene_id}` (ledfx-api.md §2.7, §3.18, §3.19). Scene ids
//! are slugified by the state owner before lookup, as LedFx does.

use serde::{Deserialize, Serialize};

use super::{Command, Json};

/// Scene commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SceneCommand {
    /// `GET /api/scenes`: every scene, with `active` and preset annotations.
    List,
    /// `GET /api/scenes/{id}`.
    Get { id: String },
    /// The scene's name, to check an `activate_in` before api-proc schedules it.
    Name { id: String },
    /// `POST /api/scenes`: the request body, an object (create without `id`, update with).
    Save { body: Json },
    /// `PUT /api/scenes` `activate`.
    Activate { id: String },
    /// `PUT /api/scenes` `deactivate`.
    Deactivate { id: String },
    /// `PUT /api/scenes` `rename`.
    Rename { id: String, name: String },
    /// `DELETE /api/scenes` (`from_path: false`, body `{"id"}`) or
    /// `DELETE /api/scenes/{id}` (`from_path: true`); the two answer differently.
    Delete { id: String, from_path: bool },
}

impl Command for SceneCommand {
    const GROUP: &'static str = "scenes";

    fn is_read(&self) -> bool {
        matches!(self, Self::List | Self::Get { .. } | Self::Name { .. })
    }
}

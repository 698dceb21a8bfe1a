//! `/api/virtuals/{id}/effects` (ledfx-api.md §3.12).

use serde::{Deserialize, Serialize};

use super::{Command, EffectConfigArg, Json};

/// Commands on a virtual's effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EffectCommand {
    /// `GET /api/virtuals/{id}/effects`.
    Get { virtual_id: String },
    /// `POST /api/virtuals/{id}/effects`.
    Set {
        virtual_id: String,
        effect_type: String,
        config: EffectConfigArg,
    },
    /// `PUT /api/virtuals/{id}/effects`.
    Update {
        virtual_id: String,
        effect_type: Option<String>,
        config: Option<Json>,
    },
    /// `DELETE /api/virtuals/{id}/effects`.
    Clear { virtual_id: String },
}

impl Command for EffectCommand {
    const GROUP: &'static str = "effects";

    fn is_read(&self) -> bool {
        matches!(self, Self::Get { .. })
    }
}

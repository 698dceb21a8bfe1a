//! `/api/virtuals/{id}/effects` (ledfx-api.md §3.12) and the bulk `/api/effects` (§3.8).

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
    /// `POST`/`PUT /api/virtuals/{id}/effects` with a `fallback`: `command` (a `Set` or an
    /// `Update`), then, after `seconds`, the effect that ran before comes back.
    WithFallback {
        command: Box<EffectCommand>,
        seconds: f64,
    },
    /// `GET /api/virtuals/{id}/fallback` (`token: None`), or the supervisor's timer (the
    /// token of the fallback it was set for): bring the remembered effect back now.
    FireFallback {
        virtual_id: String,
        token: Option<u64>,
    },
    /// `GET /api/effects`: every running effect.
    ListAll,
    /// `PUT /api/effects` `clear_all_effects`.
    ClearAll,
    /// `PUT /api/effects` `apply_global`: the request body (checked by the state owner).
    ApplyGlobal { body: Json },
    /// `PUT /api/effects` `apply_global_effect`; `virtuals: None` means every virtual.
    ApplyGlobalEffect {
        effect_type: String,
        config: Option<Json>,
        virtuals: Option<Vec<String>>,
        /// Seconds each virtual runs it before its previous effect comes back.
        fallback_s: Option<f64>,
    },
}

impl Command for EffectCommand {
    const GROUP: &'static str = "effects";

    fn is_read(&self) -> bool {
        matches!(self, Self::Get { .. } | Self::ListAll)
    }
}

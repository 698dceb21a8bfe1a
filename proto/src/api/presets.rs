//! Effect presets and virtual presets: `/api/effects/{id}`, `/api/effects/{id}/presets`,
//! `/api/effects/{id}/presets/{preset_id}` and `/api/virtuals/{id}/presets`
//! (ledfx-api.md §2.6, §3.9, §3.15).

use serde::{Deserialize, Serialize};

use super::Command;

/// `ledfx_presets` (built in) or `user_presets`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Category {
    Ledfx,
    User,
}

impl Category {
    /// The category as LedFx names it in requests.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ledfx_presets" => Some(Self::Ledfx),
            "user_presets" => Some(Self::User),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Ledfx => "ledfx_presets",
            Self::User => "user_presets",
        }
    }
}

/// Preset commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PresetCommand {
    /// `GET /api/effects/{id}`: the effect's schema.
    EffectSchema { effect_id: String },
    /// `GET /api/effects/{id}/presets`.
    EffectPresets { effect_id: String },
    /// `PUT /api/effects/{id}/presets`: rename a preset.
    Rename {
        effect_id: String,
        category: Category,
        preset_id: String,
        name: String,
    },
    /// `DELETE /api/effects/{id}/presets`; `preset_id` missing is refused after the checks
    /// LedFx makes first.
    Delete {
        effect_id: String,
        category: Category,
        preset_id: Option<String>,
    },
    /// `DELETE /api/effects/{id}/presets/{preset_id}`: a user preset.
    DeleteUser {
        effect_id: String,
        preset_id: String,
    },
    /// `GET /api/virtuals/{id}/presets`: the presets of the running effect.
    VirtualPresets { virtual_id: String },
    /// `PUT /api/virtuals/{id}/presets`: run a preset.
    Apply {
        virtual_id: String,
        category: Category,
        effect_id: String,
        preset_id: String,
    },
    /// `POST /api/virtuals/{id}/presets`: save the running effect as a user preset.
    Save { virtual_id: String, name: String },
}

impl Command for PresetCommand {
    const GROUP: &'static str = "presets";

    fn is_read(&self) -> bool {
        matches!(
            self,
            Self::EffectSchema { .. } | Self::EffectPresets { .. } | Self::VirtualPresets { .. }
        )
    }
}

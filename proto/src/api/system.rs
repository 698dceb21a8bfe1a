//! `/api/config` and what `/api/info` needs from the state owner (ledfx-api.md §3.1, §3.2).

use serde::{Deserialize, Serialize};

use super::{Command, Json};

/// Whole-system commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SystemCommand {
    /// `GET /api/config`, or only the top-level keys named in `keys` (selection as for
    /// the schema: unknown names dropped, nothing left or nothing asked → everything).
    GetConfig { keys: Vec<String> },
    /// `dev_mode`, the configuration revision, the last automatic rollback and the
    /// `config.json` entries ledfx-rs cannot use.
    GetInfo,
    /// `PUT /api/config`: the request body, an object of top-level keys.
    UpdateConfig { body: Json },
    /// `POST /api/config`: a whole configuration replacing the current one.
    ImportConfig { body: Json },
    /// `DELETE /api/config`: back to the defaults.
    ResetConfig,
    /// `GET /api/audio/devices`.
    GetAudioDevices,
    /// `GET /api/audio/status` (ledfx-rs): capture state, device, level, BPM, errors.
    GetAudioStatus,
    /// `GET /api/audio/sync` (ledfx-rs): the WLED Audio Sync settings and counters.
    GetAudioSync,
    /// `PUT /api/audio/sync`: the request body, any of `enabled`, `address`, `port`.
    SetAudioSync { body: Json },
    /// `PUT /api/audio/devices`: the request body, `{"audio_device": <index>}`.
    SetAudioDevice { body: Json },
    /// The current state as a change-feed snapshot `{boot, revision, state}`, for a
    /// consumer that (re)starts from it.
    FeedSnapshot,
}

impl Command for SystemCommand {
    const GROUP: &'static str = "system";

    fn is_read(&self) -> bool {
        !matches!(
            self,
            Self::UpdateConfig { .. }
                | Self::ImportConfig { .. }
                | Self::ResetConfig
                | Self::SetAudioDevice { .. }
                | Self::SetAudioSync { .. }
        )
    }
}

//! `/api/devices` and `/api/devices/{id}` (ledfx-api.md §3.4, §3.5).

use serde::{Deserialize, Serialize};

use super::{Command, Json};

/// Device commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeviceCommand {
    /// `GET /api/devices`.
    List,
    /// `GET /api/devices/{id}`.
    Get { id: String },
    /// `POST /api/devices`.
    Create { device_type: String, config: Json },
    /// `PUT /api/devices/{id}`: merge `config` over the device's config.
    Update { id: String, config: Json },
    /// `DELETE /api/devices/{id}`.
    Delete { id: String },
    /// `POST /api/devices/{id}`: (re)activate the device's output; answers the virtuals.
    Activate { id: String },
}

impl Command for DeviceCommand {
    const GROUP: &'static str = "devices";

    fn is_read(&self) -> bool {
        // Activating changes nothing ledfx-rs stores: every configured device is driven.
        matches!(self, Self::List | Self::Get { .. } | Self::Activate { .. })
    }
}

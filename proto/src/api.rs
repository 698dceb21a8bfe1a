//! Commands api-proc sends to the state owner (the supervisor), and the replies.
//!
//! api-proc parses HTTP requests (JSON syntax, required attributes) and turns each into one
//! [`ApiCommand`]; the supervisor applies it to the desired state, persists, and answers with
//! the LedFx response body or a [`ApiFailure`] that api-proc maps to LedFx's error envelope.
//! JSON values travel as text because the control encoding (postcard) is not self-describing.

use serde::{Deserialize, Serialize};

/// JSON text (an object unless stated otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Json(pub String);

impl Json {
    /// Serialises a value.
    pub fn from_value(value: &serde_json::Value) -> Self {
        Json(value.to_string())
    }

    /// Parses the text back into a value (`Null` if it is not valid JSON, which only a bug
    /// could produce because every `Json` is made by [`Json::from_value`]).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

/// One API operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApiCommand {
    /// `GET /api/config`.
    GetConfig,
    /// What `/api/info` needs from the state owner: `dev_mode`, the configuration revision
    /// and the last automatic rollback.
    GetInfo,
    /// `GET /api/devices`.
    GetDevices,
    /// `GET /api/devices/{id}`.
    GetDevice { id: String },
    /// `POST /api/devices`.
    CreateDevice { device_type: String, config: Json },
    /// `PUT /api/devices/{id}`: merge `config` over the device's config.
    UpdateDevice { id: String, config: Json },
    /// `DELETE /api/devices/{id}`.
    DeleteDevice { id: String },
    /// `GET /api/virtuals`.
    GetVirtuals,
    /// `PUT /api/virtuals`: toggle the global pause.
    TogglePause,
    /// `GET /api/virtuals/{id}`.
    GetVirtual { id: String },
    /// `PUT /api/virtuals/{id}`.
    SetVirtualActive { id: String, active: bool },
    /// `DELETE /api/virtuals/{id}`.
    DeleteVirtual { id: String },
    /// `GET /api/virtuals/{id}/effects`.
    GetEffect { virtual_id: String },
    /// `POST /api/virtuals/{id}/effects`.
    SetEffect {
        virtual_id: String,
        effect_type: String,
        config: EffectConfigArg,
    },
    /// `PUT /api/virtuals/{id}/effects`.
    UpdateEffect {
        virtual_id: String,
        effect_type: Option<String>,
        config: Option<Json>,
    },
    /// `DELETE /api/virtuals/{id}/effects`.
    ClearEffect { virtual_id: String },
}

impl ApiCommand {
    /// Whether the command only reads state.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            ApiCommand::GetConfig
                | ApiCommand::GetInfo
                | ApiCommand::GetDevices
                | ApiCommand::GetDevice { .. }
                | ApiCommand::GetVirtuals
                | ApiCommand::GetVirtual { .. }
                | ApiCommand::GetEffect { .. }
        )
    }
}

/// The `config` of a set-effect request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EffectConfigArg {
    /// Omitted or null: reuse the virtual's last config for that type, else defaults.
    Last,
    /// An explicit config, laid over the defaults.
    Given(Json),
}

/// Result of an [`ApiCommand`]: the LedFx response body, or a failure.
pub type ApiReply = Result<Json, ApiFailure>;

/// Why a command failed; api-proc turns it into LedFx's failure envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiFailure {
    pub kind: FailureKind,
    pub reason: String,
}

impl ApiFailure {
    /// A rejected request (unknown id, invalid value, missing attribute).
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::InvalidRequest,
            reason: reason.into(),
        }
    }

    /// A failure LedFx reports as an internal error.
    pub fn internal(reason: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Internal,
            reason: reason.into(),
        }
    }
}

/// Failure classes, each with the HTTP status LedFx 2.2.1 uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// LedFx "invalid-request": HTTP 200 with `status: failed`.
    InvalidRequest,
    /// LedFx "internal-error": HTTP 500.
    Internal,
    /// The state could not be saved to disk: nothing was changed. HTTP 500.
    PersistFailed,
}

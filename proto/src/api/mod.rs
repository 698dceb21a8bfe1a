//! Calls api-proc sends to the state owner (the supervisor), and the replies.
//!
//! api-proc parses HTTP requests (JSON syntax, required attributes) and turns each into one
//! command of a resource group ([`devices`], [`virtuals`], [`effects`], [`system`], …). A
//! command travels inside an [`ApiCall`] envelope: the group's name plus the command as JSON
//! text. Only the envelope is part of the control protocol's version: adding a command or a
//! whole group changes no postcard type, and a command one side does not know is answered
//! with a clear error instead of breaking the connection. The supervisor applies the command
//! to the desired state, persists, and answers with the LedFx response body or an
//! [`ApiFailure`] that api-proc maps to LedFx's error envelope.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub mod colors;
pub mod devices;
pub mod effects;
pub mod presets;
pub mod scenes;
pub mod schema;
pub mod system;
pub mod tools;
pub mod virtuals;

/// JSON text (an object unless stated otherwise). Postcard is not self-describing, so JSON
/// values cross the control socket as text.
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

/// A command of one resource group.
pub trait Command: Serialize + DeserializeOwned + std::fmt::Debug + Send + 'static {
    /// The group's name in the envelope; the supervisor's registry is keyed by it.
    const GROUP: &'static str;

    /// Whether the command only reads state. Reads are answered from the current snapshot
    /// and never wait behind a write.
    fn is_read(&self) -> bool;
}

/// The envelope of one API call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCall {
    /// [`Command::GROUP`] of the command.
    pub group: String,
    /// The command, as JSON.
    pub command: Json,
}

impl ApiCall {
    /// Wraps a command.
    pub fn new<C: Command>(command: &C) -> Self {
        Self {
            group: C::GROUP.to_owned(),
            // A derived `Serialize` of plain data cannot fail.
            command: Json(serde_json::to_string(command).unwrap_or_default()),
        }
    }

    /// Unwraps a command of group `C`.
    pub fn decode<C: Command>(&self) -> Result<C, ApiFailure> {
        serde_json::from_str(&self.command.0).map_err(|e| {
            ApiFailure::internal(format!(
                "api-proc and the supervisor disagree about a {} command ({e}); are they from the same build?",
                self.group
            ))
        })
    }
}

/// The `config` of a set-effect request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EffectConfigArg {
    /// Omitted or null: reuse the virtual's last config for that type, else defaults.
    Last,
    /// An explicit config, laid over the defaults.
    Given(Json),
    /// `"RANDOMIZE"`: random values for the effect's switches, choices and bounded numbers.
    Randomize,
}

/// Result of a command: the LedFx response body, or a failure.
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

    /// A request refused because of what the target is doing (LedFx's 409).
    pub fn conflict(reason: impl Into<String>) -> Self {
        Self {
            kind: FailureKind::Conflict,
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
    /// LedFx's invalid-request with HTTP 409 (a fallback while the virtual is streamed to).
    Conflict,
    /// The state could not be saved to disk: nothing was changed. HTTP 500.
    PersistFailed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_round_trips_through_the_envelope_and_a_foreign_one_is_an_error() {
        let command = devices::DeviceCommand::Update {
            id: "lamp".into(),
            config: Json::from_value(&serde_json::json!({"pixel_count": 10})),
        };
        let call = ApiCall::new(&command);
        assert_eq!(call.group, "devices");
        assert_eq!(call.decode::<devices::DeviceCommand>().unwrap(), command);
        let foreign = ApiCall {
            group: "devices".into(),
            command: Json(r#"{"Explode":{}}"#.into()),
        };
        let err = foreign.decode::<devices::DeviceCommand>().unwrap_err();
        assert_eq!(err.kind, FailureKind::Internal);
        assert!(err.reason.contains("same build"), "{}", err.reason);
    }
}

//! Helpers the state's unit tests share.

use proto::api::devices::DeviceCommand;
use proto::api::{Command, Json};
use proto::pipeline::AudioSource;
use serde_json::{json, Value};

use super::State;
use crate::config::ConfigDoc;

/// A fresh state with an empty document.
pub fn state() -> State {
    State::new(ConfigDoc::default(), AudioSource::None).0
}

/// Applies a command that must succeed and returns its reply.
pub fn ok<C: Command>(state: &mut State, command: C) -> Value {
    match state.apply(command) {
        Ok(json) => json.to_value(),
        Err(e) => panic!("command failed: {e:?}"),
    }
}

/// A fresh state with one dummy device (and its virtual) of `pixels` per name; ids are the
/// names.
pub fn with_dummies(names: &[&str], pixels: u32) -> State {
    let mut s = state();
    for name in names {
        ok(
            &mut s,
            DeviceCommand::Create {
                device_type: "dummy".into(),
                config: Json::from_value(&json!({"name": name, "pixel_count": pixels})),
            },
        );
    }
    s
}

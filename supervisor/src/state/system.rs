//! The whole system: `GET` and `PUT /api/config` (ledfx-api.md §3.2; the update is in
//! `config_update.rs`) and the state behind `/api/info`'s
//! `ledfx_rs` key — revision, last rollback, and the `config.json` entries set aside.

use proto::api::system::SystemCommand;
use proto::api::{ApiFailure, ApiReply};
use serde_json::{json, Value};

use super::{reply, ReadCtx, Resource, State};

/// The system group (reads only).
pub struct System;

impl Resource for System {
    type Command = SystemCommand;

    fn read(ctx: &ReadCtx<'_>, command: SystemCommand) -> ApiReply {
        let state = ctx.state;
        match command {
            SystemCommand::GetConfig { keys } => {
                reply(super::select_keys(state.config_view(), &keys))
            }
            SystemCommand::GetInfo => reply(json!({
                "dev_mode": state.doc.core_bool("dev_mode", false),
                "revision": state.revision,
                "last_rollback": state.last_rollback.as_ref().map(|r| json!({
                    "reason": r.reason,
                    "from_revision": r.from_revision,
                    "to_revision": r.to_revision,
                    "reverted_revisions": r.reverted_revisions,
                    "kept_revisions": r.kept_revisions,
                })),
                "config_problems": state.config_problems(),
                "audio": super::audio::info_json(
                    ctx.segment.and_then(|s| s.audio_status()).as_ref(),
                ),
            })),
            SystemCommand::GetAudioStatus => {
                let published = ctx.segment.and_then(|s| s.audio_status());
                let frame = ctx.segment.and_then(|s| {
                    let mut bytes = Vec::new();
                    let meta = s.audio_slot().read_latest(&mut bytes)?;
                    Some((meta, proto::audio::AudioFrame::from_bytes(&bytes)?))
                });
                reply(super::audio::status_json(
                    published.as_ref().or(state.audio_status.as_ref()),
                    frame.as_ref(),
                    ctx.now_ns,
                ))
            }
            SystemCommand::GetAudioSync => {
                let published = ctx.segment.and_then(|s| s.audio_status());
                reply(state.audio_sync_view(published.as_ref().or(state.audio_status.as_ref())))
            }
            SystemCommand::GetAudioDevices => {
                let published = ctx.segment.and_then(|s| s.audio_status());
                super::audio::devices_reply(published.as_ref().or(state.audio_status.as_ref()))
            }
            SystemCommand::UpdateConfig { .. }
            | SystemCommand::ImportConfig { .. }
            | SystemCommand::ResetConfig
            | SystemCommand::SetAudioDevice { .. }
            | SystemCommand::SetAudioSync { .. } => {
                Err(ApiFailure::internal(format!("{command:?} is not a read")))
            }
            SystemCommand::FeedSnapshot => reply(json!({
                "boot": state.boot,
                "revision": state.revision,
                "state": state.feed_state(),
            })),
        }
    }

    fn write(state: &mut State, command: SystemCommand) -> ApiReply {
        match command {
            SystemCommand::UpdateConfig { body } => return state.update_config(body),
            SystemCommand::ImportConfig { body } => return state.import_config(body),
            SystemCommand::ResetConfig => return state.reset_config(),
            SystemCommand::SetAudioDevice { body } => return state.set_audio_device(body),
            SystemCommand::SetAudioSync { body } => return state.set_audio_sync(body),
            _ => {}
        }
        // Every other system command is a read; `prepare` never routes one here.
        Self::read(
            &ReadCtx {
                state,
                pipeline: &state.pipeline(),
                segment: None,
                now_ns: proto::monotonic_ns(),
            },
            command,
        )
    }
}

impl State {
    /// `GET /api/config`: the usable document, with the runtime-only keys LedFx adds.
    pub fn config_view(&self) -> Value {
        let mut value = self.doc.usable_value();
        if let Value::Object(map) = &mut value {
            // Built in, never saved (LedFx's own data, see render-proc's presets).
            map.insert(
                "ledfx_presets".into(),
                Value::Object(render_proc::presets::ledfx_presets().clone()),
            );
            map.entry("hosts").or_insert_with(|| json!([]));
        }
        value
    }

    /// The state a change-feed snapshot carries: the config as `GET /api/config` shows it
    /// and the global pause.
    pub fn feed_state(&self) -> Value {
        json!({"config": self.config_view(), "paused": self.paused})
    }

    /// The entries of `config.json` ledfx-rs keeps but cannot use:
    /// `[{"entry": "devices"|"virtuals", "id", "reason"}]`, in file order.
    pub fn config_problems(&self) -> Value {
        Value::Array(
            self.doc
                .kept
                .iter()
                .map(|k| json!({"entry": k.section.key(), "id": k.id, "reason": k.reason}))
                .collect(),
        )
    }
}

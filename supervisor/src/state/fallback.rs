//! Effect fallbacks (ledfx-api.md §3.12, §3.14): an effect set with `fallback` runs for a
//! while, then the effect that ran before comes back (or the virtual is cleared when nothing
//! ran). The pending fallbacks are runtime state; the supervisor's fallback timer fires them
//! ([`crate::fallback_timer`]), and `GET /api/virtuals/{id}/fallback` fires one at once.

use proto::api::effects::EffectCommand;
use proto::api::{ApiFailure, ApiReply};
use serde_json::json;

use super::{not_found, reply, State};
use crate::config::{EffectEntry, Section};

/// A fallback waiting to fire.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingFallback {
    /// What ran before the temporary effect (`None`: nothing).
    pub restore: Option<EffectEntry>,
    /// When it fires (`CLOCK_MONOTONIC` ns).
    pub due_ns: u64,
    /// Tells this fallback from a later one on the same virtual.
    pub token: u64,
}

/// LedFx's `fallback: true`.
pub const DEFAULT_FALLBACK_SECONDS: f64 = 300.0;

impl State {
    /// Runs `command` (a `Set` or `Update`) and arms the fallback. A fallback already pending
    /// keeps what it will restore and only starts its time again, as in LedFx.
    pub(super) fn with_fallback(&mut self, command: EffectCommand, seconds: f64) -> ApiReply {
        let refused = |other: &EffectCommand| {
            ApiFailure::internal(format!("{other:?} cannot have a fallback"))
        };
        let virtual_id = match &command {
            EffectCommand::Set { virtual_id, .. } | EffectCommand::Update { virtual_id, .. } => {
                virtual_id.clone()
            }
            other => return Err(refused(other)),
        };
        let Some(v) = self.doc.virtual_entry(&virtual_id) else {
            return Err(not_found(&self.doc, Section::Virtuals, &virtual_id));
        };
        if self.streaming(v) {
            return Err(ApiFailure::conflict(format!(
                "Unable to set effect: Virtual {virtual_id} is being streamed to"
            )));
        }
        let restore = match self.fallbacks.get(&virtual_id) {
            Some(pending) => pending.restore.clone(),
            None => v.effect.clone().filter(|_| State::shown_active(v)),
        };
        let result = match command {
            EffectCommand::Set {
                virtual_id,
                effect_type,
                config,
            } => self.set_effect(&virtual_id, &effect_type, config)?,
            EffectCommand::Update {
                virtual_id,
                effect_type,
                config,
            } => self.update_effect(&virtual_id, effect_type, config)?,
            other => return Err(refused(&other)),
        };
        self.next_fallback += 1;
        let due_ns = proto::monotonic_ns() + (seconds.max(0.0) * 1e9) as u64;
        self.fallbacks.insert(
            virtual_id,
            PendingFallback {
                restore,
                due_ns,
                token: self.next_fallback,
            },
        );
        Ok(result)
    }

    /// Brings back what ran before the fallback's effect; with a `token`, only if it is
    /// still that fallback (a timer for one that was replaced or fired does nothing).
    pub(super) fn fire_fallback(&mut self, virtual_id: &str, token: Option<u64>) -> ApiReply {
        if self.doc.virtual_entry(virtual_id).is_none() {
            return Err(not_found(&self.doc, Section::Virtuals, virtual_id));
        }
        let current = self.fallbacks.get(virtual_id).map(|p| p.token);
        if token.is_some() && token != current {
            return reply(json!({"status": "success"}));
        }
        if let Some(pending) = self.fallbacks.remove(virtual_id) {
            match pending.restore {
                Some(entry) => {
                    self.install_effect(virtual_id, &entry.effect_type, entry.config)?;
                }
                None => {
                    if let Some(v) = self.doc.virtual_mut(virtual_id) {
                        v.effect = None;
                        v.active = false;
                    }
                }
            }
        }
        reply(json!({"status": "success"}))
    }

    /// The next fallback due: `(virtual, token, due_ns)`.
    pub fn next_fallback_due(&self) -> Option<(String, u64, u64)> {
        self.fallbacks
            .iter()
            .filter(|(id, _)| self.doc.virtual_entry(id).is_some())
            .map(|(id, p)| (id.clone(), p.token, p.due_ns))
            .min_by_key(|(_, _, due)| *due)
    }
}

#[cfg(test)]
mod tests;

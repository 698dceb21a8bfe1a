//! `POST /api/config` (a whole configuration replacing the current one) and
//! `DELETE /api/config` (back to the defaults), ledfx-api.md §3.2.
//!
//! Both ask the owner to keep a copy of `config.json` as it was
//! (`config_backup_<dd-mm-yy_HH-MM-SS>.json`, UTC, LedFx's naming) before it saves the new
//! one, so neither can lose what the user had. Both apply live like any other change: the
//! stages follow the new state; only the listening address waits for the next start.
//! An imported configuration goes through the same start-up audit as a loaded file: what
//! ledfx-rs cannot use is kept as written and reported in `/api/info`.

use proto::api::{ApiReply, Json};
use serde_json::{json, Map, Value};

use super::config_update::{check_update, updatable, Checked};
use super::{invalid, reply, State};
use crate::config::{migrate, ConfigDoc};

const STAMP: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[day]-[month]-[year repr:last_two]_[hour]-[minute]-[second]"
);

impl State {
    /// A backup name for now, different from the last one handed out.
    fn next_backup_name(&mut self) -> String {
        let stamp = time::OffsetDateTime::now_utc()
            .format(STAMP)
            .unwrap_or_else(|_| "unknown-time".into());
        let base = format!("config_backup_{stamp}");
        let count = match &self.last_backup {
            Some((last, n)) if *last == base => n + 1,
            _ => 0,
        };
        let name = if count == 0 {
            format!("{base}.json")
        } else {
            format!("{base}-{count}.json")
        };
        self.last_backup = Some((base, count));
        self.backup_to = Some(name.clone());
        name
    }

    /// Puts `doc` in place of the current document (audited like a loaded file), keeping
    /// this installation's id, and says what happened.
    fn replace_with(&mut self, mut doc: ConfigDoc, done: &str) -> ApiReply {
        if let Some(id) = self.doc.core.get("instance_id").cloned() {
            let given = doc.core.get("instance_id").and_then(Value::as_str);
            if given.is_none_or(str::is_empty) {
                doc.core_mut().insert("instance_id".into(), id);
            }
        }
        let before = self.doc.clone();
        let backup = self.next_backup_name();
        self.replace_doc(doc);
        // Runtime tools and pending fallbacks belonged to the configuration that is gone.
        self.tools.clear();
        self.fallbacks.clear();
        if self.doc == before {
            // Nothing to save, so no copy is made either.
            self.backup_to = None;
            return reply(
                json!({"status": "success", "payload": {"type": "info", "reason": format!("{done}; it was already in place")}}),
            );
        }
        let problems = self.doc.kept.len();
        let mut reason = format!("{done}; the previous configuration is kept as {backup}");
        if problems > 0 {
            reason.push_str(&format!(
                "; {problems} entries are kept but not used (see /api/info)"
            ));
        }
        let kind = if problems > 0 { "warning" } else { "success" };
        reply(json!({"status": "success", "payload": {"type": kind, "reason": reason}}))
    }

    /// `POST /api/config`.
    pub(super) fn import_config(&mut self, body: Json) -> ApiReply {
        let failed = |e: String| invalid(format!("Error loading config: {e}"));
        let Value::Object(mut body) = body.to_value() else {
            return Err(failed("the configuration must be a JSON object".into()));
        };
        // An older LedFx layout is brought up to date before anything is checked.
        if migrate::needed(&body) {
            for step in migrate::migrate(&mut body) {
                tracing::info!("imported config: {step}");
            }
        }
        // The keys `PUT /api/config` checks are checked the same way here; devices and
        // virtuals go through the audit; everything else is kept as given.
        let checkable: Map<String, Value> = body
            .iter()
            .filter(|(k, _)| updatable(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let Checked { sections, core } = check_update(&checkable).map_err(failed)?;
        let mut doc = ConfigDoc::from_value(Value::Object(body)).map_err(failed)?;
        let doc_core = doc.core_mut();
        doc_core.extend(core);
        for (section, checked) in sections {
            if let Some(Value::Object(target)) = doc_core.get_mut(&section) {
                target.extend(checked);
            }
        }
        self.replace_with(doc, "Configuration imported")
    }

    /// `DELETE /api/config`.
    pub(super) fn reset_config(&mut self) -> ApiReply {
        self.replace_with(ConfigDoc::default(), "Config reset to default values")
    }
}

#[cfg(test)]
mod tests;

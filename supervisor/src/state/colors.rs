//! Colours and gradients: `/api/colors` and `/api/colors/{id}` (ledfx-api.md §3.25). The
//! user's own live in the document's `user_colors` and `user_gradients`; the built-ins are
//! render-proc's tables.

use proto::api::colors::ColorCommand;
use proto::api::{ApiFailure, ApiReply, Json};
use render_proc::color::{parse_color, LEDFX_COLORS};
use render_proc::gradient::{parse_gradient, LEDFX_GRADIENTS};
use serde_json::{json, Map, Value};

use super::{invalid, reply, ReadCtx, Resource, State};

/// The colour group.
pub struct Colors;

const USER_COLORS: &str = "user_colors";
const USER_GRADIENTS: &str = "user_gradients";

impl Resource for Colors {
    type Command = ColorCommand;

    fn read(ctx: &ReadCtx<'_>, command: ColorCommand) -> ApiReply {
        match command {
            ColorCommand::List => reply(ctx.state.colors_view()),
            other => Err(ApiFailure::internal(format!("{other:?} is not a read"))),
        }
    }

    fn write(state: &mut State, command: ColorCommand) -> ApiReply {
        match command {
            ColorCommand::Save { entries } => state.save_colors(entries),
            ColorCommand::DeleteMany { names } => {
                for name in &names {
                    state.user_map(USER_COLORS)?.shift_remove(name);
                    state.user_map(USER_GRADIENTS)?.shift_remove(name);
                }
                success(format!("Deleted {}", names.join(", ")))
            }
            ColorCommand::DeleteOne { id } => {
                let builtin_color = LEDFX_COLORS.iter().any(|(n, _)| *n == id);
                if state.user_map(USER_COLORS)?.shift_remove(&id).is_some() || builtin_color {
                    // A built-in is reported as deleted and stays, as in LedFx.
                    success(format!("Deleted color {id}"))
                } else if state.user_map(USER_GRADIENTS)?.shift_remove(&id).is_some()
                    || LEDFX_GRADIENTS.iter().any(|(n, _)| *n == id)
                {
                    success(format!("Deleted gradient {id}"))
                } else {
                    Err(invalid(format!("Color or gradient {id} not found")))
                }
            }
            other => Err(ApiFailure::internal(format!("{other:?} is not a write"))),
        }
    }
}

fn success(reason: String) -> ApiReply {
    reply(json!({"status": "success", "payload": {"type": "success", "reason": reason}}))
}

fn table(entries: &[(&str, &str)]) -> Map<String, Value> {
    entries
        .iter()
        .map(|(name, value)| ((*name).to_owned(), json!(value)))
        .collect()
}

impl State {
    fn user(&self, key: &str) -> Value {
        match self.doc.core.get(key) {
            Some(Value::Object(map)) => Value::Object(map.clone()),
            _ => json!({}),
        }
    }

    /// `GET /api/colors`.
    pub fn colors_view(&self) -> Value {
        json!({
            "colors": {"builtin": table(LEDFX_COLORS), "user": self.user(USER_COLORS)},
            "gradients": {"builtin": table(LEDFX_GRADIENTS), "user": self.user(USER_GRADIENTS)},
        })
    }

    /// One of the user's maps, created if missing. One that is not an object in the file is
    /// left as written and the request refused.
    pub(super) fn user_map(&mut self, key: &str) -> Result<&mut Map<String, Value>, ApiFailure> {
        match self.doc.core_mut().entry(key).or_insert_with(|| json!({})) {
            Value::Object(map) => Ok(map),
            other => Err(invalid(format!(
                "config.json's \"{key}\" is {other}, not an object; ledfx-rs leaves it as written and cannot change it until it is fixed"
            ))),
        }
    }

    /// `POST /api/colors`: every entry is checked first, then all are stored (LedFx stores
    /// the ones before a bad entry).
    fn save_colors(&mut self, entries: Json) -> ApiReply {
        let entries = match entries.to_value() {
            Value::Null => return Err(invalid("Required attribute was not provided")),
            Value::Object(map) => map,
            other => {
                return Err(invalid(format!(
                    "Request body must be an object of names and colours, got {other}"
                )))
            }
        };
        let mut colors = Vec::new();
        let mut gradients = Vec::new();
        for (name, value) in &entries {
            let Value::String(text) = value else {
                return Err(invalid(format!(
                    "{name}: expected a colour or gradient string, got {value}"
                )));
            };
            let builtin = LEDFX_COLORS.iter().any(|(n, _)| n == name)
                || LEDFX_GRADIENTS.iter().any(|(n, _)| n == name);
            if let Ok(rgb) = parse_color(text) {
                if !builtin {
                    colors.push((name.clone(), rgb.to_hex()));
                }
            } else {
                // LedFx's reason, then which entry and why.
                parse_gradient(text)
                    .map_err(|e| invalid(format!("Invalid gradient: {text} ({name}: {e})")))?;
                if !builtin {
                    gradients.push((name.clone(), text.clone()));
                }
            }
        }
        for (name, hex) in colors {
            self.user_map(USER_COLORS)?.insert(name, json!(hex));
        }
        for (name, text) in gradients {
            self.user_map(USER_GRADIENTS)?.insert(name, json!(text));
        }
        let names: Vec<&str> = entries.keys().map(String::as_str).collect();
        success(format!("Saved {}", names.join(", ")))
    }
}

#[cfg(test)]
mod tests;

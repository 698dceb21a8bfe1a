//! Scenes: `/api/scenes` and `/api/scenes/{id}` (ledfx-api.md §2.7, §3.18, §3.19) — saving
//! (as given, or as a snapshot of every virtual), activating, deactivating, renaming,
//! deleting, and the `active` and preset annotations of the views.
//!
//! Scenes live in the document's top-level `scenes` object as LedFx writes them; their
//! virtual entries are stored unvalidated (LedFx does the same: a scene may name a virtual
//! that is gone, or an effect ledfx-rs does not have yet). Activation applies what it can and
//! reports what it skipped.

use proto::api::presets::Category;
use proto::api::scenes::SceneCommand;
use proto::api::{ApiFailure, ApiReply, Json};
use serde_json::{json, Map, Value};

use super::{invalid, reply, ReadCtx, Resource, State};
use crate::ids::{slug, unique_id};

/// The scene group.
pub struct Scenes;

impl Resource for Scenes {
    type Command = SceneCommand;

    fn read(ctx: &ReadCtx<'_>, command: SceneCommand) -> ApiReply {
        let state = ctx.state;
        match command {
            SceneCommand::List => {
                let scenes: Map<String, Value> = state
                    .scenes()
                    .iter()
                    .map(|(id, scene)| (id.clone(), state.annotated(scene)))
                    .collect();
                reply(json!({"status": "success", "scenes": scenes}))
            }
            SceneCommand::Get { id } => {
                let (id, scene) = state.scene(&id)?;
                reply(
                    json!({"status": "success", "scene": {"id": id, "config": state.annotated(scene)}}),
                )
            }
            SceneCommand::Name { id } => {
                let (_, scene) = state.scene(&id)?;
                reply(json!({"name": scene_name(scene)}))
            }
            other => Err(ApiFailure::internal(format!("{other:?} is not a read"))),
        }
    }

    fn write(state: &mut State, command: SceneCommand) -> ApiReply {
        match command {
            SceneCommand::Save { body } => state.save_scene(body),
            SceneCommand::Activate { id } => state.activate_scene(&id),
            SceneCommand::Deactivate { id } => {
                let (_, scene) = state.scene(&id)?;
                let name = scene_name(scene);
                let targets: Vec<String> = entries(scene)
                    .filter(|(_, entry)| entry.as_object().is_some_and(|e| !e.is_empty()))
                    .map(|(vid, _)| vid.clone())
                    .collect();
                for vid in targets {
                    state.clear_effect(&vid);
                }
                reply(info(&format!("Deactivated {name}")))
            }
            SceneCommand::Rename { id, name } => {
                let (id, scene) = state.scene(&id)?;
                let old = scene_name(scene);
                if let Some(Value::Object(scene)) = state.scenes_mut()?.get_mut(&id) {
                    scene.insert("name".into(), Value::String(name.clone()));
                }
                reply(info(&format!("Renamed {old} to {name}")))
            }
            SceneCommand::Delete { id, from_path } => {
                let id = slug(&id);
                if state.scenes_mut()?.shift_remove(&id).is_some() {
                    if from_path {
                        reply(
                            json!({"status": "success", "payload": {"type": "success", "reason": format!("Scene '{id}' deleted.")}}),
                        )
                    } else {
                        reply(json!({"status": "success"}))
                    }
                } else if from_path {
                    Err(invalid("Scene not found"))
                } else {
                    Err(invalid("Invalid request"))
                }
            }
            other => Err(ApiFailure::internal(format!("{other:?} is not a write"))),
        }
    }
}

/// A success envelope with an info message.
fn info(reason: &str) -> Value {
    json!({"status": "success", "payload": {"type": "info", "reason": reason}})
}

fn scene_name(scene: &Value) -> String {
    match scene.get("name") {
        Some(Value::String(name)) => name.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The `virtuals` entries of a scene.
fn entries(scene: &Value) -> impl Iterator<Item = (&String, &Value)> {
    scene
        .get("virtuals")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// What an entry asks for on activation (§2.7).
enum Action<'a> {
    Ignore,
    Stop,
    ForceBlack,
    /// Set `effect_type` with this raw config (or a preset to resolve).
    Activate {
        effect_type: &'a str,
        config: EntryConfig<'a>,
    },
    /// An activate entry without a type, or without a config or preset: skipped.
    Incomplete,
    Unknown(&'a str),
}

enum EntryConfig<'a> {
    Given(&'a Map<String, Value>),
    Preset(&'a str),
}

fn action_of(entry: &Value) -> Action<'_> {
    let Some(entry) = entry.as_object() else {
        return Action::Ignore;
    };
    let action = match entry.get("action") {
        Some(Value::String(a)) => a.as_str(),
        Some(_) => return Action::Unknown("(not a string)"),
        None if entry.contains_key("type") || entry.contains_key("config") => "activate",
        None => "ignore",
    };
    match action {
        "ignore" => Action::Ignore,
        "stop" => Action::Stop,
        "forceblack" => Action::ForceBlack,
        "activate" => {
            let Some(effect_type) = entry.get("type").and_then(Value::as_str) else {
                return Action::Incomplete;
            };
            let config = match (entry.get("config"), entry.get("preset")) {
                (Some(Value::Object(c)), _) => EntryConfig::Given(c),
                (_, Some(Value::String(p))) => EntryConfig::Preset(p),
                _ => return Action::Incomplete,
            };
            Action::Activate {
                effect_type,
                config,
            }
        }
        other => Action::Unknown(other),
    }
}

impl State {
    fn scenes(&self) -> Map<String, Value> {
        self.doc
            .core
            .get("scenes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// The document's scenes, created if missing. A `scenes` that is not an object (a
    /// hand-edited file) is left as written and the request refused.
    fn scenes_mut(&mut self) -> Result<&mut Map<String, Value>, ApiFailure> {
        let core = self.doc.core_mut();
        match core.entry("scenes").or_insert_with(|| json!({})) {
            Value::Object(map) => Ok(map),
            other => Err(invalid(format!(
                "config.json's \"scenes\" is {other}, not an object; ledfx-rs leaves it as written and cannot change scenes until it is fixed"
            ))),
        }
    }

    /// The scene a (slugified) id names.
    fn scene(&self, id: &str) -> Result<(String, &Value), ApiFailure> {
        let id = slug(id);
        self.doc
            .core
            .get("scenes")
            .and_then(|s| s.get(&id))
            .map(|scene| (id.clone(), scene))
            .ok_or_else(|| invalid(format!("Scene {id} does not exist")))
    }

    /// One entry per virtual: its running effect, or `{}`.
    fn snapshot(&self) -> Map<String, Value> {
        self.doc
            .virtuals
            .iter()
            .map(|v| {
                let entry = match &v.effect {
                    Some(e) => json!({"type": e.effect_type, "config": e.config}),
                    None => json!({}),
                };
                (v.id.clone(), entry)
            })
            .collect()
    }

    fn save_scene(&mut self, body: Json) -> ApiReply {
        let Value::Object(body) = body.to_value() else {
            return Err(invalid("Request body must be a JSON object"));
        };
        let given_id = match body.get("id") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(invalid(format!("id: expected a string, got {other}")));
            }
        };
        let virtuals = match body.get("virtuals") {
            _ if body.get("snapshot") == Some(&Value::Bool(true)) => Some(self.snapshot()),
            None => None,
            Some(Value::Object(given)) => Some(filtered_entries(given)),
            Some(other) => {
                return Err(invalid(format!(
                    "virtuals: expected an object, got {other}"
                )));
            }
        };
        let (id, scene) = match given_id {
            Some(given) => {
                let id = slug(&given);
                let Some(Value::Object(existing)) = self.scenes().get(&id).cloned() else {
                    return Err(invalid(format!(
                        "Scene with id '{given}' does not exist. To create a new scene, omit the 'id' field."
                    )));
                };
                let mut scene = existing;
                for key in SCENE_FIELDS {
                    if let Some(value) = body.get(*key) {
                        scene.insert((*key).into(), value.clone());
                    }
                }
                if let Some(virtuals) = virtuals {
                    scene.insert("virtuals".into(), Value::Object(virtuals));
                }
                (id, scene)
            }
            None => {
                let name = match body.get("name") {
                    Some(Value::String(n)) if !n.is_empty() => n.clone(),
                    _ => return Err(invalid("Required attribute 'name' was not provided")),
                };
                let scenes = self.scenes();
                let id = unique_id(&slug(&name), |c| scenes.contains_key(c));
                let mut scene = Map::new();
                scene.insert("name".into(), Value::String(name));
                for key in &SCENE_FIELDS[1..] {
                    let default = if *key == "scene_image" {
                        json!("Wallpaper")
                    } else {
                        Value::Null
                    };
                    scene.insert((*key).into(), body.get(*key).cloned().unwrap_or(default));
                }
                let virtuals = virtuals.unwrap_or_else(|| self.snapshot());
                scene.insert("virtuals".into(), Value::Object(virtuals));
                (id, scene)
            }
        };
        self.scenes_mut()?
            .insert(id.clone(), Value::Object(scene.clone()));
        reply(json!({"status": "success", "scene": {"id": id, "config": scene}}))
    }

    fn clear_effect(&mut self, virtual_id: &str) {
        if let Some(v) = self.doc.virtual_mut(virtual_id) {
            v.effect = None;
            v.active = false;
        }
    }

    /// The config an activate entry resolves to, validated over the effect's defaults.
    fn resolved_config(
        &self,
        effect_type: &str,
        config: &EntryConfig<'_>,
    ) -> Result<Map<String, Value>, ApiFailure> {
        let raw = match config {
            EntryConfig::Given(c) => (*c).clone(),
            // A built-in or user preset (LedFx looks in both); an unknown one is the defaults.
            EntryConfig::Preset(p) => [Category::Ledfx, Category::User]
                .into_iter()
                .find_map(|c| self.preset_config(effect_type, c, p).ok())
                .unwrap_or_default(),
        };
        if render_proc::effect_name(effect_type).is_none() {
            return Err(invalid(format!("Unknown effect type \"{effect_type}\"")));
        }
        Self::validated_effect(effect_type, &raw)
    }

    fn activate_scene(&mut self, id: &str) -> ApiReply {
        let (id, scene) = self.scene(id)?;
        let scene = scene.clone();
        let name = scene_name(&scene);
        let mut skipped = Vec::new();
        for (vid, entry) in entries(&scene) {
            if self.doc.virtual_entry(vid).is_none() {
                continue;
            }
            let outcome = match action_of(entry) {
                Action::Ignore => Ok(()),
                // LedFx skips these silently; the reply names them.
                Action::Incomplete => Err(invalid(
                    "\"activate\" needs a \"type\" and a \"config\" or \"preset\"",
                )),
                Action::Unknown(action) => Err(invalid(format!("unknown action \"{action}\""))),
                Action::Stop => {
                    self.clear_effect(vid);
                    Ok(())
                }
                Action::ForceBlack => Self::validated_effect("singleColor", &black())
                    .and_then(|c| self.install_effect(vid, "singleColor", c).map(drop)),
                Action::Activate {
                    effect_type,
                    config,
                } => self
                    .resolved_config(effect_type, &config)
                    .and_then(|c| self.install_effect(vid, effect_type, c).map(drop)),
            };
            if let Err(e) = outcome {
                skipped.push(format!("{vid} ({})", e.reason));
            }
        }
        self.scene_activations += 1;
        self.last_scene = Some(id);
        if skipped.is_empty() {
            reply(info(&format!("Activated {name}")))
        } else {
            reply(
                json!({"status": "success", "payload": {"type": "warning", "reason": format!(
                    "Activated {name}, except for {}", skipped.join(", ")
                )}}),
            )
        }
    }

    /// Activates the configured `startup_scene_id` (if any), in memory: the lights show it
    /// from the start, and `config.json` is not rewritten for it. Returns what to log.
    pub fn activate_startup_scene(&mut self) -> Option<Result<String, String>> {
        let id = self.doc.core.get("startup_scene_id")?.as_str()?.to_owned();
        if id.is_empty() {
            return None;
        }
        Some(match self.activate_scene(&id) {
            Ok(reply) => Ok(reply.to_value()["payload"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned()),
            Err(e) => Err(format!("startup_scene_id {id:?}: {}", e.reason)),
        })
    }

    /// Whether an entry holds in the current state.
    fn entry_holds(&self, vid: &str, entry: &Value) -> bool {
        let Some(v) = self.doc.virtual_entry(vid) else {
            return false;
        };
        let running = v.effect.as_ref();
        match action_of(entry) {
            Action::Ignore | Action::Incomplete | Action::Unknown(_) => true,
            Action::Stop => running.is_none(),
            Action::ForceBlack => running.is_some_and(|e| {
                e.effect_type == "singleColor" && e.config.get("color") == Some(&json!("#000000"))
            }),
            Action::Activate {
                effect_type,
                config,
            } => running.is_some_and(|e| {
                e.effect_type == effect_type
                    && self
                        .resolved_config(effect_type, &config)
                        .is_ok_and(|expected| expected == e.config)
            }),
        }
    }

    /// A scene as `GET` shows it: `active`, and the preset each entry's config matches.
    fn annotated(&self, scene: &Value) -> Value {
        let mut scene = scene.clone();
        let active = entries(&scene).all(|(vid, entry)| self.entry_holds(vid, entry));
        if let Some(Value::Object(virtuals)) = scene.get_mut("virtuals") {
            for entry in virtuals.values_mut() {
                let Some(entry) = entry.as_object_mut() else {
                    continue;
                };
                let found = match (entry.get("type"), entry.get("config")) {
                    (Some(Value::String(effect_type)), Some(Value::Object(config)))
                        if !config.is_empty() =>
                    {
                        self.matching_preset(effect_type, config)
                    }
                    _ => None,
                };
                if let Some((preset, category)) = found {
                    entry.insert("preset".into(), json!(preset));
                    entry.insert("preset_category".into(), json!(category));
                }
            }
        }
        if let Value::Object(map) = &mut scene {
            map.insert("active".into(), Value::Bool(active));
        }
        scene
    }
}

/// The scene fields a save may set, in LedFx's order (`virtuals` follows).
const SCENE_FIELDS: &[&str] = &[
    "name",
    "scene_image",
    "scene_tags",
    "scene_puturl",
    "scene_payload",
    "scene_midiactivate",
];

/// Given entries keep `action`, `type`, `config`, and `preset` when a `type` is there;
/// entries that are not objects are dropped (§3.18).
fn filtered_entries(given: &Map<String, Value>) -> Map<String, Value> {
    given
        .iter()
        .filter_map(|(vid, entry)| {
            let entry = entry.as_object()?;
            let kept: Map<String, Value> = entry
                .iter()
                .filter(|(k, _)| match k.as_str() {
                    "action" | "type" | "config" => true,
                    "preset" => entry.contains_key("type"),
                    _ => false,
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Some((vid.clone(), Value::Object(kept)))
        })
        .collect()
}

fn black() -> Map<String, Value> {
    let mut config = Map::new();
    config.insert("color".into(), json!("#000000"));
    config
}

#[cfg(test)]
mod tests;

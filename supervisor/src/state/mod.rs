//! The desired state and the rules that change it.
//!
//! [`State`] owns the configuration document and applies API commands to it with LedFx
//! 2.2.1's semantics (ids, defaults, activation exclusivity, cascading deletes). It is pure:
//! no I/O, so every rule is unit-tested here. Each resource group has its own module —
//! commands, validation and LedFx views together — and one line in [`GROUPS`]:
//!
//! * [`devices`], [`virtuals`], [`effects`], [`presets`], [`scenes`], [`colors`], [`system`],
//!   [`schema`], [`tools`] — the groups.
//! * [`audit`] — the start-up check that sets aside what cannot be used, untouched.
//! * [`events`] — the change-feed events a change produced, found by comparing states.
//! * [`pipeline`] — the [`PipelineState`] the stages run, derived from the document.
//! * [`rollback`] — what a crash-loop rollback reverts, and what it keeps.
//!
//! The state owner (`owner.rs`) answers reads from an immutable snapshot and applies writes
//! to a copy that becomes current only once it is on disk, so a rejected or unsaveable
//! request changes nothing.

mod audio;
pub mod audit;
pub mod colors;
mod config_import;
mod config_update;
pub mod devices;
pub mod effects;
pub mod events;
pub mod fallback;
mod global_effects;
mod pipeline;
pub mod presets;
mod randomize;
pub mod rollback;
pub mod scenes;
pub mod schema;
pub mod system;
pub mod tools;
pub mod virtual_config;
mod virtual_edit;
pub mod virtuals;

use std::collections::BTreeMap;

use proto::api::{ApiCall, ApiFailure, ApiReply, Command, Json};
use proto::layout::{MAX_DEVICE_SLOTS, MAX_VIS_SLOTS};
use proto::pipeline::{AudioSource, PipelineState};
use serde_json::Value;

use crate::config::{ConfigDoc, Section};

/// The desired state: the document plus what is derived from it at run time.
#[derive(Debug, Clone)]
pub struct State {
    pub doc: ConfigDoc,
    /// Global pause (runtime only, as in LedFx).
    pub paused: bool,
    /// Increases with every accepted change.
    pub revision: u64,
    /// Random per supervisor start: revisions are unique only within one boot.
    pub boot: String,
    /// Shared-memory pixel slot of each device, and the generation of that assignment.
    slots: BTreeMap<String, (u16, u64)>,
    /// The generation the next slot assignment gets.
    next_generation: u64,
    /// Visualisation slot of each virtual (for the live preview), and its generation.
    vis_slots: BTreeMap<String, (u16, u64)>,
    next_vis_slot: u16,
    /// Each virtual's running effect instance: its creation number and LedFx's id for it.
    instances: BTreeMap<String, (u64, String)>,
    next_instance: u64,
    /// Where the search for a free slot starts: slots are handed out round-robin so a freed
    /// slot (which still holds its last frame) is reused as late as possible.
    next_slot: u16,
    audio_source: AudioSource,
    /// Whether a capture device was chosen through the API in this run: from then on the
    /// stored device is the source even if the command line named another (runtime only).
    pub(crate) audio_chosen: bool,
    /// What audio-proc last published about its devices, read by the owner just before a
    /// write runs, so a chosen device index is checked against what exists (runtime only).
    pub audio_status: Option<proto::audio_status::AudioStatus>,
    /// The last automatic rollback, reported by `/api/info` (runtime only).
    pub last_rollback: Option<Rollback>,
    /// Scene activations so far and the last scene activated (runtime only): a change of
    /// the count is a `scene_activated` event.
    pub scene_activations: u64,
    pub last_scene: Option<String>,
    /// The runtime tools of `/api/virtuals_tools` per virtual (never saved).
    pub tools: BTreeMap<String, proto::pipeline::VirtualTools>,
    /// The sequence number of the last `force_color` paint.
    next_paint: u64,
    /// Effects set with a fallback, by virtual (runtime only).
    pub fallbacks: BTreeMap<String, fallback::PendingFallback>,
    next_fallback: u64,
    /// Set by a write that replaces the whole configuration: the owner keeps a copy of the
    /// file as it was under this name before it saves the new one (runtime only).
    pub backup_to: Option<String>,
    /// The last backup stamp handed out and how many names it has had, so two backups in
    /// the same second get different names.
    last_backup: Option<(String, u32)>,
}

/// An automatic rollback of the configuration after a stage crash-looped.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    pub reason: String,
    pub from_revision: u64,
    pub to_revision: u64,
    /// The revisions whose changes were undone.
    pub reverted_revisions: Vec<u64>,
    /// The revisions after `to_revision` whose changes were kept.
    pub kept_revisions: Vec<u64>,
}

/// What a read sees: the state, and the live counters in shared memory.
pub struct ReadCtx<'a> {
    pub state: &'a State,
    /// The pipeline derived from `state`.
    pub pipeline: &'a PipelineState,
    pub segment: Option<&'a proto::layout::Segment>,
    /// `CLOCK_MONOTONIC` now.
    pub now_ns: u64,
}

/// One resource group: how its commands read and change the state.
pub trait Resource {
    type Command: Command;

    /// Answers a command whose [`Command::is_read`] is true.
    fn read(ctx: &ReadCtx<'_>, command: Self::Command) -> ApiReply;

    /// Applies any other command to `state` (a copy the owner discards on error).
    fn write(state: &mut State, command: Self::Command) -> ApiReply;
}

/// A decoded call, ready to run where it belongs.
pub enum Prepared {
    /// Runs against a snapshot, beside writes.
    Read(Box<dyn FnOnce(&ReadCtx<'_>) -> ApiReply + Send>),
    /// Runs in the writer, on a copy of the current state.
    Write(Box<dyn FnOnce(&mut State) -> ApiReply + Send>),
}

fn prepare<R: Resource + 'static>(call: &ApiCall) -> Result<Prepared, ApiFailure> {
    let command: R::Command = call.decode()?;
    Ok(if command.is_read() {
        Prepared::Read(Box::new(move |ctx| R::read(ctx, command)))
    } else {
        Prepared::Write(Box::new(move |state| {
            let reply = R::write(state, command);
            state.sync_runtime();
            reply
        }))
    })
}

type Preparer = fn(&ApiCall) -> Result<Prepared, ApiFailure>;

/// Every resource group: its envelope name and its module. One line per group.
const GROUPS: &[(&str, Preparer)] = &[
    (
        proto::api::devices::DeviceCommand::GROUP,
        prepare::<devices::Devices>,
    ),
    (
        proto::api::virtuals::VirtualCommand::GROUP,
        prepare::<virtuals::Virtuals>,
    ),
    (
        proto::api::effects::EffectCommand::GROUP,
        prepare::<effects::Effects>,
    ),
    (
        proto::api::system::SystemCommand::GROUP,
        prepare::<system::System>,
    ),
    (
        proto::api::colors::ColorCommand::GROUP,
        prepare::<colors::Colors>,
    ),
    (
        proto::api::presets::PresetCommand::GROUP,
        prepare::<presets::Presets>,
    ),
    (
        proto::api::tools::ToolCommand::GROUP,
        prepare::<tools::Tools>,
    ),
    (
        proto::api::scenes::SceneCommand::GROUP,
        prepare::<scenes::Scenes>,
    ),
    (
        proto::api::schema::SchemaCommand::GROUP,
        prepare::<schema::Schema>,
    ),
];

/// Decodes a call for the group it names.
pub fn prepare_call(call: &ApiCall) -> Result<Prepared, ApiFailure> {
    let preparer = GROUPS
        .iter()
        .find(|(group, _)| *group == call.group)
        .map(|(_, preparer)| preparer)
        .ok_or_else(|| {
            ApiFailure::internal(format!(
                "the supervisor has no \"{}\" commands; are api-proc and the supervisor from the same build?",
                call.group
            ))
        })?;
    preparer(call)
}

/// The top-level keys of `full` named in `keys` (the "GET with a JSON body" selection of
/// ledfx-api.md §1.6): names it does not have are dropped, and when none is left — or none
/// was asked for — the whole object.
fn select_keys(full: Value, keys: &[String]) -> Value {
    let Value::Object(mut map) = full else {
        return full;
    };
    let selected: serde_json::Map<String, Value> = keys
        .iter()
        .filter_map(|key| map.shift_remove_entry(key.as_str()))
        .collect();
    Value::Object(if selected.is_empty() { map } else { selected })
}

fn invalid(reason: impl Into<String>) -> ApiFailure {
    ApiFailure::invalid(reason)
}

fn reply(value: Value) -> ApiReply {
    Ok(Json::from_value(&value))
}

/// "not found", or, for an entry set aside at start, why it cannot be used.
fn not_found(doc: &ConfigDoc, section: Section, id: &str) -> ApiFailure {
    let what = match section {
        Section::Devices => "Device",
        Section::Virtuals => "Virtual",
    };
    match doc.kept_entry(section, id) {
        Some(kept) => invalid(format!(
            "{what} {id} is in config.json but ledfx-rs cannot use it: {}",
            kept.reason
        )),
        None => invalid(format!("{what} with ID {id} not found")),
    }
}

impl State {
    /// State for a loaded document. The document is checked with the same validation the
    /// API uses ([`audit`]); what cannot be used is set aside untouched and reported in the
    /// returned list, so a hand-edited or foreign config never makes a stage crash-loop and
    /// never loses an entry.
    pub fn new(mut doc: ConfigDoc, audio_source: AudioSource) -> (Self, Vec<String>) {
        let warnings = audit::audit(&mut doc);
        // LedFx gives every installation a stable random id on its first start.
        if doc
            .core
            .get("instance_id")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let id: u128 = rand::random();
            let hex = format!("{id:032x}");
            let uuid = format!(
                "{}-{}-4{}-a{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[13..16],
                &hex[17..20],
                &hex[20..]
            );
            doc.core_mut()
                .insert("instance_id".into(), Value::String(uuid));
        }
        let mut state = Self {
            doc,
            paused: false,
            revision: 1,
            boot: format!("{:016x}", rand::random::<u64>()),
            slots: BTreeMap::new(),
            next_generation: 1,
            vis_slots: BTreeMap::new(),
            next_vis_slot: 0,
            instances: BTreeMap::new(),
            next_instance: 1,
            next_slot: 0,
            audio_source,
            audio_chosen: false,
            audio_status: None,
            last_rollback: None,
            scene_activations: 0,
            last_scene: None,
            backup_to: None,
            last_backup: None,
            tools: BTreeMap::new(),
            next_paint: 0,
            fallbacks: BTreeMap::new(),
            next_fallback: 0,
        };
        state.sync_runtime();
        (state, warnings)
    }

    /// Assigns slots to new devices, frees those of removed devices, and numbers effects that
    /// have no instance yet.
    fn sync_runtime(&mut self) {
        let devices: Vec<&str> = self.doc.devices.iter().map(|d| d.id.as_str()).collect();
        assign_slots(
            &mut self.slots,
            &devices,
            MAX_DEVICE_SLOTS as u16,
            &mut self.next_slot,
            &mut self.next_generation,
        );
        let virtuals: Vec<&str> = self.doc.virtuals.iter().map(|v| v.id.as_str()).collect();
        assign_slots(
            &mut self.vis_slots,
            &virtuals,
            MAX_VIS_SLOTS as u16,
            &mut self.next_vis_slot,
            &mut self.next_generation,
        );
        self.instances.retain(|id, _| {
            self.doc
                .virtuals
                .iter()
                .any(|v| &v.id == id && v.effect.is_some())
        });
        let unnumbered: Vec<String> = self
            .doc
            .virtuals
            .iter()
            .filter(|v| v.effect.is_some() && !self.instances.contains_key(&v.id))
            .map(|v| v.id.clone())
            .collect();
        for id in unnumbered {
            self.new_instance(&id);
        }
    }

    /// Replaces the whole document (a rollback); it is audited like a loaded one, and runtime
    /// bookkeeping follows it.
    pub fn replace_doc(&mut self, mut doc: ConfigDoc) {
        for warning in audit::audit(&mut doc) {
            tracing::warn!("restored config: {warning}");
        }
        let old = std::mem::replace(&mut self.doc, doc);
        // A virtual whose effect differs from before runs a new effect instance.
        let changed: Vec<String> = self
            .doc
            .virtuals
            .iter()
            .filter(|v| old.virtual_entry(&v.id).map(|o| &o.effect) != Some(&v.effect))
            .map(|v| v.id.clone())
            .collect();
        for id in changed {
            self.instances.remove(&id);
        }
        self.sync_runtime();
    }

    /// Numbers the virtual's (new) running effect. Its id is LedFx's: the first of
    /// `<type>`, `<type>-1`, … that no running instance holds — counting the one it replaces,
    /// which LedFx still runs when it creates the new one.
    fn new_instance(&mut self, virtual_id: &str) {
        let Some(effect_type) = self
            .doc
            .virtual_entry(virtual_id)
            .and_then(|v| v.effect.as_ref())
            .map(|e| e.effect_type.clone())
        else {
            self.instances.remove(virtual_id);
            return;
        };
        let taken = |candidate: &str| self.instances.values().any(|(_, id)| id == candidate);
        let mut id = effect_type.clone();
        let mut n = 0;
        while taken(&id) {
            n += 1;
            id = format!("{effect_type}-{n}");
        }
        self.instances
            .insert(virtual_id.to_owned(), (self.next_instance, id));
        self.next_instance += 1;
    }

    /// The effect instance number of a virtual's running effect (0 when none).
    pub fn instance_of(&self, virtual_id: &str) -> u64 {
        self.instances.get(virtual_id).map_or(0, |(n, _)| *n)
    }

    /// LedFx's id of a virtual's running effect (`singleColor`, `singleColor-1`, …; empty
    /// when none).
    pub fn effect_instance_id(&self, virtual_id: &str) -> String {
        self.instances
            .get(virtual_id)
            .map(|(_, id)| id.clone())
            .unwrap_or_default()
    }

    /// The state the stages run.
    pub fn pipeline(&self) -> PipelineState {
        pipeline::derive(self)
    }

    /// Runs one call to completion on this state: reads directly, writes in place. For tests
    /// and tools; the owner separates the two.
    pub fn apply_call(&mut self, call: &ApiCall) -> ApiReply {
        match prepare_call(call)? {
            Prepared::Read(read) => {
                let pipeline = self.pipeline();
                read(&ReadCtx {
                    state: self,
                    pipeline: &pipeline,
                    segment: None,
                    now_ns: proto::monotonic_ns(),
                })
            }
            Prepared::Write(write) => write(self),
        }
    }

    /// [`State::apply_call`] for a typed command.
    pub fn apply<C: Command>(&mut self, command: C) -> ApiReply {
        self.apply_call(&ApiCall::new(&command))
    }
}

/// Keeps the slots of `ids` that have one, frees the others, and gives each new id a free
/// slot with a new generation. Slots are handed out round-robin from `next_slot`, so a freed
/// slot (which still holds its last frame) is reused as late as possible; an id finds no
/// slot when all `capacity` are taken.
fn assign_slots(
    slots: &mut BTreeMap<String, (u16, u64)>,
    ids: &[&str],
    capacity: u16,
    next_slot: &mut u16,
    next_generation: &mut u64,
) {
    slots.retain(|id, _| ids.contains(&id.as_str()));
    for id in ids {
        if slots.contains_key(*id) {
            continue;
        }
        let used: std::collections::BTreeSet<u16> = slots.values().map(|(slot, _)| *slot).collect();
        let free = (0..capacity)
            .map(|i| (*next_slot + i) % capacity)
            .find(|s| !used.contains(s));
        if let Some(free) = free {
            slots.insert((*id).to_owned(), (free, *next_generation));
            *next_generation += 1;
            *next_slot = (free + 1) % capacity;
        }
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

//! The document model: `config.json`'s devices, virtuals and top-level keys, with LedFx
//! 2.2.1's defaults, and the entries kept as written because ledfx-rs cannot use them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::CONFIGURATION_VERSION;

/// A device entry of `config.devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub id: String,
    #[serde(rename = "type")]
    pub device_type: String,
    pub config: Map<String, Value>,
    /// Keys ledfx-rs does not use, kept so they round-trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The entry exactly as loaded, until the start-up audit has decided it is usable.
    #[serde(skip)]
    pub as_written: Option<Box<Value>>,
}

impl DeviceEntry {
    /// The device's pixel count; at least 1 (a usable device always has a valid one).
    pub fn pixel_count(&self) -> i64 {
        self.config
            .get("pixel_count")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(1)
    }
}

/// A stored effect: `{type, config}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectEntry {
    #[serde(rename = "type")]
    pub effect_type: String,
    #[serde(default)]
    pub config: Map<String, Value>,
    /// Keys ledfx-rs does not use, kept so they round-trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A segment `[device_id, start, end, invert]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment(pub String, pub i64, pub i64, pub bool);

/// A virtual entry of `config.virtuals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualEntry {
    pub id: String,
    pub config: Map<String, Value>,
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// The device this virtual was created for, or `false`.
    #[serde(default = "false_value")]
    pub is_device: Value,
    #[serde(default)]
    pub auto_generated: bool,
    #[serde(default)]
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<EffectEntry>,
    #[serde(default)]
    pub effects: Map<String, Value>,
    #[serde(default)]
    pub last_effect: Option<String>,
    /// Keys ledfx-rs does not use, kept so they round-trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// The entry exactly as loaded, until the start-up audit has decided it is usable.
    #[serde(skip)]
    pub as_written: Option<Box<Value>>,
}

/// An entry that remembers how it was written.
pub trait Written {
    fn set_written(&mut self, raw: Value);
}

impl Written for DeviceEntry {
    fn set_written(&mut self, raw: Value) {
        self.as_written = Some(Box::new(raw));
    }
}

impl Written for VirtualEntry {
    fn set_written(&mut self, raw: Value) {
        self.as_written = Some(Box::new(raw));
    }
}

fn false_value() -> Value {
    Value::Bool(false)
}

impl VirtualEntry {
    /// A new, inactive virtual with no effect: a device's own (`device` set) or a
    /// user-created one.
    pub fn new(
        id: String,
        config: Map<String, Value>,
        segments: Vec<Segment>,
        device: Option<String>,
    ) -> Self {
        Self {
            id,
            config,
            segments,
            is_device: device.map_or(Value::Bool(false), Value::String),
            auto_generated: false,
            active: false,
            effect: None,
            effects: Map::new(),
            last_effect: None,
            extra: Map::new(),
            as_written: None,
        }
    }

    /// The device id this virtual belongs to, if it is a device virtual.
    pub fn device_id(&self) -> Option<&str> {
        self.is_device.as_str()
    }
}

/// The list of the document an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Devices,
    Virtuals,
}

impl Section {
    /// The document key of the list.
    pub fn key(self) -> &'static str {
        match self {
            Section::Devices => "devices",
            Section::Virtuals => "virtuals",
        }
    }
}

/// A `devices` or `virtuals` entry ledfx-rs cannot use, kept exactly as written: it is not
/// driven, not shown by the LedFx endpoints, and written back unchanged on every save.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub section: Section,
    /// Its `id`, or `#<index>` when it has none.
    pub id: String,
    /// Where it stood in its list, so a save puts it back there.
    pub index: usize,
    /// The entry as the file had it.
    pub raw: Value,
    /// Why it cannot be used, for the log and `/api/info`.
    pub reason: String,
}

/// The whole configuration document.
///
/// The parts are behind `Arc`s so that a copy of the document (one per write, see
/// `owner.rs`) shares everything the write does not change; mutate through
/// `Arc::make_mut`, [`ConfigDoc::core_mut`], [`ConfigDoc::device_mut`] and
/// [`ConfigDoc::virtual_mut`], which copy only the entry being changed. Entries are `Eq`, so
/// comparing two documents skips the shared parts by pointer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDoc {
    /// Every top-level key except `devices` and `virtuals`, defaults filled in.
    pub core: Arc<Map<String, Value>>,
    /// The usable devices and virtuals; everything the rules and views see.
    pub devices: Vec<Arc<DeviceEntry>>,
    pub virtuals: Vec<Arc<VirtualEntry>>,
    /// Entries that cannot be used, in file order.
    pub kept: Vec<Kept>,
}

/// The core keys of §2.1 with LedFx 2.2.1's defaults, in the order GET shows them.
pub fn core_defaults() -> Map<String, Value> {
    let defaults = json!({
        "host": "0.0.0.0",
        "port": 8888,
        "port_s": 8443,
        "dev_mode": false,
        "audio": {
            "pitch_tolerance": 0.8, "tempo_method": "default", "pitch_method": "yinfft",
            "onset_method": "hfc", "sample_rate": 60, "audio_device": null, "min_volume": 0.2,
            "delay_ms": 0, "audio_device_name": "", "fft_size": 4096, "mic_rate": 44100
        },
        "melbanks": {
            "samples": 24, "peak_isolation": 0.4, "coeffs_type": "matt_mel",
            "max_frequencies": [350, 2000, 15000], "min_frequency": 20
        },
        "melbank_collection": [
            {"id": "melbank-0", "config": {"min_frequency": 20, "max_frequency": 350, "name": "Melbank 0"}},
            {"id": "melbank-1", "config": {"min_frequency": 20, "max_frequency": 2000, "name": "Melbank 1"}},
            {"id": "melbank-2", "config": {"min_frequency": 20, "max_frequency": 15000, "name": "Melbank 2"}}
        ],
        "wled_preferences": {
            "wled_preferred_mode": {"setting": "UDP", "user_enabled": false},
            "realtime_gamma_enabled": {"setting": false, "user_enabled": false},
            "force_max_brightness": {"setting": false, "user_enabled": false},
            "realtime_dmx_mode": {"setting": "MultiRGB", "user_enabled": false},
            "start_universe_setting": {"setting": 1, "user_enabled": false},
            "dmx_address_start": {"setting": 1, "user_enabled": false},
            "inactivity_timeout": {"setting": 1, "user_enabled": false}
        },
        "user_presets": {},
        "scenes": {},
        "playlists": {},
        "integrations": [],
        "transmission_mode": "compressed",
        "visualisation_fps": 30,
        "visualisation_maxlen": 81,
        "global_transitions": true,
        "global_brightness": 1.0,
        "ui_brightness_boost": 0.0,
        "user_colors": {},
        "user_gradients": {},
        "scan_on_startup": false,
        "create_segments": false,
        "flush_on_deactivate": false,
        "configuration_version": CONFIGURATION_VERSION,
        "startup_scene_id": "",
        "startup_playlist_id": "",
        "lifx_broadcast_address": "255.255.255.255",
        "lifx_discovery_timeout": 30,
        "instance_id": "",
        "sendspin_servers": {},
        "sendspin_always_on": true,
        "now_playing": {},
        "allowed_origins": [],
        "allowed_hosts": [],
        "allow_null_origin": false
    });
    match defaults {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl Default for ConfigDoc {
    fn default() -> Self {
        Self {
            core: Arc::new(core_defaults()),
            devices: Vec::new(),
            virtuals: Vec::new(),
            kept: Vec::new(),
        }
    }
}

impl ConfigDoc {
    /// Parses a document, filling defaults for missing core keys (and missing sub-keys of
    /// `audio`, `melbanks`, `wled_preferences`). Unknown keys are kept, and so is every
    /// `devices`/`virtuals` entry that does not have the shape of one (as [`Kept`]).
    pub fn from_value(value: Value) -> Result<Self, String> {
        Self::parse(value)
    }

    /// [`ConfigDoc::from_value`] for a document that may be in an older LedFx layout: it is
    /// migrated first ([`super::migrate`]); also returns what the migration did.
    pub fn from_value_migrating(value: Value) -> Result<(Self, Vec<String>), String> {
        let Value::Object(mut map) = value else {
            return Err("the top level is not a JSON object".into());
        };
        let migrated = if super::migrate::needed(&map) {
            super::migrate::migrate(&mut map)
        } else {
            Vec::new()
        };
        Self::parse(Value::Object(map)).map(|doc| (doc, migrated))
    }

    fn parse(value: Value) -> Result<Self, String> {
        let Value::Object(mut map) = value else {
            return Err("the top level is not a JSON object".into());
        };
        let mut kept = Vec::new();
        let devices: Vec<DeviceEntry> =
            parse_entries(map.remove("devices"), Section::Devices, &mut kept)?;
        let mut virtuals: Vec<VirtualEntry> =
            parse_entries(map.remove("virtuals"), Section::Virtuals, &mut kept)?;
        // LedFx writes `active` only once a virtual was switched on or off by hand; until
        // then a virtual with an effect runs (setting an effect activates it).
        for v in &mut virtuals {
            let unset = v
                .as_written
                .as_ref()
                .is_some_and(|raw| raw.get("active").is_none());
            if unset {
                v.active = v.effect.is_some();
            }
        }
        // `ledfx_presets` is built in and never saved.
        map.remove("ledfx_presets");
        let mut core = core_defaults();
        for (key, value) in map {
            match (core.get_mut(&key), value) {
                (Some(Value::Object(defaults)), Value::Object(given))
                    if matches!(key.as_str(), "audio" | "melbanks" | "wled_preferences") =>
                {
                    for (k, v) in given {
                        defaults.insert(k, v);
                    }
                }
                (_, value) => {
                    core.insert(key, value);
                }
            }
        }
        Ok(Self {
            core: Arc::new(core),
            devices: devices.into_iter().map(Arc::new).collect(),
            virtuals: virtuals.into_iter().map(Arc::new).collect(),
            kept,
        })
    }

    /// The document as LedFx's JSON (core keys, then `devices` and `virtuals`), kept entries
    /// back where they were.
    pub fn to_value(&self) -> Value {
        let mut map = (*self.core).clone();
        map.insert(
            "devices".into(),
            self.merged(&self.devices, Section::Devices),
        );
        map.insert(
            "virtuals".into(),
            self.merged(&self.virtuals, Section::Virtuals),
        );
        Value::Object(map)
    }

    /// The document as the LedFx endpoints show it: only what ledfx-rs uses.
    pub fn usable_value(&self) -> Value {
        let mut map = (*self.core).clone();
        let list = |entries: Vec<Value>| Value::Array(entries);
        map.insert(
            "devices".into(),
            list(self.devices.iter().map(to_json).collect()),
        );
        map.insert(
            "virtuals".into(),
            list(self.virtuals.iter().map(to_json).collect()),
        );
        Value::Object(map)
    }

    fn merged<T: Serialize>(&self, entries: &[Arc<T>], section: Section) -> Value {
        let mut list: Vec<Value> = entries.iter().map(to_json).collect();
        for kept in self.kept.iter().filter(|k| k.section == section) {
            list.insert(kept.index.min(list.len()), kept.raw.clone());
        }
        Value::Array(list)
    }

    /// Moves the usable entry at `position` of `section` to the kept list (found unusable
    /// after parsing), remembering its place in the file's list.
    pub fn keep(&mut self, section: Section, position: usize, raw: Value, reason: String) {
        let id = match section {
            Section::Devices if position < self.devices.len() => {
                self.devices.remove(position).id.clone()
            }
            Section::Virtuals if position < self.virtuals.len() => {
                self.virtuals.remove(position).id.clone()
            }
            _ => return,
        };
        // The file index of the `position`-th usable entry: skip the places kept entries hold.
        let taken: std::collections::BTreeSet<usize> = self
            .kept
            .iter()
            .filter(|k| k.section == section)
            .map(|k| k.index)
            .collect();
        let index = (0..)
            .filter(|i| !taken.contains(i))
            .nth(position)
            .unwrap_or(usize::MAX);
        self.kept.push(Kept {
            section,
            id,
            index,
            raw,
            reason,
        });
        self.kept.sort_by_key(|k| (k.section.key(), k.index));
    }

    /// The kept entry of `section` with `id`, if any.
    pub fn kept_entry(&self, section: Section, id: &str) -> Option<&Kept> {
        self.kept
            .iter()
            .find(|k| k.section == section && k.id == id)
    }

    /// Whether any entry of `section`, usable or kept, has `id` (ids of kept entries stay
    /// reserved so a new device never takes one).
    pub fn id_taken(&self, section: Section, id: &str) -> bool {
        self.kept_entry(section, id).is_some()
            || match section {
                Section::Devices => self.device(id).is_some(),
                Section::Virtuals => self.virtual_entry(id).is_some(),
            }
    }

    /// A core number, or `default` when missing or not a number.
    pub fn core_f64(&self, key: &str, default: f64) -> f64 {
        self.core
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or(default)
    }

    /// A core boolean, or `default`.
    pub fn core_bool(&self, key: &str, default: bool) -> bool {
        self.core
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(default)
    }

    pub fn device(&self, id: &str) -> Option<&DeviceEntry> {
        self.devices.iter().find(|d| d.id == id).map(|d| &**d)
    }

    /// The device with `id`, copied out of any document it is shared with.
    pub fn device_mut(&mut self, id: &str) -> Option<&mut DeviceEntry> {
        self.devices
            .iter_mut()
            .find(|d| d.id == id)
            .map(Arc::make_mut)
    }

    /// The top-level keys, copied out of any document they are shared with.
    pub fn core_mut(&mut self) -> &mut Map<String, Value> {
        Arc::make_mut(&mut self.core)
    }

    pub fn virtual_entry(&self, id: &str) -> Option<&VirtualEntry> {
        self.virtuals.iter().find(|v| v.id == id).map(|v| &**v)
    }

    /// The virtual with `id`, copied out of any document it is shared with.
    pub fn virtual_mut(&mut self, id: &str) -> Option<&mut VirtualEntry> {
        self.virtuals
            .iter_mut()
            .find(|v| v.id == id)
            .map(Arc::make_mut)
    }
}

fn to_json<T: Serialize>(entry: &T) -> Value {
    // A derived `Serialize` of maps with string keys cannot fail.
    serde_json::to_value(entry).unwrap_or(Value::Null)
}

/// Parses one `devices`/`virtuals` list entry by entry; an entry without the shape of one
/// goes to `kept` with the reason, the rest of the list is unaffected.
fn parse_entries<T: serde::de::DeserializeOwned + Written>(
    list: Option<Value>,
    section: Section,
    kept: &mut Vec<Kept>,
) -> Result<Vec<T>, String> {
    let items = match list {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("{}: expected a list", section.key())),
    };
    let mut entries = Vec::new();
    for (index, raw) in items.into_iter().enumerate() {
        match serde_json::from_value::<T>(raw.clone()) {
            Ok(mut entry) => {
                entry.set_written(raw);
                entries.push(entry);
            }
            Err(e) => kept.push(Kept {
                section,
                id: raw
                    .get("id")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("#{index}"), str::to_owned),
                index,
                raw,
                reason: format!("not a valid {} entry: {e}", section.key()),
            }),
        }
    }
    Ok(entries)
}

//! The configuration document: LedFx's own `config.json` layout, loaded with defaults filled
//! in and saved atomically.
//!
//! Keeping LedFx's layout lets a user point ledfx-rs at an existing LedFx config directory.
//! Saving follows "temp file + fsync + rename" with the previous good file kept as
//! `config.json.bak`, so a power cut or a crash mid-save never leaves a truncated config, and
//! a config that cannot be parsed at start-up falls back to that backup.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The `configuration_version` LedFx 2.2.1 stamps on every save.
pub const CONFIGURATION_VERSION: &str = "2.3.6";
const FILE_NAME: &str = "config.json";
const BACKUP_NAME: &str = "config.json.bak";
const ORIGINAL_NAME: &str = "config.json.before-ledfx-rs";

/// Errors loading or saving the config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("creating config directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid LedFx config: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// A device entry of `config.devices`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub id: String,
    #[serde(rename = "type")]
    pub device_type: String,
    pub config: Map<String, Value>,
    /// Keys ledfx-rs does not use, kept so they round-trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A stored effect: `{type, config}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment(pub String, pub i64, pub i64, pub bool);

/// A virtual entry of `config.virtuals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

fn false_value() -> Value {
    Value::Bool(false)
}

impl VirtualEntry {
    /// The device id this virtual belongs to, if it is a device virtual.
    pub fn device_id(&self) -> Option<&str> {
        self.is_device.as_str()
    }
}

/// The whole configuration document.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigDoc {
    /// Every top-level key except `devices` and `virtuals`, defaults filled in.
    pub core: Map<String, Value>,
    pub devices: Vec<DeviceEntry>,
    pub virtuals: Vec<VirtualEntry>,
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
            core: core_defaults(),
            devices: Vec::new(),
            virtuals: Vec::new(),
        }
    }
}

impl ConfigDoc {
    /// Parses a document, filling defaults for missing core keys (and missing sub-keys of
    /// `audio`, `melbanks`, `wled_preferences`). Unknown keys are kept.
    pub fn from_value(value: Value) -> Result<Self, String> {
        let Value::Object(mut map) = value else {
            return Err("the top level is not a JSON object".into());
        };
        let devices = match map.remove("devices") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v).map_err(|e| format!("devices: {e}"))?,
        };
        let virtuals = match map.remove("virtuals") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v).map_err(|e| format!("virtuals: {e}"))?,
        };
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
            core,
            devices,
            virtuals,
        })
    }

    /// The document as LedFx's JSON (core keys, then `devices` and `virtuals`).
    pub fn to_value(&self) -> Value {
        let mut map = self.core.clone();
        map.insert(
            "devices".into(),
            serde_json::to_value(&self.devices).unwrap_or(Value::Array(Vec::new())),
        );
        map.insert(
            "virtuals".into(),
            serde_json::to_value(&self.virtuals).unwrap_or(Value::Array(Vec::new())),
        );
        Value::Object(map)
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
        self.devices.iter().find(|d| d.id == id)
    }

    pub fn virtual_entry(&self, id: &str) -> Option<&VirtualEntry> {
        self.virtuals.iter().find(|v| v.id == id)
    }

    pub fn virtual_mut(&mut self, id: &str) -> Option<&mut VirtualEntry> {
        self.virtuals.iter_mut().find(|v| v.id == id)
    }
}

/// Recursively sorts object keys, as LedFx writes its file (`sort_keys=True`).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Where the config lives and how it is written.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    dir: PathBuf,
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded {
    pub doc: ConfigDoc,
    /// Human-readable notes about recovery (used backup, started fresh, …).
    pub warnings: Vec<String>,
}

impl ConfigStore {
    /// A store in `dir`, created if missing.
    pub fn open(dir: &Path) -> Result<Self, ConfigError> {
        fs::create_dir_all(dir).map_err(|source| ConfigError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(BACKUP_NAME)
    }

    fn read(path: &Path) -> Result<Option<ConfigDoc>, ConfigError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ConfigError::Parse {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
            }
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        ConfigDoc::from_value(value)
            .map(Some)
            .map_err(|reason| ConfigError::Parse {
                path: path.to_owned(),
                reason,
            })
    }

    /// Loads `config.json`; if it is unreadable, the backup; if that fails too, defaults.
    /// A broken file is moved aside (never deleted) so nothing the user had is lost.
    pub fn load(&self) -> Loaded {
        let mut warnings = Vec::new();
        match Self::read(&self.path()) {
            Ok(Some(doc)) => return Loaded { doc, warnings },
            Ok(None) => {
                // A first start: not worth a warning; the caller creates the file.
                return Loaded {
                    doc: ConfigDoc::default(),
                    warnings,
                };
            }
            Err(e) => {
                let aside = self
                    .dir
                    .join(format!("config.json.broken-{}", std::process::id()));
                let moved = fs::rename(self.path(), &aside).is_ok();
                warnings.push(format!(
                    "{e}; {}",
                    if moved {
                        format!("moved it to {}", aside.display())
                    } else {
                        "could not move it aside".to_owned()
                    }
                ));
            }
        }
        match Self::read(&self.backup_path()) {
            Ok(Some(doc)) => {
                warnings.push(format!(
                    "using the last good config {}",
                    self.backup_path().display()
                ));
                Loaded { doc, warnings }
            }
            Ok(None) => {
                warnings.push("no backup either: starting with defaults".into());
                Loaded {
                    doc: ConfigDoc::default(),
                    warnings,
                }
            }
            Err(e) => {
                warnings.push(format!("{e}: starting with defaults"));
                Loaded {
                    doc: ConfigDoc::default(),
                    warnings,
                }
            }
        }
    }

    /// Keeps a one-time copy of a config that existed before ledfx-rs first ran in this
    /// directory (typically LedFx's own), so neither repairs nor the rolling backup can lose
    /// it. Returns the copy's path when one was made.
    pub fn preserve_original(&self) -> Result<Option<PathBuf>, ConfigError> {
        let original = self.dir.join(ORIGINAL_NAME);
        if original.exists() {
            return Ok(None);
        }
        match fs::read(self.path()) {
            Ok(bytes) => {
                self.write_atomically(&original, &bytes)?;
                Ok(Some(original))
            }
            Err(_) => Ok(None),
        }
    }

    /// Writes `doc` atomically. The current file (last written by us, so known good) becomes
    /// the backup first. On error nothing on disk has changed except possibly the backup.
    pub fn save(&self, doc: &ConfigDoc) -> Result<(), ConfigError> {
        let mut value = doc.to_value();
        if let Value::Object(map) = &mut value {
            map.insert(
                "configuration_version".into(),
                Value::String(CONFIGURATION_VERSION.into()),
            );
        }
        let text =
            serde_json::to_string_pretty(&sorted(&value)).map_err(|e| ConfigError::Write {
                path: self.path(),
                source: std::io::Error::other(e),
            })?;
        if let Ok(current) = fs::read(self.path()) {
            self.write_atomically(&self.backup_path(), &current)?;
        }
        self.write_atomically(&self.path(), text.as_bytes())
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
        let tmp = path.with_extension("tmp");
        let err = |source| ConfigError::Write {
            path: path.to_owned(),
            source,
        };
        let mut file = fs::File::create(&tmp).map_err(err)?;
        file.write_all(bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
        drop(file);
        fs::rename(&tmp, path).map_err(err)?;
        // Make the rename itself durable.
        if let Ok(dir) = fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_missing_keys_and_unknown_keys_are_kept() {
        let doc =
            ConfigDoc::from_value(json!({"port": 9000, "custom": 1, "audio": {"min_volume": 0.5}}))
                .unwrap();
        assert_eq!(doc.core["port"], 9000);
        assert_eq!(doc.core["custom"], 1);
        assert_eq!(doc.core["audio"]["min_volume"], 0.5);
        assert_eq!(doc.core["audio"]["fft_size"], 4096);
        assert_eq!(doc.core["visualisation_fps"], 30);
    }

    #[test]
    fn save_then_load_round_trips_and_keeps_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        let mut doc = ConfigDoc::default();
        store.save(&doc).unwrap();
        doc.core.insert("global_brightness".into(), json!(0.5));
        store.save(&doc).unwrap();
        assert_eq!(store.load().doc, doc);
        let backup: Value =
            serde_json::from_str(&fs::read_to_string(store.backup_path()).unwrap()).unwrap();
        assert_eq!(backup["global_brightness"], 1.0);
        let text = fs::read_to_string(store.path()).unwrap();
        let first_keys: Vec<&str> = text.lines().skip(1).take(2).collect();
        assert!(
            first_keys[0].contains("\"allow_null_origin\""),
            "keys sorted: {first_keys:?}"
        );
    }

    #[test]
    fn a_corrupt_config_falls_back_to_the_backup_and_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConfigStore::open(dir.path()).unwrap();
        let mut doc = ConfigDoc::default();
        doc.core.insert("port".into(), json!(1234));
        store.save(&doc).unwrap();
        store.save(&doc).unwrap();
        fs::write(store.path(), "{ truncated").unwrap();
        let loaded = store.load();
        assert_eq!(loaded.doc.core["port"], 1234);
        assert!(loaded.warnings.iter().any(|w| w.contains("last good")));
        let kept = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("config.json.broken")
            });
        assert!(kept);
    }
}

//! The file: `config.json` saved atomically ("temp file + fsync + rename") with the previous
//! good file kept as `config.json.bak`, so a power cut or a crash mid-save never leaves a
//! truncated config, and a config that cannot be parsed at start-up falls back to that backup.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ConfigDoc;

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

/// Sorts object keys recursively in place, as LedFx writes its file (`sort_keys=True`).
fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Where the config lives and how it is written.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    dir: PathBuf,
    /// Completed saves, shared by clones (group commit is measured by it).
    saves: std::sync::Arc<std::sync::atomic::AtomicU64>,
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
            saves: Default::default(),
        })
    }

    /// How many saves this store (and its clones) completed.
    pub fn save_count(&self) -> u64 {
        self.saves.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(BACKUP_NAME)
    }

    /// The document in `path` (migrated from an older LedFx layout, with what that did).
    fn read(path: &Path) -> Result<Option<(ConfigDoc, Vec<String>)>, ConfigError> {
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
        ConfigDoc::from_value_migrating(value)
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
            Ok(Some((doc, migrated))) => {
                warnings.extend(migrated.into_iter().map(|m| format!("config.json: {m}")));
                return Loaded { doc, warnings };
            }
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
            Ok(Some((doc, migrated))) => {
                warnings.extend(migrated);
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
    /// Returns the text written (callers keep it instead of serialising the document again).
    pub fn save(&self, doc: &ConfigDoc) -> Result<String, ConfigError> {
        let mut value = doc.to_value();
        if let Value::Object(map) = &mut value {
            map.insert(
                "configuration_version".into(),
                Value::String(CONFIGURATION_VERSION.into()),
            );
        }
        sort_keys(&mut value);
        let text = serde_json::to_string_pretty(&value).map_err(|e| ConfigError::Write {
            path: self.path(),
            source: std::io::Error::other(e),
        })?;
        self.back_up_current()?;
        self.write_atomically(&self.path(), text.as_bytes())?;
        self.saves
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(text)
    }

    /// Keeps a copy of the current file under `name` in the config directory, before a
    /// change that replaces the whole configuration. An existing file of that name is never
    /// overwritten: the copy then gets a numbered name. Returns the copy's path, or `None`
    /// when there is no file yet.
    pub fn keep_copy(&self, name: &str) -> Result<Option<PathBuf>, ConfigError> {
        let bytes = match fs::read(self.path()) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ConfigError::Write {
                    path: self.path(),
                    source,
                })
            }
        };
        let stem = name.strip_suffix(".json").unwrap_or(name);
        let path = std::iter::once(self.dir.join(name))
            .chain((1..).map(|n| self.dir.join(format!("{stem}.{n}.json"))))
            .find(|p| !p.exists())
            .unwrap_or_else(|| self.dir.join(name));
        self.write_atomically(&path, &bytes)?;
        Ok(Some(path))
    }

    /// Makes the current file the backup. A hard link costs no data write or fsync of its
    /// own (the directory sync of the save that follows makes it durable); where links are
    /// not supported, the file is copied atomically instead.
    fn back_up_current(&self) -> Result<(), ConfigError> {
        let (current, backup) = (self.path(), self.backup_path());
        if !current.exists() {
            return Ok(());
        }
        match fs::remove_file(&backup) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(ConfigError::Write {
                    path: backup,
                    source,
                })
            }
        }
        if fs::hard_link(&current, &backup).is_ok() {
            return Ok(());
        }
        match fs::read(&current) {
            Ok(bytes) => self.write_atomically(&backup, &bytes),
            Err(_) => Ok(()),
        }
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
    use serde_json::json;

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
        doc.core_mut()
            .insert("global_brightness".into(), json!(0.5));
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
        doc.core_mut().insert("port".into(), json!(1234));
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

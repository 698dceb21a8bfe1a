//! Which audio host to use and which input devices it offers.
//!
//! cpal's `default_host()` (with its `pulseaudio` feature) talks to PulseAudio — or PipeWire
//! through pipewire-pulse — natively when a server is reachable, and falls back to ALSA
//! otherwise. The native host matters twice: it costs a fraction of what the ALSA pulse plugin
//! costs per captured second, and it lists every source the server has, including the monitor
//! of each output sink, so a user can react to what their music player plays without any
//! loopback configuration.
//!
//! The list order is the LedFx device index clients select by (`/api/audio/devices`). It is
//! the server's order, which is stable while the set of devices is; a stored choice is
//! therefore matched by name first (see [`resolve`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait};
use proto::audio_status::{AudioStatus, InputDevice};

use crate::status::StatusBoard;

/// How often the watcher lists devices on a host where that is cheap (PulseAudio).
const WATCH_CHEAP: Duration = Duration::from_secs(2);
/// … and where it is not (ALSA opens every PCM to list it).
const WATCH_COSTLY: Duration = Duration::from_secs(30);

/// One listed input and the handle to open it.
pub(crate) struct Listed {
    pub info: InputDevice,
    pub device: cpal::Device,
}

/// The audio host: PulseAudio (natively) when a server socket is there and answers, else
/// ALSA. Unlike `cpal::default_host()` this says why PulseAudio was not used, because the
/// ALSA fallback still captures (through the pulse plugin) but costs far more CPU.
pub(crate) fn open_host() -> cpal::Host {
    let pulse = cpal::HostId::PulseAudio;
    if cpal::available_hosts().contains(&pulse) {
        match cpal::host_from_id(pulse) {
            Ok(host) => return host,
            Err(err) => {
                tracing::warn!(error = %err, "a PulseAudio server socket exists but connecting failed; using ALSA")
            }
        }
    }
    cpal::host_from_id(cpal::HostId::Alsa).unwrap_or_else(|_| cpal::default_host())
}

/// The host's name as clients see it in device names (`"PulseAudio"`, `"ALSA"`).
pub(crate) fn host_name(host: &cpal::Host) -> &'static str {
    host.id().name()
}

/// Whether listing is cheap on this host (a PulseAudio request) or not (ALSA opens PCMs).
pub(crate) fn cheap_listing(host: &cpal::Host) -> bool {
    host_name(host) != "ALSA"
}

/// The backend identifier of a device (PulseAudio source name, ALSA PCM name).
pub(crate) fn device_id(device: &cpal::Device) -> String {
    device.id().map(|id| id.id().to_owned()).unwrap_or_default()
}

/// Every input device of `host`, in the host's order, and the index of its default input.
pub(crate) fn list(host: &cpal::Host) -> Result<(Vec<Listed>, Option<u32>), cpal::Error> {
    let host_label = host_name(host);
    let mut listed = Vec::new();
    for device in host.input_devices()? {
        let id = device_id(&device);
        let description = device
            .description()
            .map(|d| d.name().to_owned())
            .unwrap_or_else(|_| id.clone());
        listed.push(Listed {
            info: InputDevice {
                name: format!("{host_label}: {description}"),
                monitor: id.ends_with(".monitor"),
                id,
            },
            device,
        });
    }
    disambiguate(&mut listed);
    let default_id = host.default_input_device().map(|d| device_id(&d));
    let default_index = default_id.and_then(|id| {
        listed
            .iter()
            .position(|l| l.info.id == id)
            .and_then(|i| u32::try_from(i).ok())
    });
    Ok((listed, default_index))
}

/// Puts a fresh listing on the board, keeping `active_index` on the same device when the
/// list moved under it.
pub(crate) fn publish_listing(
    board: &StatusBoard,
    host: &str,
    devices: Vec<InputDevice>,
    default_index: Option<u32>,
) {
    board.update(|s: &mut AudioStatus| {
        let active_id = s
            .active_index
            .and_then(|i| s.devices.get(i as usize))
            .map(|d| d.id.clone());
        s.host = host.to_owned();
        s.active_index = active_id.and_then(|id| {
            devices
                .iter()
                .position(|d| d.id == id)
                .and_then(|i| u32::try_from(i).ok())
        });
        s.devices = devices;
        s.default_index = default_index;
    });
}

/// Keeps the board's device list current (hot-plug, a sink added, the server restarted), so
/// `/api/audio/devices` lists what exists now whatever the source is. Dropping it stops it.
#[derive(Debug)]
pub struct DeviceWatcher {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl DeviceWatcher {
    /// Starts watching; the first listing happens at once.
    pub fn spawn(board: StatusBoard) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let join = std::thread::Builder::new()
            .name("audio-devices".into())
            .spawn(move || watch_devices(&board, &flag))?;
        Ok(Self {
            stop,
            join: Some(join),
        })
    }
}

impl Drop for DeviceWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            // A listing blocked in the backend (a hung server) must not hold up a shutdown.
            let _ = super::join_within(join, Duration::from_millis(100));
        }
    }
}

fn watch_devices(board: &StatusBoard, stop: &AtomicBool) {
    let mut host: Option<cpal::Host> = None;
    while !stop.load(Ordering::Relaxed) {
        // Connect once and reuse the connection; a failed listing drops it, so the next round
        // finds a restarted (or newly started) server.
        let h = host.get_or_insert_with(open_host);
        let every = if cheap_listing(h) {
            WATCH_CHEAP
        } else {
            WATCH_COSTLY
        };
        match list(h) {
            Ok((listed, default_index)) => {
                let devices = listed.into_iter().map(|l| l.info).collect();
                publish_listing(board, host_name(h), devices, default_index);
                if !cheap_listing(h) {
                    // Look again soon whether a PulseAudio server has appeared.
                    host = None;
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, "listing audio devices failed; reconnecting");
                host = None;
            }
        }
        let deadline = Instant::now() + every;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Names are what a stored choice is found by, so they must be unique: devices sharing a
/// description (two null sinks are both "Monitor of Null Output") get their id appended.
fn disambiguate(listed: &mut [Listed]) {
    let infos: Vec<InputDevice> = listed.iter().map(|l| l.info.clone()).collect();
    for (l, name) in listed.iter_mut().zip(unique_names(&infos)) {
        l.info.name = name;
    }
}

fn unique_names(infos: &[InputDevice]) -> Vec<String> {
    infos
        .iter()
        .map(|d| {
            if infos.iter().filter(|o| o.name == d.name).count() > 1 {
                format!("{} ({})", d.name, d.id)
            } else {
                d.name.clone()
            }
        })
        .collect()
}

/// What the capture should open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The host's default input.
    Default,
    /// The first device whose name or id contains this, case-insensitively (`device:NAME`).
    Matching(String),
    /// A device chosen through the API: by exact name while that is listed, else by index.
    Chosen { index: u32, name: String },
}

/// Finds `target` among `devices`: its index in the list. `default_index` answers
/// [`Target::Default`].
pub fn resolve(
    target: &Target,
    devices: &[InputDevice],
    default_index: Option<u32>,
) -> Option<usize> {
    match target {
        Target::Default => default_index.map(|i| i as usize),
        Target::Matching(wanted) => {
            let needle = wanted.to_lowercase();
            devices.iter().position(|d| {
                d.name.to_lowercase().contains(&needle) || d.id.to_lowercase().contains(&needle)
            })
        }
        Target::Chosen { index, name } => {
            // A stored name wins: indexes move when devices come and go. Only a choice
            // without a name (LedFx configs written by hand) goes by index alone.
            if name.is_empty() {
                let i = *index as usize;
                (i < devices.len()).then_some(i)
            } else {
                devices.iter().position(|d| &d.name == name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices() -> Vec<InputDevice> {
        ["Built-in Microphone", "Monitor of Null Output", "USB Mic"]
            .iter()
            .enumerate()
            .map(|(i, d)| InputDevice {
                name: format!("PulseAudio: {d}"),
                id: if i == 1 {
                    "ledfx_test.monitor".into()
                } else {
                    format!("source{i}")
                },
                monitor: i == 1,
            })
            .collect()
    }

    #[test]
    fn devices_sharing_a_description_get_their_id_appended() {
        let mut d = devices();
        d[2].name = d[1].name.clone();
        assert_eq!(
            unique_names(&d),
            vec![
                "PulseAudio: Built-in Microphone",
                "PulseAudio: Monitor of Null Output (ledfx_test.monitor)",
                "PulseAudio: Monitor of Null Output (source2)",
            ]
        );
    }

    #[test]
    fn targets_resolve_by_default_substring_name_and_index() {
        let d = devices();
        assert_eq!(resolve(&Target::Default, &d, Some(1)), Some(1));
        assert_eq!(resolve(&Target::Default, &d, None), None);
        assert_eq!(resolve(&Target::Matching("usb".into()), &d, None), Some(2));
        assert_eq!(
            resolve(&Target::Matching("LEDFX_TEST".into()), &d, None),
            Some(1)
        );
        assert_eq!(resolve(&Target::Matching("nope".into()), &d, None), None);
        let by_name = Target::Chosen {
            index: 0,
            name: "PulseAudio: USB Mic".into(),
        };
        assert_eq!(
            resolve(&by_name, &d, None),
            Some(2),
            "the name wins over a moved index"
        );
        let gone = Target::Chosen {
            index: 0,
            name: "PulseAudio: Unplugged".into(),
        };
        // (The capture stands in the default device for it, and switches when it is back.)
        assert_eq!(
            resolve(&gone, &d, None),
            None,
            "a missing named device is not renamed"
        );
        let by_index = Target::Chosen {
            index: 1,
            name: String::new(),
        };
        assert_eq!(resolve(&by_index, &d, None), Some(1));
        let out_of_range = Target::Chosen {
            index: 3,
            name: String::new(),
        };
        assert_eq!(resolve(&out_of_range, &d, None), None);
    }
}

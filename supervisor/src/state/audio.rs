//! The capture device: `/api/audio/devices` (ledfx-api.md §3.24), `audio.audio_device` in
//! `PUT /api/config`, and which source audio-proc is told to capture from.
//!
//! Only audio-proc can see the devices; it publishes them in the audio status slot
//! (`proto::audio_status`). Reads take the list from the segment; a write that names a device
//! is checked against the list the owner read just before running it
//! ([`State::audio_status`]). A device is stored as LedFx stores it — `audio_device` (the
//! index) and `audio_device_name` — and found again by name first, because indexes move
//! when devices come and go.

use proto::audio_status::AudioStatus;
use proto::pipeline::AudioSource;
use serde_json::{json, Map, Value};

use super::{invalid, reply, State};
use proto::api::{ApiReply, Json};

/// `GET /api/audio/devices` from the latest published status (none yet: no devices).
pub(super) fn devices_reply(status: Option<&AudioStatus>) -> ApiReply {
    let empty = AudioStatus::default();
    let status = status.unwrap_or(&empty);
    let devices: Map<String, Value> = status
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| (i.to_string(), Value::String(d.name.clone())))
        .collect();
    let active = status
        .active_index
        .and_then(|i| status.device(u64::from(i)));
    reply(json!({
        "active_device_index": active.and(status.active_index),
        "active_device_name": active.map_or("", |d| d.name.as_str()),
        "devices": devices,
    }))
}

/// `GET /api/audio/status`: what the capture does, and what the analysis hears.
pub(super) fn status_json(
    status: Option<&AudioStatus>,
    frame: Option<&(proto::slot::FrameMeta, proto::audio::AudioFrame)>,
    now_ns: u64,
) -> Value {
    let mut out = info_json(status);
    if let (Value::Object(map), Some(s)) = (&mut out, status) {
        let active = s.active_index.and_then(|i| s.device(u64::from(i)));
        map.insert("host".into(), json!(s.host));
        map.insert(
            "active_device_index".into(),
            json!(active.and(s.active_index)),
        );
        map.insert("active_device_name".into(), json!(active.map(|d| &d.name)));
        map.insert("devices".into(), json!(s.devices.len()));
        map.insert("streams_opened".into(), json!(s.streams_opened));
        map.insert("streams_lost".into(), json!(s.streams_lost));
        map.insert("dropped_samples".into(), json!(s.dropped_samples));
        map.insert("xruns".into(), json!(s.xruns));
    }
    if let (Value::Object(map), Some((meta, frame))) = (&mut out, frame) {
        map.insert("volume".into(), json!(frame.volume));
        map.insert("bpm".into(), json!(frame.bpm));
        map.insert("beat_oscillator".into(), json!(frame.beat_oscillator));
        map.insert(
            "frame_age_ms".into(),
            json!(now_ns.saturating_sub(meta.timestamp_ns) / 1_000_000),
        );
        // From the sound being captured to its analysis being published (null while no
        // audio arrives).
        map.insert(
            "capture_to_frame_ms".into(),
            json!((frame.capture_ns > 0)
                .then(|| meta.timestamp_ns.saturating_sub(frame.capture_ns) as f64 / 1e6)),
        );
    }
    out
}

/// The short audio summary of `/api/info`'s `ledfx_rs.audio`: state, source and problem.
pub(super) fn info_json(status: Option<&AudioStatus>) -> Value {
    match status {
        Some(s) => json!({"state": s.state.as_str(), "source": s.source, "error": s.error}),
        None => json!({"state": "starting", "source": "", "error": null}),
    }
}

/// The `{"<index>": "<name>"}` choices of the `audio_device` schema property.
pub(super) fn device_choices(status: Option<&AudioStatus>) -> Value {
    Value::Object(
        status
            .map(|s| {
                s.devices
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (i.to_string(), Value::String(d.name.clone())))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// How LedFx prints the rejected value inside `Invalid device index [..]`.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where WLED Audio Sync packets go by default: WLED's multicast group and port.
const SYNC_DEFAULT_ADDRESS: &str = "239.0.0.1";
const SYNC_DEFAULT_PORT: u64 = 11988;

/// The stored `audio_sync` settings with their defaults filled in.
fn sync_settings(doc: &crate::config::ConfigDoc) -> (bool, String, u64) {
    let stored = doc.core.get("audio_sync");
    let get = |k: &str| stored.and_then(|s| s.get(k));
    (
        get("enabled").and_then(Value::as_bool).unwrap_or(false),
        get("address")
            .and_then(Value::as_str)
            .unwrap_or(SYNC_DEFAULT_ADDRESS)
            .to_owned(),
        get("port")
            .and_then(Value::as_u64)
            .unwrap_or(SYNC_DEFAULT_PORT),
    )
}

/// Checks one `PUT /api/audio/sync` field; the error names it.
fn check_sync_field(key: &str, value: &Value) -> Result<Value, String> {
    let ok = match key {
        "enabled" => value.is_boolean(),
        "address" => value
            .as_str()
            .is_some_and(|a| a.parse::<std::net::Ipv4Addr>().is_ok()),
        "port" => value.as_u64().is_some_and(|p| (1..=65535).contains(&p)),
        _ => {
            return Err(format!(
                "Unknown audio sync key: '{key}' (the keys are enabled, address, port)"
            ))
        }
    };
    if ok {
        return Ok(value.clone());
    }
    let expected = match key {
        "enabled" => "true or false",
        "address" => {
            "an IPv4 address (239.0.0.1 for WLED's multicast group, or a device's address)"
        }
        _ => "an integer between 1 and 65535",
    };
    Err(format!(
        "audio_sync.{key}: expected {expected}, got {value}"
    ))
}

impl State {
    /// `GET /api/audio/sync`: the settings, and what the sender did.
    pub(super) fn audio_sync_view(&self, status: Option<&AudioStatus>) -> Value {
        let (enabled, address, port) = sync_settings(&self.doc);
        json!({
            "enabled": enabled,
            "address": address,
            "port": port,
            "packets_sent": status.map_or(0, |s| s.sync_packets),
            "send_errors": status.map_or(0, |s| s.sync_errors),
            "error": status.and_then(|s| s.sync_error.clone()),
        })
    }

    /// `PUT /api/audio/sync`: any of `enabled`, `address`, `port`; the others stay.
    pub(super) fn set_audio_sync(&mut self, body: Json) -> ApiReply {
        let Value::Object(body) = body.to_value() else {
            return Err(invalid("Request body must be a JSON object"));
        };
        let mut checked = Map::new();
        for (key, value) in &body {
            checked.insert(key.clone(), check_sync_field(key, value).map_err(invalid)?);
        }
        let core = self.doc.core_mut();
        let stored = core.entry("audio_sync").or_insert_with(|| json!({}));
        if !stored.is_object() {
            *stored = json!({});
        }
        if let Value::Object(stored) = stored {
            stored.extend(checked);
        }
        reply(json!({"status": "success"}))
    }

    /// Where audio-proc sends WLED Audio Sync packets, when that is on.
    pub(super) fn audio_sync_target(&self) -> Option<String> {
        let (enabled, address, port) = sync_settings(&self.doc);
        enabled.then(|| format!("{address}:{port}"))
    }

    /// The index and name of the listed device `value` names, or LedFx's error.
    pub(super) fn check_device_index(&self, value: &Value) -> Result<(u64, String), String> {
        let device = value
            .as_u64()
            .and_then(|i| Some((i, self.audio_status.as_ref()?.device(i)?)));
        match device {
            Some((index, device)) => Ok((index, device.name.clone())),
            None => Err(format!("Invalid device index [{}]", shown(value))),
        }
    }

    /// `PUT /api/audio/devices {"audio_device": n}`.
    pub(super) fn set_audio_device(&mut self, body: Json) -> ApiReply {
        let body = body.to_value();
        let Some(value) = body.get("audio_device").filter(|v| !v.is_null()) else {
            return Err(invalid("Required attribute 'index' was not provided"));
        };
        let (index, name) = self.check_device_index(value).map_err(invalid)?;
        self.store_audio_device(index, name);
        reply(json!({"status": "success"}))
    }

    /// Records the chosen device as LedFx does, and makes it the source from now on (also
    /// when the command line named another source for this run).
    pub(super) fn store_audio_device(&mut self, index: u64, name: String) {
        let core = self.doc.core_mut();
        let audio = core.entry("audio").or_insert_with(|| json!({}));
        if !audio.is_object() {
            *audio = json!({});
        }
        if let Value::Object(audio) = audio {
            audio.insert("audio_device".into(), json!(index));
            audio.insert("audio_device_name".into(), Value::String(name));
        }
        self.audio_chosen = true;
    }

    /// Forgets the chosen device (`audio_device: null`): the system default from now on.
    pub(super) fn clear_audio_device(&mut self) {
        if let Some(Value::Object(audio)) = self.doc.core_mut().get_mut("audio") {
            audio.insert("audio_device".into(), Value::Null);
            audio.insert("audio_device_name".into(), Value::String(String::new()));
        }
    }

    /// What audio-proc captures from: the stored device when the command line leaves the
    /// choice to the configuration (`default`, `auto`) or a device was chosen through the API
    /// since; otherwise what the command line says.
    pub(super) fn audio_source(&self) -> AudioSource {
        let follows_config = matches!(self.audio_source, AudioSource::Default | AudioSource::Auto)
            || self.audio_chosen;
        let audio = self.doc.core.get("audio");
        let index = audio
            .and_then(|a| a.get("audio_device"))
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok());
        match index {
            Some(index) if follows_config => AudioSource::Chosen {
                index,
                name: audio
                    .and_then(|a| a.get("audio_device_name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            },
            _ => self.audio_source.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigDoc;
    use proto::api::system::SystemCommand;
    use proto::audio_status::InputDevice;

    fn listed() -> AudioStatus {
        AudioStatus {
            host: "PulseAudio".into(),
            devices: vec![
                InputDevice {
                    name: "PulseAudio: Built-in Microphone".into(),
                    id: "mic".into(),
                    monitor: false,
                },
                InputDevice {
                    name: "PulseAudio: Monitor of Null Output".into(),
                    id: "ledfx_test.monitor".into(),
                    monitor: true,
                },
            ],
            active_index: Some(0),
            ..AudioStatus::default()
        }
    }

    fn state(cli: AudioSource) -> State {
        let (mut s, _) = State::new(ConfigDoc::default(), cli);
        s.audio_status = Some(listed());
        s
    }

    fn set(s: &mut State, body: Value) -> ApiReply {
        s.apply(SystemCommand::SetAudioDevice {
            body: Json::from_value(&body),
        })
    }

    #[test]
    fn devices_are_listed_with_the_active_one() {
        let got = devices_reply(Some(&listed())).unwrap().to_value();
        assert_eq!(
            got,
            json!({"active_device_index": 0, "active_device_name": "PulseAudio: Built-in Microphone",
                   "devices": {"0": "PulseAudio: Built-in Microphone", "1": "PulseAudio: Monitor of Null Output"}})
        );
        let none = devices_reply(None).unwrap().to_value();
        assert_eq!(
            none,
            json!({"active_device_index": null, "active_device_name": "", "devices": {}})
        );
    }

    #[test]
    fn choosing_a_device_stores_index_and_name_and_makes_it_the_source() {
        let mut s = state(AudioSource::Synth);
        assert_eq!(s.pipeline().audio.source, AudioSource::Synth);
        let before = s.clone();
        set(&mut s, json!({"audio_device": 1})).unwrap();
        let events = crate::state::events::between(&before, &s);
        assert!(
            events.contains(&proto::feed::Event::AudioDeviceChanged {
                name: "PulseAudio: Monitor of Null Output".into()
            }),
            "{events:?}"
        );
        let again = s.clone();
        set(&mut s, json!({"audio_device": 1})).unwrap();
        let events = crate::state::events::between(&again, &s);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, proto::feed::Event::AudioDeviceChanged { .. })),
            "choosing the same device again is no change: {events:?}"
        );
        let audio = &s.doc.core["audio"];
        assert_eq!(audio["audio_device"], json!(1));
        assert_eq!(
            audio["audio_device_name"],
            json!("PulseAudio: Monitor of Null Output")
        );
        assert_eq!(
            s.pipeline().audio.source,
            AudioSource::Chosen {
                index: 1,
                name: "PulseAudio: Monitor of Null Output".into()
            }
        );
    }

    #[test]
    fn bad_choices_get_ledfx_messages_and_change_nothing() {
        let mut s = state(AudioSource::Default);
        let before = s.doc.clone();
        let cases = [
            (json!({}), "Required attribute 'index' was not provided"),
            (
                json!({"audio_device": null}),
                "Required attribute 'index' was not provided",
            ),
            (json!({"audio_device": 2}), "Invalid device index [2]"),
            (json!({"audio_device": -1}), "Invalid device index [-1]"),
            (json!({"audio_device": "1"}), "Invalid device index [1]"),
        ];
        for (body, message) in cases {
            let err = set(&mut s, body.clone()).unwrap_err();
            assert_eq!(err.reason, message, "{body}");
        }
        assert_eq!(s.doc, before);
    }

    #[test]
    fn put_config_chooses_a_device_the_same_way() {
        let mut s = state(AudioSource::Default);
        let body = json!({"audio": {"audio_device": 1, "min_volume": 0.3}});
        s.apply(SystemCommand::UpdateConfig {
            body: Json::from_value(&body),
        })
        .unwrap();
        let audio = &s.doc.core["audio"];
        assert_eq!(audio["audio_device"], json!(1));
        assert_eq!(
            audio["audio_device_name"],
            json!("PulseAudio: Monitor of Null Output")
        );
        assert_eq!(audio["min_volume"], json!(0.3));
        let before = s.doc.clone();
        let bad = json!({"audio": {"audio_device": 7, "min_volume": 0.5}});
        let err = s
            .apply(SystemCommand::UpdateConfig {
                body: Json::from_value(&bad),
            })
            .unwrap_err();
        assert_eq!(
            err.reason,
            "Error updating config: Invalid device index [7]"
        );
        assert_eq!(s.doc, before, "a rejected update changes nothing");
    }

    #[test]
    fn audio_sync_is_off_by_default_merges_updates_and_names_bad_fields() {
        let mut s = state(AudioSource::Synth);
        assert_eq!(s.pipeline().audio.sync_to, None);
        let put = |s: &mut State, body: Value| {
            s.apply(SystemCommand::SetAudioSync {
                body: Json::from_value(&body),
            })
        };
        put(&mut s, json!({"enabled": true})).unwrap();
        assert_eq!(
            s.pipeline().audio.sync_to.as_deref(),
            Some("239.0.0.1:11988")
        );
        put(&mut s, json!({"address": "127.0.0.1", "port": 4000})).unwrap();
        assert_eq!(
            s.pipeline().audio.sync_to.as_deref(),
            Some("127.0.0.1:4000")
        );
        let before = s.doc.clone();
        for (body, reason) in [
            (json!({"port": 0}), "audio_sync.port: expected an integer between 1 and 65535, got 0"),
            (json!({"address": "wled.local"}), "audio_sync.address: expected an IPv4 address (239.0.0.1 for WLED's multicast group, or a device's address), got \"wled.local\""),
            (json!({"enabled": "yes"}), "audio_sync.enabled: expected true or false, got \"yes\""),
            (json!({"enabled": false, "rate": 5}), "Unknown audio sync key: 'rate' (the keys are enabled, address, port)"),
        ] {
            assert_eq!(put(&mut s, body.clone()).unwrap_err().reason, reason, "{body}");
        }
        assert_eq!(s.doc, before, "a rejected update changes nothing");
        put(&mut s, json!({"enabled": false})).unwrap();
        assert_eq!(s.pipeline().audio.sync_to, None);
        assert_eq!(
            s.audio_sync_view(None),
            json!({"enabled": false, "address": "127.0.0.1", "port": 4000,
                   "packets_sent": 0, "send_errors": 0, "error": null})
        );
    }

    #[test]
    fn audio_settings_the_analysis_would_refuse_fall_back_to_defaults() {
        let mut doc = ConfigDoc::default();
        doc.core_mut().insert(
            "audio".into(),
            json!({"min_volume": 3.0, "pitch_tolerance": 0.5}),
        );
        doc.core_mut().insert(
            "melbanks".into(),
            json!({"coeffs_type": "slaney", "samples": 30}),
        );
        let (s, _) = State::new(doc, AudioSource::Synth);
        let audio = s.pipeline().audio;
        let defaults = proto::pipeline::AudioSpec::default();
        assert_eq!(audio.min_volume, defaults.min_volume);
        assert_eq!(audio.coeffs_type, defaults.coeffs_type);
        assert_eq!(
            (audio.pitch_tolerance, audio.mel_samples),
            (0.5, 30),
            "usable values kept"
        );
    }

    #[test]
    fn the_command_line_wins_until_the_api_chooses() {
        let mut doc = ConfigDoc::default();
        doc.core_mut().insert(
            "audio".into(),
            json!({"audio_device": 1, "audio_device_name": "PulseAudio: USB"}),
        );
        let chosen = AudioSource::Chosen {
            index: 1,
            name: "PulseAudio: USB".into(),
        };
        for cli in [AudioSource::Default, AudioSource::Auto] {
            let (s, _) = State::new(doc.clone(), cli);
            assert_eq!(s.pipeline().audio.source, chosen);
        }
        let (s, _) = State::new(doc, AudioSource::Synth);
        assert_eq!(s.pipeline().audio.source, AudioSource::Synth);
    }
}

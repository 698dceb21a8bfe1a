//! What audio-proc tells everyone else about capture: the input devices it can see (with the
//! index LedFx clients select them by), which one it captures from, and how that is going.
//!
//! audio-proc owns the audio hardware, so it is the only process that enumerates devices. It
//! publishes an [`AudioStatus`] into the segment's audio status slot whenever something
//! changes; the supervisor reads it to validate and resolve a chosen device index (and to
//! fill the `audio_device` choices of `/api/schema`), api-proc to answer
//! `/api/audio/devices` and the audio status endpoint. The record is postcard-encoded; its
//! meaning is versioned by the segment layout version.

use serde::{Deserialize, Serialize};

/// Largest encoded status; a device list that would not fit is cut short (and says so).
pub const AUDIO_STATUS_BYTES: usize = 64 * 1024;

/// One input device, in the order of the list (its position is its index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDevice {
    /// What LedFx clients show: `"<host>: <description>"`, e.g.
    /// `"PulseAudio: Monitor of Null Output"`.
    pub name: String,
    /// The backend's own identifier (PulseAudio source name, ALSA PCM name), e.g.
    /// `"ledfx_test.monitor"`.
    pub id: String,
    /// Whether this source records what an output plays (a PulseAudio sink monitor).
    pub monitor: bool,
}

/// What the capture side is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaptureState {
    /// Nothing published yet (audio-proc starting).
    Starting,
    /// Capturing from a device.
    Capturing,
    /// Trying to open (or reopen) a device; silence meanwhile.
    Opening,
    /// No capture device exists (or the chosen one is missing); silence is published.
    NoDevice,
    /// The source is not a device: the built-in synth, a WAV file, stdin or `none`.
    NotCapturing,
}

impl CaptureState {
    /// Stable lower-case name for the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureState::Starting => "starting",
            CaptureState::Capturing => "capturing",
            CaptureState::Opening => "opening",
            CaptureState::NoDevice => "no capture device",
            CaptureState::NotCapturing => "not capturing",
        }
    }
}

/// The whole record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioStatus {
    /// The audio host devices are listed from (`"PulseAudio"`, `"ALSA"`), empty when none.
    pub host: String,
    /// Every input device, monitors included; the position is the LedFx device index.
    pub devices: Vec<InputDevice>,
    /// Index (into `devices`) of the system's default input, if any.
    pub default_index: Option<u32>,
    /// Index of the device being captured, if it is a listed one.
    pub active_index: Option<u32>,
    /// What is being listened to, for humans: a device name, `synth`, `file:…`, `none`.
    pub source: String,
    pub state: CaptureState,
    /// The last problem (device missing, stream lost, server gone), cleared when capture
    /// works again.
    pub error: Option<String>,
    /// Times a capture stream was (re)opened since audio-proc started.
    pub streams_opened: u64,
    /// Capture streams lost (device unplugged, audio server restarted).
    pub streams_lost: u64,
    /// Samples dropped because the analysis did not keep up, and backend over/underruns.
    pub dropped_samples: u64,
    pub xruns: u64,
    /// Where WLED Audio Sync packets go (`None`: off), how many were sent, how many sends
    /// failed, and why the sender could not be set up, if it could not.
    pub sync_to: Option<String>,
    pub sync_packets: u64,
    pub sync_errors: u64,
    pub sync_error: Option<String>,
}

impl Default for AudioStatus {
    fn default() -> Self {
        Self {
            host: String::new(),
            devices: Vec::new(),
            default_index: None,
            active_index: None,
            source: String::new(),
            state: CaptureState::Starting,
            error: None,
            streams_opened: 0,
            streams_lost: 0,
            dropped_samples: 0,
            xruns: 0,
            sync_to: None,
            sync_packets: 0,
            sync_errors: 0,
            sync_error: None,
        }
    }
}

impl AudioStatus {
    /// The encoded record, cut to fit [`AUDIO_STATUS_BYTES`] by dropping devices from the end
    /// (with an error saying so) — a list of a thousand sources must not lose the status.
    pub fn encode(&self) -> Vec<u8> {
        /// Longest text field kept once the device list is gone and it still does not fit.
        const TEXT_LIMIT: usize = 1024;
        let mut status = std::borrow::Cow::Borrowed(self);
        loop {
            match postcard::to_allocvec(status.as_ref()) {
                Ok(bytes) if bytes.len() <= AUDIO_STATUS_BYTES => return bytes,
                _ if !status.devices.is_empty() => {
                    let s = status.to_mut();
                    let keep = s.devices.len() * 3 / 4;
                    s.devices.truncate(keep);
                    s.error = Some(format!(
                        "device list cut to the first {keep} devices (too many to publish)"
                    ));
                }
                _ => {
                    // Only the text fields are left to be too long: cut them (at a char
                    // boundary) and stop.
                    let s = status.to_mut();
                    for text in [&mut s.host, &mut s.source]
                        .into_iter()
                        .chain(s.error.as_mut())
                        .chain(s.sync_to.as_mut())
                        .chain(s.sync_error.as_mut())
                    {
                        let cut = (0..=TEXT_LIMIT.min(text.len()))
                            .rev()
                            .find(|&i| text.is_char_boundary(i))
                            .unwrap_or(0);
                        text.truncate(cut);
                    }
                    return postcard::to_allocvec(status.as_ref()).unwrap_or_default();
                }
            }
        }
    }

    /// Decodes a record published by [`encode`](Self::encode).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }

    /// The device at LedFx index `index`.
    pub fn device(&self, index: u64) -> Option<&InputDevice> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.devices.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: usize) -> InputDevice {
        InputDevice {
            name: format!("PulseAudio: Monitor of sink {n} with a fairly long description"),
            id: format!("alsa_output.pci-0000_00_1f.3.analog-stereo-{n}.monitor"),
            monitor: true,
        }
    }

    #[test]
    fn a_status_round_trips() {
        let status = AudioStatus {
            host: "PulseAudio".into(),
            devices: vec![device(0), device(1)],
            default_index: Some(1),
            active_index: Some(0),
            source: "ledfx_test.monitor".into(),
            state: CaptureState::Capturing,
            error: None,
            streams_opened: 2,
            streams_lost: 1,
            dropped_samples: 0,
            xruns: 3,
            sync_to: Some("239.0.0.1:11988".into()),
            sync_packets: 10,
            sync_errors: 1,
            sync_error: None,
        };
        assert_eq!(AudioStatus::decode(&status.encode()), Some(status.clone()));
        assert_eq!(
            status.device(1).map(|d| d.id.as_str()),
            Some(device(1).id.as_str())
        );
        assert!(status.device(2).is_none());
    }

    #[test]
    fn huge_text_is_cut_to_fit() {
        let status = AudioStatus {
            error: Some("x".repeat(200_000)),
            ..AudioStatus::default()
        };
        let bytes = status.encode();
        assert!(bytes.len() <= AUDIO_STATUS_BYTES);
        let back = AudioStatus::decode(&bytes).unwrap();
        assert_eq!(back.error.map(|e| e.len()), Some(1024));
    }

    #[test]
    fn a_huge_device_list_is_cut_to_fit_and_says_so() {
        let status = AudioStatus {
            devices: (0..5000).map(device).collect(),
            ..AudioStatus::default()
        };
        let bytes = status.encode();
        assert!(bytes.len() <= AUDIO_STATUS_BYTES);
        let back = AudioStatus::decode(&bytes).unwrap();
        assert!(!back.devices.is_empty() && back.devices.len() < 5000);
        assert_eq!(back.devices[0], device(0));
        assert!(back.error.unwrap().contains("cut"));
    }
}

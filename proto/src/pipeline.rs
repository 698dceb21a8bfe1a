//! The desired state handed to the pipeline stages.
//!
//! The supervisor owns the authoritative configuration (LedFx's `config.json`); from it, it
//! derives this validated, flattened view and sends it to render-proc, output-proc and
//! audio-proc as a full snapshot whenever it changes (it is a few KiB even for large
//! installations). Stages diff snapshots themselves: an effect whose `instance` is unchanged
//! keeps running with its new config; a new `instance` starts a fresh effect (with a
//! transition).
//!
//! Effect and device-protocol configs travel as JSON text: they were validated by the owning
//! stage's own `validate()` code in the supervisor, and each stage builds its typed config
//! from them.

use serde::{Deserialize, Serialize};

/// Everything render-proc, output-proc and audio-proc need to know.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// Revision of the configuration this snapshot was made from (increases on every change).
    pub revision: u64,
    pub devices: Vec<DeviceSpec>,
    pub virtuals: Vec<VirtualSpec>,
    /// Core `global_brightness`, 0..1. (The three brightness/time fields are `f64` like the
    /// JSON they come from, so render-proc counts transition frames exactly as LedFx does.)
    pub global_brightness: f64,
    /// Global pause: render, but neither send nor visualise.
    pub paused: bool,
    /// Core `flush_on_deactivate`: blank a device when it stops being driven and at shutdown.
    pub flush_on_deactivate: bool,
    pub audio: AudioSpec,
}

/// One output device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceSpec {
    pub id: String,
    /// Shared-memory pixel slot assigned by the supervisor (stable for the device's life).
    pub slot: u16,
    /// Changes whenever the slot is handed to a (new) device, so a frame left in a reused
    /// slot by an earlier device can be told apart from this device's frames.
    pub generation: u64,
    /// Protocol registry key (`ddp`, `dummy`, …).
    pub device_type: String,
    pub pixel_count: u32,
    /// Frames per second (already snapped to LedFx's table).
    pub refresh_rate: u32,
    /// Rotation applied just before sending, in pixels.
    pub center_offset: i32,
    /// The validated device config, as JSON.
    pub config_json: String,
    /// True while at least one active, non-preview virtual drives this device.
    pub active: bool,
}

/// How a virtual's effect is laid onto its segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Mapping {
    /// The effect spans all segments end to end.
    #[default]
    Span,
    /// The effect is rendered once and copied into every segment.
    Copy,
}

/// One virtual strip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualSpec {
    pub id: String,
    pub segments: Vec<SegmentSpec>,
    pub mapping: Mapping,
    /// Physical pixels per effect pixel (≥ 1).
    pub grouping: u32,
    pub center_offset: i32,
    pub max_brightness: f64,
    pub preview_only: bool,
    pub transition_mode: String,
    pub transition_time: f64,
    pub frequency_min: u32,
    pub frequency_max: u32,
    pub rows: u32,
    /// Rendering (and, unless paused or preview-only, sending).
    pub active: bool,
    pub effect: Option<EffectSpec>,
    /// The runtime tools of `/api/virtuals_tools` (never saved).
    pub tools: VirtualTools,
    /// Where render-proc copies the virtual's frames while a client watches its live
    /// preview (`None` when all visualisation slots are taken).
    pub vis: Option<VisSlot>,
}

/// A virtual's visualisation slot in shared memory (`layout::Segment::vis_slot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisSlot {
    pub slot: u16,
    /// Changes whenever the slot is handed to a (new) virtual, so a frame another virtual left
    /// in a reused slot is never shown as this one's.
    pub generation: u64,
}

/// Runtime tools on a virtual (`/api/virtuals_tools`, ledfx-api.md §3.16–§3.17).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualTools {
    /// Draw each segment on its device in its own colour instead of the effect.
    pub calibration: bool,
    /// While calibrating: device pixels lit white.
    pub highlight: Option<Highlight>,
    /// Flashes blended over the effect's frames.
    pub oneshots: Vec<Oneshot>,
    /// Paint the virtual in one colour once (the next effect frame overwrites it).
    pub paint: Option<Paint>,
}

/// Device pixels `start..=stop` (counted from the end when `flip`) lit white.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Highlight {
    pub device_slot: u16,
    pub start: u32,
    pub stop: u32,
    pub flip: bool,
}

/// A flash: its weight ramps from 0 to `brightness` over `ramp_ms`, holds `hold_ms`, then
/// fades to 0 over `fade_ms`, from `start_ns` (`CLOCK_MONOTONIC`, shared by all processes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Oneshot {
    pub rgb: [u8; 3],
    pub ramp_ms: u32,
    pub hold_ms: u32,
    pub fade_ms: u32,
    pub brightness: f64,
    pub start_ns: u64,
}

impl Oneshot {
    /// The blend weight at `now_ns`, or `None` once the flash is over.
    pub fn weight(&self, now_ns: u64) -> Option<f64> {
        let t = now_ns.saturating_sub(self.start_ns) as f64 / 1e6;
        let (ramp, hold, fade) = (
            f64::from(self.ramp_ms),
            f64::from(self.hold_ms),
            f64::from(self.fade_ms),
        );
        if t > ramp + hold + fade {
            return None;
        }
        let w = if t < ramp {
            t / ramp
        } else if t <= ramp + hold {
            1.0
        } else {
            1.0 - (t - ramp - hold) / fade
        };
        Some(w.clamp(0.0, 1.0) * self.brightness.clamp(0.0, 1.0))
    }
}

/// A one-frame paint; `seq` is new for every request, so the same colour twice paints twice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paint {
    pub seq: u64,
    pub rgb: [u8; 3],
}

#[cfg(test)]
mod oneshot_tests {
    use super::Oneshot;

    #[test]
    fn a_flash_ramps_holds_and_fades() {
        let o = Oneshot {
            rgb: [255, 255, 255],
            ramp_ms: 100,
            hold_ms: 100,
            fade_ms: 100,
            brightness: 0.5,
            start_ns: 1_000_000_000,
        };
        let at = |ms: u64| o.weight(1_000_000_000 + ms * 1_000_000);
        assert_eq!(at(0), Some(0.0));
        assert_eq!(at(50), Some(0.25));
        assert_eq!(at(150), Some(0.5));
        assert_eq!(at(250), Some(0.25));
        assert_eq!(at(301), None);
    }
}

/// A segment of a virtual on a device: inclusive pixel range `[start, end]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentSpec {
    pub device_id: String,
    /// The device's pixel slot; `None` for `gap-` placeholders, which take up virtual pixels
    /// but are never output.
    pub device_slot: Option<u16>,
    pub start: u32,
    pub end: u32,
    pub invert: bool,
}

impl SegmentSpec {
    /// Number of device pixels covered.
    pub fn width(&self) -> u32 {
        self.end - self.start + 1
    }
}

/// The effect a virtual runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectSpec {
    /// Effect registry key (`rainbow`, `energy`, …).
    pub effect_type: String,
    /// The validated effect config (defaults filled in), as JSON.
    pub config_json: String,
    /// Changes whenever a new effect instance is set (POST), stays the same when the running
    /// effect's config is updated in place (PUT).
    pub instance: u64,
}

/// Audio capture and analysis settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioSpec {
    /// What to capture (from the `--audio` command-line option).
    pub source: AudioSource,
    /// Volume gate 0..1 below which the melbanks read zero.
    pub min_volume: f32,
    /// Delay of the analysis, ms.
    pub delay_ms: u32,
    /// Bins per melbank.
    pub mel_samples: u32,
    /// Melbank peak isolation (LedFx `peak_isolation`).
    pub peak_isolation: f32,
    /// Upper frequency of each melbank, Hz.
    pub max_frequencies: Vec<u32>,
    /// Where to send WLED Audio Sync packets (`ip:port`), when that is on.
    pub sync_to: Option<String>,
    /// LedFx `melbanks.coeffs_type` (`matt_mel`, `triangle`, …).
    pub coeffs_type: String,
    /// LedFx `audio.pitch_tolerance`: the YIN threshold of the pitch detector, 0..2.
    pub pitch_tolerance: f32,
}

impl Default for AudioSpec {
    fn default() -> Self {
        Self {
            source: AudioSource::Synth,
            min_volume: 0.2,
            delay_ms: 0,
            mel_samples: 24,
            peak_isolation: 0.4,
            max_frequencies: vec![350, 2000, 15000],
            sync_to: None,
            coeffs_type: "matt_mel".into(),
            pitch_tolerance: 0.8,
        }
    }
}

/// Where audio comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudioSource {
    /// The system's default capture device; silence (reported as "no capture device") when
    /// there is none.
    Default,
    /// The system's default capture device, else the built-in synth (what `make run` uses,
    /// so a machine without a sound card still shows audio effects moving).
    Auto,
    /// The device chosen through the API or stored as `audio.audio_device`: found by its
    /// name when that is still listed, else by its LedFx index.
    Chosen { index: u32, name: String },
    /// A capture device by (sub-string of its) name.
    Device(String),
    /// A WAV file, looped.
    File(String),
    /// Raw PCM on the standard input of the supervisor.
    Stdin(PcmFormat),
    /// The built-in 120 BPM test beat.
    Synth,
    /// Silence.
    None,
}

/// Sample format of raw PCM on stdin (mono, 44.1 kHz unless `rate` says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcmFormat {
    pub encoding: PcmEncoding,
    pub rate: u32,
    pub channels: u16,
}

/// Sample encoding of raw PCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PcmEncoding {
    /// 32-bit little-endian float.
    F32Le,
    /// 16-bit little-endian signed integer.
    S16Le,
}

impl std::str::FromStr for AudioSource {
    type Err = String;

    /// Parses the `--audio` option: `default`, `auto`, `device:NAME`, `file:PATH.wav`,
    /// `stdin[:f32|s16][:RATE][:CHANNELS]`, `synth`, `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => return Ok(AudioSource::Default),
            "auto" => return Ok(AudioSource::Auto),
            "synth" => return Ok(AudioSource::Synth),
            "none" => return Ok(AudioSource::None),
            _ => {}
        }
        if let Some(name) = s.strip_prefix("device:") {
            if name.is_empty() {
                return Err("device: needs a device name, e.g. device:pulse".into());
            }
            return Ok(AudioSource::Device(name.to_owned()));
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err("file: needs a path to a .wav file".into());
            }
            return Ok(AudioSource::File(path.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("stdin") {
            let mut format = PcmFormat {
                encoding: PcmEncoding::F32Le,
                rate: 44_100,
                channels: 1,
            };
            let mut parts = rest.split(':').skip(1);
            if let Some(enc) = parts.next() {
                format.encoding = match enc {
                    "f32" | "f32le" => PcmEncoding::F32Le,
                    "s16" | "s16le" => PcmEncoding::S16Le,
                    other => {
                        return Err(format!(
                            "unknown stdin sample format {other:?} (use f32 or s16)"
                        ))
                    }
                };
            }
            if let Some(rate) = parts.next() {
                format.rate = rate
                    .parse()
                    .ok()
                    .filter(|r| (8_000..=192_000).contains(r))
                    .ok_or_else(|| format!("stdin sample rate {rate:?} must be 8000..192000"))?;
            }
            if let Some(ch) = parts.next() {
                format.channels = ch
                    .parse()
                    .ok()
                    .filter(|c| (1..=8).contains(c))
                    .ok_or_else(|| format!("stdin channel count {ch:?} must be 1..8"))?;
            }
            if parts.next().is_some() || !(rest.is_empty() || rest.starts_with(':')) {
                return Err(format!(
                    "cannot parse {s:?}: use stdin[:f32|s16[:RATE[:CHANNELS]]]"
                ));
            }
            return Ok(AudioSource::Stdin(format));
        }
        Err(format!(
            "unknown audio source {s:?}: use default, device:NAME, file:PATH.wav, stdin, synth or none"
        ))
    }
}

/// Fits a published device frame to the device (what output-proc sends, and the device frame
/// the live preview shows): pads with black or truncates to `pixel_count`
/// pixels, then rotates by `center_offset` pixels (positive = towards higher indices).
pub fn fit_device_frame(src: &[u8], pixel_count: u32, center_offset: i32, out: &mut Vec<u8>) {
    let pixels = pixel_count as usize;
    let len = pixels * 3;
    out.clear();
    out.extend_from_slice(&src[..src.len().min(len)]);
    out.resize(len, 0);
    if pixels > 1 {
        let shift = i64::from(center_offset).rem_euclid(pixels as i64) as usize;
        out.rotate_right(shift * 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_padded_truncated_and_rotated() {
        let mut out = Vec::new();
        fit_device_frame(&[1, 1, 1, 2, 2, 2], 3, 0, &mut out);
        assert_eq!(out, [1, 1, 1, 2, 2, 2, 0, 0, 0]);
        fit_device_frame(&[1, 1, 1, 2, 2, 2, 3, 3, 3], 2, 0, &mut out);
        assert_eq!(out, [1, 1, 1, 2, 2, 2]);
        // Positive offset moves pixel 0 towards higher indices (numpy.roll).
        fit_device_frame(&[1, 1, 1, 2, 2, 2, 3, 3, 3], 3, 1, &mut out);
        assert_eq!(out, [3, 3, 3, 1, 1, 1, 2, 2, 2]);
        fit_device_frame(&[1, 1, 1, 2, 2, 2, 3, 3, 3], 3, -1, &mut out);
        assert_eq!(out, [2, 2, 2, 3, 3, 3, 1, 1, 1]);
        fit_device_frame(&[1, 1, 1, 2, 2, 2, 3, 3, 3], 3, 7, &mut out);
        assert_eq!(out, [3, 3, 3, 1, 1, 1, 2, 2, 2]);
        fit_device_frame(&[9, 9, 9], 1, -5, &mut out);
        assert_eq!(out, [9, 9, 9]);
        fit_device_frame(&[], 2, i32::MIN, &mut out);
        assert_eq!(out, [0; 6]);
    }

    #[test]
    fn audio_sources_parse() {
        assert_eq!("synth".parse(), Ok(AudioSource::Synth));
        assert_eq!(
            "device:pulse".parse(),
            Ok(AudioSource::Device("pulse".into()))
        );
        assert_eq!(
            "file:/a.wav".parse(),
            Ok(AudioSource::File("/a.wav".into()))
        );
        assert_eq!(
            "stdin:s16:48000:2".parse(),
            Ok(AudioSource::Stdin(PcmFormat {
                encoding: PcmEncoding::S16Le,
                rate: 48_000,
                channels: 2
            }))
        );
        assert!(matches!(
            "stdin".parse::<AudioSource>(),
            Ok(AudioSource::Stdin(_))
        ));
        assert!("stdin:u8".parse::<AudioSource>().is_err());
        assert!("stdinx".parse::<AudioSource>().is_err());
        assert!("mic".parse::<AudioSource>().is_err());
        assert!("device:".parse::<AudioSource>().is_err());
    }

    #[test]
    fn state_round_trips_through_postcard() {
        let state = PipelineState {
            revision: 7,
            devices: vec![DeviceSpec {
                id: "a".into(),
                slot: 3,
                generation: 1,
                device_type: "ddp".into(),
                pixel_count: 10,
                refresh_rate: 62,
                center_offset: 0,
                config_json: "{}".into(),
                active: true,
            }],
            ..Default::default()
        };
        let bytes = postcard::to_allocvec(&state).unwrap();
        let back: PipelineState = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, state);
    }
}

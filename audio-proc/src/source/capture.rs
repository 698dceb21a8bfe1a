//! Capture from a cpal input device (`default`, or `device:NAME`).
//!
//! On Linux cpal's default host is ALSA, whose `default`/`pulse` PCMs reach PulseAudio or
//! PipeWire through the ALSA pulse plugin. The design follows cpal's own examples (and our
//! STYLE lesson 8):
//!
//! * the data callback only mixes to mono and copies into the SPSC ring — no locks, no
//!   allocation, no logging; a full ring drops samples and counts them in an atomic;
//! * the error callback only sets atomics; this module's thread watches them, logs, and
//!   rebuilds the stream on `StreamInvalidated`/`DeviceNotAvailable`;
//! * a `device:NAME` that is missing is retried every 5 s (the stage keeps publishing silent
//!   frames meanwhile; exiting would only make the supervisor restart-loop us); a `default`
//!   device that does not exist or cannot be opened falls back to the synth, with a warning.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use super::FeedSender;

/// Retry interval for a device that is missing or failed.
const RETRY_EVERY: Duration = Duration::from_secs(5);
/// Pause before reopening a stream that reported an error.
const REBUILD_AFTER: Duration = Duration::from_millis(500);
/// How often the capture thread looks at its stop flag and the stream's error flags.
const WATCH_TICK: Duration = Duration::from_millis(20);
/// How long to wait for the backend to set up a stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// Which device to capture from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceSelector {
    /// The host's default input device.
    Default,
    /// The first input device whose name or id contains this (case-insensitively).
    Named(String),
}

/// Errors opening a capture stream.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("no default input device")]
    FindDefault,
    #[error("no input device matches {wanted:?}")]
    FindDevice { wanted: String },
    #[error("listing audio devices: {0}")]
    ListDevices(cpal::Error),
    #[error("querying the input format of {device}: {source}")]
    QueryConfig { device: String, source: cpal::Error },
    #[error("{device} delivers {format} samples, which are not supported")]
    UnsupportedFormat {
        device: String,
        format: SampleFormat,
    },
    #[error("opening an input stream on {device}: {source}")]
    BuildStream { device: String, source: cpal::Error },
    #[error("starting the input stream on {device}: {source}")]
    PlayStream { device: String, source: cpal::Error },
    #[error("the analysis thread is gone")]
    OpenFeed,
}

/// What the callbacks of one stream report to the capture thread (all lock-free).
#[derive(Debug, Default)]
struct StreamFlags {
    /// The stream must be rebuilt (invalidated, device gone).
    rebuild: AtomicBool,
    /// Samples dropped because the ring was full.
    dropped: AtomicU64,
    /// Over-/underruns reported by the backend.
    xruns: AtomicU64,
    /// Other errors reported by the backend.
    other_errors: AtomicU64,
}

/// Name of a device for matching and logs: `id (description)`.
fn device_label(device: &cpal::Device) -> String {
    let id = device.id().map(|id| id.id().to_owned()).unwrap_or_default();
    match device.description() {
        Ok(desc) if desc.name() != id => format!("{id} ({})", desc.name()),
        _ => id,
    }
}

/// Labels of every input-capable device, for error messages.
pub fn input_device_names() -> Vec<String> {
    let host = cpal::default_host();
    match host.input_devices() {
        Ok(devices) => devices.map(|d| device_label(&d)).collect(),
        Err(_) => Vec::new(),
    }
}

fn find_device(host: &cpal::Host, selector: &DeviceSelector) -> Result<cpal::Device, CaptureError> {
    match selector {
        DeviceSelector::Default => host.default_input_device().ok_or(CaptureError::FindDefault),
        DeviceSelector::Named(wanted) => {
            let needle = wanted.to_lowercase();
            host.devices()
                .map_err(CaptureError::ListDevices)?
                .filter(|d| device_label(d).to_lowercase().contains(&needle))
                .find(DeviceTrait::supports_input)
                .ok_or_else(|| CaptureError::FindDevice {
                    wanted: wanted.clone(),
                })
        }
    }
}

/// Mixes one callback's interleaved samples to mono and pushes them into the ring.
/// Runs on the audio thread: no allocation, no locks, no logging.
fn mono_mixer<T>(
    mut producer: rtrb::Producer<f32>,
    channels: usize,
    flags: Arc<StreamFlags>,
) -> impl FnMut(&[T]) + Send + 'static
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let gain = 1.0 / channels as f32;
    move |data: &[T]| {
        let mut dropped = 0u64;
        for frame in data.chunks_exact(channels) {
            let sum: f32 = frame.iter().map(|&s| f32::from_sample_(s)).sum();
            if producer.push(sum * gain).is_err() {
                dropped += 1;
            }
        }
        if dropped > 0 {
            flags.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

/// The error callback: classify and flag, nothing else.
fn error_callback(flags: Arc<StreamFlags>) -> impl FnMut(cpal::Error) + Send + 'static {
    move |err: cpal::Error| match err.kind() {
        cpal::ErrorKind::StreamInvalidated | cpal::ErrorKind::DeviceNotAvailable => {
            flags.rebuild.store(true, Ordering::Relaxed);
        }
        cpal::ErrorKind::Xrun => {
            flags.xruns.fetch_add(1, Ordering::Relaxed);
        }
        _ => {
            flags.other_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An open, playing input stream.
struct OpenStream {
    _stream: cpal::Stream,
    flags: Arc<StreamFlags>,
    label: String,
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    producer: rtrb::Producer<f32>,
    flags: &Arc<StreamFlags>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let mut mix = mono_mixer::<T>(producer, channels, flags.clone());
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| mix(data),
        error_callback(flags.clone()),
        Some(OPEN_TIMEOUT),
    )
}

fn open(selector: &DeviceSelector, feeds: &FeedSender) -> Result<OpenStream, CaptureError> {
    let host = cpal::default_host();
    let device = find_device(&host, selector)?;
    let label = device_label(&device);
    let supported = device
        .default_input_config()
        .map_err(|source| CaptureError::QueryConfig {
            device: label.clone(),
            source,
        })?;
    let format = supported.sample_format();
    let config = supported.config();
    let rate = config.sample_rate;
    let flags = Arc::new(StreamFlags::default());
    let producer = feeds.open(rate).ok_or(CaptureError::OpenFeed)?;
    let stream = match format {
        SampleFormat::F32 => build::<f32>(&device, config, producer, &flags),
        SampleFormat::F64 => build::<f64>(&device, config, producer, &flags),
        SampleFormat::I16 => build::<i16>(&device, config, producer, &flags),
        SampleFormat::I32 => build::<i32>(&device, config, producer, &flags),
        SampleFormat::I8 => build::<i8>(&device, config, producer, &flags),
        SampleFormat::U8 => build::<u8>(&device, config, producer, &flags),
        SampleFormat::U16 => build::<u16>(&device, config, producer, &flags),
        SampleFormat::U32 => build::<u32>(&device, config, producer, &flags),
        format => {
            return Err(CaptureError::UnsupportedFormat {
                device: label,
                format,
            })
        }
    }
    .map_err(|source| CaptureError::BuildStream {
        device: label.clone(),
        source,
    })?;
    stream.play().map_err(|source| CaptureError::PlayStream {
        device: label.clone(),
        source,
    })?;
    tracing::info!(device = %label, rate, channels = config.channels, ?format, "capturing audio");
    Ok(OpenStream {
        _stream: stream,
        flags,
        label,
    })
}

/// Sleeps up to `duration`, returning early (with `true`) when `stop` is set.
fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) -> bool {
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(WATCH_TICK);
    }
    stop.load(Ordering::Relaxed)
}

/// Watches an open stream until `stop` (returns `true`) or until it must be rebuilt (`false`).
fn watch(stream: &OpenStream, stop: &AtomicBool) -> bool {
    /// Trouble is reported at most this often, with running totals, so a persistently
    /// overflowing ring cannot flood the log.
    const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
    let mut seen = (0u64, 0u64, 0u64);
    let mut last_report: Option<std::time::Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let f = &stream.flags;
        if f.rebuild.load(Ordering::Relaxed) {
            tracing::warn!(device = %stream.label, "capture stream lost; reopening");
            return false;
        }
        let now = (
            f.dropped.load(Ordering::Relaxed),
            f.xruns.load(Ordering::Relaxed),
            f.other_errors.load(Ordering::Relaxed),
        );
        let due = last_report.is_none_or(|at| at.elapsed() >= REPORT_EVERY);
        if now != seen && due {
            last_report = Some(std::time::Instant::now());
            tracing::warn!(
                device = %stream.label,
                dropped_samples = now.0,
                xruns = now.1,
                other_errors = now.2,
                "capture stream trouble"
            );
            seen = now;
        }
        std::thread::sleep(WATCH_TICK);
    }
}

/// Runs the capture source until `stop`.
pub(crate) fn run(selector: &DeviceSelector, feeds: &FeedSender, stop: &AtomicBool) {
    let mut ever_opened = false;
    let mut last_listing: Option<Vec<String>> = None;
    while !stop.load(Ordering::Relaxed) {
        match open(selector, feeds) {
            Ok(stream) => {
                ever_opened = true;
                last_listing = None;
                if watch(&stream, stop) {
                    return;
                }
                drop(stream);
                if sleep_unless_stopped(REBUILD_AFTER, stop) {
                    return;
                }
            }
            Err(CaptureError::OpenFeed) => return,
            Err(err) => match selector {
                DeviceSelector::Default if !ever_opened => {
                    tracing::warn!(
                        error = %err,
                        "no usable default capture device; falling back to the built-in synth source (120 BPM test beat)"
                    );
                    super::run_synth(feeds, stop);
                    return;
                }
                _ => {
                    let available = input_device_names();
                    // Log loudly once, and again only when the set of devices changes.
                    if last_listing.as_ref() != Some(&available) {
                        tracing::error!(
                            error = %err,
                            available = ?available,
                            "audio input device unavailable; publishing silence and retrying every 5 s"
                        );
                        last_listing = Some(available);
                    } else {
                        tracing::debug!(error = %err, "audio input device still unavailable");
                    }
                    if sleep_unless_stopped(RETRY_EVERY, stop) {
                        return;
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_mixes_to_mono_and_counts_overflow() {
        let (producer, mut c2) = rtrb::RingBuffer::new(3);
        let flags2 = Arc::new(StreamFlags::default());
        let mut mix = mono_mixer::<i16>(producer, 2, flags2.clone());
        mix(&[16_384, 16_384, -32_768, 0, 0, 0, 8192, 8192]);
        assert_eq!(c2.pop(), Ok(0.5));
        assert_eq!(c2.pop(), Ok(-0.5));
        assert_eq!(c2.pop(), Ok(0.0));
        assert_eq!(flags2.dropped.load(Ordering::Relaxed), 1);
        assert!(c2.pop().is_err());
    }

    #[test]
    fn errors_that_invalidate_the_stream_ask_for_a_rebuild() {
        let flags = Arc::new(StreamFlags::default());
        let mut cb = error_callback(flags.clone());
        cb(cpal::Error::new(cpal::ErrorKind::Xrun));
        assert!(!flags.rebuild.load(Ordering::Relaxed));
        assert_eq!(flags.xruns.load(Ordering::Relaxed), 1);
        cb(cpal::Error::new(cpal::ErrorKind::DeviceNotAvailable));
        assert!(flags.rebuild.load(Ordering::Relaxed));
    }

    #[test]
    fn a_missing_named_device_is_retried_without_exiting() {
        let (feeds, rx) = FeedSender::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let t = std::thread::spawn(move || {
            run(
                &DeviceSelector::Named("no-such-device-ledfx-test".into()),
                &feeds,
                &flag,
            )
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(!t.is_finished(), "the capture thread must keep retrying");
        assert!(rx.try_recv().is_err(), "no feed for a missing device");
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
    }
}

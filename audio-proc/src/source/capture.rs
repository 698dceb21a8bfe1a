//! Capture from a cpal input device: the default one, one matching a name, or the one chosen
//! through the API.
//!
//! The host is cpal's default: PulseAudio (or PipeWire-pulse) natively when a server is
//! reachable, ALSA otherwise (see [`super::devices`]). The design follows cpal's own examples
//! (and our STYLE lesson 8):
//!
//! * the data callback only mixes to mono and copies into the SPSC ring — no locks, no
//!   allocation, no logging; a full ring drops samples and counts them in an atomic;
//! * the error callback only sets atomics; this module's thread watches them, logs, and
//!   rebuilds the stream (from a fresh host, so a restarted audio server is found again) on
//!   `StreamInvalidated`/`DeviceNotAvailable`, with a backoff of 0.25 s doubling to 2 s;
//! * a device that is missing is looked for again on the same backoff; the stage keeps
//!   publishing silent frames meanwhile and says why in the audio status (exiting would only
//!   make the supervisor restart-loop us). Only [`Fallback::Synth`] (`--audio auto`) turns a
//!   machine without any capture device into the built-in synth.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use proto::audio_status::CaptureState;

use super::devices::{self, Target};
use super::{FeedSender, FeedWriter};
use crate::status::StatusBoard;

/// First wait before reopening a lost stream or looking for a missing device again.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
/// Longest wait between two attempts (keeps recovery after an audio server restart well
/// inside 5 s).
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A stream that ran this long resets the backoff when it is lost.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How often the capture thread looks at its stop flag and the stream's error flags.
const WATCH_TICK: Duration = Duration::from_millis(20);
/// How long to wait for the backend to set up a stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);
/// Capture period asked of PulseAudio: it delivers data in fragments this long. Without it
/// the server picks fragments of up to 2 s.
const PULSE_PERIOD_MS: u32 = 20;

/// What to do when no capture device exists at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Publish silence and report "no capture device" (an installation must not dance to a
    /// fake beat).
    Silence,
    /// Run the built-in synth instead (`--audio auto`, a first run without a sound card).
    Synth,
}

/// Errors opening a capture stream.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{0}")]
    NoDevice(String),
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

/// Name of a device for logs: `id (description)`.
fn device_label(device: &cpal::Device) -> String {
    let id = devices::device_id(device);
    match device.description() {
        Ok(desc) if desc.name() != id => format!("{id} ({})", desc.name()),
        _ => id,
    }
}

/// Mixes one callback's interleaved samples to mono, pushes them into the ring and records
/// when the newest was captured (`lag_ns`: how long before the callback the buffer's first
/// sample was captured, as the host reports it). Runs on the audio thread: no allocation,
/// no locks, no logging.
fn mono_mixer<T>(
    mut writer: FeedWriter,
    channels: usize,
    rate: u32,
    flags: Arc<StreamFlags>,
) -> impl FnMut(&[T], u64) + Send + 'static
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let gain = 1.0 / channels as f32;
    let sample_ns = 1_000_000_000 / u64::from(rate.max(1));
    move |data: &[T], lag_ns: u64| {
        let now = proto::monotonic_ns();
        let mut dropped = 0u64;
        let mut pushed = 0u64;
        for frame in data.chunks_exact(channels) {
            let sum: f32 = frame.iter().map(|&s| f32::from_sample_(s)).sum();
            if writer.samples.push(sum * gain).is_err() {
                dropped += 1;
            } else {
                pushed += 1;
            }
        }
        let frames = (data.len() / channels.max(1)) as u64;
        let newest = now.saturating_sub(lag_ns) + frames.saturating_sub(1) * sample_ns;
        writer.record(pushed, newest.min(now));
        if dropped > 0 {
            flags.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

/// How long before the callback the buffer's first sample was captured.
fn capture_lag_ns(info: &cpal::InputCallbackInfo) -> u64 {
    let t = info.timestamp();
    t.callback.saturating_duration_since(t.capture).as_nanos() as u64
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
    writer: FeedWriter,
    flags: &Arc<StreamFlags>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let mut mix = mono_mixer::<T>(writer, channels, config.sample_rate, flags.clone());
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], info: &cpal::InputCallbackInfo| mix(data, capture_lag_ns(info)),
        error_callback(flags.clone()),
        Some(OPEN_TIMEOUT),
    )
}

/// Describes `target` for messages.
fn describe(target: &Target) -> String {
    match target {
        Target::Default => "the default capture device".into(),
        Target::Matching(name) => format!("a capture device matching {name:?}"),
        Target::Chosen { index, name } if name.is_empty() => format!("capture device #{index}"),
        Target::Chosen { name, .. } => format!("capture device {name:?}"),
    }
}

/// Lists the host's devices into the board and finds `target`: the device, its index in the
/// list (if it is a listed one) and its label.
fn find(
    host: &cpal::Host,
    target: &Target,
    board: &StatusBoard,
) -> Result<(cpal::Device, Option<u32>), CaptureError> {
    let (listed, default_index) = devices::list(host).map_err(CaptureError::ListDevices)?;
    let infos: Vec<_> = listed.iter().map(|l| l.info.clone()).collect();
    let found = devices::resolve(target, &infos, default_index);
    devices::publish_listing(board, devices::host_name(host), infos, default_index);
    if let Some(index) = found {
        let device = listed
            .into_iter()
            .nth(index)
            .map(|l| l.device)
            .expect("resolve returns an index into the list");
        return Ok((device, u32::try_from(index).ok()));
    }
    // ALSA's `default` PCM is not always among the listed hints; open it anyway. A chosen
    // device that is missing (unplugged, or a name from a LedFx config) is stood in for by
    // the default until it appears.
    if matches!(target, Target::Default | Target::Chosen { .. }) {
        if let Some(device) = host.default_input_device() {
            let id = devices::device_id(&device);
            let index = infos_index(&listed, &id);
            return Ok((device, index));
        }
    }
    let available = listed
        .iter()
        .map(|l| l.info.name.as_str())
        .collect::<Vec<_>>();
    Err(CaptureError::NoDevice(if listed.is_empty() {
        "no capture device".to_owned()
    } else {
        format!(
            "{} is not present (available: {})",
            describe(target),
            available.join(", ")
        )
    }))
}

fn infos_index(listed: &[devices::Listed], id: &str) -> Option<u32> {
    listed
        .iter()
        .position(|l| l.info.id == id)
        .and_then(|i| u32::try_from(i).ok())
}

fn open(
    host: &cpal::Host,
    device: &cpal::Device,
    feeds: &FeedSender,
) -> Result<OpenStream, CaptureError> {
    let label = device_label(device);
    let supported = device
        .default_input_config()
        .map_err(|source| CaptureError::QueryConfig {
            device: label.clone(),
            source,
        })?;
    let format = supported.sample_format();
    let mut config = supported.config();
    if devices::cheap_listing(host) {
        config.buffer_size =
            cpal::BufferSize::Fixed((config.sample_rate * PULSE_PERIOD_MS / 1000).max(1));
    }
    let rate = config.sample_rate;
    let flags = Arc::new(StreamFlags::default());
    let writer = feeds.open(rate).ok_or(CaptureError::OpenFeed)?;
    let stream = match format {
        SampleFormat::F32 => build::<f32>(device, config, writer, &flags),
        SampleFormat::F64 => build::<f64>(device, config, writer, &flags),
        SampleFormat::I16 => build::<i16>(device, config, writer, &flags),
        SampleFormat::I32 => build::<i32>(device, config, writer, &flags),
        SampleFormat::I8 => build::<i8>(device, config, writer, &flags),
        SampleFormat::U8 => build::<u8>(device, config, writer, &flags),
        SampleFormat::U16 => build::<u16>(device, config, writer, &flags),
        SampleFormat::U32 => build::<u32>(device, config, writer, &flags),
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
    tracing::info!(
        device = %label,
        host = devices::host_name(host),
        rate,
        channels = config.channels,
        ?format,
        "capturing audio"
    );
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

/// Watches an open stream until `stop` (returns `true`) or until it must be rebuilt (`false`):
/// lost, or `moved()` says the wanted device is now elsewhere. Trouble counters go to the
/// board as they change, and to the log at most every 10 s.
fn watch(
    stream: &OpenStream,
    stop: &AtomicBool,
    board: &StatusBoard,
    moved: impl Fn() -> bool,
) -> bool {
    /// How often `moved` is asked (it looks at the watcher's device list).
    const MOVED_EVERY: Duration = Duration::from_secs(1);
    let mut moved_at = Instant::now();
    /// Trouble is logged at most this often, with running totals, so a persistently
    /// overflowing ring cannot flood the log.
    const REPORT_EVERY: Duration = Duration::from_secs(10);
    let (base_dropped, base_xruns) = {
        let s = board.get();
        (s.dropped_samples, s.xruns)
    };
    let mut seen = (0u64, 0u64, 0u64);
    let mut last_report: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        let f = &stream.flags;
        if f.rebuild.load(Ordering::Relaxed) {
            tracing::warn!(device = %stream.label, "capture stream lost; reopening");
            return false;
        }
        if moved_at.elapsed() >= MOVED_EVERY {
            moved_at = Instant::now();
            if moved() {
                tracing::info!(device = %stream.label, "the chosen capture device is back; switching to it");
                return false;
            }
        }
        let now = (
            f.dropped.load(Ordering::Relaxed),
            f.xruns.load(Ordering::Relaxed),
            f.other_errors.load(Ordering::Relaxed),
        );
        if now != seen {
            board.update(|s| {
                s.dropped_samples = base_dropped + now.0;
                s.xruns = base_xruns + now.1;
            });
            if last_report.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                last_report = Some(Instant::now());
                tracing::warn!(
                    device = %stream.label,
                    dropped_samples = now.0,
                    xruns = now.1,
                    other_errors = now.2,
                    "capture stream trouble"
                );
            }
            seen = now;
        }
        std::thread::sleep(WATCH_TICK);
    }
}

/// The wait between attempts: doubling from [`BACKOFF_FIRST`] to [`BACKOFF_MAX`].
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(BACKOFF_FIRST)
    }

    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        wait
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_FIRST;
    }
}

/// Runs the capture of `target` until `stop`.
pub(crate) fn run(
    target: &Target,
    fallback: Fallback,
    feeds: &FeedSender,
    stop: &AtomicBool,
    board: &StatusBoard,
) {
    let wanted = describe(target);
    board.update(|s| {
        s.source = wanted.clone();
        s.state = CaptureState::Opening;
        s.active_index = None;
    });
    let mut ever_opened = false;
    let mut backoff = Backoff::new();
    let mut last_error: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        // A fresh host every attempt: a restarted audio server is only found by a new
        // connection (and a server that appeared since falls us over from ALSA to it).
        let host = devices::open_host();
        let opened = find(&host, target, board)
            .and_then(|(device, index)| Ok((open(&host, &device, feeds)?, index)));
        match opened {
            Ok((stream, index)) => {
                ever_opened = true;
                last_error = None;
                // A chosen device that is missing is stood in for by the default one.
                let standing_in = match target {
                    Target::Chosen { .. } => {
                        let status = board.get();
                        devices::resolve(target, &status.devices, status.default_index).is_none()
                    }
                    _ => false,
                };
                if standing_in {
                    tracing::warn!(wanted = %wanted, using = %stream.label, "the chosen capture device is not present; capturing from the default device until it is");
                }
                board.update(|s| {
                    s.state = CaptureState::Capturing;
                    s.active_index = index;
                    s.source = stream.label.clone();
                    s.error = standing_in.then(|| {
                        format!("{wanted} is not present; capturing from the default device until it is")
                    });
                    s.streams_opened += 1;
                });
                let opened_at = Instant::now();
                let moved = || {
                    standing_in && {
                        let status = board.get();
                        devices::resolve(target, &status.devices, status.default_index).is_some()
                    }
                };
                if watch(&stream, stop, board, moved) {
                    return;
                }
                let lost = stream.flags.rebuild.load(Ordering::Relaxed);
                drop(stream);
                board.update(|s| {
                    s.state = CaptureState::Opening;
                    s.active_index = None;
                    s.source = wanted.clone();
                    if lost {
                        s.streams_lost += 1;
                        s.error = Some("capture stream lost (device gone or audio server restarted); reopening".into());
                    }
                });
                if opened_at.elapsed() >= STABLE_AFTER || !lost {
                    backoff.reset();
                }
            }
            Err(CaptureError::OpenFeed) => return,
            // `auto` on a machine where the default device is missing or unusable (ALSA's
            // `default` routes to a sound server that is not running): the synth.
            Err(err)
                if fallback == Fallback::Synth && *target == Target::Default && !ever_opened =>
            {
                let msg = err.to_string();
                tracing::warn!(
                    reason = %msg,
                    "no usable capture device; falling back to the built-in synth source (120 BPM test beat)"
                );
                board.update(|s| {
                    s.state = CaptureState::NotCapturing;
                    s.source = "synth (no capture device)".into();
                    s.error = Some(msg);
                });
                super::run_synth(feeds, stop);
                return;
            }
            Err(err) => {
                // A default device that exists but cannot be opened counts as none: on a
                // machine without a sound server ALSA still lists `default`.
                let missing = matches!(err, CaptureError::NoDevice(_))
                    || (*target == Target::Default && !ever_opened);
                let msg = err.to_string();
                // Log loudly once, and again only when the problem changes.
                if last_error.as_ref() != Some(&msg) {
                    tracing::error!(error = %msg, "audio capture unavailable; publishing silence and retrying");
                    last_error = Some(msg.clone());
                } else {
                    tracing::debug!(error = %msg, "audio capture still unavailable");
                }
                board.update(|s| {
                    s.state = if missing {
                        CaptureState::NoDevice
                    } else {
                        CaptureState::Opening
                    };
                    s.active_index = None;
                    s.error = Some(msg);
                });
            }
        }
        if sleep_unless_stopped(backoff.next(), stop) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_mixes_to_mono_and_counts_overflow() {
        let (producer, mut c2) = rtrb::RingBuffer::new(3);
        let clock = Arc::new(super::super::clock::CaptureClock::default());
        let writer = FeedWriter::new(producer, clock.clone());
        let flags2 = Arc::new(StreamFlags::default());
        let mut mix = mono_mixer::<i16>(writer, 2, 1000, flags2.clone());
        let before = proto::monotonic_ns();
        // Four frames; the first captured 10 ms before the callback, 1 ms apart.
        mix(&[16_384, 16_384, -32_768, 0, 0, 0, 8192, 8192], 10_000_000);
        let (pushed, newest) = clock.read().expect("a delivery was recorded");
        assert_eq!(pushed, 3, "the fourth did not fit");
        assert!(newest >= before.saturating_sub(10_000_000) + 3_000_000);
        assert!(newest <= proto::monotonic_ns() - 7_000_000, "{newest}");
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
    fn the_backoff_doubles_to_its_ceiling_and_resets() {
        let mut b = Backoff::new();
        let waits: Vec<_> = (0..6).map(|_| b.next().as_millis()).collect();
        assert_eq!(waits, vec![250, 500, 1000, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.next(), BACKOFF_FIRST);
    }

    #[test]
    fn a_missing_named_device_is_retried_without_exiting() {
        let (feeds, rx) = FeedSender::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let board = StatusBoard::detached();
        let status = board.clone();
        let t = std::thread::spawn(move || {
            run(
                &Target::Matching("no-such-device-ledfx-test".into()),
                Fallback::Synth,
                &feeds,
                &flag,
                &board,
            )
        });
        // Listing can take a while on a loaded machine; the error lands in the board.
        let deadline = Instant::now() + Duration::from_secs(20);
        while status.get().error.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!t.is_finished(), "the capture thread must keep retrying");
        assert!(rx.try_recv().is_err(), "no feed for a missing device");
        let s = status.get();
        assert!(
            matches!(s.state, CaptureState::NoDevice | CaptureState::Opening),
            "{s:?}"
        );
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
    }
}

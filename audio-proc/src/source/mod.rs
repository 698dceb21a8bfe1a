//! Audio sources: where samples come from before the analysis sees them.
//!
//! Every source runs on its own thread and delivers mono `f32` samples at its own rate through
//! a lock-free SPSC ring ([`rtrb`]). It announces each ring (a [`Feed`]: the consumer end and
//! the rate) to the analysis thread over a channel; a source that reopens a device at a new
//! rate simply announces a new feed. Sources never stop the stage: a missing device, an
//! unreadable file or the end of stdin is logged and leaves the analysis without input, and
//! the analysis then publishes silent frames on its own clock.
//!
//! * [`capture`] — cpal input devices (`Default`, `Auto`, `Device(name)`, `Chosen`), found
//!   through [`devices`];
//! * [`file`] — a looped WAV file, paced in real time;
//! * [`stdin`] — raw PCM on standard input, paced by the data;
//! * the synth and `None` are handled here.

pub mod capture;
pub mod clock;
pub mod devices;
pub mod file;
pub mod stdin;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proto::pipeline::AudioSource;

use proto::audio_status::CaptureState;

use crate::status::StatusBoard;
use crate::synth::{Synth, SYNTH_RATE};
use clock::CaptureClock;

/// Seconds of audio a ring holds: generous, since the analysis drains it every few ms.
const RING_SECONDS: f64 = 1.0;
/// How long dropping a source waits for its thread before leaving it to finish on its own.
/// Together with the analysis thread's grace this keeps a shutdown well inside the ~500 ms
/// the supervisor allows (threads normally stop within a few ms).
const STOP_GRACE: Duration = Duration::from_millis(300);
/// Sleep between two deliveries of a paced source.
const PACE_TICK: Duration = Duration::from_millis(10);

/// Errors starting a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("spawning the {name} source thread: {source}")]
    SpawnThread {
        name: String,
        source: std::io::Error,
    },
}

/// One ring of mono samples at `rate` Hz, handed from a source to the analysis thread.
pub struct Feed {
    /// Consumer end of the ring.
    pub samples: rtrb::Consumer<f32>,
    /// Sample rate of what arrives through it, Hz.
    pub rate: u32,
    /// When its samples were captured.
    pub clock: Arc<CaptureClock>,
    /// The source generation that opened it (see [`FeedSender::next_generation`]).
    generation: u64,
    current: Arc<AtomicU64>,
}

/// The source's end of a feed: the ring and the capture clock.
#[derive(Debug)]
pub struct FeedWriter {
    pub samples: rtrb::Producer<f32>,
    pub clock: Arc<CaptureClock>,
    /// Samples pushed so far.
    pushed: u64,
}

impl FeedWriter {
    /// A writer over `samples` recording into `clock`.
    pub(crate) fn new(samples: rtrb::Producer<f32>, clock: Arc<CaptureClock>) -> Self {
        Self {
            samples,
            clock,
            pushed: 0,
        }
    }

    /// Records `added` more samples pushed, the newest captured at `capture_ns`.
    pub fn record(&mut self, added: u64, capture_ns: u64) {
        if added > 0 {
            self.pushed += added;
            self.clock.record(self.pushed, capture_ns);
        }
    }

    /// Pushes what fits of `samples`, captured now; returns the rest.
    pub fn push_now<'a>(&mut self, samples: &'a [f32]) -> &'a [f32] {
        let (pushed, rest) = self.samples.push_partial_slice(samples);
        self.record(pushed.len() as u64, proto::monotonic_ns());
        rest
    }

    /// Whether the analysis side dropped the feed.
    pub fn is_abandoned(&self) -> bool {
        self.samples.is_abandoned()
    }
}

impl Feed {
    /// Whether the source that opened this feed is still the current one. A replaced source
    /// whose thread was stuck in a backend call may announce a feed after its successor did;
    /// the analysis ignores such a feed.
    pub fn is_current(&self) -> bool {
        self.current.load(Ordering::Acquire) == self.generation
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("rate", &self.rate)
            .field("generation", &self.generation)
            .finish()
    }
}

/// Lets a source open rings towards the analysis thread.
#[derive(Debug, Clone)]
pub struct FeedSender {
    tx: mpsc::Sender<Feed>,
    generation: u64,
    current: Arc<AtomicU64>,
}

impl FeedSender {
    /// A sender and the receiver the analysis thread polls.
    pub fn channel() -> (Self, mpsc::Receiver<Feed>) {
        let (tx, rx) = mpsc::channel();
        let sender = Self {
            tx,
            generation: 0,
            current: Arc::new(AtomicU64::new(0)),
        };
        (sender, rx)
    }

    /// A sender for a new source replacing the one(s) before: from now on only it can open
    /// feeds, and feeds the older ones opened are not current any more.
    pub fn next_generation(&self) -> Self {
        let generation = self.current.fetch_add(1, Ordering::AcqRel) + 1;
        Self {
            tx: self.tx.clone(),
            generation,
            current: self.current.clone(),
        }
    }

    /// Opens a new ring for samples at `rate` Hz and announces it; `None` when the analysis
    /// side is gone or this source was replaced (the source should then stop).
    pub fn open(&self, rate: u32) -> Option<FeedWriter> {
        if self.current.load(Ordering::Acquire) != self.generation {
            return None;
        }
        let capacity = ((f64::from(rate.max(1)) * RING_SECONDS) as usize).max(4096);
        let (producer, samples) = rtrb::RingBuffer::new(capacity);
        let clock = Arc::new(CaptureClock::default());
        let feed = Feed {
            samples,
            rate,
            clock: clock.clone(),
            generation: self.generation,
            current: self.current.clone(),
        };
        self.tx.send(feed).ok()?;
        Some(FeedWriter::new(producer, clock))
    }
}

/// A running source: its thread and the flag that stops it. Dropping it stops the thread
/// and waits (briefly) for it to finish.
#[derive(Debug)]
pub struct SourceHandle {
    /// Description of the source, for logs.
    name: String,
    /// Set to ask the thread to finish; every source loop checks it at least every 50 ms.
    stop: Arc<AtomicBool>,
    /// The source thread; `None` for sources without one (`None`).
    join: Option<JoinHandle<()>>,
}

impl SourceHandle {
    /// Starts `source`, delivering into rings opened through `feeds`, with no status board.
    pub fn start(source: &AudioSource, feeds: FeedSender) -> Result<Self, SourceError> {
        Self::start_reporting(source, feeds, StatusBoard::detached())
    }

    /// Starts `source`, delivering into rings opened through `feeds` and reporting what it
    /// does on `board`.
    pub fn start_reporting(
        source: &AudioSource,
        feeds: FeedSender,
        board: StatusBoard,
    ) -> Result<Self, SourceError> {
        use capture::Fallback;
        use devices::Target;
        let stop = Arc::new(AtomicBool::new(false));
        let name = describe(source);
        let flag = stop.clone();
        if !is_capture(source) {
            board.update(|s| {
                s.state = CaptureState::NotCapturing;
                s.source = name.clone();
                s.active_index = None;
                s.error = None;
            });
        }
        let capture = |target: Target, fallback: Fallback| -> Box<dyn FnOnce() + Send> {
            let (feeds, flag, board) = (feeds.clone(), flag.clone(), board.clone());
            Box::new(move || capture::run(&target, fallback, &feeds, &flag, &board))
        };
        let body: Box<dyn FnOnce() + Send> = match source.clone() {
            AudioSource::Default => capture(Target::Default, Fallback::Silence),
            AudioSource::Auto => capture(Target::Default, Fallback::Synth),
            AudioSource::Device(wanted) => capture(Target::Matching(wanted), Fallback::Silence),
            AudioSource::Chosen { index, name } => {
                capture(Target::Chosen { index, name }, Fallback::Silence)
            }
            AudioSource::None => {
                tracing::info!("audio source is none: publishing silence");
                return Ok(Self {
                    name,
                    stop,
                    join: None,
                });
            }
            AudioSource::Synth => Box::new(move || run_synth(&feeds, &flag)),
            AudioSource::File(path) => Box::new(move || file::run(&path, &feeds, &flag)),
            AudioSource::Stdin(format) => Box::new(move || stdin::run(format, &feeds, &flag)),
        };
        let join = std::thread::Builder::new()
            .name(format!("source-{}", thread_tag(source)))
            .spawn(body)
            .map_err(|source| SourceError::SpawnThread {
                name: name.clone(),
                source,
            })?;
        tracing::info!(source = %name, "audio source started");
        Ok(Self {
            name,
            stop,
            join: Some(join),
        })
    }

    /// Human-readable description of the source.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            if join_within(join, STOP_GRACE).is_err() {
                // Most likely inside an audio backend call (opening a stream waits for its
                // first data, up to 2 s); it stops on its own once that returns, and it can
                // no longer deliver audio (its feed generation is over).
                tracing::info!(source = %self.name, "the previous audio source is still finishing a backend call; it stops on its own");
            }
        }
    }
}

/// Joins `join` if it finishes within `grace`; otherwise gives it back.
pub(crate) fn join_within(join: JoinHandle<()>, grace: Duration) -> Result<(), JoinHandle<()>> {
    let deadline = Instant::now() + grace;
    while !join.is_finished() {
        if Instant::now() >= deadline {
            return Err(join);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // In the stage a panicking thread aborts the process (the panic hook installed by
    // `proto::stage::bootstrap`), so there is nothing to report.
    let _ = join.join();
    Ok(())
}

/// Describes a source for logs.
pub fn describe(source: &AudioSource) -> String {
    match source {
        AudioSource::Default => "default capture device".into(),
        AudioSource::Auto => "default capture device, else the synth".into(),
        AudioSource::Device(name) => format!("capture device {name:?}"),
        AudioSource::Chosen { index, name } => format!("capture device #{index} {name:?}"),
        AudioSource::File(path) => format!("file {path:?}"),
        AudioSource::Stdin(f) => {
            format!("stdin ({:?}, {} Hz, {} ch)", f.encoding, f.rate, f.channels)
        }
        AudioSource::Synth => "synth (120 BPM)".into(),
        AudioSource::None => "none".into(),
    }
}

fn thread_tag(source: &AudioSource) -> &'static str {
    match source {
        AudioSource::Default
        | AudioSource::Auto
        | AudioSource::Device(_)
        | AudioSource::Chosen { .. } => "capture",
        AudioSource::File(_) => "file",
        AudioSource::Stdin(_) => "stdin",
        AudioSource::Synth => "synth",
        AudioSource::None => "none",
    }
}

/// Whether `source` captures from a device.
fn is_capture(source: &AudioSource) -> bool {
    matches!(
        source,
        AudioSource::Default
            | AudioSource::Auto
            | AudioSource::Device(_)
            | AudioSource::Chosen { .. }
    )
}

/// Runs the synth in real time until `stop`.
pub(crate) fn run_synth(feeds: &FeedSender, stop: &AtomicBool) {
    let mut synth = Synth::new();
    run_paced(SYNTH_RATE, |out| synth.fill(out), feeds, stop);
}

/// Delivers samples from `generate` at `rate` Hz in real time until `stop` or until the
/// analysis side goes away. `generate` fills the slice it is given.
pub(crate) fn run_paced(
    rate: u32,
    mut generate: impl FnMut(&mut [f32]),
    feeds: &FeedSender,
    stop: &AtomicBool,
) {
    let Some(mut writer) = feeds.open(rate) else {
        return;
    };
    let rate_f = f64::from(rate);
    let chunk = (rate as usize / 50).max(64);
    let mut buf = vec![0.0f32; chunk];
    let mut start = Instant::now();
    let mut sent: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        if writer.is_abandoned() {
            return;
        }
        let due = (start.elapsed().as_secs_f64() * rate_f) as u64;
        if due > sent + rate as u64 {
            // More than a second behind (the machine was suspended or starved): start the
            // clock afresh instead of bursting a backlog into the analysis.
            start = Instant::now();
            sent = 0;
            continue;
        }
        while sent < due {
            let n = ((due - sent) as usize).min(chunk);
            generate(&mut buf[..n]);
            // A full ring means the analysis is stalled; dropping is right for live audio.
            let _ = writer.push_now(&buf[..n]);
            sent += n as u64;
        }
        std::thread::sleep(PACE_TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_for(rx: &mpsc::Receiver<Feed>, want: usize, limit: Duration) -> (u32, Vec<f32>) {
        let feed = rx.recv_timeout(limit).expect("the source opened a feed");
        let mut consumer = feed.samples;
        let mut got = Vec::new();
        let deadline = Instant::now() + limit;
        while got.len() < want && Instant::now() < deadline {
            while let Ok(s) = consumer.pop() {
                got.push(s);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (feed.rate, got)
    }

    #[test]
    fn the_synth_source_delivers_the_synth_in_real_time() {
        let (feeds, rx) = FeedSender::channel();
        let handle = SourceHandle::start(&AudioSource::Synth, feeds).unwrap();
        let (rate, got) = drain_for(&rx, 4410, Duration::from_secs(10));
        assert_eq!(rate, SYNTH_RATE);
        assert!(got.len() >= 4410, "only {} samples", got.len());
        let expected: Vec<f32> = (0..got.len() as u64).map(Synth::sample_at).collect();
        assert_eq!(got, expected);
        drop(handle);
    }

    #[test]
    fn a_replaced_source_can_open_no_feed_and_its_old_feeds_are_not_current() {
        let (first, rx) = FeedSender::channel();
        let _old_ring = first.open(44_100).unwrap();
        let old = rx.try_recv().unwrap();
        assert!(old.is_current());
        let second = first.next_generation();
        assert!(!old.is_current());
        assert!(
            first.open(44_100).is_none(),
            "the replaced source is refused"
        );
        let _new_ring = second.open(48_000).unwrap();
        assert!(rx.try_recv().unwrap().is_current());
    }

    #[test]
    fn none_has_no_thread_and_no_feed() {
        let (feeds, rx) = FeedSender::channel();
        let handle = SourceHandle::start(&AudioSource::None, feeds).unwrap();
        assert!(handle.join.is_none());
        drop(handle);
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }

    #[test]
    fn dropping_a_source_stops_its_thread() {
        let (feeds, rx) = FeedSender::channel();
        let handle = SourceHandle::start(&AudioSource::Synth, feeds).unwrap();
        let feed = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        drop(handle);
        // The producer end is dropped with the thread (poll: the join has a grace period).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !feed.samples.is_abandoned() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(feed.samples.is_abandoned());
    }
}

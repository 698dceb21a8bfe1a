//! The running audio stage: one source thread feeding one analysis thread, which publishes a
//! frame per hop through a [`FrameSink`] (shared memory in the real stage, a channel in tests).
//!
//! [`AudioPipeline`] owns both threads through handles whose `Drop` stops and joins them, and
//! applies new [`AudioSpec`]s by diffing: the source is rebuilt only when `source` changed,
//! the analysis only when one of its parameters changed, and a new `delay_ms` only resizes the
//! delay line.
//!
//! The analysis thread is the loop whose progress matters, so it is the one that beats the
//! heartbeat: after every published frame, and at least every 50 ms while no audio arrives. A
//! stalled capture therefore looks alive (and the thread publishes silent frames at 60 Hz on
//! its own clock, so consumers see fresh frames); a hung analysis thread stops the heartbeat
//! and gets the stage restarted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proto::audio::AudioFrame;
use proto::layout::Segment;
use proto::pipeline::AudioSpec;
use proto::stage::StageKind;

use crate::analysis::{delay_hops, AnalysisError, AnalysisParams, Analyzer, HOP};
use crate::melbank::ANALYSIS_RATE;
use crate::resample::HopStream;
use crate::source::devices::DeviceWatcher;
use crate::source::{join_within, Feed, FeedSender, SourceError, SourceHandle};
use crate::status::StatusBoard;
use crate::sync::AudioSync;

/// Longest the analysis thread sleeps between two looks at its input.
const TICK: Duration = Duration::from_millis(5);
/// Duration of one hop (1/60 s).
const HOP_PERIOD: Duration =
    Duration::from_nanos(1_000_000_000 * HOP as u64 / ANALYSIS_RATE as u64);
/// A source that delivered nothing for this long counts as stalled: publish silence.
const STALL_AFTER: Duration = Duration::from_millis(250);
/// Heartbeat interval while nothing is published (the supervisor wants ≤ 100 ms).
const IDLE_BEAT: Duration = Duration::from_millis(50);
/// Most samples taken from the ring in one go, so commands are looked at regularly.
const MAX_CHUNK: usize = 8192;
/// How often the sync counters are copied to the status board.
const SYNC_REPORT_EVERY: Duration = Duration::from_secs(1);
/// How long dropping the pipeline waits for the analysis thread (it looks at its stop flag
/// every [`TICK`], so this is only reached if it is stuck).
const STOP_GRACE: Duration = Duration::from_millis(150);

/// Errors starting or reconfiguring the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("invalid audio settings: {0}")]
    Validate(#[from] AnalysisError),
    #[error("starting audio source: {0}")]
    StartSource(#[from] SourceError),
    #[error("spawning the analysis thread: {0}")]
    SpawnAnalysis(std::io::Error),
    #[error("spawning the device watcher thread: {0}")]
    SpawnWatcher(std::io::Error),
}

impl PipelineError {
    /// Whether the error is the configuration's fault (as opposed to the machine's).
    pub fn is_bad_config(&self) -> bool {
        matches!(self, PipelineError::Validate(_))
    }
}

/// Where analysis frames go.
pub trait FrameSink: Send + 'static {
    /// Publishes one frame.
    fn publish(&mut self, frame: &AudioFrame);
    /// Records progress of the analysis loop (the stage heartbeat).
    fn beat(&mut self);
}

/// The real sink: the audio slot and the audio heartbeat of the shared segment.
#[derive(Debug)]
pub struct ShmSink {
    segment: Segment,
}

impl ShmSink {
    /// A sink writing into `segment` (typically `link.segment.duplicate()`).
    pub fn new(segment: Segment) -> Self {
        Self { segment }
    }
}

impl FrameSink for ShmSink {
    fn publish(&mut self, frame: &AudioFrame) {
        self.segment
            .audio_slot()
            .publish(frame.as_bytes(), proto::monotonic_ns());
    }

    fn beat(&mut self) {
        self.segment.heartbeat(StageKind::Audio).beat();
    }
}

/// Counters of the analysis thread, readable from anywhere.
#[derive(Debug, Default)]
pub struct Stats {
    /// Frames published.
    pub frames: AtomicU64,
    /// Of those, frames published because no audio arrived.
    pub silent_frames: AtomicU64,
    /// Samples taken from source rings.
    pub samples_in: AtomicU64,
    /// Rings (feeds) the sources opened.
    pub feeds: AtomicU64,
}

/// What [`AudioPipeline::apply`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    pub source_rebuilt: bool,
    pub analysis_rebuilt: bool,
    pub delay_changed: bool,
    pub sync_changed: bool,
}

/// A running source + analysis.
#[derive(Debug)]
pub struct AudioPipeline {
    spec: AudioSpec,
    /// Declared before `analysis` so it is dropped (stopped) first. `None` only while being
    /// replaced.
    source: Option<SourceHandle>,
    feeds: FeedSender,
    analysis: AnalysisHandle,
    /// Where the source reports; the watcher keeps its device list current.
    board: StatusBoard,
    _watcher: Option<DeviceWatcher>,
}

impl AudioPipeline {
    /// Validates `spec`, starts the analysis thread (publishing into `sink`) and the source,
    /// with no status reporting (tests and tools).
    pub fn start(spec: &AudioSpec, sink: Box<dyn FrameSink>) -> Result<Self, PipelineError> {
        Self::start_inner(spec, sink, StatusBoard::detached(), false)
    }

    /// Like [`start`](Self::start), and reports the device list and capture state on `board`,
    /// keeping the list current with a [`DeviceWatcher`] (the real stage).
    pub fn start_reporting(
        spec: &AudioSpec,
        sink: Box<dyn FrameSink>,
        board: StatusBoard,
    ) -> Result<Self, PipelineError> {
        Self::start_inner(spec, sink, board, true)
    }

    fn start_inner(
        spec: &AudioSpec,
        sink: Box<dyn FrameSink>,
        board: StatusBoard,
        watch_devices: bool,
    ) -> Result<Self, PipelineError> {
        let params = AnalysisParams::from_spec(spec)?;
        let delay = delay_hops(spec.delay_ms)?;
        let analyzer = Box::new(Analyzer::new(&params)?);
        let (feeds, feed_rx) = FeedSender::channel();
        let sync = open_sync(spec.sync_to.as_deref(), &board);
        let analysis = AnalysisHandle::spawn(analyzer, delay, sink, feed_rx, sync, board.clone())?;
        let source = SourceHandle::start_reporting(&spec.source, feeds.clone(), board.clone())?;
        let watcher = watch_devices
            .then(|| DeviceWatcher::spawn(board.clone()))
            .transpose()
            .map_err(PipelineError::SpawnWatcher)?;
        Ok(Self {
            spec: spec.clone(),
            source: Some(source),
            feeds,
            analysis,
            board,
            _watcher: watcher,
        })
    }

    /// Moves to `spec`, rebuilding only what changed. On error nothing was changed.
    pub fn apply(&mut self, spec: &AudioSpec) -> Result<Applied, PipelineError> {
        let params = AnalysisParams::from_spec(spec)?;
        let delay = delay_hops(spec.delay_ms)?;
        let mut applied = Applied::default();
        if params != AnalysisParams::from_spec(&self.spec)? {
            let analyzer = Box::new(Analyzer::new(&params)?);
            self.analysis.send(Command::Replace(analyzer));
            applied.analysis_rebuilt = true;
        }
        if spec.delay_ms != self.spec.delay_ms {
            self.analysis.send(Command::SetDelay(delay));
            applied.delay_changed = true;
        }
        if spec.sync_to != self.spec.sync_to {
            let sync = open_sync(spec.sync_to.as_deref(), &self.board);
            self.analysis.send(Command::SetSync(sync));
            applied.sync_changed = true;
        }
        if spec.source != self.spec.source {
            // Stop the old source before the new one opens the same device.
            self.source = None;
            self.source = Some(SourceHandle::start_reporting(
                &spec.source,
                self.feeds.next_generation(),
                self.board.clone(),
            )?);
            applied.source_rebuilt = true;
        }
        self.spec = spec.clone();
        if applied != Applied::default() {
            let source = self.source.as_ref().map_or("none", |s| s.name());
            tracing::info!(?applied, source, "audio settings applied");
        }
        Ok(applied)
    }

    /// The settings currently applied.
    pub fn spec(&self) -> &AudioSpec {
        &self.spec
    }

    /// Counters of the analysis thread.
    pub fn stats(&self) -> &Stats {
        &self.analysis.stats
    }
}

/// The WLED Audio Sync sender for `target`, if it is set and can be set up; the outcome goes
/// to the board (a bad target is reported, not fatal: the analysis runs on without it).
fn open_sync(target: Option<&str>, board: &StatusBoard) -> Option<Box<AudioSync>> {
    let result = target.map(|t| {
        t.parse::<std::net::SocketAddr>()
            .map_err(|e| format!("{t:?} is not an ip:port address ({e})"))
            .and_then(|addr| {
                AudioSync::new(addr).map_err(|e| format!("opening a socket for {addr}: {e}"))
            })
    });
    let (sync, error) = match result {
        None => (None, None),
        Some(Ok(sync)) => {
            tracing::info!(target = %sync.target(), "sending WLED Audio Sync packets");
            (Some(Box::new(sync)), None)
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "WLED Audio Sync is on but cannot send");
            (None, Some(e))
        }
    };
    board.update(|s| {
        s.sync_to = target.map(str::to_owned);
        s.sync_error = error;
    });
    sync
}

/// Commands to the analysis thread.
enum Command {
    /// Use this analysis from now on (new melbank settings).
    Replace(Box<Analyzer>),
    /// Delay the analysis by this many hops.
    SetDelay(usize),
    /// Send WLED Audio Sync packets with this sender from now on (`None`: stop).
    SetSync(Option<Box<AudioSync>>),
}

/// The analysis thread. Dropping it stops and joins the thread.
#[derive(Debug)]
struct AnalysisHandle {
    /// Settings changes for the thread, applied between hops.
    cmd_tx: mpsc::Sender<Command>,
    /// Set to ask the thread to finish; it looks at least every [`TICK`].
    stop: Arc<AtomicBool>,
    /// Counters the thread updates.
    stats: Arc<Stats>,
    /// The thread; taken when joined.
    join: Option<JoinHandle<()>>,
}

impl AnalysisHandle {
    fn spawn(
        analyzer: Box<Analyzer>,
        delay: usize,
        sink: Box<dyn FrameSink>,
        feeds: mpsc::Receiver<Feed>,
        sync: Option<Box<AudioSync>>,
        board: StatusBoard,
    ) -> Result<Self, PipelineError> {
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let runner = Runner {
            core: Core {
                analyzer,
                delay: DelayLine::new(delay),
                sink,
                stats: stats.clone(),
                last_beat: Instant::now(),
                sync,
            },
            board,
            commands: cmd_rx,
            feeds,
            stop: stop.clone(),
        };
        let join = std::thread::Builder::new()
            .name("analysis".into())
            .spawn(move || runner.run())
            .map_err(PipelineError::SpawnAnalysis)?;
        Ok(Self {
            cmd_tx,
            stop,
            stats,
            join: Some(join),
        })
    }

    fn send(&self, cmd: Command) {
        // The thread only ends when we stop it (or the process aborts), so a failed send
        // cannot happen while `self` lives.
        let _ = self.cmd_tx.send(cmd);
    }
}

impl Drop for AnalysisHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            if join_within(join, STOP_GRACE).is_err() {
                tracing::warn!("analysis thread did not stop in time; leaving it behind");
            }
        }
    }
}

/// LedFx's analysis delay: hops wait in a FIFO of `k` before being analysed.
#[derive(Debug)]
struct DelayLine {
    k: usize,
    /// Hops with their capture times.
    queue: VecDeque<([f32; HOP], u64)>,
}

impl DelayLine {
    fn new(k: usize) -> Self {
        Self {
            k,
            queue: VecDeque::with_capacity(k + 1),
        }
    }

    /// Pushes a hop captured at `capture_ns`; returns the hop that is now due, if any.
    fn push(&mut self, hop: &[f32; HOP], capture_ns: u64) -> Option<([f32; HOP], u64)> {
        if self.k == 0 {
            return Some((*hop, capture_ns));
        }
        self.queue.push_back((*hop, capture_ns));
        (self.queue.len() > self.k)
            .then(|| self.queue.pop_front())
            .flatten()
    }

    /// Changes the delay, keeping the newest hops already queued.
    fn resize(&mut self, k: usize) {
        self.k = k;
        while self.queue.len() > k {
            self.queue.pop_front();
        }
    }
}

/// The part of the analysis thread that turns hops into published frames.
struct Core {
    analyzer: Box<Analyzer>,
    delay: DelayLine,
    sink: Box<dyn FrameSink>,
    stats: Arc<Stats>,
    last_beat: Instant,
    /// The WLED Audio Sync sender, when that is on.
    sync: Option<Box<AudioSync>>,
}

impl Core {
    /// Analyses a hop whose last sample was captured at `capture_ns` (0: silence made up
    /// while no audio arrives).
    fn on_hop(&mut self, hop: &[f32; HOP], capture_ns: u64) {
        if let Some((due, captured)) = self.delay.push(hop, capture_ns) {
            let frame = self.analyzer.process_captured(&due, captured);
            self.sink.publish(frame);
            if let Some(sync) = self.sync.as_mut() {
                sync.on_frame(frame);
            }
            self.sink.beat();
            self.last_beat = Instant::now();
            self.stats.frames.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The analysis thread's state.
struct Runner {
    /// Hop → frame → sink.
    core: Core,
    /// Where the sync counters go (once a second).
    board: StatusBoard,
    /// Settings changes from [`AudioPipeline::apply`].
    commands: mpsc::Receiver<Command>,
    /// New rings announced by the sources.
    feeds: mpsc::Receiver<Feed>,
    /// Set by [`AnalysisHandle`]'s drop.
    stop: Arc<AtomicBool>,
}

impl Runner {
    fn run(mut self) {
        // The current feed and the samples taken from it so far.
        let mut feed: Option<(Feed, u64)> = None;
        let mut input = HopStream::new(ANALYSIS_RATE);
        let mut last_input = Instant::now();
        let mut next_silent: Option<Instant> = None;
        let mut next_report = Instant::now();
        let silence = [0.0f32; HOP];
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            match self.commands.recv_timeout(TICK) {
                Ok(cmd) => self.apply(cmd),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(cmd) = self.commands.try_recv() {
                self.apply(cmd);
            }
            while let Ok(new) = self.feeds.try_recv() {
                if !new.is_current() {
                    continue;
                }
                input.set_rate(new.rate);
                input.clear();
                feed = Some((new, 0));
                last_input = Instant::now();
                self.core.stats.feeds.fetch_add(1, Ordering::Relaxed);
            }

            let mut got = 0;
            if let Some((current, consumed)) = feed.as_mut() {
                loop {
                    let n = current.samples.slots().min(MAX_CHUNK);
                    let Ok(chunk) = current.samples.read_chunk(n) else {
                        break;
                    };
                    if n == 0 {
                        break;
                    }
                    let (a, b) = chunk.as_slices();
                    let core = &mut self.core;
                    // Each hop's capture time: that of its newest input sample, worked back
                    // from the source's newest delivery.
                    let (clock, rate) = (&current.clock, current.rate);
                    for part in [a, b] {
                        let base = *consumed;
                        input.push_counted(part, |hop, needed| {
                            let index = base + needed as u64 - 1;
                            core.on_hop(hop, clock.time_of(index, rate).unwrap_or(0));
                        });
                        *consumed += part.len() as u64;
                    }
                    chunk.commit_all();
                    got += n;
                    if n < MAX_CHUNK {
                        break;
                    }
                }
                if current.samples.is_abandoned() && current.samples.is_empty() {
                    feed = None;
                }
            }

            let now = Instant::now();
            if got > 0 {
                self.core
                    .stats
                    .samples_in
                    .fetch_add(got as u64, Ordering::Relaxed);
                last_input = now;
                next_silent = None;
            } else if feed.is_none() || now.duration_since(last_input) >= STALL_AFTER {
                // No audio: keep consumers fed with silent frames at the hop rate.
                let next = next_silent.get_or_insert(now);
                let mut caught_up = 0;
                while *next <= now && caught_up < 10 {
                    self.core
                        .stats
                        .silent_frames
                        .fetch_add(1, Ordering::Relaxed);
                    self.core.on_hop(&silence, 0);
                    *next += HOP_PERIOD;
                    caught_up += 1;
                }
                if *next <= now {
                    // Far behind (the thread was starved): resynchronise instead of bursting.
                    *next = now + HOP_PERIOD;
                }
            }
            if now >= next_report {
                next_report = now + SYNC_REPORT_EVERY;
                if let Some(sync) = &self.core.sync {
                    let c = sync.counters;
                    self.board.update(|s| {
                        s.sync_packets = c.packets_sent;
                        s.sync_errors = c.send_errors;
                    });
                }
            }
            if now.duration_since(self.core.last_beat) >= IDLE_BEAT {
                self.core.sink.beat();
                self.core.last_beat = now;
            }
        }
    }

    fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::Replace(analyzer) => self.core.analyzer = analyzer,
            Command::SetDelay(k) => self.core.delay.resize(k),
            Command::SetSync(sync) => self.core.sync = sync,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::pipeline::AudioSource;

    /// A sink that forwards frames to the test and counts beats.
    struct ChannelSink {
        tx: mpsc::Sender<AudioFrame>,
        beats: Arc<AtomicU64>,
    }

    impl FrameSink for ChannelSink {
        fn publish(&mut self, frame: &AudioFrame) {
            let _ = self.tx.send(*frame);
        }
        fn beat(&mut self) {
            self.beats.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn start(spec: &AudioSpec) -> (AudioPipeline, mpsc::Receiver<AudioFrame>, Arc<AtomicU64>) {
        let (tx, rx) = mpsc::channel();
        let beats = Arc::new(AtomicU64::new(0));
        let sink = ChannelSink {
            tx,
            beats: beats.clone(),
        };
        let p = AudioPipeline::start(spec, Box::new(sink)).unwrap();
        (p, rx, beats)
    }

    /// Waits (up to a generous deadline) for a frame satisfying `pred`.
    fn wait_for(rx: &mpsc::Receiver<AudioFrame>, pred: impl Fn(&AudioFrame) -> bool) -> AudioFrame {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(f) = rx.recv_timeout(Duration::from_millis(100)) {
                if pred(&f) {
                    return f;
                }
            }
        }
        panic!("no matching frame before the deadline");
    }

    #[test]
    fn synth_pipeline_publishes_loud_frames_with_volume_beats() {
        let (p, rx, beats) = start(&AudioSpec::default());
        let f = wait_for(&rx, |f| f.volume_beat == 1);
        assert!(f.volume > 0.2);
        assert!(f.melbank(0, false).iter().any(|&v| v > 0.5));
        assert!(beats.load(Ordering::Relaxed) > 0);
        assert!(p.stats().samples_in.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn frames_carry_the_capture_time_of_their_audio() {
        let (_p, rx, _) = start(&AudioSpec::default());
        let mut last = 0;
        for _ in 0..30 {
            let f = wait_for(&rx, |_| true);
            let now = proto::monotonic_ns();
            if f.capture_ns == 0 {
                continue; // silence published before the synth's first delivery
            }
            assert!(f.capture_ns <= now, "captured in the future");
            assert!(now - f.capture_ns < 5_000_000_000, "captured long ago");
            assert!(f.capture_ns > last, "capture times go forwards");
            last = f.capture_ns;
        }
        assert!(last > 0, "no frame had a capture time");
    }

    #[test]
    fn none_publishes_silent_frames_and_beats() {
        let spec = AudioSpec {
            source: AudioSource::None,
            ..AudioSpec::default()
        };
        let (p, rx, beats) = start(&spec);
        for _ in 0..10 {
            let f = wait_for(&rx, |_| true);
            assert_eq!(f.volume, 0.0);
            assert_eq!(f.capture_ns, 0, "made-up silence has no capture time");
            assert!(f.mel.iter().flatten().all(|&v| v == 0.0));
        }
        // The beat follows the publish, so the tenth may still be on its way.
        assert!(beats.load(Ordering::Relaxed) >= 9);
        assert!(p.stats().silent_frames.load(Ordering::Relaxed) >= 10);
    }

    #[test]
    fn apply_rebuilds_only_what_changed() {
        let spec = AudioSpec {
            source: AudioSource::None,
            ..AudioSpec::default()
        };
        let (mut p, rx, _) = start(&spec);
        assert_eq!(p.apply(&spec).unwrap(), Applied::default());

        let delayed = AudioSpec {
            delay_ms: 100,
            ..spec.clone()
        };
        let applied = p.apply(&delayed).unwrap();
        assert_eq!(
            applied,
            Applied {
                delay_changed: true,
                ..Applied::default()
            }
        );

        let more_bins = AudioSpec {
            mel_samples: 32,
            ..delayed.clone()
        };
        assert!(p.apply(&more_bins).unwrap().analysis_rebuilt);
        wait_for(&rx, |f| f.mel_samples == 32);

        let synth = AudioSpec {
            source: AudioSource::Synth,
            ..more_bins.clone()
        };
        let applied = p.apply(&synth).unwrap();
        assert!(applied.source_rebuilt && !applied.analysis_rebuilt);
        wait_for(&rx, |f| f.volume > 0.2 && f.mel_samples == 32);

        let invalid = AudioSpec {
            mel_samples: 0,
            ..synth.clone()
        };
        let err = p.apply(&invalid).unwrap_err();
        assert!(err.is_bad_config());
        assert_eq!(p.spec(), &synth, "a rejected spec changes nothing");
    }

    #[test]
    fn invalid_settings_fail_to_start_as_bad_config() {
        let spec = AudioSpec {
            delay_ms: 6000,
            ..AudioSpec::default()
        };
        let (tx, _rx) = mpsc::channel();
        let sink = ChannelSink {
            tx,
            beats: Arc::new(AtomicU64::new(0)),
        };
        let err = AudioPipeline::start(&spec, Box::new(sink)).unwrap_err();
        assert!(err.is_bad_config(), "{err}");
    }

    #[test]
    fn delay_line_delays_by_whole_hops() {
        let mut d = DelayLine::new(2);
        let hop = |v: f32| [v; HOP];
        assert!(d.push(&hop(1.0), 10).is_none());
        assert!(d.push(&hop(2.0), 20).is_none());
        assert_eq!(
            d.push(&hop(3.0), 30).map(|(h, t)| (h[0], t)),
            Some((1.0, 10))
        );
        d.resize(0);
        assert_eq!(
            d.push(&hop(4.0), 40).map(|(h, t)| (h[0], t)),
            Some((4.0, 40))
        );
    }
}

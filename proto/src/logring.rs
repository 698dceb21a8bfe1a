//! The log ring: the most recent log records of every ledfx-rs process, in shared memory,
//! for LedFx's log WebSocket (`GET /api/log`, ledfx-api.md §5.1).
//!
//! Each process installs [`RingLayer`] beside its normal log output; it writes every INFO
//! or higher record, as compact JSON ([`LogLine`]), into the next of [`LOG_ENTRIES`] entries.
//! Writers never wait: the record number comes from one `fetch_add`, and each entry is a
//! seqlock tagged with its record number, so a reader can tell a record from one that
//! overwrote it, or from one half written when its writer was killed. api-proc reads.

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

use crate::layout::Segment;

/// Records the ring holds.
pub const LOG_ENTRIES: usize = 256;
/// Words per entry: a sequence word, a length word, then the record's bytes.
pub const LOG_ENTRY_WORDS: usize = 64;
/// Largest record, in bytes.
pub const MAX_RECORD_BYTES: usize = (LOG_ENTRY_WORDS - 2) * 8;

/// One log record as it travels through the ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// The tracing target (`supervisor::owner`, …).
    pub target: String,
    /// `INFO`, `WARN` or `ERROR`.
    pub level: String,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Seconds since the Unix epoch.
    pub created: f64,
    /// The process: `ledfx-rs` or a stage name.
    pub process: String,
    pub pid: u32,
}

/// The ring in a mapped segment.
#[derive(Debug, Clone, Copy)]
pub struct LogRing<'a> {
    head: &'a AtomicU64,
    entries: &'a [AtomicU64],
}

impl<'a> LogRing<'a> {
    /// The ring over `head` (records ever pushed) and `entries` (`LOG_ENTRIES` entries).
    pub fn new(head: &'a AtomicU64, entries: &'a [AtomicU64]) -> Self {
        debug_assert_eq!(entries.len(), LOG_ENTRIES * LOG_ENTRY_WORDS);
        Self { head, entries }
    }

    fn entry(&self, n: u64) -> &'a [AtomicU64] {
        let index = (n % LOG_ENTRIES as u64) as usize * LOG_ENTRY_WORDS;
        &self.entries[index..index + LOG_ENTRY_WORDS]
    }

    /// Records pushed so far (the next record's number).
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Appends a record (cut to [`MAX_RECORD_BYTES`]).
    pub fn push(&self, record: &[u8]) {
        let n = self.head.fetch_add(1, Ordering::AcqRel);
        let entry = self.entry(n);
        entry[0].store(2 * n + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let record = &record[..record.len().min(MAX_RECORD_BYTES)];
        entry[1].store(record.len() as u64, Ordering::Relaxed);
        for (word, chunk) in entry[2..].iter().zip(record.chunks(8)) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        entry[0].store(2 * n + 2, Ordering::Release);
    }

    /// Record `n`, if it is complete and not yet overwritten.
    pub fn read(&self, n: u64) -> Option<Vec<u8>> {
        let entry = self.entry(n);
        if entry[0].load(Ordering::Acquire) != 2 * n + 2 {
            return None;
        }
        let len = (entry[1].load(Ordering::Relaxed) as usize).min(MAX_RECORD_BYTES);
        let mut out = Vec::with_capacity(len);
        for word in &entry[2..] {
            out.extend_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        out.truncate(len);
        fence(Ordering::Acquire);
        (entry[0].load(Ordering::Relaxed) == 2 * n + 2).then_some(out)
    }
}

/// Where this process's [`RingLayer`] writes, once [`log_to`] was called.
static RING: OnceLock<(Segment, String)> = OnceLock::new();

/// Starts copying this process's INFO+ records into `segment`'s ring, named `process`.
pub fn log_to(segment: Segment, process: &str) {
    let _ = RING.set((segment, process.to_owned()));
}

/// A tracing layer that copies records into the ring (until [`log_to`], it does nothing).
#[derive(Debug, Default)]
pub struct RingLayer;

/// Collects an event's message and its other fields as `key=value`.
#[derive(Default)]
struct Text(String, Vec<String>);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.1.push(format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        } else {
            self.1.push(format!("{}={value}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > Level::INFO {
            return;
        }
        let Some((segment, process)) = RING.get() else {
            return;
        };
        let mut text = Text::default();
        event.record(&mut text);
        let mut message = text.0;
        for field in text.1 {
            message.push(' ');
            message.push_str(&field);
        }
        let mut line = LogLine {
            target: meta.target().to_owned(),
            level: meta.level().to_string(),
            message,
            file: meta.file().map(str::to_owned),
            line: meta.line(),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default(),
            process: process.clone(),
            pid: std::process::id(),
        };
        let mut json = serde_json::to_vec(&line).unwrap_or_default();
        if json.len() > MAX_RECORD_BYTES {
            // Keep the record whole JSON: shorten the message (on a character boundary).
            let excess = json.len() - MAX_RECORD_BYTES + 3;
            let keep = line.message.len().saturating_sub(excess);
            let cut = (0..=keep)
                .rev()
                .find(|i| line.message.is_char_boundary(*i))
                .unwrap_or(0);
            line.message.truncate(cut);
            line.message.push('…');
            json = serde_json::to_vec(&line).unwrap_or_default();
        }
        segment.log_ring().push(&json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_back_until_overwritten() {
        let segment = Segment::create().unwrap();
        let ring = segment.log_ring();
        assert_eq!(ring.head(), 0);
        assert_eq!(ring.read(0), None);
        ring.push(b"first");
        ring.push(&[b'x'; 1000]);
        assert_eq!(ring.read(0).as_deref(), Some(&b"first"[..]));
        assert_eq!(ring.read(1).map(|r| r.len()), Some(MAX_RECORD_BYTES));
        for n in 2..=LOG_ENTRIES as u64 {
            ring.push(format!("{n}").as_bytes());
        }
        assert_eq!(ring.read(0), None, "overwritten by record {LOG_ENTRIES}");
        assert_eq!(
            ring.read(LOG_ENTRIES as u64).as_deref(),
            Some(format!("{LOG_ENTRIES}").as_bytes())
        );
        let other = segment.duplicate().unwrap();
        assert_eq!(other.log_ring().head(), LOG_ENTRIES as u64 + 1);
    }
}

//! `GET /api/log`, LedFx's log WebSocket (ledfx-api.md §5.1): the INFO+ records of every
//! ledfx-rs process, from the log ring in shared memory (`proto::logring`), as JSON objects
//! shaped like Python log records.
//!
//! Only one log socket exists at a time: a new one (or a plain GET) ends the previous one. A
//! new socket first gets the ring's last [`REPLAY`] records, then every new one. Records of
//! the log endpoints themselves (and frontend lines) are left out, as in LedFx.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::SinkExt;
use proto::layout::Segment;
use proto::logring::{LogLine, LOG_ENTRIES};
use serde_json::{json, Value};

/// Records sent to a new socket from before it connected.
pub const REPLAY: u64 = 100;
/// How often the ring is looked at.
const POLL: Duration = Duration::from_millis(100);
/// Targets whose records are not streamed.
const EXCLUDED: [&str; 3] = ["api_proc::routes::log", "api_proc::ws::log", "frontend"];

/// The log ring and the one socket allowed to stream it.
#[derive(Debug, Clone, Default)]
pub struct LogStreams {
    /// `None` in tests without shared memory: the route then has nothing to stream.
    pub segment: Option<Arc<Segment>>,
    /// Bumped by every new `GET /api/log`; a socket whose number is no longer current ends.
    session: Arc<AtomicU64>,
}

impl LogStreams {
    pub fn new(segment: Option<Arc<Segment>>) -> Self {
        Self {
            segment,
            session: Arc::default(),
        }
    }

    /// Ends the current socket; returns the new session's number.
    pub fn take_over(&self) -> u64 {
        self.session.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn current(&self) -> u64 {
        self.session.load(Ordering::Acquire)
    }
}

/// `2026-12-03 14:05:09,123` (UTC) for a Unix time in seconds.
fn asctime(created: f64) -> String {
    let whole = created.floor();
    let millis = ((created - whole) * 1000.0) as u32;
    match time::OffsetDateTime::from_unix_timestamp(whole as i64) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{millis:03}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => String::new(),
    }
}

/// A record as LedFx's log socket sends it (the attributes of a Python `LogRecord`).
pub fn ledfx_record(line: &LogLine) -> Value {
    let (levelname, levelno) = match line.level.as_str() {
        "ERROR" => ("ERROR", 40),
        "WARN" => ("WARNING", 30),
        _ => ("INFO", 20),
    };
    let filename = line
        .file
        .as_deref()
        .map(|f| f.rsplit('/').next().unwrap_or(f).to_owned());
    let module = filename
        .as_deref()
        .map(|f| f.strip_suffix(".rs").unwrap_or(f).to_owned());
    json!({
        "name": line.target.replace("::", "."),
        "levelname": levelname,
        "levelno": levelno,
        "msg": line.message,
        "message": line.message,
        "args": null,
        "pathname": line.file,
        "filename": filename,
        "module": module,
        "funcName": null,
        "lineno": line.line,
        "created": line.created,
        "msecs": (line.created.fract() * 1000.0).floor(),
        "relativeCreated": null,
        "thread": null,
        "threadName": null,
        "processName": line.process,
        "process": line.pid,
        "exc_info": null,
        "exc_text": null,
        "stack_info": null,
        "asctime": asctime(line.created),
    })
}

/// Streams the ring to `socket` until the client leaves, sends a frame that is not JSON, or
/// another log socket takes over.
pub async fn serve(mut socket: WebSocket, streams: LogStreams, session: u64) {
    let Some(segment) = streams.segment.clone() else {
        let _ = socket.send(Message::Close(None)).await;
        return;
    };
    let mut next = segment.log_ring().head().saturating_sub(REPLAY);
    loop {
        if streams.current() != session {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        let ring = segment.log_ring();
        let head = ring.head();
        next = next.max(head.saturating_sub(LOG_ENTRIES as u64));
        while next < head {
            let Some(bytes) = ring.read(next) else {
                // The newest record may still be being written: look again next time.
                if next + 1 == head {
                    break;
                }
                next += 1;
                continue;
            };
            next += 1;
            let Ok(line) = serde_json::from_slice::<LogLine>(&bytes) else {
                continue;
            };
            if EXCLUDED.iter().any(|t| line.target.starts_with(t)) {
                continue;
            }
            let text = ledfx_record(&line).to_string();
            if socket.feed(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        if socket.flush().await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) if serde_json::from_str::<Value>(&text).is_err() => return,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_take_python_log_record_names() {
        let line = LogLine {
            target: "supervisor::owner".into(),
            level: "WARN".into(),
            message: "configuration rolled back".into(),
            file: Some("supervisor/src/owner.rs".into()),
            line: Some(42),
            created: 1_796_306_709.123_5,
            process: "ledfx-rs".into(),
            pid: 7,
        };
        let record = ledfx_record(&line);
        assert_eq!(record["name"], "supervisor.owner");
        assert_eq!(
            (&record["levelname"], &record["levelno"]),
            (&json!("WARNING"), &json!(30))
        );
        assert_eq!(record["message"], "configuration rolled back");
        assert_eq!(
            (&record["filename"], &record["module"]),
            (&json!("owner.rs"), &json!("owner"))
        );
        assert_eq!(record["asctime"], "2026-12-03 14:05:09,123");
        assert_eq!(record["processName"], "ledfx-rs");
    }
}

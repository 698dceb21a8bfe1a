//! A minimal Server-Sent Events client over a plain TCP socket, for the change-feed tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One event: its `event:` name, `id:` and `data:`.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub name: String,
    pub id: Option<String>,
    pub data: String,
}

/// An open event stream.
pub struct EventStream {
    reader: BufReader<TcpStream>,
    chunked: bool,
    /// De-chunked bytes not yet parsed into lines.
    pending: Vec<u8>,
}

impl EventStream {
    /// Opens `path` on 127.0.0.1:`port`, sending `Last-Event-ID` when given. Reads time out
    /// after `timeout`, so a test never hangs on a silent stream.
    pub fn open(
        port: u16,
        path: &str,
        last_event_id: Option<&str>,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(timeout))?;
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n{resume}\r\n"
        )?;
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status)?;
        if !status.contains(" 200 ") {
            return Err(std::io::Error::other(format!("status line {status:?}")));
        }
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        Ok(Self {
            reader,
            chunked,
            pending: Vec::new(),
        })
    }

    /// Reads more body bytes into `pending`.
    fn fill(&mut self) -> std::io::Result<()> {
        if !self.chunked {
            let mut buf = [0u8; 4096];
            let n = self.reader.read(&mut buf)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.pending.extend_from_slice(&buf[..n]);
            return Ok(());
        }
        let mut size = String::new();
        self.reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|e| std::io::Error::other(format!("chunk size {size:?}: {e}")))?;
        if size == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let mut chunk = vec![0u8; size + 2];
        self.reader.read_exact(&mut chunk)?;
        chunk.truncate(size);
        self.pending.extend_from_slice(&chunk);
        Ok(())
    }

    fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                return Ok(String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned());
            }
            self.fill()?;
        }
    }

    /// The next event (comments and keep-alives skipped). An error means the stream ended
    /// or timed out.
    pub fn next_event(&mut self) -> std::io::Result<SseEvent> {
        let mut event = SseEvent {
            name: "message".into(),
            id: None,
            data: String::new(),
        };
        let mut any = false;
        loop {
            let line = self.line()?;
            if line.is_empty() {
                if any {
                    return Ok(event);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line.as_str(), ""));
            let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
            any = true;
            match field {
                "event" => event.name = value,
                "id" => event.id = Some(value),
                "data" => {
                    if !event.data.is_empty() {
                        event.data.push('\n');
                    }
                    event.data.push_str(&value);
                }
                _ => {}
            }
        }
    }
}

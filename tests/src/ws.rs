//! A blocking client for `/api/websocket` on 127.0.0.1, for tests and the diff tool.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::{Message, WebSocket};

/// One connection; `client_id` is the id from the greeting.
pub struct WsClient {
    socket: WebSocket<TcpStream>,
    pub client_id: String,
}

impl WsClient {
    /// Connects to another WebSocket path (no greeting is read; `client_id` stays empty).
    pub fn connect_to(port: u16, path: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (socket, _) = tungstenite::client(url, stream).map_err(|e| e.to_string())?;
        Ok(Self {
            socket,
            client_id: String::new(),
        })
    }

    /// Connects and reads the greeting.
    pub fn connect(port: u16) -> Result<Self, String> {
        let mut client = Self::connect_to(port, "/api/websocket")?;
        let greeting = client
            .next(Duration::from_secs(10))
            .ok_or("no greeting within 10 s")?;
        client.client_id = greeting["client_id"]
            .as_str()
            .ok_or(format!("greeting without client_id: {greeting}"))?
            .to_owned();
        Ok(client)
    }

    /// Sends one text frame.
    pub fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .expect("sending a WebSocket frame");
    }

    /// Sends one JSON message.
    pub fn send(&mut self, message: &Value) {
        self.send_text(&message.to_string());
    }

    /// The next JSON message, if one arrives within `within`; `None` also when the socket
    /// has closed.
    pub fn next(&mut self, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let _ = self
                .socket
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.socket.read() {
                Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Every message until none has come for `quiet` (at most `limit` in all).
    pub fn drain(&mut self, quiet: Duration, limit: usize) -> Vec<Value> {
        std::iter::from_fn(|| self.next(quiet))
            .take(limit)
            .collect()
    }

    /// Waits for the first message with `event_type`, skipping others, within `within`.
    pub fn wait_for(&mut self, event_type: &str, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let message = self.next(left)?;
            if message["event_type"] == event_type {
                return Some(message);
            }
        }
    }
}

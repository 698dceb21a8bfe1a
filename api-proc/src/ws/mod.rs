//! `/api/websocket`: LedFx's realtime protocol (ledfx-api.md §4).
//!
//! * [`bus`] — every open socket, its subscriptions and client info; delivers events.
//! * [`outbox`] — one client's outgoing messages, bounded (§4.8).
//! * [`message`] — reading a client frame; [`commands`] — what each command does;
//!   [`broadcast`] — the client-to-client messaging checks.
//! * [`feed`] — the change feed turned into LedFx events; [`audio_devices`] — the audio
//!   status slot turned into `audio_device_list_changed`.
//! * [`log`] — `GET /api/log`, the log WebSocket.
//! * [`visualiser`] — live pixels from shared memory; [`preview`] shapes, shrinks and
//!   encodes them ([`resample`] is Pillow's bilinear resize).
//!
//! Each socket is served by one task that alternates between the client's frames and its
//! outbox, so a client that stops reading only stalls itself.

pub mod audio_devices;
pub mod broadcast;
pub mod bus;
pub mod commands;
pub mod feed;
pub mod log;
pub mod message;
pub mod outbox;
pub mod preview;
pub mod resample;
pub mod visualiser;

use std::net::SocketAddr;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::SinkExt;
use serde_json::{json, Value};

pub use bus::{Bus, LedfxEvent};

use crate::envelope;
use crate::routes::AppState;

/// Largest frame accepted from a client; LedFx's HTTP layer has the same limit.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Read buffer of a socket (it grows for a larger message).
const READ_BUFFER_BYTES: usize = 4 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/websocket", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(upgrade) = upgrade else {
        // LedFx answers a plain GET with its generic failure (HTTP 202) and `Bad Request`.
        return envelope::json_response(
            StatusCode::ACCEPTED,
            &envelope::failed_body("Bad Request: /api/websocket expects a WebSocket upgrade"),
        );
    };
    let ip = peer
        .map(|Extension(ConnectInfo(addr))| addr.ip().to_string())
        .unwrap_or_default();
    upgrade
        .protocols(["http", "https", "ws", "wss"])
        .max_message_size(MAX_MESSAGE_BYTES)
        // The read buffer is zeroed up to this size whenever the socket is polled, which
        // happens on every wake of the connection: tungstenite's 128 KiB default made that
        // the main cost of streaming previews to many clients. Clients send little.
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve(socket, state.ws, ip))
        .into_response()
}

/// Serves one socket from the greeting to the disconnect events.
async fn serve(mut socket: WebSocket, bus: Bus, ip: String) {
    let (client_id, outbox) = bus.connect(ip.clone());
    let greeting = json!({"event_type": "client_id", "client_id": client_id}).to_string();
    if socket.send(Message::Text(greeting.into())).await.is_ok() {
        bus.fire(&LedfxEvent::new(
            "client_connected",
            json!({"client_id": client_id, "client_ip": ip}),
        ));
        let client = commands::Client {
            bus: &bus,
            id: &client_id,
            outbox: &outbox,
        };
        run(&mut socket, &client).await;
    }
    bus.disconnect(&client_id);
    tracing::debug!(%client_id, dropped = outbox.dropped(), "WebSocket closed");
    bus.fire(&LedfxEvent::new(
        "client_disconnected",
        json!({"client_id": client_id, "client_ip": ip}),
    ));
    bus.fire(&LedfxEvent::new("clients_updated", Value::Null));
}

/// Reads commands and sends the outbox until either side ends the connection.
async fn run(socket: &mut WebSocket, client: &commands::Client<'_>) {
    loop {
        tokio::select! {
            () = client.outbox.ready() => {
                let batch = client.outbox.take();
                if batch.control.is_empty() && batch.frames.is_empty() && !batch.close {
                    // A wake for pushes this batch already took.
                    continue;
                }
                // Queued into the socket's buffer and written together: one write for a
                // batch, not one per message.
                for text in batch.control.into_iter().chain(batch.frames) {
                    if socket.feed(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                if socket.flush().await.is_err() {
                    return;
                }
                if batch.close {
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
            }
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => match message::parse(&text) {
                    Ok(incoming) => client.handle(&incoming),
                    // LedFx closes the socket here; ledfx-rs answers and keeps it open
                    // (docs/compatibility.md).
                    Err(bad) => client.outbox.push_control(commands::error_reply(
                        &bad.id,
                        &format!("Invalid message format: {}", bad.reason),
                    )),
                },
                Some(Ok(Message::Binary(bytes))) => binary(&bytes),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
            },
        }
    }
}

/// Binary frames: type 0x01 carries pixels for the `frontend` effect, which is not built yet
/// (README); like every malformed or unknown binary frame, it is dropped.
fn binary(bytes: &[u8]) {
    tracing::trace!(
        kind = bytes.first().copied(),
        len = bytes.len(),
        "binary WebSocket frame dropped"
    );
}

#[cfg(test)]
mod tests;

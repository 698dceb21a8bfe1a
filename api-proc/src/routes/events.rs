//! `GET /api/ledfx-rs/events`: the change feed as Server-Sent Events.
//!
//! The first event is `snapshot` (`{boot, revision, state}`), then one `change` event per
//! accepted change (`{revision, events}`), each with the position `<boot>-<revision>` as its
//! SSE `id`. A client that reconnects sends `Last-Event-ID` (browsers do it by themselves)
//! or `?since=<boot>-<revision>` and gets exactly the changes it missed, or a fresh
//! `snapshot` when they are no longer all in memory (api-proc or the supervisor restarted,
//! or the client was away too long). The revisions a client sees after a snapshot are
//! consecutive: never a gap, never a duplicate.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use proto::api::system::SystemCommand;
use proto::feed::Change;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use crate::feed::{HubItem, Position, Start};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/api/ledfx-rs/events", get(stream))
}

#[derive(Debug, Deserialize)]
struct Since {
    since: Option<String>,
}

async fn stream(
    State(state): State<AppState>,
    Query(query): Query<Since>,
    headers: HeaderMap,
) -> impl axum::response::IntoResponse {
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.since)
        .as_deref()
        .and_then(Position::parse);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(pump(state, since, tx));
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}

fn change_event(boot: &str, change: &Change) -> Event {
    Event::default()
        .event("change")
        .id(format!("{boot}-{}", change.revision))
        .data(serde_json::to_string(change).unwrap_or_default())
}

type Client = mpsc::Sender<Result<Event, Infallible>>;

/// Feeds one client until it goes away.
async fn pump(state: AppState, mut since: Option<Position>, client: Client) {
    loop {
        let (mut items, start) = state.hub.subscribe(since.as_ref());
        let Some(position) = begin(&state, since.as_ref(), start, &client).await else {
            return;
        };
        let (boot, mut at) = (position.boot.clone(), position.revision);
        since = Some(position);
        loop {
            let item = tokio::select! {
                item = items.recv() => item,
                () = client.closed() => return,
            };
            match item {
                Ok(HubItem::Change(change)) if change.revision <= at => {}
                Ok(HubItem::Change(change)) if change.revision == at + 1 => {
                    if client.send(Ok(change_event(&boot, &change))).await.is_err() {
                        return;
                    }
                    at = change.revision;
                    since = Some(Position {
                        boot: boot.clone(),
                        revision: at,
                    });
                }
                // A gap upstream, or this client fell behind: start again from `at`.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Sends what the client is missing up to now; returns the position it then has, or `None`
/// when the client is gone.
async fn begin(
    state: &AppState,
    since: Option<&Position>,
    start: Start,
    client: &Client,
) -> Option<Position> {
    if let (Start::Replay(changes), Some(since)) = (&start, since) {
        let mut at = since.clone();
        for change in changes {
            client.send(Ok(change_event(&at.boot, change))).await.ok()?;
            at.revision = change.revision;
        }
        return Some(at);
    }
    loop {
        match state.backend.call(&SystemCommand::FeedSnapshot).await {
            Ok(json) => {
                let value = json.to_value();
                let position = Position {
                    boot: value["boot"].as_str().unwrap_or_default().to_owned(),
                    revision: value["revision"].as_u64().unwrap_or(0),
                };
                let event = Event::default()
                    .event("snapshot")
                    .id(position.to_string())
                    .data(value.to_string());
                client.send(Ok(event)).await.ok()?;
                return Some(position);
            }
            Err(failure) => {
                // The state owner is restarting or busy: tell the client, try again shortly.
                let event = Event::default().event("error").data(failure.reason);
                client.send(Ok(event)).await.ok()?;
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = client.closed() => return None,
                }
            }
        }
    }
}

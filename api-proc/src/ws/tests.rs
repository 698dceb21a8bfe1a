//! Protocol tests: the real router on a socket on 127.0.0.1, spoken to by tokio-tungstenite
//! clients, with a fake state owner and change feed.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proto::api::Json;
use proto::feed::{Change, Event, FeedItem};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Bus;
use crate::backend::Backend;
use crate::feed::Hub;

/// Long enough for a loaded 2-core machine; a message that should come comes in
/// milliseconds.
const PATIENCE: Duration = Duration::from_secs(5);
/// How long to listen for a message that must not come.
const QUIET: Duration = Duration::from_millis(300);

struct Server {
    addr: std::net::SocketAddr,
    hub: Hub,
    bus: Bus,
    revision: u64,
}

impl Server {
    async fn start() -> Self {
        let (backend, mut calls) = Backend::channel(8);
        tokio::spawn(async move {
            while let Some((_, reply)) = calls.recv().await {
                let _ = reply.send(Ok(Json::from_value(&json!({}))));
            }
        });
        let hub = Hub::default();
        hub.publish(FeedItem::Snapshot {
            boot: "b".into(),
            revision: 0,
            state: json!({}),
        });
        let bus = Bus::default();
        let app = crate::app(
            backend,
            hub.clone(),
            bus.clone(),
            Default::default(),
            "http://localhost:8888".into(),
        )
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            hub,
            bus,
            revision: 0,
        }
    }

    /// What the supervisor would send for an accepted change.
    fn change(&mut self, events: Vec<Event>) {
        self.revision += 1;
        self.hub.publish(FeedItem::Change(Change {
            revision: self.revision,
            events,
        }));
    }

    async fn client(&self) -> Client {
        let url = format!("ws://{}/api/websocket", self.addr);
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = Client {
            socket,
            id: String::new(),
        };
        let greeting = client.next().await;
        assert_eq!(greeting.as_object().unwrap().len(), 2, "{greeting}");
        assert_eq!(greeting["event_type"], "client_id");
        client.id = greeting["client_id"].as_str().unwrap().to_owned();
        assert!(uuid::Uuid::parse_str(&client.id).is_ok(), "{greeting}");
        client
    }

    /// A raw HTTP/1.1 request; returns the status and the body.
    async fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}

struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    id: String,
}

impl Client {
    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    async fn try_next(&mut self, within: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(within, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).unwrap())
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("the socket ended: {other:?}"),
                Err(_) => return None,
            }
        }
    }

    async fn next(&mut self) -> Value {
        self.try_next(PATIENCE)
            .await
            .expect("a message within the deadline")
    }

    async fn nothing(&mut self) {
        if let Some(message) = self.try_next(QUIET).await {
            panic!("unexpected message {message}");
        }
    }

    async fn subscribe(&mut self, id: i64, event_type: &str, filter: Value) {
        self.send(json!({"id": id, "type": "subscribe_event", "event_type": event_type, "event_filter": filter}))
            .await;
    }

    async fn identify(&mut self, id: i64, name: &str, kind: &str) -> Value {
        self.send(
            json!({"id": id, "type": "set_client_info", "data": {"name": name, "type": kind}}),
        )
        .await;
        self.next().await
    }
}

/// Waits until the server has taken `client`'s subscriptions (they carry no acknowledgement):
/// a command that answers proves everything sent before it was handled.
async fn settled(client: &mut Client) {
    client
        .send(json!({"id": -1, "type": "no_such_command"}))
        .await;
    assert_eq!(
        client.next().await["error"]["message"],
        "Unknown command type."
    );
}

#[tokio::test]
async fn a_connect_and_a_disconnect_are_seen_by_other_clients() {
    let server = Server::start().await;
    let mut watcher = server.client().await;
    watcher.subscribe(9005, "client_connected", json!({})).await;
    watcher
        .subscribe(9006, "client_disconnected", json!({}))
        .await;
    watcher.subscribe(9015, "clients_updated", json!({})).await;
    settled(&mut watcher).await;
    let newcomer = server.client().await;
    let newcomer_id = newcomer.id.clone();
    assert_eq!(
        watcher.next().await,
        json!({"id": 9005, "type": "event", "event_type": "client_connected",
               "client_id": newcomer_id, "client_ip": "127.0.0.1"})
    );
    drop(newcomer);
    assert_eq!(
        watcher.next().await,
        json!({"id": 9006, "type": "event", "event_type": "client_disconnected",
               "client_id": newcomer_id, "client_ip": "127.0.0.1"})
    );
    assert_eq!(
        watcher.next().await,
        json!({"id": 9015, "type": "event", "event_type": "clients_updated"})
    );
    watcher.nothing().await;
}

#[tokio::test]
async fn feed_changes_reach_subscribers_with_their_subscription_id_and_filter() {
    let mut server = Server::start().await;
    let mut client = server.client().await;
    client.subscribe(9004, "effect_set", json!({})).await;
    client
        .subscribe(120, "virtual_pause", json!({"virtual_id": "porch"}))
        .await;
    settled(&mut client).await;
    server.change(vec![
        Event::EffectSet {
            virtual_id: "porch".into(),
            effect_type: "singleColor".into(),
            effect_name: "Single Color".into(),
            effect_id: "singleColor".into(),
            was_active: false,
            was_streaming: false,
        },
        Event::VirtualActivated {
            virtual_id: "shed".into(),
            active: true,
        },
        Event::VirtualActivated {
            virtual_id: "porch".into(),
            active: true,
        },
    ]);
    assert_eq!(
        client.next().await,
        json!({"id": 9004, "type": "event", "event_type": "effect_set", "effect_name": "Single Color",
               "effect_id": "singleColor", "virtual_id": "porch", "effect_type": "singleColor",
               "active": false, "streaming": false})
    );
    assert_eq!(
        client.next().await,
        json!({"id": 120, "type": "event", "event_type": "virtual_pause", "virtual_id": "porch", "paused": false}),
        "the filter let only porch through"
    );
    client
        .send(json!({"id": 120, "type": "unsubscribe_event", "event_type": "virtual_pause"}))
        .await;
    client
        .send(json!({"id": 4242, "type": "unsubscribe_event"}))
        .await;
    settled(&mut client).await;
    server.change(vec![Event::VirtualActivated {
        virtual_id: "porch".into(),
        active: false,
    }]);
    client.nothing().await;
}

#[tokio::test]
async fn raw_frame_events_cannot_be_subscribed_and_unknown_ones_are_accepted() {
    let server = Server::start().await;
    let mut client = server.client().await;
    client.subscribe(3, "device_update", json!({})).await;
    assert_eq!(
        client.next().await,
        json!({"id": 3, "success": false, "error": {"message":
            "Websocket cannot subscribe to device_update events - use visualisation_update instead"}})
    );
    client.subscribe(4, "no_such_event", json!({})).await;
    settled(&mut client).await;
}

#[tokio::test]
async fn clients_identify_themselves_and_are_listed() {
    let server = Server::start().await;
    let mut kitchen = server.client().await;
    let mut watcher = server.client().await;
    watcher.subscribe(9015, "clients_updated", json!({})).await;
    settled(&mut watcher).await;
    assert_eq!(
        server.http("GET", "/api/clients", "").await,
        (200, "{}".into())
    );
    let reply = kitchen.identify(10001, "Kitchen", "mobile").await;
    assert_eq!(
        reply,
        json!({"id": 10001, "event_type": "client_info_updated", "client_id": kitchen.id,
               "name": "Kitchen", "type": "mobile", "name_conflict": false})
    );
    assert_eq!(watcher.next().await["event_type"], "clients_updated");
    let reply = watcher.identify(10001, "Kitchen", "visualiser").await;
    assert_eq!(
        (&reply["name"], &reply["name_conflict"]),
        (&json!("Kitchen (2)"), &json!(true))
    );
    watcher.next().await; // its own clients_updated
    watcher
        .send(json!({"id": 10002, "type": "update_client_info", "data": {"name": "Kitchen"}}))
        .await;
    assert_eq!(
        watcher.next().await,
        json!({"id": 10002, "success": false, "error": {"message": "Name 'Kitchen' is already taken by another client"}})
    );
    watcher
        .send(json!({"id": 10002, "type": "update_client_info", "data": {}}))
        .await;
    assert_eq!(
        watcher.next().await["error"]["message"],
        "No valid updates provided"
    );
    watcher.send(json!({"id": 10002, "type": "update_client_info", "data": {"name": "Hall", "type": "weird"}})).await;
    assert_eq!(
        watcher.next().await,
        json!({"id": 10002, "event_type": "client_info_updated", "client_id": watcher.id, "name": "Hall", "type": "unknown"})
    );
    let (status, body) = server.http("GET", "/api/clients", "").await;
    assert_eq!(status, 200);
    let listed: Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&String> = listed.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [&kitchen.id, &watcher.id],
        "in the order they identified"
    );
    let entry = &listed[&kitchen.id];
    assert_eq!(
        (
            &entry["ip"],
            &entry["name"],
            &entry["type"],
            &entry["device_id"]
        ),
        (
            &json!("127.0.0.1"),
            &json!("Kitchen"),
            &json!("mobile"),
            &Value::Null
        )
    );
    assert!(entry["connected_at"].as_f64().unwrap() > 1.7e9, "{entry}");
}

#[tokio::test]
async fn a_sync_posted_over_rest_reaches_subscribers() {
    let server = Server::start().await;
    let mut client = server.client().await;
    client.subscribe(7, "client_sync", json!({})).await;
    settled(&mut client).await;
    let (status, body) = server
        .http(
            "POST",
            "/api/clients",
            r#"{"action": "sync", "client_id": "abc"}"#,
        )
        .await;
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"status":"success","action":"sync"}"#)
    );
    assert_eq!(
        client.next().await,
        json!({"id": 7, "type": "event", "event_type": "client_sync", "client_id": "abc"})
    );
    server
        .http("POST", "/api/clients", r#"{"action": "sync"}"#)
        .await;
    assert_eq!(client.next().await["client_id"], "unknown");
    let (_, body) = server
        .http("POST", "/api/clients", r#"{"action": "dance"}"#)
        .await;
    assert_eq!(
        body,
        r#"{"status":"failed","payload":{"type":"error","reason":"Action dance is not in ['sync']"}}"#
    );
    client.nothing().await;
}

#[tokio::test]
async fn a_broadcast_reaches_subscribers_and_tells_the_sender_who_it_targeted() {
    let server = Server::start().await;
    let mut sender = server.client().await;
    let mut display = server.client().await;
    sender.identify(1, "Desk", "controller").await;
    display.identify(1, "Wall", "display").await;
    display.subscribe(9016, "client_broadcast", json!({})).await;
    settled(&mut display).await;
    let payload = json!({"scene": "party"});
    sender
        .send(
            json!({"id": 20, "type": "broadcast", "data": {"broadcast_type": "scene_sync",
            "target": {"mode": "type", "value": "display"}, "payload": payload}}),
        )
        .await;
    let sent = loop {
        let message = sender.next().await;
        if message["event_type"] == "broadcast_sent" {
            break message;
        }
    };
    assert_eq!(sent["targets_matched"], 1);
    assert_eq!(sent["target_uuids"], json!([display.id]));
    assert!(
        sent["broadcast_id"].as_str().unwrap().starts_with("b-"),
        "{sent}"
    );
    let got = loop {
        let message = display.next().await;
        if message["event_type"] == "client_broadcast" {
            break message;
        }
    };
    assert_eq!(
        got,
        json!({"id": 9016, "type": "event", "event_type": "client_broadcast", "broadcast_type": "scene_sync",
               "broadcast_id": sent["broadcast_id"], "sender_uuid": sender.id, "sender_name": "Desk",
               "sender_type": "controller", "target_uuids": [display.id], "payload": payload})
    );
    sender
        .send(
            json!({"id": 21, "type": "broadcast", "data": {"broadcast_type": "custom",
            "target": {"mode": "names", "names": ["Nobody"]}, "payload": {}}}),
        )
        .await;
    assert_eq!(
        sender.next().await["error"]["message"],
        "No clients matched target specification: {'mode': 'names', 'names': ['Nobody']}"
    );
    let big = "x".repeat(2048);
    sender
        .send(
            json!({"id": 22, "type": "broadcast", "data": {"broadcast_type": "custom",
            "target": {"mode": "all"}, "payload": {"big": big}}}),
        )
        .await;
    assert_eq!(
        sender.next().await["error"]["message"],
        "Payload size (2059 bytes) exceeds maximum (2048 bytes)"
    );
    sender
        .send(json!({"id": 23, "type": "broadcast", "data": {"broadcast_type": "custom"}}))
        .await;
    assert_eq!(
        sender.next().await["error"]["message"],
        "Invalid broadcast data: required key not provided @ data['target']"
    );
}

#[tokio::test]
async fn song_info_becomes_song_detected_with_ledfx_defaults() {
    let server = Server::start().await;
    let mut client = server.client().await;
    client.subscribe(9014, "song_detected", json!({})).await;
    client
        .send(json!({"id": 1, "type": "song_info", "title": "Blue", "duration": 201.5}))
        .await;
    assert_eq!(
        client.next().await,
        json!({"id": 9014, "type": "event", "event_type": "song_detected", "title": "Blue",
               "artist": "Unknown", "album": "", "thumbnail": null, "position": null,
               "duration": 201.5, "playing": false, "timestamp": null})
    );
}

#[tokio::test]
async fn bad_messages_are_answered_and_the_socket_stays_open() {
    let server = Server::start().await;
    let mut client = server.client().await;
    client.send(json!({"id": "7", "type": "dance"})).await;
    assert_eq!(
        client.next().await,
        json!({"id": 7, "success": false, "error": {"message": "Unknown command type."}})
    );
    client.send_text("not json").await;
    let reply = client.next().await;
    assert_eq!(reply["id"], Value::Null);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid message format: not JSON"),
        "{reply}"
    );
    client
        .send(json!({"id": [1], "type": "subscribe_event"}))
        .await;
    assert_eq!(
        client.next().await,
        json!({"id": [1], "success": false, "error": {"message": "Invalid message format: `id` must be an integer, got a list"}})
    );
    client
        .send(json!({"id": 8, "type": "set_client_info", "data": [1]}))
        .await;
    assert_eq!(
        client.next().await["error"]["message"],
        "Invalid message format: data: expected an object, got a list"
    );
    client
        .socket
        .send(Message::binary(vec![1u8, 0, 0]))
        .await
        .unwrap();
    settled(&mut client).await;
}

#[tokio::test]
async fn a_plain_get_is_ledfxs_bad_request() {
    let server = Server::start().await;
    let (status, body) = server.http("GET", "/api/websocket", "").await;
    assert_eq!(status, 202);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "failed");
    assert!(body["payload"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Bad Request"));
}

#[tokio::test]
async fn a_client_that_never_reads_costs_a_bounded_backlog_and_delays_no_one() {
    let mut server = Server::start().await;
    let mut stalled = server.client().await;
    let mut reader = server.client().await;
    for client in [&mut stalled, &mut reader] {
        client.subscribe(1, "base_config_update", json!({})).await;
        settled(client).await;
    }
    // ~1 KiB per event, 20 MiB in all: far more than the socket buffers and the control
    // queue hold. Paced in bursts a reading client keeps up with.
    const EVENTS: usize = 20_000;
    let pad = "x".repeat(1000);
    let fired = tokio::spawn(async move {
        for n in 0..EVENTS {
            server.change(vec![Event::ConfigUpdated {
                config: json!({"n": n, "pad": pad}),
            }]);
            if n % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        server
    });
    for n in 0..EVENTS {
        let message = reader.next().await;
        assert_eq!(
            message["config"]["n"], n,
            "the reading client gets every event, in order"
        );
    }
    let server = fired.await.unwrap();
    assert_eq!(server.bus.len(), 2, "the stalled client is still connected");
    let mut backlog = 0;
    while stalled.try_next(QUIET).await.is_some() {
        backlog += 1;
    }
    println!("the reader got all {EVENTS}; the stalled client, reading at last, got {backlog}");
    assert!(backlog < EVENTS, "the stalled client's backlog was bounded");
}

#[tokio::test]
async fn an_upgrade_from_a_foreign_page_is_refused_by_the_origin_policy() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = Server::start().await;
    let url = format!("ws://{}/api/websocket", server.addr);
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    let mut local = url.as_str().into_client_request().unwrap();
    local
        .headers_mut()
        .insert("origin", "http://localhost:8888".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(local).await.is_ok());
}

//! `/api/websocket` end to end against the real `ledfx-rs`: the scripted session of
//! `tests/fixtures/ws/script.json` must produce what LedFx 2.2.1 produced for it (recorded in
//! `tests/fixtures/ledfx-2.2.1/websocket.json`), and the socket lives through the supervisor's
//! life cycle.

use std::path::Path;
use std::time::Duration;

use e2e_tests::ws::WsClient;
use e2e_tests::{child_named, poll_until, signal_pid, Ledfx};
use serde_json::{json, Value};

fn fixture(path: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Values that differ only in an object's key order (LedFx spreads some events' fields
/// before `event_type`) compare equal, as JSON objects do.
#[test]
fn the_scripted_session_gets_what_ledfx_sent() {
    let script = fixture("fixtures/ws/script.json");
    let recording = fixture("fixtures/ledfx-2.2.1/websocket.json");
    let ledfx = Ledfx::start();
    let ours = e2e_tests::ws_script::run(ledfx.port, script["steps"].as_array().unwrap()).unwrap();
    let theirs = recording["recorded"].as_array().unwrap();
    assert_eq!(ours.len(), theirs.len(), "the same steps recorded");
    let mut differences = Vec::new();
    for (mine, recorded) in ours.iter().zip(theirs) {
        assert_eq!(json!(mine.step), recorded["step"]);
        if mine.got != recorded["got"] {
            differences.push(format!(
                "step {} {}\n  LedFx    {}\n  ledfx-rs {}",
                mine.step, mine.what, recorded["got"], mine.got
            ));
        }
    }
    println!(
        "{} steps compared, {} differ",
        ours.len(),
        differences.len()
    );
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn clients_hear_shutdown_when_ledfx_rs_stops() {
    let mut ledfx = Ledfx::start();
    let mut client = WsClient::connect(ledfx.port).unwrap();
    client.send(&json!({"id": 1, "type": "subscribe_event", "event_type": "shutdown"}));
    client.send(&json!({"id": 2, "type": "no_such_command"}));
    assert!(
        client.next(Duration::from_secs(5)).is_some(),
        "the subscription was taken"
    );
    ledfx.signal(rustix::process::Signal::TERM);
    let heard = client.wait_for("shutdown", Duration::from_secs(5));
    assert_eq!(
        heard,
        Some(json!({"id": 1, "type": "event", "event_type": "shutdown"}))
    );
    assert!(
        client.next(Duration::from_secs(5)).is_none(),
        "then the socket closes"
    );
    assert!(ledfx.wait_exit(Duration::from_secs(10)));
}

#[test]
fn a_killed_api_stage_drops_its_sockets_and_a_reconnecting_client_gets_events_again() {
    let ledfx = Ledfx::start();
    let mut client = WsClient::connect(ledfx.port).unwrap();
    let api = child_named(ledfx.pid(), "api-proc").expect("api-proc");
    signal_pid(api, rustix::process::Signal::KILL);
    assert!(
        client.next(Duration::from_secs(5)).is_none(),
        "the socket ended with its process"
    );
    let mut again = None;
    let took = poll_until(Duration::from_secs(10), || {
        again = WsClient::connect(ledfx.port).ok();
        again.is_some()
    })
    .expect("api-proc back");
    println!("reconnected after {took:?}");
    let mut client = again.unwrap();
    client.send(&json!({"id": 5, "type": "subscribe_event", "event_type": "global_pause"}));
    client.send(&json!({"id": 6, "type": "no_such_command"}));
    assert!(client.next(Duration::from_secs(5)).is_some());
    assert_eq!(ledfx.request("PUT", "/api/virtuals", "{}").0, 200);
    let paused = client
        .wait_for("global_pause", Duration::from_secs(5))
        .expect("global_pause");
    assert_eq!(paused["paused"], true);
}

#[test]
fn the_log_socket_streams_every_processs_records_and_only_one_socket_streams() {
    let ledfx = Ledfx::start();
    let mut log = WsClient::connect_to(ledfx.port, "/api/log").unwrap();
    let replayed = log.drain(Duration::from_millis(500), 200);
    println!(
        "{} records replayed; first {:?}",
        replayed.len(),
        replayed.first()
    );
    assert!(!replayed.is_empty(), "start-up records are replayed");
    for record in &replayed {
        for key in [
            "name",
            "levelname",
            "levelno",
            "message",
            "created",
            "asctime",
            "processName",
        ] {
            assert!(record.get(key).is_some(), "{key} missing in {record}");
        }
    }
    // A stage crash: the supervisor reports it, the new stage logs its start.
    let render = child_named(ledfx.pid(), "render-proc").expect("render-proc");
    signal_pid(render, rustix::process::Signal::KILL);
    let mut seen = Vec::new();
    let found = poll_until(Duration::from_secs(10), || {
        seen.extend(log.drain(Duration::from_millis(200), 200));
        seen.iter()
            .any(|r| r["levelname"] == "WARNING" && r["processName"] == "ledfx-rs")
            && seen.iter().any(|r| r["processName"] == "render-proc")
    });
    assert!(found.is_some(), "{seen:?}");
    // Frontend lines are not echoed back.
    let (status, _) = ledfx.request("POST", "/api/log", r#"{"text": "hello from the page"}"#);
    assert_eq!(status, 200);
    let later = log.drain(Duration::from_millis(500), 200);
    assert!(
        later.iter().all(|r| !r["message"]
            .as_str()
            .unwrap_or("")
            .contains("hello from the page")),
        "{later:?}"
    );
    // A second log socket ends the first.
    let mut second = WsClient::connect_to(ledfx.port, "/api/log").unwrap();
    assert!(!second.drain(Duration::from_millis(500), 200).is_empty());
    let output = child_named(ledfx.pid(), "output-proc").expect("output-proc");
    signal_pid(output, rustix::process::Signal::KILL);
    let mut news = Vec::new();
    let heard = poll_until(Duration::from_secs(10), || {
        news.extend(second.drain(Duration::from_millis(200), 200));
        news.iter().any(|r| r["processName"] == "output-proc")
    });
    assert!(heard.is_some(), "the new socket streams: {news:?}");
    assert!(
        log.drain(Duration::from_millis(300), 200).is_empty(),
        "the first socket was closed"
    );
}

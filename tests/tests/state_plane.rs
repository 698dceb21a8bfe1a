//! End-to-end checks of the state plane: nothing in config.json is lost, a panicking
//! validator costs one request and not the supervisor, and the change feed resumes across an
//! api-proc restart with no gap and no duplicate.

use std::time::{Duration, Instant};

use e2e_tests::sse::EventStream;
use e2e_tests::{child_named, children, poll_until, signal_pid, Ledfx};
use serde_json::{json, Value};

const EVENTS: &str = "/api/ledfx-rs/events";

/// Keys sorted recursively, as ledfx-rs (and LedFx) write config.json.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// An entry of `devices`/`virtuals` exactly as it appears in the pretty-printed file.
fn as_in_file(entry: &Value) -> String {
    serde_json::to_string_pretty(&sorted(entry))
        .unwrap()
        .lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn config_entries_ledfx_rs_cannot_use_stay_byte_for_byte_and_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let lots = json!({"id": "lots", "type": "ddp",
        "config": {"name": "Lots", "ip_address": "127.0.0.1", "port": 4048, "pixel_count": "lots"}});
    let alien = json!({"id": "alien", "type": "teleporter",
        "config": {"name": "Alien", "beam_width": 7}});
    let good =
        json!({"id": "good", "type": "dummy", "config": {"name": "Good", "pixel_count": 10}});
    let warp = json!({"id": "warp", "config": {"name": "Warp"}, "segments": [["good", 0, 9, false]],
        "is_device": false, "active": true,
        "effect": {"type": "warp-drive", "config": {"factor": 9}}});
    let config = json!({"devices": [lots, alien, good], "virtuals": [warp]});
    let written = serde_json::to_string_pretty(&sorted(&config)).unwrap();
    std::fs::write(dir.path().join("config.json"), &written).unwrap();
    let kept = [
        &config["devices"][0],
        &config["devices"][1],
        &config["virtuals"][0],
    ];
    for entry in kept {
        assert!(written.contains(&as_in_file(entry)), "fixture format");
    }

    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    let on_disk = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert_eq!(on_disk, written, "starting does not rewrite the file");

    // The API reports each entry with its reason, and shows only what it uses.
    let (_, info) = ledfx.request("GET", "/api/info", "");
    let problems = info["ledfx_rs"]["config_problems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    println!("config_problems: {problems:#?}");
    let reason = |entry: &str, id: &str| -> String {
        problems
            .iter()
            .find(|p| p["entry"] == entry && p["id"] == id)
            .and_then(|p| p["reason"].as_str())
            .unwrap_or_else(|| panic!("{entry} {id} not reported in {problems:?}"))
            .to_owned()
    };
    assert!(reason("devices", "lots").contains("pixel_count"));
    assert!(reason("devices", "alien").contains("teleporter"));
    assert!(reason("virtuals", "warp").contains("warp-drive"));
    assert_eq!(problems.len(), 3, "the usable device is not reported");
    let (_, devices) = ledfx.request("GET", "/api/devices", "");
    let ids: Vec<&String> = devices["devices"].as_object().unwrap().keys().collect();
    assert_eq!(ids, ["good"]);
    let (_, failure) = ledfx.request("GET", "/api/devices/lots", "");
    assert!(
        failure["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot use it"),
        "{failure}"
    );

    // An unrelated change rewrites the file; the three entries stay exactly as written.
    let (status, reply) = ledfx.request(
        "PUT",
        "/api/devices/good",
        r#"{"config": {"name": "Good Lamp", "pixel_count": 12}}"#,
    );
    assert_eq!(
        (status, &reply["status"]),
        (200, &json!("success")),
        "{reply}"
    );
    let after = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    assert_ne!(after, written, "the change was saved");
    for entry in kept {
        let text = as_in_file(entry);
        assert!(
            after.contains(&text),
            "lost or altered:\n{text}\nin\n{after}"
        );
    }
    let saved: Value = serde_json::from_str(&after).unwrap();
    assert_eq!(saved["devices"][2]["config"]["pixel_count"], 12);
    let order: Vec<&str> = saved["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["lots", "alien", "good"],
        "kept entries keep their places"
    );
}

#[test]
fn a_panic_in_validation_answers_500_and_the_supervisor_keeps_running() {
    let ledfx = Ledfx::start();
    let before: Vec<(i32, String)> = children(ledfx.pid());
    assert_eq!(before.len(), 4, "{before:?}");
    let body = json!({"type": "dummy", "config": {"name": "failpoint: panic in validation"}});
    let (status, reply) = ledfx.request("POST", "/api/devices", &body.to_string());
    println!("{status} {reply}");
    assert_eq!(status, 500, "{reply}");
    assert_eq!(reply["status"], "failed");
    assert!(reply["payload"]["reason"]
        .as_str()
        .unwrap()
        .contains("nothing was changed"));
    // Same supervisor, same stages, and it still takes requests.
    assert!(e2e_tests::alive(ledfx.pid()));
    assert_eq!(children(ledfx.pid()), before, "no process died");
    let (_, devices) = ledfx.request("GET", "/api/devices", "");
    assert_eq!(devices["devices"], json!({}), "nothing was created");
    let body = json!({"type": "dummy", "config": {"name": "Fine", "pixel_count": 3}});
    let (status, reply) = ledfx.request("POST", "/api/devices", &body.to_string());
    assert_eq!(
        (status, &reply["status"]),
        (200, &json!("success")),
        "{reply}"
    );
}

/// What one stream saw: `(name, revision, data)` per event, until `done` or the stream ends;
/// `last_id` follows the events' ids.
fn read_until(
    stream: &mut EventStream,
    last_id: &mut String,
    mut done: impl FnMut(&str, u64) -> bool,
) -> Vec<(String, u64, Value)> {
    let mut seen = Vec::new();
    while let Ok(event) = stream.next_event() {
        let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
        let revision = data["revision"].as_u64().unwrap_or(0);
        if let Some(id) = &event.id {
            last_id.clone_from(id);
        }
        let stop = done(&event.name, revision);
        seen.push((event.name, revision, data));
        if stop {
            break;
        }
    }
    seen
}

#[test]
fn the_event_stream_resumes_across_an_api_proc_restart_without_gap_or_duplicate() {
    let ledfx = Ledfx::start();
    let port = ledfx.port;
    let timeout = Duration::from_secs(20);
    let mut stream = EventStream::open(port, EVENTS, None, timeout).expect("stream");
    let first = stream.next_event().expect("snapshot");
    assert_eq!(first.name, "snapshot");
    let snapshot: Value = serde_json::from_str(&first.data).unwrap();
    let start = snapshot["revision"].as_u64().unwrap();
    assert_eq!(snapshot["state"]["paused"], false);
    let mut last_id = first.id.clone().expect("the snapshot has an id");

    // Every REST write shows up as a change with the next revision.
    let (_, reply) = ledfx.request(
        "POST",
        "/api/devices",
        r#"{"type": "dummy", "config": {"name": "Lamp", "pixel_count": 8}}"#,
    );
    assert_eq!(reply["status"], "success", "{reply}");
    let created = read_until(&mut stream, &mut last_id, |_, _| true);
    assert_eq!(created[0].0, "change");
    assert_eq!(created[0].1, start + 1);
    assert!(created[0].2["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "device_created" && e["device_id"] == "lamp"));

    // A writer toggles the pause while api-proc is killed and comes back. Pause toggles are
    // the cheapest writes; the paused state at each revision is known from its parity.
    let writes = 120;
    let writer = std::thread::spawn(move || {
        let mut done = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while done < writes && Instant::now() < deadline {
            match e2e_tests::http(port, "PUT", "/api/virtuals", "") {
                Ok((200, _)) => done += 1,
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        done
    });
    let mut last = start + 1;
    let before_kill = read_until(&mut stream, &mut last_id, |_, revision| {
        revision >= last + 20
    });
    for (name, revision, _) in &before_kill {
        assert_eq!(
            (name.as_str(), *revision),
            ("change", last + 1),
            "{before_kill:?}"
        );
        last = *revision;
    }
    let api = child_named(ledfx.pid(), "api-proc").expect("api-proc");
    signal_pid(api, rustix::process::Signal::KILL);
    let killed = Instant::now();
    // Whatever was in flight on the old connection may still arrive; then it ends.
    for (name, revision, _) in read_until(&mut stream, &mut last_id, |_, _| false) {
        assert_eq!((name.as_str(), revision), ("change", last + 1));
        last = revision;
    }
    let mut resumed = None;
    let waited = poll_until(Duration::from_secs(20), || {
        resumed = EventStream::open(port, EVENTS, Some(&last_id), timeout).ok();
        resumed.is_some()
    });
    println!(
        "stream back {:?} after the kill (poll {waited:?})",
        killed.elapsed()
    );
    let mut stream = resumed.expect("the stream came back");
    // The new api-proc starts from the supervisor's snapshot. The client gets the changes it
    // missed when the new hub has them all, or a snapshot; either way, nothing twice and
    // nothing skipped.
    let again = stream.next_event().expect("first event after the restart");
    let data: Value = serde_json::from_str(&again.data).unwrap();
    let toggles_at = |revision: u64| revision - (start + 1);
    let from = match again.name.as_str() {
        "snapshot" => {
            let from = data["revision"].as_u64().unwrap();
            assert!(
                from >= last,
                "snapshot {from} is older than what the client had ({last})"
            );
            assert_eq!(
                data["state"]["paused"],
                toggles_at(from) % 2 == 1,
                "the snapshot holds every change up to its revision"
            );
            println!("resumed from a snapshot at {from} (client had {last})");
            from
        }
        "change" => {
            assert_eq!(data["revision"], last + 1, "{again:?}");
            println!("resumed with the missed changes after {last}");
            last + 1
        }
        other => panic!("unexpected event {other}: {again:?}"),
    };
    let done = writer.join().unwrap();
    assert_eq!(done, writes, "every write was eventually accepted");
    // A toggle in flight when api-proc died may have been applied without its answer
    // arriving (the writer then sent it again), so the final revision comes from the server.
    let (_, info) = ledfx.request("GET", "/api/info", "");
    let end = info["ledfx_rs"]["revision"].as_u64().unwrap();
    assert!(end >= start + 1 + writes, "{end}");
    let rest = read_until(&mut stream, &mut last_id, |_, revision| revision >= end);
    let mut at = from;
    for (name, revision, data) in &rest {
        assert_eq!(
            (name.as_str(), *revision),
            ("change", at + 1),
            "gap or duplicate"
        );
        assert_eq!(data["events"][0]["paused"], toggles_at(*revision) % 2 == 1);
        at = *revision;
    }
    assert_eq!(at, end, "the stream reached the last write");
}

#[test]
fn every_rest_write_produces_its_event_with_the_next_revision() {
    let ledfx = Ledfx::start();
    let mut stream =
        EventStream::open(ledfx.port, EVENTS, None, Duration::from_secs(20)).expect("stream");
    let snapshot: Value = serde_json::from_str(&stream.next_event().unwrap().data).unwrap();
    let mut last = snapshot["revision"].as_u64().unwrap();
    let boot = snapshot["boot"].as_str().unwrap().to_owned();
    let writes: [(&str, &str, Value, &str); 10] = [
        (
            "POST",
            "/api/devices",
            json!({"type": "dummy", "config": {"name": "Lamp", "pixel_count": 8}}),
            "device_created",
        ),
        (
            "POST",
            "/api/devices",
            json!({"type": "dummy", "config": {"name": "Spare", "pixel_count": 4}}),
            "device_created",
        ),
        (
            "PUT",
            "/api/devices/lamp",
            json!({"config": {"pixel_count": 10}}),
            "device_updated",
        ),
        (
            "POST",
            "/api/virtuals/lamp/effects",
            json!({"type": "rainbow"}),
            "effect_set",
        ),
        (
            "PUT",
            "/api/virtuals/lamp/effects",
            json!({"type": "rainbow", "config": {"speed": 2.5}}),
            "effect_updated",
        ),
        ("PUT", "/api/virtuals", json!({}), "global_pause"),
        (
            "PUT",
            "/api/virtuals/lamp",
            json!({"active": false}),
            "virtual_activated",
        ),
        (
            "DELETE",
            "/api/virtuals/lamp/effects",
            json!({}),
            "effect_cleared",
        ),
        (
            "DELETE",
            "/api/virtuals/spare",
            json!({}),
            "virtual_deleted",
        ),
        ("DELETE", "/api/devices/lamp", json!({}), "device_deleted"),
    ];
    for (method, path, body, expected) in writes {
        let (status, reply) = ledfx.request(method, path, &body.to_string());
        assert_eq!(
            (status, &reply["status"]),
            (200, &json!("success")),
            "{method} {path}: {reply}"
        );
        let event = stream.next_event().expect("a change for every write");
        let change: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(event.name, "change");
        assert_eq!(change["revision"], last + 1, "{method} {path}: {change}");
        assert_eq!(event.id, Some(format!("{boot}-{}", last + 1)));
        last += 1;
        let names: Vec<&str> = change["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["event"].as_str())
            .collect();
        println!("{method} {path} -> revision {last}: {names:?}");
        assert!(names.contains(&expected), "{method} {path}: {names:?}");
    }
    let (_, info) = ledfx.request("GET", "/api/info", "");
    assert_eq!(info["ledfx_rs"]["revision"], last);
}

#[test]
fn a_client_that_reconnects_to_the_same_api_proc_gets_exactly_what_it_missed() {
    let ledfx = Ledfx::start();
    let timeout = Duration::from_secs(20);
    let mut stream = EventStream::open(ledfx.port, EVENTS, None, timeout).expect("stream");
    let first = stream.next_event().unwrap();
    let snapshot: Value = serde_json::from_str(&first.data).unwrap();
    let start = snapshot["revision"].as_u64().unwrap();
    let mut last_id = first.id.unwrap();
    drop(stream);
    for _ in 0..5 {
        ledfx.request("PUT", "/api/virtuals", "");
    }
    // A position of another run of the supervisor (revisions start again at 1 each run)
    // cannot be resumed: the client gets a snapshot.
    let stale = format!("0123456789abcdef-{start}");
    let mut other = EventStream::open(ledfx.port, EVENTS, Some(&stale), timeout).expect("stream");
    let event = other.next_event().unwrap();
    assert_eq!(event.name, "snapshot", "{event:?}");
    let mut stream =
        EventStream::open(ledfx.port, EVENTS, Some(&last_id), timeout).expect("stream");
    let missed = read_until(&mut stream, &mut last_id, |_, revision| {
        revision >= start + 5
    });
    let revisions: Vec<u64> = missed.iter().map(|(_, r, _)| *r).collect();
    assert_eq!(
        revisions,
        (start + 1..=start + 5).collect::<Vec<_>>(),
        "{missed:?}"
    );
    assert!(missed.iter().all(|(name, _, _)| name == "change"));
}

//! Scenes end to end (ledfx-api.md §3.18, §3.19): the real `ledfx-rs`, three DDP devices
//! received on 127.0.0.1, a scene saved, the setup changed, the scene activated and the
//! pixels checked, rejected requests that leave `config.json` untouched, and the scene still
//! there after a restart.

use std::time::Duration;

use e2e_tests::{poll_until, DdpReceiver, Ledfx};
use rustix::process::Signal;
use serde_json::{json, Value};

fn effects(ledfx: &Ledfx, ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|id| {
            let (_, v) = ledfx.request("GET", &format!("/api/virtuals/{id}"), "");
            v[id.as_str()]["effect"].clone()
        })
        .collect()
}

/// Whether the device's newest frames are all `rgb`.
fn shows(rx: &mut DdpReceiver, rgb: [u8; 3]) -> bool {
    rx.drain();
    rx.next_frame(Duration::from_secs(2))
        .is_some_and(|f| f.rgb.chunks(3).all(|p| p == rgb))
}

#[test]
fn a_scene_of_three_virtuals_round_trips_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut rxs: Vec<DdpReceiver> = (0..3).map(|_| DdpReceiver::new()).collect();
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "synth"]);
    let ids: Vec<String> = ["Porch", "Kitchen", "Hall"]
        .iter()
        .zip(&rxs)
        .map(|(name, rx)| ledfx.add_ddp_device(name, rx.port(), 30))
        .collect();
    ledfx.set_effect(&ids[0], "singleColor", json!({"color": "#00ff00"}));
    ledfx.set_effect(&ids[1], "rainbow", json!({"speed": 4}));
    ledfx.set_effect(&ids[2], "energy", json!({"sensitivity": 0.7}));
    let saved_effects = effects(&ledfx, &ids);

    let (status, saved) = ledfx.request("POST", "/api/scenes", r#"{"name":"Party Time!"}"#);
    assert_eq!(
        (status, &saved["status"]),
        (200, &json!("success")),
        "{saved}"
    );
    assert_eq!(saved["scene"]["id"], "party-time");

    ledfx.set_effect(&ids[0], "singleColor", json!({"color": "#0000ff"}));
    ledfx.set_effect(&ids[1], "singleColor", json!({}));
    let (_, _) = ledfx.request("DELETE", &format!("/api/virtuals/{}/effects", ids[2]), "");
    assert!(
        poll_until(Duration::from_secs(5), || shows(&mut rxs[0], [0, 0, 255])).is_some(),
        "porch turned blue"
    );
    let (_, listed) = ledfx.request("GET", "/api/scenes", "");
    assert_eq!(listed["scenes"]["party-time"]["active"], false);

    // A rejected request changes nothing on disk.
    let config_path = dir.path().join("config.json");
    let on_disk = std::fs::read(&config_path).unwrap();
    for (method, body) in [
        ("PUT", r#"{"id":"party-time","action":"explode"}"#),
        ("PUT", r#"{"id":"nope","action":"activate"}"#),
        ("PUT", r#"{"action":"activate"}"#),
        ("POST", r#"{"id":"nope","name":"x"}"#),
        ("POST", r#"{"scene_tags":"no name"}"#),
        ("DELETE", r#"{"id":"nope"}"#),
        ("POST", "{broken"),
    ] {
        let (status, reply) = ledfx.request(method, "/api/scenes", body);
        println!("{method} /api/scenes {body} -> {status} {reply}");
        assert_eq!(reply["status"], "failed", "{method} {body}");
        assert_eq!(
            std::fs::read(&config_path).unwrap(),
            on_disk,
            "{method} {body}"
        );
    }

    let (status, out) = ledfx.request(
        "PUT",
        "/api/scenes",
        r#"{"id":"Party Time!","action":"activate"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(out["payload"]["reason"], "Activated Party Time!", "{out}");
    assert_eq!(effects(&ledfx, &ids), saved_effects);
    let green = poll_until(Duration::from_secs(5), || shows(&mut rxs[0], [0, 255, 0]));
    println!("porch green again after {green:?}");
    assert!(green.is_some(), "the scene's colour reaches the device");
    let (_, listed) = ledfx.request("GET", "/api/scenes", "");
    assert_eq!(listed["scenes"]["party-time"]["active"], true, "{listed}");

    let mut ledfx = ledfx;
    ledfx.signal(Signal::TERM);
    assert!(ledfx.wait_exit(Duration::from_secs(5)));
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "synth"]);
    let (_, one) = ledfx.request("GET", "/api/scenes/party-time", "");
    assert_eq!(one["scene"]["config"]["name"], "Party Time!", "{one}");
    assert_eq!(one["scene"]["config"]["active"], true, "{one}");
    let (_, deleted) = ledfx.request("DELETE", "/api/scenes/party-time", "");
    assert_eq!(deleted["payload"]["reason"], "Scene 'party-time' deleted.");
    let (_, listed) = ledfx.request("GET", "/api/scenes", "");
    assert_eq!(listed["scenes"], json!({}));
}

#[test]
fn activate_in_waits_the_given_seconds() {
    let ledfx = Ledfx::start();
    let mut rx = DdpReceiver::new();
    let id = ledfx.add_ddp_device("Strip", rx.port(), 10);
    ledfx.set_effect(&id, "singleColor", json!({"color": "#ff0000"}));
    ledfx.request("POST", "/api/scenes", r#"{"name":"Red"}"#);
    ledfx.set_effect(&id, "singleColor", json!({"color": "#0000ff"}));
    // Past the transition from red.
    assert!(poll_until(Duration::from_secs(5), || shows(&mut rx, [0, 0, 255])).is_some());
    let (_, out) = ledfx.request(
        "PUT",
        "/api/scenes",
        r#"{"id":"red","action":"activate_in","ms":1}"#,
    );
    assert_eq!(
        out["payload"]["reason"], "Scene Red will activate in 1ms",
        "{out}"
    );
    // Not yet: the delay is a whole second.
    assert!(
        shows(&mut rx, [0, 0, 255]),
        "still blue right after the request"
    );
    let red = poll_until(Duration::from_secs(6), || shows(&mut rx, [255, 0, 0]));
    println!("red after {red:?} (asked: 1 s)");
    assert!(red.is_some());
    let (_, missing) = ledfx.request(
        "PUT",
        "/api/scenes",
        r#"{"id":"red","action":"activate_in"}"#,
    );
    assert_eq!(
        missing["payload"]["reason"],
        "Required attribute \"ms\" was not provided"
    );
}

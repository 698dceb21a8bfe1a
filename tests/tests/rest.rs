//! The smaller REST groups end to end against the real `ledfx-rs`: what a client sees, what
//! lands in `config.json`, and that a rejected request leaves the file byte for byte as it
//! was.

use std::time::Duration;

use e2e_tests::{alive, child_named, children, http_with, poll_until, DdpReceiver, Ledfx};
use serde_json::{json, Value};

fn config_bytes(ledfx: &Ledfx) -> Vec<u8> {
    std::fs::read(ledfx.config_dir.join("config.json")).unwrap_or_default()
}

fn config(ledfx: &Ledfx) -> Value {
    serde_json::from_slice(&config_bytes(ledfx)).expect("config.json is JSON")
}

#[test]
fn user_colours_and_gradients_are_saved_listed_deleted_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);

    let (status, listed) = ledfx.request("GET", "/api/colors", "");
    assert_eq!(status, 200);
    assert_eq!(listed["colors"]["builtin"]["red"], "#ff0000", "{listed}");
    assert_eq!(listed["colors"]["user"], json!({}));
    assert!(listed["gradients"]["builtin"]["Rainbow"]
        .as_str()
        .is_some_and(|g| g.starts_with("linear-gradient(")));

    let body = json!({
        "stage red": "rgb(200, 0, 0)",
        "dusk": "linear-gradient(90deg, #ff8800 0%, #220044 100%)",
        "red": "#123456",
    });
    let (status, saved) = ledfx.request("POST", "/api/colors", &body.to_string());
    assert_eq!(
        (status, &saved["payload"]["reason"]),
        (200, &json!("Saved stage red, dusk, red")),
        "{saved}"
    );
    let on_disk = config(&ledfx);
    assert_eq!(on_disk["user_colors"], json!({"stage red": "#c80000"}));
    assert_eq!(
        on_disk["user_gradients"]["dusk"],
        "linear-gradient(90deg, #ff8800 0%, #220044 100%)"
    );

    // A bad entry anywhere refuses the whole body and the file does not change.
    let before = config_bytes(&ledfx);
    let (status, refused) =
        ledfx.request("POST", "/api/colors", r##"{"ok":"#00ff00","x":"glow"}"##);
    assert_eq!((status, &refused["status"]), (200, &json!("failed")));
    assert!(refused["payload"]["reason"]
        .as_str()
        .is_some_and(|r| r.starts_with("Invalid gradient: glow")));
    let (_, refused) = ledfx.request("DELETE", "/api/colors/nope", "");
    assert_eq!(
        refused["payload"]["reason"],
        "Color or gradient nope not found"
    );
    let (status, refused) = ledfx.request("DELETE", "/api/colors", r#"{"dusk":1}"#);
    assert_eq!((status, &refused["status"]), (200, &json!("failed")));
    let (status, _) = ledfx.request("POST", "/api/colors", "{not json");
    assert_eq!(status, 400);
    assert_eq!(
        config_bytes(&ledfx),
        before,
        "refused requests left config.json"
    );

    let (_, deleted) = ledfx.request("DELETE", "/api/colors/dusk", "");
    assert_eq!(deleted["payload"]["reason"], "Deleted gradient dusk");
    assert_eq!(config(&ledfx)["user_gradients"], json!({}));

    drop(ledfx);
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    let (_, listed) = ledfx.request("GET", "/api/colors", "");
    assert_eq!(listed["colors"]["user"], json!({"stage red": "#c80000"}));
    let (_, deleted) = ledfx.request("DELETE", "/api/colors", r#"["stage red","red"]"#);
    assert_eq!(deleted["payload"]["reason"], "Deleted stage red, red");
    let (_, listed) = ledfx.request("GET", "/api/colors", "");
    assert_eq!(listed["colors"]["user"], json!({}));
    assert_eq!(listed["colors"]["builtin"]["red"], "#ff0000");
}

/// Whether the device's newest frame is `expected`, pixel by pixel.
fn shows(rx: &mut DdpReceiver, expected: &[[u8; 3]]) -> bool {
    rx.drain();
    rx.next_frame(Duration::from_secs(2)).is_some_and(|f| {
        let pixels: Vec<[u8; 3]> = f.rgb.chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
        pixels == expected
    })
}

#[test]
fn a_user_virtual_over_parts_of_two_devices_lights_exactly_its_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (mut rx_a, mut rx_b) = (DdpReceiver::new(), DdpReceiver::new());
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    let a = ledfx.add_ddp_device("Left", rx_a.port(), 10);
    let b = ledfx.add_ddp_device("Right", rx_b.port(), 10);

    let (_, created) = ledfx.request(
        "POST",
        "/api/virtuals",
        r#"{"config":{"name":"Both Ends"}}"#,
    );
    assert_eq!(
        created["payload"]["reason"], "Created Virtual both-ends",
        "{created}"
    );
    let body = json!({"segments": [[a, 0, 4, false], [b, 5, 200, false]]});
    let (_, set) = ledfx.request("POST", "/api/virtuals/both-ends", &body.to_string());
    assert_eq!(
        set["segments"],
        json!([[a, 0, 4, false], [b, 5, 9, false]]),
        "clamped"
    );
    ledfx.set_effect("both-ends", "singleColor", json!({"color": "#ff0000"}));

    let (red, off) = ([255, 0, 0], [0, 0, 0]);
    let left: Vec<[u8; 3]> = [[red; 5], [off; 5]].concat();
    let right: Vec<[u8; 3]> = [[off; 5], [red; 5]].concat();
    let lit = poll_until(Duration::from_secs(10), || {
        shows(&mut rx_a, &left) && shows(&mut rx_b, &right)
    });
    println!("both segments lit after {lit:?}");
    assert!(
        lit.is_some(),
        "each device shows only the virtual's segment"
    );
    let (_, devices_virtual) = ledfx.request("GET", &format!("/api/virtuals/{a}"), "");
    assert_eq!(devices_virtual[a.as_str()]["streaming"], true);

    let (_, updated) = ledfx.request(
        "POST",
        "/api/virtuals",
        r#"{"id":"both-ends","config":{"max_brightness":0.5}}"#,
    );
    assert_eq!(
        updated["payload"]["reason"], "Updated Virtual Both Ends",
        "{updated}"
    );
    let dimmed = poll_until(Duration::from_secs(10), || {
        rx_a.drain();
        rx_a.next_frame(Duration::from_secs(2))
            .is_some_and(|f| (120..=135).contains(&f.rgb[0]) && f.rgb[1] == 0)
    });
    assert!(dimmed.is_some(), "max_brightness 0.5 halves the red");

    let before = config_bytes(&ledfx);
    let bad = json!({"segments": [[a, 0, 4, false], ["nodev", 0, 4, false]]});
    let (_, refused) = ledfx.request("POST", "/api/virtuals/both-ends", &bad.to_string());
    assert_eq!(
        refused["payload"]["reason"],
        "Unable to set virtual segments: segments[1]: Invalid device id: nodev"
    );
    let (_, refused) = ledfx.request(
        "POST",
        "/api/virtuals",
        r#"{"id":"both-ends","config":{"rows":0}}"#,
    );
    assert_eq!(refused["status"], "failed", "{refused}");
    let (_, refused) = ledfx.request("POST", "/api/virtuals", r#"{"config":{"mapping":"span"}}"#);
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(
        config_bytes(&ledfx),
        before,
        "refused requests left config.json"
    );

    let (_, forgot) = ledfx.request(
        "POST",
        "/api/virtuals/both-ends/effects/delete",
        r#"{"type":"singleColor"}"#,
    );
    assert_eq!(forgot, json!({"status": "success"}));
    let (_, shown) = ledfx.request("GET", "/api/virtuals/both-ends", "");
    assert_eq!(shown["both-ends"]["effect"], json!({}));
    let stored = &config(&ledfx)["virtuals"];
    let entry = stored
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["id"] == "both-ends"))
        .expect("virtual stored");
    assert_eq!(entry["effects"], json!({}));

    drop(ledfx);
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    let (_, shown) = ledfx.request("GET", "/api/virtuals/both-ends", "");
    assert_eq!(
        shown["both-ends"]["segments"],
        json!([[a, 0, 4, false], [b, 5, 9, false]])
    );
    assert_eq!(shown["both-ends"]["config"]["max_brightness"], json!(0.5));
}

#[test]
fn power_restart_starts_every_stage_anew_and_shutdown_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    ledfx.add_ddp_device("Keeper", DdpReceiver::new().port(), 8);
    let api_before = child_named(ledfx.pid(), "api-proc").expect("api-proc runs");
    let render_before = child_named(ledfx.pid(), "render-proc").expect("render-proc runs");

    let (status, reply) =
        ledfx.request("POST", "/api/power", r#"{"timeout":0,"action":"restart"}"#);
    assert_eq!((status, reply), (200, json!({"status": "success"})));
    let restarted = poll_until(Duration::from_secs(20), || {
        !alive(api_before)
            && !alive(render_before)
            && child_named(ledfx.pid(), "render-proc").is_some()
            && ledfx
                .try_get("/api/devices")
                .is_some_and(|(_, d)| d["devices"]["keeper"].is_object())
    });
    println!("restarted and answering after {restarted:?}");
    assert!(
        restarted.is_some(),
        "new stages, same config, same supervisor process"
    );
    assert!(
        ledfx.child.try_wait().unwrap().is_none(),
        "the supervisor process stayed"
    );

    let stages = children(ledfx.pid());
    let (status, _) = ledfx.request("POST", "/api/power", r#"{"action":"shutdown"}"#);
    assert_eq!(status, 200);
    assert!(ledfx.wait_exit(Duration::from_secs(10)), "ledfx-rs exited");
    let code = ledfx.child.wait().unwrap().code();
    assert_eq!(code, Some(0), "an asked-for shutdown is a clean exit");
    assert!(
        poll_until(Duration::from_secs(5), || stages
            .iter()
            .all(|(p, _)| !alive(*p)))
        .is_some(),
        "no stage outlives it: {stages:?}"
    );
}

#[test]
fn cross_origin_pages_get_cors_only_when_local_or_listed_and_the_list_applies_live() {
    let dir = tempfile::tempdir().unwrap();
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    let port = ledfx.port;
    let before = config_bytes(&ledfx);
    let show = ("Origin", "https://show.example");

    let refused = http_with(port, "PUT", "/api/virtuals", &[show], "").unwrap();
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.header("access-control-allow-origin"), None);
    let (_, virtuals) = ledfx.request("GET", "/api/virtuals", "");
    assert_eq!(virtuals["paused"], false, "the refused toggle did nothing");
    assert_eq!(config_bytes(&ledfx), before);

    let preflight = http_with(
        port,
        "OPTIONS",
        "/api/virtuals",
        &[
            ("Origin", "http://192.168.1.50:3000"),
            ("Access-Control-Request-Method", "PUT"),
        ],
        "",
    )
    .unwrap();
    assert_eq!(preflight.status, 200, "{preflight:?}");
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://192.168.1.50:3000")
    );
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET, PUT, POST, DELETE")
    );

    let rebound = http_with(
        port,
        "GET",
        "/api/info",
        &[("Host", "attacker.example:80")],
        "",
    )
    .unwrap();
    assert_eq!(rebound.status, 403, "{rebound:?}");

    let (_, updated) = ledfx.request(
        "PUT",
        "/api/config",
        r#"{"allowed_origins":["https://show.example"]}"#,
    );
    assert_eq!(updated["status"], "success", "{updated}");
    let mut answer = None;
    let live = poll_until(Duration::from_secs(10), || {
        answer = http_with(port, "PUT", "/api/virtuals", &[show], "").ok();
        answer.as_ref().is_some_and(|a| a.status == 200)
    });
    println!("allowed_origins applied after {live:?}");
    let answer = answer.expect("an answer");
    assert!(live.is_some(), "{answer:?}");
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://show.example")
    );
}

fn backups(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("config_backup_"))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn importing_and_resetting_the_config_apply_live_and_keep_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut rx = DdpReceiver::new();
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    ledfx.add_ddp_device("Before", DdpReceiver::new().port(), 4);
    let original = config_bytes(&ledfx);

    let imported = json!({
        "global_brightness": 1.0,
        "devices": [
            {"id": "imported", "type": "ddp", "config": {"name": "Imported", "ip_address": "127.0.0.1", "port": rx.port(), "pixel_count": 6}},
            {"id": "lamp", "type": "hue", "config": {"name": "Lamp"}}
        ],
        "virtuals": [
            {"id": "imported", "is_device": "imported", "active": true,
             "config": {"name": "Imported"}, "segments": [["imported", 0, 5, false]],
             "effect": {"type": "singleColor", "config": {"color": "#0000ff"}}}
        ]
    });
    let (status, out) = ledfx.request("POST", "/api/config", &imported.to_string());
    assert_eq!((status, &out["status"]), (200, &json!("success")), "{out}");
    let kept = backups(dir.path());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        original,
        "the old file, byte for byte"
    );
    let blue = poll_until(Duration::from_secs(10), || {
        rx.drain();
        rx.next_frame(Duration::from_secs(2))
            .is_some_and(|f| f.rgb.chunks(3).all(|p| p == [0, 0, 255]))
    });
    println!("imported config lit the device after {blue:?}");
    assert!(
        blue.is_some(),
        "the imported virtual runs without a restart"
    );
    let (_, info) = ledfx.request("GET", "/api/info", "");
    assert_eq!(
        info["ledfx_rs"]["config_problems"][0]["id"], "lamp",
        "{info}"
    );
    let on_disk = config(&ledfx);
    assert!(
        on_disk["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["type"] == "hue"),
        "kept as written"
    );

    let before = config_bytes(&ledfx);
    let (_, refused) = ledfx.request("POST", "/api/config", r#"{"global_brightness":"max"}"#);
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(config_bytes(&ledfx), before);
    assert_eq!(
        backups(dir.path()).len(),
        1,
        "a refused import keeps no copy"
    );

    let (_, reset) = ledfx.request("DELETE", "/api/config", "");
    assert_eq!(reset["status"], "success", "{reset}");
    let (_, devices) = ledfx.request("GET", "/api/devices", "");
    assert_eq!(devices["devices"], json!({}));
    let kept = backups(dir.path());
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.iter().any(|p| std::fs::read(p).unwrap() == before));
}

#[test]
fn a_built_in_preset_lights_the_strip_and_a_saved_user_preset_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut rx = DdpReceiver::new();
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    let id = ledfx.add_ddp_device("Strip", rx.port(), 12);
    ledfx.set_effect(&id, "rainbow", json!({}));

    let body = json!({"category": "ledfx_presets", "effect_id": "singleColor", "preset_id": "red"});
    let (_, applied) = ledfx.request(
        "PUT",
        &format!("/api/virtuals/{id}/presets"),
        &body.to_string(),
    );
    assert_eq!(applied["effect"]["type"], "singleColor", "{applied}");
    let red = poll_until(Duration::from_secs(10), || {
        shows(&mut rx, &[[255, 0, 0]; 12])
    });
    println!("preset red on the wire after {red:?}");
    assert!(red.is_some());
    let (_, listed) = ledfx.request("GET", &format!("/api/virtuals/{id}/presets"), "");
    assert_eq!(listed["ledfx_presets"]["red"]["active"], true, "{listed}");

    let (_, saved) = ledfx.request(
        "POST",
        &format!("/api/virtuals/{id}/presets"),
        r#"{"name":"Alarm Red"}"#,
    );
    assert_eq!(saved["preset"]["id"], "alarm-red", "{saved}");
    let before = config_bytes(&ledfx);
    let (_, refused) = ledfx.request(
        "PUT",
        "/api/effects/singleColor/presets",
        r#"{"category":"ledfx_presets","preset_id":"red","name":"Crimson"}"#,
    );
    assert_eq!(refused["status"], "failed", "{refused}");
    assert_eq!(config_bytes(&ledfx), before);

    drop(ledfx);
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    let (_, presets) = ledfx.request("GET", "/api/effects/singleColor/presets", "");
    assert_eq!(
        presets["user_presets"]["alarm-red"]["name"], "Alarm Red",
        "{presets}"
    );
    let (_, config) = ledfx.request("GET", "/api/config", "");
    assert!(
        config["ledfx_presets"]["rainbow"].is_object(),
        "LedFx's built-ins are served"
    );
    let (_, gone) = ledfx.request("DELETE", "/api/effects/singleColor/presets/alarm-red", "");
    assert_eq!(gone, json!({"status": "success"}));
}

#[test]
fn a_fallback_brings_the_previous_effect_back_on_time_or_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut rx = DdpReceiver::new();
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    let id = ledfx.add_ddp_device("Strip", rx.port(), 6);
    ledfx.set_effect(&id, "singleColor", json!({"color": "#0000ff"}));
    let blue = [[0, 0, 255]; 6];
    assert!(poll_until(Duration::from_secs(10), || shows(&mut rx, &blue)).is_some());

    let path = format!("/api/virtuals/{id}/effects");
    let body = json!({"type": "singleColor", "config": {"color": "#ff0000"}, "fallback": 1});
    let (_, set) = ledfx.request("POST", &path, &body.to_string());
    assert_eq!(set["status"], "success", "{set}");
    let asked = std::time::Instant::now();
    assert!(poll_until(Duration::from_secs(5), || shows(&mut rx, &[[255, 0, 0]; 6])).is_some());
    let back = poll_until(Duration::from_secs(10), || shows(&mut rx, &blue));
    println!(
        "blue back {:?} after the 1 s fallback was set",
        asked.elapsed()
    );
    assert!(
        back.is_some(),
        "the timer in the supervisor brought blue back"
    );
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "not before its time"
    );

    let body = json!({"type": "singleColor", "config": {"color": "#00ff00"}, "fallback": true});
    ledfx.request("POST", &path, &body.to_string());
    assert!(poll_until(Duration::from_secs(5), || shows(&mut rx, &[[0, 255, 0]; 6])).is_some());
    let (_, fired) = ledfx.request("GET", &format!("/api/virtuals/{id}/fallback"), "");
    assert_eq!(fired, json!({"status": "success"}));
    assert!(
        poll_until(Duration::from_secs(5), || shows(&mut rx, &blue)).is_some(),
        "the button-release GET fires it at once"
    );
}

#[test]
fn frontend_log_lines_are_rate_limited_and_no_client_is_listed_without_a_websocket() {
    let ledfx = Ledfx::start();
    let sent = std::time::Instant::now();
    let (status, first) = ledfx.request("POST", "/api/log", r#"{"text":"page loaded"}"#);
    assert_eq!((status, first), (200, json!({"status": "success"})));
    let (_, second) = ledfx.request("POST", "/api/log", r#"{"text":"again"}"#);
    // The limit is one line per second per address; only a second post within that second
    // can show it (a machine too loaded to send two requests in a second cannot).
    let between = sent.elapsed();
    println!("second post {between:?} after the first");
    if between < Duration::from_millis(900) {
        assert_eq!(second["payload"]["type"], "warning", "{second}");
    }
    let (_, empty) = ledfx.request("POST", "/api/log", r#"{"text":"\u00e9\u00e9"}"#);
    assert_eq!(
        empty["payload"]["reason"],
        "Text must contain ASCII characters."
    );
    let (_, clients) = ledfx.request("GET", "/api/clients", "");
    assert_eq!(clients, json!({}));
    let (_, sync) = ledfx.request("POST", "/api/clients", r#"{"action":"sync"}"#);
    assert_eq!(sync, json!({"status": "success", "action": "sync"}));
}

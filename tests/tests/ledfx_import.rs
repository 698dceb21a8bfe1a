//! A configuration directory written by LedFx 2.2.1 itself (recorded in
//! `tests/fixtures/ledfx-2.2.1/config-dir/`: six devices of five types, device virtuals with
//! effects, a segmented span virtual, a copy virtual, two scenes, user presets, a user colour
//! and gradient) started with `ledfx-rs --config-dir`: what ledfx-rs can drive runs and is
//! visible through the API, and what it cannot stays in `config.json` as LedFx wrote it and
//! is reported.

use std::time::Duration;

use e2e_tests::{poll_until, DdpReceiver, Ledfx};
use serde_json::{json, Value};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/ledfx-2.2.1/config-dir/config.json"
);

/// The entries of one section of a config document, by id.
fn entry<'a>(doc: &'a Value, section: &str, id: &str) -> Option<&'a Value> {
    doc[section].as_array()?.iter().find(|e| e["id"] == id)
}

#[test]
fn a_ledfx_config_dir_starts_with_everything_visible_and_nothing_lost() {
    let written = std::fs::read(FIXTURE).expect("fixture");
    let ledfx_doc: Value = serde_json::from_slice(&written).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, &written).unwrap();
    // The fixture's DDP devices send to 127.0.0.1:4048 and 127.0.0.5:4048.
    let mut porch = DdpReceiver::bind("127.0.0.1:4048").expect("port 4048 free on 127.0.0.1");
    let mut kitchen = DdpReceiver::bind("127.0.0.5:4048").expect("port 4048 free on 127.0.0.5");
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        written,
        "starting rewrote nothing"
    );

    let (_, devices) = ledfx.request("GET", "/api/devices", "");
    let mut driven: Vec<&String> = devices["devices"].as_object().unwrap().keys().collect();
    driven.sort();
    assert_eq!(driven, ["kitchen-ddp", "porch-ddp"]);
    let (_, virtuals) = ledfx.request("GET", "/api/virtuals", "");
    assert_eq!(
        virtuals["virtuals"]["porch-ddp"]["effect"]["type"],
        "rainbow"
    );
    assert_eq!(
        virtuals["virtuals"]["porch-ddp"]["active"], true,
        "LedFx runs a virtual with an effect"
    );
    assert_eq!(
        virtuals["virtuals"]["kitchen-ddp"]["effect"]["config"]["color"],
        "#ff8800"
    );
    let (_, scenes) = ledfx.request("GET", "/api/scenes", "");
    assert_eq!(scenes["scenes"]["evening"]["name"], "Evening", "{scenes}");
    assert!(scenes["scenes"]["party-time"].is_object());
    let (_, colors) = ledfx.request("GET", "/api/colors", "");
    assert_eq!(colors["colors"]["user"], json!({"stage amber": "#ffbf00"}));
    assert_eq!(
        colors["gradients"]["user"]["dusk"],
        "linear-gradient(90deg, #ff8800 0%, #220044 100%)"
    );
    let (_, config) = ledfx.request("GET", "/api/config", "");
    assert_eq!(config["global_brightness"], json!(0.8));
    assert_eq!(
        config["user_presets"]["rainbow"]["slow-porch"]["name"], "Slow Porch",
        "{}",
        config["user_presets"]
    );

    // What ledfx-rs cannot drive yet, each with its reason.
    let (_, info) = ledfx.request("GET", "/api/info", "");
    let problems = info["ledfx_rs"]["config_problems"]
        .as_array()
        .unwrap()
        .clone();
    let mut reported: Vec<String> = problems
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["entry"].as_str().unwrap(),
                p["id"].as_str().unwrap()
            )
        })
        .collect();
    reported.sort();
    let mut expected = vec![
        "devices/pc-rgb",
        "devices/shelf-udp",
        "devices/stage-e131",
        "devices/truss-artnet",
        "virtuals/house-front",
        "virtuals/mirror-pair",
        "virtuals/pc-rgb",
        "virtuals/shelf-udp",
        "virtuals/stage-e131",
        "virtuals/truss-artnet",
    ];
    expected.sort();
    assert_eq!(reported, expected);
    assert!(problems
        .iter()
        .all(|p| p["reason"].as_str().is_some_and(|r| !r.is_empty())));
    assert!(problems.iter().any(
        |p| p["id"] == "house-front" && p["reason"].as_str().unwrap().contains("\"gradient\"")
    ));

    // The kitchen's singleColor at the configured global brightness (0xff8800 × 0.8, cut to
    // integers as LedFx's uint8 conversion does); the porch animates.
    let amber = poll_until(Duration::from_secs(10), || {
        kitchen.drain();
        kitchen
            .next_frame(Duration::from_secs(2))
            .is_some_and(|f| f.rgb.len() == 90 * 3 && f.rgb.chunks(3).all(|p| p == [204, 108, 0]))
    });
    kitchen.drain();
    let last = kitchen
        .next_frame(Duration::from_secs(2))
        .map(|f| f.rgb[..6].to_vec());
    println!("kitchen lit after {amber:?}; its frame starts {last:?}");
    assert!(amber.is_some(), "#ff8800 at global brightness 0.8");
    let frames = porch.collect(Duration::from_millis(500));
    assert!(
        frames.len() > 10,
        "the porch rainbow runs: {} frames",
        frames.len()
    );

    // An unrelated change rewrites the file; every entry ledfx-rs cannot use is still there
    // as LedFx wrote it.
    let (_, updated) = ledfx.request("PUT", "/api/config", r#"{"global_brightness": 0.5}"#);
    assert_eq!(updated["status"], "success", "{updated}");
    let now: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for name in &expected {
        let (section, id) = name.split_once('/').unwrap();
        assert_eq!(
            entry(&now, section, id),
            entry(&ledfx_doc, section, id),
            "{name} kept as written"
        );
    }
    assert_eq!(now["scenes"], ledfx_doc["scenes"]);
    assert_eq!(now["user_presets"], ledfx_doc["user_presets"]);
    assert_eq!(now["global_brightness"], json!(0.5));
    assert!(
        dir.path().join("config.json.before-ledfx-rs").exists(),
        "the original copy"
    );
}

#[test]
fn an_older_ledfx_layout_is_migrated_at_start_and_its_scene_lights_the_strip() {
    let dir = tempfile::tempdir().unwrap();
    let mut rx = DdpReceiver::new();
    // LedFx 2.0's layout: devices without virtuals, `custom_presets`, scenes by device.
    let old = json!({
        "configuration_version": "2.2.0",
        "devices": [{"id": "porch", "type": "ddp", "config": {
            "name": "Porch Light", "ip_address": "127.0.0.1", "port": rx.port(), "pixel_count": 8}}],
        "custom_presets": {"singleColor": {"warm": {"name": "Warm", "config": {"color": "#ff8800"}}}},
        "scenes": {"night": {"name": "Night", "devices": {
            "porch": {"type": "singleColor", "config": {"colour": "#00ff00"}}}}},
    });
    let path = dir.path().join("config.json");
    let written = serde_json::to_vec_pretty(&old).unwrap();
    std::fs::write(&path, &written).unwrap();
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        written,
        "not rewritten at start"
    );

    let (_, virtuals) = ledfx.request("GET", "/api/virtuals", "");
    assert_eq!(
        virtuals["virtuals"]["porch-light"]["segments"],
        json!([["porch", 0, 7, false]]),
        "{virtuals}"
    );
    let (_, presets) = ledfx.request("GET", "/api/effects/singleColor/presets", "");
    assert_eq!(presets["user_presets"]["warm"]["name"], "Warm", "{presets}");
    let (_, activated) = ledfx.request(
        "PUT",
        "/api/scenes",
        r#"{"id":"night","action":"activate"}"#,
    );
    assert_eq!(activated["status"], "success", "{activated}");
    let green = poll_until(Duration::from_secs(10), || {
        rx.drain();
        rx.next_frame(Duration::from_secs(2))
            .is_some_and(|f| f.rgb.chunks(3).all(|p| p == [0, 255, 0]))
    });
    println!("the migrated scene lit the strip after {green:?}");
    assert!(
        green.is_some(),
        "`colour` became `color`, the device's scene entry its virtual's"
    );
    assert!(dir.path().join("config.json.before-ledfx-rs").exists());
}

//! `/api/virtuals_tools` end to end (ledfx-api.md §3.16, §3.17): flashes, calibration,
//! one-off paints and copies, seen as DDP pixels on 127.0.0.1; none of it reaches
//! `config.json` except a copy.

use std::time::Duration;

use e2e_tests::{poll_until, DdpReceiver, Ledfx};
use serde_json::json;

/// Waits until the device's newest frame satisfies `check`.
fn until(rx: &mut DdpReceiver, what: &str, check: impl Fn(&[u8]) -> bool) {
    let seen = poll_until(Duration::from_secs(10), || {
        rx.drain();
        rx.next_frame(Duration::from_secs(2))
            .is_some_and(|f| check(&f.rgb))
    });
    println!("{what} after {seen:?}");
    assert!(seen.is_some(), "{what}");
}

#[test]
fn flashes_calibration_paints_and_copies_show_on_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let (mut rx_a, mut rx_b) = (DdpReceiver::new(), DdpReceiver::new());
    let ledfx = Ledfx::start_in(dir.path(), &["--audio", "none"]);
    let a = ledfx.add_ddp_device("Alpha", rx_a.port(), 10);
    let b = ledfx.add_ddp_device("Beta", rx_b.port(), 10);
    ledfx.set_effect(&a, "singleColor", json!({"color": "#0000ff"}));
    until(&mut rx_a, "blue", |f| f.chunks(3).all(|p| p == [0, 0, 255]));
    let file = std::fs::read(ledfx.config_dir.join("config.json")).unwrap();

    let tool = |method: &str, path: &str, body: serde_json::Value| {
        let (status, reply) = ledfx.request(method, path, &body.to_string());
        assert_eq!(
            (status, &reply["status"]),
            (200, &json!("success")),
            "{path} {body}: {reply}"
        );
    };
    tool(
        "POST",
        "/api/virtuals_tools",
        json!({"tool": "oneshot", "color": "white", "hold": 5000, "brightness": 1}),
    );
    until(&mut rx_a, "the white flash over the blue", |f| {
        f.chunks(3).all(|p| p == [255, 255, 255])
    });
    tool("PUT", "/api/virtuals_tools", json!({"tool": "oneshot"}));
    until(&mut rx_a, "blue again once the flash is stopped", |f| {
        f.chunks(3).all(|p| p == [0, 0, 255])
    });

    let path = format!("/api/virtuals_tools/{a}");
    tool("PUT", &path, json!({"tool": "calibration", "mode": "on"}));
    until(
        &mut rx_a,
        "calibration red, brightening along the strip",
        |f| f[27..30] == [255, 0, 0] && f[0] > 0 && f[0] < f[15] && f[1] == 0 && f[2] == 0,
    );
    tool(
        "PUT",
        &path,
        json!({"tool": "highlight", "device": a, "start": 0, "stop": 1}),
    );
    until(&mut rx_a, "the highlight in white", |f| f[..6] == [255; 6]);
    tool("PUT", &path, json!({"tool": "calibration", "mode": "off"}));
    until(&mut rx_a, "the effect back", |f| {
        f.chunks(3).all(|p| p == [0, 0, 255])
    });

    // Beta runs nothing; a paint shows once and stays on the wire as its last frame.
    tool(
        "PUT",
        &format!("/api/virtuals_tools/{b}"),
        json!({"tool": "force_color", "color": "#00ff00"}),
    );
    until(&mut rx_b, "the paint on the idle device", |f| {
        f.chunks(3).all(|p| p == [0, 255, 0])
    });
    assert_eq!(
        std::fs::read(ledfx.config_dir.join("config.json")).unwrap(),
        file,
        "tools are not saved"
    );

    tool("PUT", &path, json!({"tool": "copy", "target": [b]}));
    until(&mut rx_b, "the copied effect", |f| {
        f.chunks(3).all(|p| p == [0, 0, 255])
    });
    let (_, shown) = ledfx.request("GET", &format!("/api/virtuals/{b}"), "");
    assert_eq!(shown[b.as_str()]["effect"]["type"], "singleColor");
    let (_, refused) = ledfx.request("PUT", &path, r#"{"tool":"copy","target":"x"}"#);
    assert_eq!(
        refused["payload"]["reason"],
        "Required attribute for copy, target must be a list"
    );
}

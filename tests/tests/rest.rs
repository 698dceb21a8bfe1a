//! The smaller REST groups end to end against the real `ledfx-rs`: what a client sees, what
//! lands in `config.json`, and that a rejected request leaves the file byte for byte as it
//! was.

use e2e_tests::Ledfx;
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

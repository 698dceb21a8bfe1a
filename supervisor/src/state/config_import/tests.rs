//! Importing and resetting the whole configuration (ledfx-api.md §3.2).

use proto::api::system::SystemCommand;
use proto::api::{ApiFailure, Json};
use serde_json::{json, Value};

use crate::state::test_support::{ok, with_dummies};
use crate::state::State;

fn import(s: &mut State, body: Value) -> Result<Value, ApiFailure> {
    s.apply(SystemCommand::ImportConfig {
        body: Json::from_value(&body),
    })
    .map(|j| j.to_value())
}

#[test]
fn an_import_replaces_everything_asks_for_a_backup_and_keeps_what_it_cannot_use() {
    let mut s = with_dummies(&["old"], 5);
    let id = s.doc.core["instance_id"].clone();
    let out = import(
        &mut s,
        json!({
            "global_brightness": 0.5,
            "audio": {"min_volume": 0.3},
            "devices": [
                {"id": "new", "type": "dummy", "config": {"name": "New", "pixel_count": 7}},
                {"id": "hue", "type": "hue", "config": {"name": "Hue"}}
            ],
            "virtuals": [],
            "my_note": "kept as given"
        }),
    )
    .unwrap();
    let reason = out["payload"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "Configuration imported; the previous configuration is kept as config_backup_"
        ),
        "{reason}"
    );
    assert!(
        reason.ends_with("1 entries are kept but not used (see /api/info)"),
        "{reason}"
    );
    assert!(s.backup_to.as_deref().is_some_and(|b| reason.contains(b)));
    assert!(s.doc.device("old").is_none());
    assert!(s.doc.device("new").is_some());
    assert_eq!(s.doc.kept.len(), 1, "the hue device is kept, not driven");
    assert_eq!(s.doc.core["global_brightness"], json!(0.5));
    assert_eq!(s.doc.core["audio"]["min_volume"], json!(0.3));
    assert_eq!(s.doc.core["my_note"], "kept as given");
    assert_eq!(
        s.doc.core["instance_id"], id,
        "the installation keeps its id"
    );
}

#[test]
fn a_bad_import_changes_nothing_and_names_the_key() {
    let mut s = with_dummies(&["old"], 5);
    let before = s.doc.to_value();
    let err = import(&mut s, json!({"global_brightness": "dim"})).unwrap_err();
    assert!(
        err.reason
            .starts_with("Error loading config: global_brightness:"),
        "{}",
        err.reason
    );
    let err = import(&mut s, json!({"audio": {"nonsense": 1}})).unwrap_err();
    assert_eq!(
        err.reason,
        "Error loading config: \"Unknown/forbidden audio config key: 'nonsense'\""
    );
    let err = import(&mut s, json!({"devices": "none"})).unwrap_err();
    assert!(
        err.reason.starts_with("Error loading config: "),
        "{}",
        err.reason
    );
    assert_eq!(s.doc.to_value(), before);
    assert!(s.backup_to.is_none());
}

#[test]
fn a_reset_goes_back_to_defaults_and_two_backups_in_a_second_get_two_names() {
    let mut s = with_dummies(&["old"], 5);
    let first = ok(&mut s, SystemCommand::ResetConfig);
    assert!(s.doc.devices.is_empty() && s.doc.virtuals.is_empty());
    let first_name = s.backup_to.take().unwrap();
    assert!(first["payload"]["reason"]
        .as_str()
        .unwrap()
        .contains(&first_name));
    import(&mut s, json!({"global_brightness": 0.2})).unwrap();
    let second_name = s.backup_to.take().unwrap();
    assert_ne!(first_name, second_name);
    // Resetting what is already the default saves nothing, so no copy is promised.
    ok(&mut s, SystemCommand::ResetConfig);
    s.backup_to = None;
    let again = ok(&mut s, SystemCommand::ResetConfig);
    assert_eq!(again["payload"]["type"], "info", "{again}");
    assert!(s.backup_to.is_none());
}

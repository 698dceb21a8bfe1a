//! The owner's guarantees: persist before acknowledge, group commit, reads beside writes,
//! the change feed, rollback, and isolation of a panicking command.

use super::*;
use crate::config::ConfigDoc;
use proto::api::devices::DeviceCommand;
use proto::api::effects::EffectCommand;
use proto::api::system::SystemCommand;
use proto::api::virtuals::VirtualCommand;
use proto::api::{EffectConfigArg, Json};
use proto::pipeline::AudioSource;
use serde_json::json;

fn create(name: &str) -> DeviceCommand {
    DeviceCommand::Create {
        device_type: "dummy".into(),
        config: Json::from_value(&json!({"name": name, "pixel_count": 5})),
    }
}

fn decision(against_revision: u64, to_revision: u64, reason: &str) -> Decision {
    Decision {
        against_revision,
        to_revision,
        reason: reason.into(),
        stages: vec![proto::stage::StageKind::Render],
    }
}

fn started(
    dir: &std::path::Path,
) -> (
    OwnerHandle,
    watch::Receiver<Arc<PipelineState>>,
    ConfigStore,
) {
    let store = ConfigStore::open(dir).unwrap();
    let (state, _) = State::new(ConfigDoc::default(), AudioSource::None);
    let (owner, feed) = spawn(state, store.clone(), None).unwrap();
    (owner, feed, store)
}

#[tokio::test]
async fn a_change_is_on_disk_before_it_is_acknowledged_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, mut feed, store) = started(dir.path());
    let before = feed.borrow_and_update().revision;
    owner.call(create("Lamp")).await.unwrap();
    let saved = store.load().doc;
    assert_eq!(
        saved.devices[0].id, "lamp",
        "acknowledged change is on disk"
    );
    assert!(feed.has_changed().unwrap());
    assert_eq!(feed.borrow_and_update().revision, before + 1);
    // Reads and rejected commands publish nothing.
    owner.call(DeviceCommand::List).await.unwrap();
    let rejected = DeviceCommand::Create {
        device_type: "dummy".into(),
        config: Json::from_value(&json!({"name": "Bad", "pixel_count": -1})),
    };
    owner.call(rejected).await.unwrap_err();
    assert!(!feed.has_changed().unwrap());
    assert_eq!(store.load().doc.devices.len(), 1);
}

#[tokio::test]
async fn a_failed_save_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, feed, _) = started(&dir.path().join("cfg"));
    // Replace the config directory with a file: every write into it now fails.
    std::fs::remove_dir_all(dir.path().join("cfg")).unwrap();
    std::fs::write(dir.path().join("cfg"), b"not a directory").unwrap();
    let err = owner.call(create("Lamp")).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::PersistFailed);
    let devices = owner.call(DeviceCommand::List).await.unwrap().to_value();
    assert_eq!(
        devices["devices"],
        json!({}),
        "the rejected change is not in memory"
    );
    assert!(feed.borrow().devices.is_empty());
    assert_eq!(owner.snapshot().state.revision, 1);
}

#[tokio::test]
async fn every_write_yields_its_events_with_strictly_increasing_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, _, _) = started(dir.path());
    let (snapshot, mut changes) = owner.subscribe();
    let writes: Vec<(ApiCall, &str)> = vec![
        (ApiCall::new(&create("Lamp")), "device_created"),
        (
            ApiCall::new(&DeviceCommand::Update {
                id: "lamp".into(),
                config: Json::from_value(&json!({"pixel_count": 8})),
            }),
            "device_updated",
        ),
        (
            ApiCall::new(&EffectCommand::Set {
                virtual_id: "lamp".into(),
                effect_type: "rainbow".into(),
                config: EffectConfigArg::Last,
            }),
            "effect_set",
        ),
        (
            ApiCall::new(&EffectCommand::Update {
                virtual_id: "lamp".into(),
                effect_type: Some("rainbow".into()),
                config: Some(Json::from_value(&json!({"speed": 3.0}))),
            }),
            "effect_updated",
        ),
        (ApiCall::new(&VirtualCommand::TogglePause), "global_pause"),
        (
            ApiCall::new(&VirtualCommand::SetActive {
                id: "lamp".into(),
                active: false,
            }),
            "virtual_activated",
        ),
        (
            ApiCall::new(&EffectCommand::Clear {
                virtual_id: "lamp".into(),
            }),
            "effect_cleared",
        ),
        (
            ApiCall::new(&DeviceCommand::Delete { id: "lamp".into() }),
            "device_deleted",
        ),
    ];
    let mut last = snapshot.state.revision;
    for (call, expected) in writes {
        owner.call_until(&call, None).await.unwrap();
        let change = changes.recv().await.unwrap();
        assert_eq!(change.revision, last + 1, "{call:?}");
        last = change.revision;
        let names: Vec<String> = change.events.iter().map(proto::feed::Event::name).collect();
        assert!(
            names.iter().any(|n| n == expected),
            "{call:?} gave {names:?}"
        );
    }
    // A read or a write that changes nothing is not a change.
    owner.call(SystemCommand::GetInfo).await.unwrap();
    owner.call(VirtualCommand::TogglePause).await.unwrap();
    assert_eq!(changes.recv().await.unwrap().revision, last + 1);
    assert!(changes.try_recv().is_err());
}

#[tokio::test]
async fn concurrent_writes_share_saves_and_each_is_acknowledged_after_its_save() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, _, store) = started(dir.path());
    let (_, mut changes) = owner.subscribe();
    let writers = 24;
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let owner = owner.clone();
            let store = store.clone();
            tokio::spawn(async move {
                owner.call(create(&format!("Lamp {i}"))).await.unwrap();
                // Acknowledged means on disk.
                let on_disk = store.load().doc;
                assert!(
                    on_disk.devices.iter().any(|d| d.id == format!("lamp-{i}")),
                    "lamp-{i} acknowledged before it was saved"
                );
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let saves = store.save_count();
    println!("{writers} concurrent writes took {saves} saves");
    assert!(saves < writers, "writes were grouped ({saves} saves)");
    let mut revisions = Vec::new();
    while let Ok(change) = changes.try_recv() {
        revisions.push(change.revision);
    }
    let expected: Vec<u64> = (2..2 + writers).collect();
    assert_eq!(revisions, expected, "one revision per write, no gap");
}

#[tokio::test]
async fn reads_are_answered_while_the_writer_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, _, _) = started(dir.path());
    owner.call(create("Lamp")).await.unwrap();
    // Hold the writer as a slow save would, with a write queued behind it.
    let release = owner.stall().await;
    let writer = owner.clone();
    let queued = tokio::spawn(async move { writer.call(create("Other")).await });
    let read = owner.call(DeviceCommand::Get { id: "lamp".into() });
    let reply = tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("a read does not wait for the writer")
        .unwrap();
    assert_eq!(reply.to_value()["pixel_count"], 5);
    assert!(!queued.is_finished(), "the write is still waiting");
    drop(release);
    queued.await.unwrap().unwrap();
    assert_eq!(owner.snapshot().state.doc.devices.len(), 2);
}

#[tokio::test]
async fn a_panicking_command_answers_an_internal_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, _, store) = started(dir.path());
    owner.call(create("Lamp")).await.unwrap();
    let boom = DeviceCommand::Create {
        device_type: "dummy".into(),
        config: Json::from_value(&json!({"name": "failpoint: panic in validation"})),
    };
    let err = owner.call(boom).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Internal);
    assert!(err.reason.contains("nothing was changed"), "{}", err.reason);
    // The owner is still there and the state is as it was.
    owner.call(create("Other")).await.unwrap();
    let ids: Vec<String> = store
        .load()
        .doc
        .devices
        .iter()
        .map(|d| d.id.clone())
        .collect();
    assert_eq!(ids, ["lamp", "other"]);
}

#[tokio::test]
async fn a_rollback_restores_persists_publishes_and_lists_what_it_undid() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, mut feed, store) = started(dir.path());
    owner.call(create("Lamp")).await.unwrap();
    let good = feed.borrow_and_update().revision;
    let set = EffectCommand::Set {
        virtual_id: "lamp".into(),
        effect_type: "rainbow".into(),
        config: EffectConfigArg::Last,
    };
    owner.call(set).await.unwrap();
    assert!(feed.borrow_and_update().virtuals[0].effect.is_some());
    let current = feed.borrow().revision;
    assert!(
        owner
            .rollback(&decision(current - 1, good, "stale"))
            .await
            .is_err(),
        "a decision made against an older revision is refused"
    );
    let (_, mut changes) = owner.subscribe();
    let revision = owner
        .rollback(&decision(current, good, "render-proc kept crashing"))
        .await
        .unwrap();
    assert_eq!(revision, good + 2, "a rollback is a new revision");
    let after = feed.borrow_and_update().clone();
    assert!(after.virtuals[0].effect.is_none() && !after.virtuals[0].active);
    assert!(
        store.load().doc.virtuals[0].effect.is_none(),
        "the rollback is on disk"
    );
    let change = changes.recv().await.unwrap();
    assert_eq!(change.revision, revision);
    assert!(
        matches!(&change.events[0], Event::RolledBack { reverted_revisions, .. } if reverted_revisions == &[good + 1])
    );
    assert!(change
        .events
        .iter()
        .any(|e| matches!(e, Event::EffectCleared { .. })));
    let info = owner.call(SystemCommand::GetInfo).await.unwrap().to_value();
    assert_eq!(info["last_rollback"]["reason"], "render-proc kept crashing");
    assert_eq!(info["last_rollback"]["to_revision"], good);
    assert_eq!(
        info["last_rollback"]["reverted_revisions"],
        json!([good + 1])
    );
    // Rolling back to what is already in force, or to an unknown revision, is refused.
    assert!(owner
        .rollback(&decision(revision, good, "again"))
        .await
        .is_err());
    assert!(owner
        .rollback(&decision(revision, 0, "unknown"))
        .await
        .is_err());
}

#[tokio::test]
async fn a_pinned_target_outlives_the_short_history() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, feed, _) = started(dir.path());
    let target = feed.borrow().revision;
    owner.pin(Some(target)).await;
    for i in 0..(HISTORY + 5) {
        owner.call(create(&format!("Lamp {i}"))).await.unwrap();
    }
    let current = feed.borrow().revision;
    owner
        .rollback(&decision(current, target, "test"))
        .await
        .unwrap();
    assert!(
        feed.borrow().devices.is_empty(),
        "back to the pinned, empty configuration"
    );
    // Without the pin, a revision that old is gone.
    owner.pin(None).await;
    let current = feed.borrow().revision;
    for i in 0..(HISTORY + 1) {
        owner.call(create(&format!("Other {i}"))).await.unwrap();
    }
    let now = feed.borrow().revision;
    assert!(owner
        .rollback(&decision(now, current, "gone"))
        .await
        .is_err());
}

#[tokio::test]
async fn an_expired_command_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, feed, _) = started(dir.path());
    let call = ApiCall::new(&DeviceCommand::Create {
        device_type: "dummy".into(),
        config: Json::from_value(&json!({"name": "Lamp", "pixel_count": 10})),
    });
    let expired = Some(proto::monotonic_ns() - 1);
    let err = owner.call_until(&call, expired).await.unwrap_err();
    assert!(err.reason.contains("not applied"), "{}", err.reason);
    assert!(feed.borrow().devices.is_empty());
    let later = Some(proto::monotonic_ns() + 10_000_000_000);
    owner.call_until(&call, later).await.unwrap();
    assert_eq!(feed.borrow().devices.len(), 1);
}

#[tokio::test]
async fn a_driven_device_is_online_only_while_sends_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let store = ConfigStore::open(dir.path()).unwrap();
    let segment = Arc::new(proto::layout::Segment::create().unwrap());
    let (state, _) = State::new(ConfigDoc::default(), AudioSource::None);
    let (owner, feed) = spawn(state, store, Some(segment.clone())).unwrap();
    let create = DeviceCommand::Create {
        device_type: "ddp".into(),
        config: Json::from_value(
            &json!({"name": "Lamp", "ip_address": "127.0.0.1", "pixel_count": 10}),
        ),
    };
    owner.call(create).await.unwrap();
    let online = |owner: OwnerHandle| async move {
        owner.call(DeviceCommand::List).await.unwrap().to_value()["devices"]["lamp"]["online"]
            .clone()
    };
    assert_eq!(
        online(owner.clone()).await,
        true,
        "not driven: LedFx's default"
    );
    let set = EffectCommand::Set {
        virtual_id: "lamp".into(),
        effect_type: "rainbow".into(),
        config: EffectConfigArg::Last,
    };
    owner.call(set).await.unwrap();
    assert_eq!(
        online(owner.clone()).await,
        false,
        "driven, nothing sent yet"
    );
    let slot = feed.borrow().devices[0].slot;
    segment
        .device_stats(slot)
        .record_sent(proto::monotonic_ns());
    assert_eq!(online(owner.clone()).await, true, "driven and sending");
}

#[tokio::test]
async fn an_unknown_group_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, _, _) = started(dir.path());
    let call = ApiCall {
        group: "teleporters".into(),
        command: Json("\"Beam\"".into()),
    };
    let err = owner.call_until(&call, None).await.unwrap_err();
    assert!(err.reason.contains("\"teleporters\""), "{}", err.reason);
}

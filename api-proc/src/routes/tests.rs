//! Route tests in-process: a fake state owner records commands and answers them.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use proto::api::devices::DeviceCommand;
use proto::api::effects::EffectCommand;
use proto::api::virtuals::VirtualCommand;
use proto::api::{ApiCall, ApiFailure, EffectConfigArg, Json};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::app;
use crate::backend::Backend;

type Seen = Arc<Mutex<Vec<ApiCall>>>;

/// A router whose backend records every call and answers with `answer(call)`.
fn router(
    answer: impl Fn(&ApiCall) -> proto::api::ApiReply + Send + 'static,
) -> (axum::Router, Seen) {
    let (backend, mut calls) = Backend::channel(8);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some((command, reply)) = calls.recv().await {
            let answer = answer(&command);
            log.lock().unwrap().push(command);
            let _ = reply.send(answer);
        }
    });
    let hub = crate::feed::Hub::default();
    (
        app(
            backend,
            hub,
            crate::ws::Bus::default(),
            Default::default(),
            "http://localhost:8888".into(),
        ),
        seen,
    )
}

async fn send(
    app: &axum::Router,
    method: Method,
    uri: &str,
    body: &str,
) -> (StatusCode, String, Option<String>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let allow = response
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap(), allow)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn info_has_ledfx_shape() {
    let (app, _) = router(|_| Ok(Json::from_value(&json!({"dev_mode": false}))));
    let (status, body, _) = send(&app, Method::GET, "/api/info", "").await;
    assert_eq!(status, StatusCode::OK);
    let body = json_of(&body);
    assert_eq!(body["name"], "LedFx Controller");
    assert_eq!(body["url"], "http://localhost:8888");
    assert_eq!(body["is_release"], "false");
}

#[tokio::test]
async fn malformed_json_is_a_400_and_reaches_no_backend() {
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({}))));
    for (method, uri) in [
        (Method::POST, "/api/devices"),
        (Method::PUT, "/api/devices/a"),
        (Method::PUT, "/api/virtuals/a"),
        (Method::POST, "/api/virtuals/a/effects"),
    ] {
        let (status, body, _) = send(&app, method, uri, "{not json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(
            json_of(&body),
            json!({"status": "failed", "reason": "JSON decoding failed"})
        );
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn missing_attributes_are_named_like_ledfx() {
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({}))));
    let (status, body, _) = send(&app, Method::POST, "/api/devices", "{}").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json_of(&body)["payload"]["reason"],
        "Required attributes device_config, device_type were not provided"
    );
    let (_, body, _) = send(&app, Method::POST, "/api/devices", r#"{"type":"ddp"}"#).await;
    assert_eq!(
        json_of(&body)["payload"]["reason"],
        "Required attribute device_config was not provided"
    );
    let (_, body, _) = send(
        &app,
        Method::POST,
        "/api/virtuals/a/effects",
        r#"{"config":{}}"#,
    )
    .await;
    assert_eq!(
        json_of(&body)["payload"]["reason"],
        "Required attribute 'type' was not provided"
    );
    let (_, body, _) = send(&app, Method::PUT, "/api/virtuals/a", r#"{"active":null}"#).await;
    assert_eq!(
        json_of(&body)["payload"]["reason"],
        "Required attribute \"active\" was not provided"
    );
    let (_, body, _) = send(&app, Method::POST, "/api/devices", "[1]").await;
    assert_eq!(json_of(&body)["status"], "failed");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn requests_become_commands() {
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({"status": "success"}))));
    send(&app, Method::PUT, "/api/virtuals/v1", r#"{"active":"yes"}"#).await;
    send(&app, Method::PUT, "/api/virtuals", "").await;
    send(
        &app,
        Method::POST,
        "/api/virtuals/v1/effects",
        r#"{"type":"rainbow"}"#,
    )
    .await;
    send(
        &app,
        Method::POST,
        "/api/virtuals/v1/effects",
        r#"{"type":"rainbow","config":{"speed":2}}"#,
    )
    .await;
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].decode::<VirtualCommand>().unwrap(),
        VirtualCommand::SetActive {
            id: "v1".into(),
            active: true
        }
    );
    assert_eq!(
        seen[1].decode::<VirtualCommand>().unwrap(),
        VirtualCommand::TogglePause
    );
    assert_eq!(
        seen[2],
        ApiCall::new(&EffectCommand::Set {
            virtual_id: "v1".into(),
            effect_type: "rainbow".into(),
            config: EffectConfigArg::Last
        })
    );
    assert_eq!(
        seen[3].decode::<EffectCommand>().unwrap(),
        EffectCommand::Set {
            virtual_id: "v1".into(),
            effect_type: "rainbow".into(),
            config: EffectConfigArg::Given(Json::from_value(&json!({"speed": 2})))
        }
    );
}

#[tokio::test]
async fn failures_map_to_ledfx_envelopes() {
    let (app, _) = router(|call| match call.decode::<DeviceCommand>() {
        Ok(DeviceCommand::Get { .. }) => Err(ApiFailure::invalid("Device with ID x not found")),
        _ => Err(ApiFailure::internal("boom")),
    });
    let (status, body, _) = send(&app, Method::GET, "/api/devices/x", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json_of(&body),
        json!({"status": "failed", "payload": {"type": "error", "reason": "Device with ID x not found"}})
    );
    let (status, _, _) = send(&app, Method::GET, "/api/config", "").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn updating_an_effect_checks_for_a_running_effect_first() {
    let (app, seen) = router(|call| match call.decode::<EffectCommand>() {
        Ok(EffectCommand::Get { .. }) => Ok(Json::from_value(&json!({"effect": {}}))),
        _ => Ok(Json::from_value(&json!({}))),
    });
    let (_, body, _) = send(&app, Method::PUT, "/api/virtuals/v1/effects", "not json").await;
    assert_eq!(
        json_of(&body)["payload"]["reason"],
        "Virtual v1 has no active effect"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_get_body_selects_keys_of_the_schema_and_the_config() {
    use proto::api::schema::SchemaCommand;
    use proto::api::system::SystemCommand;
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({}))));
    for body in ["", "null", "{}", r#""audio""#, r#"["devices","effects"]"#] {
        let (status, _, _) = send(&app, Method::GET, "/api/schema", body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    send(&app, Method::GET, "/api/config", r#"["audio","scenes"]"#).await;
    send(&app, Method::GET, "/api/schema/effects", "").await;
    let seen = seen.lock().unwrap();
    let keys = |i: usize| match seen[i].decode::<SchemaCommand>().unwrap() {
        SchemaCommand::Get { keys } => keys,
        other => panic!("{other:?}"),
    };
    assert!(keys(0).is_empty() && keys(1).is_empty() && keys(2).is_empty());
    assert_eq!(keys(3), ["audio"]);
    assert_eq!(keys(4), ["devices", "effects"]);
    assert_eq!(
        seen[5].decode::<SystemCommand>().unwrap(),
        SystemCommand::GetConfig {
            keys: vec!["audio".into(), "scenes".into()]
        }
    );
    assert_eq!(
        seen[6].decode::<SchemaCommand>().unwrap(),
        SchemaCommand::GetType {
            schema_type: "effects".into()
        }
    );
}

#[tokio::test]
async fn a_bad_key_selection_is_refused_before_the_backend() {
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({}))));
    let (status, body, _) = send(&app, Method::GET, "/api/schema", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(&body),
        json!({"status": "failed", "reason": "JSON decoding failed"})
    );
    let (status, body, _) = send(&app, Method::GET, "/api/config", r#"["audio", 3]"#).await;
    assert_eq!(status, StatusCode::OK);
    let reason = json_of(&body)["payload"]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("a list containing a number"), "{reason}");
    let (_, body, _) = send(&app, Method::GET, "/api/schema", "42").await;
    assert_eq!(json_of(&body)["status"], "failed");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn scene_requests_become_commands_and_bad_actions_stop_in_api_proc() {
    use proto::api::scenes::SceneCommand;
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({"status": "success"}))));
    for (body, reason) in [
        (
            r#"{"id":"x"}"#,
            "Required attribute \"action\" was not provided",
        ),
        (r#"{"id":"x","action":"dance"}"#, "Invalid action \"dance\""),
        (
            r#"{"action":"rename","id":"x"}"#,
            "Required attribute \"name\" was not provided",
        ),
        (
            r#"{"action":"activate","id":3}"#,
            "id: expected a string, got a number",
        ),
        (
            r#"{"action":"activate_in","id":"x","ms":-1}"#,
            "ms: expected a number of seconds >= 0, got -1",
        ),
    ] {
        let (_, reply, _) = send(&app, Method::PUT, "/api/scenes", body).await;
        assert_eq!(json_of(&reply)["payload"]["reason"], reason, "{body}");
    }
    assert!(seen.lock().unwrap().is_empty());
    send(
        &app,
        Method::PUT,
        "/api/scenes",
        r#"{"id":"Party","action":"activate"}"#,
    )
    .await;
    send(&app, Method::DELETE, "/api/scenes/party", "").await;
    send(&app, Method::POST, "/api/scenes", r#"{"name":"n"}"#).await;
    let seen = seen.lock().unwrap();
    let commands: Vec<SceneCommand> = seen.iter().map(|c| c.decode().unwrap()).collect();
    assert_eq!(
        commands,
        [
            SceneCommand::Activate { id: "Party".into() },
            SceneCommand::Delete {
                id: "party".into(),
                from_path: true
            },
            SceneCommand::Save {
                body: Json::from_value(&json!({"name": "n"}))
            },
        ]
    );
}

#[tokio::test]
async fn bulk_effect_actions_are_checked_in_api_proc_and_become_commands() {
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({"status": "success"}))));
    for (body, reason) in [
        (r#"{}"#, "Required attribute \"action\" was not provided"),
        (r#"{"action":"explode"}"#, "Invalid action \"explode\""),
        (
            r#"{"action":"apply_global_effect"}"#,
            "Required attribute \"type\" was not provided",
        ),
        (
            r#"{"action":"apply_global_effect","type":"rainbow","config":"RANDOMIZE"}"#,
            "RANDOMIZE is not supported for apply_global_effect",
        ),
        (
            r#"{"action":"apply_global_effect","type":"rainbow","virtuals":[]}"#,
            "Invalid value for \"virtuals\": must be a non-empty list of virtual ids",
        ),
    ] {
        let (_, reply, _) = send(&app, Method::PUT, "/api/effects", body).await;
        assert_eq!(json_of(&reply)["payload"]["reason"], reason, "{body}");
    }
    assert!(seen.lock().unwrap().is_empty());
    send(
        &app,
        Method::PUT,
        "/api/effects",
        r#"{"action":"clear_all_effects"}"#,
    )
    .await;
    send(
        &app,
        Method::PUT,
        "/api/effects",
        r#"{"action":"apply_global_effect","type":"energy","virtuals":["a"]}"#,
    )
    .await;
    send(&app, Method::GET, "/api/effects", "").await;
    let seen = seen.lock().unwrap();
    let commands: Vec<EffectCommand> = seen.iter().map(|c| c.decode().unwrap()).collect();
    assert_eq!(
        commands,
        [
            EffectCommand::ClearAll,
            EffectCommand::ApplyGlobalEffect {
                effect_type: "energy".into(),
                config: None,
                virtuals: Some(vec!["a".into()]),
                fallback_s: None,
            },
            EffectCommand::ListAll,
        ]
    );
}

#[tokio::test]
async fn virtual_edits_become_commands_and_missing_attributes_stop_in_api_proc() {
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({"status": "success"}))));
    for (uri, body, reason) in [
        (
            "/api/virtuals",
            "{}",
            "Required attribute \"config\" was not provided",
        ),
        (
            "/api/virtuals",
            r#"{"id":3,"config":{}}"#,
            "id: expected a string, got a number",
        ),
        (
            "/api/virtuals/v",
            "{}",
            "Required attribute \"segments\" was not provided",
        ),
        (
            "/api/virtuals/v/effects/delete",
            "{}",
            "Required attribute 'type' was not provided",
        ),
    ] {
        let (status, text, _) = send(&app, Method::POST, uri, body).await;
        assert_eq!(
            (status, json_of(&text)["payload"]["reason"].clone()),
            (StatusCode::OK, json!(reason)),
            "{uri} {body}"
        );
    }
    assert!(seen.lock().unwrap().is_empty());
    send(
        &app,
        Method::POST,
        "/api/virtuals",
        r#"{"config":{"name":"A"}}"#,
    )
    .await;
    send(
        &app,
        Method::POST,
        "/api/virtuals",
        r#"{"id":"a","config":{"grouping":2}}"#,
    )
    .await;
    send(&app, Method::POST, "/api/virtuals/a", r#"{"segments":[]}"#).await;
    send(
        &app,
        Method::POST,
        "/api/virtuals/a/effects/delete",
        r#"{"type":"rainbow"}"#,
    )
    .await;
    let calls: Vec<VirtualCommand> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.decode().unwrap())
        .collect();
    assert_eq!(
        calls,
        [
            VirtualCommand::Save {
                id: None,
                config: Json::from_value(&json!({"name": "A"}))
            },
            VirtualCommand::Save {
                id: Some("a".into()),
                config: Json::from_value(&json!({"grouping": 2}))
            },
            VirtualCommand::SetSegments {
                id: "a".into(),
                segments: Json::from_value(&json!([]))
            },
            VirtualCommand::ForgetEffect {
                id: "a".into(),
                effect_type: "rainbow".into()
            },
        ]
    );
}

#[tokio::test]
async fn power_and_notify_check_their_fields_and_a_stray_power_request_signals_nobody() {
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({}))));
    for (uri, method, body, reason) in [
        (
            "/api/power",
            Method::POST,
            r#"{"action":"reboot"}"#,
            "Action reboot not in ['shutdown', 'restart']",
        ),
        (
            "/api/power",
            Method::POST,
            r#"{"timeout":-1}"#,
            "Timeout must be a positive integer",
        ),
        (
            "/api/power",
            Method::POST,
            r#"{"timeout":1.5}"#,
            "Timeout must be a positive integer",
        ),
        (
            "/api/notify",
            Method::PUT,
            r#"{"text":"hi"}"#,
            "Required attribute \"title\" was not provided",
        ),
        (
            "/api/notify",
            Method::PUT,
            r#"{"title":"hi"}"#,
            "Required attribute \"text\" was not provided",
        ),
    ] {
        let (status, text, _) = send(&app, method, uri, body).await;
        assert_eq!(
            (status, json_of(&text)["payload"]["reason"].clone()),
            (StatusCode::OK, json!(reason)),
            "{uri} {body}"
        );
    }
    let (_, text, _) = send(
        &app,
        Method::PUT,
        "/api/notify",
        r#"{"title":"a","text":"b"}"#,
    )
    .await;
    assert_eq!(json_of(&text), json!({"status": "success"}));
    // This test process was not started by a supervisor: nothing may be signalled.
    let (status, text, _) = send(&app, Method::POST, "/api/power", r#"{"timeout":0}"#).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{text}");
    let (status, text, _) = send(&app, Method::GET, "/api/check_for_updates", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&text)["payload"]["type"], "info");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn preset_requests_are_checked_in_ledfx_s_order_before_the_owner() {
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({"status": "success"}))));
    for (method, uri, body, reason) in [
        (
            Method::PUT,
            "/api/virtuals/v/presets",
            "{}",
            "Required attributes category, preset_id, effect_id were not provided",
        ),
        (
            Method::PUT,
            "/api/virtuals/v/presets",
            r#"{"category":"x","preset_id":"p","effect_id":"e"}"#,
            "Category x is not \"ledfx_presets\" or \"user_presets\"",
        ),
        (
            Method::POST,
            "/api/virtuals/v/presets",
            "{}",
            "Required attribute \"name\" was not provided",
        ),
        (
            Method::PUT,
            "/api/effects/rainbow/presets",
            r#"{"category":"x"}"#,
            "Required attribute \"preset_id\" was not provided",
        ),
        (
            Method::PUT,
            "/api/effects/rainbow/presets",
            r#"{"category":"x","preset_id":"p","name":"n"}"#,
            "Category x is not \"ledfx_presets\" or \"user_presets\"",
        ),
        (
            Method::DELETE,
            "/api/effects/rainbow/presets",
            "{}",
            "Required attribute \"category\" was not provided",
        ),
    ] {
        let (status, text, _) = send(&app, method, uri, body).await;
        assert_eq!(
            (status, json_of(&text)["payload"]["reason"].clone()),
            (StatusCode::OK, json!(reason)),
            "{uri} {body}"
        );
    }
    assert!(seen.lock().unwrap().is_empty());
    send(&app, Method::DELETE, "/api/virtuals/v/presets", "").await;
    send(
        &app,
        Method::DELETE,
        "/api/effects/rainbow/presets/mine",
        "",
    )
    .await;
    let groups: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.group.clone())
        .collect();
    assert_eq!(
        groups,
        ["effects", "presets"],
        "the legacy DELETE clears the effect"
    );
}

mod conventions;

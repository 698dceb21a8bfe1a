//! LedFx's HTTP conventions in front of every route (ledfx-api.md §1.1, §1.2, §1.7): verbs,
//! 404/405 bodies, the Host/Origin policy and CORS, the body limit.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use proto::api::Json;
use serde_json::json;
use tower::ServiceExt;

use super::{json_of, router, send};

#[tokio::test]
async fn unknown_path_and_wrong_verb_use_ledfx_bodies() {
    let (app, _) = router(|_| Ok(Json::from_value(&json!({}))));
    let (status, body, _) = send(&app, Method::GET, "/api/nothing", "").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "404: Not Found")
    );
    let (status, body, allow) = send(&app, Method::POST, "/api/info", "").await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "405: Method Not Allowed")
    );
    assert_eq!(allow.as_deref(), Some("GET"));
    // HEAD is not routed (axum would run GET's handler), nor any verb LedFx lacks.
    for method in [Method::HEAD, Method::PATCH, Method::OPTIONS] {
        let (status, _, allow) = send(&app, method.clone(), "/api/info", "").await;
        assert_eq!(
            (status, allow.as_deref()),
            (StatusCode::METHOD_NOT_ALLOWED, Some("DELETE,GET,POST,PUT")),
            "{method}"
        );
    }
    let (status, _, allow) = send(&app, Method::PATCH, "/api/colors/x", "").await;
    assert_eq!(
        (status, allow.as_deref()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("DELETE,GET,POST,PUT"))
    );
    let (status, _, allow) = send(&app, Method::GET, "/api/colors/x", "").await;
    assert_eq!(
        (status, allow.as_deref()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("DELETE"))
    );
    let (status, _, _) = send(&app, Method::HEAD, "/api/nothing", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A request with headers, answered by `app`: (status, headers, body).
async fn send_with(
    app: &axum::Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn the_origin_policy_and_body_limit_stand_in_front_of_every_route() {
    let (app, seen) = router(|_| Ok(Json::from_value(&json!({"status": "success"}))));
    let local = [
        ("host", "127.0.0.1:8888"),
        ("origin", "http://192.168.1.9:3000"),
    ];
    let (status, headers, body) = send_with(
        &app,
        Method::OPTIONS,
        "/api/virtuals",
        &[
            local[0],
            local[1],
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "content-type"),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://192.168.1.9:3000"
    );
    assert_eq!(
        headers["access-control-allow-methods"],
        "GET, PUT, POST, DELETE"
    );
    assert_eq!(headers["access-control-allow-headers"], "content-type");
    assert_eq!(headers["vary"], "Origin");
    let (status, headers, _) =
        send_with(&app, Method::PUT, "/api/virtuals", &local, Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://192.168.1.9:3000"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);

    let foreign = [
        ("host", "127.0.0.1:8888"),
        ("origin", "https://evil.example"),
    ];
    let (status, headers, body) =
        send_with(&app, Method::PUT, "/api/virtuals", &foreign, Vec::new()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!headers.contains_key("access-control-allow-origin"));
    assert_eq!(
        json_of(&body)["payload"]["reason"],
        "Origin not allowed: https://evil.example. Add it to allowed_origins in the LedFx config."
    );
    let (status, headers, _) =
        send_with(&app, Method::GET, "/api/virtuals", &foreign, Vec::new()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a foreign page may read, without CORS"
    );
    assert!(!headers.contains_key("access-control-allow-origin"));
    let (status, _, _) = send_with(
        &app,
        Method::GET,
        "/api/info",
        &[("host", "rebound.example.com")],
        Vec::new(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "DNS rebinding");
    assert_eq!(seen.lock().unwrap().len(), 2);

    let big = vec![b' '; 5 * 1024 * 1024 + 1];
    let (status, _, _) = send_with(&app, Method::POST, "/api/colors", &[], big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let mut fits = b"{}".to_vec();
    fits.resize(5 * 1024 * 1024, b' ');
    let (status, _, _) = send_with(&app, Method::POST, "/api/colors", &[], fits).await;
    assert_eq!(status, StatusCode::OK, "5 MiB is still accepted");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

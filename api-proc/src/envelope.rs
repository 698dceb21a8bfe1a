//! LedFx's response envelopes (ledfx-api.md §1.4) and the fixed 404/405 bodies (§1.2).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use proto::api::{ApiFailure, FailureKind};
use serde_json::{json, Value};

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A JSON response with LedFx's content type.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// HTTP 200 with `body`.
pub fn ok(body: &Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// The failure envelope `{"status":"failed","payload":{"type":"error","reason":R}}`.
pub fn failed_body(reason: &str) -> Value {
    json!({"status": "failed", "payload": {"type": "error", "reason": reason}})
}

/// LedFx "invalid-request": HTTP 200, status failed.
pub fn invalid(reason: impl AsRef<str>) -> Response {
    json_response(StatusCode::OK, &failed_body(reason.as_ref()))
}

/// LedFx "json-error": HTTP 400 `{"status":"failed","reason":"JSON decoding failed"}`.
pub fn json_error() -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"status": "failed", "reason": "JSON decoding failed"}),
    )
}

/// Maps a failure from the state owner.
pub fn failure(failure: &ApiFailure) -> Response {
    let status = match failure.kind {
        FailureKind::InvalidRequest => StatusCode::OK,
        FailureKind::Conflict => StatusCode::CONFLICT,
        FailureKind::Internal | FailureKind::PersistFailed => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_response(status, &failed_body(&failure.reason))
}

/// `404: Not Found` as text.
pub fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404: Not Found").into_response()
}

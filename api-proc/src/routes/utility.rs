//! `/api/power`, `/api/notify` and `/api/check_for_updates` (ledfx-api.md §3.26, §3.28).

use std::time::Duration;

use axum::body::Bytes;
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use proto::api::ApiFailure;
use serde_json::{json, Value};

use super::{parse_object, required, AppState, Handled, RequestError};
use crate::envelope;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/power", post(power))
        .route("/api/notify", put(notify))
        .route("/api/check_for_updates", get(check_for_updates))
}

/// How long the reply gets to reach the client before the supervisor is asked to stop.
const REPLY_GRACE: Duration = Duration::from_millis(200);

/// Shuts ledfx-rs down, or restarts it, after `timeout` seconds — in order, as a SIGTERM
/// would: the supervisor, this stage's parent, does the work (SIGTERM stops it, SIGUSR1
/// restarts it).
async fn power(body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let action = match body.get("action") {
        None | Some(Value::Null) => "shutdown".to_owned(),
        Some(Value::String(a)) => a.clone(),
        Some(other) => other.to_string(),
    };
    let signal = match action.as_str() {
        "shutdown" => rustix::process::Signal::TERM,
        "restart" => rustix::process::Signal::USR1,
        _ => {
            return Err(RequestError::Invalid(format!(
                "Action {action} not in ['shutdown', 'restart']"
            )))
        }
    };
    let timeout = match body.get("timeout") {
        None | Some(Value::Null) => 0,
        Some(t) => t
            .as_u64()
            .ok_or_else(|| RequestError::Invalid("Timeout must be a positive integer".into()))?,
    };
    let Some(supervisor) = supervisor() else {
        return Ok(envelope::failure(&ApiFailure::internal(
            "api-proc was not started by a ledfx-rs supervisor: nothing to shut down",
        )));
    };
    tracing::info!(action, timeout, "power request: ledfx-rs will {action}");
    // LedFx waits before it answers; so does ledfx-rs.
    tokio::time::sleep(Duration::from_secs(timeout)).await;
    tokio::spawn(async move {
        tokio::time::sleep(REPLY_GRACE).await;
        if let Err(e) = rustix::process::kill_process(supervisor, signal) {
            tracing::error!("power request: cannot signal the supervisor: {e}");
        }
    });
    Ok(envelope::ok(&json!({"status": "success"})))
}

/// The supervisor that started this stage, if it is still our parent (so a stray request
/// in a test or a hand-started stage signals nobody else).
fn supervisor() -> Option<rustix::process::Pid> {
    let named: i32 = std::env::var(proto::stage::ENV_SUPERVISOR_PID)
        .ok()?
        .parse()
        .ok()?;
    rustix::process::getppid().filter(|parent| parent.as_raw_nonzero().get() == named)
}

/// LedFx shows a desktop notification when it has a tray icon; ledfx-rs has none and logs
/// it.
async fn notify(body: Bytes) -> Handled {
    let body = parse_object(&body)?;
    let text = |key| {
        required(&body, key, '"').map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let (title, message) = (text("title")?, text("text")?);
    tracing::info!(%title, text = %message, "notification");
    Ok(envelope::ok(&json!({"status": "success"})))
}

/// An answer without a network call: ledfx-rs never phones home.
async fn check_for_updates() -> Response {
    envelope::ok(&json!({
        "status": "success",
        "payload": {
            "type": "info",
            "reason": format!(
                "ledfx-rs {} does not check for updates online; see its release page for newer versions",
                env!("CARGO_PKG_VERSION")
            ),
        },
    }))
}

//! The channel from handlers to the state owner.
//!
//! Handlers call [`Backend::call`] with a typed command of one resource group; a connection
//! task (see `main.rs`) carries the [`ApiCall`] envelope over the control socket and routes
//! replies back by request id. Tests substitute a task that answers directly.

use std::time::Duration;

use proto::api::{ApiCall, ApiFailure, ApiReply, Command};
use tokio::sync::{mpsc, oneshot};

/// One pending call: the envelope and where its reply goes.
pub type Call = (ApiCall, oneshot::Sender<ApiReply>);

/// How long a handler waits for the state owner before giving up. Longer than the owner's
/// expiry for unapplied commands (`proto::control::API_COMMAND_EXPIRY_NS`), so a request
/// reported as timed out has certainly not been applied.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Handle for sending commands to the state owner.
#[derive(Debug, Clone)]
pub struct Backend {
    tx: mpsc::Sender<Call>,
}

impl Backend {
    /// A backend whose calls arrive on the returned receiver.
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Call>) {
        let (tx, rx) = mpsc::channel(capacity);
        (Self { tx }, rx)
    }

    /// Sends `command` and waits (bounded) for its reply.
    pub async fn call<C: Command>(&self, command: &C) -> ApiReply {
        self.call_raw(ApiCall::new(command)).await
    }

    /// Sends an envelope as it is.
    pub async fn call_raw(&self, call: ApiCall) -> ApiReply {
        let (reply_tx, reply_rx) = oneshot::channel();
        let unavailable = |what: &str| ApiFailure::internal(format!("ledfx-rs state owner {what}"));
        self.tx
            .send((call, reply_tx))
            .await
            .map_err(|_| unavailable("is not connected"))?;
        match tokio::time::timeout(CALL_TIMEOUT, reply_rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(unavailable("dropped the request")),
            Err(_) => Err(unavailable("did not answer in time")),
        }
    }
}

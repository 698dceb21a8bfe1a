//! Fires effect fallbacks when they are due. It lives in the supervisor, beside the state
//! owner, so a pending fallback fires even while api-proc restarts.

use std::time::Duration;

use proto::api::effects::EffectCommand;

use crate::owner::OwnerHandle;

/// How often the timer looks for fallbacks when none is due sooner.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Runs until the owner is gone.
pub async fn run(owner: OwnerHandle) {
    loop {
        let next = owner.snapshot().state.next_fallback_due();
        let now = proto::monotonic_ns();
        match next {
            Some((virtual_id, token, due)) if due <= now => {
                let fire = EffectCommand::FireFallback {
                    virtual_id: virtual_id.clone(),
                    token: Some(token),
                };
                if let Err(e) = owner.call(fire).await {
                    tracing::warn!(%virtual_id, reason = %e.reason, "fallback could not fire");
                    // Do not spin on a fallback that cannot fire.
                    tokio::time::sleep(IDLE_CHECK).await;
                }
            }
            Some((_, _, due)) => {
                let wait = Duration::from_nanos(due - now).min(IDLE_CHECK);
                tokio::time::sleep(wait).await;
            }
            None => tokio::time::sleep(IDLE_CHECK).await,
        }
    }
}

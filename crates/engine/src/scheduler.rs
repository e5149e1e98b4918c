//! Moves scheduled tasks to queued when they fall due.
//!
//! It sleeps until the earliest due time the store reports, and the writer wakes
//! it when a task becomes scheduled (the new one may be earlier). The sleep is
//! capped so a wall-clock jump (suspend, clock change) is noticed within
//! [`MAX_SLEEP`]: polling is only that fallback.

use crate::engine::Inner;
use crate::error::TaskError;
use std::sync::Arc;
use std::time::Duration;

const MAX_SLEEP: Duration = Duration::from_secs(30);

pub(crate) async fn run(inner: Arc<Inner>) {
    loop {
        // Register for a wake-up before looking, so none is missed.
        let woken = inner.shared.wake_scheduler.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();

        let wait = match inner.writer.promote_due().await {
            Ok((_, next)) => next.map_or(MAX_SLEEP, |at| inner.clock.until(at).min(MAX_SLEEP)),
            Err(TaskError::ShuttingDown) => return,
            Err(e) => {
                tracing::error!(error = %e, "could not promote due tasks; trying again in 1 s");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut woken => {}
            _ = inner.stop_intake.cancelled() => return,
        }
    }
}

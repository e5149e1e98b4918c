//! Moves scheduled tasks to queued when they fall due.
//!
//! It sleeps until the earliest due time the store reports, and the writer wakes
//! it when a task becomes scheduled (the new one may be earlier). The sleep is
//! capped so a wall-clock jump (suspend, clock change) is noticed within
//! [`MAX_SLEEP`]: polling is only that fallback.

use crate::engine::Inner;
use crate::error::TaskError;
use crate::pool;
use std::sync::Arc;
use std::time::Duration;

const MAX_SLEEP: Duration = Duration::from_secs(30);

pub(crate) async fn run(inner: Arc<Inner>) {
    // True when the sleep ended because a task fell due (or at start).
    let mut due = true;
    loop {
        // Register for a wake-up before looking, so none is missed.
        let woken = inner.shared.wake_scheduler.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();

        // When tasks fall due, the free slots claim them in the promoting
        // commit: they start without waiting for a second commit. A wake-up
        // for a newly scheduled task takes no slots from the dispatcher.
        let slots = if due {
            pool::free_slots(&inner)
        } else {
            Vec::new()
        };
        let wait = match inner.writer.promote_due(slots.len()).await {
            Ok(promoted) => {
                pool::launch(&inner, promoted.claimed, slots);
                promoted
                    .next
                    .map_or(MAX_SLEEP, |at| inner.clock.until(at).min(MAX_SLEEP))
            }
            Err(TaskError::ShuttingDown) => return,
            Err(e) => {
                tracing::error!(error = %e, "could not promote due tasks; trying again in 1 s");
                Duration::from_secs(1)
            }
        };
        due = tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = &mut woken => false,
            _ = inner.stop_intake.cancelled() => return,
        };
    }
}

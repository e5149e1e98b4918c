//! Moves scheduled tasks to queued when they fall due, and fires schedules.
//! It decides *when*; it never claims a task or starts an executor: it asks
//! the dispatcher ([`pool::promote_due`]) to promote, which lets the free slots
//! claim what fell due in the same commit.
//!
//! It sleeps until the earliest due time the store reports, and the writer wakes
//! it when a task becomes scheduled or a schedule is saved (either may be
//! earlier). The sleep is capped so a wall-clock jump (suspend, clock change) is
//! noticed within [`MAX_SLEEP`]; such a wake-up only compares the clock with the
//! known due time, and goes to the store only when something is due.

use crate::engine::Inner;
use crate::error::TaskError;
use crate::pool;
use std::sync::Arc;
use std::time::Duration;

const MAX_SLEEP: Duration = Duration::from_secs(30);

pub(crate) async fn serve(inner: Arc<Inner>) {
    // The earliest due time as of the last look; `None`: nothing is due.
    let mut next = None;
    // Go to the store even if nothing known is due (at start; woken by the writer).
    let mut look = true;
    // The last wake-up was the timer (or the start): what falls due now may
    // take the free slots.
    let mut timer = true;
    loop {
        // Register for a wake-up before looking, so none is missed.
        let woken = inner.shared.wake_scheduler.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();

        if look || next.is_some_and(|at| at <= inner.clock.now()) {
            // On the timer, the dispatcher lets its free slots claim what falls
            // due in the promoting commit; a wake-up for a newly scheduled task
            // takes no slots from the dispatch loop.
            match pool::promote_due(&inner, timer).await {
                Ok(due) => next = due,
                Err(TaskError::ShuttingDown) => return,
                Err(e) => {
                    tracing::error!(error = %e, "could not promote due tasks; trying again in 1 s");
                    next = Some(inner.clock.now() + chrono::Duration::seconds(1));
                }
            }
        }
        let wait = next.map_or(MAX_SLEEP, |at| inner.clock.until(at).min(MAX_SLEEP));
        (look, timer) = tokio::select! {
            _ = tokio::time::sleep(wait) => (false, true),
            _ = &mut woken => (true, false),
            _ = inner.stop_intake.cancelled() => return,
        };
    }
}

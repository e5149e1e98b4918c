//! What deliveries do inside one write transaction: recorded with the commit
//! that completes their task, their tries' outcomes, a resend by hand. The
//! writer runs these; the deliverer (`deliverer`) sends after the commit.

use crate::delivery::{self, Delivery, DeliveryId, DeliveryStatus, MAX_DELIVERY_ATTEMPTS};
use crate::error::TaskError;
use crate::events::Draft;
use crate::lifecycle::Ctx;
use crate::storage::TaskTxn;
use crate::task::Task;

/// How one try of a delivery went, as the deliverer reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tried {
    Sent,
    /// Worth another try (a timeout, a refused connection, 429, 5xx), not
    /// before `after` when the receiver said so.
    Retry {
        error: String,
        after: Option<std::time::Duration>,
    },
    /// Another try would fail the same way (a 4xx, a path that cannot be written).
    Failed {
        error: String,
    },
}

fn save(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    old: Option<&Delivery>,
    new: Delivery,
) -> Result<Delivery, TaskError> {
    txn.put_delivery(old, &new)?;
    ctx.events.push(Draft::delivery(&new, ctx.now));
    Ok(new)
}

/// Records the deliveries of a task that just completed, in its transaction.
/// `only_if_changed` compares the answer with the schedule's last delivered one.
pub(crate) fn record(txn: &mut impl TaskTxn, ctx: &mut Ctx, task: &Task) -> Result<(), TaskError> {
    if task.deliver.to_file.is_none() && task.deliver.webhook.is_none() {
        return Ok(());
    }
    let schedule = match task.schedule_id {
        Some(id) => txn.schedule(id)?,
        None => None,
    };
    let fingerprint = delivery::fingerprint(task.output.as_deref().unwrap_or(""));
    let unchanged = task.deliver.only_if_changed
        && schedule
            .as_ref()
            .is_some_and(|s| s.last_delivered.as_deref() == Some(fingerprint.as_str()));
    if let Some(old) = schedule.as_ref().filter(|_| !unchanged) {
        if old.last_delivered.as_deref() != Some(fingerprint.as_str()) {
            let mut s = old.clone();
            s.last_delivered = Some(fingerprint);
            txn.put_schedule(Some(old), &s)?;
        }
    }
    for d in delivery::plan(
        task,
        schedule.as_ref().map(|s| s.name.as_str()),
        unchanged,
        ctx.now,
    ) {
        save(txn, ctx, None, d)?;
    }
    Ok(())
}

/// Applies try number `attempt` of a delivery. A report for a try that is not
/// the current one (a resend came between) changes nothing.
pub(crate) fn tried(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    id: DeliveryId,
    attempt: u32,
    outcome: Tried,
) -> Result<Option<Delivery>, TaskError> {
    let Some(old) = txn.delivery(id)? else {
        return Ok(None);
    };
    if old.status != DeliveryStatus::Pending || old.attempts + 1 != attempt {
        return Ok(None);
    }
    let mut d = old.clone();
    d.attempts = attempt;
    match outcome {
        Tried::Sent => {
            d.status = DeliveryStatus::Sent;
            d.sent_at = Some(ctx.now);
            d.next_at = None;
            d.error = None;
        }
        Tried::Retry { error, .. } if attempt >= MAX_DELIVERY_ATTEMPTS => {
            d.status = DeliveryStatus::Failed;
            d.next_at = None;
            d.error = Some(format!("gave up after {attempt} tries; the last: {error}"));
        }
        Tried::Retry { error, after } => {
            let wait = after
                .map(|a| a.min(std::time::Duration::from_secs(3600)))
                .unwrap_or_else(|| delivery::retry_delay(attempt));
            d.next_at = Some(ctx.now + chrono::Duration::from_std(wait).unwrap_or_default());
            d.error = Some(error);
        }
        Tried::Failed { error } => {
            d.status = DeliveryStatus::Failed;
            d.next_at = None;
            d.error = Some(error);
        }
    }
    save(txn, ctx, Some(&old), d).map(Some)
}

/// Sends a delivery again, whatever became of it: pending now, tries from 0.
pub(crate) fn resend(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    id: DeliveryId,
) -> Result<Delivery, TaskError> {
    let old = txn
        .delivery(id)?
        .ok_or_else(|| TaskError::DeliveryNotFound(id.to_string()))?;
    let mut d = old.clone();
    d.status = DeliveryStatus::Pending;
    d.attempts = 0;
    d.next_at = Some(ctx.now);
    d.error = None;
    save(txn, ctx, Some(&old), d)
}

//! `Idempotency-Key`: a client that lost the reply to a create and sends it
//! again gets the task the first request created, not a second one.
//!
//! The key is stored with the request's fingerprint in the same write
//! transaction as the task it creates (so a task and its key are durable
//! together), and kept for [`IDEMPOTENCY_RETENTION`]; an older key may be
//! forgotten, and then creates again.

use crate::error::TaskError;
use crate::lifecycle::Ctx;
use crate::schedule::{Schedule, ScheduleId};
use crate::storage::TaskTxn;
use crate::store::KeyRecord;
use crate::task::{Task, TaskId};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long a key is remembered at least.
pub const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A client's key for one creating request: 1 to 255 visible ASCII characters
/// (it travels as an HTTP header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn new(text: impl Into<String>) -> Result<IdempotencyKey, TaskError> {
        let text = text.into();
        if text.is_empty() || text.len() > MAX_IDEMPOTENCY_KEY {
            return Err(TaskError::invalid(
                "idempotency_key",
                format!(
                    "an idempotency key has 1 to {MAX_IDEMPOTENCY_KEY} characters, got {}",
                    text.len()
                ),
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TaskError::invalid(
                "idempotency_key",
                "an idempotency key may only hold visible ASCII characters (no spaces)",
            ));
        }
        Ok(IdempotencyKey(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key with the fingerprint of the request it came with.
pub(crate) struct Once {
    key: IdempotencyKey,
    fingerprint: String,
}

impl Once {
    /// `operation` and `parent` are part of the request: the same key on a
    /// submit and a chain is two different bodies.
    pub fn new(
        key: IdempotencyKey,
        operation: &str,
        parent: Option<TaskId>,
        new: &impl serde::Serialize,
    ) -> Once {
        let request = serde_json::to_vec(&(operation, parent, new)).unwrap_or_default();
        let fingerprint = Sha256::digest(&request)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Once { key, fingerprint }
    }
}

/// What a create answered, and whether it was a replay of an earlier request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// As stored now (a replayed task may have run since).
    pub task: Task,
    pub replayed: bool,
}

/// Runs `create` unless `once`'s key was used: then answers the task that
/// request created, or refuses a different request under the same key.
pub(crate) fn create_once<T: TaskTxn>(
    txn: &mut T,
    ctx: &mut Ctx,
    once: Option<&Once>,
    create: impl FnOnce(&mut T, &mut Ctx) -> Result<Task, TaskError>,
) -> Result<Created, TaskError> {
    let Some(once) = once else {
        return create(txn, ctx).map(|task| Created {
            task,
            replayed: false,
        });
    };
    if let Some(found) = earlier(txn, once)? {
        let first =
            found.tasks.first().copied().ok_or_else(|| {
                TaskError::Storage("a stored idempotency key names no task".into())
            })?;
        return Ok(Created {
            task: txn.require(first)?,
            replayed: true,
        });
    }
    let task = create(txn, ctx)?;
    remember(txn, ctx, once, vec![task.id], None)?;
    Ok(Created {
        task,
        replayed: false,
    })
}

/// [`create_once`] for a schedule: the schedule as stored now, and whether it
/// was created by an earlier request.
pub(crate) fn add_schedule_once<T: TaskTxn>(
    txn: &mut T,
    ctx: &mut Ctx,
    once: Option<&Once>,
    add: impl FnOnce(&mut T, &mut Ctx) -> Result<Schedule, TaskError>,
) -> Result<(Schedule, bool), TaskError> {
    let Some(once) = once else {
        return add(txn, ctx).map(|s| (s, false));
    };
    if let Some(found) = earlier(txn, once)? {
        let id = found
            .schedule
            .ok_or_else(|| TaskError::IdempotencyKeyReused(once.key.as_str().to_string()))?;
        // A schedule removed since: the key's request is answered as gone.
        let schedule = txn
            .schedule(id)?
            .ok_or_else(|| TaskError::ScheduleNotFound(id.to_string()))?;
        return Ok((schedule, true));
    }
    let schedule = add(txn, ctx)?;
    remember(txn, ctx, once, Vec::new(), Some(schedule.id))?;
    Ok((schedule, false))
}

/// The record of `once`'s key, if the same request used it; another request
/// under that key is refused.
fn earlier(txn: &impl TaskTxn, once: &Once) -> Result<Option<KeyRecord>, TaskError> {
    match txn.idempotency_key(once.key.as_str())? {
        Some(found) if found.fingerprint != once.fingerprint => Err(
            TaskError::IdempotencyKeyReused(once.key.as_str().to_string()),
        ),
        other => Ok(other),
    }
}

fn remember(
    txn: &mut impl TaskTxn,
    ctx: &Ctx,
    once: &Once,
    tasks: Vec<TaskId>,
    schedule: Option<ScheduleId>,
) -> Result<(), TaskError> {
    let record = KeyRecord {
        fingerprint: once.fingerprint.clone(),
        created_at: ctx.now,
        tasks,
        schedule,
    };
    let retention = chrono::Duration::from_std(IDEMPOTENCY_RETENTION).unwrap_or_default();
    txn.put_idempotency_key(once.key.as_str(), &record, ctx.now - retention)
}

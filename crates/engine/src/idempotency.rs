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
        let fingerprint = Sha256::digest(old_field_names(&request))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Once { key, fingerprint }
    }
}

/// `request` with the start time under its name before the rename
/// (`scheduled_for`): keys stored before it keep their fingerprints, so a
/// client retrying across the upgrade gets its task, not a refusal.
fn old_field_names(request: &[u8]) -> Vec<u8> {
    const NEW: &[u8] = br#""start_at":"#;
    const OLD: &[u8] = br#""scheduled_for":"#;
    let mut out = Vec::with_capacity(request.len());
    let mut rest = request;
    while let Some(i) = rest.windows(NEW.len()).position(|w| w == NEW) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(OLD);
        rest = &rest[i + NEW.len()..];
    }
    out.extend_from_slice(rest);
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::NewTask;

    #[test]
    fn a_request_with_a_start_time_keeps_the_fingerprint_it_had_before_the_rename() {
        let at = "2026-12-24T18:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap();
        let new = NewTask {
            start_at: Some(at),
            ..NewTask::new("say \"start_at\": now")
        };
        let request = serde_json::to_string(&("submit", None::<TaskId>, &new)).unwrap();
        // As computed before the rename: the field was named `scheduled_for`.
        let before = request.replacen(r#""start_at":"2026"#, r#""scheduled_for":"2026"#, 1);
        assert_ne!(before, request);
        let key = || IdempotencyKey::new("k").unwrap();
        let expected: String = Sha256::digest(before.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(Once::new(key(), "submit", None, &new).fingerprint, expected);
        // The prompt's own text is not touched (its quotes are escaped).
        assert!(String::from_utf8(old_field_names(request.as_bytes()))
            .unwrap()
            .contains(r#"say \"start_at\": now"#));
    }
}

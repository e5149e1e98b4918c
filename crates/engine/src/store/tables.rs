//! Table definitions and key/value encodings. docs/design.md describes them.

use crate::error::TaskError;
use crate::state::TaskState;
use crate::storage::Was;
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use redb::TableDefinition;

/// `schema_version` → the layout version of this file.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Task id (UUIDv7 as a big-endian u128, so creation order) → the task as JSON.
pub(super) const TASKS: TableDefinition<u128, &[u8]> = TableDefinition::new("tasks");
/// (state code, id): every task, by state.
pub(super) const BY_STATUS: TableDefinition<(u8, u128), ()> =
    TableDefinition::new("tasks_by_status");
/// (ready time in µs, id): queued tasks, in the order workers claim them.
pub(super) const QUEUE: TableDefinition<(i64, u128), ()> = TableDefinition::new("queue");
/// (start_at in µs, id): scheduled tasks, in the order they fall due.
pub(super) const DUE: TableDefinition<(i64, u128), ()> = TableDefinition::new("due");
/// (parent id, child id): chains.
pub(super) const CHILDREN: TableDefinition<(u128, u128), ()> = TableDefinition::new("children");
/// State code → number of tasks in it.
pub(super) const COUNTS: TableDefinition<u8, u64> = TableDefinition::new("counts");

/// Provider name → its settings as JSON (never its key).
pub(super) const PROVIDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("providers");

/// Schedule id → the schedule as JSON.
pub(super) const SCHEDULES: TableDefinition<u128, &[u8]> = TableDefinition::new("schedules");
/// A schedule's name, lowercased → its id: names are unique regardless of case.
pub(super) const SCHEDULE_NAMES: TableDefinition<&str, u128> =
    TableDefinition::new("schedule_names");
/// (next fire time in µs, schedule id): enabled schedules, in the order they fire.
pub(super) const SCHEDULE_DUE: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("schedule_due");
/// (schedule id, task id): the tasks each schedule created. The table keeps
/// its name on disk from before fires were called fires.
pub(super) const SCHEDULE_TASKS: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("schedule_runs");

/// An `Idempotency-Key` → the request it created (`KeyRecord` as JSON).
pub(super) const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");
/// (created_at in µs, key): the keys in the order they expire.
pub(super) const IDEMPOTENCY_BY_TIME: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("idempotency_by_time");

/// Delivery id → the delivery as JSON (the outbox).
pub(super) const DELIVERIES: TableDefinition<u128, &[u8]> = TableDefinition::new("deliveries");
/// (next try in µs, delivery id): pending deliveries, in the order they are due.
pub(super) const DELIVERY_DUE: TableDefinition<(i64, u128), ()> =
    TableDefinition::new("delivery_due");
/// (task id, delivery id): each task's deliveries.
pub(super) const TASK_DELIVERIES: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("task_deliveries");

/// Budget name → the budget as JSON, with its current period's counts.
pub(super) const BUDGETS: TableDefinition<&str, &[u8]> = TableDefinition::new("budgets");

/// Group id → the group as JSON, with its counts.
pub(super) const GROUPS: TableDefinition<u128, &[u8]> = TableDefinition::new("groups");
/// A group's name, lowercased → its id: names are unique regardless of case.
pub(super) const GROUP_NAMES: TableDefinition<&str, u128> = TableDefinition::new("group_names");
/// (group id, row number) → the row's task: a group's rows in input order.
pub(super) const GROUP_ROWS: TableDefinition<(u128, u32), u128> =
    TableDefinition::new("group_rows");

pub(super) const SCHEMA_KEY: &str = "schema_version";

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(super) fn encode(task: &Task) -> Result<Vec<u8>, TaskError> {
    serde_json::to_vec(task).map_err(|e| TaskError::Storage(format!("cannot encode task: {e}")))
}

pub(super) fn decode(raw: &[u8]) -> Result<Task, TaskError> {
    serde_json::from_slice(raw)
        .map_err(|e| TaskError::Storage(format!("a stored task record is unreadable: {e}")))
}

/// Queued tasks run in the order they became due: their schedule, else creation.
pub(super) fn queue_key(task: &Task) -> (i64, u128) {
    was_key(&Was::of(task))
}

pub(super) fn due_key(task: &Task) -> (i64, u128) {
    queue_key(task)
}

/// [`queue_key`] (and [`due_key`]) of the record `was` describes.
pub(super) fn was_key(was: &Was) -> (i64, u128) {
    (micros(was.due), was.id.as_u128())
}

pub(super) fn status_key(state: TaskState, id: TaskId) -> (u8, u128) {
    (state.code(), id.as_u128())
}

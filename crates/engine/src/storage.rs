//! The storage interface: what `lifecycle`, `firing` and `idempotency` need from
//! whatever holds the tasks, written once. `store` (redb) is the first backend;
//! the conformance suite (`conformance`, in tests) checks any backend with the
//! same lifecycle, schedule, crash-recovery and model tests; `pg` (PostgreSQL)
//! is the second, and passes them.
//!
//! A backend gives units of work ([`Storage::begin`]) whose operations
//! ([`TaskTxn`]) are atomic together: nothing is visible to readers until
//! [`UnitOfWork::commit`], and dropping the unit instead changes nothing. A
//! refused operation leaves the unit as it was before that operation (callers
//! check before they write; see `lifecycle`).
//!
//! The assumptions that hold only because one process owns the data are named
//! here, not spread through the lifecycle. A backend shared by several
//! processes must answer each differently:
//! - crash recovery: [`TaskTxn::orphaned_running`] ("every owner but me is gone"
//!   for redb, whose file lock admits one process);
//! - read, check, then write: `lifecycle` reads a task and writes it back in
//!   one unit; redb serialises units (one writer), a shared backend must lock
//!   the row it read (or fence the write on the version it read);
//! - claim: [`TaskTxn::queue_head`] answers the queue's head, which two
//!   processes would both claim; a shared backend must skip rows another holds;
//! - counts: redb's store keeps per-state counts as deltas rewritten at commit,
//!   one hot row under many writers;
//! - schedules fire in the writer of the one process ([`TaskTxn::schedules_due_by`]
//!   with the local clock): a shared backend claims the due schedules (skipping
//!   those another unit fires) and keeps a unique record of each fire time
//!   ([`TaskTxn::record_fire`]); wake-ups, events and aborts are in-process
//!   (`shared`, `events`); a shared backend also records each unit's events
//!   ([`TaskTxn::record_events`]) for the other processes to tail.

use crate::budget::Budget;
use crate::delivery::{Delivery, DeliveryId};
use crate::error::TaskError;
use crate::events::Draft;
use crate::group::{Group, GroupId};
use crate::provider::ProviderSettings;
use crate::schedule::{Schedule, ScheduleId};
use crate::state::TaskState;
use crate::store::{KeyRecord, ListQuery, StatusCounts};
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};

/// What [`TaskTxn::put`] needs of the record it replaces: where that
/// record's index entries are. Taken before a task is changed in place, so a
/// transition need not keep a copy of the whole old record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Was {
    pub id: TaskId,
    pub status: TaskState,
    /// Its place in the queue and the due index: `start_at`, else `created_at`.
    pub due: DateTime<Utc>,
}

impl Was {
    pub fn of(task: &Task) -> Was {
        Was {
            id: task.id,
            status: task.status,
            due: task.start_at.unwrap_or(task.created_at),
        }
    }
}

/// The task, schedule and key operations of one unit of work.
pub(crate) trait TaskTxn {
    fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError>;

    fn require(&self, id: TaskId) -> Result<Task, TaskError> {
        self.get(id)?.ok_or(TaskError::NotFound(id))
    }

    /// A task's state, without taking it for this unit (a shared backend
    /// takes no row lock): for checks that write nothing to the task. A fire
    /// holds its schedule and then looks at the fire's tasks, while a task's
    /// ending holds the task and then takes its schedule; locking here would
    /// deadlock the two.
    fn status(&self, id: TaskId) -> Result<Option<TaskState>, TaskError> {
        Ok(self.get(id)?.map(|t| t.status))
    }

    /// True when another unit holds one of `ids` (a shared backend; the free
    /// ones are then locked for this unit). A fire that would cancel the active one
    /// whose task another runner is ending leaves the fire to its next look:
    /// that runner takes the schedule next, and waiting for its task would
    /// deadlock the two. redb has one writer: never.
    fn held_elsewhere(&self, _ids: &[TaskId]) -> Result<bool, TaskError> {
        Ok(false)
    }

    /// Writes `new`, replacing the record `old` describes (which must be what
    /// is stored now, or `None` for a new task), and moves its index entries
    /// along. A new task with a `schedule_id` is recorded as that schedule's (a
    /// fire).
    fn put(&mut self, old: Option<Was>, new: &Task) -> Result<(), TaskError>;

    /// The claim candidates: the first `limit` queued tasks, in claim order
    /// (priority, then due time, then id).
    fn queue_head(&self, limit: usize) -> Result<Vec<TaskId>, TaskError>;

    /// Scheduled tasks due at or before `now`, in due order, and the due time of
    /// the first one after. A shared backend locks the tasks it answers and
    /// skips those another unit holds, as for [`TaskTxn::queue_head`].
    fn due_by(&self, now: DateTime<Utc>)
        -> Result<(Vec<TaskId>, Option<DateTime<Utc>>), TaskError>;

    /// A task's children, oldest first.
    fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError>;

    /// Running tasks whose owner is gone, so their attempts will never report:
    /// crash recovery moves them on. With redb one process holds the file lock,
    /// so when it opens every owner but itself is gone: every running task.
    /// A shared backend answers only the tasks of runners that stopped.
    fn orphaned_running(&self) -> Result<Vec<TaskId>, TaskError>;

    /// Adds or replaces a provider's settings.
    fn put_provider(&mut self, settings: &ProviderSettings) -> Result<(), TaskError>;

    /// True when there was such a provider.
    fn remove_provider(&mut self, name: &str) -> Result<bool, TaskError>;

    fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError>;

    /// The id of the schedule with this name (any case).
    fn schedule_named(&self, name: &str) -> Result<Option<ScheduleId>, TaskError>;

    /// Writes `new`, replacing `old` (what is stored now, or `None`), with its
    /// name and due entries. The caller has checked the name is free.
    fn put_schedule(&mut self, old: Option<&Schedule>, new: &Schedule) -> Result<(), TaskError>;

    /// Deletes a schedule and its indexes. Its tasks stay, with their `schedule_id`.
    fn remove_schedule(&mut self, old: &Schedule) -> Result<(), TaskError>;

    /// Enabled schedules due at or before `now`, and the next fire time after.
    /// A shared backend locks the schedules it answers for the unit and skips
    /// those another unit holds (that unit fires them, or is ending one of their
    /// fires); the next time then says when to look again.
    fn schedules_due_by(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ScheduleId>, Option<DateTime<Utc>>), TaskError>;

    /// Records, in the fire's unit, that `schedule` fired for `fire_at` (a fire
    /// time, never a manual fire) and that `task` is its fire's first task, and
    /// forgets (a bounded number of) records of fire times before
    /// `forget_before`. A fire time already recorded is refused with a storage
    /// error, which aborts the unit: one fire time never creates two fires, even
    /// if two runners both read the schedule as due. redb needs no record: its
    /// one writer reads and moves `next_fire_at` in serial transactions.
    fn record_fire(
        &mut self,
        _schedule: ScheduleId,
        _fire_at: DateTime<Utc>,
        _task: TaskId,
        _forget_before: DateTime<Utc>,
    ) -> Result<(), TaskError> {
        Ok(())
    }

    fn idempotency_key(&self, key: &str) -> Result<Option<KeyRecord>, TaskError>;

    /// Stores `key`, and forgets (a bounded number of) keys created before
    /// `forget_before`.
    fn put_idempotency_key(
        &mut self,
        key: &str,
        record: &KeyRecord,
        forget_before: DateTime<Utc>,
    ) -> Result<(), TaskError>;

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError>;

    /// Writes `new`, replacing `old` (what is stored now, or `None`): a pending
    /// delivery is found by [`Storage::deliveries_due`] from its `next_at` on.
    fn put_delivery(&mut self, old: Option<&Delivery>, new: &Delivery) -> Result<(), TaskError>;

    /// Every budget, in name order (claims read them all: there are few).
    fn budgets(&self) -> Result<Vec<Budget>, TaskError>;

    /// Adds or replaces a budget, by name.
    fn put_budget(&mut self, budget: &Budget) -> Result<(), TaskError>;

    /// The budget removed, if there was one.
    fn remove_budget(&mut self, name: &str) -> Result<Option<Budget>, TaskError>;

    fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError>;

    /// The id of the group with this name, in any case.
    fn group_named(&self, name: &str) -> Result<Option<GroupId>, TaskError>;

    /// Writes `new` over `old` (`None`: a new group, whose name the caller
    /// has checked is free).
    fn put_group(&mut self, old: Option<&Group>, new: &Group) -> Result<(), TaskError>;

    /// A group's row tasks in input order (a row task is indexed when put).
    fn group_rows(&self, id: GroupId) -> Result<Vec<TaskId>, TaskError>;

    /// Records the events this unit drafted, in draft order, for the other
    /// processes sharing the backend; called last, just before the commit, so
    /// they commit (or vanish) with the changes they describe. A backend one
    /// process owns has no one to tell: its events go out on the local
    /// broadcast only, after the commit (`writer`).
    fn record_events(&mut self, _drafts: &[Draft]) -> Result<(), TaskError> {
        Ok(())
    }

    /// Providers cooling down after a 429 another runner met, and for how
    /// much longer: a claim holds them here too. One process owns a redb
    /// file, and its limiter knows its own cool-downs.
    fn cooldowns(&self) -> Result<Vec<(String, std::time::Duration)>, TaskError> {
        Ok(Vec::new())
    }
}

/// One unit of work: its operations, then commit (or drop to abort).
pub(crate) trait UnitOfWork {
    type Txn<'u>: TaskTxn
    where
        Self: 'u;

    /// The operations of this unit. Drop the returned value before [`commit`](Self::commit).
    fn txn(&self) -> Self::Txn<'_>;

    /// Makes everything written in this unit durable, at once.
    fn commit(self) -> Result<(), TaskError>;
}

/// One consistent view of everything, for reads that take long (an export).
pub(crate) trait Snapshot {
    /// Every schedule, oldest first.
    fn schedules(&self) -> Result<Vec<Schedule>, TaskError>;

    /// Every group, oldest first.
    fn groups(&self) -> Result<Vec<Group>, TaskError>;

    /// Calls `f` with every task, oldest first, one at a time: memory stays
    /// that of one task however many there are. An error from `f` stops the
    /// read and is returned.
    fn each_task(&self, f: &mut dyn FnMut(Task) -> Result<(), TaskError>) -> Result<(), TaskError>;
}

/// A backend: units of work, and the reads the engine's views and checks use.
pub(crate) trait Storage {
    type Unit: UnitOfWork;
    type Snapshot: Snapshot;

    fn begin(&self) -> Result<Self::Unit, TaskError>;

    fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError>;

    /// Every task, oldest first.
    fn all(&self) -> Result<Vec<Task>, TaskError>;

    /// Tasks matching `query`, newest first.
    fn list(&self, query: &ListQuery) -> Result<Vec<Task>, TaskError>;

    fn counts(&self) -> Result<StatusCounts, TaskError>;

    /// A task's children, oldest first.
    fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError>;

    /// Every schedule, oldest first.
    fn schedules(&self) -> Result<Vec<Schedule>, TaskError>;

    /// A task's deliveries, oldest first.
    fn deliveries_of(&self, task: TaskId) -> Result<Vec<Delivery>, TaskError>;

    /// Pending deliveries due at or before `now` (at most `limit`), and when
    /// the next one after falls due.
    fn deliveries_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<DateTime<Utc>>), TaskError>;

    /// Every budget, in name order, as stored (a period may have ended).
    fn budgets(&self) -> Result<Vec<Budget>, TaskError>;

    /// Every group, oldest first.
    fn groups(&self) -> Result<Vec<Group>, TaskError>;

    /// A page of a group's row tasks, in input order.
    fn group_tasks(&self, id: GroupId, offset: usize, limit: usize)
        -> Result<Vec<Task>, TaskError>;

    /// Every task record read as the projection `T` (a struct of the fields
    /// the caller needs), oldest first.
    fn scan<T: serde::de::DeserializeOwned + Send>(&self) -> Result<Vec<T>, TaskError>;

    /// One consistent view for a long read.
    fn snapshot(&self) -> Result<Self::Snapshot, TaskError>;

    /// Every configured provider, by name. A record this version cannot read
    /// is reported, not fatal: the other providers still load.
    fn providers(&self) -> Result<Vec<Result<ProviderSettings, String>>, TaskError>;

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError>;

    /// How many deliveries are pending.
    fn pending_deliveries(&self) -> Result<u64, TaskError>;

    /// The newest deliveries first, at most `limit`.
    fn recent_deliveries(&self, limit: usize) -> Result<Vec<Delivery>, TaskError>;

    fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError>;

    /// The schedule with this name, in any case.
    fn schedule_named(&self, name: &str) -> Result<Option<Schedule>, TaskError>;

    /// The tasks a schedule created, newest first, at most `limit`.
    fn schedule_tasks(&self, id: ScheduleId, limit: usize) -> Result<Vec<Task>, TaskError>;

    fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError>;

    /// The group with this name, in any case.
    fn group_named(&self, name: &str) -> Result<Option<Group>, TaskError>;
}

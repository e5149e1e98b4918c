//! The engine's database: a redb file (embedded, the default) or PostgreSQL (a
//! queue several runners share, docs/scale-out.md). The engine, its writer and
//! its readers hold a [`Db`] and go through the storage interface, so they are
//! written once; each operation is handed to the backend chosen at open.

use crate::delivery::{Delivery, DeliveryId};
use crate::error::TaskError;
use crate::group::{Group, GroupId};
use crate::pg::{PgSnapshot, PgStore, PgTxn, PgUnit};
use crate::provider::ProviderSettings;
use crate::schedule::{Schedule, ScheduleId};
use crate::storage::{Snapshot, Storage, TaskTxn, UnitOfWork, Was};
use crate::store::{KeyRecord, ListQuery, StatusCounts, Store, WriteBatch, WriteTxn};
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};

/// Where the tasks are kept.
pub(crate) enum Db {
    Redb(Store),
    Pg(PgStore),
}

// One of each lives per write batch, on the writer's stack: boxing the larger
// redb variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum DbUnit {
    Redb(WriteBatch),
    Pg(PgUnit),
}

#[allow(clippy::large_enum_variant)]
pub(crate) enum DbTxn<'u> {
    Redb(WriteTxn<'u>),
    Pg(PgTxn<'u>),
}

// One per export or view load, short-lived: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum DbSnapshot {
    Redb(crate::store::Snapshot),
    Pg(PgSnapshot),
}

/// `$body` with `$s` bound to the backend inside `$value` (an enum above).
macro_rules! each {
    ($enum:ident, $value:expr, $s:ident => $body:expr) => {
        match $value {
            $enum::Redb($s) => $body,
            $enum::Pg($s) => $body,
        }
    };
}

impl Db {
    /// False for a redb file opened for reading only.
    pub fn read_only(&self) -> bool {
        match self {
            Db::Redb(store) => store.read_only(),
            Db::Pg(_) => false,
        }
    }

    /// Whether a failed write left the database refusing writes until
    /// [`Db::restore`]: a full disk for redb, a lost connection for PostgreSQL.
    pub fn writable(&self) -> bool {
        match self {
            Db::Redb(store) => store.writable(),
            Db::Pg(store) => store.writable(),
        }
    }

    /// Makes the database writable again (see [`Db::writable`]).
    pub fn restore(&self) -> Result<(), TaskError> {
        match self {
            Db::Redb(store) => store.restore(),
            Db::Pg(store) => store.restore(),
        }
    }

    pub fn postgres(&self) -> Option<&PgStore> {
        match self {
            Db::Pg(store) => Some(store),
            Db::Redb(_) => None,
        }
    }
}

impl Storage for Db {
    type Unit = DbUnit;
    type Snapshot = DbSnapshot;

    fn begin(&self) -> Result<DbUnit, TaskError> {
        Ok(match self {
            Db::Redb(s) => DbUnit::Redb(s.begin()?),
            Db::Pg(s) => DbUnit::Pg(s.begin()?),
        })
    }

    fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError> {
        each!(Db, self, s => Storage::get(s, id))
    }

    fn all(&self) -> Result<Vec<Task>, TaskError> {
        each!(Db, self, s => Storage::all(s))
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Task>, TaskError> {
        each!(Db, self, s => Storage::list(s, query))
    }

    fn counts(&self) -> Result<StatusCounts, TaskError> {
        each!(Db, self, s => Storage::counts(s))
    }

    fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError> {
        each!(Db, self, s => Storage::children(s, parent))
    }

    fn schedules(&self) -> Result<Vec<Schedule>, TaskError> {
        each!(Db, self, s => Storage::schedules(s))
    }

    fn deliveries_of(&self, task: TaskId) -> Result<Vec<Delivery>, TaskError> {
        each!(Db, self, s => Storage::deliveries_of(s, task))
    }

    fn deliveries_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<DateTime<Utc>>), TaskError> {
        each!(Db, self, s => Storage::deliveries_due(s, now, limit))
    }

    fn budgets(&self) -> Result<Vec<crate::budget::Budget>, TaskError> {
        each!(Db, self, s => Storage::budgets(s))
    }

    fn groups(&self) -> Result<Vec<Group>, TaskError> {
        each!(Db, self, s => Storage::groups(s))
    }

    fn group_tasks(
        &self,
        id: GroupId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Task>, TaskError> {
        each!(Db, self, s => Storage::group_tasks(s, id, offset, limit))
    }

    fn scan<T: serde::de::DeserializeOwned + Send>(&self) -> Result<Vec<T>, TaskError> {
        each!(Db, self, s => Storage::scan(s))
    }

    fn snapshot(&self) -> Result<DbSnapshot, TaskError> {
        Ok(match self {
            Db::Redb(s) => DbSnapshot::Redb(Storage::snapshot(s)?),
            Db::Pg(s) => DbSnapshot::Pg(Storage::snapshot(s)?),
        })
    }

    fn providers(&self) -> Result<Vec<Result<ProviderSettings, String>>, TaskError> {
        each!(Db, self, s => Storage::providers(s))
    }

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError> {
        each!(Db, self, s => Storage::delivery(s, id))
    }

    fn pending_deliveries(&self) -> Result<u64, TaskError> {
        each!(Db, self, s => Storage::pending_deliveries(s))
    }

    fn recent_deliveries(&self, limit: usize) -> Result<Vec<Delivery>, TaskError> {
        each!(Db, self, s => Storage::recent_deliveries(s, limit))
    }

    fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError> {
        each!(Db, self, s => Storage::schedule(s, id))
    }

    fn schedule_named(&self, name: &str) -> Result<Option<Schedule>, TaskError> {
        each!(Db, self, s => Storage::schedule_named(s, name))
    }

    fn schedule_tasks(&self, id: ScheduleId, limit: usize) -> Result<Vec<Task>, TaskError> {
        each!(Db, self, s => Storage::schedule_tasks(s, id, limit))
    }

    fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError> {
        each!(Db, self, s => Storage::group(s, id))
    }

    fn group_named(&self, name: &str) -> Result<Option<Group>, TaskError> {
        each!(Db, self, s => Storage::group_named(s, name))
    }
}

impl UnitOfWork for DbUnit {
    type Txn<'u> = DbTxn<'u>;

    fn txn(&self) -> DbTxn<'_> {
        match self {
            DbUnit::Redb(u) => DbTxn::Redb(u.txn()),
            DbUnit::Pg(u) => DbTxn::Pg(u.txn()),
        }
    }

    fn commit(self) -> Result<(), TaskError> {
        each!(DbUnit, self, u => u.commit())
    }
}

impl Snapshot for DbSnapshot {
    fn schedules(&self) -> Result<Vec<Schedule>, TaskError> {
        each!(DbSnapshot, self, s => Snapshot::schedules(s))
    }

    fn groups(&self) -> Result<Vec<Group>, TaskError> {
        each!(DbSnapshot, self, s => Snapshot::groups(s))
    }

    fn each_task(&self, f: &mut dyn FnMut(Task) -> Result<(), TaskError>) -> Result<(), TaskError> {
        each!(DbSnapshot, self, s => Snapshot::each_task(s, f))
    }
}

// Every method is handed on: a default left in place here would silently
// skip a backend's own answer.
impl TaskTxn for DbTxn<'_> {
    fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::get(t, id))
    }

    fn put(&mut self, old: Option<Was>, new: &Task) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::put(t, old, new))
    }

    fn queue_head(&self, limit: usize) -> Result<Vec<TaskId>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::queue_head(t, limit))
    }

    fn due_by(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<TaskId>, Option<DateTime<Utc>>), TaskError> {
        each!(DbTxn, self, t => TaskTxn::due_by(t, now))
    }

    fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::children(t, parent))
    }

    fn orphaned_running(&self) -> Result<Vec<TaskId>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::orphaned_running(t))
    }

    fn put_provider(&mut self, settings: &ProviderSettings) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::put_provider(t, settings))
    }

    fn remove_provider(&mut self, name: &str) -> Result<bool, TaskError> {
        each!(DbTxn, self, t => TaskTxn::remove_provider(t, name))
    }

    fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::schedule(t, id))
    }

    fn schedule_named(&self, name: &str) -> Result<Option<ScheduleId>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::schedule_named(t, name))
    }

    fn put_schedule(&mut self, old: Option<&Schedule>, new: &Schedule) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::put_schedule(t, old, new))
    }

    fn remove_schedule(&mut self, old: &Schedule) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::remove_schedule(t, old))
    }

    fn schedules_due_by(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ScheduleId>, Option<DateTime<Utc>>), TaskError> {
        each!(DbTxn, self, t => TaskTxn::schedules_due_by(t, now))
    }

    fn idempotency_key(&self, key: &str) -> Result<Option<KeyRecord>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::idempotency_key(t, key))
    }

    fn put_idempotency_key(
        &mut self,
        key: &str,
        record: &KeyRecord,
        forget_before: DateTime<Utc>,
    ) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::put_idempotency_key(t, key, record, forget_before))
    }

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::delivery(t, id))
    }

    fn put_delivery(&mut self, old: Option<&Delivery>, new: &Delivery) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::put_delivery(t, old, new))
    }

    fn budgets(&self) -> Result<Vec<crate::budget::Budget>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::budgets(t))
    }

    fn put_budget(&mut self, budget: &crate::budget::Budget) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::put_budget(t, budget))
    }

    fn remove_budget(&mut self, name: &str) -> Result<Option<crate::budget::Budget>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::remove_budget(t, name))
    }

    fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::group(t, id))
    }

    fn group_named(&self, name: &str) -> Result<Option<GroupId>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::group_named(t, name))
    }

    fn put_group(&mut self, old: Option<&Group>, new: &Group) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::put_group(t, old, new))
    }

    fn group_rows(&self, id: GroupId) -> Result<Vec<TaskId>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::group_rows(t, id))
    }

    fn record_events(&mut self, drafts: &[crate::events::Draft]) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::record_events(t, drafts))
    }

    fn cooldowns(&self) -> Result<Vec<(String, std::time::Duration)>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::cooldowns(t))
    }

    fn status(&self, id: TaskId) -> Result<Option<crate::state::TaskState>, TaskError> {
        each!(DbTxn, self, t => TaskTxn::status(t, id))
    }

    fn held_elsewhere(&self, ids: &[TaskId]) -> Result<bool, TaskError> {
        each!(DbTxn, self, t => TaskTxn::held_elsewhere(t, ids))
    }

    fn record_fire(
        &mut self,
        schedule: ScheduleId,
        fire_at: DateTime<Utc>,
        task: TaskId,
        forget_before: DateTime<Utc>,
    ) -> Result<(), TaskError> {
        each!(DbTxn, self, t => TaskTxn::record_fire(t, schedule, fire_at, task, forget_before))
    }
}

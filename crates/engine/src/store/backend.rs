//! redb as a [`Storage`] backend: the interface's operations, answered by the
//! typed operations of [`WriteTxn`], [`WriteBatch`] and [`Store`].

use super::tables::PROVIDERS;
use super::{KeyRecord, ListQuery, StatusCounts, Store, WriteBatch, WriteTxn};
use crate::budget::Budget;
use crate::delivery::{Delivery, DeliveryId};
use crate::error::TaskError;
use crate::group::{Group, GroupId};
use crate::provider::ProviderSettings;
use crate::schedule::{Schedule, ScheduleId};
use crate::state::TaskState;
use crate::storage::{Storage, TaskTxn, Was};
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};

impl TaskTxn for WriteTxn<'_> {
    fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError> {
        WriteTxn::get(self, id)
    }

    fn put(&mut self, old: Option<Was>, new: &Task) -> Result<(), TaskError> {
        WriteTxn::put(self, old, new)
    }

    fn queue_head(&self, limit: usize) -> Result<Vec<TaskId>, TaskError> {
        WriteTxn::queue_head(self, limit)
    }

    fn due_by(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<TaskId>, Option<DateTime<Utc>>), TaskError> {
        WriteTxn::due_by(self, now)
    }

    fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError> {
        WriteTxn::children(self, parent)
    }

    /// redb's file lock lets one process open the file: when it opens, the
    /// process that ran these attempts has ended.
    fn orphaned_running(&self) -> Result<Vec<TaskId>, TaskError> {
        self.ids_in(TaskState::Running)
    }

    fn put_provider(&mut self, settings: &ProviderSettings) -> Result<(), TaskError> {
        let raw = serde_json::to_vec(settings)
            .map_err(|e| TaskError::Storage(format!("cannot encode provider settings: {e}")))?;
        self.txn
            .open_table(PROVIDERS)?
            .insert(settings.name.as_str(), raw.as_slice())?;
        Ok(())
    }

    fn remove_provider(&mut self, name: &str) -> Result<bool, TaskError> {
        Ok(self.txn.open_table(PROVIDERS)?.remove(name)?.is_some())
    }

    fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError> {
        WriteTxn::schedule(self, id)
    }

    fn schedule_named(&self, name: &str) -> Result<Option<ScheduleId>, TaskError> {
        WriteTxn::schedule_named(self, name)
    }

    fn put_schedule(&mut self, old: Option<&Schedule>, new: &Schedule) -> Result<(), TaskError> {
        WriteTxn::put_schedule(self, old, new)
    }

    fn remove_schedule(&mut self, old: &Schedule) -> Result<(), TaskError> {
        WriteTxn::remove_schedule(self, old)
    }

    fn schedules_due_by(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ScheduleId>, Option<DateTime<Utc>>), TaskError> {
        WriteTxn::schedules_due_by(self, now)
    }

    fn idempotency_key(&self, key: &str) -> Result<Option<KeyRecord>, TaskError> {
        WriteTxn::idempotency_key(self, key)
    }

    fn put_idempotency_key(
        &mut self,
        key: &str,
        record: &KeyRecord,
        forget_before: DateTime<Utc>,
    ) -> Result<(), TaskError> {
        WriteTxn::put_idempotency_key(self, key, record, forget_before)
    }

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError> {
        WriteTxn::delivery(self, id)
    }

    fn put_delivery(&mut self, old: Option<&Delivery>, new: &Delivery) -> Result<(), TaskError> {
        WriteTxn::put_delivery(self, old, new)
    }

    fn budgets(&self) -> Result<Vec<Budget>, TaskError> {
        WriteTxn::budgets(self)
    }

    fn put_budget(&mut self, budget: &Budget) -> Result<(), TaskError> {
        WriteTxn::put_budget(self, budget)
    }

    fn remove_budget(&mut self, name: &str) -> Result<Option<Budget>, TaskError> {
        WriteTxn::remove_budget(self, name)
    }

    fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError> {
        WriteTxn::group(self, id)
    }

    fn group_named(&self, name: &str) -> Result<Option<GroupId>, TaskError> {
        WriteTxn::group_named(self, name)
    }

    fn put_group(&mut self, old: Option<&Group>, new: &Group) -> Result<(), TaskError> {
        WriteTxn::put_group(self, old, new)
    }

    fn group_rows(&self, id: GroupId) -> Result<Vec<TaskId>, TaskError> {
        WriteTxn::group_rows(self, id)
    }
}

impl Storage for Store {
    type Unit = WriteBatch;
    type Snapshot = super::Snapshot;

    fn begin(&self) -> Result<WriteBatch, TaskError> {
        Ok(WriteBatch::new(self.begin_write()?))
    }

    fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError> {
        Store::get(self, id)
    }

    fn all(&self) -> Result<Vec<Task>, TaskError> {
        Store::all(self)
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Task>, TaskError> {
        Store::list(self, query)
    }

    fn counts(&self) -> Result<StatusCounts, TaskError> {
        Store::counts(self)
    }

    fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError> {
        Store::children(self, parent)
    }

    fn schedules(&self) -> Result<Vec<Schedule>, TaskError> {
        Store::schedules(self)
    }

    fn deliveries_of(&self, task: TaskId) -> Result<Vec<Delivery>, TaskError> {
        Store::deliveries_of(self, task)
    }

    fn deliveries_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<DateTime<Utc>>), TaskError> {
        Store::deliveries_due(self, now, limit)
    }

    fn budgets(&self) -> Result<Vec<Budget>, TaskError> {
        Store::budgets(self)
    }

    fn groups(&self) -> Result<Vec<Group>, TaskError> {
        Store::groups(self)
    }

    fn group_tasks(
        &self,
        id: GroupId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Task>, TaskError> {
        Store::group_tasks(self, id, offset, limit)
    }

    fn scan<T: serde::de::DeserializeOwned + Send>(&self) -> Result<Vec<T>, TaskError> {
        Store::scan(self)
    }

    fn snapshot(&self) -> Result<super::Snapshot, TaskError> {
        Store::snapshot(self)
    }

    fn providers(&self) -> Result<Vec<Result<ProviderSettings, String>>, TaskError> {
        Store::providers(self)
    }

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError> {
        Store::delivery(self, id)
    }

    fn pending_deliveries(&self) -> Result<u64, TaskError> {
        Store::pending_deliveries(self)
    }

    fn recent_deliveries(&self, limit: usize) -> Result<Vec<Delivery>, TaskError> {
        Store::recent_deliveries(self, limit)
    }

    fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError> {
        Store::schedule(self, id)
    }

    fn schedule_named(&self, name: &str) -> Result<Option<Schedule>, TaskError> {
        Store::schedule_named(self, name)
    }

    fn schedule_tasks(&self, id: ScheduleId, limit: usize) -> Result<Vec<Task>, TaskError> {
        Store::schedule_tasks(self, id, limit)
    }

    fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError> {
        Store::group(self, id)
    }

    fn group_named(&self, name: &str) -> Result<Option<Group>, TaskError> {
        Store::group_named(self, name)
    }
}

impl crate::storage::Snapshot for super::Snapshot {
    fn schedules(&self) -> Result<Vec<Schedule>, TaskError> {
        super::Snapshot::schedules(self)
    }

    fn groups(&self) -> Result<Vec<Group>, TaskError> {
        super::Snapshot::groups(self)
    }

    fn each_task(&self, f: &mut dyn FnMut(Task) -> Result<(), TaskError>) -> Result<(), TaskError> {
        super::Snapshot::each_task(self, f)
    }
}

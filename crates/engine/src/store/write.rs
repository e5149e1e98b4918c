//! One write transaction, with typed task operations. Indexes are kept in step
//! with the task record in one place: [`WriteTxn::put`].

use super::tables::*;
use crate::error::TaskError;
use crate::provider::ProviderSettings;
use crate::state::TaskState;
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use redb::{ReadableTable, WriteTransaction};

pub(crate) struct WriteTxn {
    pub(super) txn: WriteTransaction,
}

impl WriteTxn {
    pub(super) fn new(txn: WriteTransaction) -> Self {
        WriteTxn { txn }
    }

    pub fn commit(self) -> Result<(), TaskError> {
        Ok(self.txn.commit()?)
    }

    pub fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError> {
        let table = self.txn.open_table(TASKS)?;
        let raw = table.get(id.as_u128())?;
        raw.map(|v| decode(v.value())).transpose()
    }

    pub fn require(&self, id: TaskId) -> Result<Task, TaskError> {
        self.get(id)?.ok_or(TaskError::NotFound(id))
    }

    /// Writes `new`, replacing `old` (which must be what is stored now, or `None`
    /// for a new task), and moves its index entries along.
    pub fn put(&mut self, old: Option<&Task>, new: &Task) -> Result<(), TaskError> {
        let id = new.id.as_u128();
        self.txn
            .open_table(TASKS)?
            .insert(id, encode(new)?.as_slice())?;
        if old.is_some_and(|old| old.status == new.status && queue_key(old) == queue_key(new)) {
            // Same state and time: every index entry stays where it is (streamed
            // output is appended this way, many times per attempt).
            return Ok(());
        }

        let mut by_status = self.txn.open_table(BY_STATUS)?;
        let mut queue = self.txn.open_table(QUEUE)?;
        let mut due = self.txn.open_table(DUE)?;
        let mut counts = self.txn.open_table(COUNTS)?;

        if let Some(old) = old {
            by_status.remove(status_key(old.status, old.id))?;
            let n = counts
                .get(old.status.code())?
                .map(|v| v.value())
                .unwrap_or(0);
            counts.insert(old.status.code(), n.saturating_sub(1))?;
            match old.status {
                TaskState::Queued => {
                    queue.remove(queue_key(old))?;
                }
                TaskState::Scheduled => {
                    due.remove(due_key(old))?;
                }
                _ => {}
            }
        } else {
            if let Some(parent) = new.parent_task_id {
                self.txn
                    .open_table(CHILDREN)?
                    .insert((parent.as_u128(), id), ())?;
            }
            if let Some(schedule) = new.schedule_id {
                self.txn
                    .open_table(SCHEDULE_RUNS)?
                    .insert((schedule.as_u128(), id), ())?;
            }
        }

        by_status.insert(status_key(new.status, new.id), ())?;
        let n = counts
            .get(new.status.code())?
            .map(|v| v.value())
            .unwrap_or(0);
        counts.insert(new.status.code(), n + 1)?;
        match new.status {
            TaskState::Queued => {
                queue.insert(queue_key(new), ())?;
            }
            TaskState::Scheduled => {
                due.insert(due_key(new), ())?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The first `limit` queued tasks, in claim order.
    pub fn queue_head(&self, limit: usize) -> Result<Vec<TaskId>, TaskError> {
        let queue = self.txn.open_table(QUEUE)?;
        let mut ids = Vec::with_capacity(limit);
        for entry in queue.iter()?.take(limit) {
            let (key, _) = entry?;
            ids.push(TaskId::from_u128(key.value().1));
        }
        Ok(ids)
    }

    /// Scheduled tasks due at or before `now`, and the due time of the first one after.
    pub fn due_by(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<TaskId>, Option<DateTime<Utc>>), TaskError> {
        let due = self.txn.open_table(DUE)?;
        let now_us = micros(now);
        let mut ids = Vec::new();
        for entry in due.iter()? {
            let (key, _) = entry?;
            let (at, id) = key.value();
            if at > now_us {
                return Ok((ids, Some(from_micros(at))));
            }
            ids.push(TaskId::from_u128(id));
        }
        Ok((ids, None))
    }

    pub fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError> {
        super::children_in(&self.txn.open_table(CHILDREN)?, parent)
    }

    pub fn ids_in(&self, state: TaskState) -> Result<Vec<TaskId>, TaskError> {
        super::ids_in_state(&self.txn.open_table(BY_STATUS)?, state)
    }

    /// Adds or replaces a provider's settings.
    pub fn put_provider(&mut self, settings: &ProviderSettings) -> Result<(), TaskError> {
        let raw = serde_json::to_vec(settings)
            .map_err(|e| TaskError::Storage(format!("cannot encode provider settings: {e}")))?;
        self.txn
            .open_table(PROVIDERS)?
            .insert(settings.name.as_str(), raw.as_slice())?;
        Ok(())
    }

    /// True when there was such a provider.
    pub fn remove_provider(&mut self, name: &str) -> Result<bool, TaskError> {
        Ok(self.txn.open_table(PROVIDERS)?.remove(name)?.is_some())
    }
}

/// Rebuilds every index table from the task records (migration 1 → 2, repair).
pub(super) fn rebuild_indexes(txn: &WriteTransaction) -> Result<(), TaskError> {
    txn.delete_table(BY_STATUS)?;
    txn.delete_table(QUEUE)?;
    txn.delete_table(DUE)?;
    txn.delete_table(CHILDREN)?;
    txn.delete_table(COUNTS)?;
    txn.delete_table(SCHEDULE_RUNS)?;
    let tasks: Vec<Task> = {
        let table = txn.open_table(TASKS)?;
        let mut all = Vec::new();
        for entry in table.iter()? {
            all.push(decode(entry?.1.value())?);
        }
        all
    };
    let mut by_status = txn.open_table(BY_STATUS)?;
    let mut queue = txn.open_table(QUEUE)?;
    let mut due = txn.open_table(DUE)?;
    let mut children = txn.open_table(CHILDREN)?;
    let mut counts = txn.open_table(COUNTS)?;
    let mut runs = txn.open_table(SCHEDULE_RUNS)?;
    let mut tally = [0u64; 256];
    for task in &tasks {
        by_status.insert(status_key(task.status, task.id), ())?;
        tally[task.status.code() as usize] += 1;
        match task.status {
            TaskState::Queued => {
                queue.insert(queue_key(task), ())?;
            }
            TaskState::Scheduled => {
                due.insert(due_key(task), ())?;
            }
            _ => {}
        }
        if let Some(parent) = task.parent_task_id {
            children.insert((parent.as_u128(), task.id.as_u128()), ())?;
        }
        if let Some(schedule) = task.schedule_id {
            runs.insert((schedule.as_u128(), task.id.as_u128()), ())?;
        }
    }
    for state in TaskState::ALL {
        counts.insert(state.code(), tally[state.code() as usize])?;
    }
    Ok(())
}

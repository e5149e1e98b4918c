//! One write transaction, with typed task operations. Indexes are kept in step
//! with the task record in one place: [`WriteTxn::put`].
//!
//! The writer applies a whole batch of requests in one transaction, so the
//! tables are opened once per batch (on first use) and held by [`WriteTxn`]
//! until it is dropped: opening and closing a redb table on every operation
//! cost about a quarter of the writer's CPU. The per-state counts are kept as
//! deltas and written once, by [`WriteBatch::commit`].

use super::tables::*;
use crate::error::TaskError;
use crate::state::TaskState;
use crate::storage::{UnitOfWork, Was};
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use redb::{Key, ReadableTable, Table, TableDefinition, Value, WriteTransaction};
use std::cell::{Cell, OnceCell};

/// Number of task states; `TaskState::code` runs from 1 to this.
const STATES: usize = TaskState::ALL.len();

/// An open write transaction. Its operations go through [`WriteBatch::txn`];
/// nothing is durable until [`WriteBatch::commit`], and dropping it instead
/// aborts everything written in it.
pub(crate) struct WriteBatch {
    txn: WriteTransaction,
    /// Change of each state's count in this transaction, at `code - 1`.
    counts: Cell<[i64; STATES]>,
}

impl WriteBatch {
    pub(super) fn new(txn: WriteTransaction) -> Self {
        WriteBatch {
            txn,
            counts: Cell::new([0; STATES]),
        }
    }
}

impl UnitOfWork for WriteBatch {
    type Txn<'u> = WriteTxn<'u>;

    /// The task operations of this transaction. The returned value holds the
    /// tables open: drop it before [`UnitOfWork::commit`].
    fn txn(&self) -> WriteTxn<'_> {
        WriteTxn {
            txn: &self.txn,
            counts: &self.counts,
            tasks: OnceCell::new(),
            by_status: OnceCell::new(),
            queue: OnceCell::new(),
            due: OnceCell::new(),
            children: OnceCell::new(),
            budgets: OnceCell::new(),
        }
    }

    /// Writes the counts changed in this transaction, then commits it.
    fn commit(self) -> Result<(), TaskError> {
        let deltas = self.counts.get();
        if deltas.iter().any(|d| *d != 0) {
            let mut counts = self.txn.open_table(COUNTS)?;
            for state in TaskState::ALL {
                let delta = deltas[state.code() as usize - 1];
                if delta != 0 {
                    let n = counts.get(state.code())?.map(|v| v.value()).unwrap_or(0);
                    counts.insert(state.code(), n.saturating_add_signed(delta))?;
                }
            }
        }
        Ok(self.txn.commit()?)
    }
}

/// Task operations inside a [`WriteBatch`]. Each table is opened the first
/// time an operation needs it and stays open until this is dropped.
///
/// An operation on a table not held here opens it itself, with
/// `self.txn.open_table(..)`, for the length of the operation. It must never
/// open a table held here (`tasks`, `tasks_by_status`, `queue`, `due`,
/// `children`, `budgets`, and `counts`, which only [`WriteBatch::commit`] writes) that
/// way: redb refuses a table opened twice.
pub(crate) struct WriteTxn<'t> {
    pub(super) txn: &'t WriteTransaction,
    counts: &'t Cell<[i64; STATES]>,
    tasks: OnceCell<Table<'t, u128, &'static [u8]>>,
    by_status: OnceCell<Table<'t, (u8, u128), ()>>,
    queue: OnceCell<Table<'t, (i64, u128), ()>>,
    due: OnceCell<Table<'t, (i64, u128), ()>>,
    children: OnceCell<Table<'t, (u128, u128), ()>>,
    /// Read by every claim (see `store::budgets`).
    pub(super) budgets: OnceCell<Table<'t, &'static str, &'static [u8]>>,
}

/// The table held in `cell`, opened on first use.
pub(super) fn held<'c, 't, K: Key + 'static, V: Value + 'static>(
    cell: &'c OnceCell<Table<'t, K, V>>,
    txn: &'t WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<&'c Table<'t, K, V>, TaskError> {
    match cell.get() {
        Some(table) => Ok(table),
        None => {
            let table = txn.open_table(def)?;
            Ok(cell.get_or_init(|| table))
        }
    }
}

/// [`held`], for writing.
pub(super) fn held_mut<'c, 't, K: Key + 'static, V: Value + 'static>(
    cell: &'c mut OnceCell<Table<'t, K, V>>,
    txn: &'t WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<&'c mut Table<'t, K, V>, TaskError> {
    if cell.get().is_none() {
        let _ = cell.set(txn.open_table(def)?);
    }
    cell.get_mut()
        .ok_or_else(|| TaskError::Storage("a table did not stay open".into()))
}

impl WriteTxn<'_> {
    pub fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError> {
        let raw = held(&self.tasks, self.txn, TASKS)?.get(id.as_u128())?;
        raw.map(|v| decode(v.value())).transpose()
    }

    /// Adds `delta` to the count of tasks in `state` (written at commit).
    fn count(&self, state: TaskState, delta: i64) {
        let mut counts = self.counts.get();
        counts[state.code() as usize - 1] += delta;
        self.counts.set(counts);
    }

    /// Writes `new`, replacing `old` (which must be what is stored now, or `None`
    /// for a new task), and moves its index entries along.
    pub fn put(&mut self, old: Option<Was>, new: &Task) -> Result<(), TaskError> {
        let id = new.id.as_u128();
        held_mut(&mut self.tasks, self.txn, TASKS)?.insert(id, encode(new)?.as_slice())?;
        if old.is_some_and(|old| old.status == new.status && was_key(&old) == queue_key(new)) {
            // Same state and time: every index entry stays where it is (streamed
            // output is appended this way, many times per attempt).
            return Ok(());
        }

        let by_status = held_mut(&mut self.by_status, self.txn, BY_STATUS)?;
        if let Some(old) = old {
            by_status.remove(status_key(old.status, old.id))?;
        }
        by_status.insert(status_key(new.status, new.id), ())?;

        if let Some(old) = old {
            self.count(old.status, -1);
            match old.status {
                TaskState::Queued => {
                    held_mut(&mut self.queue, self.txn, QUEUE)?.remove(was_key(&old))?;
                }
                TaskState::Scheduled => {
                    held_mut(&mut self.due, self.txn, DUE)?.remove(was_key(&old))?;
                }
                _ => {}
            }
        } else {
            if let Some(parent) = new.parent_task_id {
                held_mut(&mut self.children, self.txn, CHILDREN)?
                    .insert((parent.as_u128(), id), ())?;
            }
            self.index_group_row(new)?;
            if let Some(schedule) = new.schedule_id {
                // Not held: only a fire writes it, once per new task.
                self.txn
                    .open_table(SCHEDULE_TASKS)?
                    .insert((schedule.as_u128(), id), ())?;
            }
        }

        self.count(new.status, 1);
        match new.status {
            TaskState::Queued => {
                held_mut(&mut self.queue, self.txn, QUEUE)?.insert(queue_key(new), ())?;
            }
            TaskState::Scheduled => {
                held_mut(&mut self.due, self.txn, DUE)?.insert(due_key(new), ())?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The first `limit` queued tasks, in claim order.
    pub fn queue_head(&self, limit: usize) -> Result<Vec<TaskId>, TaskError> {
        let queue = held(&self.queue, self.txn, QUEUE)?;
        let mut ids = Vec::with_capacity(limit.min(1024));
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
        let due = held(&self.due, self.txn, DUE)?;
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
        super::children_in(held(&self.children, self.txn, CHILDREN)?, parent)
    }

    pub fn ids_in(&self, state: TaskState) -> Result<Vec<TaskId>, TaskError> {
        super::ids_in_state(held(&self.by_status, self.txn, BY_STATUS)?, state)
    }
}

/// Rebuilds every index table from the task records (migration 1 → 2, repair).
pub(super) fn rebuild_indexes(txn: &WriteTransaction) -> Result<(), TaskError> {
    txn.delete_table(BY_STATUS)?;
    txn.delete_table(QUEUE)?;
    txn.delete_table(DUE)?;
    txn.delete_table(CHILDREN)?;
    txn.delete_table(COUNTS)?;
    txn.delete_table(SCHEDULE_TASKS)?;
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
    let mut by_schedule = txn.open_table(SCHEDULE_TASKS)?;
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
            by_schedule.insert((schedule.as_u128(), task.id.as_u128()), ())?;
        }
    }
    for state in TaskState::ALL {
        counts.insert(state.code(), tally[state.code() as usize])?;
    }
    Ok(())
}

//! Groups (`map`): the records, their names, and each group's rows in input order.

use super::schedules::name_key;
use super::tables::decode;
use super::tables::{GROUPS, GROUP_NAMES, GROUP_ROWS, TASKS};
use super::{Store, WriteTxn};
use crate::error::TaskError;
use crate::group::{Group, GroupId};
use crate::task::{Task, TaskId};
use redb::{ReadableTable, WriteTransaction};

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), TaskError> {
    txn.open_table(GROUPS)?;
    txn.open_table(GROUP_NAMES)?;
    txn.open_table(GROUP_ROWS)?;
    Ok(())
}

fn decode_group(raw: &[u8]) -> Result<Group, TaskError> {
    serde_json::from_slice(raw)
        .map_err(|e| TaskError::Storage(format!("a stored group is unreadable: {e}")))
}

fn all_in(table: &impl ReadableTable<u128, &'static [u8]>) -> Result<Vec<Group>, TaskError> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        out.push(decode_group(entry?.1.value())?);
    }
    Ok(out)
}

fn rows_of(
    table: &impl ReadableTable<(u128, u32), u128>,
    id: GroupId,
    offset: usize,
    limit: usize,
) -> Result<Vec<TaskId>, TaskError> {
    let g = id.as_u128();
    let mut out = Vec::new();
    for entry in table
        .range((g, 0)..=(g, u32::MAX))?
        .skip(offset)
        .take(limit)
    {
        out.push(TaskId::from_u128(entry?.1.value()));
    }
    Ok(out)
}

impl WriteTxn<'_> {
    pub fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError> {
        let table = self.txn.open_table(GROUPS)?;
        let raw = table.get(id.as_u128())?;
        raw.map(|v| decode_group(v.value())).transpose()
    }

    pub fn group_named(&self, name: &str) -> Result<Option<GroupId>, TaskError> {
        let table = self.txn.open_table(GROUP_NAMES)?;
        let id = table.get(name_key(name).as_str())?.map(|v| v.value());
        Ok(id.map(GroupId::from_u128))
    }

    pub fn put_group(&mut self, old: Option<&Group>, new: &Group) -> Result<(), TaskError> {
        let raw = serde_json::to_vec(new)
            .map_err(|e| TaskError::Storage(format!("cannot encode group: {e}")))?;
        let id = new.id.as_u128();
        self.txn.open_table(GROUPS)?.insert(id, raw.as_slice())?;
        if old.is_none() {
            self.txn
                .open_table(GROUP_NAMES)?
                .insert(name_key(&new.name).as_str(), id)?;
        }
        Ok(())
    }

    pub fn group_rows(&self, id: GroupId) -> Result<Vec<TaskId>, TaskError> {
        rows_of(&self.txn.open_table(GROUP_ROWS)?, id, 0, usize::MAX)
    }

    /// Indexes a new row task under its group (called by `put` on insert).
    pub(super) fn index_group_row(&mut self, task: &Task) -> Result<(), TaskError> {
        if let Some((group, row)) = task.group.as_ref().and_then(|m| Some((m.group_id, m.row?))) {
            self.txn
                .open_table(GROUP_ROWS)?
                .insert((group.as_u128(), row), task.id.as_u128())?;
        }
        Ok(())
    }
}

impl Store {
    /// Every group, oldest first.
    pub fn groups(&self) -> Result<Vec<Group>, TaskError> {
        let txn = self.begin_read()?;
        all_in(&txn.open_table(GROUPS)?)
    }

    pub fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(GROUPS)?;
        let raw = table.get(id.as_u128())?;
        raw.map(|v| decode_group(v.value())).transpose()
    }

    pub fn group_named(&self, name: &str) -> Result<Option<Group>, TaskError> {
        let txn = self.begin_read()?;
        let names = txn.open_table(GROUP_NAMES)?;
        let Some(id) = names.get(name_key(name).as_str())?.map(|v| v.value()) else {
            return Ok(None);
        };
        let table = txn.open_table(GROUPS)?;
        let raw = table.get(id)?;
        raw.map(|v| decode_group(v.value())).transpose()
    }

    /// A page of a group's row tasks, in input order, read in one snapshot.
    pub fn group_tasks(
        &self,
        id: GroupId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Task>, TaskError> {
        let txn = self.begin_read()?;
        let ids = rows_of(&txn.open_table(GROUP_ROWS)?, id, offset, limit)?;
        let tasks = txn.open_table(TASKS)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(raw) = tasks.get(id.as_u128())? {
                out.push(decode(raw.value())?);
            }
        }
        Ok(out)
    }
}

impl super::Snapshot {
    /// Every group, oldest first, as of the snapshot.
    pub fn groups(&self) -> Result<Vec<Group>, TaskError> {
        all_in(&self.txn.open_table(GROUPS)?)
    }
}

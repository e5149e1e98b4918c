//! Schedule records and their indexes: the name index (unique names), the due
//! index (what fires next) and each schedule's tasks.

use super::tables::*;
use super::{Store, WriteTxn};
use crate::error::TaskError;
use crate::schedule::{Schedule, ScheduleId};
use crate::task::Task;
use chrono::{DateTime, Utc};
use redb::{ReadableTable, WriteTransaction};

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), TaskError> {
    txn.open_table(SCHEDULES)?;
    txn.open_table(SCHEDULE_NAMES)?;
    txn.open_table(SCHEDULE_DUE)?;
    txn.open_table(SCHEDULE_TASKS)?;
    Ok(())
}

fn encode_schedule(s: &Schedule) -> Result<Vec<u8>, TaskError> {
    serde_json::to_vec(s).map_err(|e| TaskError::Storage(format!("cannot encode schedule: {e}")))
}

fn decode_schedule(raw: &[u8]) -> Result<Schedule, TaskError> {
    serde_json::from_slice(raw)
        .map_err(|e| TaskError::Storage(format!("a stored schedule record is unreadable: {e}")))
}

/// Names are unique regardless of case (schedules' and groups').
pub(super) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

fn due_entry(s: &Schedule) -> Option<(i64, u128)> {
    s.next_fire_at
        .filter(|_| s.enabled)
        .map(|at| (micros(at), s.id.as_u128()))
}

impl WriteTxn<'_> {
    pub fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError> {
        let table = self.txn.open_table(SCHEDULES)?;
        let raw = table.get(id.as_u128())?;
        raw.map(|v| decode_schedule(v.value())).transpose()
    }

    /// The id of the schedule with this name (any case).
    pub fn schedule_named(&self, name: &str) -> Result<Option<ScheduleId>, TaskError> {
        let table = self.txn.open_table(SCHEDULE_NAMES)?;
        let id = table.get(name_key(name).as_str())?.map(|v| v.value());
        Ok(id.map(ScheduleId::from_u128))
    }

    /// Writes `new`, replacing `old` (what is stored now, or `None`), and moves
    /// its name and due entries along. The caller has checked the name is free.
    pub fn put_schedule(
        &mut self,
        old: Option<&Schedule>,
        new: &Schedule,
    ) -> Result<(), TaskError> {
        let id = new.id.as_u128();
        self.txn
            .open_table(SCHEDULES)?
            .insert(id, encode_schedule(new)?.as_slice())?;
        if old.is_none_or(|old| name_key(&old.name) != name_key(&new.name)) {
            let mut names = self.txn.open_table(SCHEDULE_NAMES)?;
            if let Some(old) = old {
                names.remove(name_key(&old.name).as_str())?;
            }
            names.insert(name_key(&new.name).as_str(), id)?;
        }
        let (before, after) = (old.and_then(due_entry), due_entry(new));
        if before != after {
            let mut due = self.txn.open_table(SCHEDULE_DUE)?;
            if let Some(key) = before {
                due.remove(key)?;
            }
            if let Some(key) = after {
                due.insert(key, ())?;
            }
        }
        Ok(())
    }

    /// Deletes a schedule and its indexes. Its tasks stay, with their `schedule_id`.
    pub fn remove_schedule(&mut self, old: &Schedule) -> Result<(), TaskError> {
        let id = old.id.as_u128();
        self.txn.open_table(SCHEDULES)?.remove(id)?;
        self.txn
            .open_table(SCHEDULE_NAMES)?
            .remove(name_key(&old.name).as_str())?;
        if let Some(key) = due_entry(old) {
            self.txn.open_table(SCHEDULE_DUE)?.remove(key)?;
        }
        Ok(())
    }

    /// Enabled schedules due at or before `now`, and the next fire time after.
    pub fn schedules_due_by(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ScheduleId>, Option<DateTime<Utc>>), TaskError> {
        let due = self.txn.open_table(SCHEDULE_DUE)?;
        let now_us = micros(now);
        let mut ids = Vec::new();
        for entry in due.iter()? {
            let (at, id) = entry?.0.value();
            if at > now_us {
                return Ok((ids, Some(from_micros(at))));
            }
            ids.push(ScheduleId::from_u128(id));
        }
        Ok((ids, None))
    }
}

impl Store {
    /// Every schedule, oldest first.
    pub fn schedules(&self) -> Result<Vec<Schedule>, TaskError> {
        schedules_in(&self.begin_read()?)
    }

    pub fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(SCHEDULES)?;
        let raw = table.get(id.as_u128())?;
        raw.map(|v| decode_schedule(v.value())).transpose()
    }

    pub fn schedule_named(&self, name: &str) -> Result<Option<Schedule>, TaskError> {
        let txn = self.begin_read()?;
        let names = txn.open_table(SCHEDULE_NAMES)?;
        let Some(id) = names.get(name_key(name).as_str())?.map(|v| v.value()) else {
            return Ok(None);
        };
        let table = txn.open_table(SCHEDULES)?;
        let raw = table.get(id)?;
        raw.map(|v| decode_schedule(v.value())).transpose()
    }

    /// The tasks a schedule created, newest first, at most `limit`.
    pub fn schedule_tasks(&self, id: ScheduleId, limit: usize) -> Result<Vec<Task>, TaskError> {
        let txn = self.begin_read()?;
        let by_schedule = txn.open_table(SCHEDULE_TASKS)?;
        let tasks = txn.open_table(TASKS)?;
        let s = id.as_u128();
        let mut out = Vec::new();
        for entry in by_schedule
            .range((s, 0)..=(s, u128::MAX))?
            .rev()
            .take(limit)
        {
            let task_id = entry?.0.value().1;
            if let Some(raw) = tasks.get(task_id)? {
                out.push(decode(raw.value())?);
            }
        }
        Ok(out)
    }
}

pub(super) fn schedules_in(txn: &redb::ReadTransaction) -> Result<Vec<Schedule>, TaskError> {
    let table = txn.open_table(SCHEDULES)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        out.push(decode_schedule(entry?.1.value())?);
    }
    Ok(out)
}

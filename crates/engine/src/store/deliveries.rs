//! Delivery records (the outbox) and their indexes: pending ones by when they
//! are next due, and each task's.

use super::tables::*;
use super::{Store, WriteTxn};
use crate::delivery::{Delivery, DeliveryId, DeliveryStatus};
use crate::error::TaskError;
use crate::task::TaskId;
use chrono::{DateTime, Utc};
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), TaskError> {
    txn.open_table(DELIVERIES)?;
    txn.open_table(DELIVERY_DUE)?;
    txn.open_table(TASK_DELIVERIES)?;
    Ok(())
}

fn encode_delivery(d: &Delivery) -> Result<Vec<u8>, TaskError> {
    serde_json::to_vec(d).map_err(|e| TaskError::Storage(format!("cannot encode delivery: {e}")))
}

fn decode_delivery(raw: &[u8]) -> Result<Delivery, TaskError> {
    serde_json::from_slice(raw)
        .map_err(|e| TaskError::Storage(format!("a stored delivery record is unreadable: {e}")))
}

/// The due entry of a pending delivery.
fn due_entry(d: &Delivery) -> Option<(i64, u128)> {
    (d.status == DeliveryStatus::Pending)
        .then(|| (micros(d.next_at.unwrap_or(d.created_at)), d.id.as_u128()))
}

impl WriteTxn<'_> {
    pub fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError> {
        let table = self.txn.open_table(DELIVERIES)?;
        let raw = table.get(id.as_u128())?;
        raw.map(|v| decode_delivery(v.value())).transpose()
    }

    /// Writes `new`, replacing `old` (what is stored now, or `None`), and moves
    /// its due entry along.
    pub fn put_delivery(
        &mut self,
        old: Option<&Delivery>,
        new: &Delivery,
    ) -> Result<(), TaskError> {
        let id = new.id.as_u128();
        self.txn
            .open_table(DELIVERIES)?
            .insert(id, encode_delivery(new)?.as_slice())?;
        if old.is_none() {
            self.txn
                .open_table(TASK_DELIVERIES)?
                .insert((new.task_id.as_u128(), id), ())?;
        }
        let (before, after) = (old.and_then(due_entry), due_entry(new));
        if before != after {
            let mut due = self.txn.open_table(DELIVERY_DUE)?;
            if let Some(key) = before {
                due.remove(key)?;
            }
            if let Some(key) = after {
                due.insert(key, ())?;
            }
        }
        Ok(())
    }
}

impl Store {
    /// A task's deliveries, oldest first.
    pub fn deliveries_of(&self, task: TaskId) -> Result<Vec<Delivery>, TaskError> {
        let txn = self.begin_read()?;
        let index = txn.open_table(TASK_DELIVERIES)?;
        let table = txn.open_table(DELIVERIES)?;
        let t = task.as_u128();
        let mut out = Vec::new();
        for entry in index.range((t, 0)..=(t, u128::MAX))? {
            if let Some(raw) = table.get(entry?.0.value().1)? {
                out.push(decode_delivery(raw.value())?);
            }
        }
        Ok(out)
    }

    pub fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(DELIVERIES)?;
        let raw = table.get(id.as_u128())?;
        raw.map(|v| decode_delivery(v.value())).transpose()
    }

    /// How many deliveries are pending.
    pub fn pending_deliveries(&self) -> Result<u64, TaskError> {
        let txn = self.begin_read()?;
        Ok(txn.open_table(DELIVERY_DUE)?.len()?)
    }

    /// The newest deliveries first, at most `limit`.
    pub fn recent_deliveries(&self, limit: usize) -> Result<Vec<Delivery>, TaskError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(DELIVERIES)?;
        let mut out = Vec::new();
        for entry in table.iter()?.rev().take(limit) {
            out.push(decode_delivery(entry?.1.value())?);
        }
        Ok(out)
    }

    /// Pending deliveries due at or before `now` (at most `limit`, the earliest
    /// first), and when the next one after falls due.
    pub fn deliveries_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<DateTime<Utc>>), TaskError> {
        let txn = self.begin_read()?;
        let due = txn.open_table(DELIVERY_DUE)?;
        let table = txn.open_table(DELIVERIES)?;
        let now_us = micros(now);
        let mut out = Vec::new();
        for entry in due.iter()? {
            let (at, id) = entry?.0.value();
            if at > now_us || out.len() >= limit {
                return Ok((out, Some(from_micros(at))));
            }
            if let Some(raw) = table.get(id)? {
                out.push(decode_delivery(raw.value())?);
            }
        }
        Ok((out, None))
    }
}

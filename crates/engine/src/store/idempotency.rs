//! Idempotency keys: which request a key created, written in the same
//! transaction as the tasks it created, so a stored task always has its key.

use super::tables::*;
use super::write::WriteTxn;
use crate::error::TaskError;
use crate::schedule::ScheduleId;
use crate::task::TaskId;
use chrono::{DateTime, Utc};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

/// What a key is stored with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    /// SHA-256 of the request (hex): the same key with another body is refused.
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
    /// The tasks the request created, the one answered first.
    pub tasks: Vec<TaskId>,
    /// The schedule it created, for `POST /schedules`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleId>,
}

/// Most expired keys one write removes, so a backlog never makes one commit slow.
pub(crate) const PRUNE_BATCH: usize = 256;

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), TaskError> {
    txn.open_table(IDEMPOTENCY)?;
    txn.open_table(IDEMPOTENCY_BY_TIME)?;
    Ok(())
}

impl WriteTxn<'_> {
    pub fn idempotency_key(&self, key: &str) -> Result<Option<KeyRecord>, TaskError> {
        let table = self.txn.open_table(IDEMPOTENCY)?;
        let raw = table.get(key)?;
        raw.map(|v| {
            serde_json::from_slice(v.value()).map_err(|e| {
                TaskError::Storage(format!("a stored idempotency key is unreadable: {e}"))
            })
        })
        .transpose()
    }

    /// Stores `key`, and forgets (a bounded number of) keys created before
    /// `forget_before`.
    pub fn put_idempotency_key(
        &self,
        key: &str,
        record: &KeyRecord,
        forget_before: DateTime<Utc>,
    ) -> Result<(), TaskError> {
        let mut keys = self.txn.open_table(IDEMPOTENCY)?;
        let mut by_time = self.txn.open_table(IDEMPOTENCY_BY_TIME)?;
        let mut expired = Vec::new();
        for entry in by_time
            .range::<(i64, &str)>(..(micros(forget_before), ""))?
            .take(PRUNE_BATCH)
        {
            let entry = entry?;
            let (at, old) = entry.0.value();
            expired.push((at, old.to_string()));
        }
        for (at, old) in expired {
            by_time.remove((at, old.as_str()))?;
            keys.remove(old.as_str())?;
        }
        let raw = serde_json::to_vec(record)
            .map_err(|e| TaskError::Storage(format!("cannot encode an idempotency key: {e}")))?;
        keys.insert(key, raw.as_slice())?;
        by_time.insert((micros(record.created_at), key), ())?;
        Ok(())
    }
}

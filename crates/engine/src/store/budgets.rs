//! Budgets, by name: a handful of small records read by every claim.

use super::tables::BUDGETS;
use super::write::{held, held_mut};
use super::{Store, WriteTxn};
use crate::budget::Budget;
use crate::error::TaskError;
use redb::{ReadableTable, WriteTransaction};

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), TaskError> {
    txn.open_table(BUDGETS)?;
    Ok(())
}

fn decode(raw: &[u8]) -> Result<Budget, TaskError> {
    serde_json::from_slice(raw)
        .map_err(|e| TaskError::Storage(format!("a stored budget is unreadable: {e}")))
}

fn all(table: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Vec<Budget>, TaskError> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (_, raw) = entry?;
        out.push(decode(raw.value())?);
    }
    Ok(out)
}

impl WriteTxn<'_> {
    pub fn budgets(&self) -> Result<Vec<Budget>, TaskError> {
        all(held(&self.budgets, self.txn, BUDGETS)?)
    }

    pub fn put_budget(&mut self, budget: &Budget) -> Result<(), TaskError> {
        let raw = serde_json::to_vec(budget)
            .map_err(|e| TaskError::Storage(format!("cannot encode budget: {e}")))?;
        held_mut(&mut self.budgets, self.txn, BUDGETS)?
            .insert(budget.name.as_str(), raw.as_slice())?;
        Ok(())
    }

    pub fn remove_budget(&mut self, name: &str) -> Result<Option<Budget>, TaskError> {
        let table = held_mut(&mut self.budgets, self.txn, BUDGETS)?;
        let removed = table.remove(name)?;
        removed.map(|raw| decode(raw.value())).transpose()
    }
}

impl Store {
    /// Every budget, in name order.
    pub fn budgets(&self) -> Result<Vec<Budget>, TaskError> {
        let txn = self.begin_read()?;
        all(&txn.open_table(BUDGETS)?)
    }
}

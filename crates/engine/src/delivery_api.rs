//! The engine's delivery operations, for the CLI, the API and the desktop:
//! a task's deliveries, the latest ones, and a resend by hand.

use crate::delivery::{Delivery, DeliveryId};
use crate::engine::Engine;
use crate::error::TaskError;
use crate::task::TaskId;

impl Engine {
    /// A task's deliveries, oldest first.
    pub async fn deliveries(&self, task: TaskId) -> Result<Vec<Delivery>, TaskError> {
        self.read(move |store| {
            store.get(task)?.ok_or(TaskError::NotFound(task))?;
            store.deliveries_of(task)
        })
        .await
    }

    /// The latest deliveries of every task, newest first.
    pub async fn recent_deliveries(&self, limit: usize) -> Result<Vec<Delivery>, TaskError> {
        self.read(move |store| store.recent_deliveries(limit)).await
    }

    pub async fn delivery(&self, id: DeliveryId) -> Result<Delivery, TaskError> {
        self.read(move |store| store.delivery(id))
            .await?
            .ok_or_else(|| TaskError::DeliveryNotFound(id.to_string()))
    }

    /// Sends a delivery again, whatever became of it (sent, failed, skipped,
    /// pending): it is pending at once, its tries counted from zero, with the
    /// same idempotency key.
    pub async fn resend_delivery(&self, id: DeliveryId) -> Result<Delivery, TaskError> {
        self.inner().writer.resend(id).await
    }
}

//! The engine's delivery operations, for the CLI, the API and the desktop:
//! a task's deliveries, the latest ones, and a resend by hand.

use crate::delivery::{Delivery, DeliveryId};
use crate::engine::Engine;
use crate::error::{ProviderConfigError, TaskError};
use crate::provider::ApiKey;
use crate::storage::Storage;
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

    /// Keeps a webhook's signing secret in the OS keychain (service `baton`,
    /// account `webhook:URL`), for tasks whose `deliver` says
    /// `webhook_secret_keychain`. Never stored in the database or exported.
    pub async fn store_webhook_secret(
        &self,
        url: &str,
        secret: ApiKey,
    ) -> Result<(), ProviderConfigError> {
        crate::delivery::Deliver {
            webhook: Some(url.to_string()),
            ..Default::default()
        }
        .check(false)?;
        let account = crate::delivery::secret_account(url);
        let stored =
            tokio::task::spawn_blocking(move || crate::provider::keys::store(&account, &secret))
                .await
                .map_err(|e| TaskError::Storage(e.to_string()))?;
        match stored {
            Ok(()) => Ok(()),
            Err(crate::provider::KeyError::NoKeychain(why)) => Err(ProviderConfigError::invalid(
                "webhook_secret",
                format!(
                    "no OS keychain is available here ({why}); keep the secret in an environment variable and name it instead"
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a delivery again, whatever became of it (sent, failed, skipped,
    /// pending): it is pending at once, its tries counted from zero, with the
    /// same idempotency key.
    pub async fn resend_delivery(&self, id: DeliveryId) -> Result<Delivery, TaskError> {
        self.inner().writer.resend(id).await
    }
}

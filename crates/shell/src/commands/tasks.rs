//! Creating, changing and reading tasks.

use super::parse_id;
use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::{CatalogPage, CatalogQuery, NewTask, StatusCounts, Task};
use serde::{Deserialize, Serialize};
use specta::Type;

/// The create form: the engine's task fields, with the start time as the form
/// asks for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Type)]
// Serialize: the window forwards it to the runner as it read it.
pub struct TaskInput {
    #[serde(flatten)]
    pub task: NewTask,
    /// RFC 3339; mutually exclusive with `start_in_minutes`. It takes the key
    /// `start_at` before the flattened task: the task's own is read only under
    /// its old name, `scheduled_for`.
    #[serde(alias = "run_at")]
    pub start_at: Option<String>,
    #[serde(alias = "run_in_minutes")]
    pub start_in_minutes: Option<u32>,
}

impl TaskInput {
    pub(crate) fn into_new_task(
        self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<NewTask, CommandError> {
        let start_at = match (
            self.start_at.filter(|s| !s.trim().is_empty()),
            self.start_in_minutes,
        ) {
            (Some(_), Some(_)) => {
                return Err(CommandError::invalid(
                    "start_at",
                    "choose either a date and time or a delay, not both",
                ))
            }
            (Some(at), None) => Some(
                chrono::DateTime::parse_from_rfc3339(at.trim())
                    .map_err(|_| {
                        CommandError::invalid("start_at", format!("'{at}' is not a date and time"))
                    })?
                    .to_utc(),
            ),
            (None, Some(minutes)) => Some(now + chrono::Duration::minutes(minutes.into())),
            (None, None) => self.task.start_at,
        };
        Ok(NewTask {
            start_at,
            ..blanks_unset(self.task)
        })
    }
}

/// A form's empty text boxes mean "the default", as if left out.
pub(crate) fn blanks_unset(task: NewTask) -> NewTask {
    let some = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    NewTask {
        name: some(task.name),
        provider: some(task.provider),
        model: some(task.model),
        system: some(task.system),
        deliver: baton_engine::Deliver {
            to_file: some(task.deliver.to_file),
            webhook: some(task.deliver.webhook),
            webhook_secret_env: some(task.deliver.webhook_secret_env),
            ..task.deliver
        },
        ..task
    }
}

/// A window of the task list with the per-status counts.
#[derive(Debug, Clone, Serialize, Type)]
pub struct TaskPage {
    pub page: CatalogPage,
    pub counts: StatusCounts,
}

/// A task with its children.
#[derive(Debug, Clone, Serialize, Type)]
pub struct TaskDetail {
    pub task: Task,
    pub children: Vec<Task>,
    /// Where its answers went (files, webhooks), oldest first.
    pub deliveries: Vec<baton_engine::Delivery>,
}

pub async fn submit_task(state: &AppState, input: TaskInput) -> Result<Task, CommandError> {
    let engine = state.engine().await?;
    let new = input.into_new_task(engine.now())?;
    Ok(engine.submit(new).await?)
}

pub async fn chain_task(
    state: &AppState,
    parent_id: String,
    input: TaskInput,
) -> Result<Task, CommandError> {
    let engine = state.engine().await?;
    let parent = parse_id(&parent_id)?;
    let new = input.into_new_task(engine.now())?;
    Ok(engine.chain(parent, new).await?)
}

pub async fn cancel_task(
    state: &AppState,
    id: String,
    reason: Option<String>,
) -> Result<Task, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.cancel(parse_id(&id)?, reason).await?.task)
}

pub async fn retry_task(
    state: &AppState,
    id: String,
    max_attempts: Option<u32>,
) -> Result<Task, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.retry(parse_id(&id)?, max_attempts).await?)
}

pub async fn get_task(state: &AppState, id: String) -> Result<TaskDetail, CommandError> {
    let engine = state.engine().await?;
    let id = parse_id(&id)?;
    let task = engine.get(id).await?;
    let children = engine
        .list(baton_engine::ListQuery {
            filter: baton_engine::TaskFilter {
                parent_task_id: Some(id),
                ..Default::default()
            },
            limit: 1000,
            ..Default::default()
        })
        .await?;
    let deliveries = engine.deliveries(id).await?;
    Ok(TaskDetail {
        task,
        children,
        deliveries,
    })
}

pub async fn store_webhook_secret(
    state: &AppState,
    url: String,
    secret: String,
) -> Result<(), CommandError> {
    let engine = state.engine().await?;
    let secret = baton_engine::ApiKey::new(secret)
        .ok_or_else(|| CommandError::invalid("webhook_secret", "the secret is empty"))?;
    Ok(engine.store_webhook_secret(&url, secret).await?)
}

pub async fn resend_delivery(
    state: &AppState,
    id: String,
) -> Result<baton_engine::Delivery, CommandError> {
    let engine = state.engine().await?;
    let id: baton_engine::DeliveryId = id.parse()?;
    Ok(engine.resend_delivery(id).await?)
}

pub async fn query_tasks(state: &AppState, query: CatalogQuery) -> Result<TaskPage, CommandError> {
    let engine = state.engine().await?;
    Ok(TaskPage {
        page: state.catalog.query_now(&engine, &query).await?,
        counts: engine.counts().await?,
    })
}

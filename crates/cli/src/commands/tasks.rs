//! Commands that change one task: submit, chain, cancel, retry.

use super::with_backend;
use crate::args::{CancelArgs, ChainArgs, RetryArgs, SubmitArgs, TaskOptions};
use crate::error::CliError;
use crate::{input, output};
use baton_engine::{Task, TaskState};
use std::path::Path;

pub async fn submit(db: &Path, args: SubmitArgs) -> Result<(), CliError> {
    let prompt = input::prompt(&args.prompt, std::io::stdin())?;
    let new = input::new_task(prompt, &args.options)?;
    let key = input::idempotency_key(args.options.idempotency_key.as_deref())?;
    let task = with_backend(db, |backend| async move { backend.submit(new, key).await }).await?;
    print_created(&task, &args.options)
}

pub async fn chain(db: &Path, args: ChainArgs) -> Result<(), CliError> {
    let parent = input::task_id(&args.parent_id)?;
    let instruction = input::prompt(&args.instruction, std::io::stdin())?;
    let new = input::new_task(instruction, &args.options)?;
    let key = input::idempotency_key(args.options.idempotency_key.as_deref())?;
    let task = with_backend(db, |backend| async move {
        backend.chain(parent, new, key).await
    })
    .await?;
    print_created(&task, &args.options)
}

/// The id alone, so `id=$(baton submit …)` works; or the whole task.
fn print_created(task: &Task, options: &TaskOptions) -> Result<(), CliError> {
    if options.json {
        output::emit(&output::json(task)?)
    } else {
        output::emit(&format!("{}\n", task.id))
    }
}

pub async fn cancel(db: &Path, args: CancelArgs) -> Result<(), CliError> {
    let id = input::task_id(&args.id)?;
    let reason = args.reason;
    let cancelled = with_backend(
        db,
        |backend| async move { backend.cancel(id, reason).await },
    )
    .await?;
    // Cancelling twice is not an error: the task is where the caller wants it.
    output::emit(&if cancelled.changed {
        format!("cancelled task {id} (it was {})\n", cancelled.previous)
    } else {
        format!("task {id} was already cancelled\n")
    })
}

pub async fn retry(db: &Path, args: RetryArgs) -> Result<(), CliError> {
    let id = input::task_id(&args.id)?;
    let max_attempts = args.max_attempts;
    let task = with_backend(db, |backend| async move {
        backend.retry(id, max_attempts).await
    })
    .await?;
    output::emit(&match task.status {
        TaskState::Waiting => format!(
            "task {id} is waiting for its parent again (up to {} attempts)\n",
            task.max_attempts
        ),
        status => format!(
            "task {id} is {status} again (up to {} attempts)\n",
            task.max_attempts
        ),
    })
}

//! The bounded worker pool: a dispatcher that claims no more tasks than free
//! slots, and an executor per claimed task that runs one attempt and reports its
//! outcome to the writer. Executors never write the store themselves.

use crate::engine::Inner;
use crate::error::TaskError;
use crate::lifecycle::{AttemptResult, Outcome};
use crate::provider::{CompletionRequest, OutputSink};
use crate::task::Task;
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

pub(crate) async fn dispatch(inner: Arc<Inner>) {
    let mut paused = inner.paused.subscribe();
    loop {
        // Wait while paused.
        while *paused.borrow_and_update() {
            tokio::select! {
                changed = paused.changed() => if changed.is_err() { return },
                _ = inner.stop_intake.cancelled() => return,
            }
        }
        let first = tokio::select! {
            permit = inner.slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = inner.stop_intake.cancelled() => return,
        };
        let mut permits = vec![first];
        while let Ok(p) = inner.slots.clone().try_acquire_owned() {
            permits.push(p);
        }

        // Register before claiming: a task queued after the claim looked still wakes us.
        let woken = inner.shared.wake_dispatcher.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();

        let claimed = match inner.writer.claim(permits.len()).await {
            Ok(tasks) => tasks,
            Err(TaskError::ShuttingDown) => return,
            Err(e) => {
                tracing::error!(error = %e, "could not claim tasks");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            drop(permits);
            tokio::select! {
                _ = &mut woken => {}
                _ = paused.changed() => {}
                _ = inner.stop_intake.cancelled() => return,
            }
            continue;
        }
        for (task, permit) in claimed.into_iter().zip(permits) {
            inner.executors.spawn(execute(inner.clone(), task, permit));
        }
    }
}

async fn execute(inner: Arc<Inner>, task: Task, permit: OwnedSemaphorePermit) {
    let span = tracing::info_span!("task", task_id = %task.id, attempt = task.attempts);
    async move {
        tracing::info!(provider = %task.llm_provider, model = %task.llm_model, "attempt started");
        let run = task.history.len() as u32;
        let cancelled = inner.shared.watch_running(task.id, run);
        let result = match inner.providers.get(&task.llm_provider).cloned() {
            None => Some(AttemptResult::Failed {
                error: format!("the provider '{}' is not configured", task.llm_provider),
                retryable: false,
            }),
            Some(provider) => {
                let request = CompletionRequest {
                    task_id: task.id,
                    prompt: task.prompt_to_send().to_string(),
                    model: task.llm_model.clone(),
                    attempt: task.attempts,
                };
                let sink = OutputSink::new(inner.shared.clone(), inner.clock, task.id, task.attempts);
                // A panic inside the provider fails this attempt, not the pool.
                let call = AssertUnwindSafe(provider.complete(request, sink)).catch_unwind();
                tokio::select! {
                    biased;
                    // Dropping `call` here aborts the provider's work at once.
                    _ = cancelled.cancelled() => None,
                    _ = inner.hard_stop.cancelled() => Some(AttemptResult::Interrupted),
                    r = tokio::time::timeout(task.timeout(), call) => Some(match r {
                        Err(_) => AttemptResult::TimedOut { after_ms: task.timeout_ms },
                        Ok(Err(panic)) => AttemptResult::Failed {
                            error: format!("the provider panicked: {}", panic_message(&panic)),
                            retryable: true,
                        },
                        Ok(Ok(Ok(output))) => AttemptResult::Completed { output },
                        Ok(Ok(Err(e))) => AttemptResult::Failed { error: e.message, retryable: e.retryable },
                    }),
                }
            }
        };
        match result {
            None => tracing::info!("attempt aborted: the task was cancelled"),
            Some(result) => {
                let outcome = Outcome { id: task.id, run, result };
                match inner.writer.finish(outcome).await {
                    Ok(Some(t)) => tracing::info!(status = %t.status, "attempt finished"),
                    Ok(None) => tracing::info!("outcome ignored: the task had moved on"),
                    Err(e) => tracing::error!(error = %e, "could not record the outcome"),
                }
            }
        }
        inner.shared.forget_running(task.id, run);
        drop(permit);
    }
    .instrument(span)
    .await
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

//! The bounded worker pool: a dispatcher that claims no more tasks than free
//! slots, and an executor per claimed task that runs one attempt and reports its
//! outcome to the writer. Executors never write the store themselves.

use crate::engine::Inner;
use crate::error::TaskError;
use crate::events::Draft;
use crate::lifecycle::{AttemptResult, AttemptUsage, Outcome};
use crate::provider::{
    count_prompt, count_text, CompletionRequest, OutputSink, Permit, Prices, Probe, ProviderError,
    LOWERED_FOR,
};
use crate::task::{ErrorClass, Task};
use crate::writer::Claimed;
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
            Ok(claimed) => claimed,
            Err(TaskError::ShuttingDown) => return,
            Err(e) => {
                tracing::error!(error = %e, "could not claim tasks");
                drop(permits);
                // The database cannot be written (a full disk): claim again once
                // the writer has made it writable.
                let mut health = inner.shared.health.subscribe();
                tokio::select! {
                    _ = health.wait_for(|h| h.is_ok()) => {}
                    _ = inner.stop_intake.cancelled() => return,
                }
                continue;
            }
        };
        if claimed.tasks.is_empty() {
            drop(permits);
            // Tasks held back by a provider's limit are tried again when it lifts;
            // a freed concurrency slot or a newly queued task wakes us earlier.
            let lifted = async {
                match claimed.retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut woken => {}
                _ = lifted => {}
                _ = paused.changed() => {}
                _ = inner.stop_intake.cancelled() => return,
            }
            continue;
        }
        launch(&inner, claimed, permits);
    }
}

/// The slots free now, none if paused: for a claim that should start tasks at once.
pub(crate) fn free_slots(inner: &Inner) -> Vec<OwnedSemaphorePermit> {
    let mut permits = Vec::new();
    if !*inner.paused.borrow() {
        while let Ok(p) = inner.slots.clone().try_acquire_owned() {
            permits.push(p);
        }
    }
    permits
}

/// Starts an executor for each claimed task, in one of `slots`; the slots left
/// over are given back.
pub(crate) fn launch(inner: &Arc<Inner>, claimed: Claimed, slots: Vec<OwnedSemaphorePermit>) {
    for ((task, limit), slot) in claimed.tasks.into_iter().zip(slots) {
        inner
            .executors
            .spawn(execute(inner.clone(), task, slot, limit));
    }
}

/// Runs `task` in `slot`, then the tasks its outcomes claim for that slot.
async fn execute(inner: Arc<Inner>, task: Task, slot: OwnedSemaphorePermit, limit: Permit) {
    let mut next = Some((task, limit));
    while let Some((task, limit)) = next {
        next = attempt(&inner, task, limit).await;
    }
    drop(slot);
}

/// True when a finishing attempt may claim the next task for its slot: the
/// dispatcher would claim one for it now too.
fn may_claim_next(inner: &Inner) -> bool {
    !*inner.paused.borrow() && !inner.stop_intake.is_cancelled() && !inner.shrinking()
}

/// Runs one attempt and records its outcome; returns the task claimed for the
/// slot in the same transaction, if any.
async fn attempt(inner: &Arc<Inner>, task: Task, limit: Permit) -> Option<(Task, Permit)> {
    let span = tracing::info_span!("task", task_id = %task.id, attempt = task.attempts);
    async move {
        tracing::info!(provider = %task.llm_provider, model = %task.llm_model, "attempt started");
        let run = task.history.len() as u32;
        let cancelled = inner.shared.watch_running(task.id, run);
        let mut usage = AttemptUsage::default();
        let result = match inner.registry.get(&task.llm_provider) {
            None => Some(AttemptResult::Failed {
                error: format!(
                    "the provider '{}' is not configured; add it with `baton provider add`",
                    task.llm_provider
                ),
                retryable: false,
                retry_after: None,
                failure: None,
            }),
            Some(provider) => {
                let request = CompletionRequest {
                    task_id: task.id,
                    prompt: task.prompt_to_send().to_string(),
                    model: task.llm_model.clone(),
                    attempt: task.attempts,
                    system: task.system.clone(),
                    temperature: task.temperature.map(|t| t.0),
                    max_tokens: task.max_tokens,
                };
                let sink = OutputSink::new(
                    inner.shared.clone(),
                    inner.clock,
                    inner.writer.clone(),
                    task.id,
                    task.attempts,
                    run,
                );
                let probe = sink.probe();
                // A panic inside the provider fails this attempt, not the pool.
                let call = AssertUnwindSafe(provider.complete(request, sink)).catch_unwind();
                let result = tokio::select! {
                    biased;
                    // Dropping `call` here aborts the provider's work at once.
                    _ = cancelled.cancelled() => None,
                    _ = inner.hard_stop.cancelled() => Some(AttemptResult::Interrupted),
                    r = tokio::time::timeout(task.timeout(), call) => Some(match r {
                        Err(_) => AttemptResult::TimedOut { after_ms: task.timeout_ms },
                        Ok(Err(panic)) => AttemptResult::Failed {
                            error: format!("the provider panicked: {}", panic_message(&panic)),
                            retryable: true,
                            retry_after: None,
                            failure: None,
                        },
                        Ok(Ok(Ok(output))) => AttemptResult::Completed { output },
                        Ok(Ok(Err(e))) => {
                            limit_provider(inner, &task, &e);
                            AttemptResult::Failed {
                                retryable: e.is_retryable(),
                                retry_after: e.retry_after,
                                failure: Some(e.failure()),
                                error: e.message,
                            }
                        }
                    }),
                };
                usage = measure(
                    &task,
                    Probe::read(&probe),
                    inner.registry.prices(&task.llm_provider),
                )
                .await;
                result
            }
        };
        if let (Some(p), Some(c)) = (usage.prompt_tokens, usage.completion_tokens) {
            limit.reconcile(p + c);
        }
        drop(limit);
        let mut next = None;
        match result {
            None => tracing::info!("attempt aborted: the task was cancelled"),
            Some(result) => {
                let outcome = Outcome {
                    id: task.id,
                    run,
                    result,
                    usage,
                };
                let finished = if may_claim_next(inner) {
                    inner
                        .writer
                        .finish_and_claim(outcome)
                        .await
                        .map(|(t, claimed)| {
                            next = claimed.tasks.into_iter().next();
                            t
                        })
                } else {
                    inner.writer.finish(outcome).await
                };
                match finished {
                    Ok(Some(t)) => tracing::info!(status = %t.status, "attempt finished"),
                    Ok(None) => tracing::info!("outcome ignored: the task had moved on"),
                    Err(e) => tracing::error!(error = %e, "could not record the outcome"),
                }
            }
        }
        inner.shared.forget_running(task.id, run);
        next
    }
    .instrument(span)
    .await
}

/// What a provider error means for the whole provider: a 429 cools it down; an
/// answer interrupted while others were in flight lowers its concurrency.
fn limit_provider(inner: &Inner, task: &Task, e: &ProviderError) {
    let provider = &task.llm_provider;
    match e.class {
        ErrorClass::RateLimited => {
            // The whole provider waits, not just this task: as long as it said,
            // else the least this task's own backoff waits (half its un-jittered delay).
            let wait = e
                .retry_after
                .unwrap_or_else(|| inner.backoff.ceiling(task.attempts) / 2);
            inner.shared.limiter.cool_down(provider, wait);
        }
        ErrorClass::Incomplete => {
            let limiter = &inner.shared.limiter;
            let Some(max) = limiter.interrupted(provider, tokio::time::Instant::now()) else {
                return;
            };
            tracing::warn!(
                provider = %provider,
                max_concurrency = max,
                for_s = LOWERED_FOR.as_secs(),
                "the provider interrupted answers while several were in flight: concurrency lowered"
            );
            inner.shared.events.publish(Draft::concurrency_lowered(
                task.id,
                provider,
                max,
                LOWERED_FOR,
                inner.clock.now(),
            ));
        }
        _ => {}
    }
}

/// Time to first token, the usage, its cost, and why the answer stopped. Tokens
/// the provider did not report are counted here, once, off the async threads.
async fn measure(task: &Task, probe: Probe, prices: Option<Prices>) -> AttemptUsage {
    let mut usage = AttemptUsage {
        prompt_tokens: probe.prompt_tokens,
        completion_tokens: probe.completion_tokens,
        estimated: false,
        ttft_ms: probe
            .first_output
            .map(|t| (t - probe.started).as_millis() as u64),
        cost_usd: None,
        finish_reason: probe.finish_reason,
    };
    if usage.prompt_tokens.is_none() || usage.completion_tokens.is_none() {
        let (model, system, prompt) = (
            task.llm_model.clone(),
            task.system.clone(),
            task.prompt_to_send().to_string(),
        );
        let (want_prompt, text) = (usage.prompt_tokens.is_none(), probe.text);
        let counted = tokio::task::spawn_blocking(move || {
            let prompt = want_prompt.then(|| count_prompt(&model, system.as_deref(), &prompt));
            (prompt, count_text(&model, &text))
        })
        .await;
        if let Ok((prompt, completion)) = counted {
            usage.prompt_tokens = usage.prompt_tokens.or(prompt);
            usage.completion_tokens = usage.completion_tokens.or(Some(completion));
            usage.estimated = true;
        }
    }
    if let (Some(p), Some(input), Some(output)) =
        (prices, usage.prompt_tokens, usage.completion_tokens)
    {
        usage.cost_usd = Some(p.cost(input, output));
    }
    usage
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

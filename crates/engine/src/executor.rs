//! An executor runs one attempt of a claimed task and reports its outcome to
//! the dispatcher ([`crate::pool`]); it never writes the store and never claims.
//! A panic in the provider is caught and becomes this attempt's failure.

use crate::engine::Inner;
use crate::events::Draft;
use crate::lifecycle::{AttemptResult, AttemptUsage, Outcome};
use crate::provider::{
    count_prompt, count_text, CompletionRequest, OutputSink, Permit, Prices, Probe, ProviderError,
    LOWERED_FOR,
};
use crate::task::{ErrorClass, Task, TaskId};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tracing::Instrument;

/// What an executor hands the dispatcher when its attempt ends.
pub(crate) struct Report {
    pub task_id: TaskId,
    /// Which claim of the task the attempt belonged to (see [`Outcome`]).
    pub claim_no: u32,
    /// `None`: the task was cancelled meanwhile and its cancel is already stored.
    pub outcome: Option<Outcome>,
}

/// Runs one attempt. The limiter permit is released before the report, so the
/// provider's concurrency frees as soon as the call ends.
pub(crate) async fn attempt(inner: &Arc<Inner>, task: Task, limit: Permit) -> Report {
    let span = tracing::info_span!("task", task_id = %task.id, attempt = task.attempts);
    async move {
        let (provider_name, model) = task.target();
        tracing::info!(provider = %provider_name, model = %model, "attempt started");
        let claim_no = task.history.len() as u32;
        let cancelled = inner.shared.watch_running(task.id, claim_no);
        // No call starts once this runner's lease has run out (shared queue).
        let lease = inner.shared.lease.current();
        let mut usage = AttemptUsage::default();
        let mut fits = Vec::new();
        let result = match inner.registry.get(provider_name) {
            None => Some(AttemptResult::Failed {
                error: format!(
                    "the provider '{provider_name}' is not configured; add it with `baton provider add`"
                ),
                retryable: false,
                retry_after: None,
                failure: None,
            }),
            Some(_) if lease.is_none() => Some(AttemptResult::Interrupted),
            Some(provider) => {
                let lost = lease.unwrap_or_default();
                let request = request_for(&task);
                let sink = OutputSink::new(
                    inner.shared.clone(),
                    inner.clock,
                    inner.writer.output_log(),
                    task.id,
                    task.attempts,
                    claim_no,
                );
                let probe = sink.probe();
                // A panic inside the provider fails this attempt, not the pool.
                let call = AssertUnwindSafe(provider.complete(request, sink)).catch_unwind();
                let result = tokio::select! {
                    biased;
                    // Dropping `call` here aborts the provider's work at once.
                    _ = cancelled.cancelled() => None,
                    _ = inner.hard_stop.cancelled() => Some(AttemptResult::Interrupted),
                    _ = lost.cancelled() => Some(AttemptResult::Interrupted),
                    r = tokio::time::timeout(task.timeout(), call) => Some(match r {
                        Err(_) => {
                            inner.dispatcher.limiter().mark_down(provider_name);
                            AttemptResult::TimedOut { after_ms: task.timeout_ms }
                        }
                        Ok(Err(panic)) => AttemptResult::Failed {
                            error: format!("the provider panicked: {}", panic_message(&panic)),
                            retryable: true,
                            retry_after: None,
                            failure: None,
                        },
                        Ok(Ok(Ok(output))) => {
                            inner.dispatcher.limiter().mark_up(provider_name);
                            checked(&task, output)
                        }
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
                    inner.registry.prices(provider_name),
                )
                .await;
                if matches!(&result, Some(AttemptResult::Failed { failure: Some(f), .. }) if f.class == ErrorClass::ContextLength)
                {
                    fits = context_fits(inner, &task).await;
                }
                result
            }
        };
        if let (Some(p), Some(c)) = (usage.prompt_tokens, usage.completion_tokens) {
            limit.reconcile(p + c);
        }
        drop(limit);
        Report {
            task_id: task.id,
            claim_no,
            outcome: result.map(|result| Outcome {
                id: task.id,
                claim_no,
                result,
                usage,
                fits,
            }),
        }
    }
    .instrument(span)
    .await
}

/// The request an attempt of `task` sends (live, or in a provider batch).
pub(crate) fn request_for(task: &Task) -> CompletionRequest {
    CompletionRequest {
        task_id: task.id,
        prompt: task.prompt_to_send().to_string(),
        model: task.target().1.to_string(),
        attempt: task.attempts,
        system: task.system.clone(),
        temperature: task.temperature.map(|t| t.0),
        // A budget reserved the default limit: the provider must keep to it.
        max_tokens: task
            .max_tokens
            .or_else(|| (!task.reserved.is_empty()).then_some(crate::provider::DEFAULT_MAX_TOKENS)),
        output_schema: task.output_schema.clone(),
    }
}

/// An answer as the task's outcome: with an output schema, only one that parses
/// and matches it completes; any other fails the attempt as `schema_mismatch`
/// (retried, the errors shown to the model in the next prompt).
fn checked(task: &Task, output: String) -> AttemptResult {
    let Some(schema) = &task.output_schema else {
        return AttemptResult::Completed {
            output,
            output_json: None,
        };
    };
    match crate::structured::validate(schema, &output) {
        Ok(value) => AttemptResult::Completed {
            output,
            output_json: Some(value),
        },
        Err(error) => {
            tracing::info!(error = %error, "the answer does not match the output schema");
            AttemptResult::Mismatch { output, error }
        }
    }
}

/// How long a context-length failure waits for a model list that may give
/// the fallbacks' context windows.
const LIST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What a provider error means for the whole provider: a 429 cools it down; an
/// answer interrupted while others were in flight lowers its concurrency.
fn limit_provider(inner: &Inner, task: &Task, e: &ProviderError) {
    let provider = task.target().0;
    match e.class {
        ErrorClass::RateLimited => {
            // The whole provider waits, not just this task: as long as it said,
            // else the least this task's own backoff waits (half its un-jittered delay).
            let wait = e
                .retry_after
                .unwrap_or_else(|| inner.backoff.ceiling(task.attempts) / 2);
            inner.dispatcher.limiter().cool_down(provider, wait);
            // On a shared queue every runner's claims hold it.
            if let Some(pg) = inner.store().ok().and_then(|db| db.postgres().cloned()) {
                let provider = provider.to_string();
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = pg.cool_down(&provider, wait) {
                        tracing::warn!(provider = %provider, error = %e, "could not share the provider's cool-down with the other runners");
                    }
                });
            }
        }
        ErrorClass::Transient => inner.dispatcher.limiter().mark_down(provider),
        ErrorClass::Incomplete => {
            let limiter = inner.dispatcher.limiter();
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
    let silent = probe.first_output.is_none() && probe.text.is_empty();
    if silent && usage.prompt_tokens.is_none() && usage.completion_tokens.is_none() {
        // Nothing came back (refused, reset, timed out before a word): a rough
        // count, about four bytes a token, not the tokenizer, whose first load
        // would delay the retry on a fallback target by ~100 ms.
        let bytes = task.prompt_to_send().len() + task.system.as_deref().map_or(0, str::len);
        usage.prompt_tokens = Some(bytes.div_ceil(4) as u64);
        usage.completion_tokens = Some(0);
        usage.estimated = true;
    }
    if usage.prompt_tokens.is_none() || usage.completion_tokens.is_none() {
        let (model, system, prompt) = (
            task.target().1.to_string(),
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

/// Whether the prompt (counted for each target's model) and the task's
/// `max_tokens` fit each target's context window; an unknown window fits.
async fn context_fits(inner: &Inner, task: &Task) -> Vec<bool> {
    let mut targets = Vec::new();
    for (provider, model) in (0..task.target_count()).filter_map(|i| task.target_at(i)) {
        let mut window = inner.registry.context_window(provider, model);
        if window.is_none() {
            // Unknown: the provider's model list may say (it is remembered).
            if let Some(p) = inner.registry.get(provider) {
                let _ = tokio::time::timeout(LIST_WAIT, p.models()).await;
                window = p.context_window(model);
            }
        }
        targets.push((model.to_string(), window));
    }
    let (system, prompt) = (task.system.clone(), task.prompt_to_send().to_string());
    let reserve = u64::from(task.max_tokens.unwrap_or(0));
    tokio::task::spawn_blocking(move || {
        targets
            .iter()
            .map(|(model, window)| match window {
                None => true,
                Some(w) => {
                    count_prompt(model, system.as_deref(), &prompt) + reserve <= u64::from(*w)
                }
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

//! The batch loop: sends batch-mode tasks to their provider's batch API and
//! reports each result as an ordinary outcome (docs/batch.md).
//!
//! A batch task waits `scheduled` with its deadline as `start_at`: if no
//! batch takes it first, the scheduler queues it at the deadline and the
//! dispatcher runs it live like any other task, so the live path never looks
//! at batch tasks and a queue without them pays nothing.
//!
//! The loop learns of waiting batch tasks from the writer after each commit
//! (and from a scan of the store at start), waits a short gather delay so tasks
//! submitted together go in one batch, then per (provider, model):
//! 1. claims them through the writer ([`BatchOp::Claim`]: scheduled → queued →
//!    running in one transaction, through the dispatcher's one claim function,
//!    budgets reserved; the attempt records the engine's batch id);
//! 2. submits the batch; [`BatchOp::Submitted`] records the provider's id on
//!    each task (from then on a restart does not orphan the attempt);
//! 3. polls it; once ended, each result is an [`Outcome`] with its claim number
//!    ([`BatchOp::Outcomes`]), so `lifecycle::finish` fences it like a live one:
//!    a result for a task cancelled meanwhile, or run again, changes nothing.
//!
//! When a submitted batch passes the earliest deadline of its tasks it is
//! cancelled at the provider, what finished is applied, and the rest are given
//! back (`Interrupted`: the attempt is not counted) to run live. A batch the
//! provider refuses (a compatible server without the endpoint answers 404)
//! gives its tasks back the same way.

use crate::batch::{custom_id, parse_custom_id, InBatch, BATCH_PRICE_FACTOR};
use crate::engine::Inner;
use crate::error::TaskError;
use crate::events::{Draft, EventKind};
use crate::lifecycle::{self, AttemptResult, AttemptUsage, Ctx, Outcome};
use crate::pool::ClaimRequest;
use crate::provider::{HoldReason, ItemResult, Polled};
use crate::state::TaskState;
use crate::storage::Storage;
use crate::storage::{TaskTxn, Was};
use crate::store::ListQuery;
use crate::task::{Failure, Task, TaskId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Most requests in one provider batch (OpenAI allows 50,000, Anthropic 100,000).
const MAX_BATCH_ITEMS: usize = 10_000;

/// How batches are gathered and polled.
#[derive(Debug, Clone, Copy)]
pub struct BatchConfig {
    /// After a batch task is created, how long to wait for others to join it.
    pub gather: Duration,
    /// Between two looks at a submitted batch.
    pub poll: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            gather: Duration::from_secs(2),
            poll: Duration::from_secs(30),
        }
    }
}

/// The batcher's writes, each one transaction.
pub(crate) enum BatchOp {
    /// Claims the gathered tasks that still wait for a batch.
    Claim {
        ids: Vec<TaskId>,
        claim: ClaimRequest,
        engine_id: String,
    },
    /// The provider accepted batch `engine_id` as `provider_id`.
    Submitted {
        engine_id: String,
        provider_id: String,
        items: Vec<(TaskId, u32)>,
    },
    /// Results (or give-backs, with why) of a batch's attempts.
    Outcomes(Vec<(Outcome, Option<String>)>),
}

pub(crate) enum BatchDone {
    Claimed(Vec<Task>),
    Done,
}

/// Applies one of the batcher's writes inside the writer's transaction.
pub(crate) fn apply(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    op: BatchOp,
) -> Result<BatchDone, TaskError> {
    match op {
        BatchOp::Claim {
            ids,
            claim,
            engine_id,
        } => {
            let mut waiting = Vec::new();
            for id in ids {
                let Some(old) = txn.get(id)? else { continue };
                if !waits_for_batch(&old, ctx.now) {
                    continue;
                }
                let mut task = old.clone();
                task.status = TaskState::Queued;
                lifecycle::save(txn, ctx, Was::of(&old), task)?;
                waiting.push(id);
            }
            let claimed = claim.apply(txn, ctx)?;
            let mut tasks = Vec::new();
            for old in claimed.batched {
                let mut task = old.clone();
                if let Some(b) = task.batch.as_mut() {
                    b.in_batch = Some(InBatch {
                        id: engine_id.clone(),
                        claim_no: old.history.len() as u32,
                        provider_batch_id: None,
                    });
                }
                txn.put(Some(Was::of(&old)), &task)?;
                tasks.push(task);
            }
            Ok(BatchDone::Claimed(tasks))
        }
        BatchOp::Submitted {
            engine_id,
            provider_id,
            items,
        } => {
            for (id, claim_no) in items {
                let Some(old) = txn.get(id)? else { continue };
                let current = old.status == TaskState::Running
                    && old.history.len() == claim_no as usize
                    && old
                        .batch
                        .as_ref()
                        .and_then(|b| b.in_batch.as_ref())
                        .is_some_and(|b| b.id == engine_id && b.claim_no == claim_no);
                if !current {
                    continue; // cancelled while the batch was being sent
                }
                let mut task = old.clone();
                let Some(state) = task.batch.as_mut() else {
                    continue;
                };
                let deadline = state.deadline;
                if let Some(b) = state.in_batch.as_mut() {
                    b.provider_batch_id = Some(provider_id.clone());
                }
                txn.put(Some(Was::of(&old)), &task)?;
                let wait = (deadline - ctx.now).to_std().ok();
                ctx.events.push(Draft {
                    at: ctx.now,
                    task_id: id,
                    kind: EventKind::Held {
                        provider: task.target().0.to_string(),
                        reason: HoldReason::Batch,
                        wait_ms: wait.map(|w| w.as_millis() as u64),
                        message: format!(
                            "in batch {provider_id}, deadline {}",
                            deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    },
                });
            }
            Ok(BatchDone::Done)
        }
        BatchOp::Outcomes(outcomes) => {
            for (outcome, why) in outcomes {
                let Some(done) = lifecycle::finish(txn, ctx, &outcome)? else {
                    continue; // stale: cancelled, or already run again
                };
                let mut task = done.clone();
                if let Some(why) = why {
                    // Given back to run live: say why on the attempt.
                    if let Some(a) = task.history.last_mut() {
                        a.error = Some(why);
                    }
                }
                // A retry waits for the next batch while its deadline is ahead
                // (it runs live at the deadline otherwise).
                if task.status == TaskState::Scheduled {
                    if let Some(b) = task.batch.as_ref().filter(|b| b.deadline > ctx.now) {
                        task.start_at = Some(b.deadline);
                    }
                }
                if task != done {
                    txn.put(Some(Was::of(&done)), &task)?;
                }
            }
            Ok(BatchDone::Done)
        }
    }
}

/// A scheduled batch task whose deadline is ahead and which no batch holds.
pub(crate) fn waits_for_batch(task: &Task, now: chrono::DateTime<chrono::Utc>) -> bool {
    task.status == TaskState::Scheduled && task.batch.as_ref().is_some_and(|b| b.deadline > now)
}

/// A running attempt that a submitted provider batch holds (crash recovery
/// leaves it running: polling resumes).
pub(crate) fn owned_by_batch(task: &Task) -> bool {
    task.status == TaskState::Running
        && task
            .batch
            .as_ref()
            .is_some_and(|b| b.owner(task.history.len()).is_some())
}

/// After crash recovery requeued a batch task whose batch was never submitted
/// (killed between claim and the provider's answer): it waits for a batch again
/// while its deadline is ahead. The lost attempt counts, as any crash's does.
pub(crate) fn back_to_batch(task: &mut Task, now: chrono::DateTime<chrono::Utc>) {
    if task.status != TaskState::Queued {
        return;
    }
    if let Some(deadline) = task.batch.as_ref().map(|b| b.deadline).filter(|d| *d > now) {
        task.status = TaskState::Scheduled;
        task.start_at = Some(deadline);
    }
}

/// One request of a submitted batch.
#[derive(Clone)]
struct Item {
    id: TaskId,
    claim_no: u32,
    schema: Option<serde_json::Value>,
}

/// A batch the provider accepted.
struct Submitted {
    provider: String,
    items: Vec<Item>,
    deadline: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Batcher {
    /// Batch tasks waiting, seen in events or the scan.
    pending: BTreeSet<TaskId>,
    gather_at: Option<Instant>,
    submitted: BTreeMap<String, Submitted>,
    poll_at: Option<Instant>,
}

/// The loop, started with the engine. The writer hands it the batch tasks that
/// became `scheduled` (`Shared::batch_waiting`) and wakes it: it does not follow
/// the event stream, so an engine without batch tasks never wakes it.
pub(crate) async fn serve(inner: Arc<Inner>) {
    let config = inner.batch;
    let mut b = Batcher::default();
    let orphans = b.scan(&inner, config).await;
    tokio::select! {
        _ = cancel_orphans(&inner, orphans) => {}
        _ = inner.stop_intake.cancelled() => return,
    }
    loop {
        let wake = [b.gather_at, b.poll_at].into_iter().flatten().min();
        tokio::select! {
            _ = inner.stop_intake.cancelled() => return,
            _ = inner.shared.wake_batcher.notified() => {
                let waiting = std::mem::take(
                    &mut *inner.shared.batch_waiting.lock().unwrap_or_else(|e| e.into_inner()),
                );
                if !waiting.is_empty() {
                    b.pending.extend(waiting);
                    b.gather_at.get_or_insert_with(|| Instant::now() + config.gather);
                }
                let adopted = std::mem::take(
                    &mut *inner.shared.batch_adopted.lock().unwrap_or_else(|e| e.into_inner()),
                );
                for task in &adopted {
                    b.watch(task);
                }
                if !adopted.is_empty() {
                    b.poll_at = Some(Instant::now());
                }
                continue;
            }
            _ = sleep_until(wake) => {}
        }
        // A shutdown does not wait for a provider's answer: tasks claimed
        // for a batch not yet accepted are given back at the next start.
        let stop = inner.stop_intake.clone();
        let now = Instant::now();
        if b.gather_at.is_some_and(|at| at <= now) {
            b.gather_at = None;
            tokio::select! {
                _ = b.gather(&inner, config) => {}
                _ = stop.cancelled() => return,
            }
        }
        if b.poll_at.is_some_and(|at| at <= now) {
            tokio::select! {
                _ = b.poll(&inner) => {}
                _ = stop.cancelled() => return,
            }
            b.poll_at = (!b.submitted.is_empty()).then(|| Instant::now() + config.poll);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn read<T: Send + 'static>(
    inner: &Inner,
    f: impl FnOnce(&crate::db::Db) -> Result<T, TaskError> + Send + 'static,
) -> Result<T, TaskError> {
    let store = inner.store()?;
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| TaskError::Storage(e.to_string()))?
}

fn by_status(status: TaskState) -> ListQuery {
    ListQuery {
        filter: crate::filter::TaskFilter {
            status: Some(status),
            ..Default::default()
        },
        before: None,
        limit: usize::MAX,
    }
}

impl Batcher {
    /// Finds the batch tasks waiting and the submitted batches, from the store,
    /// at start: polling resumes after a restart.
    ///
    /// Returns, per provider, the engine batch ids of attempts that were being
    /// submitted when the engine stopped (recovery gave them back): the
    /// provider may hold such a batch.
    async fn scan(&mut self, inner: &Inner, config: BatchConfig) -> Orphans {
        let found = read(inner, |store| {
            let waiting = store.list(&by_status(TaskState::Scheduled))?;
            let running = store.list(&by_status(TaskState::Running))?;
            Ok((waiting, running))
        })
        .await;
        let (waiting, running) = match found {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "batcher: could not read the batch tasks");
                return Orphans::new();
            }
        };
        let mut orphans = Orphans::new();
        for task in waiting.into_iter().filter(|t| t.batch.is_some()) {
            self.pending.insert(task.id);
            let unsent = task
                .batch
                .as_ref()
                .and_then(|b| b.in_batch.as_ref())
                .filter(|b| b.provider_batch_id.is_none());
            if let Some(b) = unsent {
                orphans
                    .entry(task.target().0.to_string())
                    .or_default()
                    .insert(b.id.clone());
            }
        }
        if !self.pending.is_empty() {
            self.gather_at
                .get_or_insert_with(|| Instant::now() + config.gather);
        }
        // On a shared queue a runner that just started holds no attempt: the
        // running batches are other runners' (live ones poll their own; a gone
        // one's are taken over by a rescue, `lifecycle::adopt_batches`).
        let shared_queue = inner.store().is_ok_and(|db| db.postgres().is_some());
        for task in running.iter().filter(|_| !shared_queue) {
            self.watch(task);
        }
        if !self.submitted.is_empty() {
            self.poll_at.get_or_insert_with(Instant::now);
        }
        orphans
    }

    /// Polls the provider batch that holds `task`'s running attempt from now
    /// on (a task no batch holds, or one already watched, is left alone).
    fn watch(&mut self, task: &Task) {
        let Some(state) = task.batch.as_ref().filter(|_| owned_by_batch(task)) else {
            return;
        };
        let provider_id = state.owner(task.history.len()).unwrap_or_default();
        if self
            .submitted
            .get(provider_id)
            .is_some_and(|s| s.items.iter().any(|i| i.id == task.id))
        {
            return;
        }
        let entry = self
            .submitted
            .entry(provider_id.to_string())
            .or_insert_with(|| Submitted {
                provider: task.target().0.to_string(),
                items: Vec::new(),
                deadline: state.deadline,
            });
        entry.deadline = entry.deadline.min(state.deadline);
        entry.items.push(Item {
            id: task.id,
            claim_no: task.history.len() as u32,
            schema: task.output_schema.clone(),
        });
    }

    /// Sends the pending tasks, one batch per provider and model.
    async fn gather(&mut self, inner: &Arc<Inner>, config: BatchConfig) {
        let ids: Vec<TaskId> = std::mem::take(&mut self.pending).into_iter().collect();
        let now = inner.clock.now();
        let tasks = match read(inner, move |store| {
            let mut tasks = Vec::new();
            for id in ids {
                if let Some(t) = store.get(id)? {
                    tasks.push(t);
                }
            }
            Ok(tasks)
        })
        .await
        {
            Ok(tasks) => tasks,
            Err(e) => {
                tracing::error!(error = %e, "batcher: could not read the waiting tasks");
                return;
            }
        };
        let mut groups: BTreeMap<(String, String), Vec<TaskId>> = BTreeMap::new();
        for task in tasks.iter().filter(|t| waits_for_batch(t, now)) {
            let (p, m) = task.target();
            groups
                .entry((p.to_string(), m.to_string()))
                .or_default()
                .push(task.id);
        }
        for ((provider, _model), ids) in groups {
            for chunk in ids.chunks(MAX_BATCH_ITEMS) {
                self.send(inner, &provider, chunk.to_vec()).await;
            }
        }
        if !self.submitted.is_empty() {
            self.poll_at
                .get_or_insert_with(|| Instant::now() + config.poll);
        }
    }

    /// Claims `ids` and submits them as one batch to `provider`.
    async fn send(&mut self, inner: &Arc<Inner>, provider: &str, ids: Vec<TaskId>) {
        let engine_id = uuid::Uuid::now_v7().to_string();
        let claim = inner.dispatcher.batch_request(inner, ids.clone());
        let op = BatchOp::Claim {
            ids,
            claim,
            engine_id: engine_id.clone(),
        };
        let tasks = match inner.writer.batch(op).await {
            Ok(BatchDone::Claimed(tasks)) => tasks,
            Ok(BatchDone::Done) => Vec::new(),
            Err(e) => {
                tracing::error!(error = %e, "batcher: could not claim tasks for a batch");
                return;
            }
        };
        if tasks.is_empty() {
            return;
        }
        let items: Vec<Item> = tasks
            .iter()
            .map(|t| Item {
                id: t.id,
                claim_no: t.history.len() as u32,
                schema: t.output_schema.clone(),
            })
            .collect();
        let Some(client) = inner.registry.batch_client(provider) else {
            let why = format!("provider '{provider}' has no batch API: runs live");
            give_back(inner, &items, &why).await;
            return;
        };
        let requests: Vec<_> = tasks
            .iter()
            .map(|t| {
                (
                    custom_id(t.id, t.history.len() as u32),
                    crate::executor::request_for(t),
                )
            })
            .collect();
        match client.submit_batch(&requests, &engine_id).await {
            Ok(provider_id) => {
                let op = BatchOp::Submitted {
                    engine_id,
                    provider_id: provider_id.clone(),
                    items: items.iter().map(|i| (i.id, i.claim_no)).collect(),
                };
                match inner.writer.batch(op).await {
                    Ok(_) => {
                        tracing::info!(provider = %provider, batch = %provider_id, requests = items.len(), "batch submitted")
                    }
                    // The tasks stay running without a provider id: the next
                    // start gives them back (see `back_to_batch`).
                    Err(e) => {
                        tracing::error!(error = %e, "batcher: could not record a submitted batch")
                    }
                }
                let deadline = tasks
                    .iter()
                    .filter_map(|t| t.batch.as_ref().map(|b| b.deadline))
                    .min()
                    .unwrap_or_else(|| inner.clock.now());
                self.submitted.insert(
                    provider_id,
                    Submitted {
                        provider: provider.to_string(),
                        items,
                        deadline,
                    },
                );
            }
            Err(e) => {
                tracing::warn!(provider = %provider, error = %e, "the provider refused a batch; its tasks run live");
                let why = format!("the provider refused the batch ({}): runs live", e.message);
                give_back(inner, &items, &why).await;
            }
        }
    }

    /// Looks at every submitted batch once.
    async fn poll(&mut self, inner: &Arc<Inner>) {
        let ids: Vec<String> = self.submitted.keys().cloned().collect();
        for id in ids {
            let Some(batch) = self.submitted.get(&id) else {
                continue;
            };
            let Some(client) = inner.registry.batch_client(&batch.provider) else {
                let why = format!("provider '{}' was removed: runs live", batch.provider);
                give_back(inner, &batch.items, &why).await;
                self.submitted.remove(&id);
                continue;
            };
            let late = inner.clock.now() >= batch.deadline;
            let mut polled = client.poll_batch(&id).await;
            if late && matches!(polled, Ok(Polled::Running) | Err(_)) {
                // Withdrawn at the deadline: what finished is still applied.
                if let Err(e) = client.cancel_batch(&id).await {
                    tracing::warn!(batch = %id, error = %e, "could not cancel a batch past its deadline");
                }
                polled = client.poll_batch(&id).await;
            }
            if let Err(e) = &polled {
                tracing::warn!(batch = %id, error = %e, "could not poll a batch; trying again");
            }
            let results = match polled {
                Ok(Polled::Ended(results)) => results,
                Ok(Polled::Running) | Err(_) if !late => continue,
                Ok(Polled::Running) | Err(_) => Vec::new(),
            };
            let why = if late {
                "the batch passed its deadline before this answer came: runs live"
            } else {
                "the batch ended without this answer: runs live"
            };
            let prices = inner.registry.prices(&batch.provider);
            let mut by_id: BTreeMap<String, ItemResult> = results.into_iter().collect();
            let mut outcomes = Vec::with_capacity(batch.items.len());
            for item in &batch.items {
                let result = by_id.remove(&custom_id(item.id, item.claim_no));
                outcomes.push(match result {
                    Some(result) => (outcome_of(item, result, prices), None),
                    None => (given_back(item), Some(why.to_string())),
                });
            }
            for extra in by_id.keys() {
                tracing::warn!(batch = %id, custom_id = %extra, known = parse_custom_id(extra).is_some(), "a batch result for no request of this batch");
            }
            match inner.writer.batch(BatchOp::Outcomes(outcomes)).await {
                Ok(_) => {
                    tracing::info!(batch = %id, late, requests = batch.items.len(), "batch results recorded");
                    self.submitted.remove(&id);
                }
                // Kept: the provider still holds the results; the next poll applies them.
                Err(e) => {
                    tracing::error!(batch = %id, error = %e, "could not record batch results")
                }
            }
        }
    }
}

/// Engine batch ids per provider.
type Orphans = BTreeMap<String, BTreeSet<String>>;

/// Cancels the provider batches the engine sent but never recorded (killed
/// before the provider's answer): their tasks wait for a new batch, so these
/// would only be billed. Found by the engine batch id in their metadata
/// (OpenAI); a failure is logged and left.
async fn cancel_orphans(inner: &Inner, orphans: Orphans) {
    for (provider, ids) in orphans {
        let Some(client) = inner.registry.batch_client(&provider) else {
            continue;
        };
        let found = match client.find_batches(&ids).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(provider = %provider, error = %e, "could not look for batches sent before a crash");
                continue;
            }
        };
        for id in found {
            match client.cancel_batch(&id).await {
                Ok(()) => {
                    tracing::warn!(provider = %provider, batch = %id, "cancelled a batch sent before a crash whose id was never recorded; its tasks go in a new batch")
                }
                Err(e) => {
                    tracing::warn!(provider = %provider, batch = %id, error = %e, "could not cancel a batch sent before a crash")
                }
            }
        }
    }
}

/// Hands claimed attempts back (not counted): they run live.
async fn give_back(inner: &Inner, items: &[Item], why: &str) {
    let outcomes = items
        .iter()
        .map(|i| (given_back(i), Some(why.to_string())))
        .collect();
    if let Err(e) = inner.writer.batch(BatchOp::Outcomes(outcomes)).await {
        tracing::error!(error = %e, "batcher: could not give tasks back");
    }
}

fn given_back(item: &Item) -> Outcome {
    Outcome {
        id: item.id,
        claim_no: item.claim_no,
        result: AttemptResult::Interrupted,
        usage: AttemptUsage::default(),
        fits: Vec::new(),
    }
}

/// One request's result as its attempt's outcome, costed at the batch price.
fn outcome_of(item: &Item, result: ItemResult, prices: Option<crate::Prices>) -> Outcome {
    let (result, usage) = match result {
        ItemResult::Answer {
            text,
            finish,
            prompt_tokens,
            completion_tokens,
        } => {
            let cost = match (prices, prompt_tokens, completion_tokens) {
                (Some(p), Some(i), Some(o)) => Some(p.cost(i, o) * BATCH_PRICE_FACTOR),
                _ => None,
            };
            let usage = AttemptUsage {
                prompt_tokens,
                completion_tokens,
                cost_usd: cost,
                finish_reason: finish.clone(),
                ..AttemptUsage::default()
            };
            let result = match (finish, &item.schema) {
                (None, _) => AttemptResult::Failed {
                    error: "the batch's answer carried no finish reason".into(),
                    retryable: true,
                    retry_after: None,
                    failure: Some(Failure {
                        class: crate::task::ErrorClass::Incomplete,
                        status: None,
                        message: None,
                    }),
                },
                (Some(_), None) => AttemptResult::Completed {
                    output: text,
                    output_json: None,
                },
                (Some(_), Some(schema)) => match crate::structured::validate(schema, &text) {
                    Ok(value) => AttemptResult::Completed {
                        output: text,
                        output_json: Some(value),
                    },
                    Err(error) => AttemptResult::Mismatch {
                        output: text,
                        error,
                    },
                },
            };
            (result, usage)
        }
        ItemResult::Error(e) => (
            AttemptResult::Failed {
                retryable: e.is_retryable(),
                retry_after: e.retry_after,
                failure: Some(e.failure()),
                error: e.message,
            },
            AttemptUsage::default(),
        ),
    };
    Outcome {
        id: item.id,
        claim_no: item.claim_no,
        result,
        usage,
        fits: Vec::new(),
    }
}

/// A new task's batch state: its deadline, checked, on a provider with a
/// batch API. `None` for a live task.
pub(crate) fn batch_for(
    inner: &Inner,
    new: &crate::task::NewTask,
    provider: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<crate::batch::BatchState>, TaskError> {
    let Some(request) = &new.batch else {
        return Ok(None);
    };
    let deadline = request.deadline_at(now)?;
    if new.start_at.is_some() {
        return Err(TaskError::invalid(
            "batch",
            "a batch task starts when its batch is sent; leave out start_at",
        ));
    }
    if inner.registry.batch_client(provider).is_none() {
        return Err(TaskError::invalid(
            "batch",
            format!(
                "provider '{provider}' has no batch API; batch mode needs an OpenAI-compatible or Anthropic provider"
            ),
        ));
    }
    Ok(Some(crate::batch::BatchState {
        deadline,
        in_batch: None,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::batch::BatchState;
    use crate::conformance::Backend;
    use crate::lifecycle::tests::{completed, write};
    use crate::task::AttemptOutcome;

    /// A restart between claim and results: the attempt a submitted provider
    /// batch holds stays running (its results will come and are applied once);
    /// the one whose batch was never accepted waits for a batch again, and a
    /// result for its lost attempt changes nothing.
    pub(crate) fn a_restart_keeps_submitted_batch_attempts_and_gives_back_unsubmitted_ones<
        B: Backend,
    >() {
        let place = B::place();
        let store = B::open(&place);
        let deadline = chrono::Utc::now() + chrono::Duration::hours(1);
        let (sent, unsent) = write(&store, |txn, ctx| {
            let mut ids = Vec::new();
            for (prompt, provider_id) in [("sent", Some("batch_1")), ("unsent", None)] {
                let mut t = Task::sample(prompt);
                t.batch = Some(BatchState {
                    deadline,
                    in_batch: None,
                });
                let t = lifecycle::create(txn, ctx, t).unwrap();
                let claimed = lifecycle::claim_listed(txn, ctx, &[t.id], |_| true).unwrap();
                let old = claimed.into_iter().next().expect("claimed");
                let mut new = old.clone();
                new.batch.as_mut().unwrap().in_batch = Some(InBatch {
                    id: "engine-1".into(),
                    claim_no: 1,
                    provider_batch_id: provider_id.map(String::from),
                });
                txn.put(Some(Was::of(&old)), &new).unwrap();
                ids.push(t.id);
            }
            (ids[0], ids[1])
        });
        drop(store);

        let store = B::open(&place);
        let recovered = write(&store, |txn, ctx| lifecycle::recover(txn, ctx).unwrap());
        assert_eq!(
            recovered.iter().map(|t| t.id).collect::<Vec<_>>(),
            [unsent],
            "only the unsubmitted attempt is recovered"
        );
        let kept = store.get(sent).unwrap().unwrap();
        assert_eq!(kept.status, TaskState::Running);
        let back = store.get(unsent).unwrap().unwrap();
        assert_eq!(back.status, TaskState::Scheduled);
        assert_eq!(back.start_at, Some(deadline));
        assert_eq!(back.history[0].outcome, Some(AttemptOutcome::Interrupted));

        let outcomes = vec![(completed(sent, 1), None), (completed(unsent, 1), None)];
        write(&store, |txn, ctx| {
            apply(txn, ctx, BatchOp::Outcomes(outcomes.clone())).unwrap()
        });
        let done = store.get(sent).unwrap().unwrap();
        assert_eq!(done.status, TaskState::Completed);
        assert_eq!(
            store.get(unsent).unwrap().unwrap(),
            back,
            "stale result ignored"
        );
        // The same results again (a poll after a crash): nothing changes.
        write(&store, |txn, ctx| {
            apply(txn, ctx, BatchOp::Outcomes(outcomes)).unwrap()
        });
        assert_eq!(store.get(sent).unwrap().unwrap(), done);
    }
}

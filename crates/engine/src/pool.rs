//! The dispatcher: the only code that claims tasks and starts executors.
//!
//! [`Dispatcher`] owns the worker slots (a semaphore that `set_workers` grows
//! or shrinks), pause, and the provider [`Limiter`]. A task is claimed only
//! through a [`ClaimRequest`] made here, for slots held here, and started only
//! by [`launch`]. There are three moments to claim, each the dispatcher's
//! decision:
//! - **the dispatch loop**: slots are free and something may be queued (the
//!   writer wakes it after a commit that queued tasks; a provider's freed
//!   concurrency and a lifted limit wake it too);
//! - **due tasks** ([`promote_due`]): the scheduler's timer says tasks fall due;
//!   the free slots claim them in the commit that promotes them, so a burst
//!   starts after one commit, not two;
//! - **an executor's report** ([`report`]): the outcome is recorded and, if the
//!   dispatcher would claim now, one task is claimed for the freed slot in the
//!   same commit (measured: it halves the commits of a busy engine).
//!
//! The claim itself ([`ClaimRequest::apply`]) runs inside the writer's
//! transaction, because the limiter's admission and the move to running must
//! be one step. Only this module can make a `ClaimRequest` (its fields are
//! private) or start an executor (`launch` is private): the compiler keeps the
//! writer, the scheduler and the executors from claiming on their own. Nothing claims while paused, while the pool shrinks, or after
//! shutdown began; a claim never asks for more tasks than the slots it holds.
//! While the database cannot be written the loop waits for health instead of
//! retrying; the writer keeps the outcomes reported meanwhile.

use crate::budget::{Announced, Book};
use crate::engine::Inner;
use crate::error::TaskError;
use crate::events::Draft;
use crate::executor::{self, Report};
use crate::lifecycle::{self, Ctx};
use crate::provider::{Admission, Limiter, Permit};
use crate::storage::TaskTxn;
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Most queued tasks one claim looks at, when some are held back by their
/// provider's limits: tasks behind that many held ones wait for a later claim.
const CLAIM_SCAN: usize = 2048;

/// Slots, pause and provider limits: what decides whether a task may start.
pub(crate) struct Dispatcher {
    slots: Arc<Semaphore>,
    /// The number of slots asked for; `slots` follows it.
    workers: AtomicUsize,
    /// Slots `set_workers` is still waiting to take away. While it waits, a
    /// freed slot is given back instead of claiming the next task.
    shrinking: Arc<AtomicUsize>,
    paused: watch::Sender<bool>,
    limiter: Limiter,
    /// Tasks held by a budget, announced once each.
    budget_holds: Announced,
    /// Something became queued, or a provider limit freed.
    wake: Arc<Notify>,
}

impl Dispatcher {
    /// `wake` is notified by the writer when tasks become queued; the limiter
    /// notifies it when a request ends.
    pub fn new(workers: usize, wake: Arc<Notify>) -> Self {
        Dispatcher {
            slots: Arc::new(Semaphore::new(workers)),
            workers: workers.into(),
            shrinking: Arc::new(AtomicUsize::new(0)),
            paused: watch::Sender::new(false),
            limiter: Limiter::new(wake.clone()),
            budget_holds: Announced::default(),
            wake,
        }
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    pub fn workers(&self) -> usize {
        self.workers.load(Ordering::SeqCst)
    }

    /// Fewer slots take effect as running attempts finish; none is interrupted.
    /// `n` is validated by the caller.
    pub fn set_workers(&self, n: usize) {
        let old = self.workers.swap(n, Ordering::SeqCst);
        if n > old {
            self.slots.add_permits(n - old);
        } else if n < old {
            let fewer = old - n;
            let (slots, shrinking) = (self.slots.clone(), self.shrinking.clone());
            shrinking.fetch_add(fewer, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(permits) = slots.acquire_many_owned(fewer as u32).await {
                    permits.forget();
                }
                shrinking.fetch_sub(fewer, Ordering::SeqCst);
            });
        }
    }

    /// Paused, running attempts finish but nothing new is claimed.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Whether a slot that is free now may claim a task: the one rule every
    /// claim follows.
    fn may_claim(&self, inner: &Inner) -> bool {
        !self.is_paused()
            && self.shrinking.load(Ordering::SeqCst) == 0
            && !inner.stop_intake.is_cancelled()
            && inner.shared.lease.end_if_run_out()
    }

    /// The slots free now, none if no claim may be made.
    fn free_slots(&self, inner: &Inner) -> Vec<OwnedSemaphorePermit> {
        let mut permits = Vec::new();
        if self.may_claim(inner) {
            while let Ok(p) = self.slots.clone().try_acquire_owned() {
                permits.push(p);
            }
        }
        permits
    }

    pub(crate) fn request(&self, inner: &Arc<Inner>, max: usize) -> ClaimRequest {
        ClaimRequest {
            max,
            limiter: self.limiter.clone(),
            inner: inner.clone(),
            budget_holds: self.budget_holds.clone(),
            listed: None,
        }
    }

    /// A claim of the queued tasks `ids` for a provider batch (the batcher's):
    /// budgets reserve as for a live claim; no slot or limiter permit is taken,
    /// since the requests go in one upload, not one call each.
    pub(crate) fn batch_request(&self, inner: &Arc<Inner>, ids: Vec<TaskId>) -> ClaimRequest {
        ClaimRequest {
            max: ids.len(),
            limiter: self.limiter.clone(),
            inner: inner.clone(),
            budget_holds: self.budget_holds.clone(),
            listed: Some(ids),
        }
    }
}

/// A claim for slots the dispatcher holds, handed to the writer to run inside
/// its transaction.
pub(crate) struct ClaimRequest {
    max: usize,
    limiter: Limiter,
    /// For the providers' prices, which budgets reserve against.
    inner: Arc<Inner>,
    budget_holds: Announced,
    /// A batch claim: these tasks, no limiter ([`Dispatcher::batch_request`]).
    listed: Option<Vec<TaskId>>,
}

/// What a claim moved to running, and when a task it held back may be admitted.
pub(crate) struct Claimed {
    /// Each task with its limiter permit, held for the request.
    pub tasks: Vec<(Task, Permit)>,
    /// What a batch claim moved to running (no permits: see `batch_request`).
    pub batched: Vec<Task>,
    pub retry_at: Option<Instant>,
}

impl Claimed {
    pub fn nothing() -> Self {
        Claimed {
            tasks: Vec::new(),
            batched: Vec::new(),
            retry_at: None,
        }
    }
}

impl ClaimRequest {
    /// Moves up to `max` queued tasks that their providers' limits admit to
    /// running. The only place a task is claimed.
    pub fn apply(&self, txn: &mut impl TaskTxn, ctx: &mut Ctx) -> Result<Claimed, TaskError> {
        self.apply_after(txn, ctx, None)
    }

    /// [`ClaimRequest::apply`] right after a promotion in the same unit: the
    /// tasks it moved to queued in memory are written here, once each (see
    /// [`lifecycle::claim_promoted`]).
    pub fn apply_promoted(
        &self,
        txn: &mut impl TaskTxn,
        ctx: &mut Ctx,
        promoting: lifecycle::Promoting,
    ) -> Result<Claimed, TaskError> {
        self.apply_after(txn, ctx, Some(promoting))
    }

    fn apply_after(
        &self,
        txn: &mut impl TaskTxn,
        ctx: &mut Ctx,
        promoting: Option<lifecycle::Promoting>,
    ) -> Result<Claimed, TaskError> {
        if self.max == 0 {
            if let Some(promoting) = promoting {
                promoting.write(txn)?;
            }
            return Ok(Claimed::nothing());
        }
        let clock_now = Instant::now();
        let now = ctx.now;
        // Cool-downs other runners of a shared queue met hold here too.
        for (provider, wait) in txn.cooldowns()? {
            self.limiter.cool_down(&provider, wait);
        }
        let mut permits = Vec::new();
        let mut held = Vec::new();
        let mut retry_at: Option<Instant> = None;
        let mut book = Book::new(txn.budgets()?, now);
        let mut switched = Vec::new();
        let batch = self.listed.is_some();
        let admit = |task: &mut Task| {
            // A target cooling down or found down is passed over when a later
            // one exists; a batch goes to the target it was gathered for.
            let (target, why) = if batch {
                (task.target_index as usize, None)
            } else {
                crate::fallback::at_claim(task, |p| self.limiter.passed_over(p, clock_now))
            };
            let provider = task.target_at(target).map_or("", |t| t.0).to_string();
            // Budgets first: a task they hold takes no limiter permit.
            let mut reserved = Vec::new();
            if !book.is_empty() {
                let prices = self.inner.registry.prices(&provider);
                match book.check(task, &provider, prices.as_ref()) {
                    Ok(r) => reserved = r,
                    Err(over) => {
                        let wait = over.resets_at.signed_duration_since(now).to_std().ok();
                        if let Some(wait) = wait {
                            let until = clock_now + wait;
                            retry_at = Some(retry_at.map_or(until, |r| r.min(until)));
                        }
                        if self.budget_holds.first(task.id, &over.message) {
                            held.push(Draft::held_for_budget(
                                task.id,
                                &provider,
                                over.message,
                                wait,
                                now,
                            ));
                        }
                        return false;
                    }
                }
            }
            if batch {
                self.budget_holds.forget(task.id);
                book.reserve(&reserved);
                task.reserved = reserved;
                return true;
            }
            let estimate = crate::provider::estimate_tokens(task);
            match self.limiter.admit(&provider, task.id, estimate, clock_now) {
                Admission::Admitted(permit) => {
                    permits.push(permit);
                    self.budget_holds.forget(task.id);
                    book.reserve(&reserved);
                    task.reserved = reserved;
                    if let Some(class) = why {
                        let from = task.target_index as usize;
                        switched.push((task.clone(), from, target, class));
                    }
                    task.target_index = target as u32;
                    true
                }
                Admission::Held {
                    reason,
                    until,
                    announce,
                } => {
                    if let Some(until) = until {
                        retry_at = Some(retry_at.map_or(until, |r| r.min(until)));
                    }
                    if announce {
                        let wait = until.map(|u| u.saturating_duration_since(clock_now));
                        held.push(Draft::held(task.id, &provider, reason, wait, now));
                    }
                    false
                }
            }
        };
        let result = match (&self.listed, promoting) {
            (None, Some(promoting)) => {
                lifecycle::claim_promoted(txn, ctx, promoting, self.max, CLAIM_SCAN, admit)
            }
            (None, None) => lifecycle::claim_where(txn, ctx, self.max, CLAIM_SCAN, admit),
            // The batcher's claims never follow a promotion.
            (Some(ids), promoting) => match promoting.map(|p| p.write(txn)).transpose() {
                Ok(_) => lifecycle::claim_listed(txn, ctx, ids, admit),
                Err(e) => Err(e),
            },
        };
        for (mut task, from, to, class) in switched {
            task.target_index = to as u32;
            ctx.events
                .push(Draft::fallback(&task, from, class, false, now));
        }
        ctx.events.extend(held);
        let result = result?;
        for budget in book.into_changed().unwrap_or_default() {
            txn.put_budget(&budget)?;
        }
        if batch {
            return Ok(Claimed {
                batched: result,
                ..Claimed::nothing()
            });
        }
        Ok(Claimed {
            tasks: result.into_iter().zip(permits).collect(),
            batched: Vec::new(),
            retry_at,
        })
    }
}

/// The dispatch loop: claims for free slots whenever something may be queued.
pub(crate) async fn dispatch(inner: Arc<Inner>) {
    let dispatcher = &inner.dispatcher;
    let mut paused = dispatcher.paused.subscribe();
    let mut alive = inner.shared.lease.watch();
    loop {
        while *paused.borrow_and_update() || !*alive.borrow_and_update() {
            tokio::select! {
                changed = paused.changed() => if changed.is_err() { return },
                changed = alive.changed() => if changed.is_err() { return },
                _ = inner.stop_intake.cancelled() => return,
            }
        }
        let first = tokio::select! {
            permit = dispatcher.slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = inner.stop_intake.cancelled() => return,
        };
        let mut permits = vec![first];
        while let Ok(p) = dispatcher.slots.clone().try_acquire_owned() {
            permits.push(p);
        }

        // Register before claiming: a task queued after the claim looked still wakes us.
        let woken = dispatcher.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();

        let claimed = match inner
            .writer
            .claim(dispatcher.request(&inner, permits.len()))
            .await
        {
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

/// Fires due schedules and promotes due tasks, for the scheduler; with
/// `start`, the free slots claim what is queued in the same commit. Returns
/// when the next scheduled task or schedule falls due.
pub(crate) async fn promote_due(
    inner: &Arc<Inner>,
    start: bool,
) -> Result<Option<DateTime<Utc>>, TaskError> {
    let slots = if start {
        inner.dispatcher.free_slots(inner)
    } else {
        Vec::new()
    };
    let claim = inner.dispatcher.request(inner, slots.len());
    let promoted = inner.writer.promote_due(claim).await?;
    launch(inner, promoted.claimed, slots);
    Ok(promoted.next)
}

/// Starts an executor for each claimed task, in one of `slots`; the slots left
/// over are given back.
fn launch(inner: &Arc<Inner>, claimed: Claimed, slots: Vec<OwnedSemaphorePermit>) {
    for ((task, limit), slot) in claimed.tasks.into_iter().zip(slots) {
        inner
            .executors
            .spawn(occupy(inner.clone(), slot, task, limit));
    }
}

/// Holds `slot` while its executors run: the first task, then each task the
/// dispatcher claims for the slot when the previous one reports.
async fn occupy(inner: Arc<Inner>, slot: OwnedSemaphorePermit, task: Task, limit: Permit) {
    let mut next = Some((task, limit));
    while let Some((task, limit)) = next {
        let report = executor::attempt(&inner, task, limit).await;
        next = self::report(&inner, report).await;
    }
    drop(slot);
}

/// Records an executor's outcome; returns the task claimed for its slot in the
/// same commit, when the dispatcher would claim one now.
async fn report(inner: &Arc<Inner>, report: Report) -> Option<(Task, Permit)> {
    let Report {
        task_id,
        claim_no,
        outcome,
    } = report;
    let mut next = None;
    match outcome {
        None => tracing::info!(task_id = %task_id, "attempt aborted: the task was cancelled"),
        Some(outcome) => {
            let claim = inner
                .dispatcher
                .may_claim(inner)
                .then(|| inner.dispatcher.request(inner, 1));
            match inner.writer.finish(outcome, claim).await {
                Ok((finished, claimed)) => {
                    next = claimed.tasks.into_iter().next();
                    match finished {
                        Some(t) => {
                            tracing::info!(task_id = %task_id, status = %t.status, "attempt finished")
                        }
                        None => {
                            tracing::info!(task_id = %task_id, "outcome ignored: the task had moved on")
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(task_id = %task_id, error = %e, "could not record the outcome")
                }
            }
        }
    }
    inner.shared.forget_running(task_id, claim_no);
    next
}

//! The single writer: one task owns every write transaction.
//!
//! Requests queue on a channel; the thread takes every request waiting (up to
//! [`MAX_BATCH`]), applies them in order inside one transaction, commits once
//! (group commit), then publishes the events and answers the callers. A reply
//! therefore means "durable". A storage error aborts the whole batch and every
//! caller in it gets the error: nothing half-written is ever committed.

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::error::{ImportError, TaskError};
use crate::events::Draft;
use crate::idempotency::{create_once, Created, Once};
use crate::lifecycle::{self, Cancelled, Ctx, ImportReport, Outcome};
use crate::provider::{Admission, Permit, ProviderSettings};
use crate::schedule::{Schedule, ScheduleId};
use crate::shared::Shared;
use crate::state::TaskState;
use crate::store::{Store, WriteTxn};
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Most requests committed together.
const MAX_BATCH: usize = 1024;

type Reply<T> = oneshot::Sender<Result<T, TaskError>>;

enum Command {
    Create(Task, Option<Once>, Reply<Created>),
    Chain(Task, Option<Once>, Reply<Created>),
    Claim(usize, Reply<Claimed>),
    /// Streamed output of a run; nobody waits for it.
    Append(TaskId, u32, String),
    /// Promotes due tasks, then claims up to this many queued ones.
    Promote(usize, Reply<Promoted>),
    Finish(Outcome, Reply<Option<Task>>),
    /// A finish, then a claim of one task for the slot it frees.
    FinishClaim(Outcome, Reply<(Option<Task>, Claimed)>),
    Cancel(TaskId, Option<String>, Reply<Cancelled>),
    Retry(TaskId, Option<u32>, Reply<Task>),
    Recover(Reply<Vec<Task>>),
    SaveProvider(ProviderSettings, Reply<()>),
    RemoveProvider(String, Reply<bool>),
    Schedule(ScheduleOp, Reply<ScheduleDone>),
    Import(
        Vec<Task>,
        Vec<Schedule>,
        oneshot::Sender<Result<ImportReport, ImportError>>,
    ),
    Stop,
}

/// A change to a schedule (see `firing`).
pub(crate) enum ScheduleOp {
    Add(Schedule, Option<Once>),
    Update(ScheduleId, Schedule),
    SetEnabled(ScheduleId, bool),
    Remove(ScheduleId),
    RunNow(ScheduleId),
}

/// What a schedule change did: the schedule as stored (before a removal), and
/// the tasks a run-now created.
pub(crate) struct ScheduleDone {
    pub schedule: Schedule,
    pub tasks: Vec<Task>,
    /// An add answered from an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// Most queued tasks one claim looks at, when some are held back by their
/// provider's limits: tasks behind that many held ones wait for a later claim.
const CLAIM_SCAN: usize = 2048;

/// What a claim moved to running, and when a task it held back may be admitted.
pub(crate) struct Claimed {
    /// Each task with its limiter permit, held for the request.
    pub tasks: Vec<(Task, Permit)>,
    pub retry_at: Option<Instant>,
}

/// What a promotion did.
pub(crate) struct Promoted {
    /// When the next scheduled task falls due.
    pub next: Option<DateTime<Utc>>,
    pub claimed: Claimed,
}

/// The writer's address. Cheap to clone; every method but `append_output`
/// waits for the commit.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Command>,
}

macro_rules! request {
    ($self:ident, $variant:ident $(, $arg:expr)*) => {{
        let (reply, rx) = oneshot::channel();
        $self
            .tx
            .send(Command::$variant($($arg,)* reply))
            .map_err(|_| TaskError::ShuttingDown)?;
        rx.await.map_err(|_| TaskError::ShuttingDown)?
    }};
}

impl Writer {
    /// Starts the writer. It owns the write side of `store` until [`Writer::stop`].
    /// Each batch runs on tokio's blocking pool: commits (fsync) never stall the
    /// async workers, and a paused test clock does not jump while one is in flight.
    pub fn spawn(
        store: Arc<Store>,
        shared: Arc<Shared>,
        clock: Clock,
        backoff: Backoff,
    ) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = State {
            store,
            shared,
            clock,
            backoff,
            rng: StdRng::from_os_rng(),
        };
        (Writer { tx }, tokio::spawn(run(state, rx)))
    }

    pub async fn create(&self, task: Task, once: Option<Once>) -> Result<Created, TaskError> {
        request!(self, Create, task, once)
    }
    pub async fn chain(&self, task: Task, once: Option<Once>) -> Result<Created, TaskError> {
        request!(self, Chain, task, once)
    }
    pub async fn claim(&self, max: usize) -> Result<Claimed, TaskError> {
        request!(self, Claim, max)
    }
    /// Appends streamed output to run `run` of a task. Not awaited: it is
    /// ordered before anything the same caller sends afterwards (its outcome).
    pub fn append_output(&self, id: TaskId, run: u32, text: String) {
        let _ = self.tx.send(Command::Append(id, run, text));
    }
    /// Moves due tasks to queued and, in the same transaction, claims up to
    /// `claim` queued tasks (for slots the caller holds): tasks that fall due
    /// together start in one commit instead of a promote and then a claim.
    pub async fn promote_due(&self, claim: usize) -> Result<Promoted, TaskError> {
        request!(self, Promote, claim)
    }
    pub async fn finish(&self, outcome: Outcome) -> Result<Option<Task>, TaskError> {
        request!(self, Finish, outcome)
    }
    /// Records an outcome and, in the same transaction, claims one queued task
    /// for the slot it frees: the executor goes on without a round trip through
    /// the dispatcher and a commit of its own.
    pub async fn finish_and_claim(
        &self,
        outcome: Outcome,
    ) -> Result<(Option<Task>, Claimed), TaskError> {
        request!(self, FinishClaim, outcome)
    }
    pub async fn cancel(&self, id: TaskId, reason: Option<String>) -> Result<Cancelled, TaskError> {
        request!(self, Cancel, id, reason)
    }
    pub async fn retry(&self, id: TaskId, max_attempts: Option<u32>) -> Result<Task, TaskError> {
        request!(self, Retry, id, max_attempts)
    }
    pub async fn recover(&self) -> Result<Vec<Task>, TaskError> {
        request!(self, Recover)
    }
    pub async fn save_provider(&self, settings: ProviderSettings) -> Result<(), TaskError> {
        request!(self, SaveProvider, settings)
    }
    pub async fn remove_provider(&self, name: String) -> Result<bool, TaskError> {
        request!(self, RemoveProvider, name)
    }
    pub async fn schedule(&self, op: ScheduleOp) -> Result<ScheduleDone, TaskError> {
        request!(self, Schedule, op)
    }
    pub async fn import(
        &self,
        tasks: Vec<Task>,
        schedules: Vec<Schedule>,
    ) -> Result<ImportReport, ImportError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Import(tasks, schedules, reply))
            .map_err(|_| TaskError::ShuttingDown)?;
        rx.await.map_err(|_| TaskError::ShuttingDown)?
    }

    /// Asks the thread to finish what is queued before this and exit.
    pub fn stop(&self) {
        let _ = self.tx.send(Command::Stop);
    }
}

/// Runs after a successful commit: answers one caller (or, with `Some`, tells it
/// the batch failed).
type Delivery = Box<dyn FnOnce(Option<&TaskError>) + Send>;

fn deliver<T: Send + 'static>(reply: Reply<T>, result: Result<T, TaskError>) -> Delivery {
    Box::new(move |failed| {
        let _ = reply.send(match failed {
            Some(e) => Err(e.clone()),
            None => result,
        });
    })
}

struct State {
    store: Arc<Store>,
    shared: Arc<Shared>,
    clock: Clock,
    backoff: Backoff,
    rng: StdRng,
}

async fn run(mut state: State, mut rx: mpsc::UnboundedReceiver<Command>) {
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.recv().await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        if let Some(pos) = batch.iter().position(|c| matches!(c, Command::Stop)) {
            stopping = true;
            // Requests queued after Stop are answered "shutting down" when their
            // reply senders drop.
            batch.truncate(pos);
        }
        if batch.is_empty() {
            continue;
        }
        state = match tokio::task::spawn_blocking(move || {
            apply_batch(&mut state, batch);
            state
        })
        .await
        {
            Ok(state) => state,
            Err(e) => {
                // Only a bug panics here; callers of that batch see "shutting down".
                tracing::error!(error = %e, "the writer panicked; the engine stops writing");
                return;
            }
        };
    }
    tracing::debug!("writer stopped");
}

fn apply_batch(state: &mut State, batch: Vec<Command>) {
    let State {
        store,
        shared,
        clock,
        backoff,
        rng,
    } = state;
    let backoff = *backoff;
    let mut events: Vec<Draft> = Vec::new();
    let mut schedule_events = Vec::new();
    let mut deliveries: Vec<Delivery> = Vec::with_capacity(batch.len());
    let mut poisoned: Option<TaskError> = None;
    let begun = store.begin();
    let mut txn = match &begun {
        Ok(begun) => Some(begun.txn()),
        Err(e) => {
            poisoned = Some(e.clone());
            None
        }
    };
    let now = clock.now();

    for cmd in batch {
        let Some(txn) = txn.as_mut().filter(|_| poisoned.is_none()) else {
            deliveries.push(refuse(cmd));
            continue;
        };
        let mut ctx = Ctx {
            now,
            backoff,
            rng,
            events: &mut events,
            schedules: &mut schedule_events,
        };
        let delivery = match cmd {
            Command::Create(task, once, reply) => {
                let result = create_once(txn, &mut ctx, once.as_ref(), |txn, ctx| {
                    lifecycle::create(txn, ctx, task)
                });
                deliver(reply, note(&mut poisoned, result))
            }
            Command::Chain(task, once, reply) => {
                let result = create_once(txn, &mut ctx, once.as_ref(), |txn, ctx| {
                    lifecycle::chain(txn, ctx, task)
                });
                deliver(reply, note(&mut poisoned, result))
            }
            Command::Claim(max, reply) => deliver(
                reply,
                note(&mut poisoned, claim(txn, &mut ctx, shared, max)),
            ),
            Command::FinishClaim(outcome, reply) => {
                let result = lifecycle::finish(txn, &mut ctx, outcome)
                    .and_then(|finished| Ok((finished, claim(txn, &mut ctx, shared, 1)?)));
                deliver(reply, note(&mut poisoned, result))
            }
            Command::SaveProvider(settings, reply) => {
                deliver(reply, note(&mut poisoned, txn.put_provider(&settings)))
            }
            Command::RemoveProvider(name, reply) => {
                deliver(reply, note(&mut poisoned, txn.remove_provider(&name)))
            }
            Command::Append(id, run, text) => {
                if let Err(e) = note(&mut poisoned, lifecycle::append_output(txn, id, run, &text)) {
                    tracing::error!(task_id = %id, error = %e, "could not store streamed output");
                }
                Box::new(|_: Option<&TaskError>| {})
            }
            Command::Promote(max, reply) => {
                // Schedules fire first: a run they create for now is promoted,
                // and may be claimed, in the same commit.
                let result = crate::firing::fire_due(txn, &mut ctx).and_then(|next_fire| {
                    let (_, next_due) = lifecycle::promote_due(txn, &mut ctx)?;
                    let next = match (next_fire, next_due) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let claimed = claim(txn, &mut ctx, shared, max)?;
                    Ok(Promoted { next, claimed })
                });
                deliver(reply, note(&mut poisoned, result))
            }
            Command::Schedule(op, reply) => {
                let result = match op {
                    ScheduleOp::Add(s, once) => crate::idempotency::add_schedule_once(
                        txn,
                        &mut ctx,
                        once.as_ref(),
                        |t, c| crate::firing::add(t, c, s),
                    )
                    .map(|(s, replayed)| ScheduleDone {
                        replayed,
                        ..only(s)
                    }),
                    ScheduleOp::Update(id, s) => {
                        crate::firing::update(txn, &mut ctx, id, s).map(only)
                    }
                    ScheduleOp::SetEnabled(id, on) => {
                        crate::firing::set_enabled(txn, &mut ctx, id, on).map(only)
                    }
                    ScheduleOp::Remove(id) => crate::firing::remove(txn, &mut ctx, id).map(only),
                    ScheduleOp::RunNow(id) => {
                        crate::firing::run_now(txn, &mut ctx, id).and_then(|tasks| {
                            let schedule = txn
                                .schedule(id)?
                                .ok_or_else(|| TaskError::ScheduleNotFound(id.to_string()))?;
                            Ok(ScheduleDone {
                                schedule,
                                tasks,
                                replayed: false,
                            })
                        })
                    }
                };
                deliver(reply, note(&mut poisoned, result))
            }
            Command::Finish(outcome, reply) => deliver(
                reply,
                note(&mut poisoned, lifecycle::finish(txn, &mut ctx, outcome)),
            ),
            Command::Cancel(id, reason, reply) => deliver(
                reply,
                note(&mut poisoned, lifecycle::cancel(txn, &mut ctx, id, reason)),
            ),
            Command::Retry(id, max, reply) => deliver(
                reply,
                note(&mut poisoned, lifecycle::retry(txn, &mut ctx, id, max)),
            ),
            Command::Recover(reply) => deliver(
                reply,
                note(&mut poisoned, lifecycle::recover(txn, &mut ctx)),
            ),
            Command::Import(tasks, schedules, reply) => {
                let result = lifecycle::import(txn, &mut ctx, tasks).and_then(|mut report| {
                    crate::firing::import(txn, &mut ctx, schedules, &mut report)?;
                    Ok(report)
                });
                if let Err(ImportError::Task(e @ TaskError::Storage(_))) = &result {
                    poisoned = Some(e.clone());
                }
                Box::new(move |failed: Option<&TaskError>| {
                    let _ = reply.send(match failed {
                        Some(e) => Err(ImportError::Task(e.clone())),
                        None => result,
                    });
                })
            }
            Command::Stop => unreachable!("Stop is taken out of the batch"),
        };
        deliveries.push(delivery);
    }

    // The tables close before the commit; a batch dropped uncommitted aborts.
    drop(txn);
    let failure = match (begun, poisoned) {
        (Ok(begun), None) => begun.commit().err(),
        (_, poisoned) => poisoned,
    };
    if let Some(e) = &failure {
        tracing::error!(error = %e, "write batch failed; nothing in it was saved");
        for d in deliveries {
            d(Some(e));
        }
        return;
    }

    shared.commits.fetch_add(1, Ordering::Relaxed);
    shared
        .committed_requests
        .fetch_add(deliveries.len() as u64, Ordering::Relaxed);
    // A saved schedule may fire before the scheduler's current wake-up time.
    let (mut wake_scheduler, mut wake_dispatcher) = (!schedule_events.is_empty(), false);
    // Running tasks cancelled in this batch (by a person, or by a schedule's
    // `overlap: cancel`): their provider calls are aborted once this is durable.
    let mut cancelled_running: Vec<(TaskId, u32)> = Vec::new();
    for draft in events {
        if let crate::events::EventKind::State { from, to, task } = &draft.kind {
            wake_scheduler |= *to == TaskState::Scheduled;
            wake_dispatcher |= *to == TaskState::Queued;
            if *from == Some(TaskState::Running) && *to == TaskState::Cancelled {
                cancelled_running.push((task.id, task.history.len() as u32));
            }
        }
        shared.events.publish(draft);
    }
    for event in schedule_events {
        shared.events.publish_schedule(event);
    }
    for (id, run) in cancelled_running {
        shared.abort_running(id, run);
    }
    for d in deliveries {
        d(None);
    }
    if wake_scheduler {
        shared.wake_scheduler.notify_one();
    }
    if wake_dispatcher {
        shared.wake_dispatcher.notify_one();
    }
}

fn only(schedule: Schedule) -> ScheduleDone {
    ScheduleDone {
        schedule,
        tasks: Vec::new(),
        replayed: false,
    }
}

/// Moves up to `max` queued tasks that their providers' limits admit to running.
fn claim(
    txn: &mut WriteTxn,
    ctx: &mut Ctx,
    shared: &Arc<Shared>,
    max: usize,
) -> Result<Claimed, TaskError> {
    let clock_now = Instant::now();
    let now = ctx.now;
    let mut permits = Vec::new();
    let mut held = Vec::new();
    let mut retry_at: Option<Instant> = None;
    let limiter = &shared.limiter;
    let result = lifecycle::claim_where(txn, ctx, max, CLAIM_SCAN, |task| {
        let estimate = crate::provider::estimate_tokens(task);
        match limiter.admit(shared, &task.llm_provider, task.id, estimate, clock_now) {
            Admission::Admitted(permit) => {
                permits.push(permit);
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
                    held.push(Draft::held(task.id, &task.llm_provider, reason, wait, now));
                }
                false
            }
        }
    });
    ctx.events.extend(held);
    result.map(|tasks| Claimed {
        tasks: tasks.into_iter().zip(permits).collect(),
        retry_at,
    })
}

/// Keeps a storage error so the batch is aborted; other errors only concern
/// their own request, which wrote nothing.
fn note<T>(poisoned: &mut Option<TaskError>, result: Result<T, TaskError>) -> Result<T, TaskError> {
    if let Err(e @ TaskError::Storage(_)) = &result {
        *poisoned = Some(e.clone());
    }
    result
}

/// Answers a request that came after the batch failed.
fn refuse(cmd: Command) -> Delivery {
    fn fail<T: Send + 'static>(reply: Reply<T>) -> Delivery {
        Box::new(move |e| {
            let _ = reply.send(Err(e.cloned().unwrap_or(TaskError::ShuttingDown)));
        })
    }
    match cmd {
        Command::Create(_, _, r) | Command::Chain(_, _, r) => fail(r),
        Command::Retry(_, _, r) => fail(r),
        Command::Claim(_, r) => fail(r),
        Command::Recover(r) => fail(r),
        Command::SaveProvider(_, r) => fail(r),
        Command::RemoveProvider(_, r) => fail(r),
        Command::Promote(_, r) => fail(r),
        Command::Schedule(_, r) => fail(r),
        Command::Finish(_, r) => fail(r),
        Command::FinishClaim(_, r) => fail(r),
        Command::Cancel(_, _, r) => fail(r),
        Command::Import(_, _, r) => Box::new(move |e| {
            let _ = r.send(Err(ImportError::Task(
                e.cloned().unwrap_or(TaskError::ShuttingDown),
            )));
        }),
        Command::Stop | Command::Append(..) => Box::new(|_| {}),
    }
}

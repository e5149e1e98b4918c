//! The single writer: one task owns every write transaction.
//!
//! Requests queue on a channel; the thread takes every request waiting (up to
//! [`MAX_BATCH`]), applies them in order inside one transaction, commits once
//! (group commit), then publishes the events and answers the callers. A reply
//! therefore means "durable". A storage error aborts the whole batch and every
//! caller in it gets the error: nothing half-written is ever committed.
//!
//! An I/O error (a full disk) is different: redb then refuses every write until
//! the file is opened again. The writer marks the engine unwritable
//! ([`Health`]), keeps the outcomes and streamed output of running attempts
//! from the failed batch (their executors wait), answers other requests with a
//! `storage` error at once, and tries [`Db::restore`] with a growing delay.
//! Once it succeeds, the kept requests are applied first and the engine is
//! healthy again: nothing an executor reported is lost.
//!
//! The writer claims no task of its own accord: a claim arrives as the
//! dispatcher's [`ClaimRequest`] (alone, with a promotion, or with an outcome
//! for the slot it frees) and is applied in the same transaction.

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{ImportError, TaskError};
use crate::events::Draft;
use crate::health::Health;
use crate::idempotency::{create_once, Created, Once};
use crate::lifecycle::{self, Cancelled, Ctx, ImportReport, Outcome};
use crate::pool::{ClaimRequest, Claimed};
use crate::provider::ProviderSettings;
use crate::schedule::{Schedule, ScheduleId};
use crate::shared::Shared;
use crate::state::TaskState;
use crate::storage::{Storage, TaskTxn, UnitOfWork};
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Most requests committed together.
const MAX_BATCH: usize = 1024;

/// The first and the longest wait between attempts to write again after an
/// I/O error.
const RESTORE_DELAYS: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_millis(100),
    std::time::Duration::from_secs(5),
);

type Reply<T> = oneshot::Sender<Result<T, TaskError>>;

enum Command {
    Create(Task, Option<Once>, Reply<Created>),
    Chain(Task, Option<Once>, Reply<Created>),
    Claim(ClaimRequest, Reply<Claimed>),
    /// Streamed output of one claim of a task; nobody waits for it.
    Append(TaskId, u32, String),
    /// Fires schedules and promotes due tasks, then applies the claim.
    Promote(ClaimRequest, Reply<Promoted>),
    /// An outcome, then the claim (if any) for the slot it frees.
    Finish(Outcome, Option<ClaimRequest>, Reply<Finished>),
    Cancel(TaskId, Option<String>, Reply<Cancelled>),
    Retry(TaskId, Option<u32>, Reply<Task>),
    Recover(Reply<(Vec<Task>, Vec<Task>)>),
    SaveProvider(ProviderSettings, Reply<()>),
    RemoveProvider(String, Reply<bool>),
    Schedule(ScheduleOp, Reply<ScheduleDone>),
    Budget(crate::budget::BudgetOp, Reply<crate::budget::Budget>),
    Group(crate::group::GroupOp, Reply<crate::group::Group>),
    /// A try of a delivery, as the deliverer reports it (kept, like an
    /// outcome, while the store cannot be written).
    DeliveryTried(
        crate::delivery::DeliveryId,
        u32,
        crate::outbox::Tried,
        Reply<Option<crate::delivery::Delivery>>,
    ),
    Resend(
        crate::delivery::DeliveryId,
        Reply<crate::delivery::Delivery>,
    ),
    Import(
        Vec<Task>,
        Vec<Schedule>,
        Vec<crate::group::Group>,
        oneshot::Sender<Result<ImportReport, ImportError>>,
    ),
    /// The batcher's claims and results (see `batcher`).
    Batch(crate::batcher::BatchOp, Reply<crate::batcher::BatchDone>),
    Stop,
}

/// A change to a schedule (see `firing`).
pub(crate) enum ScheduleOp {
    Add(Schedule, Option<Once>),
    Update(ScheduleId, Schedule),
    SetEnabled(ScheduleId, bool),
    Remove(ScheduleId),
    FireNow(ScheduleId),
}

/// What a schedule change did: the schedule as stored (before a removal), and
/// the tasks a fire now ("run now") created.
pub(crate) struct ScheduleDone {
    pub schedule: Schedule,
    pub tasks: Vec<Task>,
    /// An add answered from an earlier request with the same idempotency key.
    pub replayed: bool,
}

/// The task an outcome finished (`None`: the outcome was stale), and what
/// the claim sent with it claimed.
pub(crate) type Finished = (Option<Task>, Claimed);

/// What a promotion did.
pub(crate) struct Promoted {
    /// When the next scheduled task falls due.
    pub next: Option<DateTime<Utc>>,
    pub claimed: Claimed,
}

/// The writer's address. Cheap to clone; every method waits for the commit.
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Command>,
}

/// The one request a provider's output sink makes of the writer: appending
/// streamed output. Not awaited: it is ordered before anything the same
/// executor sends afterwards (its outcome).
#[derive(Clone)]
pub(crate) struct OutputLog {
    tx: mpsc::UnboundedSender<Command>,
}

impl OutputLog {
    /// Appends `text` to the output of claim `claim_no` of task `id`.
    pub fn append(&self, id: TaskId, claim_no: u32, text: String) {
        let _ = self.tx.send(Command::Append(id, claim_no, text));
    }
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
    ///
    /// `give_up` is the shutdown's hard stop: while the store cannot be
    /// written, kept outcomes are then answered with the error (their tasks
    /// stay running in the file and are recovered at the next open).
    pub fn spawn(
        store: Arc<Db>,
        shared: Arc<Shared>,
        clock: Clock,
        backoff: Backoff,
        give_up: CancellationToken,
    ) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = State {
            store,
            shared,
            clock,
            backoff,
            rng: StdRng::from_os_rng(),
        };
        (Writer { tx }, tokio::spawn(serve(state, rx, give_up)))
    }

    pub async fn create(&self, task: Task, once: Option<Once>) -> Result<Created, TaskError> {
        request!(self, Create, task, once)
    }
    pub async fn chain(&self, task: Task, once: Option<Once>) -> Result<Created, TaskError> {
        request!(self, Chain, task, once)
    }
    pub async fn claim(&self, claim: ClaimRequest) -> Result<Claimed, TaskError> {
        request!(self, Claim, claim)
    }
    /// For a provider's output sink.
    pub fn output_log(&self) -> OutputLog {
        OutputLog {
            tx: self.tx.clone(),
        }
    }
    /// Fires due schedules, moves due tasks to queued and, in the same
    /// transaction, applies the dispatcher's `claim`: tasks that fall due
    /// together start in one commit instead of a promote and then a claim.
    pub async fn promote_due(&self, claim: ClaimRequest) -> Result<Promoted, TaskError> {
        request!(self, Promote, claim)
    }
    /// Records an outcome and, in the same transaction, applies the
    /// dispatcher's `claim` for the slot it frees, if it sent one.
    pub async fn finish(
        &self,
        outcome: Outcome,
        claim: Option<ClaimRequest>,
    ) -> Result<Finished, TaskError> {
        request!(self, Finish, outcome, claim)
    }
    pub async fn cancel(&self, id: TaskId, reason: Option<String>) -> Result<Cancelled, TaskError> {
        request!(self, Cancel, id, reason)
    }
    pub async fn retry(&self, id: TaskId, max_attempts: Option<u32>) -> Result<Task, TaskError> {
        request!(self, Retry, id, max_attempts)
    }
    /// Crash recovery ([`lifecycle::recover`]): the tasks given back, and the
    /// provider batches' attempts taken over ([`lifecycle::adopt_batches`]).
    pub async fn recover(&self) -> Result<(Vec<Task>, Vec<Task>), TaskError> {
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
    pub async fn budget(
        &self,
        op: crate::budget::BudgetOp,
    ) -> Result<crate::budget::Budget, TaskError> {
        request!(self, Budget, op)
    }
    pub async fn group(&self, op: crate::group::GroupOp) -> Result<crate::group::Group, TaskError> {
        request!(self, Group, op)
    }
    pub async fn delivery_tried(
        &self,
        id: crate::delivery::DeliveryId,
        attempt: u32,
        outcome: crate::outbox::Tried,
    ) -> Result<Option<crate::delivery::Delivery>, TaskError> {
        request!(self, DeliveryTried, id, attempt, outcome)
    }
    pub async fn resend(
        &self,
        id: crate::delivery::DeliveryId,
    ) -> Result<crate::delivery::Delivery, TaskError> {
        request!(self, Resend, id)
    }
    pub async fn import(
        &self,
        tasks: Vec<Task>,
        schedules: Vec<Schedule>,
        groups: Vec<crate::group::Group>,
    ) -> Result<ImportReport, ImportError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Import(tasks, schedules, groups, reply))
            .map_err(|_| TaskError::ShuttingDown)?;
        rx.await.map_err(|_| TaskError::ShuttingDown)?
    }

    pub async fn batch(
        &self,
        op: crate::batcher::BatchOp,
    ) -> Result<crate::batcher::BatchDone, TaskError> {
        request!(self, Batch, op)
    }

    /// Asks the thread to finish what is queued before this and exit.
    pub fn stop(&self) {
        let _ = self.tx.send(Command::Stop);
    }
}

/// What became of the batch a request was in.
#[derive(Clone, Copy)]
enum Fate<'e> {
    Committed,
    /// Nothing was written. With `keep`, the store needs opening again and a
    /// request that must not be lost is handed back to be applied later.
    Failed {
        error: &'e TaskError,
        keep: bool,
    },
}

/// Runs once the batch's fate is known: answers one caller, or hands its
/// request back to be kept.
type Answer = Box<dyn FnOnce(Fate) -> Option<Command> + Send>;

fn answer<T: Send + 'static>(reply: Reply<T>, result: Result<T, TaskError>) -> Answer {
    Box::new(move |fate| {
        let _ = reply.send(match fate {
            Fate::Failed { error, .. } => Err(error.clone()),
            Fate::Committed => result,
        });
        None
    })
}

/// [`answer`] for a request that is kept when the store needs opening again:
/// `again` rebuilds it with its reply.
fn answer_or_keep<T: Send + 'static>(
    reply: Reply<T>,
    result: Result<T, TaskError>,
    again: impl FnOnce(Reply<T>) -> Command + Send + 'static,
) -> Answer {
    Box::new(move |fate| match fate {
        Fate::Failed { keep: true, .. } => Some(again(reply)),
        Fate::Failed { error, .. } => {
            let _ = reply.send(Err(error.clone()));
            None
        }
        Fate::Committed => {
            let _ = reply.send(result);
            None
        }
    })
}

/// Requests from running attempts: lost, they would lose the attempt's result.
fn must_keep(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::Finish(..) | Command::Append(..) | Command::DeliveryTried(..)
    )
}

struct State {
    store: Arc<Db>,
    shared: Arc<Shared>,
    clock: Clock,
    backoff: Backoff,
    rng: StdRng,
}

async fn serve(
    mut state: State,
    mut rx: mpsc::UnboundedReceiver<Command>,
    give_up: CancellationToken,
) {
    let mut stopping = false;
    // Requests of running attempts from batches that failed on an I/O error.
    let mut kept: Vec<Command> = Vec::new();
    while !stopping {
        let mut batch = if state.shared.health.borrow().is_ok() {
            let Some(first) = rx.recv().await else {
                break;
            };
            vec![first]
        } else {
            match restore(&state, &mut rx, &mut kept, &give_up).await {
                Restored::Yes => std::mem::take(&mut kept),
                Restored::Stop => {
                    stopping = true;
                    std::mem::take(&mut kept)
                }
                Restored::No => break,
            }
        };
        if !stopping {
            stopping = gather(&mut rx, &mut batch);
        }
        if batch.is_empty() {
            continue;
        }
        (state, kept, rx, stopping) = match tokio::task::spawn_blocking(move || {
            // While requests keep coming, batches follow one another here: the
            // hop back to the async writer and out again cost about 50 µs per
            // commit (docs/PERFORMANCE.md). The requests that queued during a
            // commit are the next batch, as they were before.
            loop {
                let kept = apply_batch(&mut state, batch);
                if stopping || !kept.is_empty() || !state.shared.health.borrow().is_ok() {
                    return (state, kept, rx, stopping);
                }
                batch = Vec::new();
                stopping = gather(&mut rx, &mut batch);
                if batch.is_empty() {
                    return (state, kept, rx, stopping);
                }
            }
        })
        .await
        {
            Ok(done) => done,
            Err(e) => {
                // Only a bug panics here; callers of that batch see "shutting down".
                tracing::error!(error = %e, "the writer panicked; the engine stops writing");
                return;
            }
        };
        if stopping && !kept.is_empty() {
            // Stopping while the store cannot be written: one last try.
            match restore(&state, &mut rx, &mut kept, &give_up).await {
                Restored::Yes | Restored::Stop => {
                    let batch = std::mem::take(&mut kept);
                    (state, kept) = match tokio::task::spawn_blocking(move || {
                        let kept = apply_batch(&mut state, batch);
                        (state, kept)
                    })
                    .await
                    {
                        Ok(done) => done,
                        Err(_) => return,
                    };
                }
                Restored::No => {}
            }
        }
    }
    if !kept.is_empty() {
        tracing::error!(
            requests = kept.len(),
            "stopped while the database could not be written: outcomes of running attempts were not saved; those tasks are recovered at the next start"
        );
    }
    tracing::debug!("writer stopped");
}

/// Adds the requests waiting now to `batch`, up to [`MAX_BATCH`]; true when
/// one of them is Stop (it and those queued after it are left out: they are
/// answered "shutting down" when their reply senders drop).
fn gather(rx: &mut mpsc::UnboundedReceiver<Command>, batch: &mut Vec<Command>) -> bool {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(cmd) => batch.push(cmd),
            Err(_) => break,
        }
    }
    match batch.iter().position(|c| matches!(c, Command::Stop)) {
        Some(pos) => {
            batch.truncate(pos);
            true
        }
        None => false,
    }
}

/// How waiting for a writable store ended.
enum Restored {
    Yes,
    /// Asked to stop; the store may or may not be writable (the kept requests
    /// are still to be tried).
    Stop,
    /// Gave up (shutdown past its grace period, or every sender gone); the
    /// kept requests were answered with the error.
    No,
}

/// While the store cannot be written: answers new requests with the error at
/// once, keeps those of running attempts, and tries to open the store again
/// with a growing delay.
async fn restore(
    state: &State,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    kept: &mut Vec<Command>,
    give_up: &CancellationToken,
) -> Restored {
    let mut delay = RESTORE_DELAYS.0;
    let mut stop_asked = false;
    loop {
        let error = match &*state.shared.health.borrow() {
            Health::Ok => return Restored::Yes,
            unwritable => unwritable_error(unwritable),
        };
        let fail = Fate::Failed {
            error: &error,
            keep: false,
        };
        if give_up.is_cancelled() {
            for cmd in kept.drain(..) {
                refuse(cmd)(fail);
            }
            if stop_asked {
                return Restored::No;
            }
        }
        tokio::select! {
            biased;
            cmd = rx.recv(), if !stop_asked => match cmd {
                None => stop_asked = true,
                Some(Command::Stop) => stop_asked = true,
                Some(cmd) if must_keep(&cmd) && !give_up.is_cancelled() => {
                    if matches!(cmd, Command::Finish(..)) {
                        tracing::warn!("kept the outcomes of running attempts until the database can be written");
                    }
                    kept.push(cmd);
                }
                Some(cmd) => {
                    refuse(cmd)(fail);
                }
            },
            _ = tokio::time::sleep(delay), if !stop_asked => {
                if try_restore(state).await {
                    return Restored::Yes;
                }
                delay = (delay * 2).min(RESTORE_DELAYS.1);
            }
            _ = give_up.cancelled(), if !give_up.is_cancelled() => {}
            _ = std::future::ready(()), if stop_asked => {
                return if try_restore(state).await {
                    Restored::Stop
                } else {
                    for cmd in kept.drain(..) {
                        refuse(cmd)(fail);
                    }
                    Restored::No
                };
            }
        }
    }
}

/// What a write is answered while the store cannot be written.
fn unwritable_error(health: &Health) -> TaskError {
    let why = match health {
        Health::Unwritable { message, .. } => message.as_str(),
        Health::Ok => "",
    };
    TaskError::Storage(format!(
        "the database cannot be written ({why}); nothing was changed, and the engine tries again by itself"
    ))
}

/// One attempt at [`Db::restore`]; on success the engine is healthy again.
async fn try_restore(state: &State) -> bool {
    let store = state.store.clone();
    let restored = tokio::task::spawn_blocking(move || store.restore())
        .await
        .unwrap_or_else(|e| Err(TaskError::Storage(e.to_string())));
    match restored {
        Ok(()) => {
            tracing::info!("the database can be written again");
            state.shared.health.send_replace(Health::Ok);
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "the database still cannot be written");
            false
        }
    }
}

/// Applies `batch` in one transaction and answers its callers. Returns the
/// requests kept because the batch failed on an I/O error.
fn apply_batch(state: &mut State, batch: Vec<Command>) -> Vec<Command> {
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
    let mut answers: Vec<Answer> = Vec::with_capacity(batch.len());
    let mut poisoned: Option<TaskError> = None;
    let begun = store.begin();
    let mut txn = match &begun {
        Ok(begun) => Some(begun.txn()),
        Err(e) => {
            poisoned = Some(e.clone());
            None
        }
    };
    // On a shared queue, the database's clock (see `Shared::db_clock_ahead_ms`).
    let now = clock.now()
        + chrono::Duration::milliseconds(shared.db_clock_ahead_ms.load(Ordering::Relaxed));

    for cmd in batch {
        let Some(txn) = txn.as_mut().filter(|_| poisoned.is_none()) else {
            answers.push(refuse(cmd));
            continue;
        };
        let mut ctx = Ctx {
            now,
            backoff,
            rng,
            events: &mut events,
            schedules: &mut schedule_events,
        };
        let answered = match cmd {
            Command::Create(task, once, reply) => {
                let result = create_once(txn, &mut ctx, once.as_ref(), |txn, ctx| {
                    lifecycle::create(txn, ctx, task)
                });
                answer(reply, note(&mut poisoned, result))
            }
            Command::Chain(task, once, reply) => {
                let result = create_once(txn, &mut ctx, once.as_ref(), |txn, ctx| {
                    lifecycle::chain(txn, ctx, task)
                });
                answer(reply, note(&mut poisoned, result))
            }
            Command::Claim(claim, reply) => {
                answer(reply, note(&mut poisoned, claim.apply(txn, &mut ctx)))
            }
            Command::Finish(outcome, claim, reply) => {
                let result = lifecycle::finish(txn, &mut ctx, &outcome).and_then(|done| {
                    let claimed = match &claim {
                        Some(claim) => claim.apply(txn, &mut ctx)?,
                        None => Claimed::nothing(),
                    };
                    Ok((done, claimed))
                });
                answer_or_keep(reply, note(&mut poisoned, result), move |r| {
                    Command::Finish(outcome, claim, r)
                })
            }
            Command::SaveProvider(settings, reply) => {
                answer(reply, note(&mut poisoned, txn.put_provider(&settings)))
            }
            Command::RemoveProvider(name, reply) => {
                answer(reply, note(&mut poisoned, txn.remove_provider(&name)))
            }
            Command::Append(id, claim_no, text) => {
                if let Err(e) = note(
                    &mut poisoned,
                    lifecycle::append_output(txn, id, claim_no, &text),
                ) {
                    tracing::error!(task_id = %id, error = %e, "could not store streamed output");
                }
                Box::new(move |fate: Fate| match fate {
                    Fate::Failed { keep: true, .. } => Some(Command::Append(id, claim_no, text)),
                    _ => None,
                })
            }
            Command::Promote(claim, reply) => {
                // Schedules fire first: a fire they create for now is promoted,
                // and may be claimed, in the same commit.
                // The promoted tasks are written by the claim, once each.
                let result = crate::firing::fire_due(txn, &mut ctx).and_then(|next_fire| {
                    let promoting = lifecycle::promote(txn, &mut ctx)?;
                    let next = match (next_fire, promoting.next) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let claimed = claim.apply_promoted(txn, &mut ctx, promoting)?;
                    Ok(Promoted { next, claimed })
                });
                answer(reply, note(&mut poisoned, result))
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
                    ScheduleOp::FireNow(id) => {
                        crate::firing::fire_now(txn, &mut ctx, id).and_then(|tasks| {
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
                answer(reply, note(&mut poisoned, result))
            }
            Command::Budget(op, reply) => answer(
                reply,
                note(&mut poisoned, crate::budget::apply(txn, now, op)),
            ),
            Command::Group(op, reply) => answer(
                reply,
                note(&mut poisoned, crate::group::apply(txn, &mut ctx, op)),
            ),
            Command::DeliveryTried(id, attempt, outcome, reply) => {
                let result = crate::outbox::tried(txn, &mut ctx, id, attempt, outcome.clone());
                answer_or_keep(reply, note(&mut poisoned, result), move |r| {
                    Command::DeliveryTried(id, attempt, outcome, r)
                })
            }
            Command::Resend(id, reply) => answer(
                reply,
                note(&mut poisoned, crate::outbox::resend(txn, &mut ctx, id)),
            ),
            Command::Cancel(id, reason, reply) => answer(
                reply,
                note(&mut poisoned, lifecycle::cancel(txn, &mut ctx, id, reason)),
            ),
            Command::Retry(id, max, reply) => answer(
                reply,
                note(&mut poisoned, lifecycle::retry(txn, &mut ctx, id, max)),
            ),
            Command::Recover(reply) => answer(
                reply,
                note(
                    &mut poisoned,
                    lifecycle::recover(txn, &mut ctx)
                        .and_then(|given_back| Ok((given_back, lifecycle::adopt_batches(txn)?))),
                ),
            ),
            Command::Import(tasks, schedules, groups, reply) => {
                let result = lifecycle::import(txn, &mut ctx, tasks).and_then(|mut report| {
                    crate::firing::import(txn, &mut ctx, schedules, &mut report)?;
                    crate::group::import(txn, &mut ctx, groups, &mut report)?;
                    Ok(report)
                });
                if let Err(ImportError::Task(e @ TaskError::Storage(_))) = &result {
                    poisoned = Some(e.clone());
                }
                Box::new(move |fate: Fate| {
                    let _ = reply.send(match fate {
                        Fate::Failed { error, .. } => Err(ImportError::Task(error.clone())),
                        Fate::Committed => result,
                    });
                    None
                })
            }
            Command::Batch(op, reply) => answer(
                reply,
                note(&mut poisoned, crate::batcher::apply(txn, &mut ctx, op)),
            ),
            Command::Stop => unreachable!("Stop is taken out of the batch"),
        };
        answers.push(answered);
    }

    // Last in the unit, so they commit with the changes they describe: a
    // shared backend records the events for other processes (pg_events.rs).
    if let Some(txn) = txn
        .as_mut()
        .filter(|_| poisoned.is_none() && !events.is_empty())
    {
        let _ = note(&mut poisoned, txn.record_events(&events));
    }
    // The tables close before the commit; a batch dropped uncommitted aborts.
    drop(txn);
    // Each claim's cancel token exists before the claim is durable, so a
    // cancel another runner commits right after it (it waited on the row)
    // finds the token even if this runner's executor has not started yet.
    let claims: Vec<(TaskId, u32)> = if poisoned.is_none() {
        events
            .iter()
            .filter_map(|draft| match &draft.kind {
                crate::events::EventKind::State { from, to, task }
                    if *from == Some(TaskState::Queued)
                        && *to == TaskState::Running
                        && task.batch.is_none() =>
                {
                    Some((task.id, task.history.len() as u32))
                }
                _ => None,
            })
            .collect()
    } else {
        Vec::new()
    };
    for &(id, claim_no) in &claims {
        shared.watch_running(id, claim_no);
    }
    let failure = match (begun, poisoned) {
        (Ok(begun), None) => begun.commit().err(),
        (_, poisoned) => poisoned,
    };
    if failure.is_some() {
        for &(id, claim_no) in &claims {
            shared.forget_running(id, claim_no);
        }
    }
    if let Some(e) = &failure {
        // An I/O error leaves redb refusing every write until the file is
        // opened again; any other error (a record it cannot read) does not.
        let keep = !store.read_only() && !store.writable();
        tracing::error!(error = %e, unwritable = keep, "write batch failed; nothing in it was saved");
        let unwritable;
        let error = if keep {
            let message = match e {
                TaskError::Storage(m) => m.clone(),
                other => other.to_string(),
            };
            let health = Health::Unwritable {
                since: clock.now(),
                message,
            };
            unwritable = unwritable_error(&health);
            shared.health.send_replace(health);
            &unwritable
        } else {
            e
        };
        let kept: Vec<Command> = answers
            .into_iter()
            .filter_map(|d| d(Fate::Failed { error, keep }))
            .collect();
        if !kept.is_empty() {
            tracing::warn!(
                requests = kept.len(),
                "kept the outcomes of running attempts until the database can be written"
            );
        }
        return kept;
    }

    shared.commits.fetch_add(1, Ordering::Relaxed);
    shared
        .committed_requests
        .fetch_add(answers.len() as u64, Ordering::Relaxed);
    // A saved schedule may fire before the scheduler's current wake-up time.
    let (mut wake_scheduler, mut wake_dispatcher) = (!schedule_events.is_empty(), false);
    // Running tasks cancelled in this batch (by a person, or by a schedule's
    // `overlap: cancel`): their provider calls are aborted once this is durable.
    let mut cancelled_running: Vec<(TaskId, u32)> = Vec::new();
    let mut wake_deliverer = false;
    let mut batch_waiting = Vec::new();
    for draft in events {
        if let crate::events::EventKind::Delivery { delivery } = &draft.kind {
            wake_deliverer |= delivery.status == crate::delivery::DeliveryStatus::Pending;
        }
        if let crate::events::EventKind::State { from, to, task } = &draft.kind {
            wake_scheduler |= *to == TaskState::Scheduled;
            if *to == TaskState::Scheduled && task.batch.is_some() {
                batch_waiting.push(task.id);
            }
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
    for (id, claim_no) in cancelled_running {
        shared.abort_running(id, claim_no);
    }
    for d in answers {
        d(Fate::Committed);
    }
    if wake_scheduler {
        shared.wake_scheduler.notify_one();
    }
    if wake_dispatcher {
        shared.wake_dispatcher.notify_one();
    }
    if wake_deliverer {
        shared.wake_deliverer.notify_one();
    }
    shared.to_batcher(batch_waiting, Vec::new());
    Vec::new()
}

fn only(schedule: Schedule) -> ScheduleDone {
    ScheduleDone {
        schedule,
        tasks: Vec::new(),
        replayed: false,
    }
}

/// Keeps a storage error so the batch is aborted; other errors only concern
/// their own request, which wrote nothing.
fn note<T>(poisoned: &mut Option<TaskError>, result: Result<T, TaskError>) -> Result<T, TaskError> {
    if let Err(e @ TaskError::Storage(_)) = &result {
        *poisoned = Some(e.clone());
    }
    result
}

/// Answers a request that came after the batch failed (or keeps it, as its
/// batch's fate says).
fn refuse(cmd: Command) -> Answer {
    fn fail<T: Send + 'static>(reply: Reply<T>) -> Answer {
        Box::new(move |fate| {
            let _ = reply.send(Err(match fate {
                Fate::Failed { error, .. } => error.clone(),
                Fate::Committed => TaskError::ShuttingDown,
            }));
            None
        })
    }
    fn keep_or_fail<T: Send + 'static>(
        reply: Reply<T>,
        again: impl FnOnce(Reply<T>) -> Command + Send + 'static,
    ) -> Answer {
        Box::new(move |fate| match fate {
            Fate::Failed { keep: true, .. } => Some(again(reply)),
            fate => fail(reply)(fate),
        })
    }
    match cmd {
        Command::Finish(o, c, r) => keep_or_fail(r, move |r| Command::Finish(o, c, r)),
        Command::Append(id, claim_no, text) => Box::new(move |fate| match fate {
            Fate::Failed { keep: true, .. } => Some(Command::Append(id, claim_no, text)),
            _ => None,
        }),
        Command::Create(_, _, r) | Command::Chain(_, _, r) => fail(r),
        Command::Retry(_, _, r) => fail(r),
        Command::Claim(_, r) => fail(r),
        Command::Recover(r) => fail(r),
        Command::SaveProvider(_, r) => fail(r),
        Command::RemoveProvider(_, r) => fail(r),
        Command::Promote(_, r) => fail(r),
        Command::Schedule(_, r) => fail(r),
        Command::Budget(_, r) => fail(r),
        Command::Group(_, r) => fail(r),
        Command::DeliveryTried(id, n, o, r) => {
            keep_or_fail(r, move |r| Command::DeliveryTried(id, n, o, r))
        }
        Command::Resend(_, r) => fail(r),
        Command::Batch(_, r) => fail(r),
        Command::Cancel(_, _, r) => fail(r),
        Command::Import(_, _, _, r) => Box::new(move |fate| {
            let _ = r.send(Err(ImportError::Task(match fate {
                Fate::Failed { error, .. } => error.clone(),
                Fate::Committed => TaskError::ShuttingDown,
            })));
            None
        }),
        Command::Stop => Box::new(|_| None),
    }
}

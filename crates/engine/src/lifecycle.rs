//! What each operation does to tasks, inside one write transaction.
//!
//! Every function reads the current state and checks the transition table before
//! it writes anything, so a refused operation leaves the transaction untouched and
//! a late or duplicate outcome is a no-op. The writer runs these; nothing else does.

use crate::backoff::Backoff;
use crate::budget::{self, Spent};
use crate::error::{RecordError, TaskError};
use crate::events::Draft;
use crate::fallback::Next;
use crate::prompt::{self, Values};
use crate::state::TaskState;
use crate::storage::{TaskTxn, Was};
use crate::task::{Attempt, AttemptOutcome, ErrorClass, Failure, Real, Task, TaskId};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use serde::Serialize;

pub(crate) struct Ctx<'a> {
    pub now: DateTime<Utc>,
    pub backoff: Backoff,
    pub rng: &'a mut StdRng,
    pub events: &'a mut Vec<Draft>,
    /// Schedules saved or removed, published after the commit like `events`.
    pub schedules: &'a mut Vec<crate::events::ScheduleEvent>,
}

/// How an attempt ended, as the executor reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptResult {
    Completed {
        output: String,
        /// The answer parsed, when the task has an output schema it matched.
        output_json: Option<serde_json::Value>,
    },
    Failed {
        error: String,
        retryable: bool,
        /// The provider's Retry-After: used instead of the backoff.
        retry_after: Option<std::time::Duration>,
        /// The class, HTTP status and message of a provider error.
        failure: Option<Failure>,
    },
    /// The answer is not JSON or does not match the task's output schema:
    /// retried (class `schema_mismatch`), the answer kept on its attempt.
    Mismatch {
        output: String,
        error: String,
    },
    TimedOut {
        after_ms: u64,
    },
    /// The engine stopped the attempt (shutdown past its grace period); the
    /// attempt does not count against the task.
    Interrupted,
}

#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub id: TaskId,
    /// Which claim of the task this outcome belongs to: the length of its history
    /// right after that claim. Unlike `attempts`, it never resets (a manual retry
    /// resets attempts), so an outcome from any earlier claim is recognised as
    /// stale. ("Run" is kept for a schedule's runs and the `baton run` command.)
    pub claim_no: u32,
    pub result: AttemptResult,
    pub usage: AttemptUsage,
    /// For a `context_length` failure: whether the prompt fits each of the
    /// task's targets (by index; an unknown window fits). Empty otherwise.
    pub fits: Vec<bool>,
}

/// What the executor measured of an attempt, whatever its outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AttemptUsage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// The tokens were counted by Baton: the provider reported none.
    pub estimated: bool,
    pub ttft_ms: Option<u64>,
    /// From the provider's price table, when it has one and tokens are known.
    pub cost_usd: Option<f64>,
    /// Why the answer stopped, as the provider said.
    pub finish_reason: Option<String>,
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Cancelled {
    pub task: Task,
    /// The state before the cancel.
    pub previous: TaskState,
    /// False when the task was already cancelled.
    pub changed: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImportReport {
    pub imported: usize,
    /// Ids already in the database; those records were left out, not overwritten.
    pub skipped_existing: Vec<TaskId>,
    pub schedules_imported: usize,
    /// Names of schedules left out because one with that id or name is stored.
    pub skipped_schedules: Vec<String>,
    pub groups_imported: usize,
    /// Names of groups left out because one with that id or name is stored.
    pub skipped_groups: Vec<String>,
}

/// Writes `new` over the record `old` describes, refusing an edge the state
/// machine does not have.
pub(crate) fn save(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    old: Was,
    new: Task,
) -> Result<Task, TaskError> {
    save_over(txn, ctx, old, old.status, new)
}

/// [`save`] for a task that has moved in memory since its record was written
/// (see [`Promoting`]): `stored` describes the record, `from` is the state the
/// task is in now, which the edge is checked from and the event says.
fn save_over(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    stored: Was,
    from: TaskState,
    new: Task,
) -> Result<Task, TaskError> {
    check_move(stored.id, from, new.status)?;
    txn.put(Some(stored), &new)?;
    moved(txn, ctx, from, &new)?;
    Ok(new)
}

/// Refuses an edge the state machine does not have.
fn check_move(id: TaskId, from: TaskState, to: TaskState) -> Result<(), TaskError> {
    if from != to && !from.can_move_to(to) {
        return Err(TaskError::conflict(
            id,
            from,
            format!("it cannot move to {to}"),
        ));
    }
    Ok(())
}

/// What follows a move of `task` from `from`, written or not yet: its event,
/// and its group's counts.
fn moved(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    from: TaskState,
    task: &Task,
) -> Result<(), TaskError> {
    if from != task.status {
        ctx.events.push(Draft::state(Some(from), task, ctx.now));
        // A group's counts change with its members, in the same transaction.
        if let Some(member) = &task.group {
            crate::group::on_change(txn, ctx, member, from, task)?;
        }
    }
    Ok(())
}

/// Inserts a task built by the engine; its state follows its schedule.
pub(crate) fn create(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    mut task: Task,
) -> Result<Task, TaskError> {
    task.created_at = ctx.now;
    task.status = ready_state(&task, ctx.now);
    txn.put(None, &task)?;
    ctx.events.push(Draft::state(None, &task, ctx.now));
    Ok(task)
}

/// Inserts a child of `task.parent_task_id`: waiting, or ready with the parent's
/// output bound when the parent has already completed.
pub(crate) fn chain(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    mut task: Task,
) -> Result<Task, TaskError> {
    let parent_id = task
        .parent_task_id
        .ok_or_else(|| TaskError::invalid("parent_task_id", "a chained task needs a parent"))?;
    let parent = txn.get(parent_id)?.ok_or_else(|| {
        TaskError::invalid(
            "parent_task_id",
            format!("cannot chain onto {parent_id}: no task has that id"),
        )
    })?;
    if parent.output_schema.is_none() {
        if let Some(path) = prompt::parent_fields(&task.prompt).first() {
            return Err(TaskError::invalid(
                "prompt",
                format!(
                    "the prompt names {{{{parent.output.{path}}}}}, but the parent task {parent_id} has no output schema, so its answer has no fields"
                ),
            ));
        }
    }
    task.created_at = ctx.now;
    // A chained task is found by its parent's tags too.
    let inherited: Vec<String> = parent.tags.iter().chain(&task.tags).cloned().collect();
    task.tags = crate::task::normalize_tags(&inherited)?;
    match parent.status {
        TaskState::Failed | TaskState::Cancelled => {
            return Err(TaskError::conflict(
                parent.id,
                parent.status,
                "a task cannot be chained onto a failed or cancelled parent",
            ))
        }
        TaskState::Completed => {
            task.effective_prompt = Some(with_parent_output(&task.prompt, &parent));
            task.status = ready_state(&task, ctx.now);
        }
        _ => task.status = TaskState::Waiting,
    }
    txn.put(None, &task)?;
    ctx.events.push(Draft::state(None, &task, ctx.now));
    Ok(task)
}

/// A chained prompt with its parent's output bound: what it will be sent, but
/// for the variables its attempt binds (`{{date}}`, …).
fn with_parent_output(prompt: &str, parent: &Task) -> String {
    let values = Values {
        parent_output: Some(parent.output.as_deref().unwrap_or("")),
        parent_json: parent.output_json.as_ref(),
        ..Values::default()
    };
    prompt::bind(prompt, &values)
}

/// Binds the variables of a task's prompt for the attempt starting `now`: the
/// time in its zone, its schedule's name and previous output, its parent's
/// output. After an answer that failed the output schema, the prompt ends with
/// that answer and its errors. A prompt without either keeps what it had.
fn bind_for_run(txn: &impl TaskTxn, task: &mut Task, now: DateTime<Utc>) -> Result<(), TaskError> {
    let correction = task
        .output_schema
        .as_ref()
        .and_then(|_| crate::structured::correction(&task.history));
    // A join's `{{items}}` are its group's answers, read as its attempt starts.
    let joined = match task.group.as_ref().filter(|m| m.is_join()) {
        Some(m) => Some(crate::group::join_prompt(txn, m.group_id, &task.prompt)?),
        None => None,
    };
    let text = joined.as_deref().unwrap_or(&task.prompt);
    if !prompt::has_variables(text) && correction.is_none() {
        if joined.is_some() {
            task.effective_prompt = joined;
        }
        return Ok(());
    }
    let parent = match task.parent_task_id {
        Some(id) => txn.get(id)?,
        None => None,
    };
    let schedule = match task.schedule_id {
        Some(id) => txn.schedule(id)?,
        None => None,
    };
    let last = match &schedule {
        Some(s) if task.prompt.contains("last_output") => {
            match previous_fire_output(txn, task, s)? {
                Some(id) => txn.get(id)?,
                None => None,
            }
        }
        _ => None,
    };
    let zone = task
        .timezone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let values = Values {
        schedule_name: schedule.as_ref().map(|s| s.name.as_str()),
        // A schedule's first fire has no previous output: empty, not the placeholder.
        last_output: task.schedule_id.map(|_| {
            last.as_ref()
                .and_then(|t| t.output.as_deref())
                .unwrap_or("")
        }),
        parent_output: parent.as_ref().map(|p| p.output.as_deref().unwrap_or("")),
        parent_json: parent.as_ref().and_then(|p| p.output_json.as_ref()),
        ..Values::at(now, zone)
    };
    let mut bound = prompt::bind(text, &values);
    bound.push_str(correction.as_deref().unwrap_or(""));
    // Nothing to bind (a record saved before variables, naming none it has).
    if bound != task.prompt {
        task.effective_prompt = Some(bound);
    }
    Ok(())
}

/// The task whose output is `{{last_output}}` for `task`: the schedule's latest
/// completed fire before the one `task` belongs to.
fn previous_fire_output(
    txn: &impl TaskTxn,
    task: &Task,
    s: &crate::schedule::Schedule,
) -> Result<Option<TaskId>, TaskError> {
    let mut root = task.id;
    let mut parent = task.parent_task_id;
    // A follow-up's fire is its chain's first task (at most MAX_FOLLOW_UPS up).
    while let Some(id) = parent {
        root = id;
        parent = txn.get(id)?.and_then(|t| t.parent_task_id);
    }
    Ok(if s.last_output_task == Some(root) {
        s.previous_output_task
    } else {
        s.last_output_task
    })
}

pub(crate) fn ready_state(task: &Task, now: DateTime<Utc>) -> TaskState {
    match task.start_at {
        Some(at) if at > now => TaskState::Scheduled,
        _ => TaskState::Queued,
    }
}

/// Moves up to `max` queued tasks to running, oldest-due first.
#[cfg(test)]
pub(crate) fn claim(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    max: usize,
) -> Result<Vec<Task>, TaskError> {
    claim_where(txn, ctx, max, max, |_| true)
}

/// Moves up to `max` queued tasks to running, oldest-due first, among the first
/// `scan` queued ones, skipping those `admit` holds back (a provider at a limit):
/// a held task stays queued and keeps its place. `admit` sees the attempt as
/// it would start (its prompt bound): it picks the target the attempt goes to
/// (see [`crate::fallback::at_claim`]) and reserves what budgets need, or
/// answers false to hold the task.
pub(crate) fn claim_where(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    max: usize,
    scan: usize,
    mut admit: impl FnMut(&mut Task) -> bool,
) -> Result<Vec<Task>, TaskError> {
    let scan = scan.max(max);
    let mut claimed = Vec::new();
    // Held tasks stay queued, ahead of the rest, and claimed ones leave the
    // queue: so the queue is read a page at a time, the first `held` entries of
    // each read being the tasks already held back. Reading all `scan` entries
    // up front cost more than the claim itself when one task was wanted.
    let mut held = 0;
    loop {
        let need = max - claimed.len();
        let budget = scan - claimed.len() - held;
        if need == 0 || budget == 0 {
            break;
        }
        // At least as many as are held, so pages grow while tasks are held back.
        let page = need.max(held).min(budget);
        let ids = txn.queue_head(held + page)?;
        let fresh = ids.get(held..).unwrap_or_default();
        for id in fresh {
            if claimed.len() >= max {
                break;
            }
            let task = txn.require(*id)?;
            let stored = Was::of(&task);
            match claim_one(txn, ctx, task, stored, &mut admit)? {
                Claim::Started(task) => claimed.push(task),
                Claim::Held => held += 1,
                Claim::Failed => {}
            }
        }
        if fresh.len() < page {
            break; // the queue has no more
        }
    }
    Ok(claimed)
}

/// What [`claim_one`] did with a queued task.
// Returned once per task and consumed at once: boxing the task would cost an
// allocation per claim on the hot path for nothing.
#[allow(clippy::large_enum_variant)]
enum Claim {
    Started(Task),
    /// `admit` held it back: it stays queued.
    Held,
    /// Its prompt cannot be bound: failed at once.
    Failed,
}

/// Moves one queued task to running, if `admit` lets it: the one place an
/// attempt starts (the dispatcher's claims and the batcher's both come here).
///
/// `task` is queued; `stored` describes its record, which says scheduled when
/// the task was promoted in memory ([`claim_promoted`]).
fn claim_one(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    mut task: Task,
    stored: Was,
    admit: &mut impl FnMut(&mut Task) -> bool,
) -> Result<Claim, TaskError> {
    let from = task.status;
    if let Some(why) = missing_parent_field(txn, &task)? {
        fail_at_claim(txn, ctx, &task, stored, why)?;
        return Ok(Claim::Failed);
    }
    // Changed in place: a held task is dropped unwritten.
    task.status = TaskState::Running;
    task.attempts += 1;
    task.started_at = Some(ctx.now);
    // A new attempt streams its own output; a retry's replaces a partial one.
    task.output = None;
    task.output_json = None;
    // Numbered by its place in the history, not by `attempts`: an
    // interrupted attempt is given back (and a manual retry resets
    // `attempts`), and two entries must never share a number.
    let number = task.history.len() as u32 + 1;
    task.history.push(Attempt::started(number, ctx.now));
    // Bound before admission: limits and budgets weigh the prompt sent.
    bind_for_run(txn, &mut task, ctx.now)?;
    if !admit(&mut task) {
        return Ok(Claim::Held);
    }
    let (provider, model) = task.target();
    let (provider, model) = (provider.to_string(), model.to_string());
    if let Some(attempt) = task.history.last_mut() {
        attempt.provider = Some(provider);
        attempt.model = Some(model);
    }
    Ok(Claim::Started(save_over(txn, ctx, stored, from, task)?))
}

/// Claims the listed queued tasks (those `admit` lets through), in order: the
/// batcher's claim of the tasks it gathered. A task no longer queued is passed over.
pub(crate) fn claim_listed(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    ids: &[TaskId],
    mut admit: impl FnMut(&mut Task) -> bool,
) -> Result<Vec<Task>, TaskError> {
    let mut claimed = Vec::new();
    for id in ids {
        let Some(task) = txn.get(*id)?.filter(|t| t.status == TaskState::Queued) else {
            continue;
        };
        let stored = Was::of(&task);
        if let Claim::Started(task) = claim_one(txn, ctx, task, stored, &mut admit)? {
            claimed.push(task);
        }
    }
    Ok(claimed)
}

/// Why a prompt naming `{{parent.output.PATH}}` cannot be bound: the parent's
/// parsed output has no such field. `None` when every field it names is there.
fn missing_parent_field(txn: &impl TaskTxn, task: &Task) -> Result<Option<String>, TaskError> {
    let paths = prompt::parent_fields(&task.prompt);
    let Some(parent_id) = task.parent_task_id.filter(|_| !paths.is_empty()) else {
        return Ok(None);
    };
    let parent = txn.get(parent_id)?;
    let json = parent.as_ref().and_then(|p| p.output_json.as_ref());
    for path in paths {
        if json
            .and_then(|v| crate::structured::field(v, path))
            .is_none()
        {
            let why = if json.is_none() {
                "it has no parsed output (the parent needs an output schema)"
            } else {
                "its parsed output has no such field"
            };
            return Ok(Some(format!(
                "the prompt names {{{{parent.output.{path}}}}}, but the parent task {parent_id} has no field '{path}': {why}"
            )));
        }
    }
    Ok(None)
}

/// Starts and at once fails an attempt that cannot be sent, with `why`: no
/// retry can bind what the parent's finished answer lacks.
fn fail_at_claim(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    old: &Task,
    stored: Was,
    why: String,
) -> Result<(), TaskError> {
    let mut task = old.clone();
    task.status = TaskState::Running;
    task.attempts += 1;
    task.started_at = Some(ctx.now);
    task.output = None;
    task.history
        .push(Attempt::started(task.history.len() as u32 + 1, ctx.now));
    let running = save_over(txn, ctx, stored, old.status, task)?;
    let outcome = Outcome {
        id: running.id,
        claim_no: running.history.len() as u32,
        result: AttemptResult::Failed {
            error: why,
            retryable: false,
            retry_after: None,
            failure: None,
        },
        usage: AttemptUsage::default(),
        fits: Vec::new(),
    };
    finish(txn, ctx, &outcome)?;
    Ok(())
}

/// Appends streamed output to claim `claim_no` of a task, while that claim is the task's
/// current one and it is running (or was cancelled during it: a cancelled task
/// keeps its partial output). Anything else is a late write and changes nothing.
pub(crate) fn append_output(
    txn: &mut impl TaskTxn,
    id: TaskId,
    claim_no: u32,
    text: &str,
) -> Result<bool, TaskError> {
    let Some(mut task) = txn.get(id)? else {
        return Ok(false);
    };
    if task.history.len() != claim_no as usize
        || !matches!(task.status, TaskState::Running | TaskState::Cancelled)
    {
        return Ok(false);
    }
    let old = Was::of(&task);
    task.output.get_or_insert_with(String::new).push_str(text);
    txn.put(Some(old), &task)?;
    Ok(true)
}

/// Moves scheduled tasks that are due to queued. Returns how many moved and when
/// the next one falls due. (The writer promotes with [`promote`], which the
/// claim that follows writes.)
#[cfg(test)]
pub(crate) fn promote_due(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
) -> Result<(usize, Option<DateTime<Utc>>), TaskError> {
    let promoting = promote(txn, ctx)?;
    let next = promoting.next;
    Ok((promoting.write(txn)?, next))
}

/// Due tasks moved to queued in memory: their events are drafted and their
/// groups counted, but their records still say scheduled. A claim in the same
/// unit ([`claim_promoted`]) then writes each task once, as running or as
/// queued, instead of writing it queued and reading it back: a burst of due
/// tasks costs half the encoding and index work. Whoever holds one must write
/// it: [`claim_promoted`] or [`Promoting::write`].
#[must_use = "the promoted tasks are not written yet"]
pub(crate) struct Promoting {
    /// In due order, which is claim order (the queue's key is the due time).
    tasks: Vec<Task>,
    /// When the next scheduled task falls due.
    pub next: Option<DateTime<Utc>>,
}

/// The record of a task [`Promoting`] holds: still scheduled.
fn scheduled(task: &Task) -> Was {
    Was {
        status: TaskState::Scheduled,
        ..Was::of(task)
    }
}

/// Moves the scheduled tasks that are due to queued, in memory: see [`Promoting`].
pub(crate) fn promote(txn: &mut impl TaskTxn, ctx: &mut Ctx) -> Result<Promoting, TaskError> {
    let (due, next) = txn.due_by(ctx.now)?;
    let mut promoting = Promoting {
        tasks: Vec::with_capacity(due.len()),
        next,
    };
    for id in &due {
        let moved_one = txn.require(*id).and_then(|mut task| {
            task.status = TaskState::Queued;
            check_move(task.id, TaskState::Scheduled, task.status)?;
            moved(txn, ctx, TaskState::Scheduled, &task)?;
            Ok(task)
        });
        match moved_one {
            Ok(task) => promoting.tasks.push(task),
            Err(e) => {
                // Those already moved are written, as when each was saved in turn.
                promoting.write(txn)?;
                return Err(e);
            }
        }
    }
    Ok(promoting)
}

impl Promoting {
    /// Writes every task it holds as queued. Returns how many.
    pub fn write(self, txn: &mut impl TaskTxn) -> Result<usize, TaskError> {
        let n = self.tasks.len();
        write_promoted(txn, self.tasks)?;
        Ok(n)
    }
}

/// Writes promoted tasks as they are in memory: queued, over their scheduled records.
fn write_promoted(
    txn: &mut impl TaskTxn,
    tasks: impl IntoIterator<Item = Task>,
) -> Result<(), TaskError> {
    for task in tasks {
        txn.put(Some(scheduled(&task)), &task)?;
    }
    Ok(())
}

/// [`claim_where`] right after [`promote`], in the same unit. When nothing else
/// was queued, the promoted tasks are the whole queue in claim order, so they
/// are claimed from memory and each is written once; otherwise they are
/// written queued and the queue is claimed as usual. Either way every
/// promoted task is written, and the tasks claimed, the tasks held, the
/// events and the records are what promoting and then claiming would give.
pub(crate) fn claim_promoted(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    promoting: Promoting,
    max: usize,
    scan: usize,
    mut admit: impl FnMut(&mut Task) -> bool,
) -> Result<Vec<Task>, TaskError> {
    let alone = max > 0 && !promoting.tasks.is_empty() && txn.queue_head(1)?.is_empty();
    if !alone {
        promoting.write(txn)?;
        return claim_where(txn, ctx, max, scan, admit);
    }
    let scan = scan.max(max);
    let mut claimed = Vec::new();
    let mut held = 0;
    let mut rest = promoting.tasks.into_iter();
    for task in rest.by_ref() {
        let stored = scheduled(&task);
        match claim_one(txn, ctx, task, stored, &mut admit) {
            Ok(Claim::Started(task)) => claimed.push(task),
            Ok(Claim::Failed) => {}
            Ok(Claim::Held) => {
                held += 1;
                write_queued(txn, stored)?;
            }
            Err(e) => {
                if txn
                    .get(stored.id)?
                    .is_some_and(|t| t.status == TaskState::Scheduled)
                {
                    write_queued(txn, stored)?;
                }
                write_promoted(txn, rest)?;
                return Err(e);
            }
        }
        if claimed.len() == max || claimed.len() + held == scan {
            break;
        }
    }
    write_promoted(txn, rest)?;
    Ok(claimed)
}

/// Writes a promoted task the claim held back (or failed on) as queued: its
/// record as stored, moved to queued, which is all promotion changes.
fn write_queued(txn: &mut impl TaskTxn, stored: Was) -> Result<(), TaskError> {
    let mut task = txn.require(stored.id)?;
    task.status = TaskState::Queued;
    txn.put(Some(stored), &task)
}

/// Records an attempt's outcome. `None` when it is stale: the task is no longer
/// running that attempt (cancelled, recovered, or a duplicate report).
pub(crate) fn finish(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    outcome: &Outcome,
) -> Result<Option<Task>, TaskError> {
    let Some(mut task) = txn.get(outcome.id)? else {
        return Ok(None);
    };
    if task.status != TaskState::Running || task.history.len() != outcome.claim_no as usize {
        return Ok(None);
    }
    let old = Was::of(&task);
    let now = ctx.now;
    let spent = Spent {
        tokens: outcome
            .usage
            .prompt_tokens
            .zip(outcome.usage.completion_tokens)
            .map(|(p, c)| p + c),
        cost_usd: outcome.usage.cost_usd,
    };
    settle_budgets(txn, ctx, &mut task, Some(spent))?;
    let mut failure = None;
    let (attempt_outcome, attempt_error) = match &outcome.result {
        AttemptResult::Completed {
            output,
            output_json,
        } => {
            task.status = TaskState::Completed;
            task.output = Some(output.clone());
            task.output_json = output_json.clone();
            task.error = None;
            task.finished_at = Some(now);
            task.latency_ms = task
                .started_at
                .map(|s| (now - s).num_milliseconds().max(0) as u64);
            (AttemptOutcome::Completed, None)
        }
        AttemptResult::Failed {
            error,
            retryable,
            retry_after,
            failure: f,
        } => {
            task.failure = f.clone();
            let class = f.as_ref().map(|f| f.class);
            failure = f.clone();
            let step = crate::fallback::next(&task, class, *retryable, &outcome.fits);
            let (outcome, error) =
                after_failure(&mut task, ctx, step, class, error.clone(), *retry_after);
            (
                if outcome {
                    AttemptOutcome::Retrying
                } else {
                    AttemptOutcome::Failed
                },
                Some(error),
            )
        }
        AttemptResult::Mismatch { output, error } => {
            // What was streamed is this answer; a provider that streamed
            // nothing gave it whole.
            task.output = Some(output.clone());
            let f = Failure {
                class: ErrorClass::SchemaMismatch,
                status: None,
                message: None,
            };
            task.failure = Some(f.clone());
            failure = Some(f);
            // The model's answer, not the target's trouble: again on the same one.
            let class = Some(ErrorClass::SchemaMismatch);
            let step = crate::fallback::next(&task, class, true, &[]);
            let (outcome, error) = after_failure(&mut task, ctx, step, class, error.clone(), None);
            (
                if outcome {
                    AttemptOutcome::Retrying
                } else {
                    AttemptOutcome::Failed
                },
                Some(error),
            )
        }
        AttemptResult::TimedOut { after_ms } => {
            let error = format!("timed out after {}", crate::task::format_ms(*after_ms));
            // A timeout is the target's trouble, like a transient error.
            let class = Some(ErrorClass::Transient);
            let step = crate::fallback::next(&task, class, true, &[]);
            let (_, error) = after_failure(&mut task, ctx, step, class, error, None);
            (AttemptOutcome::TimedOut, Some(error))
        }
        AttemptResult::Interrupted => {
            task.status = TaskState::Queued;
            task.attempts -= 1;
            (
                AttemptOutcome::Interrupted,
                Some("interrupted by shutdown".to_string()),
            )
        }
    };
    if task.status == TaskState::Completed {
        task.failure = None;
    }
    close_attempt(&mut task, now, attempt_outcome, attempt_error);
    keep_partial_answer(&mut task, failure.as_ref());
    record_usage(&mut task, outcome.usage.clone(), failure);
    let task = save(txn, ctx, old, task)?;
    if task.status == TaskState::Completed {
        // The outbox: its deliveries are durable with the completion.
        crate::outbox::record(txn, ctx, &task)?;
    }
    after_change(txn, ctx, &task)?;
    Ok(Some(task))
}

/// Settles the running attempt's budget reservations (see `budget`): with
/// what it spent, or (`None`: unknown) at its worst case, since the provider
/// may have billed it.
fn settle_budgets(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    task: &mut Task,
    spent: Option<Spent>,
) -> Result<(), TaskError> {
    if task.reserved.is_empty() {
        return Ok(());
    }
    let mut budgets = txn.budgets()?;
    for r in std::mem::take(&mut task.reserved) {
        // A budget removed meanwhile has nothing left to settle.
        if let Some(b) = budgets.iter_mut().find(|b| b.name == r.budget) {
            if let Some(warning) = budget::settle(b, &r, spent, task, ctx.now) {
                ctx.events.push(warning);
            }
            txn.put_budget(b)?;
        }
    }
    Ok(())
}

/// An answer the server ended before finishing, or one that failed the output
/// schema, stays on its attempt: the next claim clears the task's `output` for
/// the retry's answer (and shows the model the invalid one).
fn keep_partial_answer(task: &mut Task, failure: Option<&Failure>) {
    if failure
        .is_some_and(|f| matches!(f.class, ErrorClass::Incomplete | ErrorClass::SchemaMismatch))
    {
        let partial = task.output.clone();
        if let Some(attempt) = task.history.last_mut() {
            attempt.partial_output = partial;
        }
    }
}

/// Puts an attempt's measurements on its history entry and adds its tokens and
/// cost to the task's totals (which span every attempt: failed ones cost too).
fn record_usage(task: &mut Task, usage: AttemptUsage, failure: Option<Failure>) {
    task.finish_reason.clone_from(&usage.finish_reason);
    if usage.estimated {
        task.usage_estimated = true;
    }
    if let Some(attempt) = task.history.last_mut() {
        attempt.prompt_tokens = usage.prompt_tokens;
        attempt.completion_tokens = usage.completion_tokens;
        attempt.usage_estimated = usage.estimated;
        attempt.finish_reason = usage.finish_reason;
        attempt.ttft_ms = usage.ttft_ms;
        attempt.cost_usd = usage.cost_usd.map(Real);
        attempt.failure = failure;
        attempt.latency_ms = attempt
            .finished_at
            .map(|end| (end - attempt.started_at).num_milliseconds().max(0) as u64);
    }
    let add = |total: &mut Option<u64>, n: Option<u64>| {
        if let Some(n) = n {
            *total = Some(total.unwrap_or(0) + n);
        }
    };
    add(&mut task.prompt_tokens, usage.prompt_tokens);
    add(&mut task.completion_tokens, usage.completion_tokens);
    if let Some(cost) = usage.cost_usd {
        task.cost_usd = Some(Real(task.cost_usd.map_or(0.0, |c| c.0) + cost));
    }
}

/// Sets a failed attempt's next state, as `step` says (see
/// [`crate::fallback::next`]); true when another attempt will run. Returns the
/// error as kept. The provider's `retry_after`, when it gave one, replaces the
/// backoff of an attempt on the same target; a switch to another target is
/// queued at once.
fn after_failure(
    task: &mut Task,
    ctx: &mut Ctx,
    step: Next,
    class: Option<ErrorClass>,
    error: String,
    retry_after: Option<std::time::Duration>,
) -> (bool, String) {
    match step {
        Next::Again => {
            task.error = Some(error.clone());
            let delay = retry_after.unwrap_or_else(|| ctx.backoff.delay(task.attempts, ctx.rng));
            task.status = TaskState::Scheduled;
            task.start_at =
                Some(ctx.now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX));
            (true, error)
        }
        Next::Switch { to, warn } => {
            task.error = Some(error.clone());
            let from = task.target_index as usize;
            task.target_index = to as u32;
            task.status = TaskState::Queued;
            let draft = Draft::fallback(
                task,
                from,
                class.unwrap_or(ErrorClass::Transient),
                warn,
                ctx.now,
            );
            if warn {
                if let crate::events::EventKind::Fallback { message, .. } = &draft.kind {
                    tracing::warn!(task_id = %task.id, "{message}");
                }
            }
            ctx.events.push(draft);
            (true, error)
        }
        Next::Fail { why } => {
            let error = match why {
                Some(why) => format!("{error}; {why}"),
                None => error,
            };
            task.error = Some(error.clone());
            task.status = TaskState::Failed;
            task.finished_at = Some(ctx.now);
            (false, error)
        }
    }
}

/// Closes the running attempt: the last one in the history.
fn close_attempt(
    task: &mut Task,
    now: DateTime<Utc>,
    outcome: AttemptOutcome,
    error: Option<String>,
) {
    if let Some(attempt) = task.history.last_mut().filter(|a| a.outcome.is_none()) {
        attempt.finished_at = Some(now);
        attempt.outcome = Some(outcome);
        attempt.error = error;
    }
}

/// Completion releases waiting children; failure or cancellation cancels them.
/// The end of a schedule's fire may start a fire queued behind it.
pub(crate) fn after_change(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    task: &Task,
) -> Result<(), TaskError> {
    release_children(txn, ctx, task)?;
    if task.status.is_terminal() {
        crate::firing::fire_ended(txn, ctx, task)?;
    }
    Ok(())
}

fn release_children(txn: &mut impl TaskTxn, ctx: &mut Ctx, task: &Task) -> Result<(), TaskError> {
    match task.status {
        TaskState::Completed => {
            for child_id in txn.children(task.id)? {
                let old = txn.require(child_id)?;
                if old.status != TaskState::Waiting {
                    continue;
                }
                let mut child = old.clone();
                child.effective_prompt = Some(with_parent_output(&child.prompt, task));
                child.status = ready_state(&child, ctx.now);
                save(txn, ctx, Was::of(&old), child)?;
            }
        }
        TaskState::Failed | TaskState::Cancelled => {
            let reason = format!(
                "parent task {} {}",
                task.id,
                if task.status == TaskState::Failed {
                    "failed"
                } else {
                    "was cancelled"
                }
            );
            for child_id in txn.children(task.id)? {
                let old = txn.require(child_id)?;
                if old.status != TaskState::Waiting {
                    continue;
                }
                let mut child = old.clone();
                child.status = TaskState::Cancelled;
                child.cancel_reason = Some(reason.clone());
                child.finished_at = Some(ctx.now);
                let child = save(txn, ctx, Was::of(&old), child)?;
                after_change(txn, ctx, &child)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Cancels a task. Already cancelled: unchanged. Completed or failed: refused.
pub(crate) fn cancel(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    id: TaskId,
    reason: Option<String>,
) -> Result<Cancelled, TaskError> {
    let old = txn.require(id)?;
    if old.status == TaskState::Cancelled {
        return Ok(Cancelled {
            previous: old.status,
            task: old,
            changed: false,
        });
    }
    if !old.status.is_cancellable() {
        return Err(TaskError::conflict(
            id,
            old.status,
            "only scheduled, queued, waiting or running tasks can be cancelled; nothing changed",
        ));
    }
    let mut task = old.clone();
    task.status = TaskState::Cancelled;
    task.cancel_reason = Some(reason.unwrap_or_else(|| "cancelled by user".to_string()));
    task.finished_at = Some(ctx.now);
    if old.status == TaskState::Running {
        close_attempt(&mut task, ctx.now, AttemptOutcome::Cancelled, None);
        // The call is aborted, its usage unknown.
        settle_budgets(txn, ctx, &mut task, None)?;
    }
    let task = save(txn, ctx, Was::of(&old), task)?;
    after_change(txn, ctx, &task)?;
    Ok(Cancelled {
        task,
        previous: old.status,
        changed: true,
    })
}

/// A manual retry of a failed or cancelled task: attempts start again.
pub(crate) fn retry(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    id: TaskId,
    max_attempts: Option<u32>,
) -> Result<Task, TaskError> {
    let old = txn.require(id)?;
    if !matches!(old.status, TaskState::Failed | TaskState::Cancelled) {
        return Err(TaskError::conflict(
            id,
            old.status,
            "only failed or cancelled tasks can be retried",
        ));
    }
    let mut task = old.clone();
    if let Some(parent_id) = old.parent_task_id {
        let parent = txn.require(parent_id)?;
        match parent.status {
            TaskState::Completed => {
                task.effective_prompt = Some(with_parent_output(&task.prompt, &parent));
                task.status = TaskState::Queued;
            }
            TaskState::Failed | TaskState::Cancelled => {
                return Err(TaskError::conflict(
                    id,
                    old.status,
                    format!(
                        "its parent {parent_id} is {}; retry the parent first",
                        parent.status
                    ),
                ))
            }
            _ => task.status = TaskState::Waiting,
        }
    } else if old.group.as_ref().is_some_and(|m| m.is_join()) {
        // A join waits for its group's rows again (see `group`).
        task.status = TaskState::Waiting;
    } else {
        task.status = TaskState::Queued;
    }
    if let Some(n) = max_attempts {
        task.max_attempts = n;
    }
    // A retry runs now: a start time still ahead (a task cancelled while it was
    // scheduled) would otherwise keep its place in the queue behind tasks due earlier.
    if task.start_at.is_some_and(|at| at > ctx.now) {
        task.start_at = Some(ctx.now);
    }
    task.attempts = 0;
    // Attempts start again from the task's own target.
    task.target_index = 0;
    task.output = None;
    task.error = None;
    task.failure = None;
    task.finish_reason = None;
    task.cancel_reason = None;
    task.started_at = None;
    task.finished_at = None;
    task.latency_ms = None;
    let task = save(txn, ctx, Was::of(&old), task)?;
    match &task.group {
        Some(member) if member.is_join() => {
            crate::group::join_waiting(txn, ctx, member.group_id)?;
            txn.require(id)
        }
        _ => Ok(task),
    }
}

/// The running attempts of owners that are gone which a submitted provider
/// batch holds ([`recover`] leaves them running: their results will come):
/// rewritten as this process's own, so on a shared queue this runner's batch
/// loop polls them and no other rescuer takes them. Run after [`recover`] in
/// the same unit.
pub(crate) fn adopt_batches(txn: &mut impl TaskTxn) -> Result<Vec<Task>, TaskError> {
    let mut adopted = Vec::new();
    for id in txn.orphaned_running()? {
        let task = txn.require(id)?;
        if crate::batcher::owned_by_batch(&task) {
            txn.put(Some(Was::of(&task)), &task)?;
            adopted.push(task);
        }
    }
    Ok(adopted)
}

/// Crash recovery: the running tasks whose owner is gone (see
/// [`TaskTxn::orphaned_running`]) were interrupted by a crash or kill.
pub(crate) fn recover(txn: &mut impl TaskTxn, ctx: &mut Ctx) -> Result<Vec<Task>, TaskError> {
    let mut recovered = Vec::new();
    for id in txn.orphaned_running()? {
        let old = txn.require(id)?;
        // An attempt a provider batch holds is not lost: its results will come.
        if crate::batcher::owned_by_batch(&old) {
            continue;
        }
        let mut task = old.clone();
        mark_interrupted(&mut task, ctx.now);
        crate::batcher::back_to_batch(&mut task, ctx.now);
        // What the lost attempt spent is unknown.
        settle_budgets(txn, ctx, &mut task, None)?;
        let task = save(txn, ctx, Was::of(&old), task)?;
        after_change(txn, ctx, &task)?;
        recovered.push(task);
    }
    Ok(recovered)
}

/// A running attempt that will never report: it counts as used; the task is
/// queued again, or failed ("interrupted") when no attempt is left.
fn mark_interrupted(task: &mut Task, now: DateTime<Utc>) {
    if task.attempts < task.max_attempts {
        task.status = TaskState::Queued;
    } else {
        task.status = TaskState::Failed;
        task.error = Some("interrupted".to_string());
        task.finished_at = Some(now);
    }
    close_attempt(
        task,
        now,
        AttemptOutcome::Interrupted,
        Some("interrupted: the engine stopped while this attempt ran".to_string()),
    );
}

/// Inserts validated records. Checks everything before writing anything: an id
/// already stored is skipped and reported; a parent found neither in the file nor
/// in the database fails the whole import.
pub(crate) fn import(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    tasks: Vec<Task>,
) -> Result<ImportReport, crate::error::ImportError> {
    let mut report = ImportReport::default();
    let in_file: std::collections::HashSet<TaskId> = tasks.iter().map(|t| t.id).collect();
    let mut fresh = Vec::new();
    let mut bad = Vec::new();
    for (index, task) in tasks.into_iter().enumerate() {
        if txn.get(task.id)?.is_some() {
            report.skipped_existing.push(task.id);
            continue;
        }
        if let Some(parent) = task.parent_task_id {
            if !in_file.contains(&parent) && txn.get(parent)?.is_none() {
                bad.push(RecordError {
                    index,
                    id: Some(task.id),
                    message: format!("its parent {parent} is neither in the file nor stored"),
                });
            }
        }
        fresh.push(task);
    }
    if !bad.is_empty() {
        return Err(crate::error::ImportError::BadRecords(bad));
    }
    for task in fresh.iter_mut() {
        if task.status == TaskState::Running {
            // It was running in the exporting engine: that attempt is lost, as in a crash.
            mark_interrupted(task, ctx.now);
            crate::batcher::back_to_batch(task, ctx.now);
        }
        // Reservations belong to the exporting database's budgets.
        task.reserved.clear();
        txn.put(None, task)?;
        ctx.events.push(Draft::state(None, task, ctx.now));
        report.imported += 1;
    }
    // A waiting record whose parent has already finished must not wait for ever,
    // and children of an imported running record that failed are cancelled.
    for task in &fresh {
        if task.status == TaskState::Failed {
            after_change(txn, ctx, task)?;
            continue;
        }
        if task.status != TaskState::Waiting {
            continue;
        }
        if let Some(parent) = task.parent_task_id.map(|p| txn.require(p)).transpose()? {
            if parent.status.is_terminal() {
                after_change(txn, ctx, &parent)?;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
pub(crate) mod tests;

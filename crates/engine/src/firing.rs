//! What schedules do inside one write transaction: save, pause, resume,
//! remove, fire now ("run now"), fire when due (with the missed-fire and overlap policies),
//! and start a queued fire when the active fire ends. The writer runs these.
//!
//! A fire and the tasks it creates are one transaction, so a crash never
//! leaves a fire recorded without its task, or a task without its fire.

use crate::error::TaskError;
use crate::events::ScheduleEvent;
use crate::lifecycle::{self, Ctx};
use crate::schedule::{
    MissedPolicy, OverlapPolicy, Recurrence, Schedule, ScheduleId, SkipReason, SkippedFires,
    CATCH_UP_LIMIT, MISFIRE_TOLERANCE, PENDING_LIMIT, SKIPPED_KEPT,
};
use crate::state::TaskState;
use crate::storage::TaskTxn;
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Most fire times one catch-up looks at (an every-second schedule after a
/// month away has millions); past it the rest are counted as "at least".
const SCAN_LIMIT: usize = 10_000;

/// How long a shared backend keeps the record of a fire time. The record
/// refuses a second fire only to a unit that read the schedule before the
/// first fire committed; units last seconds (a runner silent past its lease,
/// 30 s, is presumed gone), so an hour is ample, and keeps the records of an
/// every-second schedule to 3,600.
const FIRES_KEPT: chrono::TimeDelta = chrono::TimeDelta::hours(1);

fn require(txn: &impl TaskTxn, id: ScheduleId) -> Result<Schedule, TaskError> {
    txn.schedule(id)?
        .ok_or_else(|| TaskError::ScheduleNotFound(id.to_string()))
}

fn saved(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    old: Option<&Schedule>,
    new: Schedule,
) -> Result<Schedule, TaskError> {
    txn.put_schedule(old, &new)?;
    ctx.schedules.push(ScheduleEvent {
        at: ctx.now,
        schedule_id: new.id,
        schedule: Some(Arc::new(new.clone())),
        note: None,
    });
    Ok(new)
}

fn check_name_free(
    txn: &impl TaskTxn,
    name: &str,
    own: Option<ScheduleId>,
) -> Result<(), TaskError> {
    match txn.schedule_named(name)? {
        Some(other) if Some(other) != own => Err(TaskError::invalid(
            "name",
            format!("a schedule named '{name}' already exists; choose another name"),
        )),
        _ => Ok(()),
    }
}

fn recurrence(s: &Schedule, now: DateTime<Utc>) -> Result<Recurrence, TaskError> {
    Recurrence::parse(&s.cron, &s.timezone, now)
}

/// Stores a new schedule built and validated by the engine.
pub(crate) fn add(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    mut s: Schedule,
) -> Result<Schedule, TaskError> {
    check_name_free(txn, &s.name, None)?;
    let r = recurrence(&s, ctx.now)?;
    s.created_at = ctx.now;
    s.updated_at = ctx.now;
    s.next_fire_at = s.enabled.then(|| r.next_after(ctx.now)).flatten();
    saved(txn, ctx, None, s)
}

/// Replaces a schedule's settings (name, expression, zone, policies, task) by
/// `edit`'s. The next fire time is computed again from now: an edit takes
/// effect at once, and the time between is not "missed".
pub(crate) fn update(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    id: ScheduleId,
    edit: Schedule,
) -> Result<Schedule, TaskError> {
    let old = require(txn, id)?;
    check_name_free(txn, &edit.name, Some(id))?;
    let r = recurrence(&edit, ctx.now)?;
    let mut s = old.clone();
    s.name = edit.name;
    s.cron = edit.cron;
    s.timezone = edit.timezone;
    s.missed = edit.missed;
    s.max_lateness_ms = edit.max_lateness_ms;
    s.overlap = edit.overlap;
    s.template = edit.template;
    s.pause_after_failures = edit.pause_after_failures;
    s.updated_at = ctx.now;
    s.next_fire_at = s.enabled.then(|| r.next_after(ctx.now)).flatten();
    saved(txn, ctx, Some(&old), s)
}

/// Pauses (no fire while paused, and none is "missed") or resumes (the next
/// fire time after now). Setting the state it already has changes nothing.
pub(crate) fn set_enabled(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    id: ScheduleId,
    enabled: bool,
) -> Result<Schedule, TaskError> {
    let old = require(txn, id)?;
    if old.enabled == enabled {
        return Ok(old);
    }
    let mut s = old.clone();
    s.enabled = enabled;
    s.updated_at = ctx.now;
    if enabled {
        // Resuming starts the count again.
        s.failures_in_a_row = 0;
        s.auto_paused = None;
    }
    s.next_fire_at = if enabled {
        recurrence(&s, ctx.now)?.next_after(ctx.now)
    } else {
        None
    };
    saved(txn, ctx, Some(&old), s)
}

/// Deletes a schedule. The tasks it created stay, as ordinary tasks.
pub(crate) fn remove(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    id: ScheduleId,
) -> Result<Schedule, TaskError> {
    let old = require(txn, id)?;
    txn.remove_schedule(&old)?;
    ctx.schedules.push(ScheduleEvent {
        at: ctx.now,
        schedule_id: id,
        schedule: None,
        note: None,
    });
    Ok(old)
}

/// Starts a fire now, whatever the overlap policy: a person asked for it. The
/// next fire time does not move. Returns the fire's tasks, its first task first.
pub(crate) fn fire_now(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    id: ScheduleId,
) -> Result<Vec<Task>, TaskError> {
    let old = require(txn, id)?;
    let mut s = old.clone();
    s.active_fire.clear();
    let tasks = create_fire(txn, ctx, &mut s, None)?;
    saved(txn, ctx, Some(&old), s)?;
    Ok(tasks)
}

/// Fires every schedule that is due. Returns the next fire time of any schedule.
pub(crate) fn fire_due(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
) -> Result<Option<DateTime<Utc>>, TaskError> {
    let (due, mut next) = txn.schedules_due_by(ctx.now)?;
    for id in due {
        let s = fire(txn, ctx, id)?;
        if let Some(at) = s.next_fire_at {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    Ok(next)
}

/// Fires one due schedule: every fire time from its `next_fire_at` up to now.
fn fire(txn: &mut impl TaskTxn, ctx: &mut Ctx, id: ScheduleId) -> Result<Schedule, TaskError> {
    let old = require(txn, id)?;
    let now = ctx.now;
    let mut s = old.clone();
    let r = match recurrence(&s, now) {
        Ok(r) => r,
        Err(e) => {
            // Stored expressions were valid when saved; a zone database that no
            // longer knows the zone must not stop every other schedule.
            tracing::error!(schedule = %s.name, error = %e, "schedule cannot fire any more; pausing it");
            s.enabled = false;
            s.next_fire_at = None;
            return saved(txn, ctx, Some(&old), s);
        }
    };

    // Every fire time up to now, oldest first.
    let mut times = Vec::new();
    let mut cursor = s.next_fire_at;
    let mut more = false;
    while let Some(at) = cursor.filter(|at| *at <= now) {
        if times.len() == SCAN_LIMIT {
            more = true;
            break;
        }
        times.push(at);
        cursor = r.next_after(at);
    }
    s.next_fire_at = r.next_after(now);

    let tolerance = chrono::Duration::from_std(MISFIRE_TOLERANCE).unwrap_or_default();
    let split = times.partition_point(|at| now - *at > tolerance);
    let (missed, on_time) = times.split_at(split);
    let too_late = |at: &DateTime<Utc>| {
        s.max_lateness_ms
            .is_some_and(|ms| (now - *at).num_milliseconds() > ms as i64)
    };
    let late_end = missed.partition_point(too_late);
    let (late, catchable) = missed.split_at(late_end);

    // With `more`, the scan saw only the oldest SCAN_LIMIT missed times: the
    // groups it records say "at least", and one fire stands for the unseen rest.
    let mut skips: Vec<(SkipReason, &[DateTime<Utc>], bool)> = Vec::new();
    let mut to_fire: Vec<DateTime<Utc>> = Vec::new();
    skips.push((SkipReason::TooLate, late, false));
    match s.missed {
        MissedPolicy::Skip => skips.push((SkipReason::Missed, catchable, more)),
        MissedPolicy::Once if on_time.is_empty() && !more => {
            if let Some((last, rest)) = catchable.split_last() {
                skips.push((SkipReason::Missed, rest, false));
                to_fire.push(*last);
            }
        }
        MissedPolicy::Once => skips.push((SkipReason::Missed, catchable, more)),
        MissedPolicy::All => {
            let keep = if more {
                0
            } else {
                catchable.len().min(CATCH_UP_LIMIT)
            };
            let (over, kept) = catchable.split_at(catchable.len() - keep);
            skips.push((SkipReason::CatchUpLimit, over, more));
            to_fire.extend_from_slice(kept);
        }
    }
    if more {
        if s.missed != MissedPolicy::Skip {
            to_fire.push(now);
        }
    } else {
        to_fire.extend_from_slice(on_time);
    }
    for (reason, times, at_least) in skips {
        record_skip(&mut s, reason, times, at_least, now);
    }

    if !to_fire.is_empty() {
        if fire_active(txn, &s)? {
            match s.overlap {
                OverlapPolicy::Skip => {
                    record_skip(&mut s, SkipReason::Overlap, &to_fire, false, now)
                }
                OverlapPolicy::Queue => {
                    let room = PENDING_LIMIT
                        .saturating_sub(s.pending.len())
                        .min(to_fire.len());
                    let (queued, over) = to_fire.split_at(room);
                    s.pending.extend_from_slice(queued);
                    record_skip(&mut s, SkipReason::Overlap, over, false, now);
                }
                OverlapPolicy::Cancel => {
                    if txn.held_elsewhere(&s.active_fire)? {
                        // Another runner is ending the fire (and takes the
                        // schedule next): fired at the next look, nothing written.
                        return Ok(old);
                    }
                    // Cancelling may end the fire and start a queued fire (if the
                    // policy was `queue` before): work on the record as it is after.
                    cancel_active(txn, ctx, &s)?;
                    let after = require(txn, id)?;
                    s.pending = after.pending;
                    s.active_fire = after.active_fire;
                    s.fires = after.fires;
                    s.last_fired_at = after.last_fired_at;
                    start_fires(txn, ctx, &mut s, &to_fire)?;
                }
            }
        } else {
            start_fires(txn, ctx, &mut s, &to_fire)?;
        }
    }
    saved(txn, ctx, Some(&old), s)
}

fn start_fires(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    s: &mut Schedule,
    times: &[DateTime<Utc>],
) -> Result<(), TaskError> {
    s.active_fire.clear();
    for at in times {
        create_fire(txn, ctx, s, Some(*at))?;
    }
    Ok(())
}

/// Creates one fire: the template's task and its follow-ups, each chained onto
/// the one before. `fire_at` is the fire time it stands for (`None`: fire now).
fn create_fire(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    s: &mut Schedule,
    fire_at: Option<DateTime<Utc>>,
) -> Result<Vec<Task>, TaskError> {
    let t = &s.template;
    let name = t.name.clone().unwrap_or_else(|| s.name.clone());
    let now = ctx.now;
    let zone = s.timezone.clone();
    let last = t.follow_ups.len();
    let base = |prompt: String, name: String, parent: Option<TaskId>, step: usize| Task {
        // `{{date}}` and the like are read in the schedule's zone.
        timezone: (crate::prompt::has_variables(&prompt)
            || (step == last
                && t.deliver
                    .to_file
                    .as_deref()
                    .is_some_and(crate::prompt::has_variables)))
        .then(|| zone.clone()),
        // The fire's answer is its last task's.
        deliver: if step == last {
            t.deliver.clone()
        } else {
            Default::default()
        },
        // Past or now: the task is queued at once, in fire-time order.
        start_at: fire_at,
        parent_task_id: parent,
        max_attempts: t.max_attempts,
        timeout_ms: t.timeout_ms,
        system: t.system.clone(),
        temperature: t.temperature,
        max_tokens: t.max_tokens,
        schedule_id: Some(s.id),
        tags: t.tags.clone(),
        // The schema is the template prompt's; follow-ups answer in free text.
        output_schema: if step == 0 {
            t.output_schema.clone()
        } else {
            None
        },
        fallbacks: t.fallbacks.clone(),
        fallback_after: t.fallback_after,
        ..Task::fresh(name, prompt, t.provider.clone(), t.model.clone(), now)
    };
    let mut first = base(t.prompt.clone(), name.clone(), None, 0);
    // Batch mode: the deadline counts from this fire.
    if let Some(within) = t.batch.as_ref().and_then(|b| b.within_ms) {
        let deadline = now + chrono::Duration::milliseconds(within as i64);
        first.batch = Some(crate::batch::BatchState {
            deadline,
            in_batch: None,
        });
        first.start_at = Some(deadline);
    }
    let follow_ups: Vec<(String, String)> = t
        .follow_ups
        .iter()
        .enumerate()
        .map(|(i, text)| (text.clone(), format!("{name} · follow-up {}", i + 1)))
        .collect();
    let mut tasks = vec![lifecycle::create(txn, ctx, first)?];
    for (step, (text, child_name)) in follow_ups.into_iter().enumerate() {
        let parent = tasks.last().map(|p| p.id);
        let child = base(text, child_name, parent, step + 1);
        tasks.push(lifecycle::chain(txn, ctx, child)?);
    }
    if let Some(at) = fire_at {
        // A manual fire is no fire time: only fires are recorded, so fire now
        // never collides with one.
        txn.record_fire(s.id, at, tasks[0].id, now - FIRES_KEPT)?;
    }
    s.fires += 1;
    s.last_fired_at = Some(ctx.now);
    s.active_fire.extend(tasks.iter().map(|t| t.id));
    Ok(tasks)
}

/// True while a task of the schedule's latest fire is not terminal. Read
/// without locking the tasks: the unit holds the schedule, and every task's
/// ending takes the schedule too (`fire_ended`), so the last of them to commit
/// sees the others ended.
fn fire_active(txn: &impl TaskTxn, s: &Schedule) -> Result<bool, TaskError> {
    for id in &s.active_fire {
        if txn.status(*id)?.is_some_and(|status| !status.is_terminal()) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn cancel_active(txn: &mut impl TaskTxn, ctx: &mut Ctx, s: &Schedule) -> Result<(), TaskError> {
    let reason = format!("replaced by the next run of schedule '{}'", s.name);
    for id in &s.active_fire {
        let Some(task) = txn.get(*id)? else { continue };
        if task.status.is_cancellable() {
            lifecycle::cancel(txn, ctx, *id, Some(reason.clone()))?;
        }
    }
    Ok(())
}

/// Called when a task a schedule created becomes terminal: it keeps the
/// schedule's last output and its count of failed fires in a row (pausing it at
/// its limit), and if that ended the active fire and a fire is queued behind
/// it, that fire starts now.
pub(crate) fn fire_ended(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    task: &Task,
) -> Result<(), TaskError> {
    let Some(id) = task.schedule_id else {
        return Ok(());
    };
    let Some(old) = txn.schedule(id)? else {
        return Ok(());
    };
    let mut s = old.clone();
    let note = track_outcome(txn, ctx, &mut s, task)?;
    if !s.pending.is_empty() && s.active_fire.contains(&task.id) && !fire_active(txn, &s)? {
        let at = s.pending.remove(0);
        s.active_fire.clear();
        create_fire(txn, ctx, &mut s, Some(at))?;
    }
    if s != old {
        let s = saved(txn, ctx, Some(&old), s)?;
        if let (Some(note), Some(event)) = (note, ctx.schedules.last_mut()) {
            debug_assert_eq!(event.schedule_id, s.id);
            event.note = Some(note);
        }
    }
    Ok(())
}

/// A fire fails when one of its tasks fails (the rest of a chain is then
/// cancelled, so a fire counts once); it completes when its last task does. A
/// cancelled task counts neither way. At the limit the schedule pauses, and
/// the fires queued behind the active one are dropped: the note says why.
fn track_outcome(
    txn: &impl TaskTxn,
    ctx: &mut Ctx,
    s: &mut Schedule,
    task: &Task,
) -> Result<Option<String>, TaskError> {
    match task.status {
        TaskState::Completed => {
            if task.parent_task_id.is_none() {
                s.previous_output_task = s.last_output_task.replace(task.id);
            }
            if txn.children(task.id)?.is_empty() {
                s.failures_in_a_row = 0;
            }
            Ok(None)
        }
        TaskState::Failed => {
            s.failures_in_a_row = s.failures_in_a_row.saturating_add(1);
            let limit = s.pause_after_failures;
            if limit == 0 || s.failures_in_a_row < limit || !s.enabled {
                return Ok(None);
            }
            let n = s.failures_in_a_row;
            let message = format!(
                "paused after {n} failed {} in a row; the last: {}",
                if n == 1 { "run" } else { "runs" },
                task.error.as_deref().unwrap_or("failed")
            );
            s.enabled = false;
            s.next_fire_at = None;
            s.pending.clear();
            s.updated_at = ctx.now;
            s.auto_paused = Some(crate::schedule::AutoPause {
                at: ctx.now,
                failures: n,
                task_id: task.id,
                message: message.clone(),
            });
            Ok(Some(format!("Schedule '{}' {message}", s.name)))
        }
        _ => Ok(None),
    }
}

/// Stores imported schedules (validated by `export::parse`). One whose id or
/// name is already stored is reported, never overwritten. An imported schedule
/// fires from its next fire time after now: what fell due before the import
/// belonged to the machine that exported it.
pub(crate) fn import(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    schedules: Vec<Schedule>,
    report: &mut crate::lifecycle::ImportReport,
) -> Result<(), TaskError> {
    for mut s in schedules {
        if txn.schedule(s.id)?.is_some() || txn.schedule_named(&s.name)?.is_some() {
            report.skipped_schedules.push(s.name);
            continue;
        }
        s.pending.clear();
        // Checked by the parser already: nothing here may fail after the tasks
        // were written, or the import would be half done.
        s.next_fire_at = recurrence(&s, ctx.now)
            .ok()
            .filter(|_| s.enabled)
            .and_then(|r| r.next_after(ctx.now));
        saved(txn, ctx, None, s)?;
        report.schedules_imported += 1;
    }
    Ok(())
}

/// Adds a group of skipped fire times to the schedule's record.
fn record_skip(
    s: &mut Schedule,
    reason: SkipReason,
    times: &[DateTime<Utc>],
    at_least: bool,
    now: DateTime<Utc>,
) {
    let (Some(first), Some(last)) = (times.first(), times.last()) else {
        return;
    };
    let count = times.len() as u64;
    let n = if at_least {
        format!("at least {count} runs")
    } else if count == 1 {
        "1 run".to_string()
    } else {
        format!("{count} runs")
    };
    let message = match reason {
        SkipReason::Missed => format!(
            "{n} skipped while Baton was closed or asleep (missed: {})",
            s.missed
        ),
        SkipReason::TooLate => format!(
            "{n} skipped while Baton was closed or asleep: later than the maximum lateness"
        ),
        SkipReason::CatchUpLimit => format!(
            "{n} skipped while Baton was closed or asleep: over the catch-up limit of {CATCH_UP_LIMIT}"
        ),
        SkipReason::Overlap => format!("{n} skipped: the previous run was still active (overlap: {})", s.overlap),
    };
    s.skipped_total += count;
    s.skipped.push(SkippedFires {
        reason,
        count,
        first: *first,
        last: *last,
        recorded_at: now,
        message,
    });
    if s.skipped.len() > SKIPPED_KEPT {
        let extra = s.skipped.len() - SKIPPED_KEPT;
        s.skipped.drain(..extra);
    }
}

#[cfg(test)]
#[path = "firing_tests.rs"]
pub(crate) mod tests;

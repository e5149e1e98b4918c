//! Groups: one prompt over many rows, and the join task that reads their
//! answers in input order (docs/groups.md).
//!
//! A group is created in one transaction with its row tasks and its join. From
//! then on every change of a member's state passes through [`on_change`] (from
//! `lifecycle::save`), which keeps the group's counts in the same transaction
//! and, when the last row ends, decides the join: "waits for N parents".

use crate::error::TaskError;
use crate::lifecycle::{self, Ctx};
use crate::state::TaskState;
use crate::storage::{TaskTxn, Was};
use crate::task::{uuid_id, NewTask, Task, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

uuid_id!(
    /// A group's id: a UUIDv7.
    GroupId,
    "group",
    "group"
);

/// Longest group name, in characters.
pub const MAX_GROUP_NAME: usize = crate::schedule::MAX_SCHEDULE_NAME;

/// When the join runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum JoinOn {
    /// Only when every row completed; otherwise the join is cancelled.
    #[default]
    All,
    /// On the rows that completed, once every row has ended.
    Completed,
}

/// A task's place in its group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct GroupMember {
    pub group_id: GroupId,
    /// The row's number in input order, from 1; absent on the join task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u32>,
    /// The row's values, by column (what the export writes before the answer).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[cfg_attr(feature = "specta", specta(type = std::collections::BTreeMap<String, serde_json::Value>))]
    #[cfg_attr(feature = "utoipa", schema(value_type = Object))]
    pub values: serde_json::Map<String, serde_json::Value>,
}

impl GroupMember {
    pub fn is_join(&self) -> bool {
        self.row.is_none()
    }
}

/// A group's join task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct GroupJoin {
    pub task_id: TaskId,
    pub on: JoinOn,
    /// The join task's state, kept with the group's counts.
    pub status: TaskState,
}

/// Where a group stands, from its counts and its join.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum GroupStatus {
    /// A row or the join has not finished.
    #[default]
    Running,
    /// Every row completed, and the join (if any) completed; with `join_on:
    /// completed`, the join completed.
    Completed,
    /// Everything ended, and something did not complete.
    Failed,
    /// The group was cancelled.
    Cancelled,
}

impl GroupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Running => "running",
            GroupStatus::Completed => "completed",
            GroupStatus::Failed => "failed",
            GroupStatus::Cancelled => "cancelled",
        }
    }
}

/// A group as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// The input's columns, in file order (`item` for a list of lines).
    pub columns: Vec<String>,
    /// The prompt every row ran, before its row's values were bound.
    pub prompt: String,
    /// Rows (one task each).
    pub total: u32,
    /// Rows in each terminal state; the rest are still to finish.
    pub completed: u32,
    pub failed: u32,
    pub cancelled: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<GroupJoin>,
    pub status: GroupStatus,
    /// Set by a group cancel, cleared by a group retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
}

impl Group {
    /// Rows that have not ended yet.
    pub fn pending(&self) -> u32 {
        self.total
            .saturating_sub(self.completed + self.failed + self.cancelled)
    }

    fn settle_status(&mut self) {
        let join_done = self.join.as_ref().is_none_or(|j| j.status.is_terminal());
        self.status = if self.pending() > 0 || !join_done {
            GroupStatus::Running
        } else if self.cancelled_at.is_some() {
            GroupStatus::Cancelled
        } else {
            let ok = match &self.join {
                Some(j) => j.status == TaskState::Completed,
                None => self.completed == self.total,
            };
            if ok {
                GroupStatus::Completed
            } else {
                GroupStatus::Failed
            }
        };
    }
}

/// What a caller gives to map a prompt over rows. `task.prompt` is the
/// template (`{{row.COLUMN}}`, `{{item}}`); the other task fields apply to every
/// row (and to the join, but for its output schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct NewMap {
    /// A unique name (any case), at most 200 characters.
    pub name: String,
    pub source: crate::rows::RowSource,
    /// The input's text: a CSV with a header, JSON Lines of objects, or one
    /// item per line.
    pub data: String,
    pub task: NewTask,
    /// A task that runs on every answer, in input order, once every row ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<NewJoin>,
}

/// The join of a new group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct NewJoin {
    /// The join's prompt; `{{items}}` is every completed answer in input order.
    pub instruction: String,
    #[serde(default)]
    pub on: JoinOn,
}

pub(crate) fn validate_name(name: &str) -> Result<String, TaskError> {
    crate::schedule::validate_record_name("group", name)
}

/// What a group operation changes (see `writer`).
pub(crate) enum GroupOp {
    Create {
        group: Box<Group>,
        rows: Vec<Task>,
        join: Option<Box<Task>>,
    },
    Cancel(GroupId),
    Retry(GroupId),
}

pub(crate) fn apply(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    op: GroupOp,
) -> Result<Group, TaskError> {
    match op {
        GroupOp::Create { group, rows, join } => create(txn, ctx, *group, rows, join.map(|j| *j)),
        GroupOp::Cancel(id) => cancel(txn, ctx, id),
        GroupOp::Retry(id) => retry(txn, ctx, id),
    }
}

fn require(txn: &impl TaskTxn, id: GroupId) -> Result<Group, TaskError> {
    txn.group(id)?
        .ok_or_else(|| TaskError::GroupNotFound(id.to_string()))
}

/// Inserts the group, its rows and its join (waiting), all or nothing.
fn create(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    mut group: Group,
    rows: Vec<Task>,
    join: Option<Task>,
) -> Result<Group, TaskError> {
    if let Some(other) = txn.group_named(&group.name)? {
        return Err(TaskError::invalid(
            "name",
            format!("a group named '{}' exists ({other})", group.name),
        ));
    }
    group.created_at = ctx.now;
    group.total = rows.len() as u32;
    group.settle_status();
    txn.put_group(None, &group)?;
    for row in rows {
        lifecycle::create(txn, ctx, row)?;
    }
    if let Some(mut join) = join {
        join.created_at = ctx.now;
        join.status = TaskState::Waiting;
        txn.put(None, &join)?;
        ctx.events
            .push(crate::events::Draft::state(None, &join, ctx.now));
    }
    Ok(group)
}

/// A member's state changed from `from` to `task.status` (called by
/// `lifecycle::save`, in its transaction): the group's counts follow, and the
/// end of its last row decides the join.
pub(crate) fn on_change(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    member: &GroupMember,
    from: TaskState,
    task: &Task,
) -> Result<(), TaskError> {
    let to = task.status;
    if member.row.is_some() && !from.is_terminal() && !to.is_terminal() {
        // Waiting, queued, running: the counts keep only how rows ended.
        return Ok(());
    }
    let Some(old) = txn.group(member.group_id)? else {
        return Ok(());
    };
    let mut group = old.clone();
    if member.is_join() {
        if let Some(join) = &mut group.join {
            join.status = to;
        }
    } else {
        for (state, delta) in [(from, -1i64), (to, 1)] {
            let slot = match state {
                TaskState::Completed => &mut group.completed,
                TaskState::Failed => &mut group.failed,
                TaskState::Cancelled => &mut group.cancelled,
                _ => continue,
            };
            *slot = (*slot as i64 + delta).max(0) as u32;
        }
    }
    group.settle_status();
    txn.put_group(Some(&old), &group)?;
    if member.row.is_some() && to.is_terminal() && group.pending() == 0 {
        decide_join(txn, ctx, &group)?;
    }
    Ok(())
}

/// Every row has ended: the waiting join is queued or cancelled by its policy.
fn decide_join(txn: &mut impl TaskTxn, ctx: &mut Ctx, group: &Group) -> Result<(), TaskError> {
    let Some(join) = &group.join else {
        return Ok(());
    };
    let old = txn.require(join.task_id)?;
    if old.status != TaskState::Waiting {
        return Ok(());
    }
    let missing = group.total - group.completed;
    let runs = match join.on {
        JoinOn::All => missing == 0,
        JoinOn::Completed => group.completed > 0,
    };
    let mut task = old.clone();
    if runs {
        task.status = lifecycle::ready_state(&task, ctx.now);
        lifecycle::save(txn, ctx, Was::of(&old), task)?;
    } else {
        task.status = TaskState::Cancelled;
        task.finished_at = Some(ctx.now);
        task.cancel_reason = Some(if group.completed == 0 {
            "no row of the group completed".to_string()
        } else {
            format!(
                "{missing} of {} rows did not complete (the join runs only when all do)",
                group.total
            )
        });
        let task = lifecycle::save(txn, ctx, Was::of(&old), task)?;
        lifecycle::after_change(txn, ctx, &task)?;
    }
    Ok(())
}

/// Cancels what has not finished: the join first (so the rows' ending does not
/// start it), then every row.
fn cancel(txn: &mut impl TaskTxn, ctx: &mut Ctx, id: GroupId) -> Result<Group, TaskError> {
    let old = require(txn, id)?;
    if old.status != GroupStatus::Running {
        return Err(TaskError::invalid(
            "group",
            format!(
                "group '{}' has finished ({}); nothing to cancel",
                old.name,
                old.status.as_str()
            ),
        ));
    }
    let mut group = old.clone();
    group.cancelled_at = Some(ctx.now);
    txn.put_group(Some(&old), &group)?;
    let reason = Some(format!("group '{}' was cancelled", group.name));
    if let Some(join) = &group.join {
        if txn.require(join.task_id)?.status.is_cancellable() {
            lifecycle::cancel(txn, ctx, join.task_id, reason.clone())?;
        }
    }
    for row in txn.group_rows(id)? {
        if txn.require(row)?.status.is_cancellable() {
            lifecycle::cancel(txn, ctx, row, reason.clone())?;
        }
    }
    let mut group = require(txn, id)?;
    let before = group.clone();
    group.settle_status();
    if group != before {
        txn.put_group(Some(&before), &group)?;
    }
    Ok(group)
}

/// Retries every failed or cancelled row, and sets a join that did not
/// complete waiting again (or running at once, when no row needed a retry).
fn retry(txn: &mut impl TaskTxn, ctx: &mut Ctx, id: GroupId) -> Result<Group, TaskError> {
    let old = require(txn, id)?;
    if old.failed + old.cancelled == 0
        && old
            .join
            .as_ref()
            .is_none_or(|j| !matches!(j.status, TaskState::Failed | TaskState::Cancelled))
    {
        return Err(TaskError::invalid(
            "group",
            format!(
                "group '{}' has no failed or cancelled task to retry",
                old.name
            ),
        ));
    }
    let mut group = old.clone();
    group.cancelled_at = None;
    group.settle_status();
    txn.put_group(Some(&old), &group)?;
    // Rows first: the join then waits for them (a join retried while every row
    // has ended runs at once: `join_waiting`).
    for row in txn.group_rows(id)? {
        let task = txn.require(row)?;
        if matches!(task.status, TaskState::Failed | TaskState::Cancelled) {
            lifecycle::retry(txn, ctx, row, None)?;
        }
    }
    if let Some(join) = &group.join {
        let task = txn.require(join.task_id)?;
        if matches!(task.status, TaskState::Failed | TaskState::Cancelled) {
            lifecycle::retry(txn, ctx, join.task_id, None)?;
        }
    }
    require(txn, id)
}

/// A retried join waits again: decided at once when every row has ended.
pub(crate) fn join_waiting(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    id: GroupId,
) -> Result<(), TaskError> {
    let group = require(txn, id)?;
    if group.pending() == 0 {
        decide_join(txn, ctx, &group)?;
    }
    Ok(())
}

/// Imports groups (after their tasks, in the same transaction): a group whose
/// id or name is stored is left out and named in the report. Counts are taken
/// again from the rows as stored, and a join whose rows have all ended is
/// decided at once.
pub(crate) fn import(
    txn: &mut impl TaskTxn,
    ctx: &mut Ctx,
    groups: Vec<Group>,
    report: &mut crate::lifecycle::ImportReport,
) -> Result<(), TaskError> {
    for mut group in groups {
        if txn.group(group.id)?.is_some() || txn.group_named(&group.name)?.is_some() {
            report.skipped_groups.push(group.name);
            continue;
        }
        let rows = txn.group_rows(group.id)?;
        group.total = rows.len() as u32;
        (group.completed, group.failed, group.cancelled) = (0, 0, 0);
        for id in rows {
            match txn.require(id)?.status {
                TaskState::Completed => group.completed += 1,
                TaskState::Failed => group.failed += 1,
                TaskState::Cancelled => group.cancelled += 1,
                _ => {}
            }
        }
        if let Some(join) = &mut group.join {
            match txn.get(join.task_id)? {
                Some(task) => join.status = task.status,
                None => group.join = None,
            }
        }
        group.settle_status();
        txn.put_group(None, &group)?;
        report.groups_imported += 1;
        if group.pending() == 0 {
            decide_join(txn, ctx, &group)?;
        }
    }
    Ok(())
}

/// The join's prompt with `{{items}}` bound: every completed row's output, in
/// input order. Read when the join's attempt starts.
pub(crate) fn join_prompt(
    txn: &impl TaskTxn,
    group: GroupId,
    instruction: &str,
) -> Result<String, TaskError> {
    let mut outputs = Vec::new();
    for id in txn.group_rows(group)? {
        let task = txn.require(id)?;
        if task.status == TaskState::Completed {
            let row = task.group.as_ref().and_then(|m| m.row).unwrap_or(0);
            outputs.push((row, task.output.unwrap_or_default()));
        }
    }
    let items: Vec<(u32, &str)> = outputs.iter().map(|(r, o)| (*r, o.as_str())).collect();
    Ok(crate::prompt::bind_items(instruction, &items))
}

#[cfg(test)]
#[path = "group_tests.rs"]
pub(crate) mod tests;

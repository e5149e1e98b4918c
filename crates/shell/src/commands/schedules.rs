//! Recurring schedules: list, show (with the tasks it created), preview an
//! expression's next fire times, create, edit, pause, resume, remove, run now.
//! Validation is the engine's; an error names the field that is wrong.

use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::{MissedPolicy, NewSchedule, NewTask, OverlapPolicy, Schedule, ScheduleId, Task};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use specta::Type;
use std::time::Duration;

/// Fire times a preview shows.
const PREVIEW_FIRES: usize = 5;
/// Tasks a schedule's detail shows, newest first.
const DETAIL_TASKS: usize = 100;

/// The create and edit form.
#[derive(Debug, Clone, Serialize, Deserialize, Type)]
// Serialize: the window forwards it to the runner as it read it.
pub struct ScheduleInput {
    pub name: String,
    pub cron: String,
    /// An IANA zone; UTC when empty.
    pub timezone: Option<String>,
    #[serde(default)]
    pub missed: MissedPolicy,
    #[serde(default)]
    pub overlap: OverlapPolicy,
    /// Missed runs later than this are skipped; no limit when unset.
    pub max_lateness_minutes: Option<u32>,
    /// Created paused when false (default: enabled). An edit ignores it.
    pub enabled: Option<bool>,
    /// The task each fire creates, as the create-task form takes it (its
    /// `name` is the task's; the schedule's when unset).
    pub task: NewTask,
    /// Instructions chained after the task, each onto the one before it.
    #[serde(default)]
    pub follow_ups: Vec<String>,
    /// Failed runs in a row before the schedule pauses itself; 0 never; 5 when unset.
    #[serde(default)]
    pub pause_after_failures: Option<u32>,
}

impl ScheduleInput {
    fn into_new_schedule(self) -> NewSchedule {
        let some = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        NewSchedule {
            name: self.name,
            cron: self.cron,
            timezone: some(self.timezone),
            missed: self.missed,
            max_lateness: self
                .max_lateness_minutes
                .map(|m| Duration::from_secs(u64::from(m) * 60)),
            overlap: self.overlap,
            enabled: self.enabled.unwrap_or(true),
            task: super::tasks::blanks_unset(self.task),
            follow_ups: self
                .follow_ups
                .into_iter()
                .filter(|f| !f.trim().is_empty())
                .collect(),
            pause_after_failures: self.pause_after_failures,
        }
    }
}

/// A schedule with the tasks it created, newest first.
#[derive(Debug, Clone, Serialize, Type)]
pub struct ScheduleDetail {
    pub schedule: Schedule,
    pub tasks: Vec<Task>,
}

/// What "Run now" started: the schedule after, and the fire's tasks (first first).
#[derive(Debug, Clone, Serialize, Type)]
pub struct ScheduleFire {
    pub schedule: Schedule,
    pub tasks: Vec<Task>,
}

fn parse_schedule_id(id: &str) -> Result<ScheduleId, CommandError> {
    id.parse::<ScheduleId>().map_err(CommandError::from)
}

pub async fn list_schedules(state: &AppState) -> Result<Vec<Schedule>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.schedules().await?)
}

pub async fn get_schedule(state: &AppState, id: String) -> Result<ScheduleDetail, CommandError> {
    let engine = state.engine().await?;
    let id = parse_schedule_id(&id)?;
    let schedule = engine.schedule(id).await?;
    let tasks = engine.schedule_tasks(id, DETAIL_TASKS).await?;
    Ok(ScheduleDetail { schedule, tasks })
}

pub async fn preview_schedule(
    state: &AppState,
    cron: String,
    timezone: Option<String>,
) -> Result<Vec<DateTime<Utc>>, CommandError> {
    let engine = state.engine().await?;
    let tz = timezone.filter(|t| !t.trim().is_empty());
    let tz = tz.as_deref().unwrap_or("UTC");
    Ok(baton_engine::upcoming_fires(
        &cron,
        tz,
        engine.now(),
        PREVIEW_FIRES,
    )?)
}

pub async fn create_schedule(
    state: &AppState,
    input: ScheduleInput,
) -> Result<Schedule, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.add_schedule(input.into_new_schedule()).await?)
}

pub async fn update_schedule(
    state: &AppState,
    id: String,
    input: ScheduleInput,
) -> Result<Schedule, CommandError> {
    let engine = state.engine().await?;
    let id = parse_schedule_id(&id)?;
    Ok(engine
        .update_schedule(id, input.into_new_schedule())
        .await?)
}

pub async fn pause_schedule(state: &AppState, id: String) -> Result<Schedule, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.pause_schedule(parse_schedule_id(&id)?).await?)
}

pub async fn resume_schedule(state: &AppState, id: String) -> Result<Schedule, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.resume_schedule(parse_schedule_id(&id)?).await?)
}

pub async fn remove_schedule(state: &AppState, id: String) -> Result<Schedule, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.remove_schedule(parse_schedule_id(&id)?).await?)
}

pub async fn fire_schedule_now(state: &AppState, id: String) -> Result<ScheduleFire, CommandError> {
    let engine = state.engine().await?;
    let (schedule, tasks) = engine.fire_schedule_now(parse_schedule_id(&id)?).await?;
    Ok(ScheduleFire { schedule, tasks })
}

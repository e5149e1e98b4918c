//! The engine's schedule API, for the CLI, the API and the desktop: add, edit,
//! pause, resume, remove, fire now ("run now"), list, and the tasks a schedule created.

use crate::engine::Engine;
use crate::error::TaskError;
use crate::events::ScheduleEvent;
use crate::schedule::{self, NewSchedule, Recurrence, Schedule, ScheduleId, TaskTemplate};
use crate::storage::Storage;
use crate::task::Task;
use crate::writer::ScheduleOp;
use tokio::sync::broadcast;

impl NewSchedule {
    /// An enabled schedule with the default policies (missed: once, overlap: skip).
    pub fn new(name: impl Into<String>, cron: impl Into<String>, task: crate::NewTask) -> Self {
        NewSchedule {
            name: name.into(),
            cron: cron.into(),
            enabled: true,
            task,
            ..NewSchedule::default()
        }
    }
}

impl Engine {
    /// Validates and stores a new schedule; it fires from its next fire time on.
    pub async fn add_schedule(&self, new: NewSchedule) -> Result<Schedule, TaskError> {
        let s = self.build_schedule(new)?;
        Ok(self
            .inner()
            .writer
            .schedule(ScheduleOp::Add(s, None))
            .await?
            .schedule)
    }

    /// [`Engine::add_schedule`] at most once per key, like
    /// [`Engine::submit_once`]; `true` when an earlier request created it.
    pub async fn add_schedule_once(
        &self,
        new: NewSchedule,
        key: crate::IdempotencyKey,
    ) -> Result<(Schedule, bool), TaskError> {
        let once = crate::idempotency::Once::new(key, "schedule", None, &new);
        let s = self.build_schedule(new)?;
        let done = self
            .inner()
            .writer
            .schedule(ScheduleOp::Add(s, Some(once)))
            .await?;
        Ok((done.schedule, done.replayed))
    }

    /// Replaces a schedule's name, expression, zone, policies and task. It takes
    /// effect at once: the next fire time is computed again from now.
    pub async fn update_schedule(
        &self,
        id: ScheduleId,
        new: NewSchedule,
    ) -> Result<Schedule, TaskError> {
        let s = self.build_schedule(new)?;
        Ok(self
            .inner()
            .writer
            .schedule(ScheduleOp::Update(id, s))
            .await?
            .schedule)
    }

    /// No fire while paused; fires that fall due meanwhile are not "missed".
    pub async fn pause_schedule(&self, id: ScheduleId) -> Result<Schedule, TaskError> {
        let op = ScheduleOp::SetEnabled(id, false);
        Ok(self.inner().writer.schedule(op).await?.schedule)
    }

    /// Fires again from the next fire time after now.
    pub async fn resume_schedule(&self, id: ScheduleId) -> Result<Schedule, TaskError> {
        let op = ScheduleOp::SetEnabled(id, true);
        Ok(self.inner().writer.schedule(op).await?.schedule)
    }

    /// Deletes a schedule; the tasks it created stay.
    pub async fn remove_schedule(&self, id: ScheduleId) -> Result<Schedule, TaskError> {
        Ok(self
            .inner()
            .writer
            .schedule(ScheduleOp::Remove(id))
            .await?
            .schedule)
    }

    /// Fires the schedule at once ("run now") (whatever the overlap policy); returns its tasks,
    /// the first one first, and the schedule after.
    pub async fn fire_schedule_now(
        &self,
        id: ScheduleId,
    ) -> Result<(Schedule, Vec<Task>), TaskError> {
        let done = self
            .inner()
            .writer
            .schedule(ScheduleOp::FireNow(id))
            .await?;
        Ok((done.schedule, done.tasks))
    }

    /// Every schedule, oldest first.
    pub async fn schedules(&self) -> Result<Vec<Schedule>, TaskError> {
        self.read(|store| store.schedules()).await
    }

    pub async fn schedule(&self, id: ScheduleId) -> Result<Schedule, TaskError> {
        self.read(move |store| store.schedule(id))
            .await?
            .ok_or_else(|| TaskError::ScheduleNotFound(id.to_string()))
    }

    /// The schedule with this name (any case) or id.
    pub async fn find_schedule(&self, name_or_id: &str) -> Result<Schedule, TaskError> {
        let key = name_or_id.trim().to_string();
        let by_id = key.parse::<ScheduleId>().ok();
        let wanted = key.clone();
        let found = self
            .read(move |store| match store.schedule_named(&wanted)? {
                Some(s) => Ok(Some(s)),
                None => by_id
                    .map(|id| store.schedule(id))
                    .transpose()
                    .map(Option::flatten),
            })
            .await?;
        found.ok_or(TaskError::ScheduleNotFound(key))
    }

    /// The tasks a schedule created, newest first.
    pub async fn schedule_tasks(
        &self,
        id: ScheduleId,
        limit: usize,
    ) -> Result<Vec<Task>, TaskError> {
        self.read(move |store| store.schedule_tasks(id, limit))
            .await
    }

    /// Every schedule change from now on.
    pub fn subscribe_schedules(&self) -> broadcast::Receiver<ScheduleEvent> {
        self.inner().shared.events.subscribe_schedules()
    }

    /// Checks a request and turns it into a record (its state fields empty).
    fn build_schedule(&self, new: NewSchedule) -> Result<Schedule, TaskError> {
        let name = schedule::validate_schedule_name(&new.name)?;
        let timezone = new
            .timezone
            .as_deref()
            .map(str::trim)
            .filter(|tz| !tz.is_empty())
            .unwrap_or("UTC");
        let tz = schedule::parse_zone(timezone)?;
        let now = self.now();
        Recurrence::parse(&new.cron, timezone, now)?;
        if new.task.start_at.is_some() {
            return Err(TaskError::invalid(
                "start_at",
                "a schedule's tasks run when it fires; they cannot have their own start time",
            ));
        }
        if let Some(lateness) = new.max_lateness {
            if lateness.is_zero() {
                return Err(TaskError::invalid(
                    "max_lateness",
                    "the maximum lateness must be longer than zero (leave it unset for no limit)",
                ));
            }
        }
        schedule::validate_follow_ups(&new.follow_ups)?;
        for (i, text) in new.follow_ups.iter().enumerate() {
            crate::prompt::check(text, crate::prompt::Scope::FOLLOW_UP, "follow_ups").map_err(
                |e| TaskError::invalid("follow_ups", format!("follow-up {}: {e}", i + 1)),
            )?;
            // Only the schedule's task answers with a schema: the first
            // follow-up's parent, when the template has one.
            if let Some(path) = crate::prompt::parent_fields(text).first() {
                if i > 0 || new.task.output_schema.is_none() {
                    return Err(TaskError::invalid(
                        "follow_ups",
                        format!(
                            "follow-up {}: {{{{parent.output.{path}}}}} needs a parent with an output schema; only the schedule's task has one, when the schedule sets output_schema",
                            i + 1
                        ),
                    ));
                }
            }
        }
        let pause_after_failures =
            schedule::validate_pause_after_failures(new.pause_after_failures)?;
        if let Some(batch) = &new.task.batch {
            batch.check_for_schedule()?;
        }
        let batch = new.task.batch.clone();
        let task_name = new.task.name.clone();
        // The same checks as a task submitted now (provider, model, limits).
        let task = self.build(new.task, None, crate::prompt::Scope::SCHEDULE)?;
        Ok(Schedule {
            id: ScheduleId::new(),
            name,
            cron: new.cron.split_whitespace().collect::<Vec<_>>().join(" "),
            timezone: tz.name().to_string(),
            missed: new.missed,
            max_lateness_ms: new.max_lateness.map(|d| d.as_millis() as u64),
            overlap: new.overlap,
            enabled: new.enabled,
            template: TaskTemplate {
                name: task_name.map(|n| n.trim().to_string()),
                prompt: task.prompt,
                provider: task.llm_provider,
                model: task.llm_model,
                max_attempts: task.max_attempts,
                timeout_ms: task.timeout_ms,
                system: task.system,
                temperature: task.temperature,
                max_tokens: task.max_tokens,
                follow_ups: new.follow_ups,
                tags: task.tags,
                deliver: task.deliver,
                output_schema: task.output_schema,
                fallbacks: task.fallbacks,
                fallback_after: task.fallback_after,
                batch,
            },
            created_at: now,
            updated_at: now,
            last_fired_at: None,
            next_fire_at: None,
            fires: 0,
            active_fire: Vec::new(),
            pending: Vec::new(),
            skipped: Vec::new(),
            skipped_total: 0,
            pause_after_failures,
            failures_in_a_row: 0,
            auto_paused: None,
            last_output_task: None,
            previous_output_task: None,
            last_delivered: None,
        })
    }
}

//! Recurring schedules: the record, what a caller gives to make one, and the
//! cron arithmetic. What firing does to the store is in `firing`.
//!
//! Fire times come from [`croner`] (the parser tokio-cron-scheduler uses) read in
//! the schedule's IANA zone ([`chrono_tz`]), so a 09:00 Europe/Paris schedule stays
//! at 09:00 local across daylight-saving changes: a time inside the spring-forward
//! gap fires at the first instant after it, and a time repeated by the fall-back
//! hour fires once (the first of the two).

use crate::error::TaskError;
use crate::task::{NewTask, Real, TaskId};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Most characters in a schedule's name.
pub const MAX_SCHEDULE_NAME: usize = 100;
/// Most follow-up instructions chained after a schedule's task.
pub const MAX_FOLLOW_UPS: usize = 10;
/// Most missed fires the `all` policy starts after a gap; older ones are skipped.
pub const CATCH_UP_LIMIT: usize = 24;
/// Most fires queued behind an active fire (`overlap: queue`); more are skipped.
pub const PENDING_LIMIT: usize = 24;
/// A fire handled later than this after its time was missed (the engine was
/// stopped, the machine asleep, the clock jumped): the missed-fire policy decides.
pub const MISFIRE_TOLERANCE: Duration = Duration::from_secs(60);

crate::task::uuid_id!(
    /// A schedule's id: a UUIDv7, like a task's.
    ScheduleId,
    "schedule",
    "schedule"
);

/// What happens to fires that fell due while the engine was not running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum MissedPolicy {
    /// Every missed fire is skipped (and recorded as skipped).
    Skip,
    /// The latest missed fire starts once; the others are skipped.
    #[default]
    Once,
    /// Every missed fire starts, the latest [`CATCH_UP_LIMIT`] at most.
    All,
}

/// What a fire does while the schedule's previous fire is still active.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum OverlapPolicy {
    /// The new fire is skipped (and recorded as skipped).
    #[default]
    Skip,
    /// The new fire starts when the active one has ended.
    Queue,
    /// The active fire is cancelled and the new one starts.
    Cancel,
}

macro_rules! policy_text {
    ($ty:ty { $($variant:ident => $text:literal),* }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $text),* }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $($text => Ok(<$ty>::$variant),)*
                    other => Err(format!(
                        "'{other}' is not one of {}",
                        [$($text),*].join(", ")
                    )),
                }
            }
        }
    };
}
policy_text!(MissedPolicy { Skip => "skip", Once => "once", All => "all" });
policy_text!(OverlapPolicy { Skip => "skip", Queue => "queue", Cancel => "cancel" });

/// The task each fire creates: a [`NewTask`] with its defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TaskTemplate {
    /// The task's name; the schedule's name when `None`.
    #[serde(default)]
    pub name: Option<String>,
    pub prompt: String,
    pub provider: String,
    pub model: String,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub temperature: Option<Real>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Instructions chained after the task, each onto the one before it.
    #[serde(default)]
    pub follow_ups: Vec<String>,
    /// The tags of every task a fire creates, follow-ups included. Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Where each fire's answer goes: set on the fire's last task (the last
    /// follow-up, or the task when there is none).
    #[serde(default, skip_serializing_if = "crate::delivery::Deliver::is_empty")]
    pub deliver: crate::delivery::Deliver,
    /// The JSON Schema the fire's first task (the template's prompt) must
    /// answer with; follow-ups may read its fields (`{{parent.output.FIELD}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub output_schema: Option<serde_json::Value>,
    /// The fallback targets of every task a fire creates, models resolved.
    /// Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<crate::task::Target>,
    /// Failed attempts on one target before the next (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_after: Option<u32>,
    /// Batch mode for the fire's first task: its deadline counted from each
    /// fire (`within_ms` only). Absent when the tasks run live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<crate::batch::BatchRequest>,
}

/// Why fires were skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum SkipReason {
    /// Due while the engine was stopped or the machine asleep; the missed-fire
    /// policy did not start them.
    Missed,
    /// Missed by more than the schedule's maximum lateness.
    TooLate,
    /// Missed, beyond the [`CATCH_UP_LIMIT`] of the `all` policy.
    CatchUpLimit,
    /// The previous fire was still active (`overlap: skip`, or the queue was full).
    Overlap,
}

/// A group of consecutive fire times skipped for one reason, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SkippedFires {
    pub reason: SkipReason,
    pub count: u64,
    /// The first and last skipped fire times.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    /// e.g. "3 runs skipped while Baton was closed or asleep (missed: skip)".
    pub message: String,
}

/// A recurring schedule, as stored, exported and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Schedule {
    pub id: ScheduleId,
    pub name: String,
    /// Five fields (minute first), or six with seconds first.
    pub cron: String,
    /// An IANA zone such as `Europe/Paris`; the cron fields are read in it.
    pub timezone: String,
    pub missed: MissedPolicy,
    /// Missed fires older than this are skipped whatever the policy; `None`: no limit.
    pub max_lateness_ms: Option<u64>,
    pub overlap: OverlapPolicy,
    /// False while paused.
    pub enabled: bool,
    pub template: TaskTemplate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the latest fire was created.
    pub last_fired_at: Option<DateTime<Utc>>,
    /// The next fire time; `None` while paused.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// Fires so far (each fire time started, and each "run now"). Read also
    /// as `runs`, its name in records written before the rename.
    #[serde(alias = "runs")]
    pub fires: u64,
    /// The tasks of the latest fire (its task and its follow-ups): while one
    /// is not terminal, the schedule's previous fire is active. Read also as
    /// `active_run`, its name before the rename.
    #[serde(alias = "active_run")]
    pub active_fire: Vec<TaskId>,
    /// Fire times waiting for the active fire to end (`overlap: queue`).
    pub pending: Vec<DateTime<Utc>>,
    /// The most recent groups of skipped fires, oldest first.
    pub skipped: Vec<SkippedFires>,
    /// Every fire ever skipped.
    pub skipped_total: u64,
    /// After this many failed fires in a row the schedule pauses itself; 0 never.
    #[serde(default = "default_pause_after_failures")]
    pub pause_after_failures: u32,
    /// Failed fires since the last completed one (or the last resume).
    #[serde(default)]
    pub failures_in_a_row: u32,
    /// Set when the schedule paused itself; cleared when it is resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_paused: Option<AutoPause>,
    /// The task of the latest fire that completed: its output is the next
    /// fire's `{{last_output}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_output_task: Option<TaskId>,
    /// The one before: a follow-up of the latest fire reads it, its own fire's
    /// output being no "last" output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_output_task: Option<TaskId>,
    /// A fingerprint of the answer last delivered, for `only_if_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered: Option<String>,
}

/// Failed fires in a row after which a schedule pauses itself, unless set.
pub const DEFAULT_PAUSE_AFTER_FAILURES: u32 = 5;
/// The largest failure limit accepted.
pub const MAX_PAUSE_AFTER_FAILURES: u32 = 1000;

fn default_pause_after_failures() -> u32 {
    DEFAULT_PAUSE_AFTER_FAILURES
}

/// Why a schedule paused itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AutoPause {
    pub at: DateTime<Utc>,
    /// The failed fires in a row that paused it.
    pub failures: u32,
    /// The last failed task.
    pub task_id: TaskId,
    /// e.g. "paused after 5 failed runs in a row; the last: timed out after 30 s".
    pub message: String,
}

/// Skipped-fire groups kept on a schedule; the total counts them all.
pub(crate) const SKIPPED_KEPT: usize = 50;

/// What a caller gives to create or edit a schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewSchedule {
    pub name: String,
    pub cron: String,
    /// `UTC` when `None`.
    pub timezone: Option<String>,
    pub missed: MissedPolicy,
    pub max_lateness: Option<Duration>,
    pub overlap: OverlapPolicy,
    /// Created paused when false. Ignored by an edit (pause and resume do that).
    pub enabled: bool,
    /// The task to create; `start_at` must be unset.
    pub task: NewTask,
    pub follow_ups: Vec<String>,
    /// Failed fires in a row before the schedule pauses itself (0: never);
    /// [`DEFAULT_PAUSE_AFTER_FAILURES`] when `None`.
    pub pause_after_failures: Option<u32>,
}

/// A parsed cron expression in its zone.
#[derive(Debug, Clone)]
pub(crate) struct Recurrence {
    cron: croner::Cron,
    tz: Tz,
}

impl Recurrence {
    /// Parses `expr` in zone `tz`, and checks it fires at least once after `now`.
    pub fn parse(expr: &str, tz: &str, now: DateTime<Utc>) -> Result<Recurrence, TaskError> {
        let tz = parse_zone(tz)?;
        let expr = expr.trim();
        if expr.is_empty() {
            return Err(TaskError::invalid("cron", "the cron expression is empty"));
        }
        let fields = expr.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(TaskError::invalid(
                "cron",
                format!(
                    "the cron expression '{expr}' has {fields} fields; it needs 5 (minute hour day month weekday) or 6 (seconds first)"
                ),
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(expr)
            .map_err(|e| {
                TaskError::invalid(
                    "cron",
                    format!("the cron expression '{expr}' is invalid: {e}"),
                )
            })?;
        let recurrence = Recurrence { cron, tz };
        if recurrence.next_after(now).is_none() {
            return Err(TaskError::invalid(
                "cron",
                format!("the cron expression '{expr}' never fires (no date matches it)"),
            ));
        }
        Ok(recurrence)
    }

    /// The first fire time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.tz), false)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }

    /// The next `n` fire times after `t`.
    pub fn upcoming(&self, t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut at = t;
        while out.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    out.push(next);
                    at = next;
                }
                None => break,
            }
        }
        out
    }
}

pub(crate) fn parse_zone(tz: &str) -> Result<Tz, TaskError> {
    let name = tz.trim();
    name.parse::<Tz>().map_err(|_| {
        TaskError::invalid(
            "timezone",
            format!(
                "'{name}' is not a known IANA time zone (e.g. Europe/Paris, America/New_York, UTC)"
            ),
        )
    })
}

/// The next `n` fire times of `expr` in zone `tz` after `after`: what the UI
/// shows as a person types an expression. An invalid expression or zone, or one
/// that never fires, is an error naming what is wrong.
pub fn upcoming_fires(
    expr: &str,
    tz: &str,
    after: DateTime<Utc>,
    n: usize,
) -> Result<Vec<DateTime<Utc>>, TaskError> {
    Ok(Recurrence::parse(expr, tz, after)?.upcoming(after, n.min(100)))
}

pub(crate) fn validate_schedule_name(name: &str) -> Result<String, TaskError> {
    validate_record_name("schedule", name)
}

/// A schedule's or a group's name: trimmed, not empty, at most
/// [`MAX_SCHEDULE_NAME`] characters, no control character. `what` names the
/// record in the refusal.
pub(crate) fn validate_record_name(what: &str, name: &str) -> Result<String, TaskError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TaskError::invalid(
            "name",
            format!("the {what}'s name is empty"),
        ));
    }
    if name.chars().count() > MAX_SCHEDULE_NAME {
        return Err(TaskError::invalid(
            "name",
            format!("the {what}'s name is longer than {MAX_SCHEDULE_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(TaskError::invalid(
            "name",
            format!("the {what}'s name contains a control character"),
        ));
    }
    Ok(name.to_string())
}

pub(crate) fn validate_pause_after_failures(n: Option<u32>) -> Result<u32, TaskError> {
    match n {
        None => Ok(DEFAULT_PAUSE_AFTER_FAILURES),
        Some(n) if n <= MAX_PAUSE_AFTER_FAILURES => Ok(n),
        Some(n) => Err(TaskError::invalid(
            "pause_after_failures",
            format!(
                "pause_after_failures is {n}; it must be between 0 (never pause) and {MAX_PAUSE_AFTER_FAILURES}"
            ),
        )),
    }
}

pub(crate) fn validate_follow_ups(follow_ups: &[String]) -> Result<(), TaskError> {
    if follow_ups.len() > MAX_FOLLOW_UPS {
        return Err(TaskError::invalid(
            "follow_ups",
            format!(
                "a schedule has at most {MAX_FOLLOW_UPS} follow-up instructions, got {}",
                follow_ups.len()
            ),
        ));
    }
    for (i, text) in follow_ups.iter().enumerate() {
        crate::task::validate_prompt(text)
            .map_err(|e| TaskError::invalid("follow_ups", format!("follow-up {}: {e}", i + 1)))?;
    }
    Ok(())
}

#[cfg(test)]
impl Schedule {
    /// An enabled schedule of mock tasks for unit tests, not yet stored (the
    /// lifecycle's `firing::add` sets its times).
    pub(crate) fn sample(name: &str, cron: &str) -> Schedule {
        let task = crate::task::Task::sample("scheduled prompt");
        Schedule {
            id: ScheduleId::new(),
            name: name.into(),
            cron: cron.into(),
            timezone: "UTC".into(),
            missed: MissedPolicy::default(),
            max_lateness_ms: None,
            overlap: OverlapPolicy::default(),
            enabled: true,
            template: TaskTemplate {
                name: None,
                prompt: task.prompt,
                provider: task.llm_provider,
                model: task.llm_model,
                max_attempts: task.max_attempts,
                timeout_ms: task.timeout_ms,
                system: None,
                temperature: None,
                max_tokens: None,
                tags: Vec::new(),
                follow_ups: Vec::new(),
                deliver: Default::default(),
                output_schema: None,
                fallbacks: Vec::new(),
                fallback_after: None,
                batch: None,
            },
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            last_fired_at: None,
            next_fire_at: None,
            fires: 0,
            active_fire: Vec::new(),
            pending: Vec::new(),
            skipped: Vec::new(),
            skipped_total: 0,
            pause_after_failures: DEFAULT_PAUSE_AFTER_FAILURES,
            failures_in_a_row: 0,
            auto_paused: None,
            last_output_task: None,
            previous_output_task: None,
            last_delivered: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_schedule_stored_with_runs_and_active_run_reads_and_is_written_with_the_new_names() {
        let task = TaskId::new();
        let mut record = serde_json::to_value(Schedule::sample("old", "0 9 * * *")).unwrap();
        let fields = record.as_object_mut().unwrap();
        fields.remove("fires");
        fields.remove("active_fire");
        fields.insert("runs".into(), 7.into());
        fields.insert("active_run".into(), serde_json::json!([task]));
        // As read from the database (`deny_unknown_fields` knows the old names).
        let s: Schedule = serde_json::from_slice(&serde_json::to_vec(&record).unwrap()).unwrap();
        assert_eq!((s.fires, s.active_fire.as_slice()), (7, &[task][..]));
        let written = serde_json::to_value(&s).unwrap();
        assert_eq!(
            (&written["fires"], &written["active_fire"]),
            (&7.into(), &serde_json::json!([task]))
        );
        assert!(written.get("runs").is_none() && written.get("active_run").is_none());
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> String {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn weekday_mornings_in_paris_are_nine_local_in_winter_and_summer() {
        let r = Recurrence::parse(
            "0 9 * * MON-FRI",
            "Europe/Paris",
            utc("2026-01-01T00:00:00Z"),
        )
        .unwrap();
        // Friday 2 January 2026, winter: UTC+1.
        assert_eq!(
            r.next_after(utc("2026-01-01T12:00:00Z")).unwrap(),
            utc("2026-01-02T08:00:00Z")
        );
        // Saturday → Monday 6 July 2026, summer: UTC+2.
        assert_eq!(
            r.next_after(utc("2026-07-04T00:00:00Z")).unwrap(),
            utc("2026-07-06T07:00:00Z")
        );
    }

    #[test]
    fn half_past_two_daily_fires_once_on_both_dst_change_days_in_two_zones() {
        // Europe/Paris: spring forward 2026-03-29 02:00→03:00, fall back 2026-10-25 03:00→02:00.
        // America/New_York: spring forward 2026-03-08, fall back 2026-11-01 (02:00).
        for (zone, spring, fall) in [
            ("Europe/Paris", (3, 29), (10, 25)),
            ("America/New_York", (3, 8), (11, 1)),
        ] {
            let tz: Tz = zone.parse().unwrap();
            let r = Recurrence::parse("30 2 * * *", zone, utc("2026-01-01T00:00:00Z")).unwrap();
            for (month, day) in [spring, fall] {
                let day_start = tz
                    .with_ymd_and_hms(2026, month, day, 0, 0, 0)
                    .earliest()
                    .unwrap()
                    .with_timezone(&Utc);
                let day_end = tz
                    .with_ymd_and_hms(2026, month, day + 1, 0, 0, 0)
                    .earliest()
                    .unwrap()
                    .with_timezone(&Utc);
                let fires: Vec<_> = r
                    .upcoming(day_start, 3)
                    .into_iter()
                    .filter(|t| *t < day_end)
                    .collect();
                assert_eq!(fires.len(), 1, "{zone} {month}-{day}: {fires:?}");
                let local_time = fires[0].with_timezone(&tz).format("%H:%M").to_string();
                if (month, day) == spring {
                    // 02:30 does not exist that day: the first instant after the gap.
                    assert_eq!(local_time, "03:00", "{zone} spring");
                } else {
                    // 02:30 happens twice: the first one.
                    assert_eq!(local_time, "02:30", "{zone} fall");
                    assert_eq!(
                        fires[0].with_timezone(&tz).to_rfc3339(),
                        local(tz, 2026, month, day, 2, 30),
                    );
                }
            }
        }
    }

    #[test]
    fn a_seconds_field_is_optional() {
        let r = Recurrence::parse("*/15 * * * * *", "UTC", utc("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(
            r.upcoming(utc("2026-01-01T00:00:00Z"), 2),
            vec![utc("2026-01-01T00:00:15Z"), utc("2026-01-01T00:00:30Z")]
        );
    }

    #[test]
    fn bad_expressions_zones_and_never_firing_dates_are_refused_by_name() {
        let now = utc("2026-01-01T00:00:00Z");
        let err = |expr: &str, tz: &str| Recurrence::parse(expr, tz, now).unwrap_err();
        let e = err("61 * * * *", "UTC");
        assert!(matches!(e, TaskError::Invalid { field: "cron", .. }), "{e}");
        assert!(e.to_string().contains("'61 * * * *' is invalid"), "{e}");
        let e = err("* * *", "UTC");
        assert!(e.to_string().contains("has 3 fields"), "{e}");
        let e = err("", "UTC");
        assert!(e.to_string().contains("empty"), "{e}");
        let e = err("0 9 * * *", "Mars/Olympus");
        assert!(
            matches!(
                e,
                TaskError::Invalid {
                    field: "timezone",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("'Mars/Olympus'"), "{e}");
        let e = err("0 0 30 2 *", "UTC");
        assert!(e.to_string().contains("never fires"), "{e}");
    }

    #[test]
    fn policies_read_and_print_their_names() {
        for p in [MissedPolicy::Skip, MissedPolicy::Once, MissedPolicy::All] {
            assert_eq!(p.to_string().parse::<MissedPolicy>().unwrap(), p);
        }
        for p in [
            OverlapPolicy::Skip,
            OverlapPolicy::Queue,
            OverlapPolicy::Cancel,
        ] {
            assert_eq!(p.to_string().parse::<OverlapPolicy>().unwrap(), p);
        }
        assert!("sometimes"
            .parse::<MissedPolicy>()
            .unwrap_err()
            .contains("skip, once, all"));
    }
}

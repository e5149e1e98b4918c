//! `baton schedule add|edit|list|show|pause|resume|remove|run-now`: recurring
//! schedules (docs/schedules.md), through the running engine's API or the
//! database, as the task commands. Every value is checked before either is
//! reached, so a bad one changes nothing and is named as such in both cases.

use super::with_backend;
use crate::error::CliError;
use crate::{input, output};
use baton_engine::{upcoming_fires, MissedPolicy, NewSchedule, OverlapPolicy, Schedule};
use chrono::Utc;
use clap::{Args, Subcommand};
use std::path::Path;

/// Fire times `show` lists.
const UPCOMING: usize = 5;
/// The schedule's tasks `show` lists, newest first.
const RECENT_TASKS: usize = 10;

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule: PROMPT runs as a task each time the cron expression fires
    Add(AddArgs),
    /// Replace a schedule's whole definition (it stays paused or enabled)
    Edit(EditArgs),
    /// List the schedules with their next fire times
    List(ListArgs),
    /// Show one schedule: its fields, next fire times, recent tasks and skipped runs
    Show(ShowArgs),
    /// Stop firing until resumed; runs due meanwhile are not "missed"
    Pause(NameArgs),
    /// Fire again from the next fire time after now
    Resume(NameArgs),
    /// Delete a schedule; the tasks it created stay
    Remove(NameArgs),
    /// Start a run now (whatever the overlap policy); print its task ids
    // The users' word stays `run-now`; in code it is a fire.
    #[command(name = "run-now")]
    FireNow(NameArgs),
}

/// What `add` and `edit` both take: the expression, its policies and the task.
#[derive(Debug, Args)]
pub struct Definition {
    /// 5 fields (minute hour day month weekday), or 6 with seconds first, e.g. '0 9 * * MON-FRI'
    #[arg(long, value_name = "EXPR")]
    pub cron: String,
    /// The IANA time zone the expression is read in, e.g. Europe/Paris [default: UTC]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Runs that fell due while Baton was closed or asleep: skip, once (the latest) or all [default: once]
    #[arg(long, value_name = "POLICY")]
    pub missed: Option<String>,
    /// Missed runs later than this are skipped whatever --missed says (e.g. 2h) [default: no limit]
    #[arg(long, value_name = "DURATION")]
    pub max_lateness: Option<String>,
    /// A fire while the previous run is still active: skip, queue or cancel (the previous) [default: skip]
    #[arg(long, value_name = "POLICY")]
    pub overlap: Option<String>,
    /// An instruction chained onto the run's task ({{parent.output}} allowed); repeatable, in order
    #[arg(long = "follow-up", value_name = "TEXT")]
    pub follow_ups: Vec<String>,
    /// Pause the schedule after this many failed runs in a row; 0 never pauses it [default: 5]
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = failure_limit)]
    pub pause_after_failures: Option<u32>,
    /// The prompt of each run's task; `-` reads it from standard input
    pub prompt: String,
    #[command(flatten)]
    pub task: baton_engine::NewTask,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A unique name (any case), used by the other schedule commands
    #[arg(id = "schedule", value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub definition: Definition,
    /// Store it paused: it fires only once resumed
    #[arg(long)]
    pub paused: bool,
    /// Print the schedule as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// The schedule's name or id
    #[arg(id = "schedule", value_name = "NAME")]
    pub name: String,
    /// A new name [default: the current one]
    #[arg(long, value_name = "NAME")]
    pub rename: Option<String>,
    #[command(flatten)]
    pub definition: Definition,
    /// Print the schedule as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print one JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The schedule's name or id
    pub name: String,
    /// Print the schedule, its next fire times and recent tasks as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// The schedule's name or id
    pub name: String,
}

pub async fn run(db: &Path, args: ScheduleArgs) -> Result<(), CliError> {
    match args.command {
        ScheduleCommand::Add(a) => add(db, a).await,
        ScheduleCommand::Edit(a) => edit(db, a).await,
        ScheduleCommand::List(a) => list(db, a).await,
        ScheduleCommand::Show(a) => show(db, a).await,
        ScheduleCommand::Pause(a) => pause(db, a).await,
        ScheduleCommand::Resume(a) => resume(db, a).await,
        ScheduleCommand::Remove(a) => remove(db, a).await,
        ScheduleCommand::FireNow(a) => fire_now(db, a).await,
    }
}

/// `--pause-after-failures`: a count, with the engine's bounds.
fn failure_limit(text: &str) -> Result<u32, String> {
    let n: i64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a whole number"))?;
    let max = baton_engine::MAX_PAUSE_AFTER_FAILURES;
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("{n} is not between 0 (never pause) and {max}"))
}

/// The request `add` and `edit` send, checked as far as it can be without the
/// database: the policies, durations, prompt, task fields, and the expression
/// in its zone (invalid, unknown zone, never fires).
fn new_schedule(name: String, d: &Definition) -> Result<NewSchedule, CliError> {
    let missed = d
        .missed
        .as_deref()
        .map(|m| m.parse::<MissedPolicy>())
        .transpose()
        .map_err(|e| CliError::usage(format!("--missed {e}")))?
        .unwrap_or_default();
    let overlap = d
        .overlap
        .as_deref()
        .map(|o| o.parse::<OverlapPolicy>())
        .transpose()
        .map_err(|e| CliError::usage(format!("--overlap {e}")))?
        .unwrap_or_default();
    let max_lateness = d
        .max_lateness
        .as_deref()
        .map(|t| input::duration("--max-lateness", t))
        .transpose()?;
    let zone = d.tz.as_deref().unwrap_or("UTC");
    upcoming_fires(&d.cron, zone, Utc::now(), 1)?;
    let prompt = input::prompt(&d.prompt, std::io::stdin())?;
    Ok(NewSchedule {
        timezone: d.tz.clone(),
        missed,
        max_lateness,
        overlap,
        follow_ups: d.follow_ups.clone(),
        pause_after_failures: d.pause_after_failures,
        ..NewSchedule::new(name, d.cron.clone(), input::task(prompt, &d.task)?)
    })
}

async fn add(db: &Path, args: AddArgs) -> Result<(), CliError> {
    let mut new = new_schedule(args.name, &args.definition)?;
    new.enabled = !args.paused;
    let saved = with_backend(db, |backend| async move { backend.add_schedule(new).await }).await?;
    print_saved(&saved, "added", args.json)
}

async fn edit(db: &Path, args: EditArgs) -> Result<(), CliError> {
    // The name is a placeholder until the schedule is found.
    let mut new = new_schedule(args.rename.clone().unwrap_or_default(), &args.definition)?;
    let key = args.name;
    let rename = args.rename;
    let saved = with_backend(db, |backend| async move {
        let current = backend.find_schedule(&key).await?;
        new.name = rename.unwrap_or(current.name);
        new.enabled = current.enabled;
        backend.update_schedule(current.id, new).await
    })
    .await?;
    print_saved(&saved, "saved", args.json)
}

/// "schedule 'NAME' added: next run …, id …", or the schedule as JSON.
fn print_saved(s: &Schedule, done: &str, json: bool) -> Result<(), CliError> {
    if json {
        return output::emit(&output::json(s)?);
    }
    output::emit(&format!(
        "schedule '{}' {done}: {}; id {}\n",
        s.name,
        output::next_fire(s),
        s.id
    ))
}

async fn list(db: &Path, args: ListArgs) -> Result<(), CliError> {
    let schedules = with_backend(db, |backend| async move { backend.schedules().await }).await?;
    output::emit(&if args.json {
        output::json(&schedules)?
    } else {
        output::schedule_table(&schedules)
    })
}

async fn show(db: &Path, args: ShowArgs) -> Result<(), CliError> {
    let key = args.name;
    let (schedule, tasks) = with_backend(db, |backend| async move {
        let s = backend.find_schedule(&key).await?;
        let tasks = backend.schedule_tasks(s.id, RECENT_TASKS).await?;
        Ok((s, tasks))
    })
    .await?;
    // Stored expressions and zones were validated; an error here would mean a
    // newer Baton wrote one this one cannot read, which `show` need not stop on.
    let upcoming = upcoming_fires(&schedule.cron, &schedule.timezone, Utc::now(), UPCOMING)
        .unwrap_or_default();
    let view = output::ScheduleView {
        schedule: &schedule,
        upcoming,
        recent_tasks: tasks,
    };
    output::emit(&if args.json {
        output::json(&view)?
    } else {
        output::schedule_details(&view)
    })
}

async fn pause(db: &Path, args: NameArgs) -> Result<(), CliError> {
    let key = args.name;
    let s = with_backend(db, |backend| async move {
        let s = backend.find_schedule(&key).await?;
        backend.pause_schedule(s.id).await
    })
    .await?;
    output::emit(&format!("schedule '{}' paused\n", s.name))
}

async fn resume(db: &Path, args: NameArgs) -> Result<(), CliError> {
    let key = args.name;
    let s = with_backend(db, |backend| async move {
        let s = backend.find_schedule(&key).await?;
        backend.resume_schedule(s.id).await
    })
    .await?;
    output::emit(&format!(
        "schedule '{}' resumed: {}\n",
        s.name,
        output::next_fire(&s)
    ))
}

async fn remove(db: &Path, args: NameArgs) -> Result<(), CliError> {
    let key = args.name;
    let s = with_backend(db, |backend| async move {
        let s = backend.find_schedule(&key).await?;
        backend.remove_schedule(s.id).await
    })
    .await?;
    output::emit(&format!(
        "schedule '{}' removed; the tasks it created are kept\n",
        s.name
    ))
}

/// One task id a line (the fire's first task first), so `ids=$(baton schedule run-now …)` works.
async fn fire_now(db: &Path, args: NameArgs) -> Result<(), CliError> {
    let key = args.name;
    let tasks = with_backend(db, |backend| async move {
        let s = backend.find_schedule(&key).await?;
        backend.fire_schedule_now(s.id).await
    })
    .await?;
    output::emit(
        &tasks
            .iter()
            .map(|t| format!("{}\n", t.id))
            .collect::<String>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::time::Duration;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: ScheduleCommand,
    }

    fn add_args(args: &[&str]) -> AddArgs {
        let mut all = vec!["schedule", "add"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).unwrap().command {
            ScheduleCommand::Add(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn add_flags_become_a_schedule_request_with_the_task_options() {
        let args = add_args(&[
            "daily",
            "--cron",
            "0 9 * * MON-FRI",
            "--tz",
            "Europe/Paris",
            "--missed",
            "all",
            "--max-lateness",
            "2h",
            "--overlap",
            "queue",
            "--follow-up",
            "shorter",
            "--follow-up",
            "in French",
            "summarise the news",
            "--model",
            "echo",
            "--max-attempts",
            "2",
            "--timeout",
            "30s",
            "--name",
            "news",
        ]);
        let new = new_schedule(args.name, &args.definition).unwrap();
        assert_eq!(new.name, "daily");
        assert_eq!(new.cron, "0 9 * * MON-FRI");
        assert_eq!(new.timezone.as_deref(), Some("Europe/Paris"));
        assert_eq!(new.missed, MissedPolicy::All);
        assert_eq!(new.overlap, OverlapPolicy::Queue);
        assert_eq!(new.max_lateness, Some(Duration::from_secs(7200)));
        assert_eq!(new.follow_ups, ["shorter", "in French"]);
        assert!(new.enabled);
        assert_eq!(new.task.prompt, "summarise the news");
        assert_eq!(new.task.name.as_deref(), Some("news"));
        assert_eq!(new.task.max_attempts, Some(2));
        assert_eq!(new.task.timeout_ms, Some(30_000));
        assert_eq!(new.task.start_at, None);
    }

    #[test]
    fn bad_policies_durations_expressions_and_zones_are_refused_before_anything_opens() {
        for (extra, says) in [
            (
                &["--missed", "sometimes"][..],
                "--missed 'sometimes' is not one of skip, once, all",
            ),
            (
                &["--overlap", "merge"],
                "--overlap 'merge' is not one of skip, queue, cancel",
            ),
            (
                &["--max-lateness", "soon"],
                "--max-lateness 'soon' is not a duration",
            ),
            (
                &["--tz", "Mars/Olympus"],
                "'Mars/Olympus' is not a known IANA time zone",
            ),
        ] {
            let mut all = vec!["x", "--cron", "0 9 * * *", "p"];
            all.extend_from_slice(extra);
            let args = add_args(&all);
            let err = new_schedule(args.name, &args.definition).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
            assert_eq!(err.exit_status(), crate::error::EXIT_USAGE, "{err}");
        }
        for (cron, says) in [
            ("61 * * * *", "is invalid"),
            ("* * *", "has 3 fields"),
            ("0 0 30 2 *", "never fires"),
        ] {
            let args = add_args(&["x", "--cron", cron, "p"]);
            let err = new_schedule(args.name, &args.definition).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}

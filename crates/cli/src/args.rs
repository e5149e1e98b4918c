//! The command line, as clap parses it. A task's fields and a list's filter are
//! the engine's `NewTask` and `TaskFilter`, whose flags parse each value with
//! the engine's own check. Other values stay text (or a wide signed number)
//! here when `input` or the engine words a bad one better than clap: ids,
//! durations, times, and numbers with a range.

use baton_engine::{NewTask, TaskError, TaskFilter};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  the request was understood but could not be done: the task's state does
     not allow it (e.g. cancelling a completed task), the database is in use
     or unreadable, a file error, or `wait` timed out or was stopped by a signal
  2  the request itself is wrong: bad arguments, invalid values, an unknown or
     malformed id, or an import file that is not a valid Baton export";

#[derive(Debug, Parser)]
#[command(
    name = "baton",
    version,
    about = "Run and manage Baton's LLM tasks from the command line",
    after_help = EXIT_STATUS,
)]
pub struct Cli {
    /// Directory holding baton.redb [default: the per-user data directory]
    #[arg(long, global = true, env = "BATON_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Memory for the database's page cache, in MiB (1..=65536)
    #[arg(long, global = true, env = "BATON_CACHE_MB", value_name = "MIB",
          default_value_t = (baton_engine::DEFAULT_CACHE_BYTES >> 20) as i64,
          allow_negative_numbers = true)]
    pub cache_mb: i64,

    /// Keep the tasks in this PostgreSQL database instead of the data directory's
    /// baton.redb: one queue several machines share (postgres://USER@HOST:PORT/DB;
    /// the password in the URL or in PGPASSWORD)
    #[arg(
        long,
        global = true,
        env = "BATON_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine in the foreground until SIGINT/SIGTERM
    // `baton run` starts a runner: the users' word is `run`.
    #[command(name = "run")]
    Runner(RunnerArgs),
    /// Create a task
    Submit(SubmitArgs),
    /// Create a task that runs on a parent's output ({{parent.output}} in INSTRUCTION)
    Chain(ChainArgs),
    /// Cancel a waiting, scheduled, queued or running task
    Cancel(CancelArgs),
    /// Queue a failed or cancelled task again
    Retry(RetryArgs),
    /// List tasks, newest first
    List(ListArgs),
    /// Show one task in full
    Show(ShowArgs),
    /// Write every task to a JSON export file
    Export(ExportArgs),
    /// Add the tasks of an export file; ids already stored are skipped
    Import(ImportArgs),
    /// Run the engine until every task is finished, then stop
    Wait(WaitArgs),
    /// Follow the running engine's live events (one line each)
    Events(EventsArgs),
    /// Configure the LLM providers tasks can use (OpenAI-compatible, Anthropic)
    Provider(crate::commands::provider::ProviderArgs),
    /// Recurring schedules: a prompt run on a cron expression in a time zone
    Schedule(crate::commands::schedule::ScheduleArgs),
    /// Where answers went (files, webhooks) and their state; resend one
    Deliveries(crate::commands::deliveries::DeliveriesArgs),
    /// Caps on spending in money or tokens, per day or month: set, list, remove
    Budget(crate::commands::budget::BudgetArgs),
    /// Run a prompt over every row of a CSV, JSON Lines or text file, as one group
    Map(crate::commands::group::MapArgs),
    /// Groups made by `map`: list, show, cancel, retry, export the results
    Group(crate::commands::group::GroupArgs),
    /// The shared queue's PostgreSQL database (--database): migrate it, see its runners
    Db(crate::commands::db::DbArgs),
}

impl Command {
    /// The log level when BATON_LOG is not set: the long-running commands narrate.
    pub fn default_log_level(&self) -> &'static str {
        match self {
            Command::Runner(_) | Command::Wait(_) | Command::Events(_) => "info",
            _ => "warn",
        }
    }
}

#[derive(Debug, Args)]
pub struct RunnerArgs {
    /// Attempts that run at the same time (1..=1024)
    #[arg(long, value_name = "N", default_value_t = baton_engine::DEFAULT_WORKERS as i64,
          allow_negative_numbers = true)]
    pub workers: i64,
    /// Stop once nothing is scheduled, queued, waiting or running, and no delivery is pending
    #[arg(long)]
    pub exit_when_idle: bool,
    /// Serve the local HTTP API on this port of 127.0.0.1 [default: a free port;
    /// with --database, no API unless this is given]
    #[arg(long, value_name = "P", conflicts_with = "no_api")]
    pub api_port: Option<u16>,
    /// Do not serve the HTTP API (other commands then cannot reach this engine)
    #[arg(long)]
    pub no_api: bool,
    /// How often submitted provider batches are polled (batch mode)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub batch_poll: std::time::Duration,
    /// With --database: how long after this runner's last heartbeat the other
    /// runners presume it gone and take over its running tasks (at least 2s)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub lease: std::time::Duration,
}

/// The options `submit` and `chain` share.
#[derive(Debug, Args)]
pub struct TaskOptions {
    /// The task's own settings, as the engine defines them (its prompt and
    /// start time are the arguments and `--at`/`--in`).
    #[command(flatten)]
    pub task: NewTask,
    /// Run at this time (RFC 3339, e.g. 2030-01-01T09:00:00Z)
    #[arg(long, value_name = "RFC3339", conflicts_with = "after")]
    pub at: Option<String>,
    /// Run after this long (e.g. 30s, 5m, 1h30m)
    #[arg(long = "in", id = "after", value_name = "DURATION")]
    pub after: Option<String>,
    /// Print the new task as JSON instead of its id
    #[arg(long)]
    pub json: bool,
    /// Create at most once: the same key with the same request answers the
    /// task the first one created (safe to retry); kept 24 hours. `--in` is
    /// counted from each run, so retry a keyed request with `--at`
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The prompt; `-` reads it from standard input
    pub prompt: String,
    #[command(flatten)]
    pub options: TaskOptions,
}

#[derive(Debug, Args)]
pub struct ChainArgs {
    /// The task whose output this one receives
    pub parent_id: String,
    /// The instruction; `-` reads it from standard input
    pub instruction: String,
    #[command(flatten)]
    pub options: TaskOptions,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    pub id: String,
    /// Why, kept with the task
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    pub id: String,
    /// A new attempt budget (1..=20) [default: the task's]
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = baton_engine::parse_max_attempts)]
    pub max_attempts: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: TaskFilter,
    /// Only the rows of this group (its name or id), in input order
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// At most this many tasks
    #[arg(
        long,
        value_name = "N",
        default_value_t = 50,
        allow_negative_numbers = true
    )]
    pub limit: i64,
    /// Print one JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub id: String,
    /// Print the task as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write here instead of standard output (`-`: standard output). An
    /// existing file, or a symlink's target, is replaced atomically, keeping
    /// its mode; a directory, device or FIFO is refused
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Print each event's JSON, one per line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Give up after this long
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub timeout: String,
}

/// Prints a clap error the way every other error is printed: one line, `baton: `
/// first, exit status 2. Help and version requests print in full.
pub fn report_parse_error(err: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            std::process::ExitCode::from(err.exit_code().clamp(0, 255) as u8)
        }
        _ => {
            eprintln!("baton: {}", parse_error_line(&err));
            std::process::ExitCode::from(crate::error::EXIT_USAGE)
        }
    }
}

/// The engine's sentence for a value its parser refused (the one the API gives
/// for it), else clap's message.
fn parse_error_line(err: &clap::Error) -> String {
    let engine = std::error::Error::source(err).and_then(|e| e.downcast_ref::<TaskError>());
    match engine {
        Some(refused) => refused.to_string(),
        None => first_paragraph(&err.render().to_string()),
    }
}

/// clap's message without its `error: ` label, tips and usage block, on one line.
fn first_paragraph(rendered: &str) -> String {
    rendered
        .trim_start()
        .trim_start_matches("error: ")
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parse_errors_become_one_line_without_label_or_usage() {
        let err = Cli::try_parse_from(["baton", "submit"]).unwrap_err();
        let line = first_paragraph(&err.render().to_string());
        assert!(!line.contains('\n') && !line.starts_with("error"), "{line}");
        assert!(line.contains("<PROMPT>"), "{line}");
    }

    #[test]
    fn a_value_the_engine_refuses_is_reported_with_its_sentence_alone() {
        for (args, says) in [
            (
                &["baton", "submit", "x", "--max-attempts", "0"][..],
                "max_attempts must be between 1 and 20, got 0",
            ),
            (
                &["baton", "submit", "x", "--tag", "a/b"],
                "the tag 'a/b' has '/'; a tag holds only letters, digits, '-', '_' and '.'",
            ),
            (
                &["baton", "list", "--tag", "a/b"],
                "the tag 'a/b' has '/'; a tag holds only letters, digits, '-', '_' and '.'",
            ),
            (
                &["baton", "list", "--status", "done"],
                "unknown status 'done' (expected one of: waiting, scheduled, queued, running, completed, failed, cancelled)",
            ),
        ] {
            let err = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(parse_error_line(&err), says, "{args:?}");
        }
        let err = Cli::try_parse_from(["baton", "submit", "x", "--frobnicate"]).unwrap_err();
        assert!(parse_error_line(&err).contains("--frobnicate"));
    }

    #[test]
    fn task_flags_fill_the_engines_new_task() {
        let cli = Cli::try_parse_from([
            "baton",
            "submit",
            "p",
            "--timeout",
            "90s",
            "--max-attempts",
            "4",
            "--tag",
            "Ops",
            "--tag",
            "weekly",
        ])
        .unwrap();
        let Command::Submit(submit) = cli.command else {
            panic!("{:?}", cli.command)
        };
        let task = submit.options.task;
        assert_eq!(task.timeout_ms, Some(90_000));
        assert_eq!(task.max_attempts, Some(4));
        assert_eq!(task.tags, ["ops", "weekly"]);
        assert_eq!((task.prompt.as_str(), task.start_at), ("", None));
    }

    #[test]
    fn at_and_in_cannot_be_given_together() {
        let err = Cli::try_parse_from([
            "baton",
            "submit",
            "x",
            "--at",
            "2030-01-01T00:00:00Z",
            "--in",
            "5s",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}

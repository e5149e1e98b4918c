//! Every way a command can fail, with a stable code and an exit status.
//!
//! `Display` is the one sentence printed after `baton: `; the engine's errors are
//! already written that way and pass through unchanged.

use baton_engine::{ImportError, OpenError, ProviderConfigError, StatusCounts, TaskError};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The request was understood but could not be done.
pub const EXIT_FAILURE: u8 = 1;
/// The request itself is wrong (clap uses 2 for its own errors too).
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A value on the command line or standard input is wrong; nothing was opened.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Provider(#[from] ProviderConfigError),
    #[error("cannot {action} {}: {detail}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    #[error(
        "found no per-user data directory on this system; pass --data-dir or set BATON_DATA_DIR"
    )]
    NoDataDir,
    #[error("gave up after {}: {}", humantime::format_duration(*after), still_active(counts))]
    WaitTimedOut {
        after: Duration,
        counts: StatusCounts,
    },
    #[error("stopped by {signal}: {}", still_active(counts))]
    Stopped {
        signal: &'static str,
        counts: StatusCounts,
    },
    #[error(
        "stopped at once by a second signal; tasks left running are recovered on the next start"
    )]
    ForcedStop,
    #[error("baton stopped on an internal error ({0}); please report it")]
    Internal(String),
    /// The running engine's API refused the request; `message` is its sentence.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("lost the connection to the running engine at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("cannot start the API: {0}")]
    ApiStart(#[from] baton_api::ApiError),
    #[error("no Baton engine is running for this data directory; start one with `baton run`")]
    NoEngine,
    #[error("the running engine stopped")]
    EngineStopped,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// Stable across releases: scripts may match on it (shown with BATON_LOG=debug).
    pub fn code(&self) -> &str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Open(e) => e.code(),
            CliError::Task(e) => e.code(),
            CliError::Import(e) => e.code(),
            CliError::Provider(e) => e.code(),
            CliError::File { .. } => "file",
            CliError::Stdout(_) => "stdout",
            CliError::NoDataDir => "no_data_dir",
            CliError::WaitTimedOut { .. } => "wait_timed_out",
            CliError::Stopped { .. } => "stopped_by_signal",
            CliError::ForcedStop => "forced_stop",
            CliError::Internal(_) => "internal",
            CliError::Api { code, .. } => code,
            CliError::Unreachable { .. } => "api_unreachable",
            CliError::ApiStart(e) => e.code(),
            CliError::NoEngine => "no_engine",
            CliError::EngineStopped => "engine_stopped",
        }
    }

    pub fn exit_status(&self) -> u8 {
        match self {
            CliError::Usage(_)
            | CliError::Import(ImportError::NotJson(_))
            | CliError::Import(ImportError::FutureVersion { .. })
            | CliError::Import(ImportError::WrongShape(_))
            | CliError::Import(ImportError::BadRecords(_))
            | CliError::Task(TaskError::Invalid { .. })
            | CliError::Task(TaskError::NotFound(_))
            | CliError::Task(TaskError::ScheduleNotFound(_))
            | CliError::Task(TaskError::DeliveryNotFound(_))
            | CliError::Task(TaskError::BudgetNotFound(_))
            | CliError::Task(TaskError::GroupNotFound(_))
            | CliError::Task(TaskError::IdempotencyKeyReused(_))
            | CliError::Import(ImportError::Task(TaskError::Invalid { .. }))
            | CliError::Provider(ProviderConfigError::Invalid { .. })
            | CliError::Provider(ProviderConfigError::NotFound(_))
            | CliError::Provider(ProviderConfigError::NotDetected { .. }) => EXIT_USAGE,
            // The API's statuses for a wrong request: the same cases as above.
            CliError::Api {
                status: 400 | 404 | 413 | 415 | 422,
                ..
            } => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// Prints the sentence and gives the exit status.
    pub fn report(&self) -> ExitCode {
        tracing::debug!(code = self.code(), "command failed");
        eprintln!("baton: {self}");
        ExitCode::from(self.exit_status())
    }
}

/// "3 tasks are still active (2 running, 1 scheduled)": only states that have tasks.
fn still_active(counts: &StatusCounts) -> String {
    let n = counts.active();
    let breakdown = [
        (counts.running, "running"),
        (counts.queued, "queued"),
        (counts.scheduled, "scheduled"),
        (counts.waiting, "waiting"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, s)| format!("{n} {s}"))
    .collect::<Vec<_>>()
    .join(", ");
    let subject = if n == 1 { "task is" } else { "tasks are" };
    format!("{n} {subject} still active ({breakdown})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_timeout_sentence_counts_only_the_states_present() {
        let err = CliError::WaitTimedOut {
            after: Duration::from_secs(90),
            counts: StatusCounts {
                running: 2,
                scheduled: 1,
                completed: 7,
                ..StatusCounts::default()
            },
        };
        assert_eq!(
            err.to_string(),
            "gave up after 1m 30s: 3 tasks are still active (2 running, 1 scheduled)"
        );
        assert_eq!(err.exit_status(), EXIT_FAILURE);
    }

    #[test]
    fn invalid_values_exit_2_and_state_conflicts_exit_1() {
        let invalid: CliError = "nope".parse::<baton_engine::TaskId>().unwrap_err().into();
        assert_eq!(invalid.exit_status(), EXIT_USAGE);
        assert_eq!(CliError::ForcedStop.exit_status(), EXIT_FAILURE);
    }
}

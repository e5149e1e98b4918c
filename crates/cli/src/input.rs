//! Turns command-line text into engine values. Everything here runs before the
//! database is opened, so a bad value changes nothing and is reported even when
//! another process holds the database.

use crate::args::TaskOptions;
use crate::error::CliError;
use baton_engine::{IdempotencyKey, NewTask, TaskId, MAX_WORKERS};
use chrono::{DateTime, Utc};
use std::io::Read;
use std::time::Duration;

/// The argument that means "read standard input".
const STDIN: &str = "-";

pub fn task_id(text: &str) -> Result<TaskId, CliError> {
    Ok(text.parse::<TaskId>()?)
}

/// A duration as people write it: `30s`, `5m`, `1h30m`, `250ms`.
pub fn duration(flag: &str, text: &str) -> Result<Duration, CliError> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        CliError::usage(format!(
            "{flag} '{text}' is not a duration; write it like 30s, 5m or 1h30m"
        ))
    })
}

/// The start time: `--at` (RFC 3339, any offset) or `--in` (from `now`), in UTC.
pub fn start_at(
    at: Option<&str>,
    after: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, CliError> {
    if let Some(at) = at {
        let time = DateTime::parse_from_rfc3339(at.trim()).map_err(|_| {
            CliError::usage(format!(
                "--at '{at}' is not an RFC 3339 time; write it like 2030-01-31T09:00:00Z"
            ))
        })?;
        return Ok(Some(time.with_timezone(&Utc)));
    }
    let Some(after) = after else { return Ok(None) };
    let delay = duration("--in", after)?;
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .map(Some)
        .ok_or_else(|| CliError::usage(format!("--in '{after}' is too far in the future")))
}

/// `--idempotency-key`, checked by the engine's rules.
pub fn idempotency_key(text: Option<&str>) -> Result<Option<IdempotencyKey>, CliError> {
    Ok(text.map(IdempotencyKey::new).transpose()?)
}

pub fn limit(n: i64) -> Result<usize, CliError> {
    usize::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| CliError::usage(format!("--limit must be at least 1, got {n}")))
}

pub fn workers(n: i64) -> Result<usize, CliError> {
    usize::try_from(n)
        .ok()
        .filter(|n| (1..=MAX_WORKERS).contains(n))
        .ok_or_else(|| {
            CliError::usage(format!(
                "--workers must be between 1 and {MAX_WORKERS}, got {n}"
            ))
        })
}

/// The prompt argument, or standard input when it is `-`. One trailing newline
/// from stdin is dropped: `echo hi | baton submit -` means the prompt "hi".
pub fn prompt(arg: &str, stdin: impl Read) -> Result<String, CliError> {
    if arg != STDIN {
        return Ok(arg.to_string());
    }
    let mut bytes = Vec::new();
    let mut stdin = stdin;
    stdin
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::usage(format!("cannot read the prompt from standard input: {e}")))?;
    let mut text = String::from_utf8(bytes)
        .map_err(|_| CliError::usage("the prompt on standard input is not UTF-8 text"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// The request `submit` and `chain` send, checked by the engine's own rules
/// ([`NewTask::check`]) whether it then goes to a running engine's API or to
/// the database: a value JSON cannot carry (a NaN temperature) never leaves.
pub fn new_task(prompt: String, options: &TaskOptions) -> Result<NewTask, CliError> {
    let new = NewTask {
        start_at: start_at(options.at.as_deref(), options.after.as_deref(), Utc::now())?,
        ..task(prompt, &options.task)?
    };
    new.check()?;
    Ok(new)
}

/// A task to create with no start time of its own: a schedule's task, or the
/// base of [`new_task`]. The flags parsed each field; this checks the whole
/// (the prompt, the number of tags).
pub fn task(prompt: String, fields: &NewTask) -> Result<NewTask, CliError> {
    let mut new = NewTask {
        prompt,
        start_at: None,
        ..fields.clone()
    };
    // The engine may run elsewhere (another directory): it gets the whole path.
    if let Some(path) = &new.deliver.to_file {
        if !path.trim().is_empty() && std::path::Path::new(path).is_relative() {
            let cwd = std::env::current_dir().map_err(|e| {
                CliError::usage(format!("--to-file: cannot read the current directory: {e}"))
            })?;
            new.deliver.to_file = Some(cwd.join(path).to_string_lossy().into_owned());
        }
    }
    new.check()?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2030-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn in_is_counted_from_now_and_at_is_converted_to_utc() {
        let due = start_at(None, Some("1h30m"), now()).unwrap().unwrap();
        assert_eq!(
            due,
            "2030-01-01T01:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let at = start_at(Some("2030-01-01T02:00:00+02:00"), None, now()).unwrap();
        assert_eq!(at, Some(now()));
        assert_eq!(start_at(None, None, now()).unwrap(), None);
    }

    #[test]
    fn unparseable_times_and_durations_name_the_flag() {
        for (at, after, flag) in [
            (Some("tomorrow"), None, "--at"),
            (Some("2030-01-01"), None, "--at"),
            (None, Some("5 parsecs"), "--in"),
            (None, Some("-5s"), "--in"),
            (None, Some("99999999999y"), "--in"),
        ] {
            let err = start_at(at, after, now()).unwrap_err().to_string();
            assert!(err.starts_with(flag), "{err}");
        }
    }

    #[test]
    fn stdin_prompt_drops_one_trailing_newline_only() {
        assert_eq!(prompt("-", &b"hi\n\n"[..]).unwrap(), "hi\n");
        assert_eq!(prompt("-", &b"hi\r\n"[..]).unwrap(), "hi");
        assert_eq!(prompt("literal", &b"ignored"[..]).unwrap(), "literal");
        assert!(prompt("-", &[0xff, 0xfe][..]).is_err());
    }

    #[test]
    fn numbers_outside_their_range_are_refused_with_the_flag_range() {
        assert!(limit(0).is_err() && limit(-3).is_err());
        assert_eq!(limit(50).unwrap(), 50);
        assert!(workers(0).is_err() && workers(1025).is_err());
        assert_eq!(workers(8).unwrap(), 8);
    }

    #[test]
    fn malformed_ids_are_usage_errors() {
        assert_eq!(task_id("nope").unwrap_err().exit_status(), 2);
    }
}

//! What commands print on standard output: JSON for scripts, tables and
//! key/value blocks for people. Formatting builds strings; only [`emit`] writes.

use crate::error::CliError;
use baton_engine::{Attempt, Task, TaskState};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write as _;

/// Writes `text` to stdout. A closed pipe (`baton list | head`) is not an error:
/// the reader has what it wanted.
pub fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Stdout(e)),
        _ => Ok(()),
    }
}

/// Pretty JSON with a final newline; the field names are the serde names.
pub fn json(value: &impl Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| CliError::Internal(format!("serialising JSON failed: {e}")))
}

/// Seconds are enough for people; JSON keeps full precision.
fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Attempts are often shorter than a second.
fn precise(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_else(|| "-".into())
}

/// One table cell: control characters would break the row, long text the layout.
fn cell(text: &str, max_chars: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max_chars {
        let mut cut: String = flat.chars().take(max_chars - 1).collect();
        cut.push('…');
        cut
    } else {
        flat
    }
}

/// The `list` table: id, status, name, model, when, attempts.
pub fn table(tasks: &[Task]) -> String {
    if tasks.is_empty() {
        return "no tasks\n".into();
    }
    let header = ["ID", "STATUS", "NAME", "MODEL", "WHEN", "ATTEMPTS"].map(String::from);
    let rows: Vec<[String; 6]> = tasks
        .iter()
        .map(|t| {
            // A scheduled task's interesting time is when it runs; others', when made.
            let when = match (t.status, t.scheduled_for) {
                (TaskState::Scheduled, Some(at)) => format!("due {}", time(at)),
                _ => format!("created {}", time(t.created_at)),
            };
            [
                t.id.to_string(),
                t.status.to_string(),
                cell(&t.name, 32),
                cell(&t.llm_model, 20),
                when,
                format!("{}/{}", t.attempts, t.max_attempts),
            ]
        })
        .collect();
    let mut widths = header.each_ref().map(|h| h.chars().count());
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let _ = write!(line, "{c:<w$}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Every field of one task, then its prompt, output, error and attempt history.
pub fn details(t: &Task) -> String {
    let mut out = String::new();
    let mut field = |label: &str, value: String| {
        let _ = writeln!(out, "{:<15}{value}", format!("{label}:"));
    };
    field("id", t.id.to_string());
    field("name", t.name.clone());
    field("status", t.status.to_string());
    field("provider", t.llm_provider.clone());
    field("model", t.llm_model.clone());
    field(
        "parent",
        t.parent_task_id.map_or("-".into(), |p| p.to_string()),
    );
    field("created", time(t.created_at));
    field("scheduled for", opt_time(t.scheduled_for));
    field("started", opt_time(t.started_at));
    field("finished", opt_time(t.finished_at));
    field(
        "latency",
        t.latency_ms.map_or("-".into(), |ms| format!("{ms} ms")),
    );
    field("attempts", format!("{} of {}", t.attempts, t.max_attempts));
    field(
        "timeout",
        humantime::format_duration(t.timeout()).to_string(),
    );
    if t.prompt_tokens.is_some() || t.completion_tokens.is_some() {
        let n = |v: Option<u64>| v.map_or("?".into(), |v| v.to_string());
        field(
            "tokens",
            format!(
                "{} prompt, {} completion",
                n(t.prompt_tokens),
                n(t.completion_tokens)
            ),
        );
    }
    if let Some(cost) = t.cost_usd {
        field("cost", format!("${:.6}", cost.0));
    }
    if let Some(reason) = &t.cancel_reason {
        field("cancel reason", reason.clone());
    }
    block(&mut out, "prompt", Some(&t.prompt));
    block(&mut out, "effective prompt", t.effective_prompt.as_deref());
    block(&mut out, "output", t.output.as_deref());
    block(&mut out, "error", t.error.as_deref());
    if !t.history.is_empty() {
        out.push_str("history:\n");
        for attempt in &t.history {
            let _ = writeln!(out, "  {}", history_line(attempt));
        }
    }
    out
}

/// A multi-line value, indented under its label; absent values are left out.
fn block(out: &mut String, label: &str, text: Option<&str>) {
    let Some(text) = text else { return };
    let _ = writeln!(out, "{label}:");
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

fn history_line(a: &Attempt) -> String {
    let outcome = match a.outcome {
        Some(o) => serde_json::to_value(o)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_else(|| format!("{o:?}")),
        None => "running".into(),
    };
    let mut line = format!(
        "#{:<3} {}  {} → {}",
        a.number,
        outcome,
        precise(a.started_at),
        a.finished_at.map_or("-".into(), precise)
    );
    if let Some(e) = &a.error {
        let _ = write!(line, "  ({})", cell(e, 200));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_flatten_newlines_and_shorten_long_text() {
        assert_eq!(cell("a\nb", 10), "a b");
        assert_eq!(cell("abcdef", 4), "abc…");
        assert_eq!(cell("abcd", 4), "abcd");
    }

    #[test]
    fn an_empty_list_says_so() {
        assert_eq!(table(&[]), "no tasks\n");
    }
}

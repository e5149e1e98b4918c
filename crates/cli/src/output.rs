//! What commands print on standard output: JSON for scripts, tables and
//! key/value blocks for people. Formatting builds strings; only [`emit`] writes.

use crate::error::CliError;
use baton_engine::{Attempt, Schedule, Task, TaskState};
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

/// Bytes as they are (an export in CSV or JSON Lines).
pub fn emit_bytes(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::Stdout(e)),
        _ => Ok(()),
    }
}

/// One line per group: its progress.
pub fn groups(list: &[baton_engine::Group]) -> String {
    if list.is_empty() {
        return "no groups\n".into();
    }
    let mut out = format!(
        "{:<36}  {:<24}  {:<9}  {:>15}  {:>6}  {}\n",
        "ID", "NAME", "STATUS", "DONE", "FAILED", "JOIN"
    );
    for g in list {
        let _ = writeln!(
            out,
            "{:<36}  {:<24}  {:<9}  {:>15}  {:>6}  {}",
            g.id,
            cell(&g.name, 24),
            g.status.as_str(),
            format!("{}/{}", g.completed + g.failed + g.cancelled, g.total),
            g.failed + g.cancelled,
            g.join.as_ref().map(|j| j.status.as_str()).unwrap_or("-")
        );
    }
    out
}

/// A group's progress, then its first rows (input order) with their states.
pub fn group(g: &baton_engine::Group, rows: &[baton_engine::Task]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "group     {} ({})", g.name, g.id);
    let _ = writeln!(out, "status    {}", g.status.as_str());
    let _ = writeln!(
        out,
        "rows      {} total: {} completed, {} failed, {} cancelled, {} to finish",
        g.total,
        g.completed,
        g.failed,
        g.cancelled,
        g.pending()
    );
    let _ = writeln!(out, "columns   {}", g.columns.join(", "));
    if let Some(j) = &g.join {
        let _ = writeln!(
            out,
            "join      {} ({}, runs on {})",
            j.task_id,
            j.status.as_str(),
            match j.on {
                baton_engine::JoinOn::All => "all rows completed",
                baton_engine::JoinOn::Completed => "the completed rows",
            }
        );
    }
    let _ = writeln!(
        out,
        "\n{:>6}  {:<36}  {:<9}  OUTPUT",
        "ROW", "TASK", "STATUS"
    );
    for t in rows {
        let row = t.group.as_ref().and_then(|m| m.row).unwrap_or(0);
        let answer = t
            .output
            .as_deref()
            .or(t.error.as_deref())
            .unwrap_or("")
            .replace('\n', " ");
        let _ = writeln!(
            out,
            "{row:>6}  {:<36}  {:<9}  {}",
            t.id,
            t.status.as_str(),
            cell(&answer, 60)
        );
    }
    if (rows.len() as u32) < g.total {
        let _ = writeln!(
            out,
            "… {} more rows (`baton list --group {}` or `baton group export`)",
            g.total - rows.len() as u32,
            g.name
        );
    }
    out
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

/// The `deliveries` table: id, task, status, tries, when, where, and why not.
pub fn deliveries(list: &[baton_engine::Delivery]) -> String {
    if list.is_empty() {
        return "no deliveries\n".into();
    }
    let mut out = format!(
        "{:<36}  {:<36}  {:<7}  {:>5}  {:<20}  {}\n",
        "ID", "TASK", "STATUS", "TRIES", "WHEN", "TO"
    );
    for d in list {
        let when = match d.status {
            baton_engine::DeliveryStatus::Pending => d.next_at,
            baton_engine::DeliveryStatus::Sent => d.sent_at,
            _ => Some(d.created_at),
        };
        let _ = writeln!(
            out,
            "{:<36}  {:<36}  {:<7}  {:>5}  {:<20}  {}",
            d.id,
            d.task_id,
            d.status.as_str(),
            d.attempts,
            opt_time(when),
            cell(&d.target.describe(), 80)
        );
        if let Some(error) = &d.error {
            let _ = writeln!(out, "    {}", cell(error, 200));
        }
    }
    out
}

/// The budgets: each cap, what was spent and is reserved against it, when it resets.
pub fn budgets(list: &[baton_engine::Budget]) -> String {
    use baton_engine::BudgetScope;
    if list.is_empty() {
        return "no budgets\n".into();
    }
    let mut out = format!(
        "{:<20}  {:<24}  {:<7}  {:<34}  {}\n",
        "NAME", "COUNTS", "PERIOD", "SPENT OF CAP", "RESETS"
    );
    for b in list {
        let counts = match &b.scope {
            BudgetScope::All => "every task".to_string(),
            BudgetScope::Provider { provider } => format!("provider {provider}"),
            BudgetScope::Schedule { schedule, .. } => format!("schedule {schedule}"),
        };
        let share = if b.amount.0 > 0.0 {
            b.spent.0 / b.amount.0 * 100.0
        } else {
            0.0
        };
        let mut spent = format!(
            "{} of {} ({share:.0}%)",
            b.format_amount(b.spent.0),
            b.format_amount(b.amount.0)
        );
        if b.reserved.0 > 0.0 {
            let _ = write!(spent, ", {} reserved", b.format_amount(b.reserved.0));
        }
        let tz: chrono_tz::Tz = b.timezone.parse().unwrap_or(chrono_tz::UTC);
        let _ = writeln!(
            out,
            "{:<20}  {:<24}  {:<7}  {:<34}  {} {}",
            cell(&b.name, 20),
            cell(&counts, 24),
            b.period.as_str(),
            spent,
            b.resets_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            b.timezone
        );
    }
    out
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
            let when = match (t.status, t.start_at) {
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
    columns(&header, &rows)
}

/// What `provider detect` prints: each server found, then each port that
/// answered otherwise, or that nothing was found where it looked.
pub fn local_servers(d: &baton_engine::Detection) -> String {
    let mut out = if d.found.is_empty() {
        let looked: Vec<String> = baton_engine::LocalServerKind::ALL
            .iter()
            .map(|k| format!("{} :{}", k.label(), k.port()))
            .collect();
        format!(
            "no local server found on 127.0.0.1 (looked at {})\n",
            looked.join(", ")
        )
    } else {
        let header = ["KIND", "NAME", "URL", "MODELS"].map(String::from);
        let rows: Vec<[String; 4]> = d
            .found
            .iter()
            .map(|s| {
                let name = match &s.configured_as {
                    Some(_) => format!("{} (added)", s.name),
                    None => s.name.clone(),
                };
                let models = match s.models.len() {
                    0 => "none listed".to_string(),
                    n => {
                        let first: Vec<&str> =
                            s.models.iter().take(3).map(String::as_str).collect();
                        let more = if n > 3 { ", …" } else { "" };
                        format!("{n}: {}{more}", first.join(", "))
                    }
                };
                [s.label.clone(), name, s.base_url.clone(), models]
            })
            .collect();
        columns(&header, &rows)
    };
    for u in &d.unrecognised {
        let _ = writeln!(
            out,
            "{}: {}; not taken for {}",
            u.url,
            u.reason,
            u.kind.label()
        );
    }
    if d.found.iter().any(|s| s.configured_as.is_none()) {
        out.push_str("add one with `baton provider detect --add NAME`\n");
    }
    out
}

/// Left-aligned columns two spaces apart, the header first.
fn columns<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let mut widths = header.each_ref().map(|h| h.chars().count());
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows) {
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
    if !t.fallbacks.is_empty() {
        field("fallbacks", fallbacks(&t.fallbacks));
        let (provider, model) = t.target();
        field("next target", format!("{provider}:{model}"));
    }
    field(
        "parent",
        t.parent_task_id.map_or("-".into(), |p| p.to_string()),
    );
    field("created", time(t.created_at));
    field("scheduled for", opt_time(t.start_at));
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
    if !t.tags.is_empty() {
        field("tags", t.tags.join(", "));
    }
    if t.output_schema.is_some() {
        field(
            "output schema",
            if t.output_json.is_some() {
                "matched (the parsed answer is output_json in --json)".into()
            } else {
                "set: no answer has matched it yet".into()
            },
        );
    }
    if t.prompt_tokens.is_some() || t.completion_tokens.is_some() {
        // "≈": counted by Baton, because the provider reported none.
        let about = if t.usage_estimated { "≈" } else { "" };
        let n = |v: Option<u64>| v.map_or("?".into(), |v| format!("{about}{v}"));
        field(
            "tokens",
            format!(
                "{} prompt, {} completion{}",
                n(t.prompt_tokens),
                n(t.completion_tokens),
                if t.usage_estimated {
                    " (estimated: the provider reported none)"
                } else {
                    ""
                }
            ),
        );
    }
    if let Some(reason) = &t.finish_reason {
        field("finish reason", finish_reason(reason, t.max_tokens));
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

/// Targets in order, as `--fallback` takes them.
fn fallbacks(targets: &[baton_engine::Target]) -> String {
    targets
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A multi-line value, indented under its label; absent values are left out.
fn block(out: &mut String, label: &str, text: Option<&str>) {
    let Some(text) = text else { return };
    let _ = writeln!(out, "{label}:");
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

/// Why an answer stopped, in words where the bare reason is cryptic.
fn finish_reason(reason: &str, max_tokens: Option<u32>) -> String {
    match (reason, max_tokens) {
        ("length", Some(n)) => format!("length (stopped at the {n}-token limit)"),
        ("length", None) => "length (stopped at the token limit)".into(),
        (other, _) => other.to_string(),
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
    if let (Some(provider), Some(model)) = (&a.provider, &a.model) {
        let _ = write!(line, "  on {provider}:{model}");
    }
    if let Some(cost) = a.cost_usd {
        let _ = write!(line, "  ${:.6}", cost.0);
    }
    if let Some(reason) = &a.finish_reason {
        let _ = write!(line, "  [{reason}]");
    }
    if let Some(e) = &a.error {
        let _ = write!(line, "  ({})", cell(e, 200));
    }
    if let Some(partial) = &a.partial_output {
        let _ = write!(line, "  partial answer kept: {}", cell(partial, 60));
    }
    line
}

/// A fire time in UTC, then in the schedule's zone when that is another:
/// `2026-12-01T08:00:00Z (Tue 09:00 CET)`.
fn fire_time(t: DateTime<Utc>, zone: &str) -> String {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) if tz != chrono_tz::UTC => {
            format!(
                "{} ({})",
                time(t),
                t.with_timezone(&tz).format("%a %H:%M %Z")
            )
        }
        _ => format!("{} ({})", time(t), t.format("%a")),
    }
}

/// "next run 2026-12-01T08:00:00Z (Tue 09:00 CET)", or that it is paused.
pub fn next_fire(s: &Schedule) -> String {
    match (s.enabled, s.next_fire_at) {
        (false, _) => "paused".into(),
        (true, Some(at)) => format!("next run {}", fire_time(at, &s.timezone)),
        (true, None) => "no run to come".into(),
    }
}

/// The `schedule list` table.
pub fn schedule_table(schedules: &[Schedule]) -> String {
    if schedules.is_empty() {
        return "no schedules\n".into();
    }
    let header = [
        "NAME", "CRON", "ZONE", "STATE", "NEXT RUN", "RUNS", "SKIPPED",
    ]
    .map(String::from);
    let rows: Vec<[String; 7]> = schedules
        .iter()
        .map(|s| {
            [
                cell(&s.name, 32),
                s.cron.clone(),
                s.timezone.clone(),
                if s.enabled { "enabled" } else { "paused" }.into(),
                if s.enabled {
                    opt_time(s.next_fire_at)
                } else {
                    "-".into()
                },
                s.fires.to_string(),
                s.skipped_total.to_string(),
            ]
        })
        .collect();
    columns(&header, &rows)
}

/// What `schedule show` prints: the record (its fields at the top level in
/// JSON), its next fire times and its most recent tasks, newest first.
#[derive(Serialize)]
pub struct ScheduleView<'a> {
    #[serde(flatten)]
    pub schedule: &'a Schedule,
    pub upcoming: Vec<DateTime<Utc>>,
    pub recent_tasks: Vec<Task>,
}

/// Every field of a schedule, its task, next fire times, recent tasks and
/// skipped runs.
pub fn schedule_details(view: &ScheduleView<'_>) -> String {
    let s = view.schedule;
    let t = &s.template;
    let mut out = String::new();
    let mut field = |label: &str, value: String| {
        let _ = writeln!(out, "{:<15}{value}", format!("{label}:"));
    };
    field("id", s.id.to_string());
    field("name", s.name.clone());
    field("cron", s.cron.clone());
    field("time zone", s.timezone.clone());
    field("state", if s.enabled { "enabled" } else { "paused" }.into());
    field(
        "next run",
        match s.next_fire_at {
            Some(at) if s.enabled => fire_time(at, &s.timezone),
            _ => "-".into(),
        },
    );
    field("last run", opt_time(s.last_fired_at));
    field("runs", s.fires.to_string());
    field("missed runs", s.missed.to_string());
    field(
        "max lateness",
        s.max_lateness_ms.map_or("no limit".into(), |ms| {
            humantime::format_duration(std::time::Duration::from_millis(ms)).to_string()
        }),
    );
    field("overlap", s.overlap.to_string());
    field(
        "pauses itself",
        match s.pause_after_failures {
            0 => "never".into(),
            n => format!(
                "after {n} failed runs in a row ({} so far)",
                s.failures_in_a_row
            ),
        },
    );
    if let Some(why) = &s.auto_paused {
        field("paused", format!("{} ({})", why.message, time(why.at)));
    }
    field("skipped", format!("{} runs in all", s.skipped_total));
    if !s.pending.is_empty() {
        field("queued fires", s.pending.len().to_string());
    }
    field("created", time(s.created_at));
    field("updated", time(s.updated_at));
    field(
        "task name",
        t.name.clone().unwrap_or_else(|| s.name.clone()),
    );
    field("provider", t.provider.clone());
    field("model", t.model.clone());
    if !t.fallbacks.is_empty() {
        field("fallbacks", fallbacks(&t.fallbacks));
    }
    field("attempts", format!("up to {}", t.max_attempts));
    field(
        "timeout",
        humantime::format_duration(std::time::Duration::from_millis(t.timeout_ms)).to_string(),
    );
    if let Some(temperature) = t.temperature {
        field("temperature", temperature.0.to_string());
    }
    if let Some(n) = t.max_tokens {
        field("max tokens", n.to_string());
    }
    block(&mut out, "system", t.system.as_deref());
    block(&mut out, "prompt", Some(&t.prompt));
    if !t.follow_ups.is_empty() {
        out.push_str("follow-ups:\n");
        for (i, text) in t.follow_ups.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", i + 1, cell(text, 200));
        }
    }
    if s.enabled {
        out.push_str("upcoming:\n");
    } else {
        out.push_str("upcoming (once resumed):\n");
    }
    for at in &view.upcoming {
        let _ = writeln!(out, "  {}", fire_time(*at, &s.timezone));
    }
    if view.recent_tasks.is_empty() {
        out.push_str("recent tasks: none yet\n");
    } else {
        out.push_str("recent tasks:\n");
        for task in &view.recent_tasks {
            let _ = writeln!(
                out,
                "  {}  {:<9}  created {}  {}",
                task.id,
                task.status.to_string(),
                time(task.created_at),
                cell(&task.name, 40)
            );
        }
    }
    if !s.skipped.is_empty() {
        out.push_str("skipped runs:\n");
        for group in &s.skipped {
            let when = if group.first == group.last {
                time(group.first)
            } else {
                format!("{} to {}", time(group.first), time(group.last))
            };
            let _ = writeln!(out, "  {} ({when})", group.message);
        }
    }
    out
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

    #[test]
    fn details_say_why_the_answer_stopped_and_mark_estimated_tokens() {
        let task: Task = serde_json::from_value(serde_json::json!({
            "id": "0190d7a4-0000-7000-8000-000000000001", "name": "n", "prompt": "p",
            "status": "completed", "start_at": null, "created_at": "2026-12-01T08:00:00Z",
            "started_at": null, "finished_at": null, "output": "o", "error": null,
            "parent_task_id": null, "llm_provider": "local", "llm_model": "m",
            "latency_ms": null, "attempts": 1, "max_attempts": 3, "timeout_ms": 1000,
            "cancel_reason": null, "max_tokens": 24, "prompt_tokens": 9,
            "completion_tokens": 24, "usage_estimated": true, "finish_reason": "length",
            "history": [{"number": 1, "started_at": "2026-12-01T08:00:00Z",
                "finished_at": "2026-12-01T08:00:01Z", "outcome": "retrying",
                "error": "cut", "partial_output": "Hel"}],
        }))
        .unwrap();
        let text = details(&task);
        assert!(
            text.contains("≈9 prompt, ≈24 completion (estimated"),
            "{text}"
        );
        assert!(
            text.contains("length (stopped at the 24-token limit)"),
            "{text}"
        );
        assert!(text.contains("partial answer kept: Hel"), "{text}");
    }
}

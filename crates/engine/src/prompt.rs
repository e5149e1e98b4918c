//! Prompt variables: `{{now}}`, `{{date}}`, `{{time}}`, `{{schedule.name}}`,
//! `{{last_output}}` and `{{parent.output}}`, checked when a task or schedule is
//! saved and bound when an attempt starts (docs/prompt-variables.md). A map's row
//! variables (`{{row.COLUMN}}`, `{{item}}`) are bound when its tasks are
//! created, and a join's `{{items}}` when it is released; both leave the other
//! variables as written for the attempt.
//!
//! One pass over the text: a bound value is never read again for variables, so
//! a parent's output holding `{{now}}` arrives as written. `\{{` is a literal
//! `{{`. When saved, any other `{{` is an error naming it; when bound (records
//! saved before variables existed, or imported), it is left as written.

use crate::error::TaskError;
use crate::rows::{cell_text, Rows};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// A variable a prompt may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    Now,
    Date,
    Time,
    ScheduleName,
    LastOutput,
    ParentOutput,
    /// A mapped row's only column (a lines file's item).
    Item,
    /// A join's completed outputs, in input order.
    Items,
}

impl Var {
    const ALL: [Var; 8] = [
        Var::Now,
        Var::Date,
        Var::Time,
        Var::ScheduleName,
        Var::LastOutput,
        Var::ParentOutput,
        Var::Item,
        Var::Items,
    ];

    fn name(self) -> &'static str {
        match self {
            Var::Now => "now",
            Var::Date => "date",
            Var::Time => "time",
            Var::ScheduleName => "schedule.name",
            Var::LastOutput => "last_output",
            Var::ParentOutput => "parent.output",
            Var::Item => "item",
            Var::Items => "items",
        }
    }

    fn parse(name: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// Where a prompt is saved: which variables it may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scope<'a> {
    /// Chained onto a parent (a chained task, a schedule's follow-up).
    pub chained: bool,
    /// Created by a schedule's fire.
    pub scheduled: bool,
    /// A map's prompt: the input's columns, for `{{row.COLUMN}}` (and `{{item}}`
    /// when there is one column).
    pub mapped: Option<&'a [String]>,
    /// A map's join instruction: `{{items}}`.
    pub join: bool,
}

impl<'a> Scope<'a> {
    pub const TASK: Scope<'a> = Scope {
        chained: false,
        scheduled: false,
        mapped: None,
        join: false,
    };
    pub const CHAINED: Scope<'a> = Scope {
        chained: true,
        ..Scope::TASK
    };
    pub const SCHEDULE: Scope<'a> = Scope {
        scheduled: true,
        ..Scope::TASK
    };
    pub const FOLLOW_UP: Scope<'a> = Scope {
        chained: true,
        scheduled: true,
        ..Scope::TASK
    };
    pub const JOIN: Scope<'a> = Scope {
        join: true,
        ..Scope::TASK
    };

    /// A map's prompt over an input with these columns.
    pub fn map(columns: &'a [String]) -> Self {
        Scope {
            mapped: Some(columns),
            ..Scope::TASK
        }
    }

    fn allows(self, var: Var) -> bool {
        match var {
            Var::Now | Var::Date | Var::Time => true,
            Var::ScheduleName | Var::LastOutput => self.scheduled,
            Var::ParentOutput => self.chained,
            Var::Item => self.mapped.is_some_and(|c| c.len() == 1),
            Var::Items => self.join,
        }
    }

    fn known(self) -> String {
        let mut known: Vec<String> = Var::ALL
            .into_iter()
            .filter(|v| self.allows(*v))
            .map(|v| format!("{{{{{}}}}}", v.name()))
            .collect();
        if self.mapped.is_some() {
            known.push("{{row.COLUMN}}".into());
        }
        known.join(", ")
    }
}

/// Columns as a list to read, the first twenty of a wide file.
fn column_list(columns: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut list = columns
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if columns.len() > SHOWN {
        list.push_str(&format!(" and {} more", columns.len() - SHOWN));
    }
    list
}

/// One piece of a prompt.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(Var),
    /// `{{parent.output.PATH}}`: a field of the parent's parsed output.
    ParentField(&'a str),
    /// `{{row.COLUMN}}`: a mapped row's cell.
    Row(&'a str),
}

/// The prefix of a variable naming a mapped row's column.
const ROW: &str = "row.";

/// The prefix of a variable naming a field of the parent's parsed output.
const PARENT_FIELD: &str = "parent.output.";

/// The dotted path of `{{parent.output.PATH}}`, when `name` is one: segments of
/// letters, digits, `_` and `-` (a number indexes an array).
fn parent_field(name: &str) -> Option<&str> {
    let path = name.strip_prefix(PARENT_FIELD)?;
    path.split('.')
        .all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .then_some(path)
}

/// Longest text between `{{` and `}}` read as a variable's name; a longer one
/// is not a variable (and, when saved, an error).
const MAX_NAME: usize = 64;
/// The same for `{{row.COLUMN}}`: a spreadsheet's column names can be whole questions.
const MAX_ROW_NAME: usize = 256;

/// What is wrong with a `{{`.
#[derive(Debug)]
enum Bad {
    /// No `}}` closes it on its line.
    Unclosed,
    Unknown(String),
}

/// Splits `text` into text and variables. `Err` gives the byte offset of the
/// first `{{` that is neither `\{{` nor a known variable.
fn pieces(text: &str) -> Result<Vec<Piece<'_>>, (usize, Bad)> {
    Ok(tokens(text)?.into_iter().map(|(piece, _)| piece).collect())
}

/// [`pieces`], each with the text it was read from (`\{{` for an escape,
/// `{{ date }}` as spaced), so a partial binding can keep the rest as written.
fn tokens(text: &str) -> Result<Vec<(Piece<'_>, &str)>, (usize, Bad)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(at) = rest.find("{{") {
        if at > 0 && rest.as_bytes()[at - 1] == b'\\' {
            out.push((Piece::Text(&rest[..at - 1]), &rest[..at - 1]));
            out.push((Piece::Text("{{"), &rest[at - 1..at + 2]));
            rest = &rest[at + 2..];
            offset += at + 2;
            continue;
        }
        out.push((Piece::Text(&rest[..at]), &rest[..at]));
        let after = &rest[at + 2..];
        let name = after.find("}}").map(|end| &after[..end]).filter(|name| {
            let max = if name.trim_start().starts_with(ROW) {
                MAX_ROW_NAME
            } else {
                MAX_NAME
            };
            name.len() <= max && !name.contains('\n')
        });
        let Some(name) = name else {
            return Err((offset + at, Bad::Unclosed));
        };
        let trimmed = name.trim();
        let column = trimmed.strip_prefix(ROW).filter(|c| !c.is_empty());
        let piece = match (Var::parse(trimmed), parent_field(trimmed), column) {
            (Some(var), _, _) => Piece::Var(var),
            (None, Some(path), _) => Piece::ParentField(path),
            (None, None, Some(column)) => Piece::Row(column),
            (None, None, None) => return Err((offset + at, Bad::Unknown(trimmed.to_string()))),
        };
        let used = at + 2 + name.len() + 2;
        out.push((piece, &rest[at..used]));
        rest = &rest[used..];
        offset += used;
    }
    out.push((Piece::Text(rest), rest));
    Ok(out)
}

/// Checks the variables of a prompt saved in `scope`; `field` names it in the
/// error ("prompt", "follow_ups").
pub(crate) fn check(text: &str, scope: Scope, field: &'static str) -> Result<(), TaskError> {
    if !text.contains("{{") {
        return Ok(());
    }
    let what = match field {
        "follow_ups" => "the follow-up",
        "join" => "the join instruction",
        _ => "the prompt",
    };
    let known = |msg: String| {
        TaskError::invalid(
            field,
            format!(
                "{msg} (known here: {}; \\{{{{ is a literal '{{{{')",
                scope.known()
            ),
        )
    };
    let pieces = pieces(text).map_err(|(at, msg)| match msg {
        Bad::Unknown(name) => known(format!("{what} names an unknown variable {{{{{name}}}}}")),
        Bad::Unclosed => {
            let place = text[..at].chars().count() + 1;
            known(format!(
                "the '{{{{' at character {place} of {what} starts no variable"
            ))
        }
    })?;
    for piece in pieces {
        let var = match piece {
            Piece::Var(var) => Some(var),
            // A field of the parent's output is allowed where the output is.
            Piece::ParentField(_) => Some(Var::ParentOutput),
            Piece::Row(column) => match scope.mapped {
                Some(columns) if columns.iter().any(|c| c == column) => None,
                Some(columns) => {
                    return Err(TaskError::invalid(
                        field,
                        format!(
                            "{what} names {{{{row.{column}}}}}, but the file's columns are: {}",
                            column_list(columns)
                        ),
                    ))
                }
                None => {
                    return Err(known(format!(
                        "{what} names {{{{row.{column}}}}}, which cannot be used here: only a mapped prompt has rows"
                    )))
                }
            },
            Piece::Text(_) => None,
        };
        if let Some(var) = var {
            if !scope.allows(var) {
                let columns;
                let why = match (var, scope.mapped) {
                    (Var::ParentOutput, _) if scope.join => {
                        "a join has a parent for each row: its outputs are {{items}}"
                    }
                    (Var::ParentOutput, _) => "only a chained task has a parent",
                    (Var::Item, Some(c)) => {
                        columns = format!(
                            "the file has {} columns ({}): name one as {{{{row.COLUMN}}}}",
                            c.len(),
                            column_list(c)
                        );
                        &columns
                    }
                    (Var::Item, None) => "only a mapped prompt has rows",
                    (Var::Items, _) => "only a map's join instruction has items",
                    _ => "only a schedule's tasks have one",
                };
                return Err(known(format!(
                    "{what} names {{{{{}}}}}, which cannot be used here: {why}",
                    var.name()
                )));
            }
        }
    }
    Ok(())
}

/// Checks the variables of a file path template: the time, and the schedule's
/// name in a schedule's task. The answer and the parent's are content, not names.
pub(crate) fn check_path(text: &str, scheduled: bool) -> Result<(), String> {
    let pieces = pieces(text).map_err(|(at, bad)| match bad {
        Bad::Unknown(name) => format!("the file path names an unknown variable {{{{{name}}}}}"),
        Bad::Unclosed => format!(
            "the '{{{{' at character {} of the file path starts no variable",
            text[..at].chars().count() + 1
        ),
    })?;
    for piece in pieces {
        match piece {
            Piece::Var(var @ (Var::ParentOutput | Var::LastOutput)) => {
                return Err(format!(
                    "{{{{{}}}}} cannot be used in a file path (known there: {{{{date}}}}, {{{{time}}}}, {{{{now}}}}, {{{{schedule.name}}}})",
                    var.name()
                ))
            }
            Piece::ParentField(_) => {
                return Err(
                    "a field of {{parent.output}} cannot be used in a file path (known there: {{date}}, {{time}}, {{now}}, {{schedule.name}})"
                        .into(),
                )
            }
            Piece::Var(var @ (Var::Item | Var::Items)) => {
                return Err(format!(
                    "{{{{{}}}}} cannot be used in a file path (known there: {{{{date}}}}, {{{{time}}}}, {{{{now}}}}, {{{{schedule.name}}}})",
                    var.name()
                ))
            }
            Piece::Row(column) => {
                return Err(format!(
                    "{{{{row.{column}}}}} cannot be used in a file path (known there: {{{{date}}}}, {{{{time}}}}, {{{{now}}}}, {{{{schedule.name}}}})"
                ))
            }
            Piece::Var(Var::ScheduleName) if !scheduled => {
                return Err(
                    "the file path names {{schedule.name}}, which only a schedule's tasks have"
                        .into(),
                )
            }
            _ => {}
        }
    }
    Ok(())
}

/// A file path template with its variables bound; each value is made one
/// harmless file name part (no separator, no `..`), so it cannot leave the
/// template's folder.
pub(crate) fn bind_path(text: &str, values: &Values) -> String {
    let Ok(pieces) = pieces(text) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            // Refused when saved: kept as written.
            Piece::ParentField(path) => {
                out.push_str("{{");
                out.push_str(PARENT_FIELD);
                out.push_str(path);
                out.push_str("}}");
            }
            Piece::Row(column) => push_row_as_written(&mut out, column),
            Piece::Var(var) => {
                let mut value = String::new();
                push_value(&mut value, var, values);
                let safe: String = value
                    .chars()
                    .map(|c| match c {
                        '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '-',
                        c if c.is_control() => '-',
                        c => c,
                    })
                    .collect();
                match safe.trim() {
                    "" | "." | ".." => out.push('_'),
                    _ => out.push_str(&safe),
                }
            }
        }
    }
    out
}

/// True when the prompt names a variable or writes `\{{`: binding changes it.
pub(crate) fn has_variables(text: &str) -> bool {
    text.contains("{{")
}

/// What variables are bound to when an attempt starts. `None` leaves a variable as
/// written (a chained task's preview before its attempt binds the rest).
#[derive(Debug, Default)]
pub(crate) struct Values<'a> {
    /// The attempt's start, in the zone the times are read in.
    pub now: Option<DateTime<Tz>>,
    pub schedule_name: Option<&'a str>,
    pub last_output: Option<&'a str>,
    pub parent_output: Option<&'a str>,
    /// The parent's parsed output (its `output_json`), for `{{parent.output.PATH}}`.
    pub parent_json: Option<&'a serde_json::Value>,
}

impl Values<'_> {
    pub fn at(now: DateTime<Utc>, zone: Tz) -> Self {
        Values {
            now: Some(now.with_timezone(&zone)),
            ..Values::default()
        }
    }
}

/// The prompt with its variables bound. A chained prompt that does not name
/// `{{parent.output}}` gets the parent's output before it, as it always has.
pub(crate) fn bind(text: &str, values: &Values) -> String {
    let mut out = String::with_capacity(text.len());
    let named_parent = match pieces(text) {
        Ok(pieces) => {
            let mut named = false;
            for piece in pieces {
                match piece {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Var(var) => {
                        named |= var == Var::ParentOutput;
                        push_value(&mut out, var, values);
                    }
                    Piece::ParentField(path) => {
                        named = true;
                        push_field(&mut out, path, values);
                    }
                    // Bound when a map creates its tasks ([`bind_row`]).
                    Piece::Row(column) => push_row_as_written(&mut out, column),
                }
            }
            named
        }
        // Saved before variables were checked: bind what is known, leave the rest.
        Err(_) => bind_lenient(text, values, &mut out),
    };
    match values.parent_output {
        Some(parent) if !named_parent => format!("{parent}\n\n{out}"),
        _ => out,
    }
}

fn push_value(out: &mut String, var: Var, values: &Values) {
    let fmt = |f: &str| values.now.map(|t| t.format(f).to_string());
    let value = match var {
        Var::Now => fmt("%Y-%m-%dT%H:%M:%S%:z"),
        Var::Date => fmt("%Y-%m-%d"),
        Var::Time => fmt("%H:%M"),
        Var::ScheduleName => values.schedule_name.map(str::to_string),
        Var::LastOutput => values.last_output.map(str::to_string),
        Var::ParentOutput => values.parent_output.map(str::to_string),
        // Bound earlier, when a map creates its tasks or releases its join.
        Var::Item | Var::Items => None,
    };
    match value {
        Some(v) => out.push_str(&v),
        None => {
            out.push_str("{{");
            out.push_str(var.name());
            out.push_str("}}");
        }
    }
}

fn push_row_as_written(out: &mut String, column: &str) {
    out.push_str("{{");
    out.push_str(ROW);
    out.push_str(column);
    out.push_str("}}");
}

/// A value inserted by an early binding, with each `{{` written `\{{`, so the
/// attempt's binding reads it as text, not as a variable.
///
/// One case has no escape: a value ending in `\` directly followed in the
/// prompt by a variable (`{{row.path}}{{date}}`) makes that `\{{`, a literal.
fn push_escaped(out: &mut String, value: &str) {
    let mut rest = value;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        out.push_str("\\{{");
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
}

/// A map's prompt with one row's variables bound: `{{row.COLUMN}}` and
/// `{{item}}` (the only column's value). A string cell is inserted as written,
/// any other JSON value as compact JSON, a key the row lacks as empty text;
/// every `{{` in a value is escaped. Every other variable, and every `\{{`, is
/// left as written for the attempt's [`bind`]. For a template [`check_map_prompt`]
/// accepted; any other is returned unchanged.
pub(crate) fn bind_row(template: &str, columns: &[String], row: &Map<String, Value>) -> String {
    let Ok(tokens) = tokens(template) else {
        return template.to_string();
    };
    let mut out = String::with_capacity(template.len());
    for (piece, raw) in tokens {
        match piece {
            Piece::Row(column) => push_escaped(&mut out, &cell_text(row.get(column))),
            Piece::Var(Var::Item) if columns.len() == 1 => {
                push_escaped(&mut out, &cell_text(row.get(&columns[0])))
            }
            _ => out.push_str(raw),
        }
    }
    out
}

/// A join instruction with `{{items}}` bound to the completed rows' outputs, in
/// the order given (the caller's: input order): each as `[row N]` (N the row's
/// number in the input, from 1) on its own line, then the output without its
/// trailing white space; items separated by a blank line; each `{{` escaped.
/// Rows that did not complete are not given, so they are absent; none at all
/// reads `(no row completed)`. An instruction that does not name `{{items}}`
/// gets them before it, followed by a blank line (as a chained prompt gets its
/// parent's output). Every other variable is left as written for the attempt.
pub(crate) fn bind_items(instruction: &str, items: &[(u32, &str)]) -> String {
    let mut list = String::new();
    for (i, (row, output)) in items.iter().enumerate() {
        if i > 0 {
            list.push_str("\n\n");
        }
        list.push_str(&format!("[row {row}]\n"));
        push_escaped(&mut list, output.trim_end());
    }
    if items.is_empty() {
        list.push_str("(no row completed)");
    }
    let tokens = match tokens(instruction) {
        Ok(tokens) if tokens.iter().any(|(p, _)| *p == Piece::Var(Var::Items)) => tokens,
        _ => return format!("{list}\n\n{instruction}"),
    };
    let mut out = String::with_capacity(instruction.len() + list.len());
    for (piece, raw) in tokens {
        match piece {
            Piece::Var(Var::Items) => out.push_str(&list),
            _ => out.push_str(raw),
        }
    }
    out
}

/// Checks a map's prompt against its input: the variables known in a mapped
/// prompt, each `{{row.COLUMN}}` a column the input has, and at least one row
/// variable (without one, every row would get the same prompt).
pub fn check_map_prompt(template: &str, rows: &Rows) -> Result<(), TaskError> {
    check(template, Scope::map(&rows.columns), "prompt")?;
    let names_row = tokens(template).is_ok_and(|tokens| {
        tokens
            .iter()
            .any(|(p, _)| matches!(p, Piece::Row(_) | Piece::Var(Var::Item)))
    });
    if names_row {
        return Ok(());
    }
    let how = if rows.columns.len() == 1 {
        "{{item}}".to_string()
    } else {
        format!(
            "a column as {{{{row.COLUMN}}}} (the file's columns are: {})",
            column_list(&rows.columns)
        )
    };
    Err(TaskError::invalid(
        "prompt",
        format!(
            "the prompt names no row variable, so every row would get the same prompt: name {how}"
        ),
    ))
}

/// Checks a map's join instruction: the variables known there (`{{items}}`,
/// the times). Field `join`.
pub fn check_join_instruction(text: &str) -> Result<(), TaskError> {
    check(text, Scope::JOIN, "join")
}

/// A field of the parent's parsed output; left as written when there is none
/// (a claim fails such a task before binding: [`parent_fields`]).
fn push_field(out: &mut String, path: &str, values: &Values) {
    match values
        .parent_json
        .and_then(|v| crate::structured::field(v, path))
    {
        Some(v) => out.push_str(&crate::structured::field_text(v)),
        None => {
            out.push_str("{{");
            out.push_str(PARENT_FIELD);
            out.push_str(path);
            out.push_str("}}");
        }
    }
}

/// The paths of the `{{parent.output.PATH}}` variables a prompt names.
pub(crate) fn parent_fields(text: &str) -> Vec<&str> {
    if !text.contains(PARENT_FIELD) {
        return Vec::new();
    }
    match pieces(text) {
        Ok(pieces) => pieces
            .into_iter()
            .filter_map(|p| match p {
                Piece::ParentField(path) => Some(path),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Binds the known variables of a text that has other `{{` in it too, leaving
/// those as written. True when it named `{{parent.output}}`.
fn bind_lenient(text: &str, values: &Values, out: &mut String) -> bool {
    let mut named = false;
    let mut rest = text;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find("}}").filter(|end| *end <= MAX_NAME);
        let var = end.and_then(|end| Var::parse(after[..end].trim()).map(|v| (v, end)));
        let field = end.and_then(|end| parent_field(after[..end].trim()).map(|p| (p, end)));
        match (var, field) {
            (Some((var, end)), _) => {
                named |= var == Var::ParentOutput;
                push_value(out, var, values);
                rest = &after[end + 2..];
            }
            (None, Some((path, end))) => {
                named = true;
                push_field(out, path, values);
                rest = &after[end + 2..];
            }
            (None, None) => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    named
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn paris(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Paris
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn time_variables_are_read_in_the_given_zone() {
        let at = paris(2026, 3, 29, 0, 30);
        let v = Values::at(at, chrono_tz::Europe::Paris);
        assert_eq!(
            bind("{{date}} {{time}} {{ now }}", &v),
            "2026-03-29 00:30 2026-03-29T00:30:00+01:00"
        );
        // The same instant in New York is still the day before.
        let v = Values::at(at, chrono_tz::America::New_York);
        assert_eq!(bind("{{date}}", &v), "2026-03-28");
    }

    #[test]
    fn a_bound_value_is_not_read_for_variables_again() {
        let v = Values {
            parent_output: Some("{{date}} and \\{{"),
            ..Values::at(paris(2026, 1, 1, 9, 0), chrono_tz::UTC)
        };
        assert_eq!(
            bind("On {{date}}: {{parent.output}}", &v),
            "On 2026-01-01: {{date}} and \\{{"
        );
    }

    #[test]
    fn a_chained_prompt_without_the_placeholder_gets_the_output_first() {
        let v = Values {
            parent_output: Some("Hello"),
            ..Values::default()
        };
        assert_eq!(bind("Translate it", &v), "Hello\n\nTranslate it");
        assert_eq!(bind("Say: {{parent.output}}!", &v), "Say: Hello!");
    }

    #[test]
    fn a_parent_field_binds_its_value_and_replaces_the_whole_output() {
        let json = serde_json::json!({"summary": "Short", "n": 3, "tags": ["a", "b"]});
        let v = Values {
            parent_output: Some("{\"summary\": \"Short\"}"),
            parent_json: Some(&json),
            ..Values::default()
        };
        assert_eq!(
            bind("Expand: {{parent.output.summary}} ({{ parent.output.n }}, {{parent.output.tags.1}})", &v),
            "Expand: Short (3, b)"
        );
        assert_eq!(
            parent_fields("{{parent.output.summary}} {{date}} {{parent.output.a.0}}"),
            ["summary", "a.0"]
        );
        check("{{parent.output.summary}}", Scope::CHAINED, "prompt").unwrap();
        let e = check("{{parent.output.summary}}", Scope::TASK, "prompt").unwrap_err();
        assert!(e.to_string().contains("only a chained task"), "{e}");
        let e = check("{{parent.output.}}", Scope::CHAINED, "prompt").unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown variable {{parent.output.}}"),
            "{e}"
        );
        assert!(check_path("/r/{{parent.output.x}}", false).is_err());
    }

    #[test]
    fn a_backslash_writes_a_literal_brace_pair() {
        let v = Values::at(paris(2026, 1, 1, 9, 0), chrono_tz::UTC);
        assert_eq!(
            bind(r"Use \{{name}} in {{date}}", &v),
            "Use {{name}} in 2026-01-01"
        );
        check(r"Use \{{name}} and \{{ anything", Scope::TASK, "prompt").unwrap();
    }

    #[test]
    fn unbound_values_stay_as_written() {
        let v = Values {
            parent_output: Some("P"),
            ..Values::default()
        };
        assert_eq!(
            bind("{{date}} {{parent.output}} {{last_output}}", &v),
            "{{date}} P {{last_output}}"
        );
    }

    #[test]
    fn unknown_or_unclosed_variables_are_refused_when_saved_naming_them() {
        let e = check("Hi {{nme}}", Scope::TASK, "prompt").unwrap_err();
        assert!(
            matches!(
                e,
                TaskError::Invalid {
                    field: "prompt",
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("the prompt names an unknown variable {{nme}}"),
            "{e}"
        );
        assert!(e.to_string().contains("{{now}}, {{date}}, {{time}}"), "{e}");
        let e = check("é {{ never closed", Scope::TASK, "prompt").unwrap_err();
        assert!(
            e.to_string()
                .contains("the '{{' at character 3 of the prompt starts no variable"),
            "{e}"
        );
        let e = check("{{schedule.name}}", Scope::TASK, "prompt").unwrap_err();
        assert!(e.to_string().contains("only a schedule's tasks"), "{e}");
        let e = check("{{parent.output}}", Scope::SCHEDULE, "prompt").unwrap_err();
        assert!(e.to_string().contains("only a chained task"), "{e}");
        check("{{parent.output}} {{last_output}}", Scope::FOLLOW_UP, "x").unwrap();
        check(
            "{{schedule.name}} {{last_output}} {{now}}",
            Scope::SCHEDULE,
            "x",
        )
        .unwrap();
    }

    #[test]
    fn path_values_cannot_climb_out_of_the_folder() {
        let v = Values {
            schedule_name: Some("../../etc/passwd"),
            ..Values::at(paris(2026, 1, 1, 9, 5), chrono_tz::Europe::Paris)
        };
        assert_eq!(
            bind_path("/r/{{schedule.name}}/{{date}} {{time}}.md", &v),
            "/r/..-..-etc-passwd/2026-01-01 09-05.md"
        );
        let dots = Values {
            schedule_name: Some(".."),
            ..Values::default()
        };
        assert_eq!(bind_path("/r/{{schedule.name}}/x", &dots), "/r/_/x");
    }

    #[test]
    fn records_saved_before_variables_bind_what_is_known_and_keep_the_rest() {
        let v = Values::at(paris(2026, 1, 1, 9, 0), chrono_tz::UTC);
        assert_eq!(
            bind("{{#each items}} on {{date}} {{", &v),
            "{{#each items}} on 2026-01-01 {{"
        );
    }
    fn rows(columns: &[&str]) -> Rows {
        Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(pairs: serde_json::Value) -> Map<String, Value> {
        pairs.as_object().unwrap().clone()
    }

    fn message(e: TaskError) -> String {
        e.to_string()
    }

    #[test]
    fn row_variables_bind_each_row_and_leave_the_rest_for_the_attempt() {
        let columns = ["name".to_string(), "city".to_string(), "n".to_string()];
        let template =
            r"{{ row.name }} of {{row.city}} ({{row.n}}, {{row.none}}) on {{ date }} \{{x";
        let r = row(serde_json::json!({"name": "Ann", "city": "Paris", "n": 7}));
        let bound = bind_row(template, &columns, &r);
        assert_eq!(bound, r"Ann of Paris (7, ) on {{ date }} \{{x");
        let v = Values::at(paris(2026, 1, 1, 9, 0), chrono_tz::UTC);
        assert_eq!(bind(&bound, &v), "Ann of Paris (7, ) on 2026-01-01 {{x");
        let r = row(serde_json::json!({"name": null, "city": {"a": [1, "b"]}, "n": true}));
        assert_eq!(
            bind_row("{{row.name}}|{{row.city}}|{{row.n}}", &columns, &r),
            r#"null|{"a":[1,"b"]}|true"#
        );
    }

    #[test]
    fn a_cell_holding_variables_arrives_as_written_after_the_attempt_binds() {
        let columns = ["note".to_string()];
        let v = Values {
            parent_output: None,
            ..Values::at(paris(2026, 1, 1, 9, 0), chrono_tz::UTC)
        };
        for cell in [
            "{{date}}",
            r"\{{date}}",
            "{{{ and {{{{ and }}",
            "{{row.note}} {{item}} {{items}}",
            "{{ unknown",
            "ends with {",
        ] {
            let r = row(serde_json::json!({ "note": cell }));
            let bound = bind(
                &bind_row("Read: {{row.note}} on {{date}}", &columns, &r),
                &v,
            );
            assert_eq!(bound, format!("Read: {cell} on 2026-01-01"));
            let bound = bind(&bind_row("{{item}}!", &columns, &r), &v);
            assert_eq!(bound, format!("{cell}!"));
        }
    }

    #[test]
    fn item_is_the_only_column_of_a_lines_file_or_a_one_column_csv() {
        let single = rows(&["question"]);
        check_map_prompt("Answer: {{ item }}", &single).unwrap();
        check_map_prompt("Answer: {{row.question}}", &single).unwrap();
        let r = row(serde_json::json!({"question": "Why?"}));
        assert_eq!(bind_row("Q: {{item}}", &single.columns, &r), "Q: Why?");
        let lines = rows(&["item"]);
        check_map_prompt("{{item}}", &lines).unwrap();
        let e = check_map_prompt("{{item}}", &rows(&["name", "city"])).unwrap_err();
        assert_eq!(
            message(e),
            "the prompt names {{item}}, which cannot be used here: the file has 2 columns (name, city): name one as {{row.COLUMN}} (known here: {{now}}, {{date}}, {{time}}, {{row.COLUMN}}; \\{{ is a literal '{{')"
        );
    }

    #[test]
    fn a_row_variable_naming_a_column_the_file_lacks_is_refused_naming_the_columns() {
        let e = check_map_prompt("{{row.name}} costs {{row.cost}}", &rows(&["name", "city"]))
            .unwrap_err();
        assert!(
            matches!(
                e,
                TaskError::Invalid {
                    field: "prompt",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            message(e),
            "the prompt names {{row.cost}}, but the file's columns are: name, city"
        );
        let wide: Vec<String> = (1..=25).map(|i| format!("c{i}")).collect();
        let e = check_map_prompt(
            "{{row.x}}",
            &Rows {
                columns: wide,
                rows: vec![],
            },
        )
        .unwrap_err();
        assert!(message(e).ends_with("c19, c20 and 5 more"));
        // Column names may be long and hold spaces and dots.
        let long = "What is your favourite colour, and why? ".repeat(3);
        let long = long.trim().to_string();
        let template = format!("Answer {{{{row.{long}}}}} now");
        let with_long = rows(&[&long, "b.c"]);
        check_map_prompt(&template, &with_long).unwrap();
        check_map_prompt("{{row.b.c}}", &with_long).unwrap();
        let r = row(serde_json::json!({ long.clone(): "blue" }));
        assert_eq!(
            bind_row(&template, &with_long.columns, &r),
            "Answer blue now"
        );
    }

    #[test]
    fn a_map_prompt_without_a_row_variable_is_refused() {
        let e = check_map_prompt("Tell me a joke on {{date}}", &rows(&["a", "b"])).unwrap_err();
        assert_eq!(
            message(e),
            "the prompt names no row variable, so every row would get the same prompt: name a column as {{row.COLUMN}} (the file's columns are: a, b)"
        );
        let e = check_map_prompt(r"Literal \{{item}}", &rows(&["item"])).unwrap_err();
        assert!(message(e).ends_with("name {{item}}"));
    }

    #[test]
    fn row_and_join_variables_are_refused_where_they_have_no_value() {
        let e = check("{{row.city}}", Scope::TASK, "prompt").unwrap_err();
        assert!(
            message(e).starts_with("the prompt names {{row.city}}, which cannot be used here: only a mapped prompt has rows"),
        );
        let e = check("{{item}}", Scope::CHAINED, "prompt").unwrap_err();
        assert!(message(e).contains("only a mapped prompt has rows"));
        let e = check("{{items}}", Scope::TASK, "prompt").unwrap_err();
        assert!(message(e).contains("only a map's join instruction has items"));
        let e = check_map_prompt("{{item}} {{items}}", &rows(&["item"])).unwrap_err();
        assert!(message(e).contains("{{items}}, which cannot be used here"));
        let e = check_join_instruction("Sum up {{row.city}}").unwrap_err();
        assert!(matches!(e, TaskError::Invalid { field: "join", .. }));
        assert!(message(e).starts_with("the join instruction names {{row.city}}, which cannot"));
        let e = check_join_instruction("{{parent.output}}").unwrap_err();
        assert!(message(e).contains("a join has a parent for each row: its outputs are {{items}}"));
        check_join_instruction("On {{date}}, sum up: {{ items }}").unwrap();
        check_join_instruction("Sum up.").unwrap();
        for path in ["/r/{{item}}.md", "/r/{{items}}", "/r/{{row.name}}.md"] {
            let e = check_path(path, true).unwrap_err();
            assert!(e.contains("cannot be used in a file path"), "{e}");
        }
        // A task saved elsewhere with such a text (imported) keeps it as written.
        let v = Values::at(paris(2026, 1, 1, 9, 0), chrono_tz::UTC);
        assert_eq!(
            bind("{{row.a}} {{item}} {{items}} {{date}}", &v),
            "{{row.a}} {{item}} {{items}} 2026-01-01"
        );
    }

    #[test]
    fn items_are_bound_in_the_order_given_each_escaped() {
        let items = [
            (1, "First {{date}}\n\n"),
            (3, "Third \\{{x}}"),
            (2, "Second"),
        ];
        let bound = bind_items("On {{date}}, sum up:\n{{items}}\nDone.", &items);
        assert_eq!(
            bound,
            "On {{date}}, sum up:\n[row 1]\nFirst \\{{date}}\n\n[row 3]\nThird \\\\{{x}}\n\n[row 2]\nSecond\nDone."
        );
        let v = Values::at(paris(2026, 1, 1, 9, 0), chrono_tz::UTC);
        assert_eq!(
            bind(&bound, &v),
            "On 2026-01-01, sum up:\n[row 1]\nFirst {{date}}\n\n[row 3]\nThird \\{{x}}\n\n[row 2]\nSecond\nDone."
        );
    }

    #[test]
    fn a_join_instruction_without_items_gets_them_first_and_none_reads_as_none() {
        assert_eq!(
            bind_items("Sum these up.", &[(2, "B")]),
            "[row 2]\nB\n\nSum these up."
        );
        assert_eq!(bind_items("All: {{items}}", &[]), "All: (no row completed)");
    }
}

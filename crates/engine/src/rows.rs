//! The rows of a map (`baton map --csv | --jsonl | --lines`): parsed whole
//! before anything is created, every refusal one sentence naming the row or
//! line, nothing returned half-parsed; and a group's results written out in
//! input order as CSV or JSONL, streaming (docs/prompt-variables.md says how a
//! row reaches its prompt).

use crate::error::TaskError;
use crate::task::Task;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;

/// The most rows one map takes.
pub const MAX_MAP_ROWS: usize = 250_000;
/// The largest input a map reads (256 MiB): checked on the text's length, and
/// on a file's size before it is read ([`check_input_size`]).
pub const MAX_MAP_INPUT_BYTES: u64 = 256 * 1024 * 1024;

/// The field refusals name.
const FIELD: &str = "rows";
/// The one column of a lines file.
pub(crate) const ITEM: &str = "item";

/// How a map's input is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RowSource {
    /// A header line naming the columns, then one row a record; every cell is text.
    Csv,
    /// One JSON object a line; its keys are the columns.
    Jsonl,
    /// One item a non-blank line: a single column named `item`.
    Lines,
}

/// A map's input: its columns in file order and its rows in input order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Rows {
    /// CSV: the header's names (trimmed); JSONL: every key, in first-seen
    /// order; lines: `item`.
    pub columns: Vec<String>,
    /// One object a row: a CSV's cells are strings; a JSONL row has the values
    /// (and only the keys) its line has.
    #[cfg_attr(feature = "utoipa", schema(value_type = Vec<Object>))]
    pub rows: Vec<Map<String, Value>>,
}

/// Refuses an input larger than [`MAX_MAP_INPUT_BYTES`]: a caller with a path
/// checks the file's size with this before reading it.
pub fn check_input_size(bytes: u64) -> Result<(), TaskError> {
    check_size(bytes, MAX_MAP_INPUT_BYTES)
}

fn check_size(bytes: u64, max: u64) -> Result<(), TaskError> {
    if bytes <= max {
        return Ok(());
    }
    Err(TaskError::invalid(
        FIELD,
        format!(
            "the file is {}, over the limit of {}",
            human_size(bytes),
            binary_size(max)
        ),
    ))
}

/// A file's size as people read it on disk (decimal units).
fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

/// A limit, exact in binary units.
fn binary_size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// `250000` as `250,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A map's input file as text: UTF-8, with or without a byte-order mark.
/// Anything else is refused naming the first line that is not UTF-8 (a
/// spreadsheet saved in another encoding), or saying the file is UTF-16.
pub fn decode(bytes: &[u8]) -> Result<&str, TaskError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(TaskError::invalid(
            FIELD,
            "the file is UTF-16 text; save it as UTF-8 (in a spreadsheet: CSV UTF-8)",
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        TaskError::invalid(
            FIELD,
            format!(
                "line {line} of the file is not UTF-8 text; save the file as UTF-8 (in a spreadsheet: CSV UTF-8)"
            ),
        )
    })
}

/// How much one call reads: the whole input within the limits, or a preview.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// More rows than this is refused.
    max_rows: usize,
    /// Stop quietly after this many rows (a preview).
    stop_after: Option<usize>,
}

/// Parses a map's whole input. Refused, naming the row or line: an input over
/// [`MAX_MAP_INPUT_BYTES`] (before reading it) or with more than
/// [`MAX_MAP_ROWS`] rows (while reading), no rows, a ragged CSV row, an empty
/// or repeated CSV header name, a JSONL line that is not an object.
pub fn parse(source: RowSource, text: &str) -> Result<Rows, TaskError> {
    parse_within(source, text, MAX_MAP_INPUT_BYTES, MAX_MAP_ROWS)
}

/// [`parse`] with the limits given (tests use small ones).
fn parse_within(
    source: RowSource,
    text: &str,
    max_bytes: u64,
    max_rows: usize,
) -> Result<Rows, TaskError> {
    check_size(text.len() as u64, max_bytes)?;
    read(
        source,
        text,
        Reading {
            max_rows,
            stop_after: None,
        },
    )
}

/// The first `limit` rows (at most [`MAX_MAP_ROWS`]), for a preview before the
/// map is created: reads no further than it needs, but refuses what [`parse`]
/// would among the lines it reads (a ragged row, an input with no rows). It does
/// not check the input's size: a caller with a file reads only its start, cut
/// after its last newline (so no row is cut short and no UTF-8 character split,
/// a newline byte never being part of one) unless the file ends there.
pub fn preview(source: RowSource, text: &str, limit: usize) -> Result<Rows, TaskError> {
    // One row at least, so an input with none is refused as `parse` refuses it.
    let stop = limit.clamp(1, MAX_MAP_ROWS);
    let mut rows = read(
        source,
        text,
        Reading {
            max_rows: MAX_MAP_ROWS,
            stop_after: Some(stop),
        },
    )?;
    rows.rows.truncate(limit);
    Ok(rows)
}

fn read(source: RowSource, text: &str, reading: Reading) -> Result<Rows, TaskError> {
    // A byte-order mark (spreadsheet programs write one) is not part of the first name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(no_rows());
    }
    match source {
        RowSource::Lines => read_lines(text, reading),
        RowSource::Jsonl => read_jsonl(text, reading),
        RowSource::Csv => read_csv(text, reading),
    }
}

/// Collects rows, refusing one too many.
struct Collect {
    rows: Vec<Map<String, Value>>,
    reading: Reading,
}

impl Collect {
    fn new(reading: Reading) -> Self {
        Collect {
            rows: Vec::new(),
            reading,
        }
    }

    /// False when a preview has what it needs.
    fn wants_more(&self) -> Result<bool, TaskError> {
        if self.reading.stop_after == Some(self.rows.len()) {
            return Ok(false);
        }
        if self.rows.len() >= self.reading.max_rows {
            return Err(TaskError::invalid(
                FIELD,
                format!(
                    "the file has more than {} rows, the most one map takes; split it into several maps",
                    thousands(self.reading.max_rows)
                ),
            ));
        }
        Ok(true)
    }
}

fn no_rows() -> TaskError {
    TaskError::invalid(FIELD, "the file has no rows (blank lines are skipped)")
}

/// The non-blank lines, numbered from 1 as in the file, without their line ending.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim().is_empty())
}

fn read_lines(text: &str, reading: Reading) -> Result<Rows, TaskError> {
    let mut collect = Collect::new(reading);
    for (_, line) in lines(text) {
        if !collect.wants_more()? {
            break;
        }
        let mut row = Map::new();
        row.insert(ITEM.to_string(), Value::String(line.to_string()));
        collect.rows.push(row);
    }
    if collect.rows.is_empty() {
        return Err(no_rows());
    }
    Ok(Rows {
        columns: vec![ITEM.to_string()],
        rows: collect.rows,
    })
}

/// One JSONL line: its keys in the order written (serde_json's `Map` sorts
/// them, and the columns are in file order), or what it is when not an object.
enum JsonLine {
    Object(Vec<(String, Value)>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for JsonLine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = JsonLine;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonLine, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(JsonLine::Object(entries))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<JsonLine, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(JsonLine::Other("an array"))
            }
            fn visit_str<E>(self, _: &str) -> Result<JsonLine, E> {
                Ok(JsonLine::Other("a string"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<JsonLine, E> {
                Ok(JsonLine::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<JsonLine, E> {
                Ok(JsonLine::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<JsonLine, E> {
                Ok(JsonLine::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<JsonLine, E> {
                Ok(JsonLine::Other("a number"))
            }
            fn visit_unit<E>(self) -> Result<JsonLine, E> {
                Ok(JsonLine::Other("null"))
            }
        }
        d.deserialize_any(Visit)
    }
}

fn read_jsonl(text: &str, reading: Reading) -> Result<Rows, TaskError> {
    let mut collect = Collect::new(reading);
    let mut columns = Vec::new();
    let mut seen = HashSet::new();
    for (number, line) in lines(text) {
        if !collect.wants_more()? {
            break;
        }
        let entries = match serde_json::from_str::<JsonLine>(line) {
            Ok(JsonLine::Object(entries)) => entries,
            Ok(JsonLine::Other(what)) => {
                return Err(TaskError::invalid(
                    FIELD,
                    format!("line {number} is not a JSON object: it is {what}"),
                ))
            }
            Err(e) => {
                // serde_json says "at line 1 column 7" of the one line it read.
                let mut why = e.to_string();
                if let Some(at) = why.rfind(" at line ") {
                    why.truncate(at);
                }
                return Err(TaskError::invalid(
                    FIELD,
                    format!(
                        "line {number} is not a JSON object: {why} at character {}",
                        e.column()
                    ),
                ));
            }
        };
        let mut row = Map::new();
        for (key, value) in entries {
            if !seen.contains(&key) {
                seen.insert(key.clone());
                columns.push(key.clone());
            }
            // A repeated key: the last value, as serde_json and browsers read it.
            row.insert(key, value);
        }
        collect.rows.push(row);
    }
    if collect.rows.is_empty() {
        return Err(no_rows());
    }
    if columns.is_empty() {
        return Err(TaskError::invalid(
            FIELD,
            "every line of the file is an empty object ({}), so a prompt has nothing to name",
        ));
    }
    Ok(Rows {
        columns,
        rows: collect.rows,
    })
}

fn csv_error(e: csv::Error) -> TaskError {
    TaskError::invalid(FIELD, format!("the CSV file cannot be read: {e}"))
}

fn read_csv(text: &str, reading: Reading) -> Result<Rows, TaskError> {
    // The header is read as a record, so its problems are named like a row's,
    // and rows of another length are refused here with their numbers (the
    // reader's own message counts records, header included).
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    // The reader skips empty lines. A line of white space is a row like any
    // other (a one-column file's cell, or a ragged row named as such), so any
    // file the csv crate writes reads back the same.
    if !reader.read_record(&mut record).map_err(csv_error)? {
        return Err(no_rows());
    }
    let mut columns: Vec<String> = Vec::with_capacity(record.len());
    for (i, name) in record.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() {
            return Err(TaskError::invalid(
                FIELD,
                format!(
                    "column {} of the CSV header has no name; every column needs one",
                    i + 1
                ),
            ));
        }
        if let Some(first) = columns.iter().position(|c| c == name) {
            return Err(TaskError::invalid(
                FIELD,
                format!(
                    "the CSV header names the column '{name}' twice (columns {} and {}); each name must be different",
                    first + 1,
                    i + 1
                ),
            ));
        }
        columns.push(name.to_string());
    }
    let mut collect = Collect::new(reading);
    loop {
        if !collect.wants_more()? || !reader.read_record(&mut record).map_err(csv_error)? {
            break;
        }
        if record.len() != columns.len() {
            let number = collect.rows.len() + 1;
            let line = record.position().map_or(0, |p| p.line());
            return Err(TaskError::invalid(
                FIELD,
                format!(
                    "row {number} (line {line} of the file; rows are counted from 1 after the header) has {} field{}, but the header has {}",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" },
                    columns.len()
                ),
            ));
        }
        let row = columns
            .iter()
            .zip(record.iter())
            .map(|(c, v)| (c.clone(), Value::String(v.to_string())))
            .collect();
        collect.rows.push(row);
    }
    if collect.rows.is_empty() {
        return Err(TaskError::invalid(
            FIELD,
            "the CSV file has a header but no rows",
        ));
    }
    Ok(Rows {
        columns,
        rows: collect.rows,
    })
}

/// A cell as text: a string as written, any other JSON value as compact JSON,
/// a key the row lacks (a JSONL row) as empty text.
pub(crate) fn cell_text(value: Option<&Value>) -> Cow<'_, str> {
    match value {
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(v) => Cow::Owned(v.to_string()),
        None => Cow::Borrowed(""),
    }
}

/// How a group's results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ResultFormat {
    /// A header, then one record a row (a spreadsheet opens it).
    Csv,
    /// One JSON object a line.
    Jsonl,
}

/// The result columns after the input's, in order (`output_json` in JSONL only).
const RESULT_COLUMNS: [&str; 7] = [
    "output",
    "status",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "output_json",
];

/// The result columns' names for these input columns: as in
/// [`RESULT_COLUMNS`] unless an input column has one of them, in which case
/// every result column gets the prefix `result_` (again, until none clashes),
/// so the input's columns are written unchanged and the result columns keep
/// one naming.
fn result_names(columns: &[String]) -> Vec<String> {
    let mut prefix = String::new();
    loop {
        let names: Vec<String> = RESULT_COLUMNS
            .iter()
            .map(|n| format!("{prefix}{n}"))
            .collect();
        if !names.iter().any(|n| columns.contains(n)) {
            return names;
        }
        prefix.insert_str(0, "result_");
    }
}

/// Why a row has no output: its error, or for a cancelled task the reason it
/// was cancelled.
fn error_text(task: &Task) -> Option<&str> {
    task.error.as_deref().or(task.cancel_reason.as_deref())
}

/// Writes a group's results, one row per input row in the order given: the
/// input columns as read, then `output`, `status`, `error`, `prompt_tokens`,
/// `completion_tokens`, `cost_usd` (and in JSONL `output_json` when the task
/// has one). Names clashing with an input column get a `result_` prefix
/// ([`result_names`]). CSV: every value as text (empty when there is none;
/// a JSONL input's non-string values as compact JSON), quoted by the csv crate
/// where needed, cells written exactly as they are (no spreadsheet-formula
/// escaping, so the file reads back to the same text). JSONL: the input row's
/// keys and values as they were, then the results (`null` when there is none).
/// Streams row by row: memory does not grow with the number of rows.
pub fn write_results<R: ResultRow, W: Write>(
    format: ResultFormat,
    columns: &[String],
    rows: impl Iterator<Item = R>,
    out: W,
) -> std::io::Result<()> {
    let names = result_names(columns);
    match format {
        ResultFormat::Csv => write_csv(columns, &names, rows, out),
        ResultFormat::Jsonl => write_jsonl(columns, &names, rows, out),
    }
}

fn write_csv<R: ResultRow, W: Write>(
    columns: &[String],
    names: &[String],
    rows: impl Iterator<Item = R>,
    out: W,
) -> std::io::Result<()> {
    let mut w = csv::WriterBuilder::new().flexible(false).from_writer(out);
    // `output_json` is JSONL's only: in CSV the output column already holds it.
    let header = columns
        .iter()
        .map(String::as_str)
        .chain(names[..6].iter().map(String::as_str));
    w.write_record(header)?;
    for r in rows {
        let (row, task) = (r.values(), r.task());
        let mut cells: Vec<Cow<'_, str>> = Vec::with_capacity(columns.len() + 6);
        cells.extend(columns.iter().map(|c| cell_text(row.get(c))));
        cells.push(Cow::Borrowed(task.output.as_deref().unwrap_or("")));
        cells.push(Cow::Borrowed(task.status.as_str()));
        cells.push(Cow::Borrowed(error_text(task).unwrap_or("")));
        let number = |n: Option<u64>| n.map_or(Cow::Borrowed(""), |n| Cow::Owned(n.to_string()));
        cells.push(number(task.prompt_tokens));
        cells.push(number(task.completion_tokens));
        cells.push(
            task.cost_usd
                .map_or(Cow::Borrowed(""), |c| Cow::Owned(c.0.to_string())),
        );
        w.write_record(cells.iter().map(|c| c.as_bytes()))?;
    }
    w.flush()
}

fn write_jsonl<R: ResultRow, W: Write>(
    columns: &[String],
    names: &[String],
    rows: impl Iterator<Item = R>,
    out: W,
) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(out);
    for r in rows {
        let (row, task) = (r.values(), r.task());
        // Written key by key: serde_json's `Map` would sort the keys.
        let mut first = true;
        let mut field = |w: &mut std::io::BufWriter<W>, key: &str, value: &dyn erased::Json| {
            w.write_all(if first { b"{" } else { b"," })?;
            first = false;
            serde_json::to_writer(&mut *w, key)?;
            w.write_all(b":")?;
            value.write(w)
        };
        for c in columns {
            if let Some(v) = row.get(c) {
                field(&mut w, c, v)?;
            }
        }
        field(&mut w, &names[0], &task.output)?;
        field(&mut w, &names[1], &task.status.as_str())?;
        field(&mut w, &names[2], &error_text(task))?;
        field(&mut w, &names[3], &task.prompt_tokens)?;
        field(&mut w, &names[4], &task.completion_tokens)?;
        field(&mut w, &names[5], &task.cost_usd.map(|c| c.0))?;
        if let Some(json) = &task.output_json {
            field(&mut w, &names[6], json)?;
        }
        w.write_all(b"}\n")?;
    }
    w.flush()
}

/// One row of results: the input row's values and its task.
pub trait ResultRow {
    fn values(&self) -> &Map<String, Value>;
    fn task(&self) -> &Task;
}

impl ResultRow for (&Map<String, Value>, &Task) {
    fn values(&self) -> &Map<String, Value> {
        self.0
    }
    fn task(&self) -> &Task {
        self.1
    }
}

/// A group's row task, which carries its input row's values.
impl ResultRow for Task {
    fn values(&self) -> &Map<String, Value> {
        static NONE: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        match &self.group {
            Some(member) => &member.values,
            None => NONE.get_or_init(Map::new),
        }
    }
    fn task(&self) -> &Task {
        self
    }
}

/// A value written as JSON behind one trait object, so the JSONL writer's
/// fields share one closure.
mod erased {
    use std::io::Write;

    pub(super) trait Json {
        fn write(&self, w: &mut dyn Write) -> std::io::Result<()>;
    }

    impl<T: serde::Serialize> Json for T {
        fn write(&self, w: &mut dyn Write) -> std::io::Result<()> {
            serde_json::to_writer(w, self).map_err(std::io::Error::from)
        }
    }
}

#[cfg(test)]
mod tests;

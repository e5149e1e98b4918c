//! TEMPORARY stand-in for the row sources (replaced by the full module).

use crate::error::TaskError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RowSource {
    Csv,
    Jsonl,
    Lines,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

pub fn parse(source: RowSource, text: &str) -> Result<Rows, TaskError> {
    let _ = source;
    let rows: Vec<_> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut m = serde_json::Map::new();
            m.insert("item".into(), serde_json::Value::String(l.into()));
            m
        })
        .collect();
    if rows.is_empty() {
        return Err(TaskError::invalid("rows", "the file has no rows"));
    }
    Ok(Rows {
        columns: vec!["item".into()],
        rows,
    })
}

pub(crate) fn bind_row(
    template: &str,
    _columns: &[String],
    row: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let item = row.get("item").and_then(|v| v.as_str()).unwrap_or("");
    template.replace("{{item}}", &item.replace("{{", "\\{{"))
}

pub(crate) fn bind_items(instruction: &str, items: &[(u32, &str)]) -> String {
    let text: Vec<String> = items
        .iter()
        .map(|(n, o)| format!("[row {n}]\n{o}"))
        .collect();
    instruction.replace("{{items}}", &text.join("\n\n").replace("{{", "\\{{"))
}

pub fn check_map_prompt(_template: &str, _rows: &Rows) -> Result<(), TaskError> {
    Ok(())
}

pub fn check_join_instruction(_text: &str) -> Result<(), TaskError> {
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ResultFormat {
    Csv,
    Jsonl,
}

pub(crate) struct ResultWriter<W> {
    out: W,
}

impl<W: std::io::Write> ResultWriter<W> {
    pub fn new(_format: ResultFormat, _columns: &[String], out: W) -> std::io::Result<Self> {
        Ok(ResultWriter { out })
    }
    pub fn write(
        &mut self,
        values: &serde_json::Map<String, serde_json::Value>,
        task: &crate::task::Task,
    ) -> std::io::Result<()> {
        let line =
            serde_json::json!({"values": values, "output": task.output, "status": task.status});
        writeln!(self.out, "{line}")
    }
    pub fn finish(self) -> std::io::Result<W> {
        Ok(self.out)
    }
}

/// Most rows a group takes.
pub const MAX_MAP_ROWS: usize = 100_000;
/// Largest input a group takes, in bytes.
pub const MAX_MAP_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// A file of `bytes` is refused before it is read when it is over the limit.
pub fn check_input_size(bytes: u64) -> Result<(), TaskError> {
    if bytes > MAX_MAP_INPUT_BYTES {
        return Err(TaskError::invalid(
            "data",
            format!("the file is {bytes} bytes, over the limit of {MAX_MAP_INPUT_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The columns and the first `limit` rows, refused as `parse` would refuse them.
pub fn preview(source: RowSource, text: &str, limit: usize) -> Result<Rows, TaskError> {
    let mut rows = parse(source, text)?;
    rows.rows.truncate(limit);
    Ok(rows)
}

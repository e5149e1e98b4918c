//! Groups (`map`): one prompt over the rows of a list, a CSV or a JSON Lines
//! file. Create (with a preview of the rows first), list, show a page of rows,
//! cancel, retry the failed rows, export the results. Parsing and validation
//! are the engine's; an error names the field that is wrong.

use super::tasks::TaskInput;
use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::{Group, GroupId, NewJoin, NewMap, ResultFormat, RowSource, Task};
use serde::{Deserialize, Serialize};
use specta::Type;
use std::collections::BTreeMap;

/// Rows a preview shows at most, whatever the window asks.
const MAX_PREVIEW_ROWS: u32 = 50;
/// Row tasks one page of a group's detail holds at most.
const MAX_PAGE: u32 = 500;

/// The map form: the group's name and input, the task fields as the create
/// form takes them (its prompt is the template), and the optional join.
#[derive(Debug, Clone, Serialize, Deserialize, Type)]
// Serialize: the window forwards it to the runner as it read it.
pub struct MapInput {
    pub name: String,
    pub source: RowSource,
    /// The input's text (pasted, or read with `read_rows_file`).
    pub data: String,
    pub task: TaskInput,
    pub join: Option<NewJoin>,
}

/// The input's columns and its first rows, as the group would read them.
#[derive(Debug, Clone, Serialize, Type)]
pub struct RowsPreview {
    pub columns: Vec<String>,
    pub rows: Vec<BTreeMap<String, serde_json::Value>>,
}

fn parse_group_id(id: &str) -> Result<GroupId, CommandError> {
    id.parse::<GroupId>().map_err(CommandError::from)
}

pub async fn map_rows(state: &AppState, input: MapInput) -> Result<Group, CommandError> {
    let engine = state.engine().await?;
    let task = input.task.into_new_task(engine.now())?;
    let join = input.join.filter(|j| !j.instruction.trim().is_empty());
    Ok(engine
        .map(NewMap {
            name: input.name,
            source: input.source,
            data: input.data,
            task,
            join,
        })
        .await?)
}

pub async fn read_rows_file(_: &AppState, path: String) -> Result<String, CommandError> {
    let unreadable = |e: std::io::Error| {
        CommandError::new("file_unreadable", format!("cannot read {path}: {e}"))
    };
    let meta = tokio::fs::metadata(&path).await.map_err(unreadable)?;
    baton_engine::check_input_size(meta.len())?;
    let bytes = tokio::fs::read(&path).await.map_err(unreadable)?;
    String::from_utf8(bytes)
        .map_err(|_| CommandError::invalid("data", format!("{path} is not UTF-8 text")))
}

pub async fn preview_rows(
    _: &AppState,
    source: RowSource,
    data: String,
    limit: u32,
) -> Result<RowsPreview, CommandError> {
    let limit = limit.min(MAX_PREVIEW_ROWS) as usize;
    // Parsing a large input is CPU work: off the async runtime.
    let rows =
        tokio::task::spawn_blocking(move || baton_engine::preview_rows(source, &data, limit))
            .await
            .map_err(|e| CommandError::new("internal", e.to_string()))??;
    Ok(RowsPreview {
        columns: rows.columns,
        rows: rows
            .rows
            .into_iter()
            .map(|r| r.into_iter().collect())
            .collect(),
    })
}

pub async fn list_groups(state: &AppState) -> Result<Vec<Group>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.groups().await?)
}

pub async fn get_group(state: &AppState, key: String) -> Result<Group, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.find_group(&key).await?)
}

pub async fn group_tasks(
    state: &AppState,
    id: String,
    offset: u32,
    limit: u32,
) -> Result<Vec<Task>, CommandError> {
    let engine = state.engine().await?;
    let limit = limit.min(MAX_PAGE) as usize;
    Ok(engine
        .group_tasks(parse_group_id(&id)?, offset as usize, limit)
        .await?)
}

pub async fn cancel_group(state: &AppState, id: String) -> Result<Group, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.cancel_group(parse_group_id(&id)?).await?)
}

pub async fn retry_group(state: &AppState, id: String) -> Result<Group, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.retry_group(parse_group_id(&id)?).await?)
}

pub async fn export_group(
    state: &AppState,
    id: String,
    format: ResultFormat,
    path: String,
) -> Result<u32, CommandError> {
    let engine = state.engine().await?;
    let id = parse_group_id(&id)?;
    let group = engine.find_group(&id.to_string()).await?;
    let failed =
        |e: std::io::Error| CommandError::new("export_failed", format!("cannot write {path}: {e}"));
    let target = std::path::PathBuf::from(&path);
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file = tempfile::NamedTempFile::new_in(&dir).map_err(failed)?;
    let out = std::io::BufWriter::new(file);
    let out = engine.export_group(id, format, out).await?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    tokio::task::spawn_blocking(move || {
        file.as_file().sync_all()?;
        file.persist(&target).map_err(|e| e.error)?;
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(|e| CommandError::new("internal", e.to_string()))?
    .map_err(failed)?;
    Ok(group.total)
}

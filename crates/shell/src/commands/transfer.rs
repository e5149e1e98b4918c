//! Export to and import from files the person picked in a native dialog.

use super::parse_id;
use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::ImportReport;
use std::collections::HashSet;

pub async fn export_tasks(
    state: &AppState,
    path: String,
    ids: Option<Vec<String>>,
) -> Result<u32, CommandError> {
    let engine = state.engine().await?;
    let mut file = engine.export().await?;
    if let Some(ids) = ids {
        let keep = ids
            .iter()
            .map(|id| parse_id(id))
            .collect::<Result<HashSet<_>, _>>()?;
        file.tasks.retain(|t| keep.contains(&t.id));
        // Only the groups of the tasks chosen travel with them.
        let groups: HashSet<_> = file
            .tasks
            .iter()
            .filter_map(|t| t.group.as_ref().map(|m| m.group_id))
            .collect();
        file.groups.retain(|g| groups.contains(&g.id));
    }
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| CommandError::new("export_failed", e.to_string()))?;
    write_whole(&path, text.into_bytes())
        .await
        .map_err(|e| CommandError::new("export_failed", format!("cannot write {path}: {e}")))?;
    Ok(file.tasks.len() as u32)
}

pub async fn save_output(state: &AppState, id: String, path: String) -> Result<u32, CommandError> {
    let engine = state.engine().await?;
    let task = engine.get(parse_id(&id)?).await?;
    let Some(output) = task.output else {
        return Err(CommandError::new(
            "no_output",
            format!("task {id} has no answer to save yet"),
        ));
    };
    let bytes = output.len() as u32;
    write_whole(&path, output.into_bytes())
        .await
        .map_err(|e| CommandError::new("save_failed", format!("cannot write {path}: {e}")))?;
    Ok(bytes)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`: a reader
/// (or a crash) never sees half a file.
async fn write_whole(path: &str, bytes: Vec<u8>) -> std::io::Result<()> {
    let path = std::path::PathBuf::from(path);
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let mut file = tempfile::NamedTempFile::new_in(&dir)?;
        file.write_all(&bytes)?;
        file.as_file().sync_all()?;
        file.persist(&path).map_err(|e| e.error)?;
        Ok(())
    })
    .await
    .map_err(std::io::Error::other)?
}

pub async fn import_tasks(state: &AppState, path: String) -> Result<ImportReport, CommandError> {
    let engine = state.engine().await?;
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| CommandError::new("import_unreadable", format!("cannot read {path}: {e}")))?;
    Ok(engine.import(&text).await?)
}

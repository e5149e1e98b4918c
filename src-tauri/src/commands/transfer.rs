//! Export to and import from files the person picked in a native dialog.

use super::parse_id;
use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::ImportReport;
use std::collections::HashSet;
use tauri::State;

/// Writes all tasks, or only `ids`, to `path`. Returns how many were written.
#[tauri::command]
#[specta::specta]
pub async fn export_tasks(
    state: State<'_, AppState>,
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
    }
    let text = serde_json::to_string_pretty(&file)
        .map_err(|e| CommandError::new("export_failed", e.to_string()))?;
    tokio::fs::write(&path, text)
        .await
        .map_err(|e| CommandError::new("export_failed", format!("cannot write {path}: {e}")))?;
    Ok(file.tasks.len() as u32)
}

#[tauri::command]
#[specta::specta]
pub async fn import_tasks(
    state: State<'_, AppState>,
    path: String,
) -> Result<ImportReport, CommandError> {
    let engine = state.engine().await?;
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| CommandError::new("import_unreadable", format!("cannot read {path}: {e}")))?;
    Ok(engine.import(&text).await?)
}

//! The window's own commands: updates (the updater plugin lives in the app).
//! The rest are the shell's (`baton_shell::commands`), registered in `bindings`.

use crate::updates::{UpdateStatus, Updates};
use baton_shell::CommandError;
use tauri::State;

/// Asks the release feed for a newer version; the answer is also sent as an
/// `UpdateStatus` event.
#[tauri::command]
#[specta::specta]
pub async fn check_for_update(updates: State<'_, Updates>) -> Result<UpdateStatus, CommandError> {
    updates.check(true).await
}

/// Where the update check stands (what the window shows when it opens).
#[tauri::command]
#[specta::specta]
pub fn update_status(updates: State<'_, Updates>) -> UpdateStatus {
    updates.status()
}

/// Installs the update found by the last check, then restarts on it; asked for
/// by the person, never done on its own.
#[tauri::command]
#[specta::specta]
pub async fn install_update(updates: State<'_, Updates>) -> Result<UpdateStatus, CommandError> {
    updates.install().await
}

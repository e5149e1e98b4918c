//! The window's own commands: updates (the updater plugin lives in the app)
//! and what a clicked notification asked the window to open. The rest are
//! the shell's (`baton_shell::commands`), registered in `bindings`.

use crate::notifications::PendingOpen;
use crate::updates::{UpdateStatus, Updates};
use baton_shell::notices::OpenTarget;
use baton_shell::CommandError;
use tauri::State;

/// What a click on a notification asked the window to open, if no page has
/// taken it yet; taking it clears it. The page asks when it hears
/// `OpenRequested` and once its list has loaded (a window made by the click).
#[tauri::command]
#[specta::specta]
pub fn take_open_request(pending: State<'_, PendingOpen>) -> Option<OpenTarget> {
    pending.take()
}

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

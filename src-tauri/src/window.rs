//! The main window. It is this process's only window: closing it ends the
//! process (and its webview); the engine runs on in the runner. Show in the
//! tray starts the window again, and the page loads its state from the
//! runner as at first start.

use tauri::{AppHandle, Manager, Runtime};

/// The label of the window defined in `tauri.conf.json`.
pub const MAIN: &str = "main";

/// Brings the main window forward (a second launch hands over to this one).
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    let Some(window) = app.get_webview_window(MAIN) else {
        return;
    };
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
}

//! The shell's events as typed Tauri events, and the [`Host`] the shell reports
//! to: the window, the tray, notifications, start at login, the file manager.

use baton_engine::{Event, ScheduleEvent};
use baton_shell::{EngineStatus, Host, ToWindow};
use serde::Serialize;
use specta::Type;
use tauri::{AppHandle, Manager, Runtime};
use tauri_specta::Event as _;

/// One engine event: a state change (with the task) or an output chunk.
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct TaskEvent(pub Event);

/// A schedule was created, edited, paused, resumed, fired or removed (then
/// `schedule` is `None`).
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct ScheduleChanged(pub ScheduleEvent);

/// The subscription fell behind and missed events: reload what is shown.
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct Resync {
    pub missed: u32,
}

/// The engine's status changed (pause, workers, running tasks, health).
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct StatusChanged(pub EngineStatus);

/// Sends `status` to the window and the tray.
pub fn show<R: Runtime>(app: &AppHandle<R>, status: &EngineStatus) {
    let _ = StatusChanged(status.clone()).emit(app);
    crate::tray::show_status(app, status);
}

/// The real app's [`Host`].
pub struct AppHost<R: Runtime> {
    pub app: AppHandle<R>,
}

impl<R: Runtime> Host for AppHost<R> {
    fn emit(&self, event: ToWindow) -> Result<(), String> {
        let app = &self.app;
        match event {
            ToWindow::Task(event) => TaskEvent(event).emit(app),
            ToWindow::Schedule(event) => ScheduleChanged(event).emit(app),
            ToWindow::Resync { missed } => Resync { missed }.emit(app),
        }
        .map_err(|e| e.to_string())
    }

    fn show_status(&self, status: &EngineStatus) {
        show(&self.app, status);
    }

    fn notify(&self, notice: &baton_shell::notices::Notice) {
        crate::notifications::show(&self.app, notice);
    }

    fn set_autostart(&self, on: bool) -> Result<(), String> {
        let Some(autostart) = self
            .app
            .try_state::<tauri_plugin_autostart::AutoLaunchManager>()
        else {
            return Ok(());
        };
        let result = if on {
            autostart.enable()
        } else {
            autostart.disable()
        };
        result.map_err(|e| e.to_string())
    }

    fn open_path(&self, path: &std::path::Path) -> Result<(), String> {
        let Some(opener) = self.app.try_state::<tauri_plugin_opener::Opener<R>>() else {
            return Ok(());
        };
        opener
            .open_path(path.display().to_string(), None::<&str>)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shell::link;

    #[test]
    fn a_window_in_another_process_gets_each_event_under_the_name_the_page_listens_for() {
        assert_eq!(TaskEvent::NAME, link::TASK_EVENT);
        assert_eq!(ScheduleChanged::NAME, link::SCHEDULE_CHANGED);
        assert_eq!(Resync::NAME, link::RESYNC);
        assert_eq!(StatusChanged::NAME, link::STATUS_CHANGED);
    }
}

//! Engine events to the UI as Tauri events, and what else reacts to them
//! (notifications, the tray). Nothing polls.

use crate::state::AppState;
use baton_engine::{Engine, Event, EventKind, ScheduleEvent, TaskError, TaskState};
use serde::Serialize;
use specta::Type;
use tauri::{AppHandle, Manager, Runtime};
use tauri_specta::Event as _;
use tokio::sync::broadcast::error::RecvError;

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

/// Pause state, worker count and running tasks; sent when any changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type, tauri_specta::Event)]
pub struct StatusChanged {
    pub paused: bool,
    pub workers: u32,
    pub running: u32,
}

impl StatusChanged {
    pub async fn of(engine: &Engine) -> Result<StatusChanged, TaskError> {
        Ok(StatusChanged {
            paused: engine.is_paused(),
            workers: engine.workers() as u32,
            running: engine.counts().await?.running as u32,
        })
    }

    /// The status now; a failed count reads as nothing running.
    pub async fn current(engine: &Engine) -> StatusChanged {
        StatusChanged::of(engine).await.unwrap_or(StatusChanged {
            paused: engine.is_paused(),
            workers: engine.workers() as u32,
            running: 0,
        })
    }

    /// Sends the current status to the UI and the tray, and returns it.
    pub async fn publish<R: Runtime>(app: &AppHandle<R>, engine: &Engine) -> StatusChanged {
        let status = StatusChanged::current(engine).await;
        show(app, &status);
        status
    }
}

/// Sends `status` to the window and the tray.
pub fn show<R: Runtime>(app: &AppHandle<R>, status: &StatusChanged) {
    let _ = status.emit(app);
    crate::tray::show_status(app, status);
}

/// The real app's [`Host`](crate::state::Host).
pub struct AppHost<R: Runtime> {
    pub app: AppHandle<R>,
}

impl<R: Runtime> crate::state::Host for AppHost<R> {
    fn show_status(&self, status: &StatusChanged) {
        show(&self.app, status);
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

/// Forwards every engine event until the engine stops. The catalog applies each
/// event before the window hears of it, so a query the window makes in response
/// already sees the change.
pub fn forward<R: Runtime>(app: AppHandle<R>) {
    let state = app.state::<AppState>();
    let engine = state.engine.clone();
    let catalog = state.catalog.clone();
    let Some(mut events) = state.take_events() else {
        return;
    };
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    catalog.apply(&event);
                    if let EventKind::State { from, to, task } = &event.kind {
                        if *from == Some(TaskState::Running) || *to == TaskState::Running {
                            StatusChanged::publish(&app, &engine).await;
                        }
                        if matches!(to, TaskState::Completed | TaskState::Failed) {
                            notify(&app, &task.name, *to, task.error.as_deref());
                        }
                    }
                    if let Err(e) = TaskEvent(event).emit(&app) {
                        tracing::warn!(error = %e, "could not send an event to the window");
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    if let Err(e) = catalog.reload(&engine).await {
                        tracing::warn!(error = %e, "could not reload the task list");
                    }
                    let _ = Resync {
                        missed: missed.min(u32::MAX as u64) as u32,
                    }
                    .emit(&app);
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// Forwards every schedule change until the engine stops. Falling behind sends
/// [`Resync`], after which the window reloads its schedules too.
pub fn forward_schedules<R: Runtime>(app: AppHandle<R>) {
    let mut events = app.state::<AppState>().engine.subscribe_schedules();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if let Err(e) = ScheduleChanged(event).emit(&app) {
                        tracing::warn!(error = %e, "could not send a schedule event to the window");
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let _ = Resync {
                        missed: missed.min(u32::MAX as u64) as u32,
                    }
                    .emit(&app);
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// A native notification, when the setting allows it and the plugin is there.
fn notify<R: Runtime>(app: &AppHandle<R>, name: &str, to: TaskState, error: Option<&str>) {
    if !app.state::<AppState>().settings().notifications {
        return;
    }
    let Some(notifications) = app.try_state::<tauri_plugin_notification::Notification<R>>() else {
        return;
    };
    let (title, body) = match to {
        TaskState::Completed => ("Task completed", name.to_string()),
        _ => (
            "Task failed",
            format!("{name}: {}", error.unwrap_or("no error message")),
        ),
    };
    if let Err(e) = notifications.builder().title(title).body(body).show() {
        tracing::debug!(error = %e, "notification not shown");
    }
}

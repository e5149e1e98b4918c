//! The runner's events as typed Tauri events: what the page listens for, and
//! what the TypeScript bindings declare. They reach the window over the
//! runner's socket (`crate::runner`) under these names.

use baton_engine::{Event, ScheduleEvent};
use baton_shell::EngineStatus;
use serde::Serialize;
use specta::Type;

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

/// A notification was clicked: take what it opens with `take_open_request`.
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct OpenRequested;

#[cfg(test)]
mod tests {
    use super::*;
    use baton_shell::link;
    use tauri_specta::Event as _;

    #[test]
    fn the_page_hears_each_runner_event_under_the_name_it_listens_for() {
        assert_eq!(TaskEvent::NAME, link::TASK_EVENT);
        assert_eq!(ScheduleChanged::NAME, link::SCHEDULE_CHANGED);
        assert_eq!(Resync::NAME, link::RESYNC);
        assert_eq!(StatusChanged::NAME, link::STATUS_CHANGED);
        assert_eq!(OpenRequested::NAME, link::OPEN_REQUESTED);
    }
}

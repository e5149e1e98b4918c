//! Tauri commands, grouped by concern. Each is a thin call into the engine (or
//! the catalog); validation and errors come from the engine.

pub mod app;
pub mod budgets;
pub mod groups;
pub mod providers;
pub mod queue;
pub mod schedules;
pub mod tasks;
pub mod transfer;

use crate::error::CommandError;
use baton_engine::TaskId;

fn parse_id(id: &str) -> Result<TaskId, CommandError> {
    id.parse::<TaskId>().map_err(CommandError::from)
}

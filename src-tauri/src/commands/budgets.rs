//! Budgets: caps on spending, listed with what was spent against each, set
//! and removed from Settings.

use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::{Budget, NewBudget};
use tauri::State;

/// Every budget with its current period's spending.
#[tauri::command]
#[specta::specta]
pub async fn list_budgets(state: State<'_, AppState>) -> Result<Vec<Budget>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.budgets().await?)
}

/// Adds a budget, or changes the one of the same name.
#[tauri::command]
#[specta::specta]
pub async fn set_budget(
    state: State<'_, AppState>,
    budget: NewBudget,
) -> Result<Budget, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.set_budget(budget).await?)
}

/// Removes a budget; the tasks it held may start.
#[tauri::command]
#[specta::specta]
pub async fn remove_budget(
    state: State<'_, AppState>,
    name: String,
) -> Result<Budget, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.remove_budget(&name).await?)
}

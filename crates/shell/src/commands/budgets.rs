//! Budgets: caps on spending, listed with what was spent against each, set
//! and removed from Settings.

use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::{Budget, NewBudget};

pub async fn list_budgets(state: &AppState) -> Result<Vec<Budget>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.budgets().await?)
}

pub async fn set_budget(state: &AppState, budget: NewBudget) -> Result<Budget, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.set_budget(budget).await?)
}

pub async fn remove_budget(state: &AppState, name: String) -> Result<Budget, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.remove_budget(&name).await?)
}

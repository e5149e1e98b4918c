//! The engine's budget operations, for the CLI, the API and the desktop: set,
//! list (with what was spent against each cap), remove.

use crate::budget::{self, Budget, BudgetOp, BudgetScope, NewBudget};
use crate::engine::Engine;
use crate::error::TaskError;
use crate::storage::Storage;

impl Engine {
    /// Adds a budget, or changes the one of the same name. Refused, with the
    /// field named and nothing stored, when a value is wrong or what it names
    /// (a provider, a schedule, a zone) does not exist.
    pub async fn set_budget(&self, new: NewBudget) -> Result<Budget, TaskError> {
        let name = budget::validate_name(&new.name)?;
        let amount = budget::validate_amount(new.amount, new.unit)?;
        let zone = match new.timezone.as_deref().map(str::trim) {
            Some(tz) if !tz.is_empty() => crate::schedule::parse_zone(tz)?,
            _ => self.inner().local_zone,
        };
        let scope = match (new.provider.as_deref(), new.schedule.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(TaskError::invalid(
                    "schedule",
                    "a budget counts one provider's or one schedule's tasks, not both",
                ))
            }
            (Some(p), None) => {
                let p = p.trim();
                if self.inner().registry.get(p).is_none() {
                    return Err(TaskError::invalid(
                        "provider",
                        format!(
                            "no provider is named '{p}' (known: {})",
                            self.known_providers()
                        ),
                    ));
                }
                BudgetScope::Provider {
                    provider: p.to_string(),
                }
            }
            (None, Some(s)) => {
                let schedule = self.find_schedule(s).await.map_err(|e| match e {
                    TaskError::ScheduleNotFound(_) => TaskError::invalid(
                        "schedule",
                        format!("no schedule is named '{}'", s.trim()),
                    ),
                    other => other,
                })?;
                BudgetScope::Schedule {
                    schedule_id: schedule.id,
                    schedule: schedule.name,
                }
            }
            (None, None) => BudgetScope::All,
        };
        let budget = Budget::new(name, new.period, amount, new.unit, scope, zone, self.now());
        let stored = self.inner().writer.budget(BudgetOp::Set(budget)).await?;
        // A higher cap may admit tasks it held.
        self.inner().shared.wake_dispatcher.notify_one();
        Ok(stored)
    }

    /// Every budget in name order, with what was spent in its current period
    /// (a period that has ended reads as the new one, from nothing).
    pub async fn budgets(&self) -> Result<Vec<Budget>, TaskError> {
        let now = self.now();
        let mut budgets = self.read(|store| store.budgets()).await?;
        for b in &mut budgets {
            b.roll(now);
        }
        Ok(budgets)
    }

    /// Removes a budget; the tasks it held may start.
    pub async fn remove_budget(&self, name: &str) -> Result<Budget, TaskError> {
        let removed = self
            .inner()
            .writer
            .budget(BudgetOp::Remove(name.trim().to_string()))
            .await?;
        self.inner().shared.wake_dispatcher.notify_one();
        Ok(removed)
    }
}

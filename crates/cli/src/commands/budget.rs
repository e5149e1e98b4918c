//! `baton budget set|list|remove`: caps on what tasks may spend.

use super::{with_backend, with_reader};
use crate::error::CliError;
use crate::output;
use baton_engine::{BudgetPeriod, BudgetUnit, NewBudget};
use clap::{ArgGroup, Args, Subcommand};
use std::path::Path;

#[derive(Debug, Args)]
pub struct BudgetArgs {
    #[command(subcommand)]
    pub command: BudgetCommand,
}

#[derive(Debug, Subcommand)]
pub enum BudgetCommand {
    /// Set a cap: a new budget, or a change to the one of the same name
    Set(SetArgs),
    /// Every budget with what was spent against it in its current period
    List(ListArgs),
    /// Remove a budget; the tasks it held may start
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("period").required(true).args(["daily", "monthly"])))]
#[command(group(ArgGroup::new("unit").required(true).args(["usd", "tokens"])))]
pub struct SetArgs {
    /// The budget's name (letters, digits, '-', '_', '.')
    pub name: String,
    /// The cap: dollars with --usd (2.50 or $2.50), tokens with --tokens
    #[arg(allow_negative_numbers = true)]
    pub amount: String,
    /// Resets every midnight
    #[arg(long)]
    pub daily: bool,
    /// Resets at midnight on the first of each month
    #[arg(long)]
    pub monthly: bool,
    /// The cap is in US dollars (tasks on providers without prices are not counted)
    #[arg(long)]
    pub usd: bool,
    /// The cap is in tokens (prompt and completion)
    #[arg(long)]
    pub tokens: bool,
    /// Count only this provider's tasks
    #[arg(long, value_name = "P", conflicts_with = "schedule")]
    pub provider: Option<String>,
    /// Count only this schedule's tasks (its name or id)
    #[arg(long, value_name = "S")]
    pub schedule: Option<String>,
    /// The time zone whose midnight resets the cap [default: this machine's]
    #[arg(long = "tz", value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Print the budget as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print one JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    pub name: String,
    /// Print the removed budget as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(db: &Path, args: BudgetArgs) -> Result<(), CliError> {
    match args.command {
        BudgetCommand::Set(a) => set(db, a).await,
        BudgetCommand::List(a) => {
            let budgets = with_reader(db, |backend| async move { backend.budgets().await }).await?;
            output::emit(&if a.json {
                output::json(&budgets)?
            } else {
                output::budgets(&budgets)
            })
        }
        BudgetCommand::Remove(a) => {
            let name = a.name;
            let removed = with_backend(
                db,
                |backend| async move { backend.remove_budget(&name).await },
            )
            .await?;
            output::emit(&if a.json {
                output::json(&removed)?
            } else {
                format!("removed budget '{}'\n", removed.name)
            })
        }
    }
}

async fn set(db: &Path, a: SetArgs) -> Result<(), CliError> {
    let unit = if a.tokens {
        BudgetUnit::Tokens
    } else {
        BudgetUnit::Usd
    };
    let text = a.amount.trim();
    let number = match unit {
        BudgetUnit::Usd => text.strip_prefix('$').unwrap_or(text),
        BudgetUnit::Tokens => text,
    };
    let amount = number.replace('_', "").parse::<f64>().map_err(|_| {
        CliError::usage(format!(
            "AMOUNT '{text}' is not a number; write it like 2.50 (dollars) or 100000 (tokens)"
        ))
    })?;
    let new = NewBudget {
        name: a.name,
        period: if a.monthly {
            BudgetPeriod::Monthly
        } else {
            BudgetPeriod::Daily
        },
        amount,
        unit,
        provider: a.provider,
        schedule: a.schedule,
        timezone: a.timezone,
    };
    let budget = with_backend(db, |backend| async move { backend.set_budget(new).await }).await?;
    output::emit(&if a.json {
        output::json(&budget)?
    } else {
        output::budgets(std::slice::from_ref(&budget))
    })
}

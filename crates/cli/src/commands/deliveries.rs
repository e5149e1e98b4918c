//! `baton deliveries [TASK_ID]` and `baton deliveries resend ID`: where answers
//! went, and sending one again.

use super::with_backend;
use crate::error::CliError;
use crate::{input, output};
use baton_engine::DeliveryId;
use clap::{Args, Subcommand};
use std::path::Path;

/// Deliveries listed without a task: the newest this many.
const RECENT: usize = 50;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeliveriesArgs {
    #[command(subcommand)]
    pub command: Option<DeliveriesCommand>,
    /// Only this task's deliveries [default: the latest 50 of every task]
    #[arg(value_name = "TASK_ID")]
    pub task: Option<String>,
    /// Print one JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Send a delivery again (whatever became of it), with the same idempotency key
    Resend(ResendArgs),
}

#[derive(Debug, Args)]
pub struct ResendArgs {
    /// The delivery's id (see `baton deliveries`)
    pub id: String,
    /// Print the delivery as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(db: &Path, args: DeliveriesArgs) -> Result<(), CliError> {
    if let Some(DeliveriesCommand::Resend(a)) = args.command {
        return resend(db, a).await;
    }
    let task = args.task.as_deref().map(input::task_id).transpose()?;
    let listed = with_backend(db, |backend| async move {
        backend.deliveries(task, RECENT).await
    })
    .await?;
    output::emit(&if args.json {
        output::json(&listed)?
    } else {
        output::deliveries(&listed)
    })
}

async fn resend(db: &Path, args: ResendArgs) -> Result<(), CliError> {
    let id: DeliveryId = args.id.parse()?;
    let d = with_backend(
        db,
        |backend| async move { backend.resend_delivery(id).await },
    )
    .await?;
    output::emit(&if args.json {
        output::json(&d)?
    } else {
        format!(
            "delivery {} to {} is pending again; it goes out with key {}\n",
            d.id,
            d.target.describe(),
            d.idempotency_key()
        )
    })
}

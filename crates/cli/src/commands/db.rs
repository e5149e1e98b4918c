//! `baton db migrate|status`: the shared queue's PostgreSQL database.

use crate::error::CliError;
use crate::output;
use baton_engine::{PgStore, PG_SCHEMA_VERSION};
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Bring the database's schema up to this Baton's version (under a lock:
    /// runners starting at once migrate once). Every command also does this
    /// when it opens the database
    Migrate,
    /// The schema version and the runners registered on the queue
    Status {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(url: Option<&str>, args: DbArgs) -> Result<(), CliError> {
    let url = url
        .ok_or_else(|| {
            CliError::usage("`baton db` needs the shared queue's database: --database URL or BATON_DATABASE_URL")
        })?
        .to_string();
    // Opening migrates (see PgStore::open).
    let store = tokio::task::spawn_blocking(move || {
        PgStore::open_as(&url, baton_engine::DEFAULT_LEASE, false)
    })
    .await
    .map_err(|e| CliError::Internal(e.to_string()))?
    .map_err(|e| CliError::Open(baton_engine::OpenError::Shared(e.to_string())))?;
    let store = std::sync::Arc::new(store);
    match args.command {
        DbCommand::Migrate => {
            let version = blocking(&store, |s| s.schema_version()).await?;
            output::emit(&format!(
                "the database is at schema version {version} (this Baton's: {PG_SCHEMA_VERSION})\n"
            ))
        }
        DbCommand::Status { json } => {
            let version = blocking(&store, |s| s.schema_version()).await?;
            let runners = blocking(&store, |s| s.runners()).await?;
            if json {
                let value = serde_json::json!({
                    "schema_version": version,
                    "runners": runners.iter().filter(|r| !r.this_process).collect::<Vec<_>>(),
                });
                return output::emit(&format!("{value:#}\n"));
            }
            let mut text = format!("schema version {version}\n");
            let others: Vec<_> = runners.iter().filter(|r| !r.this_process).collect();
            if others.is_empty() {
                text.push_str("no runner is registered\n");
            }
            for r in others {
                let state = if r.silent_ms > r.lease_ms {
                    "gone (its running tasks are rescued)"
                } else {
                    "live"
                };
                text.push_str(&format!(
                    "runner {}  {} pid {}  started {}  last heartbeat {:.1} s ago: {state}\n",
                    r.id,
                    if r.host.is_empty() { "?" } else { &r.host },
                    r.pid,
                    r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    r.silent_ms as f64 / 1000.0
                ));
            }
            output::emit(&text)
        }
    }
}

async fn blocking<T: Send + 'static>(
    store: &std::sync::Arc<PgStore>,
    f: impl FnOnce(&PgStore) -> Result<T, baton_engine::TaskError> + Send + 'static,
) -> Result<T, CliError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| CliError::Internal(e.to_string()))?
        .map_err(CliError::from)
}

//! One function per subcommand. Each parses its arguments first (see `input`),
//! then opens the engine, does one thing, and shuts the engine down again: the
//! CLI owns the database for as long as the command runs.

mod engine_run;
mod tasks;
mod transfer;
mod view;

use crate::args::{Cli, Command};
use crate::error::CliError;
use baton_engine::{Engine, EngineConfig};
use std::future::Future;
use std::path::{Path, PathBuf};

/// The database file inside the data directory.
const DB_FILE: &str = "baton.redb";

/// Runs the command to completion on a fresh runtime. A panic ends here as an
/// error sentence, never as a backtrace.
pub fn run_blocking(cli: Cli) -> Result<(), CliError> {
    let db = database_path(cli.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Internal(format!("cannot start the async runtime: {e}")))?;
    let command = cli.command;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(dispatch(command, db))
    }))
    .unwrap_or_else(|panic| Err(CliError::Internal(crate::logging::panic_message(&*panic))))
}

async fn dispatch(command: Command, db: PathBuf) -> Result<(), CliError> {
    match command {
        Command::Run(args) => engine_run::run(&db, args).await,
        Command::Wait(args) => engine_run::wait(&db, args).await,
        Command::Submit(args) => tasks::submit(&db, args).await,
        Command::Chain(args) => tasks::chain(&db, args).await,
        Command::Cancel(args) => tasks::cancel(&db, args).await,
        Command::Retry(args) => tasks::retry(&db, args).await,
        Command::List(args) => view::list(&db, args).await,
        Command::Show(args) => view::show(&db, args).await,
        Command::Export(args) => transfer::export(&db, args).await,
        Command::Import(args) => transfer::import(&db, args).await,
    }
}

/// `--data-dir` / `BATON_DATA_DIR`, else the OS's per-user data directory.
fn database_path(data_dir: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let dir = match data_dir {
        Some(dir) => dir,
        None => directories::ProjectDirs::from("dev", "baton", "Baton")
            .map(|p| p.data_dir().to_path_buf())
            .ok_or(CliError::NoDataDir)?,
    };
    Ok(dir.join(DB_FILE))
}

async fn open(db: &Path, workers: usize) -> Result<Engine, CliError> {
    let mut config = EngineConfig::new(db);
    config.workers = workers;
    Ok(Engine::open(config).await?)
}

/// Opens the engine without starting it, runs `op`, and shuts the engine down
/// whatever `op` returned.
async fn with_engine<T, F, Fut>(db: &Path, op: F) -> Result<T, CliError>
where
    F: FnOnce(Engine) -> Fut,
    Fut: Future<Output = Result<T, CliError>>,
{
    let engine = open(db, baton_engine::DEFAULT_WORKERS).await?;
    let result = op(engine.clone()).await;
    engine.shutdown().await;
    result
}

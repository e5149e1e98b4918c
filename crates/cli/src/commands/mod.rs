//! One function per subcommand. Each parses its arguments first (see `input`),
//! then does one thing through a [`Backend`]: the running engine's API when
//! `<data-dir>/api.json` names a live one, else the database, which the command
//! opens, uses and closes again (owning it for as long as it runs).

pub mod budget;
pub mod db;
pub mod deliveries;
mod follow;
pub mod group;
mod operations;
pub mod provider;
mod runner;
pub mod schedule;
mod tasks;
mod transfer;
mod view;

use crate::args::{Cli, Command};
use crate::error::CliError;
use crate::remote::Remote;
use baton_engine::{Engine, EngineConfig, OpenError};
use operations::Operations;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The database file inside the data directory.
const DB_FILE: &str = "baton.redb";

const MAX_CACHE_MB: i64 = 65536;

/// `--cache-mb` in bytes. A process-wide value, set once before any command
/// opens the database, so the many functions that open it need no parameter.
static CACHE_BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// `--database` / `BATON_DATABASE_URL`: the shared queue every command then
/// uses directly (no data directory, lock file or `api.json`). Set once, like
/// [`CACHE_BYTES`].
static DATABASE_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn shared_queue() -> Option<&'static str> {
    DATABASE_URL.get().map(String::as_str)
}

pub(crate) fn config(db: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(db);
    config.cache_bytes = CACHE_BYTES
        .get()
        .copied()
        .unwrap_or(baton_engine::DEFAULT_CACHE_BYTES);
    config.database_url = shared_queue().map(str::to_string);
    config
}

/// Runs the command to completion on a fresh runtime. A panic ends here as an
/// error sentence, never as a backtrace.
pub fn run_blocking(cli: Cli) -> Result<(), CliError> {
    let db = database_path(cli.data_dir)?;
    if !(1..=MAX_CACHE_MB).contains(&cli.cache_mb) {
        return Err(CliError::usage(format!(
            "--cache-mb must be between 1 and {MAX_CACHE_MB}, got {}",
            cli.cache_mb
        )));
    }
    let _ = CACHE_BYTES.set((cli.cache_mb as usize) << 20);
    if let Some(url) = cli.database.filter(|u| !u.trim().is_empty()) {
        let _ = DATABASE_URL.set(url.trim().to_string());
    }
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
        Command::Runner(args) => runner::runner(&db, args).await,
        Command::Wait(args) => runner::wait(&db, args).await,
        Command::Events(args) => follow::events(&db, args).await,
        Command::Submit(args) => tasks::submit(&db, args).await,
        Command::Chain(args) => tasks::chain(&db, args).await,
        Command::Cancel(args) => tasks::cancel(&db, args).await,
        Command::Retry(args) => tasks::retry(&db, args).await,
        Command::List(args) => view::list(&db, args).await,
        Command::Show(args) => view::show(&db, args).await,
        Command::Export(args) => transfer::export(&db, args).await,
        Command::Import(args) => transfer::import(&db, args).await,
        Command::Provider(args) => provider::run(&db, args).await,
        Command::Schedule(args) => schedule::run(&db, args).await,
        Command::Deliveries(args) => deliveries::run(&db, args).await,
        Command::Budget(args) => budget::run(&db, args).await,
        Command::Map(args) => group::map(&db, args).await,
        Command::Group(args) => group::run(&db, args).await,
        Command::Db(args) => db::run(shared_queue(), args).await,
    }
}

/// `--data-dir` / `BATON_DATA_DIR`, else the OS's per-user data directory, the
/// desktop app's too. The local one: on Windows the roaming one would copy the
/// database between machines at each sign-in (elsewhere they are the same).
fn database_path(data_dir: Option<PathBuf>) -> Result<PathBuf, CliError> {
    let dir = match data_dir {
        Some(dir) => dir,
        None => directories::ProjectDirs::from("dev", "baton", "Baton")
            .map(|p| p.data_local_dir().to_path_buf())
            .ok_or(CliError::NoDataDir)?,
    };
    Ok(dir.join(DB_FILE))
}

async fn open(db: &Path, workers: usize) -> Result<Engine, CliError> {
    let mut config = config(db);
    config.workers = workers;
    Ok(Engine::open(config).await?)
}

/// [`open`] for `baton run`: polling provider batches every `batch_poll`, and
/// on a shared queue holding its tasks with a heartbeat `lease`.
async fn open_runner(
    db: &Path,
    workers: usize,
    batch_poll: std::time::Duration,
    lease: std::time::Duration,
) -> Result<Engine, CliError> {
    let mut config = config(db);
    config.workers = workers;
    config.batch.poll = batch_poll;
    config.lease = lease;
    Ok(Engine::open(config).await?)
}

/// The directory holding the database, `api-token` and `api.json`.
fn data_dir(db: &Path) -> &Path {
    db.parent().unwrap_or(Path::new("."))
}

/// Where a command's operations go: a running engine (`baton run`, the desktop
/// app) through its API, or the database opened by this command. Commands see
/// only [`Operations`].
#[derive(Clone)]
struct Backend(Arc<dyn Operations>);

impl std::ops::Deref for Backend {
    type Target = dyn Operations;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl Backend {
    /// The running engine's API if there is one, else the database. When the
    /// database is locked, the API is looked for again (an engine may have just
    /// started); with none, the "in use" error stands.
    async fn connect(db: &Path) -> Result<Backend, CliError> {
        if shared_queue().is_some() {
            // A command that runs no task is a client: not a runner of the queue.
            let mut config = config(db);
            config.run_tasks = false;
            return Ok(Backend::local(Engine::open(config).await?));
        }
        if let Some(remote) = Remote::discover(data_dir(db)).await? {
            return Ok(Backend::api(remote));
        }
        match open(db, baton_engine::DEFAULT_WORKERS).await {
            Ok(engine) => Ok(Backend::local(engine)),
            Err(CliError::Open(locked @ OpenError::Locked { .. })) => {
                match Remote::discover(data_dir(db)).await? {
                    Some(remote) => Ok(Backend::api(remote)),
                    None => Err(locked.into()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// [`Backend::connect`] for a command that only reads: the database is
    /// opened read-only, so nothing is recovered or written and tasks left
    /// running show as running. A file that needs repairing (or does not exist
    /// yet) is opened as by any other command.
    async fn connect_reading(db: &Path) -> Result<Backend, CliError> {
        if shared_queue().is_some() {
            return Backend::connect(db).await;
        }
        if let Some(remote) = Remote::discover(data_dir(db)).await? {
            return Ok(Backend::api(remote));
        }
        if !db.exists() {
            return Backend::connect(db).await;
        }
        match Engine::open_read_only(config(db)).await {
            Ok(engine) => Ok(Backend::local(engine)),
            Err(OpenError::NeedsRepair { .. }) => Backend::connect(db).await,
            Err(locked @ OpenError::Locked { .. }) => match Remote::discover(data_dir(db)).await? {
                Some(remote) => Ok(Backend::api(remote)),
                None => Err(locked.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    fn api(remote: Remote) -> Backend {
        Backend(Arc::new(remote))
    }

    fn local(engine: Engine) -> Backend {
        Backend(Arc::new(engine))
    }
}

/// Runs `op` against the running engine or the database (see [`Backend::connect`]);
/// a database opened here is closed whatever `op` returned.
async fn with_backend<T, F, Fut>(db: &Path, op: F) -> Result<T, CliError>
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future<Output = Result<T, CliError>>,
{
    let backend = Backend::connect(db).await?;
    finish(backend, op).await
}

/// [`with_backend`] for a command that only reads ([`Backend::connect_reading`]).
async fn with_reader<T, F, Fut>(db: &Path, op: F) -> Result<T, CliError>
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future<Output = Result<T, CliError>>,
{
    let backend = Backend::connect_reading(db).await?;
    finish(backend, op).await
}

async fn finish<T, F, Fut>(backend: Backend, op: F) -> Result<T, CliError>
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future<Output = Result<T, CliError>>,
{
    let result = op(backend.clone()).await;
    backend.close().await;
    result
}

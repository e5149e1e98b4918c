//! One function per subcommand. Each parses its arguments first (see `input`),
//! then does one thing through a [`Backend`]: the running engine's API when
//! `<data-dir>/api.json` names a live one, else the database, which the command
//! opens, uses and closes again (owning it for as long as it runs).

mod engine_run;
mod follow;
pub mod provider;
pub mod schedule;
mod tasks;
mod transfer;
mod view;

use crate::args::{Cli, Command};
use crate::error::CliError;
use crate::remote::Remote;
use baton_api::wire::{ImportSummary, ProviderTestResult, Secret};
use baton_engine::{
    ApiKey, Cancelled, Engine, EngineConfig, ExportFile, IdempotencyKey, ListQuery, NewSchedule,
    NewTask, OpenError, ProviderSettings, Schedule, ScheduleId, Task, TaskId,
};
use std::future::Future;
use std::path::{Path, PathBuf};

/// The database file inside the data directory.
const DB_FILE: &str = "baton.redb";

const MAX_CACHE_MB: i64 = 65536;

/// `--cache-mb` in bytes. A process-wide value, set once before any command
/// opens the database, so the many functions that open it need no parameter.
static CACHE_BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

fn config(db: &Path) -> EngineConfig {
    let mut config = EngineConfig::new(db);
    config.cache_bytes = CACHE_BYTES
        .get()
        .copied()
        .unwrap_or(baton_engine::DEFAULT_CACHE_BYTES);
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
    let mut config = config(db);
    config.workers = workers;
    Ok(Engine::open(config).await?)
}

/// The directory holding the database, `api-token` and `api.json`.
fn data_dir(db: &Path) -> &Path {
    db.parent().unwrap_or(Path::new("."))
}

/// Where a command's operations go.
#[derive(Clone)]
enum Backend {
    /// A running engine (`baton run`, the desktop app) through its API.
    Api(Remote),
    /// The database, opened by this command.
    Local(Engine),
}

impl Backend {
    /// The running engine's API if there is one, else the database. When the
    /// database is locked, the API is looked for again (an engine may have just
    /// started); with none, the "in use" error stands.
    async fn connect(db: &Path) -> Result<Backend, CliError> {
        if let Some(remote) = Remote::discover(data_dir(db)).await? {
            return Ok(Backend::Api(remote));
        }
        match open(db, baton_engine::DEFAULT_WORKERS).await {
            Ok(engine) => Ok(Backend::Local(engine)),
            Err(CliError::Open(locked @ OpenError::Locked { .. })) => {
                match Remote::discover(data_dir(db)).await? {
                    Some(remote) => Ok(Backend::Api(remote)),
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
        if let Some(remote) = Remote::discover(data_dir(db)).await? {
            return Ok(Backend::Api(remote));
        }
        if !db.exists() {
            return Backend::connect(db).await;
        }
        match Engine::open_read_only(config(db)).await {
            Ok(engine) => Ok(Backend::Local(engine)),
            Err(OpenError::NeedsRepair { .. }) => Backend::connect(db).await,
            Err(locked @ OpenError::Locked { .. }) => match Remote::discover(data_dir(db)).await? {
                Some(remote) => Ok(Backend::Api(remote)),
                None => Err(locked.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    async fn submit(&self, new: NewTask, key: Option<IdempotencyKey>) -> Result<Task, CliError> {
        match (self, key) {
            (Backend::Api(api), key) => api.submit(new, key).await,
            (Backend::Local(engine), Some(key)) => Ok(engine.submit_once(new, key).await?.task),
            (Backend::Local(engine), None) => Ok(engine.submit(new).await?),
        }
    }

    async fn chain(
        &self,
        parent: TaskId,
        new: NewTask,
        key: Option<IdempotencyKey>,
    ) -> Result<Task, CliError> {
        match (self, key) {
            (Backend::Api(api), key) => api.chain(parent, new, key).await,
            (Backend::Local(engine), Some(key)) => {
                Ok(engine.chain_once(parent, new, key).await?.task)
            }
            (Backend::Local(engine), None) => Ok(engine.chain(parent, new).await?),
        }
    }

    async fn cancel(&self, id: TaskId, reason: Option<String>) -> Result<Cancelled, CliError> {
        match self {
            Backend::Api(api) => {
                let c = api.cancel(id, reason).await?;
                Ok(Cancelled {
                    task: c.task,
                    previous: c.previous_status,
                    changed: c.changed,
                })
            }
            Backend::Local(engine) => Ok(engine.cancel(id, reason).await?),
        }
    }

    async fn retry(&self, id: TaskId, max_attempts: Option<u32>) -> Result<Task, CliError> {
        match self {
            Backend::Api(api) => api.retry(id, max_attempts).await,
            Backend::Local(engine) => Ok(engine.retry(id, max_attempts).await?),
        }
    }

    async fn get(&self, id: TaskId) -> Result<Task, CliError> {
        match self {
            Backend::Api(api) => api.get_task(id).await,
            Backend::Local(engine) => Ok(engine.get(id).await?),
        }
    }

    async fn list(&self, query: ListQuery) -> Result<Vec<Task>, CliError> {
        match self {
            Backend::Api(api) => api.list(query).await,
            Backend::Local(engine) => Ok(engine.list(query).await?),
        }
    }

    async fn export(&self) -> Result<ExportFile, CliError> {
        match self {
            Backend::Api(api) => api.export().await,
            Backend::Local(engine) => Ok(engine.export().await?),
        }
    }

    async fn import(&self, text: String) -> Result<ImportSummary, CliError> {
        match self {
            Backend::Api(api) => api.import(text).await,
            Backend::Local(engine) => Ok(engine.import(&text).await?.into()),
        }
    }

    async fn add_schedule(&self, new: NewSchedule) -> Result<Schedule, CliError> {
        match self {
            Backend::Api(api) => api.add_schedule(new).await,
            Backend::Local(engine) => Ok(engine.add_schedule(new).await?),
        }
    }

    /// The schedule with this name (any case) or id.
    async fn find_schedule(&self, key: &str) -> Result<Schedule, CliError> {
        match self {
            Backend::Api(api) => api.find_schedule(key).await,
            Backend::Local(engine) => Ok(engine.find_schedule(key).await?),
        }
    }

    async fn update_schedule(
        &self,
        id: ScheduleId,
        new: NewSchedule,
    ) -> Result<Schedule, CliError> {
        match self {
            Backend::Api(api) => api.update_schedule(id, new).await,
            Backend::Local(engine) => Ok(engine.update_schedule(id, new).await?),
        }
    }

    async fn pause_schedule(&self, id: ScheduleId) -> Result<Schedule, CliError> {
        match self {
            Backend::Api(api) => api.schedule_action(id, "pause").await,
            Backend::Local(engine) => Ok(engine.pause_schedule(id).await?),
        }
    }

    async fn resume_schedule(&self, id: ScheduleId) -> Result<Schedule, CliError> {
        match self {
            Backend::Api(api) => api.schedule_action(id, "resume").await,
            Backend::Local(engine) => Ok(engine.resume_schedule(id).await?),
        }
    }

    async fn remove_schedule(&self, id: ScheduleId) -> Result<Schedule, CliError> {
        match self {
            Backend::Api(api) => api.remove_schedule(id).await,
            Backend::Local(engine) => Ok(engine.remove_schedule(id).await?),
        }
    }

    /// The run's tasks, its task first.
    async fn run_schedule_now(&self, id: ScheduleId) -> Result<Vec<Task>, CliError> {
        match self {
            Backend::Api(api) => Ok(api.run_schedule_now(id).await?.tasks),
            Backend::Local(engine) => Ok(engine.run_schedule_now(id).await?.1),
        }
    }

    async fn schedules(&self) -> Result<Vec<Schedule>, CliError> {
        match self {
            Backend::Api(api) => api.schedules().await,
            Backend::Local(engine) => Ok(engine.schedules().await?),
        }
    }

    async fn schedule_tasks(&self, id: ScheduleId, limit: usize) -> Result<Vec<Task>, CliError> {
        match self {
            Backend::Api(api) => api.schedule_tasks(id, limit).await,
            Backend::Local(engine) => Ok(engine.schedule_tasks(id, limit).await?),
        }
    }

    /// The configured providers, and the names of the built-in ones.
    async fn providers(&self) -> Result<(Vec<ProviderSettings>, Vec<String>), CliError> {
        match self {
            Backend::Api(api) => api.providers().await,
            Backend::Local(engine) => {
                let configured = engine.provider_settings();
                let builtin = engine
                    .providers()
                    .names()
                    .filter(|n| !configured.iter().any(|s| s.name == *n))
                    .map(String::from)
                    .collect();
                Ok((configured, builtin))
            }
        }
    }

    /// Adds or replaces a provider; `key` goes to the OS keychain of the
    /// machine running the engine.
    async fn save_provider(
        &self,
        settings: ProviderSettings,
        key: Option<Secret>,
    ) -> Result<ProviderSettings, CliError> {
        match self {
            Backend::Api(api) => api.save_provider(settings, key).await,
            Backend::Local(engine) => {
                let key = key.and_then(|k| ApiKey::new(k.expose()));
                Ok(engine.save_provider(settings, key).await?)
            }
        }
    }

    async fn remove_provider(&self, name: &str) -> Result<ProviderSettings, CliError> {
        match self {
            Backend::Api(api) => api.remove_provider(name).await,
            Backend::Local(engine) => Ok(engine.remove_provider(name).await?),
        }
    }

    async fn test_provider(
        &self,
        name: &str,
        model: Option<String>,
    ) -> Result<ProviderTestResult, CliError> {
        match self {
            Backend::Api(api) => api.test_provider(name, model).await,
            Backend::Local(engine) => Ok(engine.test_provider(name, model).await?.into()),
        }
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
    if let Backend::Local(engine) = backend {
        engine.shutdown().await;
    }
    result
}

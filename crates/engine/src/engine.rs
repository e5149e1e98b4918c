//! The engine's public face: open, start, operate, shut down.

use crate::backoff::Backoff;
use crate::clock::Clock;
use crate::db::Db;
use crate::error::{ImportError, OpenError, TaskError};
use crate::events::Event;
use crate::export::{self, ExportFile, ExportSummary};
use crate::health::Health;
use crate::idempotency::{Created, IdempotencyKey, Once};
use crate::lifecycle::{Cancelled, ImportReport};
use crate::pool::{self, Dispatcher};
use crate::provider::{Providers, Registry};
use crate::scheduler;
use crate::shared::Shared;
use crate::storage::Storage;
use crate::store::{ListQuery, StatusCounts, Store, StoreOptions, DEFAULT_CACHE_BYTES};
use crate::task::{self, NewTask, Task, TaskId};
use crate::writer::Writer;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub const DEFAULT_WORKERS: usize = 4;
pub const MAX_WORKERS: usize = 1024;

/// What the writer has done since open: `committed_requests / commits` is the
/// mean group-commit batch size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EngineStats {
    pub commits: u64,
    pub committed_requests: u64,
}

/// A shared queue as [`Engine::shared_queue`] describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SharedQueue {
    /// "user@host:port/database", never the password.
    pub name: String,
    /// The runners alive now (this one included when it runs tasks).
    pub runners: Vec<crate::pg::Runner>,
    /// Whether this engine runs tasks or only follows the queue.
    pub runs_tasks_here: bool,
}

/// How to run an engine.
#[derive(Clone)]
pub struct EngineConfig {
    /// The redb file. Its directory is created if missing.
    pub db_path: PathBuf,
    /// A PostgreSQL database (`postgres://user@host:port/db`) to keep the
    /// tasks in instead of `db_path`: a queue several runners share
    /// (docs/scale-out.md). Its password is never logged or shown.
    pub database_url: Option<String>,
    /// Concurrent attempts (1..=1024).
    pub workers: usize,
    pub backoff: Backoff,
    /// How long a graceful shutdown lets running attempts finish before it
    /// interrupts and requeues them.
    pub grace: Duration,
    pub clock: Clock,
    pub providers: Providers,
    /// redb's page cache, in bytes ([`DEFAULT_CACHE_BYTES`]). The file's pages
    /// beyond it are read from disk (the OS caches them too).
    pub cache_bytes: usize,
    /// The zone a one-off task's `{{date}}`, `{{time}}` and `{{now}}` are read
    /// in: this machine's ([`local_zone`]) unless set.
    pub local_zone: chrono_tz::Tz,
    /// How batch-mode tasks are gathered and their provider batches polled.
    pub batch: crate::batcher::BatchConfig,
    /// False: this engine runs no task (it neither claims, fires schedules nor
    /// sends deliveries): a client of a shared queue (`database_url`) that
    /// shows and changes what runners elsewhere run. It is not registered as
    /// a runner.
    pub run_tasks: bool,
    /// With `database_url`: how long after this runner's last heartbeat the
    /// others presume it gone and rescue its running tasks (at least
    /// [`crate::MIN_LEASE`]; heartbeats are every tenth of it).
    pub lease: Duration,
}

/// Opens the database `config` names: the PostgreSQL one when it has a URL
/// (a read-only open is then an ordinary one: there is no file to spare),
/// else the redb file.
async fn open_db(config: &EngineConfig, read_only: bool) -> Result<Db, OpenError> {
    if let Some(url) = config.database_url.clone() {
        if config.lease < crate::runner::MIN_LEASE {
            return Err(OpenError::Config(format!(
                "the lease must be at least {} s, got {} ms",
                crate::runner::MIN_LEASE.as_secs(),
                config.lease.as_millis()
            )));
        }
        let (lease, runner) = (config.lease, config.run_tasks);
        // A client (`run_tasks` false) is not registered, so it is never
        // counted as a live runner.
        return tokio::task::spawn_blocking(move || {
            crate::pg::PgStore::open_as(&url, lease, runner)
        })
        .await
        .map_err(|e| OpenError::Shared(e.to_string()))?
        .map(Db::Pg)
        .map_err(|e| {
            OpenError::Shared(match e {
                TaskError::Storage(m) => m,
                other => other.to_string(),
            })
        });
    }
    let path = config.db_path.clone();
    let options = StoreOptions {
        cache_bytes: config.cache_bytes,
        read_only,
    };
    tokio::task::spawn_blocking(move || Store::open_with(&path, options))
        .await
        .map_err(|e| OpenError::Io {
            path: config.db_path.clone(),
            detail: e.to_string(),
        })?
        .map(Db::Redb)
}

fn store_read_only(engine: &Engine) -> bool {
    engine
        .inner
        .store()
        .map(|store| store.read_only())
        .unwrap_or(true)
}

/// This machine's IANA time zone; UTC when it cannot be read.
pub fn local_zone() -> chrono_tz::Tz {
    iana_time_zone::get_timezone()
        .ok()
        .and_then(|name| name.parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

impl EngineConfig {
    pub fn new(db_path: impl Into<PathBuf>) -> Self {
        EngineConfig {
            db_path: db_path.into(),
            database_url: None,
            workers: DEFAULT_WORKERS,
            backoff: Backoff::default(),
            grace: Duration::from_secs(5),
            clock: Clock::System,
            providers: Providers::default(),
            cache_bytes: DEFAULT_CACHE_BYTES,
            local_zone: local_zone(),
            batch: Default::default(),
            lease: crate::pg::DEFAULT_LEASE,
            run_tasks: true,
        }
    }
}

/// A running engine. Cheap to clone; all clones are the same engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// For reads; taken (and so closed, once in-flight reads end) at shutdown.
    store: std::sync::RwLock<Option<Arc<Db>>>,
    pub writer: Writer,
    pub shared: Arc<Shared>,
    pub clock: Clock,
    /// Also sets the provider cool-down after a 429 that gave no Retry-After.
    pub backoff: Backoff,
    pub registry: Registry,
    pub local_zone: chrono_tz::Tz,
    pub batch: crate::batcher::BatchConfig,
    /// How long this runner's heartbeat holds its tasks (shared queue).
    pub lease: Duration,
    /// False: a client that runs no task (see [`EngineConfig::run_tasks`]).
    pub run_tasks: bool,
    /// The shared queue's URL, for [`Engine::shared_queue`]'s name.
    database_url: Option<String>,
    /// Slots, pause and provider limits; the only claimer of tasks.
    pub dispatcher: Dispatcher,
    pub executors: TaskTracker,
    /// Stops the scheduler and the dispatcher: no new attempt starts.
    pub stop_intake: CancellationToken,
    /// Interrupts running attempts (a shutdown past its grace period).
    pub hard_stop: CancellationToken,
    grace: Duration,
    phase: tokio::sync::Mutex<Phase>,
}

impl Inner {
    /// The store for a read; gone once the engine has shut down.
    pub(crate) fn store(&self) -> Result<Arc<Db>, TaskError> {
        self.store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(TaskError::ShuttingDown)
    }
}

enum Phase {
    Open {
        writer: JoinHandle<()>,
    },
    Started {
        writer: JoinHandle<()>,
        services: Vec<JoinHandle<()>>,
    },
    Stopped,
}

impl Engine {
    /// Opens the database (creating it if needed) and recovers tasks a previous
    /// run left running. Nothing runs until [`Engine::start`].
    pub async fn open(config: EngineConfig) -> Result<Engine, OpenError> {
        Engine::open_mode(config, false).await
    }

    /// Opens an existing database for reading only (`list`, `show`, `export`
    /// from the CLI): nothing is recovered, migrated or written, and tasks left
    /// running are reported as they are. Every write answers a `storage` error.
    /// A file that was not closed cleanly is refused
    /// ([`OpenError::NeedsRepair`]): repairing it is a write.
    pub async fn open_read_only(config: EngineConfig) -> Result<Engine, OpenError> {
        Engine::open_mode(config, true).await
    }

    async fn open_mode(config: EngineConfig, read_only: bool) -> Result<Engine, OpenError> {
        if !(1..=MAX_WORKERS).contains(&config.workers) {
            return Err(OpenError::Io {
                path: config.db_path.clone(),
                detail: format!(
                    "workers must be between 1 and {MAX_WORKERS}, got {}",
                    config.workers
                ),
            });
        }
        let store = Arc::new(open_db(&config, read_only).await?);
        let shared = Arc::new(Shared::new());
        if store.postgres().is_some() {
            // Registered just now: the lease holds from here.
            shared
                .lease
                .renew(tokio::time::Instant::now() + crate::runner::held_for(config.lease));
        }
        let hard_stop = CancellationToken::new();
        let (writer, writer_task) = Writer::spawn(
            store.clone(),
            shared.clone(),
            config.clock,
            config.backoff,
            hard_stop.clone(),
        );
        let engine = Engine {
            inner: Arc::new(Inner {
                store: std::sync::RwLock::new(Some(store)),
                writer,
                shared: shared.clone(),
                clock: config.clock,
                backoff: config.backoff,
                registry: Registry::new(config.providers),
                local_zone: config.local_zone,
                batch: config.batch,
                lease: config.lease,
                run_tasks: config.run_tasks,
                database_url: config.database_url.clone(),
                dispatcher: Dispatcher::new(config.workers, shared.wake_dispatcher.clone()),
                executors: TaskTracker::new(),
                stop_intake: CancellationToken::new(),
                hard_stop,
                grace: config.grace,
                phase: tokio::sync::Mutex::new(Phase::Open {
                    writer: writer_task,
                }),
            }),
        };
        if engine.inner.store().is_ok_and(|db| db.postgres().is_some()) {
            // Its part of the provider limits comes with its heartbeats
            // (`runner`): until then a limited provider is held.
            engine
                .inner
                .dispatcher
                .limiter()
                .set_share(crate::provider::Share::Nothing);
        }
        let (recovered, adopted) = if store_read_only(&engine) {
            (Vec::new(), Vec::new())
        } else {
            engine
                .inner
                .writer
                .recover()
                .await
                .map_err(|e| OpenError::Io {
                    path: config.db_path.clone(),
                    detail: e.to_string(),
                })?
        };
        for task in &recovered {
            tracing::warn!(task_id = %task.id, status = %task.status, "recovered a task interrupted by the previous run");
        }
        // Provider batches whose results will come: the batch loop polls them
        // once it starts (the wake-up is kept until then).
        engine.inner.shared.to_batcher(Vec::new(), adopted);
        engine.install_stored_providers().await;
        Ok(engine)
    }

    /// Starts the scheduler and the workers. Does nothing if already started or stopped.
    pub async fn start(&self) {
        let mut phase = self.inner.phase.lock().await;
        if let Phase::Open { .. } = &*phase {
            let Phase::Open { writer } = std::mem::replace(&mut *phase, Phase::Stopped) else {
                unreachable!()
            };
            // A client only follows what the runners do.
            let mut services = vec![tokio::spawn(crate::runner::tail(self.inner.clone()))];
            if self.inner.run_tasks {
                services.extend([
                    tokio::spawn(scheduler::serve(self.inner.clone())),
                    tokio::spawn(pool::dispatch(self.inner.clone())),
                    tokio::spawn(crate::deliverer::serve(self.inner.clone())),
                    tokio::spawn(crate::batcher::serve(self.inner.clone())),
                    tokio::spawn(crate::runner::serve(self.inner.clone(), self.inner.lease)),
                    tokio::spawn(crate::runner::poll(self.inner.clone())),
                ]);
            }
            *phase = Phase::Started { writer, services };
        }
    }

    /// Stops taking new work, lets running attempts finish for the grace period,
    /// interrupts (and requeues) the rest, and closes the database. Safe to call
    /// before `start`, twice, or from several places at once.
    pub async fn shutdown(&self) {
        let mut phase = self.inner.phase.lock().await;
        let (writer, services) = match std::mem::replace(&mut *phase, Phase::Stopped) {
            Phase::Stopped => return,
            Phase::Open { writer } => (writer, Vec::new()),
            Phase::Started { writer, services } => (writer, services),
        };
        self.inner.stop_intake.cancel();
        for service in services {
            let _ = service.await;
        }
        let executors = &self.inner.executors;
        executors.close();
        if tokio::time::timeout(self.inner.grace, executors.wait())
            .await
            .is_err()
        {
            tracing::info!("grace period over: interrupting running attempts");
            self.inner.hard_stop.cancel();
            executors.wait().await;
        }
        self.inner.writer.stop();
        let _ = writer.await;
        // The writer has dropped its handle. Reads still in flight hold theirs
        // for a moment: wait for them, so the file is closed cleanly (redb marks
        // it so) when this returns, even if the process exits right after.
        let taken = self
            .inner
            .store
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut store) = taken {
            loop {
                match Arc::try_unwrap(store) {
                    // Closed on the blocking pool: PostgreSQL's client blocks
                    // (it says goodbye to the database), which async code must not.
                    Ok(last) => {
                        let _ = tokio::task::spawn_blocking(move || drop(last)).await;
                        break;
                    }
                    Err(shared) => store = shared,
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// Validates and stores a new task. It runs now, or at `start_at`.
    pub async fn submit(&self, new: NewTask) -> Result<Task, TaskError> {
        let task = self.build(new, None, crate::prompt::Scope::TASK)?;
        Ok(self.inner.writer.create(task, None).await?.task)
    }

    /// [`Engine::submit`] at most once per key: the same key with the same
    /// request answers the task it created (see [`crate::IdempotencyKey`]);
    /// with another request it is refused.
    pub async fn submit_once(
        &self,
        new: NewTask,
        key: IdempotencyKey,
    ) -> Result<Created, TaskError> {
        let once = Once::new(key, "submit", None, &new);
        let task = self.build(new, None, crate::prompt::Scope::TASK)?;
        self.inner.writer.create(task, Some(once)).await
    }

    /// A task that runs on `parent`'s output: at once if the parent has completed,
    /// otherwise when it does.
    pub async fn chain(&self, parent: TaskId, new: NewTask) -> Result<Task, TaskError> {
        let task = self.build(new, Some(parent), crate::prompt::Scope::CHAINED)?;
        Ok(self.inner.writer.chain(task, None).await?.task)
    }

    /// [`Engine::chain`] at most once per key, like [`Engine::submit_once`].
    pub async fn chain_once(
        &self,
        parent: TaskId,
        new: NewTask,
        key: IdempotencyKey,
    ) -> Result<Created, TaskError> {
        let once = Once::new(key, "chain", Some(parent), &new);
        let task = self.build(new, Some(parent), crate::prompt::Scope::CHAINED)?;
        self.inner.writer.chain(task, Some(once)).await
    }

    /// Cancels a task; a running attempt is aborted right after the cancel is stored.
    pub async fn cancel(&self, id: TaskId, reason: Option<String>) -> Result<Cancelled, TaskError> {
        let reason = reason
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        self.inner.writer.cancel(id, reason).await
    }

    /// Queues a failed or cancelled task again, with its attempts reset.
    pub async fn retry(&self, id: TaskId, max_attempts: Option<u32>) -> Result<Task, TaskError> {
        if let Some(n) = max_attempts {
            task::validate_max_attempts(n)?;
        }
        self.inner.writer.retry(id, max_attempts).await
    }

    pub async fn get(&self, id: TaskId) -> Result<Task, TaskError> {
        self.read(move |store| store.get(id))
            .await?
            .ok_or(TaskError::NotFound(id))
    }

    /// Tasks newest first.
    pub async fn list(&self, query: ListQuery) -> Result<Vec<Task>, TaskError> {
        self.read(move |store| store.list(&query)).await
    }

    pub async fn children(&self, id: TaskId) -> Result<Vec<TaskId>, TaskError> {
        self.read(move |store| store.children(id)).await
    }

    pub async fn counts(&self) -> Result<StatusCounts, TaskError> {
        self.read(|store| store.counts()).await
    }

    /// Every task, as the export file.
    pub async fn export(&self) -> Result<ExportFile, TaskError> {
        let (tasks, schedules, groups) = self
            .read(|store| Ok((store.all()?, store.schedules()?, store.groups()?)))
            .await?;
        Ok(ExportFile {
            groups,
            ..ExportFile::new(tasks, schedules, self.inner.clock.now())
        })
    }

    /// Writes the export file to `out` as it reads the tasks (oldest first), so
    /// memory stays small however many there are. The text is what
    /// `serde_json::to_string_pretty(&engine.export())` gives, plus a newline.
    /// `out` is written from the blocking pool; buffer it or not, as you like.
    pub async fn export_to<W: std::io::Write + Send + 'static>(
        &self,
        out: W,
    ) -> Result<ExportSummary, TaskError> {
        let now = self.inner.clock.now();
        self.read(move |store| export::write(out, &store.snapshot()?, now))
            .await
    }

    /// Validates the whole file, then stores its tasks and schedules in one
    /// transaction. Ids (and schedule names) already stored are reported and
    /// left alone.
    pub async fn import(&self, text: &str) -> Result<ImportReport, ImportError> {
        let providers = self.inner.registry.snapshot();
        let parsed = export::parse(text, self.now(), |provider, model| {
            match providers.get(provider) {
                Some(p) => p.check_model(model),
                // Another machine's provider: kept, and it fails clearly if run here.
                None => Ok(()),
            }
        })?;
        self.inner
            .writer
            .import(parsed.tasks, parsed.schedules, parsed.groups)
            .await
    }

    /// Every change from now on. See [`crate::events`].
    pub fn subscribe(&self) -> crate::events::Subscription {
        self.inner.shared.events.subscribe()
    }

    /// Returns once no task is waiting, scheduled, queued or running, and no
    /// delivery is pending (one a receiver keeps refusing is given up after
    /// its tries, about 20 minutes).
    pub async fn wait_idle(&self) -> Result<(), TaskError> {
        let mut events = self.subscribe();
        loop {
            if self.counts().await?.active() == 0
                && self.read(|store| store.pending_deliveries()).await? == 0
            {
                return Ok(());
            }
            // Only a move to a terminal state can leave nothing active, so the
            // counts are read again only then, once per burst of events: a read
            // per event competed with the writer for the CPU.
            // On a shared queue other runners finish tasks too, and their
            // events do not pass through this engine: look again now and then.
            let shared = self.inner.store()?.postgres().is_some();
            let look_again = async {
                if shared {
                    tokio::time::sleep(Duration::from_millis(500)).await
                } else {
                    std::future::pending().await
                }
            };
            tokio::pin!(look_again);
            loop {
                tokio::select! {
                    _ = &mut look_again => break,
                    event = events.recv() => match event {
                        Ok(Event { kind: crate::events::EventKind::State { to, .. }, .. })
                            if to.is_terminal() => break,
                        Ok(Event { kind: crate::events::EventKind::Delivery { delivery }, .. })
                            if delivery.status != crate::delivery::DeliveryStatus::Pending => break,
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => return Err(TaskError::ShuttingDown),
                    },
                    _ = self.inner.stop_intake.cancelled() => return Err(TaskError::ShuttingDown),
                }
            }
            loop {
                match events.try_recv() {
                    Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                    Err(broadcast::error::TryRecvError::Closed) => {
                        return Err(TaskError::ShuttingDown)
                    }
                    Err(broadcast::error::TryRecvError::Empty) => break,
                }
            }
        }
    }

    /// On a shared queue: its name (user, host, port, database; never the
    /// password) and the runners whose heartbeat is within their lease now.
    /// `None` on a redb file.
    pub async fn shared_queue(&self) -> Result<Option<SharedQueue>, TaskError> {
        let Some(url) = self.inner.database_url.clone() else {
            return Ok(None);
        };
        let runners = self
            .read(|db| match db.postgres() {
                Some(pg) => pg.runners(),
                None => Ok(Vec::new()),
            })
            .await?;
        Ok(Some(SharedQueue {
            name: crate::pg::PgStore::describe(&url),
            runners: runners
                .into_iter()
                .filter(|r| r.silent_ms <= r.lease_ms)
                .collect(),
            runs_tasks_here: self.inner.run_tasks,
        }))
    }

    /// Changes the number of concurrent attempts. Fewer slots take effect as
    /// running attempts finish; none is interrupted.
    pub fn set_workers(&self, n: usize) -> Result<(), TaskError> {
        if !(1..=MAX_WORKERS).contains(&n) {
            return Err(TaskError::invalid(
                "workers",
                format!("workers must be between 1 and {MAX_WORKERS}, got {n}"),
            ));
        }
        self.inner.dispatcher.set_workers(n);
        Ok(())
    }

    pub fn workers(&self) -> usize {
        self.inner.dispatcher.workers()
    }

    /// Paused workers finish what they run but claim nothing new.
    pub fn set_paused(&self, paused: bool) {
        self.inner.dispatcher.set_paused(paused);
    }

    pub fn is_paused(&self) -> bool {
        self.inner.dispatcher.is_paused()
    }

    /// Whether writes commit now.
    pub fn health(&self) -> Health {
        self.inner.shared.health.borrow().clone()
    }

    /// [`Engine::health`] as it changes.
    pub fn watch_health(&self) -> watch::Receiver<Health> {
        self.inner.shared.health.subscribe()
    }

    /// Counters of the writer since open.
    pub fn stats(&self) -> EngineStats {
        let shared = &self.inner.shared;
        EngineStats {
            commits: shared.commits.load(std::sync::atomic::Ordering::Relaxed),
            committed_requests: shared
                .committed_requests
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The time as the engine sees it.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// Every provider tasks can name now: built-in and configured.
    pub fn providers(&self) -> Providers {
        self.inner.registry.snapshot()
    }

    /// The providers a task may name, for a refusal: "mock, local, openai".
    pub(crate) fn known_providers(&self) -> String {
        self.inner
            .registry
            .snapshot()
            .names()
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, TaskError> + Send + 'static,
    ) -> Result<T, TaskError> {
        let store = self.inner.store()?;
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| TaskError::Storage(e.to_string()))?
    }

    /// A task record from a request, checked as saved in `scope` (which
    /// prompt variables it may name).
    pub(crate) fn build(
        &self,
        new: NewTask,
        parent: Option<TaskId>,
        scope: crate::prompt::Scope,
    ) -> Result<Task, TaskError> {
        new.check()?;
        crate::prompt::check(&new.prompt, scope, "prompt")?;
        new.deliver.check(scope.scheduled)?;
        let provider_name = new.provider.as_deref().map(str::trim).unwrap_or("mock");
        let provider = self.inner.registry.get(provider_name).ok_or_else(|| {
            TaskError::invalid(
                "provider",
                format!(
                    "unknown provider '{provider_name}' (known: {})",
                    self.known_providers()
                ),
            )
        })?;
        let batch =
            crate::batcher::batch_for(&self.inner, &new, provider_name, self.inner.clock.now())?;
        let model = new
            .model
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| provider.default_model().to_string());
        provider
            .check_model(&model)
            .map_err(|m| TaskError::invalid("model", m))?;
        let fallbacks = self.resolve_fallbacks(&new.fallbacks, (provider_name, &model))?;
        let max_attempts = new.max_attempts.unwrap_or(task::DEFAULT_MAX_ATTEMPTS);
        let timeout_ms = new
            .timeout_ms
            .unwrap_or(task::DEFAULT_TIMEOUT.as_millis() as u64);
        let tags = task::normalize_tags(&new.tags)?;
        let system = new.system.filter(|s| !s.trim().is_empty());
        let name = match new.name {
            Some(name) => name.trim().to_string(),
            None => task::default_name(&new.prompt),
        };
        let now = self.inner.clock.now();
        Ok(Task {
            start_at: batch.as_ref().map(|b| b.deadline).or(new.start_at),
            batch,
            parent_task_id: parent,
            max_attempts,
            timeout_ms,
            tags,
            system,
            temperature: new.temperature.map(crate::task::Real),
            max_tokens: new.max_tokens,
            timezone: (crate::prompt::has_variables(&new.prompt)
                || new
                    .deliver
                    .to_file
                    .as_deref()
                    .is_some_and(crate::prompt::has_variables))
            .then(|| self.inner.local_zone.name().to_string()),
            deliver: new.deliver,
            output_schema: new.output_schema,
            fallbacks,
            fallback_after: new.fallback_after,
            ..Task::fresh(name, new.prompt, provider_name.to_string(), model, now)
        })
    }

    /// Fallback targets as stored: each provider known, each model resolved
    /// (the provider's default when left out) and usable, no target twice
    /// (the task's own included). Refused naming the field `fallbacks`.
    fn resolve_fallbacks(
        &self,
        fallbacks: &[task::Target],
        own: (&str, &str),
    ) -> Result<Vec<task::Target>, TaskError> {
        let mut seen = vec![(own.0.to_string(), own.1.to_string())];
        let mut out = Vec::with_capacity(fallbacks.len());
        for t in fallbacks {
            let name = t.provider.trim();
            let provider = self.inner.registry.get(name).ok_or_else(|| {
                TaskError::invalid(
                    "fallbacks",
                    format!(
                        "the fallback '{t}' names an unknown provider '{name}' (known: {})",
                        self.known_providers()
                    ),
                )
            })?;
            let model = t
                .model
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .unwrap_or(provider.default_model())
                .to_string();
            provider
                .check_model(&model)
                .map_err(|m| TaskError::invalid("fallbacks", format!("the fallback '{t}': {m}")))?;
            let key = (name.to_string(), model.clone());
            if seen.contains(&key) {
                return Err(TaskError::invalid(
                    "fallbacks",
                    format!("the fallback '{name}:{model}' is already one of the task's targets"),
                ));
            }
            seen.push(key);
            out.push(task::Target {
                provider: name.to_string(),
                model: Some(model),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_only_open_writes_nothing_and_shows_running_tasks_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.redb");
        let running = crate::Task {
            status: crate::TaskState::Running,
            attempts: 1,
            history: vec![crate::Attempt::started(1, chrono::Utc::now())],
            ..crate::Task::sample("left running")
        };
        {
            // A file closed cleanly with a task still running in it.
            let store = Store::open(&path).unwrap();
            use crate::storage::{Storage, UnitOfWork};
            let batch = store.begin().unwrap();
            batch.txn().put(None, &running).unwrap();
            batch.commit().unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();

        let engine = Engine::open_read_only(EngineConfig::new(&path))
            .await
            .unwrap();
        let listed = engine
            .list(ListQuery {
                limit: 10,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].status, crate::TaskState::Running);
        let export = dir.path().join("export.json");
        let summary = engine
            .export_to(std::fs::File::create(&export).unwrap())
            .await
            .unwrap();
        assert_eq!(summary.tasks, 1);
        let err = engine
            .submit(NewTask::new("no"))
            .await
            .expect_err("a read-only engine writes nothing");
        assert_eq!(err.code(), "storage");
        assert!(engine.health().is_ok(), "read-only is not unwritable");
        engine.shutdown().await;

        assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file changed");
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            modified
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_returns_only_once_reads_in_flight_let_go_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.redb");
        let engine = Engine::open(EngineConfig::new(&path)).await.unwrap();
        // What a read holds while it runs on the blocking pool.
        let reading = engine.inner.store.read().unwrap().clone().unwrap();
        let stopping = tokio::spawn({
            let engine = engine.clone();
            async move { engine.shutdown().await }
        });
        // Paused time: this lets shutdown poll many times.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !stopping.is_finished(),
            "shutdown returned with the file still open"
        );
        drop(reading);
        stopping.await.unwrap();
        let header = std::fs::read(&path).unwrap();
        assert_eq!(header[9] & 0b10, 0, "the file was left needing recovery");
    }

    #[tokio::test]
    async fn a_cancel_from_elsewhere_between_a_claim_and_its_executor_still_aborts_the_call() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(EngineConfig::new(dir.path().join("b.redb")))
            .await
            .unwrap();
        let task = engine.submit(NewTask::new("claimed")).await.unwrap();
        // The claim committed; its executor has not started (none is launched here).
        let inner = &engine.inner;
        let claimed = inner
            .writer
            .claim(inner.dispatcher.request(inner, 1))
            .await
            .unwrap();
        assert_eq!(claimed.tasks.len(), 1);
        assert_eq!(claimed.tasks[0].0.id, task.id);
        // Another runner's cancel, read from the outbox now.
        inner.shared.abort_if_running(task.id, 1);
        // What the executor then watches is already cancelled: no call starts.
        assert!(inner.shared.watch_running(task.id, 1).is_cancelled());
        inner.shared.forget_running(task.id, 1);
        drop(claimed);
        engine.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_client_away_longer_than_events_are_kept_tells_its_subscribers_to_reload() {
        use tokio::sync::broadcast::error::RecvError;
        // The blocking client stays off the runtime's threads.
        let place = tokio::task::spawn_blocking(crate::pg::testing::PgPlace::new)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(dir.path().join("unused.redb"));
        config.database_url = Some(place.url());
        config.run_tasks = false;
        let engine = Engine::open(config).await.unwrap();
        let mut events = engine.subscribe();
        engine.start().await;
        // As after a night asleep: the runners pruned events this client never read.
        let admin = place.config.clone();
        tokio::task::spawn_blocking(move || {
            let mut admin = admin.connect(postgres::NoTls).unwrap();
            admin
                .batch_execute("UPDATE baton_events_pruned SET through = 1000; NOTIFY baton_events")
                .unwrap();
        })
        .await
        .unwrap();
        let told = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.recv().await {
                    Err(RecvError::Lagged(n)) => break n,
                    other => assert!(other.is_ok(), "{other:?}"),
                }
            }
        })
        .await
        .expect("the subscriber was never told it missed events");
        assert_eq!(
            told, 1000,
            "every event between its cursor and the prune mark"
        );
        // Once told, the subscription goes on with the events that follow.
        assert!(matches!(
            events.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty)
        ));
        engine.shutdown().await;
        tokio::task::spawn_blocking(move || drop(place))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_writer_reads_now_on_the_shared_databases_clock() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(EngineConfig::new(dir.path().join("b.redb")))
            .await
            .unwrap();
        // As a runner's heartbeat would find it: the database an hour ahead.
        engine
            .inner
            .shared
            .db_clock_ahead_ms
            .store(3_600_000, std::sync::atomic::Ordering::Relaxed);
        let mut events = engine.subscribe();
        let task = engine
            .submit(NewTask {
                start_at: Some(chrono::Utc::now() + chrono::Duration::minutes(30)),
                ..NewTask::new("due on the database's clock")
            })
            .await
            .unwrap();
        engine.start().await;
        // Due by the database's clock, though half an hour early by this one.
        let completed = async {
            loop {
                let event = events.recv().await.unwrap();
                if let crate::EventKind::State { to, .. } = event.kind {
                    if event.task_id == task.id && to == crate::TaskState::Completed {
                        break;
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), completed)
            .await
            .expect("the task waited for this machine's clock");
        engine.shutdown().await;
    }
}

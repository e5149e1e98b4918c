//! PostgreSQL as a [`Storage`] backend: the interface's operations in SQL, so
//! the lifecycle and firing code that runs on redb runs unchanged on a shared
//! database (docs/scale-out.md). The engine opens it instead of a redb file
//! when given a URL (`db`); each process that opens it is a runner with a
//! lease its heartbeat renews (`runner`).
//!
//! A unit of work is one PostgreSQL transaction on its own connection (READ
//! COMMITTED). What `lifecycle` reads it then writes, so [`TaskTxn::get`] locks
//! the row (`FOR UPDATE`), and a claim skips rows another transaction holds
//! (`FOR UPDATE SKIP LOCKED`), the way River and Oban claim. Records are the
//! same JSON bytes redb stores (`bytea`: exact, and a prompt may hold any
//! character); the columns beside them are what the queries select on.

use crate::budget::Budget;
use crate::delivery::{Delivery, DeliveryId, DeliveryStatus};
use crate::error::TaskError;
use crate::group::{Group, GroupId};
use crate::provider::ProviderSettings;
use crate::schedule::{Schedule, ScheduleId};
use crate::state::TaskState;
use crate::storage::{Storage, TaskTxn, UnitOfWork, Was};
use crate::store::{KeyRecord, ListQuery, StatusCounts, PRUNE_BATCH};
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use postgres::{Client, Config, NoTls, Row};
use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

#[path = "pg_conn.rs"]
mod conn;
#[path = "pg_events.rs"]
mod events;
use conn::Conn;
pub(crate) use events::PRUNE_EVENTS_BATCH;
pub use events::{EventPage, EventsOf, PgListener, RemoteEvent, EVENT_RETENTION};

/// The schema version this code writes; a database at a newer one is refused.
pub const PG_SCHEMA_VERSION: i32 = 9;

/// Taken (as a transaction-level advisory lock) while migrating, so runners
/// starting at once migrate one at a time.
const MIGRATION_LOCK: i64 = 0x6261_746f_6e00_0001; // "baton" + 1

/// The migrations, in order: index `i` takes the schema to version `i + 1`.
fn migrations() -> Vec<String> {
    let queued = TaskState::Queued.code();
    let scheduled = TaskState::Scheduled.code();
    let running = TaskState::Running.code();
    vec![
        format!(
            "CREATE TABLE baton_tasks (
             id uuid PRIMARY KEY,
             status smallint NOT NULL,
             -- start_at, or created_at: the claim and due order
             due_at timestamptz NOT NULL,
             parent_id uuid,
             schedule_id uuid,
             tags text[] NOT NULL DEFAULT '{{}}',
             record bytea NOT NULL
         );
         CREATE INDEX baton_tasks_queue ON baton_tasks (due_at, id) WHERE status = {queued};
         CREATE INDEX baton_tasks_due ON baton_tasks (due_at, id) WHERE status = {scheduled};
         CREATE INDEX baton_tasks_status ON baton_tasks (status, id);
         CREATE INDEX baton_tasks_parent ON baton_tasks (parent_id, id) WHERE parent_id IS NOT NULL;
         CREATE INDEX baton_tasks_schedule ON baton_tasks (schedule_id, id)
             WHERE schedule_id IS NOT NULL;
         CREATE TABLE baton_schedules (
             id uuid PRIMARY KEY,
             name_key text NOT NULL UNIQUE,
             -- the next fire time while enabled, else NULL
             next_fire_at timestamptz,
             record bytea NOT NULL
         );
         CREATE INDEX baton_schedules_due ON baton_schedules (next_fire_at, id)
             WHERE next_fire_at IS NOT NULL;
         CREATE TABLE baton_providers (
             name text PRIMARY KEY,
             record bytea NOT NULL
         );
         CREATE TABLE baton_idempotency (
             key text PRIMARY KEY,
             created_at timestamptz NOT NULL,
             record bytea NOT NULL
         );
         CREATE INDEX baton_idempotency_age ON baton_idempotency (created_at, key);"
        ),
        format!(
            "CREATE TABLE baton_runners (
             id uuid PRIMARY KEY,
             host text NOT NULL,
             pid integer NOT NULL,
             started_at timestamptz NOT NULL DEFAULT now(),
             heartbeat_at timestamptz NOT NULL DEFAULT now()
         );
         -- who runs a running task's attempt; NULL in every other state
         ALTER TABLE baton_tasks ADD COLUMN runner_id uuid;
         CREATE INDEX baton_tasks_running ON baton_tasks (runner_id) WHERE status = {running};"
        ),
        "CREATE TABLE baton_deliveries (
             id uuid PRIMARY KEY,
             task_id uuid NOT NULL,
             -- the next try while pending, else NULL
             due_at timestamptz,
             record bytea NOT NULL
         );
         CREATE INDEX baton_deliveries_task ON baton_deliveries (task_id, id);
         CREATE INDEX baton_deliveries_due ON baton_deliveries (due_at, id)
             WHERE due_at IS NOT NULL;"
            .to_string(),
        // Budgets: claims lock them (FOR UPDATE), so two runners' reservations
        // against one cap are serialised.
        "CREATE TABLE baton_budgets (
             name text PRIMARY KEY,
             record bytea NOT NULL
         );"
        .to_string(),
        // Groups (`map`): a row task carries its group and row number, so a
        // group's rows are read in input order from an index.
        "CREATE TABLE baton_groups (
             id uuid PRIMARY KEY,
             name_key text NOT NULL UNIQUE,
             record bytea NOT NULL
         );
         ALTER TABLE baton_tasks ADD COLUMN group_id uuid, ADD COLUMN group_row integer;
         CREATE INDEX baton_tasks_group ON baton_tasks (group_id, group_row)
             WHERE group_row IS NOT NULL;"
            .to_string(),
        // 6: each runner's own lease: a rescuer judges a runner by the lease
        // that runner keeps its calls to, not by its own.
        "ALTER TABLE baton_runners ADD COLUMN lease_ms bigint NOT NULL DEFAULT 30000;".to_string(),
        // 7: the event outbox (pg_events.rs).
        events::MIGRATION.to_string(),
        // 8: a provider's cool-down after a 429, for every runner's claims.
        "CREATE TABLE baton_cooldowns (
             provider text PRIMARY KEY,
             until timestamptz NOT NULL
         );"
        .to_string(),
        // 9: one row per fire time a schedule fired, written with the fire: the
        // primary key refuses a second fire for one fire time (`record_fire`).
        "CREATE TABLE baton_schedule_fires (
             schedule_id uuid NOT NULL,
             fire_at timestamptz NOT NULL,
             -- the fire's first task
             task_id uuid NOT NULL,
             PRIMARY KEY (schedule_id, fire_at)
         );
         CREATE INDEX baton_schedule_fires_age ON baton_schedule_fires (fire_at);"
            .to_string(),
    ]
}

/// A process registered on a shared queue (`baton db status`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Runner {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    /// How long since its last heartbeat, on the database's clock.
    pub silent_ms: u64,
    /// Presumed gone after this long without a heartbeat.
    pub lease_ms: u64,
    /// This process's own registration.
    #[serde(skip)]
    pub this_process: bool,
}

/// A PostgreSQL database holding Baton's tasks. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// Connections not in use, kept for the next unit of work or read.
    idle: Mutex<Vec<Conn>>,
    /// This process's row in `baton_runners`: the owner of the attempts it claims.
    runner: Uuid,
    /// How long a runner's last heartbeat keeps its attempts its own.
    lease: std::time::Duration,
    /// A unit of work failed because the connection was lost (the server
    /// restarted or cannot be reached): the writer keeps its outcomes and
    /// tries [`PgStore::restore`] until the database answers again.
    lost: std::sync::atomic::AtomicBool,
}

/// A runner whose heartbeat is older than this is presumed gone, and its
/// running tasks are rescued.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

impl Drop for Inner {
    /// A runner that stops leaves: its running tasks (none after a graceful
    /// shutdown, which requeues them) are orphaned at once, as with redb. On
    /// a connection it already holds: a drop never waits for a new one, and
    /// without one the lease runs out instead.
    fn drop(&mut self) {
        let idle = self.idle.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(mut client) = idle.pop() {
            let runner = self.runner;
            let mut leave = move || {
                let _ = client.execute("DELETE FROM baton_runners WHERE id = $1", &[&runner]);
            };
            // The blocking client must not run on an async runtime's thread
            // (it would panic, in a destructor: an abort).
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::spawn(leave).join();
            } else {
                leave();
            }
        }
    }
}

impl std::fmt::Debug for PgStore {
    // The config holds the password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// Whether the unit `e` ended will succeed if tried again, rather than a
/// refused statement: the connection is gone (no SQLSTATE: an I/O error; a
/// connection exception, class 08; the server shutting down, 57P01-57P03),
/// or the transaction was rolled back by a deadlock or a serialization
/// failure (class 40). The writer then keeps the outcomes it carried.
fn connection_lost(e: &postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08")
                || code.starts_with("40")
                || matches!(code, "57P01" | "57P02" | "57P03")
        }
    }
}

fn db(e: postgres::Error) -> TaskError {
    // postgres::Error's text names the failure, never the connection string;
    // the server's own message (a deadlock, a constraint) is in its source,
    // as is the cause of a failed connection (refused, timed out).
    match e.as_db_error() {
        Some(server) => TaskError::Storage(format!(
            "database: {} ({})",
            server.message(),
            server.code().code()
        )),
        None => match std::error::Error::source(&e) {
            Some(cause) => TaskError::Storage(format!("database: {e}: {cause}")),
            None => TaskError::Storage(format!("database: {e}")),
        },
    }
}

/// This machine's name, as the runners table shows it.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .or_else(|_| std::env::var("COMPUTERNAME"))
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_default()
}

fn uuid_of(id: TaskId) -> Uuid {
    Uuid::from_u128(id.as_u128())
}

fn group_uuid(id: GroupId) -> Uuid {
    Uuid::from_u128(id.as_u128())
}

fn schedule_uuid(id: ScheduleId) -> Uuid {
    Uuid::from_u128(id.as_u128())
}

fn task_id(row: &Row) -> TaskId {
    TaskId::from_u128(row.get::<_, Uuid>(0).as_u128())
}

fn delivery_uuid(id: DeliveryId) -> Uuid {
    Uuid::from_u128(id.as_u128())
}

/// When a delivery is next due: while pending only.
fn delivery_due(d: &Delivery) -> Option<DateTime<Utc>> {
    (d.status == DeliveryStatus::Pending).then(|| d.next_at.unwrap_or(d.created_at))
}

fn schedule_id(row: &Row) -> ScheduleId {
    ScheduleId::from_u128(row.get::<_, Uuid>(0).as_u128())
}

/// The records (first column, JSON bytes) of `rows`, decoded.
fn records<T: serde::de::DeserializeOwned>(what: &str, rows: &[Row]) -> Result<Vec<T>, TaskError> {
    rows.iter()
        .map(|row| decode(what, row.get::<_, &[u8]>(0)))
        .collect()
}

/// The record of at most one row.
fn record<T: serde::de::DeserializeOwned>(
    what: &str,
    rows: &[Row],
) -> Result<Option<T>, TaskError> {
    Ok(records(what, rows)?.pop())
}

/// The state a `status` column holds.
fn state_of_code(code: i16) -> Result<TaskState, TaskError> {
    TaskState::ALL
        .into_iter()
        .find(|s| i16::from(s.code()) == code)
        .ok_or_else(|| TaskError::Storage(format!("unknown task status code {code}")))
}

/// A task's children, oldest first (in a unit and in a read alike).
const CHILDREN: &str = "SELECT id FROM baton_tasks WHERE parent_id = $1 ORDER BY id";

fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<Vec<u8>, TaskError> {
    serde_json::to_vec(value).map_err(|e| TaskError::Storage(format!("cannot encode {what}: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, raw: &[u8]) -> Result<T, TaskError> {
    serde_json::from_slice(raw)
        .map_err(|e| TaskError::Storage(format!("a stored {what} record is unreadable: {e}")))
}

fn due_at(task: &Task) -> DateTime<Utc> {
    task.start_at.unwrap_or(task.created_at)
}

/// The `postgres` crate's keepalive idle time when a URL sets none (two hours).
const DEFAULT_KEEPALIVES_IDLE: std::time::Duration = std::time::Duration::from_secs(2 * 60 * 60);

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`) and
    /// brings its schema up to date.
    pub fn open(url: &str) -> Result<Self, TaskError> {
        Self::open_with_lease(url, DEFAULT_LEASE)
    }

    /// [`PgStore::open`], for a runner presumed gone `lease` after its last
    /// heartbeat.
    pub fn open_with_lease(url: &str, lease: std::time::Duration) -> Result<Self, TaskError> {
        Self::open_as(url, lease, true)
    }

    /// [`PgStore::open_with_lease`]; with `runner` false this process runs no
    /// tasks (a client: the desktop app with "run tasks on this computer"
    /// off) and is not registered, so it is never counted as a live runner.
    pub fn open_as(url: &str, lease: std::time::Duration, runner: bool) -> Result<Self, TaskError> {
        let mut config: Config = url.parse().map_err(|e: postgres::Error| {
            TaskError::Storage(format!("the database URL is not valid: {e}"))
        })?;
        if config.get_password().is_none() {
            // As libpq does: the password can stay out of the URL (and so out
            // of process lists and shell history).
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            }
        }
        if config.get_connect_timeout().is_none() {
            // An unreachable host is one clear sentence soon, not minutes of SYN retries.
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        Self::connect_as(config, lease, runner)
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn connect(config: Config) -> Result<Self, TaskError> {
        Self::connect_with_lease(config, DEFAULT_LEASE)
    }

    pub(crate) fn connect_with_lease(
        config: Config,
        lease: std::time::Duration,
    ) -> Result<Self, TaskError> {
        Self::connect_as(config, lease, true)
    }

    fn connect_as(
        mut config: Config,
        lease: std::time::Duration,
        register: bool,
    ) -> Result<Self, TaskError> {
        // The engine's statements are small and many: compiling one with JIT
        // (on by default from PostgreSQL 12, chosen by a cost estimate that a
        // one-row table can fool) took milliseconds where running it took
        // microseconds.
        //
        // A unit never waits between its statements, so a session idle inside
        // a transaction for a whole lease is a runner cut off mid-unit (its
        // COMMIT lost on the way): the server ends it and its row locks go,
        // or the rows it held could never be rescued (claims skip locked rows).
        let ours = format!(
            "-c jit=off -c idle_in_transaction_session_timeout={}",
            lease.as_millis().max(1)
        );
        let options = match config.get_options() {
            Some(given) => format!("{given} {ours}"),
            None => ours,
        };
        config.options(&options);
        // A connection whose server vanished without a word (a machine gone to
        // sleep, a cut cable) would wait on a read for the kernel's two hours
        // of keepalive silence: probe after a lease of quiet instead, so the
        // read fails, the connection is dropped and another is made. A URL
        // that sets its own `keepalives_idle` keeps it.
        if config.get_keepalives() && config.get_keepalives_idle() == DEFAULT_KEEPALIVES_IDLE {
            config
                .keepalives_idle(lease.max(std::time::Duration::from_secs(1)))
                .keepalives_interval(std::time::Duration::from_secs(1))
                .keepalives_retries(3);
        }
        let mut client = config.connect(NoTls).map_err(db)?;
        migrate(&mut client)?;
        let runner = Uuid::now_v7();
        if register {
            client
                .execute(
                    "INSERT INTO baton_runners (id, host, pid, lease_ms) VALUES ($1, $2, $3, $4)",
                    &[
                        &runner,
                        &host_name(),
                        &(std::process::id() as i32),
                        &(lease.as_millis() as i64),
                    ],
                )
                .map_err(db)?;
        }
        Ok(PgStore {
            inner: Arc::new(Inner {
                config,
                idle: Mutex::new(vec![Conn::new(client)]),
                runner,
                lease,
                lost: Default::default(),
            }),
        })
    }

    /// Renews this runner's lease on the database's clock. `false` when the
    /// runner was presumed gone (its lease ran out and another runner rescued
    /// its tasks): its attempts in flight are no longer its own, and their
    /// outcomes will be refused as stale.
    pub fn heartbeat(&self) -> Result<bool, TaskError> {
        Ok(self.heartbeat_clock()?.0)
    }

    /// [`PgStore::heartbeat`], and how far the database's clock is ahead of
    /// this machine's (negative: behind), measured at the middle of the round
    /// trip: the engine reads times on the database's clock with it.
    pub(crate) fn heartbeat_clock(&self) -> Result<(bool, chrono::Duration), TaskError> {
        self.read(|c| {
            let sent = Utc::now();
            let row = c
                .query_one(
                    "WITH beat AS (
                         UPDATE baton_runners SET heartbeat_at = now() WHERE id = $1 RETURNING 1
                     )
                     SELECT (SELECT count(*) FROM beat), clock_timestamp()",
                    &[&self.inner.runner],
                )
                .map_err(db)?;
            let back = Utc::now();
            let theirs: DateTime<Utc> = row.get(1);
            let ours = sent + (back - sent) / 2;
            Ok((row.get::<_, i64>(0) == 1, theirs - ours))
        })
    }

    /// `e` as a storage error; a lost connection is remembered (see
    /// [`PgStore::writable`]).
    fn failed(&self, e: postgres::Error) -> TaskError {
        if connection_lost(&e) {
            self.inner
                .lost
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        db(e)
    }

    /// False once a unit of work lost its connection, until [`PgStore::restore`].
    pub(crate) fn writable(&self) -> bool {
        !self.inner.lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets every pooled connection (a restarted server closed them all)
    /// and checks a new one answers.
    pub(crate) fn restore(&self) -> Result<(), TaskError> {
        self.inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        let mut client = self.inner.config.connect(NoTls).map_err(db)?;
        client.batch_execute("SELECT 1").map_err(db)?;
        self.give_back(Conn::new(client));
        self.inner
            .lost
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// `url` for a log line or a title: user, host, port and database, never
    /// the password ("baton@db.example:5432/baton").
    pub fn describe(url: &str) -> String {
        let Ok(config) = url.parse::<Config>() else {
            return "an invalid database URL".to_string();
        };
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_default();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}",
            config.get_user().unwrap_or(""),
            config.get_dbname().unwrap_or("")
        )
    }

    /// After a 429 from `provider`: no runner of the queue starts a request
    /// to it for `wait` (on the database's clock; a longer cool-down already
    /// recorded stands).
    pub(crate) fn cool_down(
        &self,
        provider: &str,
        wait: std::time::Duration,
    ) -> Result<(), TaskError> {
        self.read(|c| {
            c.execute(
                "INSERT INTO baton_cooldowns (provider, until)
                 VALUES ($1, now() + $2 * interval '1 millisecond')
                 ON CONFLICT (provider) DO UPDATE SET until = greatest(baton_cooldowns.until, excluded.until)",
                &[&provider, &(wait.as_millis() as f64)],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    /// The schema version the database is at now.
    pub fn schema_version(&self) -> Result<i32, TaskError> {
        self.read(|c| {
            let row = c
                .query_one("SELECT coalesce(max(version), 0) FROM baton_schema", &[])
                .map_err(db)?;
            Ok(row.get(0))
        })
    }

    /// The runners registered now (this one included), oldest first, with
    /// how long ago each last answered, on the database's clock. One whose
    /// heartbeat is older than its lease is gone and awaits rescue.
    pub fn runners(&self) -> Result<Vec<Runner>, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT id, host, pid, started_at,
                            extract(epoch FROM now() - heartbeat_at)::float8, lease_ms
                     FROM baton_runners ORDER BY started_at, id",
                    &[],
                )
                .map_err(db)?;
            Ok(rows
                .iter()
                .map(|row| Runner {
                    id: row.get::<_, Uuid>(0).to_string(),
                    host: row.get(1),
                    pid: row.get::<_, i32>(2) as u32,
                    started_at: row.get(3),
                    silent_ms: (row.get::<_, f64>(4).max(0.0) * 1000.0) as u64,
                    lease_ms: row.get::<_, i64>(5) as u64,
                    this_process: row.get::<_, Uuid>(0) == self.inner.runner,
                })
                .collect())
        })
    }

    /// Registers this runner again after it was presumed gone (its row was
    /// removed when its tasks were rescued). Its attempts of before stay
    /// refused: rescue closed them.
    pub(crate) fn rejoin(&self) -> Result<(), TaskError> {
        self.read(|c| {
            c.execute(
                "INSERT INTO baton_runners (id, host, pid, lease_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
                &[
                    &self.inner.runner,
                    &host_name(),
                    &(std::process::id() as i32),
                    &(self.inner.lease.as_millis() as i64),
                ],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn client(&self) -> Result<Conn, TaskError> {
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        match idle {
            Some(client) if !client.is_closed() => Ok(client),
            _ => (self.inner.config.connect(NoTls))
                .map(Conn::new)
                .map_err(|e| self.failed(e)),
        }
    }

    fn give_back(&self, client: Conn) {
        if !client.is_closed() {
            self.inner
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(client);
        }
    }

    /// Runs one read on a pooled connection.
    fn read<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T, TaskError>) -> Result<T, TaskError> {
        let mut client = self.client()?;
        let out = f(&mut client);
        self.give_back(client);
        out
    }
}

/// Applies the migrations the database lacks, under an advisory lock, in one
/// transaction; refuses a schema newer than this code knows.
fn migrate(client: &mut Client) -> Result<(), TaskError> {
    migrate_to(client, PG_SCHEMA_VERSION)
}

/// [`migrate`], up to `target` (tests make databases of older versions).
fn migrate_to(client: &mut Client, target: i32) -> Result<(), TaskError> {
    let mut txn = client.transaction().map_err(db)?;
    // Not "relation baton_schema already exists, skipping" at every open.
    txn.batch_execute("SET LOCAL client_min_messages = warning")
        .map_err(db)?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db)?;
    txn.batch_execute("CREATE TABLE IF NOT EXISTS baton_schema (version integer PRIMARY KEY)")
        .map_err(db)?;
    let current: i32 = txn
        .query_one("SELECT coalesce(max(version), 0) FROM baton_schema", &[])
        .map_err(db)?
        .get(0);
    if current > PG_SCHEMA_VERSION {
        return Err(TaskError::Storage(format!(
            "the database's schema is version {current}, newer than this Baton knows \
             ({PG_SCHEMA_VERSION}): upgrade Baton on this machine"
        )));
    }
    for (i, sql) in migrations().iter().enumerate() {
        let version = i as i32 + 1;
        if version > current && version <= target {
            txn.batch_execute(sql).map_err(db)?;
            txn.execute(
                "INSERT INTO baton_schema (version) VALUES ($1)",
                &[&version],
            )
            .map_err(db)?;
        }
    }
    txn.commit().map_err(db)
}

/// One unit of work: a transaction on a connection of its own, rolled back
/// if dropped before [`UnitOfWork::commit`].
pub(crate) struct PgUnit {
    store: PgStore,
    client: Option<RefCell<Conn>>,
}

impl Drop for PgUnit {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let mut client = client.into_inner();
            // A failed rollback means a broken connection: dropped, not pooled.
            if client.batch_execute("ROLLBACK").is_ok() {
                self.store.give_back(client);
            }
        }
    }
}

/// The operations of a [`PgUnit`].
pub(crate) struct PgTxn<'u> {
    client: &'u RefCell<Conn>,
    store: &'u PgStore,
}

impl PgTxn<'_> {
    fn query(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, TaskError> {
        self.client
            .borrow_mut()
            .query(sql, params)
            .map_err(|e| self.store.failed(e))
    }

    fn execute(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64, TaskError> {
        self.client
            .borrow_mut()
            .execute(sql, params)
            .map_err(|e| self.store.failed(e))
    }
}

/// Statements that select on a status: the code is written into the text, so
/// a prepared statement's plan can use the partial index on that status (a
/// `$1` would hide which one it is).
mod sql {
    use super::TaskState;
    use std::sync::LazyLock;

    fn code(state: TaskState) -> i16 {
        i16::from(state.code())
    }

    /// [`TaskTxn::queue_head`](crate::storage::TaskTxn::queue_head): `$1` the limit.
    pub(super) static QUEUE_HEAD: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT id FROM baton_tasks WHERE status = {} ORDER BY due_at, id LIMIT $1
             FOR UPDATE SKIP LOCKED",
            code(TaskState::Queued)
        )
    });

    /// Scheduled tasks due by `$1`.
    pub(super) static DUE_NOW: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT id FROM baton_tasks WHERE status = {} AND due_at <= $1 ORDER BY due_at, id
             FOR UPDATE SKIP LOCKED",
            code(TaskState::Scheduled)
        )
    });

    /// Each part read from the due index: the first due time after `$1`, and
    /// whether a task due by then other than `$2` was left (held by another unit).
    pub(super) static DUE_LATER: LazyLock<String> = LazyLock::new(|| {
        let scheduled = code(TaskState::Scheduled);
        format!(
            "SELECT (SELECT min(due_at) FROM baton_tasks WHERE status = {scheduled} AND due_at > $1),
                    EXISTS (SELECT 1 FROM baton_tasks
                            WHERE status = {scheduled} AND due_at <= $1 AND id <> ALL ($2))"
        )
    });

    /// The running tasks of runners gone from `baton_runners` (not `$1`, this one).
    pub(super) static ORPHANED: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT t.id FROM baton_tasks t
             WHERE t.status = {} AND t.runner_id IS DISTINCT FROM $1
               AND NOT EXISTS (SELECT 1 FROM baton_runners r WHERE r.id = t.runner_id)
             ORDER BY t.id FOR UPDATE OF t SKIP LOCKED",
            code(TaskState::Running)
        )
    });
}

/// When to look again at a due row (a schedule, a scheduled task) another unit
/// held: a runner firing or promoting it commits within moments; a unit that
/// held it for another reason (ending one of a schedule's fires) does not.
const HELD_RETRY: chrono::TimeDelta = chrono::TimeDelta::milliseconds(250);

/// The next time to look: the earliest `later` due time, or shortly when a due
/// row was `held` by another unit.
fn later_or_again(
    later: Option<DateTime<Utc>>,
    held: bool,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let again = held.then(|| now + HELD_RETRY);
    match (later, again) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// [`TaskTxn::record_fire`]: the primary key (schedule, fire time) refuses a
/// second fire. A plain `INSERT`, so a duplicate also aborts the transaction in
/// PostgreSQL: nothing of the unit can be committed after it.
fn record_fire(
    txn: &PgTxn<'_>,
    schedule: ScheduleId,
    fire_at: DateTime<Utc>,
    task: TaskId,
    forget_before: DateTime<Utc>,
) -> Result<(), TaskError> {
    // Bounded, and rows another pruner holds are skipped, as for keys.
    txn.execute(
        "DELETE FROM baton_schedule_fires WHERE (schedule_id, fire_at) IN (
             SELECT schedule_id, fire_at FROM baton_schedule_fires WHERE fire_at < $1
             ORDER BY fire_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        &[&forget_before, &(PRUNE_BATCH as i64)],
    )?;
    let inserted = txn.client.borrow_mut().execute(
        "INSERT INTO baton_schedule_fires (schedule_id, fire_at, task_id) VALUES ($1, $2, $3)",
        &[&schedule_uuid(schedule), &fire_at, &uuid_of(task)],
    );
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
            Err(TaskError::Storage(format!(
                "schedule {schedule} already fired for {}: a second fire for one fire time \
                 is refused",
                fire_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            )))
        }
        Err(e) => Err(db(e)),
    }
}

impl UnitOfWork for PgUnit {
    type Txn<'u> = PgTxn<'u>;

    fn txn(&self) -> PgTxn<'_> {
        PgTxn {
            client: self
                .client
                .as_ref()
                .expect("a unit is open until commit or drop"),
            store: &self.store,
        }
    }

    fn commit(mut self) -> Result<(), TaskError> {
        let client = self.client.take().expect("a unit commits once");
        let mut client = client.into_inner();
        client
            .batch_execute("COMMIT")
            .map_err(|e| self.store.failed(e))?;
        self.store.give_back(client);
        Ok(())
    }
}

impl TaskTxn for PgTxn<'_> {
    fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError> {
        // Locked: what a unit reads, it may write back.
        let rows = self.query(
            "SELECT record FROM baton_tasks WHERE id = $1 FOR UPDATE",
            &[&uuid_of(id)],
        )?;
        record("task", &rows)
    }

    fn status(&self, id: TaskId) -> Result<Option<TaskState>, TaskError> {
        // No lock: see the trait (a fire and the end of the one before take the schedule
        // and the task in opposite orders).
        let rows = self.query(
            "SELECT status FROM baton_tasks WHERE id = $1",
            &[&uuid_of(id)],
        )?;
        rows.first().map(|r| state_of_code(r.get(0))).transpose()
    }

    fn held_elsewhere(&self, ids: &[TaskId]) -> Result<bool, TaskError> {
        let ids: Vec<Uuid> = ids.iter().map(|id| uuid_of(*id)).collect();
        let locked = self.query(
            "SELECT id FROM baton_tasks WHERE id = ANY ($1) ORDER BY id FOR UPDATE SKIP LOCKED",
            &[&ids],
        )?;
        let stored: i64 = self
            .query(
                "SELECT count(*) FROM baton_tasks WHERE id = ANY ($1)",
                &[&ids],
            )?
            .first()
            .map_or(0, |r| r.get(0));
        Ok((locked.len() as i64) < stored)
    }

    fn put(&mut self, old: Option<Was>, new: &Task) -> Result<(), TaskError> {
        let record = encode("task", new)?;
        let status = i16::from(new.status.code());
        let id = uuid_of(new.id);
        // A running task's attempt is this runner's: it claimed it, or it
        // writes the attempt's progress.
        let runner = (new.status == TaskState::Running).then_some(self.store.inner.runner);
        if old.is_some() {
            let changed = self.execute(
                "UPDATE baton_tasks SET status = $2, due_at = $3, tags = $4, record = $5,
                     runner_id = $6
                 WHERE id = $1",
                &[&id, &status, &due_at(new), &new.tags, &record, &runner],
            )?;
            if changed != 1 {
                return Err(TaskError::Storage(format!(
                    "task {} was to be replaced but is not stored",
                    new.id
                )));
            }
        } else {
            let group = new.group.as_ref();
            self.execute(
                "INSERT INTO baton_tasks
                     (id, status, due_at, parent_id, schedule_id, tags, record, runner_id,
                      group_id, group_row)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &id,
                    &status,
                    &due_at(new),
                    &new.parent_task_id.map(uuid_of),
                    &new.schedule_id.map(schedule_uuid),
                    &new.tags,
                    &record,
                    &runner,
                    &group.map(|m| group_uuid(m.group_id)),
                    &group.and_then(|m| m.row).map(|r| r as i32),
                ],
            )?;
        }
        Ok(())
    }

    fn queue_head(&self, limit: usize) -> Result<Vec<TaskId>, TaskError> {
        // Rows another unit holds are skipped, not waited for: two claimers
        // never take one task, and neither blocks the other.
        let rows = self.query(
            &sql::QUEUE_HEAD,
            &[&i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        Ok(rows.iter().map(task_id).collect())
    }

    fn due_by(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<TaskId>, Option<DateTime<Utc>>), TaskError> {
        // Claimed like the queue and due schedules: two runners promoting at
        // once never both take a task (the second would find it queued, or
        // already claimed and ended, and refuse the move as a conflict). A row
        // another unit changed meanwhile is re-checked on its newest version.
        let due = self.query(&sql::DUE_NOW, &[&now])?;
        let claimed: Vec<Uuid> = due.iter().map(|r| r.get(0)).collect();
        // Each part read from the due index: the first due time after now,
        // and whether a due task was left (held by another unit).
        let row = self.query(&sql::DUE_LATER, &[&now, &claimed])?;
        let next = row
            .first()
            .and_then(|r| later_or_again(r.get(0), r.get(1), now));
        Ok((due.iter().map(task_id).collect(), next))
    }

    fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError> {
        let rows = self.query(CHILDREN, &[&uuid_of(parent)])?;
        Ok(rows.iter().map(task_id).collect())
    }

    /// The running tasks of runners that are gone: stopped (their row
    /// removed) or silent for longer than the lease, on the database's clock.
    /// Their rows are removed, so a runner that comes back learns from its
    /// next heartbeat that its attempts are no longer its own. Rows another
    /// rescuer holds are skipped.
    fn orphaned_running(&self) -> Result<Vec<TaskId>, TaskError> {
        let me = self.store.inner.runner;
        self.execute(
            "DELETE FROM baton_runners
             WHERE id <> $1 AND heartbeat_at < now() - lease_ms * interval '1 millisecond'",
            &[&me],
        )?;
        let rows = self.query(&sql::ORPHANED, &[&me])?;
        Ok(rows.iter().map(task_id).collect())
    }

    fn put_provider(&mut self, settings: &ProviderSettings) -> Result<(), TaskError> {
        let record = encode("provider settings", settings)?;
        self.execute(
            "INSERT INTO baton_providers (name, record) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET record = excluded.record",
            &[&settings.name, &record],
        )?;
        Ok(())
    }

    fn remove_provider(&mut self, name: &str) -> Result<bool, TaskError> {
        let removed = self.execute("DELETE FROM baton_providers WHERE name = $1", &[&name])?;
        Ok(removed > 0)
    }

    fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError> {
        let rows = self.query(
            "SELECT record FROM baton_schedules WHERE id = $1 FOR UPDATE",
            &[&schedule_uuid(id)],
        )?;
        record("schedule", &rows)
    }

    fn schedule_named(&self, name: &str) -> Result<Option<ScheduleId>, TaskError> {
        let rows = self.query(
            "SELECT id FROM baton_schedules WHERE name_key = $1",
            &[&name.to_lowercase()],
        )?;
        Ok(rows.first().map(schedule_id))
    }

    fn put_schedule(&mut self, _old: Option<&Schedule>, new: &Schedule) -> Result<(), TaskError> {
        let record = encode("schedule", new)?;
        let next = new.next_fire_at.filter(|_| new.enabled);
        self.execute(
            "INSERT INTO baton_schedules (id, name_key, next_fire_at, record)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET name_key = excluded.name_key,
                 next_fire_at = excluded.next_fire_at, record = excluded.record",
            &[
                &schedule_uuid(new.id),
                &new.name.to_lowercase(),
                &next,
                &record,
            ],
        )?;
        Ok(())
    }

    fn remove_schedule(&mut self, old: &Schedule) -> Result<(), TaskError> {
        self.execute(
            "DELETE FROM baton_schedules WHERE id = $1",
            &[&schedule_uuid(old.id)],
        )?;
        Ok(())
    }

    /// Due schedules are claimed like tasks: locked for this unit, and those
    /// another unit holds skipped (it is firing them, or ending one of their
    /// runs). A row locked and committed by another unit between this
    /// statement's snapshot and its lock is re-read by PostgreSQL (READ
    /// COMMITTED's re-check of the WHERE clause on the newest version): that
    /// fire moved `next_fire_at` past `now`, so the row no longer matches. And
    /// `fire` reads the schedule again under the lock, computing fire times
    /// from the `next_fire_at` committed last, so a fire time is never seen
    /// twice; `record_fire` refuses it if it were.
    fn schedules_due_by(
        &self,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ScheduleId>, Option<DateTime<Utc>>), TaskError> {
        let due = self.query(
            "SELECT id FROM baton_schedules WHERE next_fire_at <= $1 ORDER BY next_fire_at, id
             FOR UPDATE SKIP LOCKED",
            &[&now],
        )?;
        let ids: Vec<ScheduleId> = due.iter().map(schedule_id).collect();
        let claimed: Vec<Uuid> = ids.iter().map(|id| schedule_uuid(*id)).collect();
        // The next fire time after now; or sooner, when a due schedule was
        // skipped above: its holder may not be firing it.
        let row = self.query(
            "SELECT (SELECT min(next_fire_at) FROM baton_schedules WHERE next_fire_at > $1),
                    EXISTS (SELECT 1 FROM baton_schedules
                            WHERE next_fire_at <= $1 AND id <> ALL ($2))",
            &[&now, &claimed],
        )?;
        let next = row
            .first()
            .and_then(|r| later_or_again(r.get(0), r.get(1), now));
        Ok((ids, next))
    }

    fn record_fire(
        &mut self,
        schedule: ScheduleId,
        fire_at: DateTime<Utc>,
        task: TaskId,
        forget_before: DateTime<Utc>,
    ) -> Result<(), TaskError> {
        record_fire(self, schedule, fire_at, task, forget_before)
    }

    fn idempotency_key(&self, key: &str) -> Result<Option<KeyRecord>, TaskError> {
        let rows = self.query(
            "SELECT record FROM baton_idempotency WHERE key = $1 FOR UPDATE",
            &[&key],
        )?;
        record("idempotency key", &rows)
    }

    fn put_idempotency_key(
        &mut self,
        key: &str,
        record: &KeyRecord,
        forget_before: DateTime<Utc>,
    ) -> Result<(), TaskError> {
        self.execute(
            "DELETE FROM baton_idempotency WHERE key IN (
                 SELECT key FROM baton_idempotency WHERE created_at < $1
                 ORDER BY created_at, key LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&forget_before, &(PRUNE_BATCH as i64)],
        )?;
        self.execute(
            "INSERT INTO baton_idempotency (key, created_at, record) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET created_at = excluded.created_at,
                 record = excluded.record",
            &[
                &key,
                &record.created_at,
                &encode("idempotency key", record)?,
            ],
        )?;
        Ok(())
    }

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError> {
        let rows = self.query(
            "SELECT record FROM baton_deliveries WHERE id = $1 FOR UPDATE",
            &[&delivery_uuid(id)],
        )?;
        record("delivery", &rows)
    }

    fn put_delivery(&mut self, _old: Option<&Delivery>, new: &Delivery) -> Result<(), TaskError> {
        self.execute(
            "INSERT INTO baton_deliveries (id, task_id, due_at, record) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, record = excluded.record",
            &[
                &delivery_uuid(new.id),
                &uuid_of(new.task_id),
                &delivery_due(new),
                &encode("delivery", new)?,
            ],
        )?;
        Ok(())
    }

    fn budgets(&self) -> Result<Vec<Budget>, TaskError> {
        let rows = self.query(
            "SELECT record FROM baton_budgets ORDER BY name FOR UPDATE",
            &[],
        )?;
        records("budget", &rows)
    }

    fn put_budget(&mut self, budget: &Budget) -> Result<(), TaskError> {
        self.execute(
            "INSERT INTO baton_budgets (name, record) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET record = excluded.record",
            &[&budget.name, &encode("budget", budget)?],
        )?;
        Ok(())
    }

    fn remove_budget(&mut self, name: &str) -> Result<Option<Budget>, TaskError> {
        let rows = self.query(
            "DELETE FROM baton_budgets WHERE name = $1 RETURNING record",
            &[&name],
        )?;
        record("budget", &rows)
    }

    fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError> {
        // Locked: every row's ending rewrites its group's counts.
        let rows = self.query(
            "SELECT record FROM baton_groups WHERE id = $1 FOR UPDATE",
            &[&group_uuid(id)],
        )?;
        record("group", &rows)
    }

    fn group_named(&self, name: &str) -> Result<Option<GroupId>, TaskError> {
        let rows = self.query(
            "SELECT id FROM baton_groups WHERE name_key = $1",
            &[&name.to_lowercase()],
        )?;
        Ok(rows
            .first()
            .map(|r| GroupId::from_u128(r.get::<_, Uuid>(0).as_u128())))
    }

    fn put_group(&mut self, _old: Option<&Group>, new: &Group) -> Result<(), TaskError> {
        self.execute(
            "INSERT INTO baton_groups (id, name_key, record) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record",
            &[
                &group_uuid(new.id),
                &new.name.to_lowercase(),
                &encode("group", new)?,
            ],
        )?;
        Ok(())
    }

    fn record_events(&mut self, drafts: &[crate::events::Draft]) -> Result<(), TaskError> {
        events::record(self, drafts)
    }

    fn cooldowns(&self) -> Result<Vec<(String, std::time::Duration)>, TaskError> {
        let rows = self.query(
            "SELECT provider, extract(epoch FROM until - now())::float8 FROM baton_cooldowns
             WHERE until > now()",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let secs: f64 = r.get(1);
                (
                    r.get::<_, String>(0),
                    std::time::Duration::from_secs_f64(secs.max(0.0)),
                )
            })
            .collect())
    }

    fn group_rows(&self, id: GroupId) -> Result<Vec<TaskId>, TaskError> {
        let rows = self.query(
            "SELECT id FROM baton_tasks WHERE group_id = $1 AND group_row IS NOT NULL
             ORDER BY group_row",
            &[&group_uuid(id)],
        )?;
        Ok(rows.iter().map(task_id).collect())
    }
}

impl Storage for PgStore {
    type Unit = PgUnit;
    type Snapshot = PgSnapshot;

    fn begin(&self) -> Result<PgUnit, TaskError> {
        let mut client = self.client()?;
        client.batch_execute("BEGIN").map_err(|e| self.failed(e))?;
        Ok(PgUnit {
            store: self.clone(),
            client: Some(RefCell::new(client)),
        })
    }

    fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_tasks WHERE id = $1",
                    &[&uuid_of(id)],
                )
                .map_err(db)?;
            record("task", &rows)
        })
    }

    fn all(&self) -> Result<Vec<Task>, TaskError> {
        self.read(|c| {
            let rows = c
                .query("SELECT record FROM baton_tasks ORDER BY id", &[])
                .map_err(db)?;
            records("task", &rows)
        })
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<Task>, TaskError> {
        let status = query.filter.status.map(|s| i16::from(s.code()));
        let parent = query.filter.parent_task_id.map(uuid_of);
        let before = query.before.map(uuid_of);
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_tasks
                     WHERE ($1::smallint IS NULL OR status = $1)
                       AND ($2::uuid IS NULL OR parent_id = $2)
                       AND ($3::uuid IS NULL OR id < $3)
                       AND ($4::text IS NULL OR $4 = ANY (tags))
                     ORDER BY id DESC LIMIT $5",
                    &[&status, &parent, &before, &query.filter.tag, &limit],
                )
                .map_err(db)?;
            records("task", &rows)
        })
    }

    fn counts(&self) -> Result<StatusCounts, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT status, count(*) FROM baton_tasks GROUP BY status",
                    &[],
                )
                .map_err(db)?;
            let mut counts = StatusCounts::default();
            for row in rows {
                let n: i64 = row.get(1);
                counts.set(state_of_code(row.get(0))?, n as u64);
            }
            Ok(counts)
        })
    }

    fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError> {
        self.read(|c| {
            let rows = c.query(CHILDREN, &[&uuid_of(parent)]).map_err(db)?;
            Ok(rows.iter().map(task_id).collect())
        })
    }

    fn schedules(&self) -> Result<Vec<Schedule>, TaskError> {
        self.read(|c| {
            let rows = c
                .query("SELECT record FROM baton_schedules ORDER BY id", &[])
                .map_err(db)?;
            records("schedule", &rows)
        })
    }

    fn deliveries_of(&self, task: TaskId) -> Result<Vec<Delivery>, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_deliveries WHERE task_id = $1 ORDER BY id",
                    &[&uuid_of(task)],
                )
                .map_err(db)?;
            records("delivery", &rows)
        })
    }

    fn deliveries_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<(Vec<Delivery>, Option<DateTime<Utc>>), TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_deliveries WHERE due_at <= $1
                     ORDER BY due_at, id LIMIT $2",
                    &[&now, &(limit as i64)],
                )
                .map_err(db)?;
            let due = records("delivery", &rows)?;
            let next = c
                .query_opt(
                    "SELECT due_at FROM baton_deliveries WHERE due_at > $1
                     ORDER BY due_at, id LIMIT 1",
                    &[&now],
                )
                .map_err(db)?
                .map(|row| row.get::<_, DateTime<Utc>>(0));
            Ok((due, next))
        })
    }

    fn budgets(&self) -> Result<Vec<Budget>, TaskError> {
        self.read(|c| {
            let rows = c
                .query("SELECT record FROM baton_budgets ORDER BY name", &[])
                .map_err(db)?;
            records("budget", &rows)
        })
    }

    fn groups(&self) -> Result<Vec<Group>, TaskError> {
        self.read(|c| {
            let rows = c
                .query("SELECT record FROM baton_groups ORDER BY id", &[])
                .map_err(db)?;
            records("group", &rows)
        })
    }

    fn group_tasks(
        &self,
        id: GroupId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Task>, TaskError> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_tasks WHERE group_id = $1 AND group_row IS NOT NULL
                     ORDER BY group_row OFFSET $2 LIMIT $3",
                    &[&group_uuid(id), &offset, &limit],
                )
                .map_err(db)?;
            records("task", &rows)
        })
    }

    fn scan<T: serde::de::DeserializeOwned + Send>(&self) -> Result<Vec<T>, TaskError> {
        self.read(|c| {
            let rows = c
                .query("SELECT record FROM baton_tasks ORDER BY id", &[])
                .map_err(db)?;
            records("task", &rows)
        })
    }

    fn snapshot(&self) -> Result<PgSnapshot, TaskError> {
        let mut client = self.client()?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(db)?;
        Ok(PgSnapshot {
            store: self.clone(),
            client: Some(RefCell::new(client)),
        })
    }

    fn providers(&self) -> Result<Vec<Result<ProviderSettings, String>>, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT name, record FROM baton_providers ORDER BY name",
                    &[],
                )
                .map_err(db)?;
            Ok(rows
                .iter()
                .map(|row| {
                    let name: &str = row.get(0);
                    serde_json::from_slice::<ProviderSettings>(row.get::<_, &[u8]>(1))
                        .map_err(|e| format!("provider '{name}' has an unreadable record: {e}"))
                })
                .collect())
        })
    }

    fn delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_deliveries WHERE id = $1",
                    &[&delivery_uuid(id)],
                )
                .map_err(db)?;
            record("delivery", &rows)
        })
    }

    fn pending_deliveries(&self) -> Result<u64, TaskError> {
        self.read(|c| {
            let row = c
                .query_one(
                    "SELECT count(*) FROM baton_deliveries WHERE due_at IS NOT NULL",
                    &[],
                )
                .map_err(db)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    fn recent_deliveries(&self, limit: usize) -> Result<Vec<Delivery>, TaskError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_deliveries ORDER BY id DESC LIMIT $1",
                    &[&limit],
                )
                .map_err(db)?;
            records("delivery", &rows)
        })
    }

    fn schedule(&self, id: ScheduleId) -> Result<Option<Schedule>, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_schedules WHERE id = $1",
                    &[&schedule_uuid(id)],
                )
                .map_err(db)?;
            record("schedule", &rows)
        })
    }

    fn schedule_named(&self, name: &str) -> Result<Option<Schedule>, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_schedules WHERE name_key = $1",
                    &[&name.to_lowercase()],
                )
                .map_err(db)?;
            record("schedule", &rows)
        })
    }

    fn schedule_tasks(&self, id: ScheduleId, limit: usize) -> Result<Vec<Task>, TaskError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_tasks WHERE schedule_id = $1
                     ORDER BY id DESC LIMIT $2",
                    &[&schedule_uuid(id), &limit],
                )
                .map_err(db)?;
            records("task", &rows)
        })
    }

    fn group(&self, id: GroupId) -> Result<Option<Group>, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_groups WHERE id = $1",
                    &[&group_uuid(id)],
                )
                .map_err(db)?;
            record("group", &rows)
        })
    }

    fn group_named(&self, name: &str) -> Result<Option<Group>, TaskError> {
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT record FROM baton_groups WHERE name_key = $1",
                    &[&name.to_lowercase()],
                )
                .map_err(db)?;
            record("group", &rows)
        })
    }
}

/// A read-only REPEATABLE READ transaction on a connection of its own: every
/// read in it sees the database as of its first.
pub(crate) struct PgSnapshot {
    store: PgStore,
    client: Option<RefCell<Conn>>,
}

impl PgSnapshot {
    fn query(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, TaskError> {
        let client = self.client.as_ref().expect("open until dropped");
        client.borrow_mut().query(sql, params).map_err(db)
    }
}

impl Drop for PgSnapshot {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let mut client = client.into_inner();
            if client.batch_execute("COMMIT").is_ok() {
                self.store.give_back(client);
            }
        }
    }
}

impl crate::storage::Snapshot for PgSnapshot {
    fn schedules(&self) -> Result<Vec<Schedule>, TaskError> {
        records(
            "schedule",
            &self.query("SELECT record FROM baton_schedules ORDER BY id", &[])?,
        )
    }

    fn groups(&self) -> Result<Vec<Group>, TaskError> {
        records(
            "group",
            &self.query("SELECT record FROM baton_groups ORDER BY id", &[])?,
        )
    }

    /// Rows are decoded as they arrive, so memory stays that of one task.
    fn each_task(&self, f: &mut dyn FnMut(Task) -> Result<(), TaskError>) -> Result<(), TaskError> {
        use postgres::fallible_iterator::FallibleIterator;
        let client = self.client.as_ref().expect("open until dropped");
        let mut client = client.borrow_mut();
        let mut rows = client
            .query_raw(
                "SELECT record FROM baton_tasks ORDER BY id",
                std::iter::empty::<i32>(),
            )
            .map_err(db)?;
        while let Some(row) = rows.next().map_err(db)? {
            f(decode("task", row.get::<_, &[u8]>(0))?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A database per test, made in the cluster `BATON_TEST_DATABASE_URL`
    //! names (scripts/pg.sh starts a private one) and dropped after.

    use super::*;

    /// A test database (`baton_testkit`) and its connection settings.
    pub(crate) struct PgPlace {
        db: baton_testkit::TestDatabase,
        pub(crate) config: Config,
    }

    impl PgPlace {
        pub(crate) fn new() -> Self {
            let db = baton_testkit::TestDatabase::new("engine");
            let config = db
                .url()
                .parse()
                .expect("BATON_TEST_DATABASE_URL is a valid postgres:// URL");
            PgPlace { db, config }
        }

        /// The test database's URL, for an engine opened the way users open one.
        pub(crate) fn url(&self) -> String {
            self.db.url().to_string()
        }
    }

    impl crate::conformance::Backend for PgStore {
        type Place = PgPlace;

        fn place() -> PgPlace {
            PgPlace::new()
        }

        fn open(place: &PgPlace) -> Self {
            PgStore::connect(place.config.clone()).expect("open the test database")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    fn sample() -> Task {
        let now = Utc::now();
        let mut task = Task::fresh("t".into(), "p".into(), "mock".into(), "m".into(), now);
        task.status = TaskState::Waiting;
        task
    }

    #[test]
    fn a_bad_url_or_an_unreachable_database_is_one_sentence_without_the_password() {
        let err = PgStore::open("mysql://nobody").unwrap_err().to_string();
        assert!(
            err.starts_with("storage error: the database URL is not valid"),
            "{err}"
        );
        // Port 1 on loopback: nothing listens there.
        let err = PgStore::open("postgres://baton:hunter2secret@127.0.0.1:1/baton")
            .unwrap_err()
            .to_string();
        assert!(err.contains("database"), "{err}");
        assert!(!err.contains("hunter2secret"), "the password leaked: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn a_database_at_a_newer_schema_is_refused_with_one_sentence() {
        let place = PgPlace::new();
        drop(PgStore::connect(place.config.clone()).unwrap());
        let mut client = place.config.connect(NoTls).unwrap();
        client
            .execute(
                "INSERT INTO baton_schema (version) VALUES ($1)",
                &[&(PG_SCHEMA_VERSION + 1)],
            )
            .unwrap();
        let err = PgStore::connect(place.config.clone())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("schema is version {}", PG_SCHEMA_VERSION + 1))
                && err.contains("upgrade Baton"),
            "{err}"
        );
    }

    #[test]
    fn a_connection_prepares_each_statement_once_and_keeps_it() {
        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let task = sample();
        let unit = store.begin().unwrap();
        unit.txn().put(None, &task).unwrap();
        unit.commit().unwrap();
        for _ in 0..3 {
            assert_eq!(store.get(task.id).unwrap(), Some(task.clone()));
        }
        // The server's own list: one named statement, not three (and an
        // unprepared `&str` query would leave none there).
        let kept: i64 = store
            .read(|c| {
                c.query_one(
                    "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
                    &[&"SELECT record FROM baton_tasks WHERE id = $1"],
                )
                .map_err(db)
            })
            .unwrap()
            .get(0);
        assert_eq!(kept, 1);
    }

    #[test]
    fn a_statement_whose_table_changed_under_it_is_prepared_again() {
        let place = PgPlace::new();
        let mut conn = Conn::new(place.config.connect(NoTls).unwrap());
        conn.batch_execute("CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
            .unwrap();
        assert_eq!(conn.query("SELECT * FROM t", &[]).unwrap()[0].len(), 1);
        assert_eq!(conn.prepared(), 1);
        // A newer Baton migrating while this one runs.
        let mut other = place.config.connect(NoTls).unwrap();
        other
            .batch_execute("ALTER TABLE t ADD COLUMN b int")
            .unwrap();
        let stale = conn.query("SELECT * FROM t", &[]).unwrap_err();
        let message = stale.as_db_error().map(|e| e.message().to_owned());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("cached plan")),
            "unexpected error: {stale:?}"
        );
        assert_eq!(conn.prepared(), 0);
        assert_eq!(conn.query("SELECT * FROM t", &[]).unwrap()[0].len(), 2);
    }

    #[test]
    fn the_engines_connections_run_without_jit_probe_a_silent_server_soon_and_keep_the_urls_options(
    ) {
        let place = PgPlace::new();
        let mut config = place.config.clone();
        config.options("-c statement_timeout=12345");
        let store = PgStore::connect(config).unwrap();
        let show = |what: &'static str| -> String {
            store
                .read(|c| c.query_one(what, &[]).map_err(db))
                .unwrap()
                .get(0)
        };
        assert_eq!(show("SHOW jit"), "off");
        assert_eq!(show("SHOW statement_timeout"), "12345ms");
        assert_eq!(show("SHOW idle_in_transaction_session_timeout"), "30s");
        // A vanished server is noticed after a lease of quiet, not two hours.
        assert_eq!(
            store.inner.config.get_keepalives_idle(),
            std::time::Duration::from_secs(30)
        );
        let mut given = place.config.clone();
        given.keepalives_idle(std::time::Duration::from_secs(77));
        let store = PgStore::connect(given).unwrap();
        assert_eq!(
            store.inner.config.get_keepalives_idle(),
            std::time::Duration::from_secs(77),
            "the URL's own setting is kept"
        );
    }

    #[test]
    fn a_runner_cut_off_inside_a_unit_loses_its_row_locks_once_its_lease_is_over() {
        let place = PgPlace::new();
        let lease = std::time::Duration::from_secs(2);
        let a = PgStore::connect_with_lease(place.config.clone(), lease).unwrap();
        let task = sample();
        let unit = a.begin().unwrap();
        unit.txn().put(None, &task).unwrap();
        unit.commit().unwrap();
        // A locks the task in a unit, then is cut off before its COMMIT arrives.
        let stuck = a.begin().unwrap();
        assert!(stuck.txn().get(task.id).unwrap().is_some());
        let mut other = place.config.connect(NoTls).unwrap();
        other.batch_execute("SET lock_timeout = '20s'").unwrap();
        let started = std::time::Instant::now();
        other
            .execute(
                "SELECT 1 FROM baton_tasks WHERE id = $1 FOR UPDATE",
                &[&uuid_of(task.id)],
            )
            .expect("the lock is released by the server, not held for ever");
        assert!(
            started.elapsed() >= lease / 2,
            "the lock was held meanwhile"
        );
        // A's unit was ended by the server: nothing of it commits.
        assert!(stuck.commit().is_err());
    }

    #[test]
    fn opening_twice_migrates_once_and_keeps_the_data() {
        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let unit = store.begin().unwrap();
        let task = sample();
        unit.txn().put(None, &task).unwrap();
        unit.commit().unwrap();
        drop(store);
        let again = PgStore::connect(place.config.clone()).unwrap();
        assert_eq!(again.get(task.id).unwrap(), Some(task));
        let mut client = place.config.connect(NoTls).unwrap();
        let versions: i64 = client
            .query_one("SELECT count(*) FROM baton_schema", &[])
            .unwrap()
            .get(0);
        assert_eq!(versions, i64::from(PG_SCHEMA_VERSION));
    }

    #[test]
    fn a_running_task_is_rescued_only_after_its_runners_lease_runs_out_and_its_late_outcome_is_stale(
    ) {
        use crate::lifecycle::tests::{completed, write};
        use crate::lifecycle::{claim, create, finish, recover};
        use crate::task::AttemptOutcome;

        let place = PgPlace::new();
        let a = PgStore::connect(place.config.clone()).unwrap();
        let b = PgStore::connect(place.config.clone()).unwrap();
        let task = write(&a, |txn, ctx| create(txn, ctx, Task::sample("x")).unwrap());
        assert_eq!(write(&a, |txn, ctx| claim(txn, ctx, 1).unwrap()).len(), 1);

        // A is alive: B's rescue leaves A's attempt alone.
        assert!(a.heartbeat().unwrap());
        assert!(write(&b, |txn, ctx| recover(txn, ctx).unwrap()).is_empty());
        assert_eq!(b.get(task.id).unwrap().unwrap().status, TaskState::Running);

        // A falls silent past its lease (its heartbeat moved back an hour on the
        // database's clock, rather than waiting): B rescues the task.
        let mut sql = place.config.connect(NoTls).unwrap();
        sql.execute(
            "UPDATE baton_runners SET heartbeat_at = now() - interval '1 hour' WHERE id = $1",
            &[&a.inner.runner],
        )
        .unwrap();
        let rescued = write(&b, |txn, ctx| recover(txn, ctx).unwrap());
        assert_eq!(rescued.len(), 1);
        assert_eq!(rescued[0].status, TaskState::Queued);

        // A comes back: told it was presumed gone; its late outcome is stale.
        assert!(
            !a.heartbeat().unwrap(),
            "a rescued runner learns it was presumed gone"
        );
        let late = write(&a, |txn, ctx| {
            finish(txn, ctx, &completed(task.id, 1)).unwrap()
        });
        assert_eq!(late, None);
        assert_eq!(b.get(task.id).unwrap().unwrap().status, TaskState::Queued);

        // B runs the second attempt; one completion is recorded.
        write(&b, |txn, ctx| claim(txn, ctx, 1).unwrap());
        let done = write(&b, |txn, ctx| {
            finish(txn, ctx, &completed(task.id, 2)).unwrap()
        });
        let done = done.unwrap();
        assert_eq!(done.status, TaskState::Completed);
        let outcomes: Vec<_> = done.history.iter().map(|h| h.outcome).collect();
        assert_eq!(
            outcomes,
            vec![
                Some(AttemptOutcome::Interrupted),
                Some(AttemptOutcome::Completed)
            ]
        );
    }

    /// A schedule firing every minute whose every fire time starts a fire (its
    /// fires are never claimed in these tests).
    #[test]
    fn a_gone_runners_provider_batch_is_taken_over_by_one_rescuer_not_given_back() {
        use crate::batch::{BatchState, InBatch};
        use crate::lifecycle::tests::write;
        use crate::lifecycle::{adopt_batches, claim_listed, create, recover};

        let place = PgPlace::new();
        let a = PgStore::connect(place.config.clone()).unwrap();
        let b = PgStore::connect(place.config.clone()).unwrap();
        let c = PgStore::connect(place.config.clone()).unwrap();
        // A claims a batch task and the provider accepts its batch.
        let task = write(&a, |txn, ctx| {
            let mut t = Task::sample("in a batch");
            t.batch = Some(BatchState {
                deadline: Utc::now() + chrono::Duration::hours(1),
                in_batch: None,
            });
            let t = create(txn, ctx, t).unwrap();
            let old = claim_listed(txn, ctx, &[t.id], |_| true).unwrap().remove(0);
            let mut new = old.clone();
            new.batch.as_mut().unwrap().in_batch = Some(InBatch {
                id: "engine-1".into(),
                claim_no: 1,
                provider_batch_id: Some("batch_1".into()),
            });
            txn.put(Some(Was::of(&old)), &new).unwrap();
            new
        });
        let owner = |id: TaskId| -> Option<Uuid> {
            let mut sql = place.config.connect(NoTls).unwrap();
            sql.query_one(
                "SELECT runner_id FROM baton_tasks WHERE id = $1",
                &[&uuid_of(id)],
            )
            .unwrap()
            .get(0)
        };
        assert_eq!(owner(task.id), Some(a.inner.runner));

        // A falls silent past its lease: B takes the attempt over, unchanged.
        let mut sql = place.config.connect(NoTls).unwrap();
        sql.execute(
            "UPDATE baton_runners SET heartbeat_at = now() - interval '1 hour' WHERE id = $1",
            &[&a.inner.runner],
        )
        .unwrap();
        let (given_back, adopted) = write(&b, |txn, ctx| {
            (recover(txn, ctx).unwrap(), adopt_batches(txn).unwrap())
        });
        assert!(given_back.is_empty(), "its results will come: not requeued");
        assert_eq!(adopted, vec![task.clone()]);
        assert_eq!(b.get(task.id).unwrap(), Some(task.clone()));
        assert_eq!(owner(task.id), Some(b.inner.runner));

        // B is alive: C's rescue finds nothing to take.
        assert!(b.heartbeat().unwrap());
        let (given_back, adopted) = write(&c, |txn, ctx| {
            (recover(txn, ctx).unwrap(), adopt_batches(txn).unwrap())
        });
        assert!(given_back.is_empty() && adopted.is_empty());
        assert_eq!(owner(task.id), Some(b.inner.runner));
    }

    fn every_minute() -> Schedule {
        let mut s = Schedule::sample("every minute", "* * * * *");
        s.overlap = crate::schedule::OverlapPolicy::Cancel;
        s
    }

    /// The schedule `id` as stored, read outside any unit.
    fn stored_schedule(store: &PgStore, id: ScheduleId) -> Schedule {
        let all = store.schedules().unwrap();
        all.into_iter().find(|s| s.id == id).unwrap()
    }

    /// The fire records of `id`: (fire time, the fire's first task).
    fn fire_records(place: &PgPlace, id: ScheduleId) -> Vec<(DateTime<Utc>, TaskId)> {
        let mut sql = place.config.connect(NoTls).unwrap();
        sql.query(
            "SELECT fire_at, task_id FROM baton_schedule_fires WHERE schedule_id = $1
             ORDER BY fire_at",
            &[&schedule_uuid(id)],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), TaskId::from_u128(r.get::<_, Uuid>(1).as_u128())))
        .collect()
    }

    #[test]
    fn a_second_fire_for_one_fire_time_is_refused_even_past_the_lock_and_nothing_of_it_is_stored() {
        use crate::firing::tests::{at, unit};
        use crate::firing::{add, fire_due};

        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let added = unit(&store, at("10:00:30"), true, |txn, ctx| {
            add(txn, ctx, every_minute()).unwrap()
        });
        let before = stored_schedule(&store, added.id);
        unit(&store, at("10:01:05"), true, |txn, ctx| {
            fire_due(txn, ctx).unwrap()
        });
        let tasks = store.all().unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            fire_records(&place, added.id),
            vec![(at("10:01:00"), tasks[0].id)],
            "the fire time is recorded with its fire"
        );

        // A runner that read the schedule before that fire committed, as if
        // the row lock had a hole: its record still says 10:01 is due.
        let err = unit(&store, at("10:01:06"), false, |txn, ctx| {
            txn.put_schedule(None, &before).unwrap();
            fire_due(txn, ctx).unwrap_err()
        });
        assert!(
            matches!(&err, TaskError::Storage(m)
                if m.contains("already fired for 2026-01-05T10:01:00Z")),
            "{err}"
        );
        // Refused by the database too: the unit cannot write anything more.
        {
            let unit_of_work = store.begin().unwrap();
            let mut txn = unit_of_work.txn();
            let first = tasks[0].id;
            txn.record_fire(added.id, at("10:01:00"), first, at("09:00:00"))
                .unwrap_err();
            let after = txn.put_schedule(None, &before);
            assert!(after.is_err(), "the transaction is aborted after a refusal");
        }

        assert_eq!(store.all().unwrap(), tasks, "no second fire was stored");
        assert_eq!(
            stored_schedule(&store, added.id).next_fire_at,
            Some(at("10:02:00"))
        );
        assert_eq!(fire_records(&place, added.id).len(), 1);
    }

    #[test]
    fn a_manual_fire_at_a_fire_time_records_no_fire_time_and_both_start() {
        use crate::firing::tests::{at, unit};
        use crate::firing::{add, fire_due, fire_now};

        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let added = unit(&store, at("10:00:30"), true, |txn, ctx| {
            add(txn, ctx, every_minute()).unwrap()
        });
        let manual = unit(&store, at("10:01:00"), true, |txn, ctx| {
            fire_now(txn, ctx, added.id).unwrap()
        });
        unit(&store, at("10:01:00"), true, |txn, ctx| {
            fire_due(txn, ctx).unwrap()
        });
        let tasks = store.all().unwrap();
        assert_eq!(tasks.len(), 2, "the manual fire and the 10:01 fire");
        assert_eq!(stored_schedule(&store, added.id).fires, 2);
        let records = fire_records(&place, added.id);
        assert_eq!(records.len(), 1, "only the fire is recorded");
        assert_eq!(records[0].0, at("10:01:00"));
        assert_ne!(records[0].1, manual[0].id);
    }

    #[test]
    fn fire_records_past_an_hour_are_forgotten_in_bounded_batches() {
        use crate::firing::tests::{at, unit};
        use crate::firing::{add, fire_due};

        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let added = unit(&store, at("10:00:30"), true, |txn, ctx| {
            add(txn, ctx, every_minute()).unwrap()
        });
        // Old records of another (removed) schedule, and one within the hour.
        let gone = ScheduleId::new();
        let mut sql = place.config.connect(NoTls).unwrap();
        let old = PRUNE_BATCH as i32 + 10;
        sql.execute(
            "INSERT INTO baton_schedule_fires (schedule_id, fire_at, task_id)
             SELECT $1, $2::timestamptz - make_interval(mins => n), gen_random_uuid()
             FROM generate_series(1, $3::integer) AS n",
            &[&schedule_uuid(gone), &at("09:00:00"), &old],
        )
        .unwrap();
        sql.execute(
            "INSERT INTO baton_schedule_fires (schedule_id, fire_at, task_id)
             VALUES ($1, $2, gen_random_uuid())",
            &[&schedule_uuid(gone), &at("09:30:00")],
        )
        .unwrap();

        unit(&store, at("10:01:00"), true, |txn, ctx| {
            fire_due(txn, ctx).unwrap()
        });
        let left = fire_records(&place, gone);
        assert_eq!(
            left.len(),
            11,
            "one batch forgotten: {PRUNE_BATCH} of the {old} older than an hour"
        );
        assert!(left.iter().any(|(at_, _)| *at_ == at("09:30:00")));
        unit(&store, at("10:02:00"), true, |txn, ctx| {
            fire_due(txn, ctx).unwrap()
        });
        assert_eq!(
            fire_records(&place, gone),
            vec![left.last().copied().unwrap()]
        );
        assert_eq!(fire_records(&place, added.id).len(), 2);
    }

    #[test]
    fn a_database_at_version_5_migrates_to_the_latest_and_keeps_its_schedules() {
        use crate::firing::fire_due;
        use crate::firing::tests::{at, unit};

        let place = PgPlace::new();
        let mut sql = place.config.connect(NoTls).unwrap();
        migrate_to(&mut sql, 5).unwrap();
        let mut s = Schedule::sample("every minute", "* * * * *");
        s.next_fire_at = Some(at("10:01:00"));
        sql.execute(
            "INSERT INTO baton_schedules (id, name_key, next_fire_at, record)
             VALUES ($1, $2, $3, $4)",
            &[
                &schedule_uuid(s.id),
                &s.name.to_lowercase(),
                &s.next_fire_at,
                &encode("schedule", &s).unwrap(),
            ],
        )
        .unwrap();
        let version = |sql: &mut Client| -> i32 {
            sql.query_one("SELECT max(version) FROM baton_schema", &[])
                .unwrap()
                .get(0)
        };
        assert_eq!(version(&mut sql), 5);

        let store = PgStore::connect(place.config.clone()).unwrap();
        assert_eq!(version(&mut sql), PG_SCHEMA_VERSION);
        assert_eq!(store.schedules().unwrap(), vec![s.clone()]);
        unit(&store, at("10:01:02"), true, |txn, ctx| {
            fire_due(txn, ctx).unwrap()
        });
        let tasks = store.all().unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(
            fire_records(&place, s.id),
            vec![(at("10:01:00"), tasks[0].id)]
        );
    }

    #[test]
    fn a_cancelling_fire_leaves_a_fire_another_runner_is_ending_to_its_next_look() {
        use crate::backoff::Backoff;
        use crate::firing::tests::{at, unit};
        use crate::firing::{add, fire_due};
        use rand::SeedableRng;

        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let added = unit(&store, at("10:00:30"), true, |txn, ctx| {
            add(txn, ctx, every_minute()).unwrap()
        });
        unit(&store, at("10:01:05"), true, |txn, ctx| {
            fire_due(txn, ctx).unwrap()
        });
        let first = store.all().unwrap()[0].id;

        // A runner ending the fire holds its task; it takes the schedule next.
        let ender = store.begin().unwrap();
        ender.txn().get(first).unwrap();
        // The 10:02 fire would cancel that fire: it waits for no lock (a wait
        // would fail after the timeout) and writes nothing.
        let next = unit(&store, at("10:02:05"), true, |txn, ctx| {
            txn.execute("SET LOCAL lock_timeout = '5s'", &[]).unwrap();
            fire_due(txn, ctx).unwrap()
        });
        assert_eq!(
            next,
            Some(at("10:02:00")),
            "due again: the next look fires it"
        );
        assert_eq!(store.all().unwrap().len(), 1);

        // The ender takes the schedule (its fire ends), then the next look fires.
        {
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            let mut ctx = crate::lifecycle::Ctx {
                now: at("10:02:05"),
                backoff: Backoff::default(),
                rng: &mut rng,
                events: &mut Vec::new(),
                schedules: &mut Vec::new(),
            };
            crate::lifecycle::cancel(&mut ender.txn(), &mut ctx, first, None).unwrap();
        }
        ender.commit().unwrap();
        unit(&store, at("10:02:06"), true, |txn, ctx| {
            fire_due(txn, ctx).unwrap()
        });
        let s = stored_schedule(&store, added.id);
        assert_eq!(s.fires, 2);
        assert_eq!(s.next_fire_at, Some(at("10:03:00")));
        assert_eq!(
            fire_records(&place, added.id)
                .iter()
                .map(|r| r.0)
                .collect::<Vec<_>>(),
            vec![at("10:01:00"), at("10:02:00")]
        );
    }

    #[test]
    fn a_due_schedule_another_unit_holds_is_skipped_and_looked_at_again_shortly() {
        use crate::firing::add;
        use crate::firing::tests::{at, unit};

        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let first = unit(&store, at("10:00:30"), true, |txn, ctx| {
            add(txn, ctx, every_minute()).unwrap()
        });
        let mut later = every_minute();
        later.name = "every five minutes".into();
        later.cron = "*/5 * * * *".into();
        unit(&store, at("10:00:30"), true, |txn, ctx| {
            add(txn, ctx, later).unwrap()
        });

        let now = at("10:01:00");
        let holder = store.begin().unwrap();
        let (held, next) = holder.txn().schedules_due_by(now).unwrap();
        assert_eq!(held, vec![first.id]);
        assert_eq!(next, Some(at("10:05:00")));
        let other = store.begin().unwrap();
        let (due, next) = other.txn().schedules_due_by(now).unwrap();
        assert!(due.is_empty(), "the schedule another unit holds is skipped");
        assert_eq!(
            next,
            Some(now + HELD_RETRY),
            "looked at again shortly, not at the next fire time"
        );
        drop(holder);
        let (due, _) = other.txn().schedules_due_by(now).unwrap();
        assert_eq!(due, vec![first.id], "released by the holder's rollback");
    }

    #[test]
    fn two_units_promoting_at_once_never_take_the_same_task() {
        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let now = crate::firing::tests::at("10:00:00");
        let unit = store.begin().unwrap();
        for minutes in [-2, -1, 10] {
            let mut task = sample();
            task.status = TaskState::Scheduled;
            task.start_at = Some(now + chrono::TimeDelta::minutes(minutes));
            unit.txn().put(None, &task).unwrap();
        }
        unit.commit().unwrap();

        let first = store.begin().unwrap();
        let second = store.begin().unwrap();
        let (a, next_a) = first.txn().due_by(now).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(next_a, Some(now + chrono::TimeDelta::minutes(10)));
        let (b, next_b) = second.txn().due_by(now).unwrap();
        assert!(
            b.is_empty(),
            "the second promoter skips the rows the first holds"
        );
        assert_eq!(next_b, Some(now + HELD_RETRY));
        drop(first);
        assert_eq!(second.txn().due_by(now).unwrap().0, a);
    }

    #[test]
    fn two_units_claiming_at_once_never_take_the_same_task() {
        let place = PgPlace::new();
        let store = PgStore::connect(place.config.clone()).unwrap();
        let unit = store.begin().unwrap();
        let mut ids = Vec::new();
        for _ in 0..4 {
            let mut task = sample();
            task.status = TaskState::Queued;
            ids.push(task.id);
            unit.txn().put(None, &task).unwrap();
        }
        unit.commit().unwrap();

        let first = store.begin().unwrap();
        let second = store.begin().unwrap();
        let a = first.txn().queue_head(3).unwrap();
        let b = second.txn().queue_head(3).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(
            b.len(),
            1,
            "the second claimer skips the rows the first holds"
        );
        assert!(a.iter().all(|id| !b.contains(id)));
        drop(first);
        // Released by the first unit's rollback: claimable again.
        assert_eq!(second.txn().queue_head(4).unwrap().len(), 4);
    }
}

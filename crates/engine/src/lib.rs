#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - `engine`: [`Engine`], the public face: open, start, submit, chain, cancel,
//!   retry, list, export/import, subscribe, shutdown.
//! - `state`: [`TaskState`] and the transition table, written once.
//! - `task`: the [`Task`] record, requests that create one, validation.
//! - `structured`: output schemas (JSON Schema): checked when saved and on
//!   every answer; the retry prompt's correction.
//! - `prompt`: prompt variables (`{{date}}`, `{{parent.output}}`, …): checked, bound;
//!   a map's row variables (`{{row.COLUMN}}`, `{{item}}`) and a join's `{{items}}`.
//! - `rows`: a map's input (CSV, JSONL, lines) parsed and refused whole, and a
//!   group's results written as CSV or JSONL.
//! - `budget`: caps on spending, reserved at claim, settled when an attempt ends.
//! - `budget_api`: the engine's budget operations (set, list, remove).
//! - `outbox`: deliveries inside a write transaction (recorded with the completion).
//! - `lifecycle`: what each operation does to tasks inside one write transaction.
//! - `writer`: the single writer; batches requests into one commit (group commit).
//! - `storage`: the storage interface lifecycle and firing are written against.
//! - `db`: the database an engine opened (redb or PostgreSQL), behind that interface.
//! - `store`: the only module that touches redb (tables, schema, migrations, reads):
//!   the first `storage` backend.
//! - `pg`: PostgreSQL as the second `storage` backend (the shared queue).
//!   `pg_events`: its event outbox (every runner's events, tailed by the others);
//!   `remote`: an event another runner committed, applied to this process.
//! - `scheduler`: moves scheduled tasks to queued when due, and fires schedules.
//! - `schedule`: recurring [`Schedule`]s: the record, policies, cron arithmetic.
//! - `group`: groups (`map`): one prompt over many rows, their counts, the join.
//! - `firing`: what schedules do inside one write transaction (fire, policies).
//! - `schedule_api`: the engine's schedule operations.
//! - `pool`: the dispatcher, the only code that claims tasks and starts
//!   executors: it owns the slots, pause, and the provider limiter.
//! - `runner`: a runner of a shared queue (PostgreSQL): its lease, heartbeat
//!   and the rescue of gone runners' tasks.
//! - `executor`: runs one attempt and reports its outcome to the dispatcher.
//! - `provider`: the [`Provider`] trait, the deterministic mock, the real HTTP
//!   providers (OpenAI-compatible, Anthropic), their settings, keys and limits,
//!   the models they list, and local servers found on loopback.
//! - `events`: every change on a broadcast channel.
//! - `health`: whether the engine can write its database ([`Health`]).
//! - `catalog`: a live in-memory summary of all tasks for list views.
//! - `filter`: [`TaskFilter`], which tasks a list shows (API query, CLI flags).
//! - `flags`: `NewTask`'s fields parsed from CLI flags (feature `clap`).
//! - `export`: the versioned JSON export file.
//! - `fallback`: which target a failed attempt's task tries next, by error class.
//! - `idempotency`: `Idempotency-Key`s, so a retried create creates once.
//! - `private_fs`: the data directory and database file, owner-only.
//! - `deliverer`: sends pending deliveries after their commit, reports each try.
//! - `delivery_api`: the engine's delivery operations (list, resend).
//! - `delivery`: where an answer goes (a file, a webhook): the outbox records.
//! - `timestamp`: the task record's timestamps in JSON, chrono's bytes written
//!   and read fast.
//! - `backoff`, `clock`, `error`, `shared`: the small parts.

mod backoff;
mod batch;
mod batcher;
mod budget;
mod budget_api;
mod catalog;
mod clock;
#[cfg(test)]
mod conformance;
mod db;
mod deliverer;
mod delivery;
mod delivery_api;
mod engine;
mod error;
mod events;
mod executor;
mod export;
mod fallback;
mod filter;
mod firing;
#[cfg(feature = "clap")]
mod flags;
mod group;
mod group_api;
mod health;
mod idempotency;
mod lifecycle;
#[cfg(test)]
mod model_tests;
mod outbox;
mod pg;
mod pool;
mod private_fs;
mod prompt;
mod provider;
mod remote;
mod rows;
mod runner;
mod schedule;
mod schedule_api;
mod scheduler;
mod shared;
mod state;
mod storage;
mod store;
mod structured;
mod task;
mod timestamp;
mod writer;

pub use backoff::Backoff;
pub use batch::{BatchRequest, BatchState, InBatch, BATCH_PRICE_FACTOR};
pub use batcher::BatchConfig;
pub use budget::{
    Budget, BudgetPeriod, BudgetScope, BudgetUnit, NewBudget, Reserved, MAX_BUDGETS,
    MAX_BUDGET_NAME,
};
pub use catalog::{
    Activity, Catalog, CatalogPage, CatalogQuery, ChainFilter, StartFilter, TaskSummary,
};
pub use clock::Clock;
pub use deliverer::{signature as webhook_signature, IDEMPOTENCY_HEADER, SIGNATURE_HEADER};
pub use delivery::{
    template_folder, Deliver, Delivery, DeliveryId, DeliveryStatus, DeliveryTarget,
    MAX_DELIVERY_ATTEMPTS,
};
pub use engine::{
    local_zone, Engine, EngineConfig, EngineStats, SharedQueue, DEFAULT_WORKERS, MAX_WORKERS,
};
pub use error::{ImportError, OpenError, ProviderConfigError, RecordError, TaskError};
pub use events::{Event, EventKind, ScheduleEvent, Subscription, EVENT_BUFFER};
pub use export::{ExportFile, ExportSummary, EXPORT_FORMAT_VERSION};
pub use filter::TaskFilter;
#[cfg(feature = "clap")]
pub use flags::max_attempts as parse_max_attempts;
pub use group::{
    Group, GroupId, GroupJoin, GroupMember, GroupStatus, JoinOn, NewJoin, NewMap, MAX_GROUP_NAME,
};
pub use health::Health;
pub use idempotency::{Created, IdempotencyKey, IDEMPOTENCY_RETENTION, MAX_IDEMPOTENCY_KEY};
pub use lifecycle::{Cancelled, ImportReport};
pub use pg::{EventPage, EventsOf, PgListener, RemoteEvent, EVENT_RETENTION};
pub use pg::{PgStore, Runner, DEFAULT_LEASE, PG_SCHEMA_VERSION};
pub use private_fs::create_private_dir;
pub use prompt::{check_join_instruction, check_map_prompt};
pub use provider::{
    ApiKey, CompletionRequest, Detection, HoldReason, KeyError, KeyRef, Limits, LocalServer,
    LocalServerKind, LoweredConcurrency, MockProvider, OutputSink, Prices, Provider, ProviderError,
    ProviderKind, ProviderSettings, ProviderTest, Providers, Unrecognised, DEFAULT_IDLE_TIMEOUT_MS,
    DEFAULT_MAX_TOKENS, KEYCHAIN_SERVICE, MAX_PROVIDER_NAME,
};
pub use rows::{
    check_input_size, decode as decode_rows, parse as parse_rows, preview as preview_rows,
    write_results, ResultFormat, ResultRow, RowSource, Rows, MAX_MAP_INPUT_BYTES, MAX_MAP_ROWS,
};
pub use runner::MIN_LEASE;
pub use schedule::{
    upcoming_fires, AutoPause, MissedPolicy, NewSchedule, OverlapPolicy, Schedule, ScheduleId,
    SkipReason, SkippedFires, TaskTemplate, CATCH_UP_LIMIT, DEFAULT_PAUSE_AFTER_FAILURES,
    MAX_FOLLOW_UPS, MAX_PAUSE_AFTER_FAILURES, MAX_SCHEDULE_NAME, MISFIRE_TOLERANCE, PENDING_LIMIT,
};
pub use state::TaskState;
pub use store::{ListQuery, StatusCounts, DEFAULT_CACHE_BYTES, SCHEMA_VERSION};
pub use structured::MAX_OUTPUT_SCHEMA_BYTES;
pub use task::{
    normalize_tag, normalize_tags, Attempt, AttemptOutcome, ChainRequest, ErrorClass, Failure,
    NewTask, Real, Target, Task, TaskId, TaskLimits, DEFAULT_FALLBACK_AFTER, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT, MAX_ATTEMPTS_RANGE, MAX_FALLBACKS, MAX_PROMPT_BYTES, MAX_TAGS, MAX_TAG_CHARS,
    MAX_TIMEOUT, MAX_TOKENS_LIMIT, PARENT_OUTPUT_PLACEHOLDER, TASK_LIMITS, TEMPERATURE_RANGE,
};

//! The only module that touches redb.
//!
//! [`Store`] opens the file (one process at a time: redb locks it), checks and
//! migrates its schema, and answers reads. Writes go through a [`WriteBatch`]
//! and its [`WriteTxn`], which only the writer thread opens. No redb type crosses this module's boundary, so a
//! second store (PostgreSQL) can later offer the same operations.

mod backend;
mod budgets;
mod deliveries;
mod file;
mod groups;
mod idempotency;
mod schedules;
mod tables;
mod write;

pub(crate) use file::StoreOptions;
pub use file::DEFAULT_CACHE_BYTES;
pub(crate) use idempotency::{KeyRecord, PRUNE_BATCH};

pub(crate) use write::{WriteBatch, WriteTxn};

use crate::error::{OpenError, TaskError};
use crate::filter::TaskFilter;
use crate::provider::ProviderSettings;
use crate::state::TaskState;
use crate::task::{Task, TaskId};
use redb::{ReadableTable, ReadableTableMetadata};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tables::*;

/// The layout version this code writes. History:
/// 1. `meta` and `tasks` only.
/// 2. adds the index tables (`tasks_by_status`, `queue`, `due`, `children`, `counts`).
/// 3. adds `providers` (configured LLM providers; keys are never stored).
/// 4. adds `schedules`, `schedule_names`, `schedule_due` and `schedule_runs`
///    (recurring schedules; tasks may carry a `schedule_id`).
/// 5. adds `idempotency` and `idempotency_by_time` (the `Idempotency-Key`s of
///    creating requests, kept 24 hours).
/// 6. adds `deliveries`, `delivery_due` and `task_deliveries` (the outbox).
/// 7. adds `budgets`.
/// 8. adds `groups`, `group_names` and `group_rows` (`map`; tasks may carry a `group`).
pub const SCHEMA_VERSION: u64 = 8;

/// What `list` returns, newest first: a page of the tasks the filter passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// The status and parent are read from their indexes; the tag by scanning.
    pub filter: TaskFilter,
    /// Only tasks older than this one (a cursor from the previous page).
    pub before: Option<TaskId>,
    pub limit: usize,
}

/// Number of tasks in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StatusCounts {
    pub waiting: u64,
    pub scheduled: u64,
    pub queued: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl StatusCounts {
    pub fn get(&self, state: TaskState) -> u64 {
        match state {
            TaskState::Waiting => self.waiting,
            TaskState::Scheduled => self.scheduled,
            TaskState::Queued => self.queued,
            TaskState::Running => self.running,
            TaskState::Completed => self.completed,
            TaskState::Failed => self.failed,
            TaskState::Cancelled => self.cancelled,
        }
    }

    pub(crate) fn set(&mut self, state: TaskState, n: u64) {
        *match state {
            TaskState::Waiting => &mut self.waiting,
            TaskState::Scheduled => &mut self.scheduled,
            TaskState::Queued => &mut self.queued,
            TaskState::Running => &mut self.running,
            TaskState::Completed => &mut self.completed,
            TaskState::Failed => &mut self.failed,
            TaskState::Cancelled => &mut self.cancelled,
        } = n;
    }

    /// Tasks that are not terminal: something will still happen to them.
    pub fn active(&self) -> u64 {
        self.waiting + self.scheduled + self.queued + self.running
    }

    pub fn total(&self) -> u64 {
        TaskState::ALL.iter().map(|s| self.get(*s)).sum()
    }
}

pub(crate) struct Store {
    path: PathBuf,
    cache_bytes: usize,
    /// `None` only while [`Store::restore`] opens the file again. A std lock:
    /// it is held just long enough to begin a transaction (transactions own
    /// their handle on the file), or to swap the file in `restore`.
    db: std::sync::RwLock<Option<file::Db>>,
}

impl Store {
    /// Opens or creates the database at `path` and brings its schema up to date.
    /// A foreign or corrupt file is refused and left as it was.
    #[cfg(test)]
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// [`Store::open`] with options. Read-only: the file must exist and have
    /// the current schema; nothing is repaired, migrated or written.
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store, OpenError> {
        let io = |detail: String| OpenError::Io {
            path: path.to_path_buf(),
            detail,
        };
        if options.read_only {
            if !path.exists() {
                return Err(io("no such file".into()));
            }
        } else {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::private_fs::create_private_dir(dir).map_err(|e| io(e.to_string()))?;
            }
            // Every prompt and output is in it: owner only (redb would create it 0644).
            crate::private_fs::ensure_private_file(path).map_err(|e| io(e.to_string()))?;
        }
        let db = file::open_db(path, options)?;
        let store = Store {
            path: path.to_path_buf(),
            cache_bytes: options.cache_bytes,
            db: std::sync::RwLock::new(Some(db)),
        };
        // A damaged file may get past the open and panic in the first reads.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if options.read_only {
                store.check_schema(path)
            } else {
                store.prepare_schema(path)
            }
        }))
        .map_err(|panic| file::damaged(path, &panic))??;
        Ok(store)
    }

    /// The read-only open's schema check: the current version, or refused.
    fn check_schema(&self, path: &Path) -> Result<(), OpenError> {
        let fail = |e: TaskError| OpenError::Io {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let txn = self.begin_read().map_err(fail)?;
        let version = match txn.open_table(META) {
            Ok(meta) => meta
                .get(SCHEMA_KEY)
                .map_err(|e| fail(e.into()))?
                .map(|v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(fail(e.into())),
        };
        match version {
            Some(SCHEMA_VERSION) => Ok(()),
            Some(v) if v > SCHEMA_VERSION => Err(OpenError::SchemaTooNew {
                path: path.to_path_buf(),
                found: v,
                supported: SCHEMA_VERSION,
            }),
            Some(v) => Err(fail(TaskError::Storage(format!(
                "schema version {v} needs migrating; open it once with `baton run` first"
            )))),
            None => Err(OpenError::NotADatabase {
                path: path.to_path_buf(),
                detail: "a redb file without Baton's schema version".into(),
            }),
        }
    }

    fn prepare_schema(&self, path: &Path) -> Result<(), OpenError> {
        let fail = |e: TaskError| OpenError::Io {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        let txn = self.begin_write().map_err(fail)?;
        let found = {
            let has_tables = txn.list_tables().map_err(|e| fail(e.into()))?.count() > 0;
            let meta = txn.open_table(META).map_err(|e| fail(e.into()))?;
            let version = meta
                .get(SCHEMA_KEY)
                .map_err(|e| fail(e.into()))?
                .map(|v| v.value());
            match version {
                None if has_tables => {
                    return Err(OpenError::NotADatabase {
                        path: path.to_path_buf(),
                        detail: "a redb file without Baton's schema version".into(),
                    })
                }
                v => v,
            }
        };
        match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(OpenError::SchemaTooNew {
                    path: path.to_path_buf(),
                    found: v,
                    supported: SCHEMA_VERSION,
                })
            }
            Some(SCHEMA_VERSION) => {
                // Already current: nothing to write.
                txn.abort().map_err(|e| fail(e.into()))?;
                return Ok(());
            }
            Some(v) => {
                for from in v..SCHEMA_VERSION {
                    migrate(&txn, from).map_err(fail)?;
                    tracing::info!(from, to = from + 1, "migrated database schema");
                }
            }
            None => {
                // A new file: create every table so reads never meet a missing one.
                txn.open_table(TASKS).map_err(|e| fail(e.into()))?;
                txn.open_table(PROVIDERS).map_err(|e| fail(e.into()))?;
                schedules::create_tables(&txn).map_err(fail)?;
                idempotency::create_tables(&txn).map_err(fail)?;
                deliveries::create_tables(&txn).map_err(fail)?;
                budgets::create_tables(&txn).map_err(fail)?;
                groups::create_tables(&txn).map_err(fail)?;
                write::rebuild_indexes(&txn).map_err(fail)?;
            }
        }
        txn.open_table(META)
            .map_err(TaskError::from)
            .and_then(|mut meta| Ok(meta.insert(SCHEMA_KEY, SCHEMA_VERSION).map(|_| ())?))
            .map_err(fail)?;
        txn.commit().map_err(|e| fail(e.into()))
    }

    pub fn get(&self, id: TaskId) -> Result<Option<Task>, TaskError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(TASKS)?;
        let raw = table.get(id.as_u128())?;
        raw.map(|v| decode(v.value())).transpose()
    }

    pub fn list(&self, query: &ListQuery) -> Result<Vec<Task>, TaskError> {
        let txn = self.begin_read()?;
        let tasks = txn.open_table(TASKS)?;
        let before = query.before.map(|id| id.as_u128()).unwrap_or(u128::MAX);
        let mut out = Vec::with_capacity(query.limit.min(1024));
        let push = |id: u128, out: &mut Vec<Task>| -> Result<bool, TaskError> {
            if let Some(raw) = tasks.get(id)? {
                let task = decode(raw.value())?;
                if query.filter.status.is_none_or(|s| s == task.status)
                    && query.filter.has_tag(&task)
                {
                    out.push(task);
                }
            }
            Ok(out.len() < query.limit)
        };
        if query.limit == 0 {
            return Ok(out);
        }
        if let Some(parent) = query.filter.parent_task_id {
            let children = txn.open_table(CHILDREN)?;
            let p = parent.as_u128();
            for entry in children.range((p, 0)..(p, before))?.rev() {
                if !push(entry?.0.value().1, &mut out)? {
                    break;
                }
            }
        } else if let Some(state) = query.filter.status {
            let index = txn.open_table(BY_STATUS)?;
            let c = state.code();
            for entry in index.range((c, 0)..(c, before))?.rev() {
                if !push(entry?.0.value().1, &mut out)? {
                    break;
                }
            }
        } else {
            for entry in tasks.range(..before)?.rev() {
                let (_, raw) = entry?;
                let task = decode(raw.value())?;
                if query.filter.has_tag(&task) {
                    out.push(task);
                }
                if out.len() >= query.limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Every task, oldest first.
    pub fn all(&self) -> Result<Vec<Task>, TaskError> {
        let txn = self.begin_read()?;
        let tasks = txn.open_table(TASKS)?;
        let mut out = Vec::new();
        for entry in tasks.iter()? {
            out.push(decode(entry?.1.value())?);
        }
        Ok(out)
    }

    /// One consistent view of the file for reads that take long (an export).
    pub fn snapshot(&self) -> Result<Snapshot, TaskError> {
        Ok(Snapshot {
            txn: self.begin_read()?,
        })
    }

    /// Every task record read as the projection `T` (a struct of the fields
    /// the caller needs; serde skips the rest without keeping them), oldest first.
    /// The records are copied out of the file first and decoded on every core:
    /// decoding JSON is most of the time it takes to read 100,000 tasks.
    pub fn scan<T: serde::de::DeserializeOwned + Send>(&self) -> Result<Vec<T>, TaskError> {
        let raw: Vec<Vec<u8>> = {
            let txn = self.begin_read()?;
            let tasks = txn.open_table(TASKS)?;
            let mut raw = Vec::with_capacity(tasks.len()? as usize);
            for entry in tasks.iter()? {
                raw.push(entry?.1.value().to_vec());
            }
            raw
        };
        parallel_map(raw, |bytes| {
            serde_json::from_slice::<T>(&bytes)
                .map_err(|e| TaskError::Storage(format!("a stored task record is unreadable: {e}")))
        })
        .into_iter()
        .collect()
    }

    pub fn counts(&self) -> Result<StatusCounts, TaskError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(COUNTS)?;
        let mut counts = StatusCounts::default();
        for state in TaskState::ALL {
            counts.set(
                state,
                table.get(state.code())?.map(|v| v.value()).unwrap_or(0),
            );
        }
        Ok(counts)
    }

    pub fn children(&self, parent: TaskId) -> Result<Vec<TaskId>, TaskError> {
        let txn = self.begin_read()?;
        children_in(&txn.open_table(CHILDREN)?, parent)
    }

    /// Every configured provider, by name. A record this version cannot read is
    /// reported, not fatal: the other providers still load.
    pub fn providers(&self) -> Result<Vec<Result<ProviderSettings, String>>, TaskError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(PROVIDERS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (name, raw) = entry?;
            out.push(
                serde_json::from_slice::<ProviderSettings>(raw.value()).map_err(|e| {
                    format!("provider '{}' has an unreadable record: {e}", name.value())
                }),
            );
        }
        Ok(out)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let db = self.db.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        // redb writes when it closes a file, and panics on some damaged files
        // there too: that must not take the process down.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(db))).is_err() {
            tracing::error!(path = %self.path.display(), "redb panicked closing the database: the file is damaged");
        }
    }
}

/// A read transaction: what it reads is the file as of [`Store::snapshot`].
pub(crate) struct Snapshot {
    txn: redb::ReadTransaction,
}

impl Snapshot {
    /// Every schedule, oldest first.
    pub fn schedules(&self) -> Result<Vec<crate::schedule::Schedule>, TaskError> {
        schedules::schedules_in(&self.txn)
    }

    /// Calls `f` with every task, oldest first, one at a time: memory stays
    /// that of one task however many there are.
    pub fn each_task<E: From<TaskError>>(
        &self,
        mut f: impl FnMut(Task) -> Result<(), E>,
    ) -> Result<(), E> {
        let tasks = self.txn.open_table(TASKS).map_err(TaskError::from)?;
        for entry in tasks.iter().map_err(TaskError::from)? {
            let (_, raw) = entry.map_err(TaskError::from)?;
            f(decode(raw.value())?)?;
        }
        Ok(())
    }
}

/// `f` over `items` on every available core, in order.
pub(crate) fn parallel_map<I: Send, O: Send>(items: Vec<I>, f: impl Fn(I) -> O + Sync) -> Vec<O> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads == 1 || items.len() < 1024 {
        return items.into_iter().map(f).collect();
    }
    let size = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let part: Vec<I> = items.by_ref().take(size).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<O>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn migrate(txn: &redb::WriteTransaction, from: u64) -> Result<(), TaskError> {
    match from {
        1 => write::rebuild_indexes(txn),
        2 => {
            txn.open_table(PROVIDERS)?;
            Ok(())
        }
        3 => schedules::create_tables(txn),
        4 => idempotency::create_tables(txn),
        5 => deliveries::create_tables(txn),
        6 => budgets::create_tables(txn),
        7 => groups::create_tables(txn),
        other => Err(TaskError::Storage(format!(
            "no migration from schema version {other}"
        ))),
    }
}

fn children_in(
    table: &impl ReadableTable<(u128, u128), ()>,
    parent: TaskId,
) -> Result<Vec<TaskId>, TaskError> {
    let p = parent.as_u128();
    let mut ids = Vec::new();
    for entry in table.range((p, 0)..=(p, u128::MAX))? {
        ids.push(TaskId::from_u128(entry?.0.value().1));
    }
    Ok(ids)
}

fn ids_in_state(
    table: &impl ReadableTable<(u8, u128), ()>,
    state: TaskState,
) -> Result<Vec<TaskId>, TaskError> {
    let c = state.code();
    let mut ids = Vec::new();
    for entry in table.range((c, 0)..=(c, u128::MAX))? {
        ids.push(TaskId::from_u128(entry?.0.value().1));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests;

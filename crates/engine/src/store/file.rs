//! The redb file itself: opening it (read-write or read-only), checking that it
//! can be written, and opening it again after an I/O error.
//!
//! redb latches its first I/O error (a full disk, say): every later operation
//! answers "Previous I/O error occurred" until the database is closed and
//! opened again. [`Store::restore`] does that, so the same process goes on
//! once the disk has room again.

use super::Store;
use crate::error::{OpenError, TaskError};
use redb::{Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, StorageError};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// redb's page cache when the host does not choose one. redb's own default
/// (1 GiB) is far too much for an app that runs in the background, and redb
/// holds more than this figure: docs/PERFORMANCE.md has the measurements.
pub const DEFAULT_CACHE_BYTES: usize = 16 * 1024 * 1024;

/// How [`Store::restore`] checks that the disk takes writes again: a file of
/// this size is written next to the database, synced and removed.
const PROBE_BYTES: usize = 256 * 1024;

/// How a store is opened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoreOptions {
    /// redb's page cache, in bytes.
    pub cache_bytes: usize,
    /// Reads only: no crash repair, no migration, no write ever (`list`, `export`).
    pub read_only: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: DEFAULT_CACHE_BYTES,
            read_only: false,
        }
    }
}

pub(super) enum Db {
    ReadWrite(Database),
    ReadOnly(ReadOnlyDatabase),
}

impl Db {
    pub(super) fn begin_read(&self) -> Result<redb::ReadTransaction, TaskError> {
        Ok(match self {
            Db::ReadWrite(db) => db.begin_read()?,
            Db::ReadOnly(db) => db.begin_read()?,
        })
    }

    pub(super) fn begin_write(&self) -> Result<redb::WriteTransaction, TaskError> {
        match self {
            Db::ReadWrite(db) => Ok(db.begin_write()?),
            Db::ReadOnly(_) => Err(TaskError::Storage(
                "the database was opened for reading only".into(),
            )),
        }
    }
}

/// Opens the file. A file that makes redb panic is reported as damaged; the
/// panic does not escape.
pub(super) fn open_db(path: &Path, options: StoreOptions) -> Result<Db, OpenError> {
    let mut builder = redb::Builder::new();
    builder.set_cache_size(options.cache_bytes);
    let opened = catch_unwind(AssertUnwindSafe(|| {
        if options.read_only {
            builder.open_read_only(path).map(Db::ReadOnly)
        } else {
            builder.create(path).map(Db::ReadWrite)
        }
    }));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(DatabaseError::RepairAborted)) if options.read_only => Err(OpenError::NeedsRepair {
            path: path.to_path_buf(),
        }),
        Ok(Err(e)) => Err(open_error(path, e)),
        Err(panic) => Err(damaged(path, &panic)),
    }
}

/// What a panic while reading the file means to a person.
pub(super) fn damaged(path: &Path, panic: &Box<dyn std::any::Any + Send>) -> OpenError {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    tracing::error!(path = %path.display(), detail, "redb panicked while opening the database");
    OpenError::Damaged {
        path: path.to_path_buf(),
    }
}

fn open_error(path: &Path, e: DatabaseError) -> OpenError {
    let path: PathBuf = path.to_path_buf();
    match e {
        DatabaseError::DatabaseAlreadyOpen => OpenError::Locked { path },
        DatabaseError::RepairAborted | DatabaseError::Storage(StorageError::Corrupted(_)) => {
            OpenError::Damaged { path }
        }
        // redb reports a foreign file (bad magic number) as InvalidData.
        DatabaseError::Storage(StorageError::Io(io))
            if !matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other
            ) =>
        {
            OpenError::Io {
                path,
                detail: io.to_string(),
            }
        }
        other => OpenError::NotADatabase {
            path,
            detail: other.to_string(),
        },
    }
}

impl Store {
    /// A read transaction on the file as it is open now.
    pub(super) fn begin_read(&self) -> Result<redb::ReadTransaction, TaskError> {
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        db.as_ref().ok_or_else(reopening)?.begin_read()
    }

    pub(super) fn begin_write(&self) -> Result<redb::WriteTransaction, TaskError> {
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        db.as_ref().ok_or_else(reopening)?.begin_write()
    }

    pub fn read_only(&self) -> bool {
        let db = self.db.read().unwrap_or_else(|e| e.into_inner());
        matches!(&*db, Some(Db::ReadOnly(_)))
    }

    /// True when a write transaction commits: false after an I/O error, which
    /// redb latches until the file is opened again.
    pub fn writable(&self) -> bool {
        self.begin_write().and_then(|txn| Ok(txn.commit()?)).is_ok()
    }

    /// Makes the store writable again after an I/O error: closes the file and
    /// opens it again (redb repairs it if the failed write left it needing
    /// that), checks that the disk takes a write, and commits an empty
    /// transaction. Reads fail only while the file is closed, between the two
    /// opens.
    pub fn restore(&self) -> Result<(), TaskError> {
        if !self.writable() {
            // Opened again first, even while the disk is still full: reads work
            // meanwhile (redb latches an I/O error for them too).
            let mut db = self.db.write().unwrap_or_else(|e| e.into_inner());
            // The old handle must be closed first: redb locks the file.
            drop(db.take());
            let options = StoreOptions {
                cache_bytes: self.cache_bytes,
                read_only: false,
            };
            *db =
                Some(open_db(&self.path, options).map_err(|e| TaskError::Storage(e.to_string()))?);
        }
        self.probe_disk()?;
        self.begin_write()?.commit()?;
        Ok(())
    }

    /// Writes, syncs and removes a small file beside the database: an error
    /// here (a full disk) means a commit would fail too.
    fn probe_disk(&self) -> Result<(), TaskError> {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".write-check");
        let probe = self.path.with_file_name(name);
        let written = std::fs::File::create(&probe).and_then(|mut f| {
            f.write_all(&[0u8; PROBE_BYTES])?;
            f.sync_all()
        });
        let _ = std::fs::remove_file(&probe);
        written.map_err(|e| TaskError::Storage(format!("the disk takes no writes: {e}")))
    }
}

fn reopening() -> TaskError {
    TaskError::Storage("the database is being opened again after a write failed".into())
}

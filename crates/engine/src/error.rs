//! Typed errors. Each has a stable `code()` for the CLI, Tauri and HTTP boundaries,
//! and a `Display` that is one sentence a person can act on.

use crate::state::TaskState;
use crate::task::TaskId;
use std::path::PathBuf;

/// Opening the engine's database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("the database {} is in use by another Baton process; stop it or use another --data-dir", path.display())]
    Locked { path: PathBuf },
    #[error("{} is not a Baton database (it is corrupt or another kind of file): {detail}", path.display())]
    NotADatabase { path: PathBuf, detail: String },
    /// redb found the file inconsistent (or panicked reading it). It is left
    /// as it was.
    #[error("the database file {} is damaged; Baton left it unchanged: move it aside and restore your tasks from an export with `baton import FILE` (a new database is created in its place)", path.display())]
    Damaged { path: PathBuf },
    /// A read-only open met a file that was not closed cleanly.
    #[error("the database {} was not closed cleanly and must be repaired before it can be read; any command that writes (or `baton run`) repairs it", path.display())]
    NeedsRepair { path: PathBuf },
    #[error("the database {} has schema version {found}, newer than this Baton understands ({supported}); upgrade Baton", path.display())]
    SchemaTooNew {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("cannot open the database {}: {detail}", path.display())]
    Io { path: PathBuf, detail: String },
    /// The engine's configuration is wrong; nothing was opened.
    #[error("{0}")]
    Config(String),
    /// The PostgreSQL database (a shared queue) could not be used: unreachable,
    /// refused the login, or at a newer schema. Never names the password.
    #[error("cannot open the shared queue's database: {0}")]
    Shared(String),
}

impl OpenError {
    pub fn code(&self) -> &'static str {
        match self {
            OpenError::Locked { .. } => "database_locked",
            OpenError::NotADatabase { .. } | OpenError::Damaged { .. } => "database_corrupt",
            OpenError::SchemaTooNew { .. } => "schema_too_new",
            OpenError::NeedsRepair { .. } => "database_needs_repair",
            OpenError::Io { .. } => "database_io",
            OpenError::Config(_) => "invalid_config",
            OpenError::Shared(_) => "database_unavailable",
        }
    }
}

/// Any operation on tasks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// A field of the request is wrong; nothing was changed.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no task has the id {0}")]
    NotFound(TaskId),
    /// No schedule has this name or id.
    #[error("no schedule is named '{0}'")]
    ScheduleNotFound(String),
    #[error("no delivery has the id {0}")]
    DeliveryNotFound(String),
    #[error("no budget is named '{0}'")]
    BudgetNotFound(String),
    /// No group has this name or id.
    #[error("no group is named '{0}'")]
    GroupNotFound(String),
    /// The task's state does not allow the operation; nothing was changed.
    #[error("task {id} is {state}: {message}")]
    Conflict {
        id: TaskId,
        state: TaskState,
        message: String,
    },
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error("storage error: {0}")]
    Storage(String),
    /// The idempotency key came with another request before; nothing was created.
    #[error("the idempotency key '{0}' was used for a different request; use a new key for a new request")]
    IdempotencyKeyReused(String),
}

impl TaskError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        TaskError::Invalid {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn conflict(id: TaskId, state: TaskState, message: impl Into<String>) -> Self {
        TaskError::Conflict {
            id,
            state,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            TaskError::Invalid { .. } => "invalid_input",
            TaskError::NotFound(_)
            | TaskError::ScheduleNotFound(_)
            | TaskError::DeliveryNotFound(_)
            | TaskError::BudgetNotFound(_)
            | TaskError::GroupNotFound(_) => "not_found",
            TaskError::Conflict { .. } => "invalid_state",
            TaskError::ShuttingDown => "shutting_down",
            TaskError::Storage(_) => "storage",
            TaskError::IdempotencyKeyReused(_) => "idempotency_key_reused",
        }
    }
}

/// Importing an export file. Nothing is written when any of these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("the import file is not valid JSON: {0}")]
    NotJson(String),
    #[error(
        "the import file has format_version {found}; this Baton reads versions up to {supported}"
    )]
    FutureVersion { found: u64, supported: u64 },
    #[error("the import file is not a Baton export: {0}")]
    WrongShape(String),
    /// Every bad record, by its position in the file.
    #[error("{} record(s) are invalid, nothing was imported: {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    BadRecords(Vec<RecordError>),
    #[error(transparent)]
    Task(#[from] TaskError),
}

impl ImportError {
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::NotJson(_) => "import_not_json",
            ImportError::FutureVersion { .. } => "import_future_version",
            ImportError::WrongShape(_) => "import_wrong_shape",
            ImportError::BadRecords(_) => "import_bad_records",
            ImportError::Task(e) => e.code(),
        }
    }
}

/// Configuring, removing or testing a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderConfigError {
    /// A setting is wrong; nothing was changed.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("no provider is named '{0}'")]
    NotFound(String),
    /// No local server found now would be added under this name; nothing was added.
    #[error(
        "no local server to add as '{name}' answered on 127.0.0.1 ({})",
        if found.is_empty() { "none did; is the server running?".to_string() } else { format!("found: {}", found.join(", ")) }
    )]
    NotDetected { name: String, found: Vec<String> },
    /// The key could not be stored or read; nothing was changed.
    #[error(transparent)]
    Key(#[from] crate::provider::KeyError),
    /// The provider answered a test request with an error.
    #[error("{0}")]
    Call(crate::provider::ProviderError),
    #[error(transparent)]
    Task(#[from] TaskError),
}

impl ProviderConfigError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ProviderConfigError::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ProviderConfigError::Invalid { .. } => "invalid_input",
            ProviderConfigError::NotFound(_) => "not_found",
            ProviderConfigError::NotDetected { .. } => "not_detected",
            ProviderConfigError::Key(crate::provider::KeyError::NoKeychain(_)) => {
                "keychain_unavailable"
            }
            ProviderConfigError::Key(_) => "key_unavailable",
            ProviderConfigError::Call(e) => match e.class {
                crate::task::ErrorClass::RateLimited => "provider_rate_limited",
                // An answer cut short is, for a test, no answer.
                crate::task::ErrorClass::Transient | crate::task::ErrorClass::Incomplete => {
                    "provider_unavailable"
                }
                crate::task::ErrorClass::Auth => "provider_auth",
                crate::task::ErrorClass::InvalidRequest
                | crate::task::ErrorClass::ContextLength => "provider_invalid_request",
                crate::task::ErrorClass::SchemaMismatch => "schema_mismatch",
            },
            ProviderConfigError::Task(e) => e.code(),
        }
    }
}

/// One bad record in an import file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {index}{}: {message}", id.map(|id| format!(" ({id})")).unwrap_or_default())]
pub struct RecordError {
    pub index: usize,
    pub id: Option<TaskId>,
    pub message: String,
}

impl From<redb::Error> for TaskError {
    fn from(e: redb::Error) -> Self {
        TaskError::Storage(e.to_string())
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for TaskError {
            fn from(e: $t) -> Self {
                TaskError::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

//! The one error type every command returns: a stable `code`, one sentence, and
//! where it applies (`field` for form validation, `records` for an import).

use baton_engine::{ImportError, ProviderConfigError, TaskError};
use serde::{Deserialize, Serialize};
use specta::Type;

#[derive(Debug, Clone, Serialize, Deserialize, Type, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub code: String,
    pub message: String,
    /// The input field that is wrong, when one is.
    pub field: Option<String>,
    /// Each bad record of an import file.
    pub records: Vec<RecordProblem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct RecordProblem {
    pub index: u32,
    pub id: Option<String>,
    pub message: String,
}

impl CommandError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        CommandError {
            code: code.to_string(),
            message: message.into(),
            field: None,
            records: Vec::new(),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        CommandError {
            field: Some(field.to_string()),
            ..CommandError::new("invalid_input", message)
        }
    }
}

impl From<TaskError> for CommandError {
    fn from(e: TaskError) -> Self {
        let field = match &e {
            TaskError::Invalid { field, .. } => Some(field.to_string()),
            _ => None,
        };
        CommandError {
            field,
            ..CommandError::new(e.code(), e.to_string())
        }
    }
}

impl From<ImportError> for CommandError {
    fn from(e: ImportError) -> Self {
        let records = match &e {
            ImportError::BadRecords(bad) => bad
                .iter()
                .map(|r| RecordProblem {
                    index: r.index as u32,
                    id: r.id.map(|id| id.to_string()),
                    message: r.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        CommandError {
            records,
            ..CommandError::new(e.code(), e.to_string())
        }
    }
}

impl From<ProviderConfigError> for CommandError {
    fn from(e: ProviderConfigError) -> Self {
        let field = match &e {
            ProviderConfigError::Invalid { field, .. } => Some(field.to_string()),
            // The keychain refused the key the person typed: say so next to it.
            ProviderConfigError::Key(_) => Some("key".to_string()),
            _ => None,
        };
        CommandError {
            field,
            ..CommandError::new(e.code(), e.to_string())
        }
    }
}

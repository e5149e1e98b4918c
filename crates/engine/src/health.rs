//! Whether the engine can write its database.
//!
//! The writer owns it: a batch that fails on an I/O error (a full disk) makes
//! the engine [`Health::Unwritable`] until the writer has opened the file again
//! and a commit succeeds. Hosts show it (`/health`, the desktop's top bar, the
//! CLI) and watch it with [`crate::Engine::watch_health`].

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Whether the engine can write its database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Health {
    /// Writes commit.
    Ok,
    /// Writes fail with a `storage` error. Nothing acknowledged is lost: the
    /// outcomes of running attempts are kept and stored once writing works
    /// again, which the engine tries by itself (no restart needed).
    Unwritable {
        since: DateTime<Utc>,
        /// One sentence: what failed, e.g. "No space left on device".
        message: String,
    },
}

impl Health {
    pub fn is_ok(&self) -> bool {
        matches!(self, Health::Ok)
    }
}

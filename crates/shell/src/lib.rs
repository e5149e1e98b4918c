//! Baton's app shell, without a GUI toolkit: what the desktop window's
//! commands do and what they hold. The desktop app (`src-tauri`) hosts it and
//! turns its events into Tauri events; nothing here links a webview, so a
//! process without one can hold it too.
//!
//! # Layout
//! - `state`: [`AppState`] (the engine, opened off the main thread, its
//!   catalog, the settings, the shared-queue choice) and the [`Host`] it
//!   reports to.
//! - `commands`: the window's commands by concern, listed once in
//!   [`for_each_command`]; `dispatch`: any of them by name, arguments as JSON
//!   (for a window in another process).
//! - `follow`: engine events to the window, the catalog, the tray status and
//!   notifications.
//! - `notices`: what a notification says and what a click on it opens.
//! - `link`: the socket a window in another process uses (requests, answers,
//!   events as JSON lines).
//! - `queue`: the shared queue (PostgreSQL) and its password in the keychain.
//! - `logging`: the log file both processes write.
//! - `settings`, `error`: the rest.

pub mod commands;
pub mod dispatch;
mod error;
pub mod follow;
pub mod link;
pub mod logging;
pub mod notices;
pub mod queue;
pub mod settings;
mod state;
#[cfg(test)]
mod testing;

pub use error::{CommandError, RecordProblem};
pub use follow::{follow, EngineStatus, ToWindow};
pub use queue::{Keychain, MemoryPasswords, PasswordStore};
pub use settings::Settings;
pub use state::{default_data_dir, log_dir, AppState, Host};

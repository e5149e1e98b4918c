//! Baton's desktop shell: the Tauri app that hosts the web UI in `ui/`.
//!
//! The shell stays thin. Task orchestration lives in the engine crate (`crates/engine`), which
//! this crate will call from its commands; nothing here holds task state of its own.
//!
//! # Layout
//! - [`builder`]: configures a [`tauri::Builder`] for any [`Runtime`], so the real app and
//!   tests under `tauri::test::mock_builder()` are set up by the same code.
//! - [`run`]: the entry point of the `baton-desktop` binary.

use tauri::{Builder, Runtime};
use tracing_subscriber::EnvFilter;

/// Adds Baton's plugins, state and commands to `builder`.
///
/// The window itself is declared in `tauri.conf.json` (label `main`), and what it may call is
/// granted in `src-tauri/capabilities/`.
pub fn builder<R: Runtime>(builder: Builder<R>) -> Builder<R> {
    builder
}

/// Starts the desktop app and blocks until its last window closes.
///
/// Log verbosity follows `RUST_LOG` (default `info`).
pub fn run() -> tauri::Result<()> {
    // try_init: a second subscriber (a test harness, an embedding host) is not an error.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();

    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting Baton");
    builder(tauri::Builder::default()).run(tauri::generate_context!())
}

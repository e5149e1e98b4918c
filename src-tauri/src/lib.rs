//! Baton's window: the Tauri app that hosts the web UI in `ui/`. The engine
//! is not here: it runs in the runner (`baton-tray`, crates/tray), which
//! holds it with the tray and notifications in a process without a webview,
//! so the app in the tray stays light (docs/tray-runner.md). This process is
//! a client of it: it starts it when none answers, forwards every command to
//! it over its socket and passes its events to the page; closing the window
//! ends this process, and the runner going away closes the window.
//!
//! # Layout
//! - [`configure`] and [`start`]: commands, state and the link to the runner
//!   on any [`Runtime`], so the real app and tests under
//!   `tauri::test::mock_builder()` share the code.
//! - [`run`]: the real app: plugins, logging, the single window.
//! - `runner`: the link to the runner, and starting it.
//! - `bindings`: the typed IPC surface (the shell's commands, generated from
//!   its list, and the window's own in `commands`) and its generated TypeScript.
//! - `events`: the runner's events as typed Tauri events.
//! - `window`: the main window.
//! - `updates`: the signed release feed, checked at start and when the tray asks.

mod bindings;
mod commands;
mod events;
mod runner;
mod updates;
mod window;

pub use baton_shell::{default_data_dir, CommandError};
pub use bindings::{export as export_bindings, BINDINGS_PATH};

use std::path::PathBuf;
use tauri::{AppHandle, Builder, Manager, Runtime};

/// The flag the tray's "Check for updates…" starts the window with.
pub const CHECK_UPDATES_ARG: &str = "--check-updates";

/// Where and how the window runs.
pub struct ShellOptions {
    pub data_dir: PathBuf,
    /// The real app: start the runner when none answers, check for updates.
    /// Tests serve a runner in-process and connect to it.
    pub start_runner: bool,
}

/// Registers the commands; at setup, [`start`]s the window's side.
pub fn configure<R: Runtime>(builder: Builder<R>, options: ShellOptions) -> Builder<R> {
    builder
        .invoke_handler(bindings::builder::<R>().invoke_handler())
        .setup(move |app| start(app.handle(), &options))
}

/// Manages the state the commands use and connects to the runner in the
/// background (commands wait for the link). Tests call it directly on a mock
/// app, whose setup hook only runs when it runs.
pub fn start<R: Runtime>(
    app: &AppHandle<R>,
    options: &ShellOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    bindings::builder::<R>().mount_events(app);
    app.manage(runner::Runner::default());
    updates::Updates::manage(app, options.start_runner);
    runner::connect(app, options.data_dir.clone(), options.start_runner);
    if options.start_runner {
        // The version in the app's config: what the updater compares with the feed.
        tracing::info!(version = %app.package_info().version, "app version");
        if std::env::args().any(|arg| arg == CHECK_UPDATES_ARG) {
            updates::check_asked(app);
        } else {
            updates::check_at_start(app);
        }
    }
    tracing::info!("window started");
    Ok(())
}

/// Starts the window and blocks until it closes.
pub fn run() -> Result<(), String> {
    let data_dir =
        default_data_dir().ok_or("cannot find a per-user data directory; set BATON_DATA_DIR")?;
    let _log_guard = baton_shell::logging::init(&baton_shell::log_dir(&data_dir));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "starting Baton's window"
    );

    // Start at login used to run this program with --hidden: now that is the
    // runner's to do alone, without a window.
    if std::env::args().any(|arg| arg == runner::HIDDEN_ARG) {
        tracing::info!("starting the runner in the tray");
        return runner::start_runner(&[runner::HIDDEN_ARG]);
    }
    let builder = tauri::Builder::default()
        // First, so a second launch hands over before anything else starts:
        // one window per data directory's user session.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            window::show(app);
            if args.iter().any(|arg| arg == CHECK_UPDATES_ARG) {
                updates::check_asked(app);
            }
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        // Verifies every bundle against tauri.conf.json's public key.
        .plugin(tauri_plugin_updater::Builder::new().build())
        // Start-up milestones for the log (and the cold-start benchmark).
        .on_page_load(|webview, payload| {
            tracing::info!(window = webview.label(), event = ?payload.event(), "page load");
        });
    configure(
        builder,
        ShellOptions {
            data_dir,
            start_runner: true,
        },
    )
    .run(tauri::generate_context!())
    .map_err(|e| e.to_string())?;
    tracing::info!("window closed");
    Ok(())
}

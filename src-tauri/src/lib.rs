//! Baton's desktop shell: the Tauri app that hosts the web UI in `ui/` and the
//! app shell (`crates/shell`: the engine, settings, the window's commands)
//! in-process.
//!
//! This crate stays thin: the shell's commands become Tauri commands, its
//! events Tauri events; closing the window destroys it (and its webview) while
//! the engine keeps working in the tray, Show makes it again, and the tray's
//! Quit shuts down gracefully.
//!
//! # Layout
//! - [`configure`] and [`start`]: commands, state and event forwarding on any
//!   [`Runtime`], so the real app and tests under `tauri::test::mock_builder()`
//!   share the code.
//! - [`run`]: the real app: plugins, logging, tray, window behaviour.
//! - `bindings`: the typed IPC surface (the shell's commands, generated from
//!   its list, and the window's own in `commands`) and its generated TypeScript.
//! - `events`: the shell's events as Tauri events; the `Host` the shell reports to.
//! - `notifications`: native notifications, and opening what one names when
//!   it is clicked.
//! - `window`: the main window, made again on Show after a close.
//! - `updates`: the signed release feed, checked at start and from the tray.
//! - `tray`: the tray icon and its menu.

mod bindings;
mod commands;
mod events;
mod notifications;
mod tray;
mod updates;
mod window;

pub use baton_shell::{default_data_dir, AppState, CommandError, Settings};
pub use baton_shell::{Keychain, MemoryPasswords, PasswordStore};
pub use bindings::{export as export_bindings, BINDINGS_PATH};

use std::path::PathBuf;
use std::sync::Arc;
use tauri::{AppHandle, Builder, Manager, RunEvent, Runtime, WindowEvent};

/// Where and how the shell runs.
pub struct ShellOptions {
    pub data_dir: PathBuf,
    /// Create the tray icon (the real app; not under the mock runtime).
    pub tray: bool,
    /// Where the shared queue's password is kept: the OS [`Keychain`] (tests
    /// pass [`MemoryPasswords`]).
    pub passwords: Arc<dyn PasswordStore>,
}

/// Registers the commands; at setup, [`start`]s the shell.
pub fn configure<R: Runtime>(builder: Builder<R>, options: ShellOptions) -> Builder<R> {
    builder
        .invoke_handler(bindings::builder::<R>().invoke_handler())
        .setup(move |app| start(app.handle(), &options))
}

/// Manages the state the commands use, opens the engine in the background and
/// then forwards its events, and (for the real app) creates the tray. Tests
/// call it directly on a mock app, whose setup hook only runs when it runs.
///
/// Setup runs on the main thread, which the window needs: the engine opens on
/// the async runtime so a large or crash-repaired database never delays the
/// window (commands wait for it; see `AppState::engine`).
pub fn start<R: Runtime>(
    app: &AppHandle<R>,
    options: &ShellOptions,
) -> Result<(), Box<dyn std::error::Error>> {
    bindings::builder::<R>().mount_events(app);
    let host = Arc::new(events::AppHost { app: app.clone() });
    app.manage(AppState::new(
        &options.data_dir,
        host,
        options.passwords.clone(),
    )?);
    notifications::open_on_click(app);
    // Before the tray, whose "Check for updates…" uses it.
    updates::Updates::manage(app, options.tray);
    if options.tray {
        quit_on_signal(app.clone());
        tray::create(app)?;
        // The version in the app's config: what the updater compares with the feed.
        tracing::info!(version = %app.package_info().version, "app version");
        updates::check_at_start(app);
    }
    let app = app.clone();
    let data_dir = options.data_dir.clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        match state.open_engine().await {
            Ok((engine, events)) => {
                tracing::info!(data_dir = %data_dir.display(), "engine started");
                baton_shell::follow(&state, engine, events, false);
            }
            // Every command answers with this sentence; the window shows it.
            Err(e) => tracing::error!(error = %e, "the engine did not start"),
        }
    });
    tracing::info!("shell started");
    Ok(())
}

/// SIGTERM (the session ending, `kill`) and SIGINT quit like the tray's Quit:
/// running attempts get their grace period and the database is closed cleanly,
/// so the next start neither counts an interrupted attempt nor repairs the file.
/// Windows has no signals: its console events (Ctrl-C, Ctrl-Break, the console
/// closed) do the same for a build run from a console. A release build has no
/// console, and Windows tells a GUI app of the session ending with a window
/// message instead: see [`shutdown_at_exit`].
fn quit_on_signal<R: Runtime>(app: AppHandle<R>) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for SIGTERM/SIGINT; they will stop the app at once");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: quitting"),
            _ = int.recv() => tracing::info!("SIGINT: quitting"),
        }
        tray::quit(&app);
    });
    #[cfg(windows)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close};
        // Logoff and shutdown events reach services only, not an app that has windows.
        let (Ok(mut int), Ok(mut brk), Ok(mut close)) = (ctrl_c(), ctrl_break(), ctrl_close())
        else {
            tracing::warn!("cannot listen for console events; they will stop the app at once");
            return;
        };
        // tokio holds the console's close event until the process exits, so the
        // grace period runs (Windows ends the process after about 5 s anyway).
        tokio::select! {
            _ = int.recv() => tracing::info!("Ctrl-C: quitting"),
            _ = brk.recv() => tracing::info!("Ctrl-Break: quitting"),
            _ = close.recv() => tracing::info!("console closed: quitting"),
        }
        tray::quit(&app);
    });
    #[cfg(not(any(unix, windows)))]
    let _ = app;
}

/// The longest the app waits at exit for the engine to stop (its grace period
/// for running attempts is 5 s), so a session's end is never held up for long.
#[cfg(not(target_os = "linux"))]
const EXIT_SHUTDOWN_LIMIT: std::time::Duration = std::time::Duration::from_secs(6);

/// macOS (Quit in the app menu or the Dock, logging out) and Windows (the
/// session ending) exit the event loop without the tray's Quit, and the
/// process ends right after this event; so the engine is shut down here,
/// waiting at most [`EXIT_SHUTDOWN_LIMIT`]. After the tray's Quit it has
/// already stopped, and this returns at once. Linux has SIGTERM for this.
#[cfg(not(target_os = "linux"))]
fn shutdown_at_exit<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else {
        return;
    };
    let stopped =
        tauri::async_runtime::block_on(tokio::time::timeout(EXIT_SHUTDOWN_LIMIT, state.shutdown()));
    if stopped.is_err() {
        tracing::warn!("the engine did not stop in time; the next start recovers its tasks");
    }
}

/// Starts the desktop app and blocks until it quits.
pub fn run() -> Result<(), String> {
    let data_dir =
        default_data_dir().ok_or("cannot find a per-user data directory; set BATON_DATA_DIR")?;
    let _log_guard = baton_shell::logging::init(&baton_shell::log_dir(&data_dir));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting Baton");

    let mut context = tauri::generate_context!();
    if std::env::args().any(|arg| arg == window::HIDDEN_ARG) {
        tracing::info!("starting in the tray");
        window::start_hidden(&mut context);
    }
    let builder = tauri::Builder::default()
        // First, so a second launch hands over before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            window::show(app)
        }))
        .plugin(tauri_plugin_notification::init())
        // Started at login, the app goes to the tray: no window, no webview.
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg(window::HIDDEN_ARG)
                .build(),
        )
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        // Verifies every bundle against tauri.conf.json's public key.
        .plugin(tauri_plugin_updater::Builder::new().build())
        // Start-up milestones for the log (and the cold-start benchmark).
        .on_page_load(|webview, payload| {
            tracing::info!(window = webview.label(), event = ?payload.event(), "page load");
        })
        .on_window_event(|window, event| {
            if let WindowEvent::Destroyed = event {
                tracing::info!(
                    window = window.label(),
                    "window closed; the engine runs on in the tray"
                );
                // Queued behind this event, so the webview has been dropped by then.
                let app = window.app_handle().clone();
                let _ = window
                    .app_handle()
                    .run_on_main_thread(move || window::release_memory(&app));
            }
        });
    configure(
        builder,
        ShellOptions {
            data_dir,
            tray: true,
            passwords: Arc::new(Keychain),
        },
    )
    .build(context)
    .map_err(|e| e.to_string())?
    .run(|_app, event| match event {
        // Without a code, the last window closed: the app stays in the tray.
        // Quit and signals exit with a code (`tray::quit`), and still exit.
        RunEvent::ExitRequested {
            api, code: None, ..
        } => api.prevent_exit(),
        #[cfg(not(target_os = "linux"))]
        RunEvent::Exit => shutdown_at_exit(_app),
        _ => {}
    });
    Ok(())
}

//! Baton's runner (`baton-tray`): the engine, the tray and notifications in a
//! process that links no webview, so the app in the tray holds tens of MiB,
//! not the hundreds a WebKit process starts at (docs/tray-runner.md). The
//! window (`baton-desktop`) is a client of it over the shell's socket.
//!
//! # Layout
//! - [`main`]: arguments, the single-instance lock, logging, the runtime.
//! - `runner`: what runs: the shell's state and its socket, the tray, the
//!   notifications, the engine, and Quit (the tray's, SIGTERM, SIGINT).
//! - `host`: the [`baton_shell::Host`] it is: events to the connected windows,
//!   the status to the tray, notices to the notification server.
//! - `tray`: the StatusNotifierItem and its menu (Linux, over D-Bus).
//! - `notify`: notifications over D-Bus, and what a click on one opens.
//! - `window`: starting the window process.

mod host;
mod notify;
mod runner;
#[cfg(target_os = "linux")]
mod tray;
mod window;

pub use runner::InProcess;
use std::path::PathBuf;
use std::process::ExitCode;

/// The flag to start in the tray without a window (start at login passes it).
pub const HIDDEN_ARG: &str = "--hidden";

/// Where the runner keeps its single-instance lock, in the data directory.
pub const LOCK_FILE: &str = "runner.lock";

const USAGE: &str = "usage: baton-tray [--hidden]

Runs Baton's engine in the tray; the window (baton-desktop) connects to it.
  --hidden   start without opening the window (as at login)
The data directory is BATON_DATA_DIR, else the per-user one.";

/// Where and how the runner runs.
pub struct Options {
    pub data_dir: PathBuf,
    /// Start without the window.
    pub hidden: bool,
}

/// Runs the runner until Quit; the exit code is 0 after a clean shutdown and
/// when another runner already serves the data directory.
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    let mut hidden = false;
    for arg in args {
        match arg.as_str() {
            HIDDEN_ARG => hidden = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("baton-tray: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(data_dir) = baton_shell::default_data_dir() else {
        eprintln!("baton-tray: cannot find a per-user data directory; set BATON_DATA_DIR");
        return ExitCode::FAILURE;
    };
    if let Err(e) = baton_engine::create_private_dir(&data_dir) {
        eprintln!("baton-tray: cannot create {}: {e}", data_dir.display());
        return ExitCode::FAILURE;
    }
    let options = Options { data_dir, hidden };

    // Held until the process exits: one runner per data directory. The
    // database's own lock would refuse a second engine, but only after the
    // second runner had taken the socket from the first.
    let _lock = match runner::lock(&options.data_dir) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            // A second launch: the running one serves; show its window.
            if !options.hidden {
                window::show(&[]);
            }
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!(
                "baton-tray: cannot lock {}: {e}",
                options.data_dir.join(LOCK_FILE).display()
            );
            return ExitCode::FAILURE;
        }
    };
    let _log = baton_shell::logging::init(&baton_shell::log_dir(&options.data_dir));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        "starting Baton's runner"
    );

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("baton-tray: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(runner::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the runner stopped");
            eprintln!("baton-tray: {e}");
            ExitCode::FAILURE
        }
    }
}

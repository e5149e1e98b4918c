//! Starting the window, a process of its own (`baton-desktop`, beside the
//! runner's executable). A window already open is brought forward by the
//! window's own single-instance handover, so starting another is always right.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Asks a window to check the release feed as it opens (the updater lives in
/// the window: it replaces the app's files and restarts it).
pub const CHECK_UPDATES_ARG: &str = "--check-updates";

/// The window program: `BATON_WINDOW_BIN` when set (tests record what the
/// runner starts), else `baton-desktop` beside this executable.
fn program() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("BATON_WINDOW_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    let exe = std::env::current_exe().ok()?;
    Some(exe.with_file_name(format!("baton-desktop{}", std::env::consts::EXE_SUFFIX)))
}

/// Starts the window with `args`; the runner does not wait for it.
pub fn show(args: &[&str]) {
    let Some(program) = program() else {
        tracing::error!("cannot find the window program beside the runner");
        return;
    };
    let started = Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .spawn();
    match started {
        Ok(mut child) => {
            tracing::info!(pid = child.id(), ?args, "started the window");
            // Reaped when it exits, so no zombie is left behind.
            let _ = std::thread::Builder::new()
                .name("window-reaper".into())
                .spawn(move || child.wait());
        }
        Err(e) => {
            tracing::error!(program = %program.display(), error = %e, "could not start the window")
        }
    }
}

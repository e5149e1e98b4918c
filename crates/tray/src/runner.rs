//! What the runner runs, from start to Quit.

use crate::host::RunnerHost;
use crate::window;
use crate::Options;
use baton_shell::link::{self, Windows};
use baton_shell::{AppState, EngineStatus, Keychain};
use std::fs::{File, TryLockError};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the tray's menu and the notification server ask the runner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Show the window (start it, or bring the open one forward).
    Show,
    TogglePause,
    /// Show the window and have it ask the release feed (the updater lives there).
    CheckUpdates,
    /// A notification was clicked: open what it names in the window.
    Open(baton_shell::notices::OpenTarget),
    Quit,
}

/// Takes the data directory's runner lock; `None` when another runner holds it.
pub fn lock(data_dir: &Path) -> std::io::Result<Option<File>> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(crate::LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Serves windows and runs the engine until Quit (the tray's, SIGTERM or
/// SIGINT), then shuts it down gracefully: running attempts get their grace
/// period and the database is closed, as the desktop's Quit did.
pub async fn run(options: Options) -> Result<(), String> {
    let (actions, mut asked) = mpsc::unbounded_channel();
    let windows = Windows::default();
    let host = Arc::new(RunnerHost::new(windows.clone()));
    let state = Arc::new(AppState::new(
        &options.data_dir,
        host.clone(),
        Arc::new(Keychain),
    )?);

    let serving = tokio::spawn({
        let (data_dir, state) = (options.data_dir.clone(), state.clone());
        async move {
            if let Err(e) = windows.serve(&data_dir, state).await {
                tracing::error!(error = %e, "windows cannot connect: the socket failed");
            }
        }
    });
    host.start_desktop(actions.clone()).await;
    quit_on_signal(actions.clone());

    let opening = state.clone();
    let data_dir = options.data_dir.clone();
    tokio::spawn(async move {
        match opening.open_engine().await {
            Ok((engine, events)) => {
                tracing::info!(data_dir = %data_dir.display(), "engine started");
                baton_shell::follow(&opening, engine, events, false);
            }
            // Every command answers with this sentence; the window shows it.
            Err(e) => tracing::error!(error = %e, "the engine did not start"),
        }
    });
    if !options.hidden {
        window::show(&[]);
    }
    tracing::info!("runner started");

    while let Some(action) = asked.recv().await {
        match action {
            Action::Show => window::show(&[]),
            Action::CheckUpdates => window::show(&[window::CHECK_UPDATES_ARG]),
            Action::Open(target) => {
                tracing::info!(?target, "notification clicked");
                state.request_open(target);
                host.windows().send(link::WindowEvent::open_requested());
                window::show(&[]);
            }
            Action::TogglePause => {
                if let Ok(engine) = state.engine().await {
                    engine.set_paused(!engine.is_paused());
                    EngineStatus::publish(&*state.host, &engine).await;
                }
            }
            Action::Quit => break,
        }
    }
    tracing::info!("quitting");
    state.shutdown().await;
    // Windows see their link close and exit with it.
    serving.abort();
    let _ = std::fs::remove_file(link::socket_path(&options.data_dir));
    tracing::info!("engine stopped; bye");
    Ok(())
}

/// SIGTERM (the session ending, `kill`) and SIGINT quit like the tray's Quit.
fn quit_on_signal(actions: mpsc::UnboundedSender<Action>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for SIGTERM/SIGINT; they will stop the runner at once");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: quitting"),
            _ = int.recv() => tracing::info!("SIGINT: quitting"),
        }
        let _ = actions.send(Action::Quit);
    });
    #[cfg(windows)]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C: quitting");
            let _ = actions.send(Action::Quit);
        }
    });
}

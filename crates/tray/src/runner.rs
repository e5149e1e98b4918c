//! What the runner runs, from start to Quit.

use crate::host::RunnerHost;
use crate::window;
use crate::Options;
use baton_shell::link::{self, Windows};
use baton_shell::{AppState, EngineStatus, Keychain, PasswordStore};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the tray's menu, the notification server and the window ask the runner to do.
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

/// Takes the data directory's runner lock, and writes this process's id in
/// the file (for people and tests looking for the runner); `None` when
/// another runner holds it.
pub fn lock(data_dir: &Path) -> std::io::Result<Option<File>> {
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(crate::LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::Write;
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())?;
            Ok(Some(file))
        }
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The runner's core: the shell's state, serving windows on the socket, and
/// the engine opening in the background.
struct Core {
    data_dir: PathBuf,
    state: Arc<AppState>,
    host: Arc<RunnerHost>,
    actions: mpsc::UnboundedReceiver<Action>,
    serving: tokio::task::JoinHandle<()>,
}

impl Core {
    async fn start(data_dir: &Path, passwords: Arc<dyn PasswordStore>) -> Result<Core, String> {
        let (asked, actions) = mpsc::unbounded_channel();
        let windows = Windows::default();
        let host = Arc::new(RunnerHost::new(windows.clone(), asked));
        let state = Arc::new(AppState::new(data_dir, host.clone(), passwords)?);
        let serving = tokio::spawn({
            let (data_dir, state) = (data_dir.to_path_buf(), state.clone());
            async move {
                if let Err(e) = serve(windows, &data_dir, state).await {
                    tracing::error!(error = %e, "windows cannot connect: the socket failed");
                }
            }
        });
        let opening = state.clone();
        let shown = data_dir.display().to_string();
        tokio::spawn(async move {
            match opening.open_engine().await {
                Ok((engine, events)) => {
                    tracing::info!(data_dir = %shown, "engine started");
                    baton_shell::follow(&opening, engine, events, false);
                }
                // Every command answers with this sentence; the window shows it.
                Err(e) => tracing::error!(error = %e, "the engine did not start"),
            }
        });
        Ok(Core {
            data_dir: data_dir.to_path_buf(),
            state,
            host,
            actions,
            serving,
        })
    }

    /// Does what is asked until Quit. `windows`: start window processes (the
    /// real runner); else Show is only logged (an in-process runner in tests).
    async fn run_until_quit(&mut self, windows: bool) {
        let show = |args: &[&str]| {
            if windows {
                window::show(args);
            } else {
                tracing::info!(?args, "a window was asked for");
            }
        };
        while let Some(action) = self.actions.recv().await {
            match action {
                Action::Show => show(&[]),
                Action::CheckUpdates => show(&[window::CHECK_UPDATES_ARG]),
                Action::Open(target) => {
                    tracing::info!(?target, "notification clicked");
                    self.state.request_open(target);
                    self.host
                        .windows()
                        .send(link::WindowEvent::open_requested());
                    show(&[]);
                }
                Action::TogglePause => {
                    if let Ok(engine) = self.state.engine().await {
                        engine.set_paused(!engine.is_paused());
                        EngineStatus::publish(&*self.state.host, &engine).await;
                    }
                }
                Action::Quit => break,
            }
        }
    }

    /// Shuts the engine down gracefully (running attempts get their grace
    /// period, the database is closed), then stops serving: windows see their
    /// link close and exit with it.
    async fn shutdown(self) {
        tracing::info!("quitting");
        self.state.shutdown().await;
        self.serving.abort();
        let _ = self.serving.await;
        let _ = std::fs::remove_file(link::socket_path(&self.data_dir));
        tracing::info!("engine stopped; bye");
    }
}

#[cfg(unix)]
async fn serve(windows: Windows, data_dir: &Path, state: Arc<AppState>) -> std::io::Result<()> {
    windows.serve(data_dir, state).await
}

/// The socket is Unix's; a named pipe for Windows is not built (docs/tray-runner.md).
#[cfg(not(unix))]
async fn serve(_: Windows, _: &Path, _: Arc<AppState>) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "windows connect over a Unix socket, which this system lacks",
    ))
}

/// Serves windows and runs the engine until Quit (the tray's, the window's,
/// SIGTERM or SIGINT), then shuts it down gracefully.
pub async fn run(options: Options) -> Result<(), String> {
    let mut core = Core::start(&options.data_dir, Arc::new(Keychain)).await?;
    core.host.start_desktop().await;
    quit_on_signal(core.host.clone());
    if !options.hidden {
        window::show(&[]);
    }
    tracing::info!("runner started");
    core.run_until_quit(true).await;
    core.shutdown().await;
    Ok(())
}

/// A runner inside this process, without a tray, notifications or window
/// processes: for tests of a window, which connect to it over its socket as
/// to a real one.
pub struct InProcess {
    state: Arc<AppState>,
    quit: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

impl InProcess {
    /// Serves `data_dir` (its socket is ready when this returns), keeping the
    /// shared queue's password in `passwords`.
    pub async fn start(
        data_dir: &Path,
        passwords: Arc<dyn PasswordStore>,
    ) -> Result<InProcess, String> {
        let mut core = Core::start(data_dir, passwords).await?;
        let state = core.state.clone();
        let socket = link::socket_path(data_dir);
        // Serving has begun once the socket answers.
        while tokio::net::UnixStream::connect(&socket).await.is_err() {
            if core.serving.is_finished() {
                return Err(format!("cannot serve {}", socket.display()));
            }
            tokio::task::yield_now().await;
        }
        let (quit, asked) = tokio::sync::oneshot::channel();
        let done = tokio::spawn(async move {
            tokio::select! {
                _ = core.run_until_quit(false) => {}
                _ = asked => {}
            }
            core.shutdown().await;
        });
        Ok(InProcess { state, quit, done })
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Quits as the tray's Quit does, and waits until it has.
    pub async fn quit(self) {
        let _ = self.quit.send(());
        let _ = self.done.await;
    }
}

/// SIGTERM (the session ending, `kill`) and SIGINT quit like the tray's Quit.
fn quit_on_signal(host: Arc<RunnerHost>) {
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
        baton_shell::Host::quit(&*host);
    });
    #[cfg(windows)]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C: quitting");
            baton_shell::Host::quit(&*host);
        }
    });
}

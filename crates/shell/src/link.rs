//! The window's link to a shell in another process (docs/tray-runner.md): a
//! Unix socket in the data directory, JSON lines both ways. The window sends
//! [`Request`]s; the shell answers each by its id and sends every
//! [`WindowEvent`] to every connected window.
//!
//! The socket is Unix's; a named pipe would serve Windows, not built yet
//! (docs/tray-runner.md), so there only the messages are.
//!
//! Only the same user can connect: the socket is made owner-only inside the
//! owner-only data directory, as the database beside it is.

use crate::error::CommandError;
use crate::follow::{EngineStatus, ToWindow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::broadcast;
#[cfg(unix)]
use {
    crate::dispatch::dispatch,
    crate::state::AppState,
    std::collections::HashMap,
    std::sync::atomic::{AtomicBool, AtomicU64, Ordering},
    std::sync::Mutex,
};
#[cfg(unix)]
use {
    tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    tokio::net::{UnixListener, UnixStream},
    tokio::sync::{mpsc, oneshot},
};

/// `<data-dir>/window.sock`.
pub const SOCKET_FILE: &str = "window.sock";

/// The names of the window's events, as the page listens for them (the
/// desktop's typed Tauri events; a test there checks they agree).
pub const TASK_EVENT: &str = "task-event";
pub const SCHEDULE_CHANGED: &str = "schedule-changed";
pub const RESYNC: &str = "resync";
pub const STATUS_CHANGED: &str = "status-changed";
/// A notification was clicked: the page takes the request (`take_open_request`).
pub const OPEN_REQUESTED: &str = "open-requested";

/// How many events a slow window may fall behind before it is told to reload.
const EVENT_BUFFER: usize = 4096;

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// A command the window asks for.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub cmd: String,
    #[serde(default)]
    pub args: Value,
}

/// An event for the window: the name the page listens for, and its payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowEvent {
    pub event: String,
    pub payload: Value,
}

impl WindowEvent {
    pub fn of(event: &ToWindow) -> WindowEvent {
        let (name, payload) = match event {
            ToWindow::Task(event) => (TASK_EVENT, serde_json::to_value(event)),
            ToWindow::Schedule(event) => (SCHEDULE_CHANGED, serde_json::to_value(event)),
            ToWindow::Resync { missed } => (RESYNC, Ok(serde_json::json!({ "missed": missed }))),
        };
        WindowEvent {
            event: name.to_string(),
            payload: payload.unwrap_or(Value::Null),
        }
    }

    /// Tells the page a clicked notification left it something to open.
    pub fn open_requested() -> WindowEvent {
        WindowEvent {
            event: OPEN_REQUESTED.to_string(),
            payload: Value::Null,
        }
    }

    pub fn status(status: &EngineStatus) -> WindowEvent {
        WindowEvent {
            event: STATUS_CHANGED.to_string(),
            payload: serde_json::to_value(status).unwrap_or(Value::Null),
        }
    }
}

/// One line from the shell: an answer to a request, or an event.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FromShell {
    Answer {
        id: u64,
        #[serde(default)]
        ok: Option<Value>,
        #[serde(default)]
        err: Option<CommandError>,
    },
    Event(WindowEvent),
}

/// The shell's side: what its host sends every connected window.
#[derive(Clone)]
pub struct Windows {
    events: broadcast::Sender<Arc<str>>,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            events: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

impl Windows {
    /// Sends `event` to every window connected now; none is not an error.
    pub fn send(&self, event: WindowEvent) {
        let _ = self.events.send(line(&FromShell::Event(event)).into());
    }

    #[cfg(unix)]
    /// Listens on `<data_dir>/window.sock` (replacing a socket file a process
    /// that died left; the caller holds the database, so no other shell of this
    /// data directory is running) and serves every window that connects, until
    /// the task is dropped.
    pub async fn serve(self, data_dir: &Path, state: Arc<AppState>) -> std::io::Result<()> {
        let path = socket_path(data_dir);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = UnixListener::bind(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        // Owned here, so the connections end with this task.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = accepted?;
                    let events = self.events.subscribe();
                    connections.spawn(connection(stream, state.clone(), events));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }
}

fn line(message: &FromShell) -> String {
    let mut text = serde_json::to_string(message).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(unix)]
/// Serves one window until it disconnects: each request runs on a task of its
/// own (as Tauri runs async commands), its answer and the events share the
/// one writer.
async fn connection(
    stream: UnixStream,
    state: Arc<AppState>,
    mut events: broadcast::Receiver<Arc<str>>,
) {
    let (read, mut write) = stream.into_split();
    let (answers, mut answered) = mpsc::unbounded_channel::<String>();
    let writer = async move {
        loop {
            let text: Arc<str> = tokio::select! {
                answer = answered.recv() => match answer {
                    Some(answer) => answer.into(),
                    None => break,
                },
                event = events.recv() => match event {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        let missed = missed.min(u32::MAX as u64) as u32;
                        line(&FromShell::Event(WindowEvent::of(&ToWindow::Resync { missed }))).into()
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            };
            if write.write_all(text.as_bytes()).await.is_err() {
                break;
            }
        }
    };
    let reader = async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(text)) = lines.next_line().await {
            let request: Request = match serde_json::from_str(&text) {
                Ok(request) => request,
                Err(e) => {
                    tracing::warn!(error = %e, "a window sent a line that is not a request; closing its link");
                    break;
                }
            };
            let state = state.clone();
            let answers = answers.clone();
            tokio::spawn(async move {
                let result = dispatch(&state, &request.cmd, request.args).await;
                let (ok, err) = match result {
                    Ok(value) => (Some(value), None),
                    Err(e) => (None, Some(e)),
                };
                let _ = answers.send(line(&FromShell::Answer {
                    id: request.id,
                    ok,
                    err,
                }));
            });
        }
    };
    // Either side ending ends the link (and closes the socket).
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
}

#[cfg(unix)]
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, CommandError>>>>>;

/// The window's side: a connection to the shell.
#[cfg(unix)]
pub struct Link {
    write: tokio::sync::Mutex<tokio::net::unix::OwnedWriteHalf>,
    pending: Pending,
    /// The shell closed the connection.
    closed: Arc<AtomicBool>,
    next_id: AtomicU64,
}

#[cfg(unix)]
impl Link {
    /// Connects to the shell serving `data_dir`; its events arrive on the
    /// receiver, which ends when the shell goes away.
    pub async fn connect(
        data_dir: &Path,
    ) -> std::io::Result<(Link, mpsc::UnboundedReceiver<WindowEvent>)> {
        let stream = UnixStream::connect(socket_path(data_dir)).await?;
        let (read, write) = stream.into_split();
        let pending: Pending = Arc::default();
        let (events, received) = mpsc::unbounded_channel();
        let answers = pending.clone();
        let closed = Arc::new(AtomicBool::new(false));
        let closing = closed.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(text)) = lines.next_line().await {
                match serde_json::from_str::<FromShell>(&text) {
                    Ok(FromShell::Event(event)) => {
                        let _ = events.send(event);
                    }
                    Ok(FromShell::Answer { id, ok, err }) => {
                        let waiting = answers
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&id);
                        let result = match (ok, err) {
                            (_, Some(err)) => Err(err),
                            (ok, None) => Ok(ok.unwrap_or(Value::Null)),
                        };
                        if let Some(waiting) = waiting {
                            let _ = waiting.send(result);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the shell sent a line this window cannot read")
                    }
                }
            }
            // The shell is gone: every call waiting hears so, and later ones
            // see `closed` (set first, so none waits for ever).
            closing.store(true, Ordering::SeqCst);
            answers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        });
        let link = Link {
            write: tokio::sync::Mutex::new(write),
            pending,
            closed,
            next_id: AtomicU64::new(1),
        };
        Ok((link, received))
    }

    /// Runs `cmd` in the shell and waits for its answer.
    pub async fn call(&self, cmd: &str, args: Value) -> Result<Value, CommandError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        let request = Request {
            id,
            cmd: cmd.to_string(),
            args,
        };
        let mut text = serde_json::to_string(&request).map_err(|e| {
            CommandError::new("internal", format!("the request could not be encoded: {e}"))
        })?;
        text.push('\n');
        let sent = self.write.lock().await.write_all(text.as_bytes()).await;
        if sent.is_err() || self.closed.load(Ordering::SeqCst) {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }
}

#[cfg(unix)]
fn gone() -> CommandError {
    CommandError::new("runner_gone", "The Baton runner has stopped.")
}

#[cfg(all(test, unix))]
mod tests;

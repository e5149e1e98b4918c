//! The window's link to the runner (`baton-tray`, which holds the engine):
//! connecting at start, starting the runner when none answers, forwarding
//! commands, and turning the runner's events into Tauri events. When the
//! runner goes away (Quit in the tray, SIGTERM), the window closes with it.

use baton_shell::link::{Link, WindowEvent};
use baton_shell::CommandError;
use serde::Serialize;
use serde_json::Value;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::{mpsc, watch};

/// How long a window waits for a runner it started to serve its socket (it
/// serves before its engine opens, so this is the process starting).
const RUNNER_START_LIMIT: Duration = Duration::from_secs(20);

/// The runner's flag to start without opening a window.
pub const HIDDEN_ARG: &str = "--hidden";

/// The window's side of the link, managed by the app.
pub struct Runner {
    linked: watch::Sender<Linked>,
    /// An installed update is restarting the app: the runner going away is
    /// expected, and the window restarts instead of exiting.
    restarting: AtomicBool,
    /// The runner went away (its socket closed).
    gone: watch::Sender<bool>,
}

#[derive(Clone)]
enum Linked {
    Pending,
    Ready(Arc<Link>),
    /// Why there is no runner, as one sentence.
    Failed(String),
}

impl Default for Runner {
    fn default() -> Self {
        Runner {
            linked: watch::Sender::new(Linked::Pending),
            restarting: AtomicBool::new(false),
            gone: watch::Sender::new(false),
        }
    }
}

impl Runner {
    /// Runs `cmd` in the runner (waiting while the window connects).
    pub async fn call(&self, cmd: &str, args: Value) -> Result<Value, CommandError> {
        let mut linked = self.linked.subscribe();
        let linked = linked
            .wait_for(|l| !matches!(l, Linked::Pending))
            .await
            .map(|l| l.clone())
            .unwrap_or(Linked::Pending);
        match linked {
            Linked::Ready(link) => link.call(cmd, args).await,
            Linked::Failed(why) => Err(CommandError::new("runner_unavailable", why)),
            Linked::Pending => Err(CommandError::new(
                "runner_unavailable",
                "Baton is shutting down.",
            )),
        }
    }

    /// Asks the runner to quit (its engine shuts down gracefully) and waits
    /// until it has gone, at most `limit`; the window stays open.
    pub async fn quit_for_restart(&self, limit: Duration) -> Result<(), CommandError> {
        self.restarting.store(true, Ordering::SeqCst);
        self.call("quit", Value::Null).await?;
        let mut gone = self.gone.subscribe();
        tokio::time::timeout(limit, gone.wait_for(|g| *g))
            .await
            .map(|_| ())
            .map_err(|_| CommandError::new("runner_unavailable", "The Baton runner did not stop."))
    }
}

/// Connects to the runner serving `data_dir` in the background (starting one
/// when `start` and none answers), then passes its events to the page until
/// it goes away, and then exits the app.
pub fn connect<R: Runtime>(app: &AppHandle<R>, data_dir: PathBuf, start: bool) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let runner = app.state::<Runner>();
        let (link, mut events) = match link_to(&data_dir, start).await {
            Ok(linked) => linked,
            Err(why) => {
                tracing::error!(%why, "no runner");
                runner.linked.send_replace(Linked::Failed(why));
                return;
            }
        };
        tracing::info!("connected to the runner");
        runner.linked.send_replace(Linked::Ready(Arc::new(link)));
        while let Some(event) = events.recv().await {
            emit(&app, event);
        }
        runner.gone.send_replace(true);
        if runner.restarting.load(Ordering::SeqCst) {
            return;
        }
        tracing::info!("the runner stopped; the window closes with it");
        runner.linked.send_replace(Linked::Pending);
        app.exit(0);
    });
}

fn emit<R: Runtime>(app: &AppHandle<R>, event: WindowEvent) {
    if let Err(e) = app.emit(&event.event, event.payload) {
        tracing::warn!(error = %e, event = event.event, "could not pass an event to the page");
    }
}

async fn link_to(
    data_dir: &Path,
    start: bool,
) -> Result<(Link, mpsc::UnboundedReceiver<WindowEvent>), String> {
    let first = match Link::connect(data_dir).await {
        Ok(linked) => return Ok(linked),
        Err(e) => e,
    };
    if !start {
        return Err(format!(
            "No Baton runner answers for {}: {first}.",
            data_dir.display()
        ));
    }
    start_runner(&[HIDDEN_ARG])?;
    let deadline = Instant::now() + RUNNER_START_LIMIT;
    loop {
        match Link::connect(data_dir).await {
            Ok(linked) => return Ok(linked),
            Err(e) if Instant::now() > deadline => {
                return Err(format!(
                    "The Baton runner did not start in {} s ({e}); its log is in {}.",
                    RUNNER_START_LIMIT.as_secs(),
                    baton_shell::log_dir(data_dir).display()
                ))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// Starts the runner (`baton-tray`, beside this executable) with `args`; it
/// outlives the window.
pub fn start_runner(args: &[&str]) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let runner = exe.with_file_name(format!("baton-tray{}", std::env::consts::EXE_SUFFIX));
    let mut child = std::process::Command::new(&runner)
        .args(args)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", runner.display()))?;
    tracing::info!(pid = child.id(), "started the runner");
    // Reaped if it exits while this window is open (a second runner does).
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// The runner's answer to a command, passed to the page as it came: its
/// TypeScript type is `T`'s, as if the command answered `T` itself.
pub struct Forwarded<T>(Value, PhantomData<fn() -> T>);

impl<T> Forwarded<T> {
    pub fn new(answer: Value) -> Self {
        Forwarded(answer, PhantomData)
    }
}

impl<T> Serialize for Forwarded<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<T: specta::Type> specta::Type for Forwarded<T> {
    fn definition(types: &mut specta::Types) -> specta::datatype::DataType {
        T::definition(types)
    }
}

/// An argument as the runner reads it (as the page sent it).
pub fn encode<T: Serialize>(arg: &T) -> Result<Value, CommandError> {
    serde_json::to_value(arg).map_err(|e| {
        CommandError::new("internal", format!("an argument could not be encoded: {e}"))
    })
}

/// `parent_id` → `parentId`: the names the bindings give arguments, which
/// `baton_shell::dispatch` reads.
pub fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::camel;

    #[test]
    fn argument_names_are_sent_as_the_bindings_name_them() {
        assert_eq!(camel("parent_id"), "parentId");
        assert_eq!(camel("max_attempts"), "maxAttempts");
        assert_eq!(camel("id"), "id");
    }
}

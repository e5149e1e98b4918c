//! The commands that run the engine in this process, runners: `baton run`
//! ([`runner`]: until a signal, or idle; it serves the HTTP API meanwhile) and
//! `wait` (until every task is finished, or a deadline; it follows a running
//! engine instead when there is one, see `follow`).

use super::{data_dir, follow, open, open_runner, shared_queue};
use crate::args::{RunnerArgs, WaitArgs};
use crate::error::CliError;
use crate::remote::Remote;
use crate::{input, logging, output};
use baton_api::{ApiOptions, ApiServer, RunningApi};
use baton_engine::{Engine, EventKind, StatusCounts, TaskError, DEFAULT_WORKERS};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// `baton run`: a runner in the foreground.
pub async fn runner(db: &Path, args: RunnerArgs) -> Result<(), CliError> {
    let workers = input::workers(args.workers)?;
    // Handlers go in before anything runs, so an early SIGTERM is graceful too.
    let mut signals = Signals::install()?;
    let engine = open_runner(db, workers, args.batch_poll, args.lease).await?;
    // Subscribed to the engine before it starts, so the stream misses nothing.
    let api = match serve(&engine, db, &args).await {
        Ok(api) => api,
        Err(e) => {
            engine.shutdown().await;
            return Err(e);
        }
    };
    engine.start().await;
    let _health = tokio::spawn(report_health(engine.watch_health()));
    let where_ = match shared_queue() {
        Some(url) => baton_engine::PgStore::describe(url),
        None => db.display().to_string(),
    };
    tracing::info!(
        workers,
        db = %where_,
        api = api.as_ref().map_or("off", |a| a.url()),
        "engine started; stop it with Ctrl-C or SIGTERM"
    );
    let idle = async {
        if args.exit_when_idle {
            engine.wait_idle().await
        } else {
            std::future::pending().await
        }
    };
    let result = tokio::select! {
        signal = signals.next() => {
            tracing::info!("{signal}: shutting down; running attempts get a grace period");
            Ok(())
        }
        idle = idle => {
            tracing::info!("nothing left to run: shutting down");
            idle.map_err(CliError::from)
        }
    };
    // The API goes first: its api.json must not name an engine that is stopping.
    if let Some(api) = &api {
        api.shutdown().await;
    }
    stop(&engine, &mut signals).await?;
    result
}

/// Says on the log when the engine can no longer write its database (a full
/// disk), and when it can again.
async fn report_health(mut health: tokio::sync::watch::Receiver<baton_engine::Health>) {
    while health.changed().await.is_ok() {
        match &*health.borrow_and_update() {
            baton_engine::Health::Unwritable { message, .. } => tracing::error!(
                "the database cannot be written ({message}); writes fail until it can, running attempts' outcomes are kept, and the engine retries by itself"
            ),
            _ => tracing::info!("the database can be written again; the engine goes on"),
        }
    }
}

async fn serve(
    engine: &Engine,
    db: &Path,
    args: &RunnerArgs,
) -> Result<Option<RunningApi>, CliError> {
    // On a shared queue other commands use the database itself: several
    // runners on one machine would otherwise contend for one api.json.
    if args.no_api || (shared_queue().is_some() && args.api_port.is_none()) {
        return Ok(None);
    }
    let mut options = ApiOptions::new(data_dir(db));
    options.port = args.api_port.unwrap_or(0);
    Ok(Some(ApiServer::start(engine.clone(), options).await?))
}

/// Why `wait` stopped waiting.
enum Ended {
    Idle(Result<(), TaskError>),
    Deadline,
    Signal(&'static str),
}

pub async fn wait(db: &Path, args: WaitArgs) -> Result<(), CliError> {
    let limit = input::duration("--timeout", &args.timeout)?;
    if limit.is_zero() {
        return Err(CliError::usage("--timeout must be longer than zero"));
    }
    let mut signals = Signals::install()?;
    if shared_queue().is_none() {
        if let Some(remote) = Remote::discover(data_dir(db)).await? {
            return follow::wait(remote, limit, &mut signals).await;
        }
    }
    let engine = match open(db, DEFAULT_WORKERS).await {
        Ok(engine) => engine,
        // An engine may have started since: follow it if it serves the API.
        Err(locked @ CliError::Open(baton_engine::OpenError::Locked { .. })) => {
            return match Remote::discover(data_dir(db)).await? {
                Some(remote) => follow::wait(remote, limit, &mut signals).await,
                None => Err(locked),
            };
        }
        Err(e) => return Err(e),
    };
    let progress = match Progress::start(&engine).await {
        Ok(progress) => progress,
        Err(e) => {
            engine.shutdown().await;
            return Err(e);
        }
    };
    engine.start().await;
    let ended = tokio::select! {
        idle = tokio::time::timeout(limit, engine.wait_idle()) => match idle {
            Ok(idle) => Ended::Idle(idle),
            Err(_) => Ended::Deadline,
        },
        signal = signals.next() => {
            tracing::info!("{signal}: shutting down; running attempts get a grace period");
            Ended::Signal(signal)
        }
    };
    progress.finish();
    stop(&engine, &mut signals).await?;
    // Counted after shutdown: attempts that ended during the grace period are
    // done, and those it interrupted are queued again. A stopped engine has let
    // go of the file, so the count comes from opening it once more (nothing is
    // left running to recover).
    let counts = {
        let reopened = open(db, DEFAULT_WORKERS).await?;
        let counts = reopened.counts().await;
        reopened.shutdown().await;
        counts?
    };
    match ended {
        Ended::Idle(Err(e)) => Err(e.into()),
        // Either idle in time, or the last attempts finished in the grace period.
        _ if counts.active() == 0 => {
            output::emit(&format!("every task is finished: {}\n", summary(&counts)))
        }
        Ended::Signal(signal) => Err(CliError::Stopped { signal, counts }),
        Ended::Deadline | Ended::Idle(Ok(())) => Err(CliError::WaitTimedOut {
            after: limit,
            counts,
        }),
    }
}

/// A graceful shutdown, which a second signal cuts short: the process then
/// exits at once and the next start recovers what was running.
async fn stop(engine: &Engine, signals: &mut Signals) -> Result<(), CliError> {
    tokio::select! {
        () = engine.shutdown() => {
            tracing::info!("engine stopped");
            Ok(())
        }
        signal = signals.next() => {
            tracing::warn!("{signal} again: stopping without waiting");
            Err(CliError::ForcedStop)
        }
    }
}

pub(super) fn summary(counts: &StatusCounts) -> String {
    format!(
        "{} completed, {} failed, {} cancelled",
        counts.completed, counts.failed, counts.cancelled
    )
}

/// SIGINT (Ctrl-C) and, on Unix, SIGTERM; on Windows, which has no signals,
/// the console's Ctrl-C, Ctrl-Break and close events (tokio holds the close
/// event until the process exits, so the grace period runs within the few
/// seconds Windows allows).
pub(super) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(windows)]
    brk: tokio::signal::windows::CtrlBreak,
    #[cfg(windows)]
    close: tokio::signal::windows::CtrlClose,
}

impl Signals {
    pub(super) fn install() -> Result<Signals, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let term = signal(SignalKind::terminate())
                .map_err(|e| CliError::Internal(format!("cannot listen for SIGTERM: {e}")))?;
            Ok(Signals { term })
        }
        #[cfg(windows)]
        {
            use tokio::signal::windows::{ctrl_break, ctrl_close};
            let listen = |e: std::io::Error| {
                CliError::Internal(format!("cannot listen for console events: {e}"))
            };
            Ok(Signals {
                brk: ctrl_break().map_err(listen)?,
                close: ctrl_close().map_err(listen)?,
            })
        }
        #[cfg(not(any(unix, windows)))]
        Ok(Signals {})
    }

    /// Waits for the next signal and names it.
    pub(super) async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(windows)]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = self.brk.recv() => "Ctrl-Break",
                _ = self.close.recv() => "console close",
            }
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// `wait`'s progress bar: drawn on a terminal, hidden otherwise. It counts the
/// tasks finished since `wait` began against those still active.
struct Progress {
    bar: ProgressBar,
    updater: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Subscribes before the engine starts, so no state change is missed.
    async fn start(engine: &Engine) -> Result<Progress, CliError> {
        if !std::io::stderr().is_terminal() {
            return Ok(Progress {
                bar: ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()),
                updater: None,
            });
        }
        let mut events = engine.subscribe();
        let before = engine.counts().await?;
        let bar =
            ProgressBar::with_draw_target(Some(before.active()), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed}] {wide_bar} {pos}/{len} finished, {msg}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        logging::attach_bar(Some(bar.clone()));
        let (engine, shown) = (engine.clone(), bar.clone());
        let updater = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) if !matches!(event.kind, EventKind::State { .. }) => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
                // One read of the counts for everything that arrived meanwhile.
                while events.try_recv().is_ok() {}
                let Ok(now) = engine.counts().await else {
                    return;
                };
                let done = finished(&now).saturating_sub(finished(&before));
                shown.set_length(done + now.active());
                shown.set_position(done);
                shown.set_message(format!("{} running", now.running));
            }
        });
        Ok(Progress {
            bar,
            updater: Some(updater),
        })
    }

    fn finish(self) {
        if let Some(updater) = self.updater {
            updater.abort();
        }
        self.bar.finish_and_clear();
        logging::attach_bar(None);
    }
}

fn finished(counts: &StatusCounts) -> u64 {
    counts.completed + counts.failed + counts.cancelled
}

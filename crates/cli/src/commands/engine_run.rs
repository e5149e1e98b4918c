//! The commands that run tasks: `run` (until a signal, or idle) and `wait`
//! (until every task is finished, or a deadline).

use super::open;
use crate::args::{RunArgs, WaitArgs};
use crate::error::CliError;
use crate::{input, logging, output};
use baton_engine::{Engine, EventKind, StatusCounts, TaskError, DEFAULT_WORKERS};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

pub async fn run(db: &Path, args: RunArgs) -> Result<(), CliError> {
    let workers = input::workers(args.workers)?;
    // Handlers go in before anything runs, so an early SIGTERM is graceful too.
    let mut signals = Signals::install()?;
    let engine = open(db, workers).await?;
    engine.start().await;
    tracing::info!(
        workers,
        db = %db.display(),
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
    stop(&engine, &mut signals).await?;
    result
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
    let engine = open(db, DEFAULT_WORKERS).await?;
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
    // done, and those it interrupted are queued again.
    let counts = engine.counts().await?;
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

fn summary(counts: &StatusCounts) -> String {
    format!(
        "{} completed, {} failed, {} cancelled",
        counts.completed, counts.failed, counts.cancelled
    )
}

/// SIGINT (Ctrl-C) and, on Unix, SIGTERM.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let term = signal(SignalKind::terminate())
                .map_err(|e| CliError::Internal(format!("cannot listen for SIGTERM: {e}")))?;
            Ok(Signals { term })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for the next signal and names it.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
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

//! Commands that follow a running engine's event stream: `events`, and `wait`
//! when an engine is already running (it waits on events and polls nothing).
//! On a shared queue `events` follows the database's outbox itself, as a
//! client that runs no task.

use super::runner::{summary, Signals};
use super::{data_dir, shared_queue};
use crate::args::EventsArgs;
use crate::error::CliError;
use crate::output;
use crate::remote::{EventStream, Remote, StreamItem};
use baton_api::wire::{StreamEvent, StreamEventKind};
use baton_engine::{ListQuery, StatusCounts, TaskFilter, TaskId, TaskState};
use chrono::SecondsFormat;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

pub async fn events(db: &Path, args: EventsArgs) -> Result<(), CliError> {
    if shared_queue().is_some() {
        return queue_events(db, args).await;
    }
    let remote = Remote::discover(data_dir(db))
        .await?
        .ok_or(CliError::NoEngine)?;
    let mut signals = Signals::install()?;
    let mut stream = remote.events().await?;
    tracing::info!(url = remote.url(), "following the events; stop with Ctrl-C");
    loop {
        let item = tokio::select! {
            _ = signals.next() => return Ok(()),
            item = stream.next() => item?,
        };
        let line = match item {
            Some(StreamItem::Event(event, json)) => {
                if args.json {
                    json
                } else {
                    line(&event)
                }
            }
            Some(StreamItem::Unknown(json)) if args.json => json,
            Some(StreamItem::Unknown(_)) => continue,
            Some(StreamItem::Resync(json)) if args.json => json,
            Some(StreamItem::Resync(_)) => {
                "events were missed; `baton list` shows where every task is now".into()
            }
            Some(StreamItem::Shutdown) => {
                tracing::info!("the engine stopped");
                return Ok(());
            }
            None => {
                return Err(CliError::Unreachable {
                    url: remote.url().to_string(),
                    detail: "the event stream ended".into(),
                })
            }
        };
        output::emit(&format!("{line}\n"))?;
    }
}

/// `events` on a shared queue: every runner's events from now on, read from
/// the database by an engine that runs nothing (see `runner::tail`).
async fn queue_events(db: &Path, args: EventsArgs) -> Result<(), CliError> {
    let mut config = super::config(db);
    config.run_tasks = false;
    let engine = baton_engine::Engine::open(config).await?;
    let mut signals = Signals::install()?;
    let mut events = engine.subscribe();
    engine.start().await;
    tracing::info!("following the shared queue's events; stop with Ctrl-C");
    let result = loop {
        let event = tokio::select! {
            _ = signals.next() => break Ok(()),
            event = events.recv() => event,
        };
        let line = match event {
            Ok(event) => {
                let json =
                    serde_json::to_string(&event).map_err(|e| CliError::Internal(e.to_string()))?;
                if args.json {
                    json
                } else {
                    // Kinds the stream's wire type lacks (deliveries) print as JSON.
                    match serde_json::from_str::<StreamEvent>(&json) {
                        Ok(event) => line(&event),
                        Err(_) => json,
                    }
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                "events were missed; `baton list` shows where every task is now".into()
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break Ok(()),
        };
        if let Err(e) = output::emit(&format!("{line}\n")) {
            break Err(e);
        }
    };
    engine.shutdown().await;
    result
}

/// One event for people: time, task, what happened.
fn line(event: &StreamEvent) -> String {
    let at = event.at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let what = match &event.kind {
        StreamEventKind::State { from, to, task } => format!(
            "{} → {to}  {}",
            from.map_or("new".to_string(), |f| f.to_string()),
            flat(&task.name, 60)
        ),
        StreamEventKind::Output {
            attempt,
            index,
            chunk,
        } => format!("output #{attempt}.{index}: {}", flat(chunk, 80)),
        StreamEventKind::Held { message, .. }
        | StreamEventKind::ConcurrencyLowered { message, .. }
        | StreamEventKind::BudgetWarning { message, .. }
        | StreamEventKind::Fallback { message, .. } => message.clone(),
    };
    format!("{at}  {}  {what}", event.task_id)
}

/// On one line, shortened.
fn flat(text: &str, max_chars: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max_chars {
        flat.chars().take(max_chars - 1).chain(['…']).collect()
    } else {
        flat
    }
}

/// The tasks not yet finished, by id, with their status.
type Active = HashMap<TaskId, TaskState>;

/// Waits until the running engine has no unfinished task. Subscribes first, then
/// reads which tasks are unfinished, then applies every state event in order: a
/// task's last event wins, so an event about a change from before the read
/// cannot leave a finished task counted as unfinished.
pub async fn wait(remote: Remote, limit: Duration, signals: &mut Signals) -> Result<(), CliError> {
    let mut stream = remote.events().await?;
    let mut active = unfinished(&remote).await?;
    let deadline = tokio::time::Instant::now() + limit;
    enum Ended {
        Idle(StatusCounts),
        Deadline,
        Signal(&'static str),
    }
    let ended = loop {
        if active.is_empty() {
            // A task created a moment ago may not have reached the stream yet.
            let counts: StatusCounts = remote.health().await?.counts.into();
            if counts.active() == 0 {
                break Ended::Idle(counts);
            }
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break Ended::Deadline,
            signal = signals.next() => break Ended::Signal(signal),
            item = next_change(&mut stream) => match item? {
                Change::State(id, to) if to.is_terminal() => {
                    active.remove(&id);
                }
                Change::State(id, to) => {
                    active.insert(id, to);
                }
                Change::Resync => active = unfinished(&remote).await?,
                Change::Stopped => return Err(CliError::EngineStopped),
            },
        }
    };
    match ended {
        Ended::Idle(counts) => {
            output::emit(&format!("every task is finished: {}\n", summary(&counts)))
        }
        Ended::Deadline => Err(CliError::WaitTimedOut {
            after: limit,
            counts: remote.health().await?.counts.into(),
        }),
        Ended::Signal(signal) => Err(CliError::Stopped {
            signal,
            counts: remote.health().await?.counts.into(),
        }),
    }
}

enum Change {
    State(TaskId, TaskState),
    Resync,
    Stopped,
}

async fn next_change(stream: &mut EventStream) -> Result<Change, CliError> {
    loop {
        match stream.next().await? {
            Some(StreamItem::Event(event, _)) => {
                if let StreamEventKind::State { to, .. } = event.kind {
                    return Ok(Change::State(event.task_id, to));
                }
            }
            Some(StreamItem::Resync(_)) => return Ok(Change::Resync),
            Some(StreamItem::Unknown(_)) => {}
            Some(StreamItem::Shutdown) | None => return Ok(Change::Stopped),
        }
    }
}

async fn unfinished(remote: &Remote) -> Result<Active, CliError> {
    let mut active = Active::new();
    for status in [
        TaskState::Waiting,
        TaskState::Scheduled,
        TaskState::Queued,
        TaskState::Running,
    ] {
        let query = ListQuery {
            filter: TaskFilter {
                status: Some(status),
                ..TaskFilter::default()
            },
            limit: usize::MAX,
            ..ListQuery::default()
        };
        for task in remote.list(query).await? {
            active.insert(task.id, task.status);
        }
    }
    Ok(active)
}

//! Engine events to the UI as Tauri events, and what else reacts to them
//! (notifications, in `notifications`, and the tray). Nothing polls.

use crate::notifications::{self, notices, Finished, Notice, OpenTarget};
use crate::state::AppState;
use baton_engine::{Engine, Event, EventKind, Health, ScheduleEvent, TaskError, TaskState};
use serde::Serialize;
use specta::Type;
use tauri::{AppHandle, Manager, Runtime};
use tauri_specta::Event as _;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// One engine event: a state change (with the task) or an output chunk.
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct TaskEvent(pub Event);

/// A schedule was created, edited, paused, resumed, fired or removed (then
/// `schedule` is `None`).
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct ScheduleChanged(pub ScheduleEvent);

/// The subscription fell behind and missed events: reload what is shown.
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct Resync {
    pub missed: u32,
}

/// Pause state, worker count, running tasks and whether the database can be
/// written; sent when any changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type, tauri_specta::Event)]
pub struct StatusChanged {
    pub paused: bool,
    pub workers: u32,
    pub running: u32,
    pub health: Health,
}

impl StatusChanged {
    pub async fn of(engine: &Engine) -> Result<StatusChanged, TaskError> {
        Ok(StatusChanged {
            paused: engine.is_paused(),
            workers: engine.workers() as u32,
            running: engine.counts().await?.running as u32,
            health: engine.health(),
        })
    }

    /// The status now; a failed count reads as nothing running.
    pub async fn current(engine: &Engine) -> StatusChanged {
        StatusChanged::of(engine).await.unwrap_or(StatusChanged {
            paused: engine.is_paused(),
            workers: engine.workers() as u32,
            running: 0,
            health: engine.health(),
        })
    }

    /// Sends the current status to the UI and the tray, and returns it.
    pub async fn publish<R: Runtime>(app: &AppHandle<R>, engine: &Engine) -> StatusChanged {
        let status = StatusChanged::current(engine).await;
        show(app, &status);
        status
    }
}

/// Sends `status` to the window and the tray.
pub fn show<R: Runtime>(app: &AppHandle<R>, status: &StatusChanged) {
    let _ = status.emit(app);
    crate::tray::show_status(app, status);
}

/// The real app's [`Host`](crate::state::Host).
pub struct AppHost<R: Runtime> {
    pub app: AppHandle<R>,
}

impl<R: Runtime> crate::state::Host for AppHost<R> {
    fn show_status(&self, status: &StatusChanged) {
        show(&self.app, status);
    }

    fn set_autostart(&self, on: bool) -> Result<(), String> {
        let Some(autostart) = self
            .app
            .try_state::<tauri_plugin_autostart::AutoLaunchManager>()
        else {
            return Ok(());
        };
        let result = if on {
            autostart.enable()
        } else {
            autostart.disable()
        };
        result.map_err(|e| e.to_string())
    }

    fn follow(&self, engine: Engine, events: baton_engine::Subscription, switched: bool) {
        follow(&self.app, engine, events, switched);
    }

    fn open_path(&self, path: &std::path::Path) -> Result<(), String> {
        let Some(opener) = self.app.try_state::<tauri_plugin_opener::Opener<R>>() else {
            return Ok(());
        };
        opener
            .open_path(path.display().to_string(), None::<&str>)
            .map_err(|e| e.to_string())
    }
}

/// Follows an engine just started until another replaces it (Settings →
/// Shared queue): its events, schedule changes and health to the window and
/// the tray. `switched`: it replaced one, its catalog is loaded already, and
/// the window is told to reload what it shows.
pub fn follow<R: Runtime>(
    app: &AppHandle<R>,
    engine: Engine,
    events: baton_engine::Subscription,
    switched: bool,
) {
    let generation = app.state::<AppState>().generation.subscribe();
    let mine = *generation.borrow();
    let until = Replaced { generation, mine };
    forward(
        app.clone(),
        engine.clone(),
        events,
        !switched,
        until.clone(),
    );
    forward_schedules(app.clone(), &engine, until.clone());
    forward_health(app.clone(), engine.clone(), until);
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        StatusChanged::publish(&app, &engine).await;
        if switched {
            let _ = Resync { missed: 0 }.emit(&app);
        }
    });
}

/// Resolves once the engine a forwarder follows has been replaced.
#[derive(Clone)]
pub struct Replaced {
    generation: watch::Receiver<u64>,
    mine: u64,
}

impl Replaced {
    async fn wait(mut self) {
        // An error means the state is gone (the app is ending): stop too.
        let _ = self.generation.wait_for(|g| *g != self.mine).await;
    }
}

/// Sends the status again whenever the engine starts or stops being able to
/// write its database (a full disk), until the engine is replaced.
fn forward_health<R: Runtime>(app: AppHandle<R>, engine: Engine, until: Replaced) {
    let mut health = engine.watch_health();
    tauri::async_runtime::spawn(async move {
        let stop = until.wait();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                changed = health.changed() => if changed.is_err() { break },
                _ = &mut stop => break,
            }
            StatusChanged::publish(&app, &engine).await;
        }
    });
}

/// Forwards every engine event until the engine stops. It first loads the
/// catalog (until then the store answers the first list pages and other
/// queries wait: `Catalog::query_now`), then applies each event to it before
/// the window hears of it, so a query the window makes in response already sees
/// the change. The window gets each event at once; the tray status and
/// notifications follow on a task of their own, so a slow notification daemon
/// never delays the list. While the window is closed an event reaches no page
/// and nothing is kept for it (Tauri emits to the webviews there are); the
/// catalog stays current, and a new window loads its state as at first start.
fn forward<R: Runtime>(
    app: AppHandle<R>,
    engine: Engine,
    mut events: baton_engine::Subscription,
    load: bool,
    until: Replaced,
) {
    let catalog = app.state::<AppState>().catalog.clone();
    let side = side_effects(app.clone(), engine.clone());
    tauri::async_runtime::spawn(async move {
        // Events that arrive meanwhile wait in the subscription (taken before
        // the engine started); the load may already contain their changes, and
        // applying them again is an upsert.
        let started = std::time::Instant::now();
        if load {
            match catalog.reload(&engine).await {
                Ok(()) => tracing::info!(
                    tasks = catalog.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "task list loaded"
                ),
                Err(e) => tracing::error!(error = %e, "could not load the task list"),
            }
        }
        let stop = until.wait();
        tokio::pin!(stop);
        loop {
            // The old engine's last events must not reach the new one's catalog.
            let next = tokio::select! {
                biased;
                _ = &mut stop => None,
                next = receive(events.recv()) => next,
            };
            let Some(next) = next else { break };
            match next {
                Ok(event) => {
                    catalog.apply(&event);
                    let reaction = match &event.kind {
                        EventKind::State { from, to, task } => Side {
                            status: *from == Some(TaskState::Running) || *to == TaskState::Running,
                            finished: Finished::of(*to, task),
                            warning: None,
                        },
                        EventKind::BudgetWarning { message, .. } => Side {
                            warning: Some(("Budget at 80%", message.clone())),
                            ..Side::default()
                        },
                        // Refused credentials hidden by a fallback: worth fixing.
                        EventKind::Fallback {
                            warning: true,
                            message,
                            ..
                        } => Side {
                            warning: Some(("Credentials refused", message.clone())),
                            ..Side::default()
                        },
                        _ => Side::default(),
                    };
                    if let Err(e) = TaskEvent(event).emit(&app) {
                        tracing::warn!(error = %e, "could not send an event to the window");
                    }
                    if reaction.status || reaction.finished.is_some() || reaction.warning.is_some()
                    {
                        let _ = side.send(reaction);
                    }
                }
                Err(missed) => {
                    if let Err(e) = catalog.reload(&engine).await {
                        tracing::warn!(error = %e, "could not reload the task list");
                    }
                    let _ = Resync { missed }.emit(&app);
                    let _ = side.send(Side {
                        status: true,
                        ..Side::default()
                    });
                }
            }
        }
    });
}

/// The next event, or `Err(missed)` after the subscription fell behind;
/// `None` once the engine has stopped.
async fn receive<T>(
    next: impl std::future::Future<Output = Result<T, RecvError>>,
) -> Option<Result<T, u32>> {
    match next.await {
        Ok(event) => Some(Ok(event)),
        Err(RecvError::Lagged(missed)) => Some(Err(missed.min(u32::MAX as u64) as u32)),
        Err(RecvError::Closed) => None,
    }
}

/// What an event asks of the tray and the notifications.
#[derive(Default)]
struct Side {
    status: bool,
    /// A task that completed or failed.
    finished: Option<Finished>,
    /// A warning to notify, title and body: a budget reached 80% of its cap,
    /// or a fallback hid refused credentials.
    warning: Option<(&'static str, String)>,
}

/// Runs the tray status and notifications for the forwarder. Whatever piled up
/// while it worked is handled together: one status update, and a burst of
/// finished tasks becomes one notification.
fn side_effects<R: Runtime>(
    app: AppHandle<R>,
    engine: Engine,
) -> tokio::sync::mpsc::UnboundedSender<Side> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Side>();
    tauri::async_runtime::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut status = first.status;
            let mut finished: Vec<_> = first.finished.into_iter().collect();
            let mut warnings: Vec<_> = first.warning.into_iter().collect();
            while let Ok(more) = rx.try_recv() {
                status |= more.status;
                finished.extend(more.finished);
                warnings.extend(more.warning);
            }
            for (title, body) in warnings {
                notifications::show(&app, &Notice::new(title, body, OpenTarget::Window));
            }
            if status {
                StatusChanged::publish(&app, &engine).await;
            }
            // With notifications off, only the tasks that asked for theirs.
            if !notifications::enabled(&app) {
                finished.retain(|f| f.asked);
            }
            for notice in notices(&finished) {
                notifications::show_anyway(&app, &notice);
            }
        }
    });
    tx
}

/// Forwards every schedule change until the engine is replaced. Falling
/// behind sends [`Resync`], after which the window reloads its schedules too.
fn forward_schedules<R: Runtime>(app: AppHandle<R>, engine: &Engine, until: Replaced) {
    let mut events = engine.subscribe_schedules();
    tauri::async_runtime::spawn(async move {
        let stop = until.wait();
        tokio::pin!(stop);
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => None,
                next = receive(events.recv()) => next,
            };
            let Some(next) = next else { break };
            let sent = match next {
                Ok(event) => {
                    // The engine paused it after failed fires: say so, once.
                    if let Some(note) = &event.note {
                        let open = OpenTarget::Schedule {
                            id: event.schedule_id,
                        };
                        notifications::show(&app, &Notice::new("Schedule paused", note, open));
                    }
                    ScheduleChanged(event).emit(&app)
                }
                Err(missed) => Resync { missed }.emit(&app),
            };
            if let Err(e) = sent {
                tracing::warn!(error = %e, "could not send a schedule event to the window");
            }
        }
    });
}

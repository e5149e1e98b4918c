//! Engine events to the window (through the [`Host`]), and what else reacts to
//! them: the catalog, the tray status, notifications. Nothing polls.

use crate::notices::{notices, Finished, Notice, OpenTarget};
use crate::settings::Settings;
use crate::state::{AppState, Host};
use baton_engine::{
    Catalog, Engine, Event, EventKind, Health, ScheduleEvent, TaskError, TaskState,
};
use serde::Serialize;
use specta::Type;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// What the shell tells the window; the host sends each as its typed event.
#[derive(Debug, Clone)]
pub enum ToWindow {
    /// One engine event: a state change (with the task) or an output chunk.
    Task(Event),
    /// A schedule was created, edited, paused, resumed, fired or removed.
    Schedule(ScheduleEvent),
    /// The subscription fell behind and missed events: reload what is shown.
    Resync { missed: u32 },
}

/// Pause state, worker count, running tasks and whether the database can be
/// written; sent to the window and the tray when any changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct EngineStatus {
    pub paused: bool,
    pub workers: u32,
    pub running: u32,
    pub health: Health,
}

impl EngineStatus {
    pub async fn of(engine: &Engine) -> Result<EngineStatus, TaskError> {
        Ok(EngineStatus {
            paused: engine.is_paused(),
            workers: engine.workers() as u32,
            running: engine.counts().await?.running as u32,
            health: engine.health(),
        })
    }

    /// The status now; a failed count reads as nothing running.
    pub async fn current(engine: &Engine) -> EngineStatus {
        EngineStatus::of(engine).await.unwrap_or(EngineStatus {
            paused: engine.is_paused(),
            workers: engine.workers() as u32,
            running: 0,
            health: engine.health(),
        })
    }

    /// Sends the current status to the window and the tray, and returns it.
    pub async fn publish(host: &dyn Host, engine: &Engine) -> EngineStatus {
        let status = EngineStatus::current(engine).await;
        host.show_status(&status);
        status
    }
}

/// What the forwarders share with the state.
#[derive(Clone)]
struct Followed {
    host: Arc<dyn Host>,
    catalog: Arc<Catalog>,
    settings: Arc<Mutex<Settings>>,
}

impl Followed {
    fn notifications_on(&self) -> bool {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .notifications
    }

    /// A notification, when the setting allows it.
    fn notify(&self, notice: &Notice) {
        if self.notifications_on() {
            self.host.notify(notice);
        }
    }
}

/// Follows an engine just started until another replaces it (Settings →
/// Shared queue): its events, schedule changes and health to the window and
/// the tray. `switched`: it replaced one, its catalog is loaded already, and
/// the window is told to reload what it shows. Call it on the async runtime.
pub fn follow(
    state: &AppState,
    engine: Engine,
    events: baton_engine::Subscription,
    switched: bool,
) {
    let generation = state.generation.subscribe();
    let mine = *generation.borrow();
    let until = Replaced { generation, mine };
    let followed = Followed {
        host: state.host.clone(),
        catalog: state.catalog.clone(),
        settings: state.settings.clone(),
    };
    forward(
        followed.clone(),
        engine.clone(),
        events,
        !switched,
        until.clone(),
    );
    forward_schedules(followed.clone(), &engine, until.clone());
    forward_health(followed.host.clone(), engine.clone(), until);
    let host = followed.host;
    tokio::spawn(async move {
        EngineStatus::publish(&*host, &engine).await;
        if switched {
            emit(&*host, ToWindow::Resync { missed: 0 });
        }
    });
}

fn emit(host: &dyn Host, event: ToWindow) {
    if let Err(e) = host.emit(event) {
        tracing::warn!(error = %e, "could not send an event to the window");
    }
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
fn forward_health(host: Arc<dyn Host>, engine: Engine, until: Replaced) {
    let mut health = engine.watch_health();
    tokio::spawn(async move {
        let stop = until.wait();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                changed = health.changed() => if changed.is_err() { break },
                _ = &mut stop => break,
            }
            EngineStatus::publish(&*host, &engine).await;
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
/// and nothing is kept for it; the catalog stays current, and a new window
/// loads its state as at first start.
fn forward(
    followed: Followed,
    engine: Engine,
    mut events: baton_engine::Subscription,
    load: bool,
    until: Replaced,
) {
    let catalog = followed.catalog.clone();
    let side = side_effects(followed.clone(), engine.clone());
    let host = followed.host;
    tokio::spawn(async move {
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
                    emit(&*host, ToWindow::Task(event));
                    if reaction.status || reaction.finished.is_some() || reaction.warning.is_some()
                    {
                        let _ = side.send(reaction);
                    }
                }
                Err(missed) => {
                    if let Err(e) = catalog.reload(&engine).await {
                        tracing::warn!(error = %e, "could not reload the task list");
                    }
                    emit(&*host, ToWindow::Resync { missed });
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
fn side_effects(followed: Followed, engine: Engine) -> tokio::sync::mpsc::UnboundedSender<Side> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Side>();
    tokio::spawn(async move {
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
                followed.notify(&Notice::new(title, body, OpenTarget::Window));
            }
            if status {
                EngineStatus::publish(&*followed.host, &engine).await;
            }
            // With notifications off, only the tasks that asked for theirs.
            if !followed.notifications_on() {
                finished.retain(|f| f.asked);
            }
            for notice in notices(&finished) {
                followed.host.notify(&notice);
            }
        }
    });
    tx
}

/// Forwards every schedule change until the engine is replaced. Falling
/// behind sends [`ToWindow::Resync`], after which the window reloads its
/// schedules too.
fn forward_schedules(followed: Followed, engine: &Engine, until: Replaced) {
    let mut events = engine.subscribe_schedules();
    tokio::spawn(async move {
        let stop = until.wait();
        tokio::pin!(stop);
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => None,
                next = receive(events.recv()) => next,
            };
            let Some(next) = next else { break };
            match next {
                Ok(event) => {
                    // The engine paused it after failed fires: say so, once.
                    if let Some(note) = &event.note {
                        let open = OpenTarget::Schedule {
                            id: event.schedule_id,
                        };
                        followed.notify(&Notice::new("Schedule paused", note, open));
                    }
                    emit(&*followed.host, ToWindow::Schedule(event));
                }
                Err(missed) => emit(&*followed.host, ToWindow::Resync { missed }),
            }
        }
    });
}

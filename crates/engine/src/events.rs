//! Every change, published on a broadcast channel.
//!
//! State changes are published by the writer right after their commit, in commit
//! order; output chunks by the executor as they arrive. Sequence numbers are
//! increasing within one engine run. A subscriber that falls more than
//! [`EVENT_BUFFER`] events behind is told it lagged and should reload.

use crate::provider::HoldReason;
use crate::schedule::{Schedule, ScheduleId};
use crate::state::TaskState;
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

pub const EVENT_BUFFER: usize = 16 * 1024;

// Deserialize: events of other runners are read back from the PostgreSQL
// outbox (`pg_events.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Event {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub task_id: TaskId,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum EventKind {
    /// `from` is `None` when the task was created or imported.
    State {
        from: Option<TaskState>,
        to: TaskState,
        task: Arc<Task>,
    },
    /// A piece of output from the running attempt.
    Output {
        attempt: u32,
        index: u32,
        chunk: String,
    },
    /// A queued task is held back by its provider's limit and stays queued.
    /// Sent once per task and reason; `message` reads "waiting: rate limit, 12 s".
    Held {
        provider: String,
        reason: HoldReason,
        /// How long until the limit lifts, when a time lifts it (a concurrency
        /// slot frees when a request ends instead).
        wait_ms: Option<u64>,
        message: String,
    },
    /// The provider interrupted this task's answer while others were in flight:
    /// it is held to `max_concurrency` requests at once for a while. `message`
    /// reads "provider 'local' interrupted answers while several were in flight:
    /// at most 2 at once for 300 s".
    ConcurrencyLowered {
        provider: String,
        max_concurrency: u32,
        /// How long the lowered limit holds unless answers are interrupted again.
        wait_ms: u64,
        message: String,
    },
    /// Settling this task's attempt brought a budget to 80% of its cap (once
    /// per budget and period). `message` reads "budget 'nightly' has used
    /// $1.62 of its daily cap of $2.00".
    BudgetWarning {
        budget: String,
        spent: crate::task::Real,
        amount: crate::task::Real,
        unit: crate::budget::BudgetUnit,
        message: String,
    },
    /// The task's next attempt goes to another target (docs/fallbacks.md):
    /// after a failed attempt of class `class`, or at its claim because the
    /// previous target's provider was cooling down (`rate_limited`) or down
    /// (`transient`). `warning`: the switch hides a problem to fix (refused
    /// credentials). `message` reads "falling back from 'a:m1' to 'b:m2'
    /// (rate_limited)".
    Fallback {
        from: crate::task::Target,
        to: crate::task::Target,
        class: crate::task::ErrorClass,
        warning: bool,
        message: String,
    },
    /// One of the task's deliveries changed (recorded, tried, sent, failed,
    /// resent): it as stored now.
    Delivery {
        delivery: Arc<crate::delivery::Delivery>,
    },
}

impl Draft {
    /// A delivery of the task was recorded, tried, sent, given up or resent.
    pub fn delivery(delivery: &crate::delivery::Delivery, at: DateTime<Utc>) -> Self {
        Draft {
            at,
            task_id: delivery.task_id,
            kind: EventKind::Delivery {
                delivery: Arc::new(delivery.clone()),
            },
        }
    }
}

impl Draft {
    /// `task` already points at its new target; `from` is the index it left.
    pub fn fallback(
        task: &Task,
        from: usize,
        class: crate::task::ErrorClass,
        warning: bool,
        at: DateTime<Utc>,
    ) -> Self {
        let target = |i: usize| {
            let (provider, model) = task.target_at(i).unwrap_or(("", ""));
            crate::task::Target {
                provider: provider.to_string(),
                model: Some(model.to_string()),
            }
        };
        let (from, to) = (target(from), target(task.target_index as usize));
        let message = if warning {
            format!("falling back from '{from}' to '{to}' ({class}): check the credentials of provider '{}'", from.provider)
        } else {
            format!("falling back from '{from}' to '{to}' ({class})")
        };
        Draft {
            at,
            task_id: task.id,
            kind: EventKind::Fallback {
                from,
                to,
                class,
                warning,
                message,
            },
        }
    }
}

/// A schedule was saved (created, edited, paused, resumed, fired) or removed.
/// Published on its own channel ([`crate::Engine::subscribe_schedules`]); the
/// tasks a fire creates have their own task events.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScheduleEvent {
    pub at: DateTime<Utc>,
    pub schedule_id: ScheduleId,
    /// The schedule as stored now; `None` when it was removed.
    pub schedule: Option<Arc<Schedule>>,
    /// Set when the engine changed the schedule by itself, saying why (it
    /// paused after failed fires in a row); worth a notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An event before it has a sequence number.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub at: DateTime<Utc>,
    pub task_id: TaskId,
    pub kind: EventKind,
}

impl Draft {
    pub fn state(from: Option<TaskState>, task: &Task, at: DateTime<Utc>) -> Self {
        Draft {
            at,
            task_id: task.id,
            kind: EventKind::State {
                from,
                to: task.status,
                task: Arc::new(task.clone()),
            },
        }
    }
}

impl Draft {
    pub fn held(
        task_id: TaskId,
        provider: &str,
        reason: HoldReason,
        wait: Option<std::time::Duration>,
        at: DateTime<Utc>,
    ) -> Self {
        let message = match wait {
            // Rounded up: "12 s" while anything of the twelfth second is left.
            Some(w) => format!("waiting: {reason}, {} s", w.as_millis().div_ceil(1000)),
            None => format!("waiting: {reason}"),
        };
        Draft {
            at,
            task_id,
            kind: EventKind::Held {
                provider: provider.to_string(),
                reason,
                wait_ms: wait.map(|w| w.as_millis() as u64),
                message,
            },
        }
    }
}

impl Draft {
    /// A task held by a budget: `message` is the budget's sentence.
    pub(crate) fn held_for_budget(
        task_id: TaskId,
        provider: &str,
        message: String,
        wait: Option<std::time::Duration>,
        at: DateTime<Utc>,
    ) -> Self {
        Draft {
            at,
            task_id,
            kind: EventKind::Held {
                provider: provider.to_string(),
                reason: HoldReason::Budget,
                wait_ms: wait.map(|w| w.as_millis() as u64),
                message,
            },
        }
    }

    pub(crate) fn budget_warning(
        task_id: TaskId,
        budget: &crate::budget::Budget,
        at: DateTime<Utc>,
    ) -> Self {
        Draft {
            at,
            task_id,
            kind: EventKind::BudgetWarning {
                budget: budget.name.clone(),
                spent: budget.spent,
                amount: budget.amount,
                unit: budget.unit,
                message: format!(
                    "budget '{}' has used {} of its {} cap of {}",
                    budget.name,
                    budget.format_amount(budget.spent.0),
                    budget.period.as_str(),
                    budget.format_amount(budget.amount.0)
                ),
            },
        }
    }

    pub fn concurrency_lowered(
        task_id: TaskId,
        provider: &str,
        max_concurrency: u32,
        wait: std::time::Duration,
        at: DateTime<Utc>,
    ) -> Self {
        Draft {
            at,
            task_id,
            kind: EventKind::ConcurrencyLowered {
                provider: provider.to_string(),
                max_concurrency,
                wait_ms: wait.as_millis() as u64,
                message: format!(
                    "provider '{provider}' interrupted answers while several were in flight: \
                     at most {max_concurrency} at once for {} s",
                    wait.as_secs()
                ),
            },
        }
    }
}

#[derive(Debug)]
pub(crate) struct EventBus {
    tx: broadcast::Sender<Event>,
    schedules: broadcast::Sender<ScheduleEvent>,
    next_seq: AtomicU64,
    /// How many events this engine has missed from elsewhere, in all (see
    /// [`EventBus::missed_elsewhere`]).
    missed: watch::Sender<u64>,
}

/// A subscription to the engine's events ([`crate::Engine::subscribe`]): a
/// broadcast receiver that is also told it lagged when the engine itself
/// missed events, which happens on a shared queue when this process was away
/// from the database longer than the outbox keeps them. Either way the
/// subscriber reloads what it shows, as after falling behind on its own.
#[derive(Debug)]
pub struct Subscription {
    events: broadcast::Receiver<Event>,
    missed: watch::Receiver<u64>,
    /// The engine's missed count this subscriber was last told of.
    told: u64,
}

impl Subscription {
    /// The missed events this subscriber has not been told of yet.
    fn untold(&mut self) -> Option<u64> {
        let missed = *self.missed.borrow_and_update();
        let untold = missed.saturating_sub(self.told);
        self.told = missed;
        (untold > 0).then_some(untold)
    }

    /// The next event, as [`broadcast::Receiver::recv`]; `Lagged` also when
    /// the engine missed events from elsewhere (reported before the events
    /// that came after them).
    pub async fn recv(&mut self) -> Result<Event, broadcast::error::RecvError> {
        loop {
            if let Some(n) = self.untold() {
                return Err(broadcast::error::RecvError::Lagged(n));
            }
            tokio::select! {
                biased;
                // Once the engine is gone, `changed` fails and only events are awaited.
                Ok(()) = self.missed.changed() => continue,
                event = self.events.recv() => return event,
            }
        }
    }

    /// [`broadcast::Receiver::try_recv`], with the engine's misses as in [`Subscription::recv`].
    pub fn try_recv(&mut self) -> Result<Event, broadcast::error::TryRecvError> {
        if let Some(n) = self.untold() {
            return Err(broadcast::error::TryRecvError::Lagged(n));
        }
        self.events.try_recv()
    }
}

impl EventBus {
    pub fn new() -> Self {
        EventBus {
            tx: broadcast::channel(EVENT_BUFFER).0,
            schedules: broadcast::channel(256).0,
            next_seq: AtomicU64::new(1),
            missed: watch::channel(0).0,
        }
    }

    pub fn subscribe(&self) -> Subscription {
        let missed = self.missed.subscribe();
        let told = *missed.borrow();
        Subscription {
            events: self.tx.subscribe(),
            missed,
            told,
        }
    }

    /// This engine missed about `n` events made elsewhere (a shared queue's
    /// outbox was pruned past its cursor): every subscriber is told it lagged.
    pub fn missed_elsewhere(&self, n: u64) {
        self.missed.send_modify(|missed| *missed += n.max(1));
    }

    pub fn subscribe_schedules(&self) -> broadcast::Receiver<ScheduleEvent> {
        self.schedules.subscribe()
    }

    pub fn publish_schedule(&self, event: ScheduleEvent) {
        let _ = self.schedules.send(event);
    }

    pub fn publish(&self, draft: Draft) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        // No subscriber is not an error: events are a view, the store is the truth.
        let _ = self.tx.send(Event {
            seq,
            at: draft.at,
            task_id: draft.task_id,
            kind: draft.kind,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};

    fn draft(text: &str) -> Draft {
        Draft::state(None, &Task::sample(text), Utc::now())
    }

    #[tokio::test]
    async fn events_missed_elsewhere_reach_every_subscriber_as_one_lag_before_what_follows() {
        let bus = EventBus::new();
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(draft("before"));
        bus.missed_elsewhere(40);
        bus.publish(draft("after"));
        // `a` was told of the miss before reading on; the events it holds follow.
        assert!(matches!(a.recv().await, Err(RecvError::Lagged(40))));
        assert_eq!(a.recv().await.unwrap().seq, 1);
        assert_eq!(a.recv().await.unwrap().seq, 2);
        assert!(matches!(a.try_recv(), Err(TryRecvError::Empty)));
        // `b` through try_recv, the same way.
        assert!(matches!(b.try_recv(), Err(TryRecvError::Lagged(40))));
        assert_eq!(b.try_recv().unwrap().seq, 1);
        // A subscription taken after the miss is not told of it.
        let mut c = bus.subscribe();
        bus.publish(draft("later"));
        assert_eq!(c.recv().await.unwrap().seq, 3);
    }

    #[tokio::test]
    async fn a_subscriber_waiting_for_events_is_woken_by_a_miss_elsewhere() {
        let bus = std::sync::Arc::new(EventBus::new());
        let mut a = bus.subscribe();
        let waiting = tokio::spawn(async move { a.recv().await });
        tokio::task::yield_now().await;
        bus.missed_elsewhere(3);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert!(matches!(got, Err(RecvError::Lagged(3))));
    }
}

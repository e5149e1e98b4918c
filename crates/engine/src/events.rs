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
use tokio::sync::broadcast;

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
    /// paused after failed runs in a row); worth a notification.
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
}

impl EventBus {
    pub fn new() -> Self {
        EventBus {
            tx: broadcast::channel(EVENT_BUFFER).0,
            schedules: broadcast::channel(256).0,
            next_seq: AtomicU64::new(1),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
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

//! The task state machine, written down once.
//!
//! Every state change in the engine goes through [`TaskState::can_move_to`]; the
//! lifecycle module checks it inside the same write transaction that reads the
//! current state, so a late or duplicate outcome is refused instead of applied.
//! `docs/state-machine.md` draws the same table.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a task is in its life. Each variant says who moves a task in and out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = TaskStatus))]
pub enum TaskState {
    /// Chained onto a parent that has not completed. In: create/chain, or a manual
    /// retry of a cancelled child whose parent is pending again. Out: the parent's
    /// completion binds its output (→ queued/scheduled); its failure or
    /// cancellation cancels this task; a user cancel.
    Waiting,
    /// Due at `start_at`. In: create with a future time, a released waiting
    /// task with a future time, or a retryable failure (backoff). Out: the
    /// scheduler when due (→ queued); a user cancel.
    Scheduled,
    /// Ready to run. In: create, the scheduler, a released waiting task, a manual
    /// retry, crash recovery or shutdown requeue. Out: the dispatcher's claim
    /// (→ running, attempts + 1); a user cancel.
    Queued,
    /// A worker holds it. Out: the executor's outcome (→ completed, scheduled for
    /// a retry, or failed); a user cancel; crash recovery or a graceful shutdown
    /// that outlived its grace period (→ queued, or failed when no attempt is left).
    Running,
    /// Terminal: the provider answered. Nothing moves it out.
    Completed,
    /// Terminal until a manual retry (→ queued).
    Failed,
    /// Terminal until a manual retry (→ queued, or → waiting when its parent is
    /// pending again).
    Cancelled,
}

impl TaskState {
    /// Every state, in the order used for counts and display.
    pub const ALL: [TaskState; 7] = [
        TaskState::Waiting,
        TaskState::Scheduled,
        TaskState::Queued,
        TaskState::Running,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Cancelled,
    ];

    /// The transition table. `true` exactly for the edges drawn in
    /// docs/state-machine.md.
    pub fn can_move_to(self, to: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, to),
            (Waiting, Queued | Scheduled | Cancelled)
                | (Scheduled, Queued | Cancelled)
                | (Queued, Running | Cancelled)
                | (Running, Completed | Scheduled | Failed | Cancelled | Queued)
                | (Failed, Queued | Waiting)
                | (Cancelled, Queued | Waiting)
        )
    }

    /// Completed, failed and cancelled tasks do nothing until someone acts.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Cancelled
        )
    }

    /// A user may cancel a task in these states.
    pub fn is_cancellable(self) -> bool {
        self.can_move_to(TaskState::Cancelled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Scheduled => "scheduled",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// Stable one-byte code used in the store's index keys. Never renumber.
    pub(crate) fn code(self) -> u8 {
        match self {
            TaskState::Waiting => 1,
            TaskState::Scheduled => 2,
            TaskState::Queued => 3,
            TaskState::Running => 4,
            TaskState::Completed => 5,
            TaskState::Failed => 6,
            TaskState::Cancelled => 7,
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "unknown status '{s}' (expected one of: waiting, scheduled, queued, running, completed, failed, cancelled)"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::{self, *};

    /// The allowed edges, listed independently of `can_move_to`'s match.
    const EDGES: &[(TaskState, TaskState)] = &[
        (Waiting, Queued),
        (Waiting, Scheduled),
        (Waiting, Cancelled),
        (Scheduled, Queued),
        (Scheduled, Cancelled),
        (Queued, Running),
        (Queued, Cancelled),
        (Running, Completed),
        (Running, Scheduled),
        (Running, Failed),
        (Running, Cancelled),
        (Running, Queued),
        (Failed, Queued),
        (Failed, Waiting),
        (Cancelled, Queued),
        (Cancelled, Waiting),
    ];

    #[test]
    fn transition_table_allows_exactly_the_documented_edges() {
        for from in TaskState::ALL {
            for to in TaskState::ALL {
                let expected = EDGES.contains(&(from, to));
                assert_eq!(
                    from.can_move_to(to),
                    expected,
                    "{from} -> {to} should be {}",
                    if expected { "allowed" } else { "refused" }
                );
            }
        }
    }

    #[test]
    fn completed_is_a_dead_end_and_no_state_moves_to_itself() {
        for to in TaskState::ALL {
            assert!(!Completed.can_move_to(to));
            assert!(!to.can_move_to(to));
        }
    }

    #[test]
    fn state_machine_doc_draws_every_edge() {
        let doc = include_str!("../../../docs/state-machine.md");
        for (from, to) in EDGES {
            let edge = format!("{from} --> {to}");
            assert!(doc.contains(&edge), "docs/state-machine.md lacks `{edge}`");
        }
    }

    #[test]
    fn codes_are_unique_and_names_round_trip() {
        let mut codes: Vec<u8> = TaskState::ALL.iter().map(|s| s.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TaskState::ALL.len());
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>(), Ok(state));
        }
        assert!("bogus".parse::<TaskState>().is_err());
    }
}

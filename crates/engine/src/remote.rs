//! Events another runner committed (read from the PostgreSQL outbox,
//! `pg_events`), applied to this process: what the writer does after its
//! own commits, for a change made elsewhere. The engine's tail of the
//! outbox calls [`apply_remote`] for each event of another runner.

use crate::events::{Draft, Event, EventKind};
use crate::shared::Shared;
use crate::state::TaskState;

/// Publishes `event` on the local broadcast (under a local sequence number,
/// so subscribers see one numbering), wakes the dispatcher for a task queued
/// elsewhere and the scheduler for one scheduled elsewhere (its due time may
/// be earlier than the next wake-up), and aborts this process's attempt of a
/// running task cancelled elsewhere. A batch-mode task that waits for a
/// batch goes to this runner's batch loop too (`runs_tasks`): the loops that
/// gather it race for it, and the first claim takes it. Deliveries are left
/// to the runner that recorded them.
pub(crate) fn apply_remote(shared: &Shared, event: Event, runs_tasks: bool) {
    let (mut wake_dispatcher, mut wake_scheduler) = (false, false);
    if let EventKind::State { from, to, task } = &event.kind {
        wake_dispatcher = *to == TaskState::Queued;
        wake_scheduler = *to == TaskState::Scheduled;
        if runs_tasks && crate::batcher::waits_for_batch(task, event.at) {
            shared.to_batcher(vec![task.id], Vec::new());
        }
        if *from == Some(TaskState::Running) && *to == TaskState::Cancelled {
            shared.abort_if_running(task.id, task.history.len() as u32);
        }
    }
    shared.events.publish(Draft {
        at: event.at,
        task_id: event.task_id,
        kind: event.kind,
    });
    if wake_dispatcher {
        shared.wake_dispatcher.notify_one();
    }
    if wake_scheduler {
        shared.wake_scheduler.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{Attempt, Task};
    use chrono::Utc;
    use futures::FutureExt;

    fn remote(from: Option<TaskState>, task: &Task) -> Event {
        Event {
            seq: 9_000,
            at: Utc::now(),
            task_id: task.id,
            kind: EventKind::State {
                from,
                to: task.status,
                task: std::sync::Arc::new(task.clone()),
            },
        }
    }

    /// A task in `status` after `attempts` claims.
    fn task(status: TaskState, attempts: usize) -> Task {
        let mut task = Task::sample("remote");
        task.status = status;
        task.history = (1..=attempts as u32)
            .map(|n| Attempt::started(n, Utc::now()))
            .collect();
        task
    }

    #[test]
    fn a_remote_event_is_published_locally_under_a_local_number() {
        let shared = Shared::new();
        let mut rx = shared.events.subscribe();
        let queued = task(TaskState::Queued, 0);
        apply_remote(&shared, remote(None, &queued), true);
        let got = rx.try_recv().unwrap();
        assert_eq!(got.seq, 1, "numbered by this process's broadcast");
        assert_eq!(got.task_id, queued.id);
        assert!(matches!(
            got.kind,
            EventKind::State {
                to: TaskState::Queued,
                ..
            }
        ));
    }

    #[test]
    fn a_task_queued_elsewhere_wakes_the_dispatcher_and_one_scheduled_wakes_the_scheduler() {
        let shared = Shared::new();
        apply_remote(&shared, remote(None, &task(TaskState::Queued, 0)), true);
        assert!(shared.wake_dispatcher.notified().now_or_never().is_some());
        assert!(shared.wake_scheduler.notified().now_or_never().is_none());
        apply_remote(&shared, remote(None, &task(TaskState::Scheduled, 0)), true);
        assert!(shared.wake_scheduler.notified().now_or_never().is_some());
        assert!(shared.wake_dispatcher.notified().now_or_never().is_none());
    }

    #[test]
    fn a_batch_task_waiting_elsewhere_goes_to_a_runners_batch_loop_not_a_clients() {
        let mut waiting = task(TaskState::Scheduled, 0);
        waiting.batch = Some(crate::batch::BatchState {
            deadline: Utc::now() + chrono::Duration::hours(1),
            in_batch: None,
        });
        let runner = Shared::new();
        apply_remote(&runner, remote(None, &waiting), true);
        assert_eq!(*runner.batch_waiting.lock().unwrap(), vec![waiting.id]);
        assert!(runner.wake_batcher.notified().now_or_never().is_some());

        let client = Shared::new();
        apply_remote(&client, remote(None, &waiting), false);
        assert!(client.batch_waiting.lock().unwrap().is_empty());
    }

    #[test]
    fn a_cancel_from_elsewhere_aborts_only_this_processs_attempt_of_that_claim() {
        let shared = Shared::new();
        let mine = task(TaskState::Cancelled, 2);
        let token = shared.watch_running(mine.id, 2);
        let earlier_claim = shared.watch_running(mine.id, 1);
        apply_remote(&shared, remote(Some(TaskState::Running), &mine), true);
        assert!(token.is_cancelled());
        assert!(!earlier_claim.is_cancelled());

        // An attempt that runs on another runner: nothing is left behind here.
        let theirs = task(TaskState::Cancelled, 1);
        apply_remote(&shared, remote(Some(TaskState::Running), &theirs), true);
        assert!(!shared.watch_running(theirs.id, 1).is_cancelled());
    }
}

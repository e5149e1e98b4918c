//! The task lifecycle through a real engine on a temporary redb file.

mod common;

use baton_engine::{
    AttemptOutcome, Engine, EventKind, ListQuery, NewTask, TaskError, TaskFilter, TaskState,
};
use common::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn a_submitted_task_completes_with_its_events_in_order_and_survives_reopen() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(task("hello", "echo")).await.unwrap();
    assert_eq!(task.status, TaskState::Queued);
    let states = states_until_terminal(&mut rx, task.id).await;
    assert_eq!(
        states,
        vec![
            (None, TaskState::Queued),
            (Some(TaskState::Queued), TaskState::Running),
            (Some(TaskState::Running), TaskState::Completed),
        ]
    );
    let done = t.engine.get(task.id).await.unwrap();
    assert_eq!(done.output.as_deref(), Some("echo: hello"));
    assert_eq!(done.attempts, 1);
    assert!(done.latency_ms.is_some() && done.finished_at.is_some());
    assert_eq!(done.history.len(), 1);
    assert_eq!(done.history[0].outcome, Some(AttemptOutcome::Completed));

    t.engine.shutdown().await;
    drop(t.engine);
    let reopened = Engine::open(t.config.clone()).await.unwrap();
    assert_eq!(reopened.get(task.id).await.unwrap(), done);
}

#[tokio::test(start_paused = true)]
async fn streamed_output_arrives_in_order_and_concatenates_to_the_output() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(task("a longer prompt to split", "stream=5,sleep=50"))
        .await
        .unwrap();
    let mut chunks = Vec::new();
    loop {
        let event = rx.recv().await.unwrap();
        match event.kind {
            EventKind::Output {
                index,
                chunk,
                attempt,
            } if event.task_id == task.id => {
                assert_eq!(attempt, 1);
                assert_eq!(index as usize, chunks.len(), "chunks out of order");
                chunks.push(chunk);
            }
            EventKind::State {
                to: TaskState::Completed,
                task: done,
                ..
            } if event.task_id == task.id => {
                assert_eq!(chunks.len(), 5);
                assert_eq!(Some(chunks.concat()), done.output);
                break;
            }
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_task_starts_on_time() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let due = t.engine.now() + chrono::Duration::seconds(10);
    let task = t
        .engine
        .submit(NewTask {
            start_at: Some(due),
            ..task("later", "echo")
        })
        .await
        .unwrap();
    assert_eq!(task.status, TaskState::Scheduled);
    let running = reach(&mut rx, task.id, TaskState::Running).await;
    let late = running.started_at.unwrap() - due;
    assert!(late >= chrono::Duration::zero(), "started early: {late}");
    assert!(
        late <= chrono::Duration::milliseconds(5),
        "started {late} late"
    );
}

#[tokio::test(start_paused = true)]
async fn a_task_that_falls_due_starts_in_the_commit_that_queues_it() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            start_at: Some(t.engine.now() + chrono::Duration::seconds(10)),
            // Still running when the test looks at the commits.
            ..task("later", "sleep=1000")
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = t.engine.stats().commits;
    reach(&mut rx, task.id, TaskState::Running).await;
    assert_eq!(t.engine.stats().commits, before + 1);
}

#[tokio::test(start_paused = true)]
async fn a_paused_engine_queues_due_tasks_but_starts_none() {
    let t = started_with(|_| {}).await;
    t.engine.set_paused(true);
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            start_at: Some(t.engine.now() + chrono::Duration::seconds(1)),
            ..task("later", "echo")
        })
        .await
        .unwrap();
    reach(&mut rx, task.id, TaskState::Queued).await;
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        t.engine.get(task.id).await.unwrap().status,
        TaskState::Queued
    );
    t.engine.set_paused(false);
    reach(&mut rx, task.id, TaskState::Completed).await;
}

#[tokio::test(start_paused = true)]
async fn a_task_that_fell_due_while_the_engine_was_stopped_starts_at_once() {
    let t = open_with(|_| {}).await;
    let due = t.engine.now() + chrono::Duration::seconds(2);
    let task = t
        .engine
        .submit(NewTask {
            start_at: Some(due),
            ..task("missed", "echo")
        })
        .await
        .unwrap();
    t.engine.shutdown().await;
    drop(t.engine);

    tokio::time::advance(Duration::from_secs(60)).await;
    let engine = Engine::open(t.config.clone()).await.unwrap();
    let mut rx = engine.subscribe();
    let restarted_at = engine.now();
    engine.start().await;
    let running = reach(&mut rx, task.id, TaskState::Running).await;
    let delay = running.started_at.unwrap() - restarted_at;
    assert!(delay <= chrono::Duration::milliseconds(5), "waited {delay}");
}

#[tokio::test(start_paused = true)]
async fn retries_count_attempts_back_off_and_stop_at_max_attempts() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            max_attempts: Some(3),
            ..task("flaky", "fail=10")
        })
        .await
        .unwrap();
    for attempt in 1..=2u32 {
        let retry = reach(&mut rx, task.id, TaskState::Scheduled).await;
        assert_eq!(retry.attempts, attempt);
        let failed_at = retry.history.last().unwrap().finished_at.unwrap();
        let wait = retry.start_at.unwrap() - failed_at;
        // Backoff base 100 ms: ceiling 100 ms, then 200 ms; jitter keeps half of it.
        let ceiling = chrono::Duration::milliseconds(100 << (attempt - 1));
        assert!(
            wait >= ceiling / 2 && wait <= ceiling,
            "attempt {attempt}: waited {wait}"
        );
        assert!(retry
            .error
            .as_deref()
            .unwrap()
            .contains("simulated transient failure"));
    }
    let failed = reach(&mut rx, task.id, TaskState::Failed).await;
    assert_eq!(failed.attempts, 3);
    let outcomes: Vec<_> = failed.history.iter().map(|a| a.outcome.unwrap()).collect();
    assert_eq!(
        outcomes,
        vec![
            AttemptOutcome::Retrying,
            AttemptOutcome::Retrying,
            AttemptOutcome::Failed
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_retryable_failure_then_success_completes_on_the_second_attempt() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(task("once", "fail=1")).await.unwrap();
    let done = reach(&mut rx, task.id, TaskState::Completed).await;
    assert_eq!(done.attempts, 2);
    assert_eq!(done.error, None);
    assert_eq!(done.output.as_deref(), Some("echo: once"));
}

#[tokio::test(start_paused = true)]
async fn a_fatal_error_fails_at_once_without_a_retry() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(task("doomed", "fatal")).await.unwrap();
    let failed = reach(&mut rx, task.id, TaskState::Failed).await;
    assert_eq!(failed.attempts, 1);
    assert!(failed.error.as_deref().unwrap().contains("fatal"));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_on_the_last_attempt_fails_the_task() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            max_attempts: Some(2),
            timeout_ms: Some(1000),
            ..task("slow", "sleep=60000")
        })
        .await
        .unwrap();
    let failed = reach(&mut rx, task.id, TaskState::Failed).await;
    assert_eq!(failed.attempts, 2);
    assert_eq!(failed.error.as_deref(), Some("timed out after 1s"));
    assert!(failed
        .history
        .iter()
        .all(|a| a.outcome == Some(AttemptOutcome::TimedOut)));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_provider_fails_only_its_own_attempt() {
    let t = started_with(|c| c.workers = 1).await;
    let mut rx = t.engine.subscribe();
    let bad = t
        .engine
        .submit(NewTask {
            max_attempts: Some(1),
            ..task("boom", "panic")
        })
        .await
        .unwrap();
    let good = t.engine.submit(task("fine", "echo")).await.unwrap();
    let failed = reach(&mut rx, bad.id, TaskState::Failed).await;
    assert!(
        failed.error.as_deref().unwrap().contains("panicked"),
        "{:?}",
        failed.error
    );
    let done = reach(&mut rx, good.id, TaskState::Completed).await;
    assert_eq!(done.output.as_deref(), Some("echo: fine"));
}

#[tokio::test(start_paused = true)]
async fn a_chained_task_waits_for_its_parent_and_binds_its_output() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let parent = t.engine.submit(task("parent", "sleep=100")).await.unwrap();
    let child = t
        .engine
        .chain(parent.id, task("Summarise: {{parent.output}}", "echo"))
        .await
        .unwrap();
    assert_eq!(child.status, TaskState::Waiting);
    assert_eq!(child.parent_task_id, Some(parent.id));
    let done = reach(&mut rx, child.id, TaskState::Completed).await;
    assert_eq!(
        done.effective_prompt.as_deref(),
        Some("Summarise: echo: parent")
    );
    assert_eq!(
        done.output.as_deref(),
        Some("echo: Summarise: echo: parent")
    );
    assert_eq!(t.engine.children(parent.id).await.unwrap(), vec![child.id]);
}

#[tokio::test(start_paused = true)]
async fn chaining_onto_a_completed_parent_runs_at_once_with_its_output_first() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let parent = t.engine.submit(task("p", "echo")).await.unwrap();
    reach(&mut rx, parent.id, TaskState::Completed).await;
    let child = t
        .engine
        .chain(parent.id, task("Translate", "echo"))
        .await
        .unwrap();
    assert_eq!(child.status, TaskState::Queued);
    assert_eq!(
        child.effective_prompt.as_deref(),
        Some("echo: p\n\nTranslate")
    );
    reach(&mut rx, child.id, TaskState::Completed).await;
}

#[tokio::test(start_paused = true)]
async fn chaining_onto_a_failed_cancelled_or_unknown_parent_is_refused_and_stores_nothing() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let failed = t.engine.submit(task("f", "fatal")).await.unwrap();
    reach(&mut rx, failed.id, TaskState::Failed).await;
    let cancelled = t
        .engine
        .submit(NewTask {
            start_at: Some(t.engine.now() + chrono::Duration::hours(1)),
            ..task("c", "echo")
        })
        .await
        .unwrap();
    t.engine.cancel(cancelled.id, None).await.unwrap();
    let before = t.engine.counts().await.unwrap();

    for parent in [failed.id, cancelled.id] {
        let err = t
            .engine
            .chain(parent, task("child", "echo"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_state", "{err}");
        assert!(err.to_string().contains("cannot be chained"), "{err}");
    }
    let unknown: baton_engine::TaskId = "0190a8a0-0000-7000-8000-000000000000".parse().unwrap();
    let err = t
        .engine
        .chain(unknown, task("child", "echo"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no task has that id"), "{err}");
    assert_eq!(t.engine.counts().await.unwrap(), before);
}

#[tokio::test(start_paused = true)]
async fn a_failing_parent_cancels_its_waiting_children_and_grandchildren() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let parent = t
        .engine
        .submit(NewTask {
            max_attempts: Some(1),
            ..task("p", "sleep=100,fatal")
        })
        .await
        .unwrap();
    let child = t.engine.chain(parent.id, task("c", "echo")).await.unwrap();
    let grandchild = t.engine.chain(child.id, task("g", "echo")).await.unwrap();
    let c = reach(&mut rx, child.id, TaskState::Cancelled).await;
    assert_eq!(
        c.cancel_reason,
        Some(format!("parent task {} failed", parent.id))
    );
    let g = reach(&mut rx, grandchild.id, TaskState::Cancelled).await;
    assert_eq!(
        g.cancel_reason,
        Some(format!("parent task {} was cancelled", child.id))
    );
    assert_eq!(g.attempts, 0);
}

#[tokio::test(start_paused = true)]
async fn cancelled_queued_scheduled_and_waiting_tasks_never_run() {
    let t = started_with(|_| {}).await;
    t.engine.set_paused(true);
    let queued = t.engine.submit(task("q", "echo")).await.unwrap();
    let scheduled = t
        .engine
        .submit(NewTask {
            start_at: Some(t.engine.now() + chrono::Duration::seconds(1)),
            ..task("s", "echo")
        })
        .await
        .unwrap();
    let waiting = t
        .engine
        .chain(scheduled.id, task("w", "echo"))
        .await
        .unwrap();
    assert_eq!(
        (queued.status, scheduled.status, waiting.status),
        (TaskState::Queued, TaskState::Scheduled, TaskState::Waiting)
    );
    for id in [queued.id, waiting.id, scheduled.id] {
        let c = t
            .engine
            .cancel(id, Some("not needed".into()))
            .await
            .unwrap();
        assert!(c.changed);
    }
    t.engine.set_paused(false);
    tokio::time::advance(Duration::from_secs(5)).await;
    idle(&t.engine).await;
    for id in [queued.id, scheduled.id, waiting.id] {
        let task = t.engine.get(id).await.unwrap();
        assert_eq!(task.status, TaskState::Cancelled);
        assert_eq!(task.attempts, 0);
        assert!(task.history.is_empty() && task.output.is_none());
        assert_eq!(task.cancel_reason.as_deref(), Some("not needed"));
    }
}

#[tokio::test]
async fn cancelling_a_running_task_aborts_the_provider_call_within_100ms() {
    let (gate, mut calls) = gate();
    let t = started_with(|c| c.providers.insert("gate", gate)).await;
    let task = t
        .engine
        .submit(NewTask {
            provider: Some("gate".into()),
            ..NewTask::new("hold on")
        })
        .await
        .unwrap();
    assert_eq!(calls.started.recv().await, Some(task.id));
    let cancelled = t.engine.cancel(task.id, None).await.unwrap();
    assert_eq!(cancelled.previous, TaskState::Running);
    let aborted = tokio::time::timeout(Duration::from_millis(100), calls.dropped.recv()).await;
    assert_eq!(
        aborted.expect("provider call still running 100 ms after cancel"),
        Some(task.id)
    );
    let stored = t.engine.get(task.id).await.unwrap();
    assert_eq!(stored.status, TaskState::Cancelled);
    assert_eq!(stored.history[0].outcome, Some(AttemptOutcome::Cancelled));
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn cancelling_twice_is_a_no_op_and_a_completed_task_cannot_be_cancelled() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let done = t.engine.submit(task("x", "echo")).await.unwrap();
    reach(&mut rx, done.id, TaskState::Completed).await;
    let err = t.engine.cancel(done.id, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            TaskError::Conflict {
                state: TaskState::Completed,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("is completed"), "{err}");

    let later = t
        .engine
        .submit(NewTask {
            start_at: Some(t.engine.now() + chrono::Duration::hours(1)),
            ..task("y", "echo")
        })
        .await
        .unwrap();
    let first = t
        .engine
        .cancel(later.id, Some("first".into()))
        .await
        .unwrap();
    let second = t
        .engine
        .cancel(later.id, Some("second".into()))
        .await
        .unwrap();
    assert!(first.changed && !second.changed);
    assert_eq!(second.task, first.task);
    assert_eq!(second.task.cancel_reason.as_deref(), Some("first"));
}

#[tokio::test(start_paused = true)]
async fn many_workers_never_run_one_task_twice_nor_more_than_their_slots() {
    let counter = Arc::new(common::Counter {
        hold: Duration::from_millis(7),
        ..Default::default()
    });
    let t = started_with(|c| {
        c.workers = 16;
        c.providers.insert("count", counter.clone());
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..300 {
        let task = t
            .engine
            .submit(NewTask {
                provider: Some("count".into()),
                ..NewTask::new(format!("task {i}"))
            })
            .await
            .unwrap();
        ids.push(task.id);
    }
    idle(&t.engine).await;
    let calls = counter.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 300);
    assert!(calls.values().all(|&n| n == 1), "some task ran twice");
    let max = counter.max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 16, "{max} attempts ran at once with 16 slots");
    assert!(max > 1, "the pool never ran attempts concurrently");
    for id in ids {
        assert_eq!(t.engine.get(id).await.unwrap().status, TaskState::Completed);
    }
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_with_one_sentence_and_changes_nothing() {
    let t = started_with(|_| {}).await;
    t.engine.submit(task("existing", "echo")).await.unwrap();
    idle(&t.engine).await;
    let before = t.engine.export().await.unwrap().tasks;
    let cases: Vec<(NewTask, &str)> = vec![
        (NewTask::new("   \n"), "the prompt is empty"),
        (NewTask::new("x".repeat(1024 * 1024 + 1)), "over the limit"),
        (
            NewTask {
                max_attempts: Some(0),
                ..NewTask::new("p")
            },
            "between 1 and 20",
        ),
        (
            NewTask {
                max_attempts: Some(21),
                ..NewTask::new("p")
            },
            "between 1 and 20",
        ),
        (
            NewTask {
                timeout_ms: Some(0),
                ..NewTask::new("p")
            },
            "longer than zero",
        ),
        (
            NewTask {
                timeout_ms: Some(25 * 3600 * 1000),
                ..NewTask::new("p")
            },
            "at most 24 hours",
        ),
        (
            NewTask {
                provider: Some("nope".into()),
                ..NewTask::new("p")
            },
            "unknown provider 'nope'",
        ),
        (
            NewTask {
                model: Some("sleep=abc".into()),
                ..NewTask::new("p")
            },
            "needs a whole number",
        ),
        (
            NewTask {
                name: Some(" ".into()),
                ..NewTask::new("p")
            },
            "the name is empty",
        ),
    ];
    for (new, expected) in cases {
        let err = t.engine.submit(new).await.unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        let text = err.to_string();
        assert!(
            text.contains(expected),
            "{text:?} should contain {expected:?}"
        );
        assert!(!text.contains('\n'), "not one sentence: {text:?}");
    }
    let unknown: baton_engine::TaskId = "0190a8a0-0000-7000-8000-000000000000".parse().unwrap();
    assert!(matches!(
        t.engine.get(unknown).await,
        Err(TaskError::NotFound(_))
    ));
    assert!(matches!(
        t.engine.cancel(unknown, None).await,
        Err(TaskError::NotFound(_))
    ));
    assert!(matches!(
        t.engine.retry(unknown, None).await,
        Err(TaskError::NotFound(_))
    ));
    assert_eq!(t.engine.export().await.unwrap().tasks, before);
}

#[tokio::test(start_paused = true)]
async fn a_manual_retry_requeues_a_failed_task_and_refuses_other_states() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            max_attempts: Some(1),
            ..task("again", "fail=1")
        })
        .await
        .unwrap();
    reach(&mut rx, task.id, TaskState::Failed).await;
    let err = t.engine.retry(task.id, Some(0)).await.unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    let retried = t.engine.retry(task.id, Some(2)).await.unwrap();
    assert_eq!(
        (retried.status, retried.attempts, retried.max_attempts),
        (TaskState::Queued, 0, 2)
    );
    assert_eq!(retried.error, None);
    // fail=1 fails only the first attempt: after the reset, attempt 1 fails again,
    // attempt 2 succeeds.
    let done = reach(&mut rx, task.id, TaskState::Completed).await;
    assert_eq!(done.attempts, 2);
    let err = t.engine.retry(task.id, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            TaskError::Conflict {
                state: TaskState::Completed,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("only failed or cancelled tasks can be retried"));
}

#[tokio::test(start_paused = true)]
async fn a_task_that_falls_due_while_every_slot_is_busy_starts_when_the_slot_frees() {
    let t = started_with(|c| c.workers = 1).await;
    let mut rx = t.engine.subscribe();
    let busy = t.engine.submit(task("busy", "sleep=5000")).await.unwrap();
    reach(&mut rx, busy.id, TaskState::Running).await;
    let due = t
        .engine
        .submit(NewTask {
            start_at: Some(t.engine.now() + chrono::Duration::seconds(1)),
            ..task("due", "echo")
        })
        .await
        .unwrap();
    // Promoted on time, but the only slot is taken: it waits, queued.
    reach(&mut rx, due.id, TaskState::Queued).await;
    assert_eq!(
        t.engine.get(busy.id).await.unwrap().status,
        TaskState::Running
    );
    let freed = reach(&mut rx, busy.id, TaskState::Completed).await;
    let started = reach(&mut rx, due.id, TaskState::Running).await;
    assert!(started.started_at >= freed.finished_at);
    reach(&mut rx, due.id, TaskState::Completed).await;
}

#[tokio::test(start_paused = true)]
async fn a_slot_freed_while_paused_claims_nothing_until_resumed() {
    let t = started_with(|c| c.workers = 1).await;
    let mut rx = t.engine.subscribe();
    let busy = t.engine.submit(task("busy", "sleep=5000")).await.unwrap();
    reach(&mut rx, busy.id, TaskState::Running).await;
    // Paused before `next` is submitted: the clock moves on by itself while
    // this test awaits the submit's commit, and `busy` could finish first.
    t.engine.set_paused(true);
    let next = t.engine.submit(task("next", "echo")).await.unwrap();
    // The finishing attempt would take `next` in its own commit; paused, the
    // dispatcher sends no claim with the outcome.
    reach(&mut rx, busy.id, TaskState::Completed).await;
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        t.engine.get(next.id).await.unwrap().status,
        TaskState::Queued
    );
    t.engine.set_paused(false);
    reach(&mut rx, next.id, TaskState::Completed).await;
}

#[tokio::test(start_paused = true)]
async fn pausing_stops_new_claims_until_resumed() {
    let t = started_with(|_| {}).await;
    t.engine.set_paused(true);
    assert!(t.engine.is_paused());
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(task("later", "echo")).await.unwrap();
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        t.engine.get(task.id).await.unwrap().status,
        TaskState::Queued
    );
    t.engine.set_paused(false);
    reach(&mut rx, task.id, TaskState::Completed).await;
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_requeues_attempts_that_outlive_the_grace_period() {
    let (gate, mut calls) = gate();
    let t = started_with(|c| {
        c.grace = Duration::from_millis(200);
        c.providers.insert("gate", gate);
    })
    .await;
    let task = t
        .engine
        .submit(NewTask {
            provider: Some("gate".into()),
            ..NewTask::new("long")
        })
        .await
        .unwrap();
    calls.started.recv().await.unwrap();
    t.engine.shutdown().await;
    t.engine.shutdown().await; // twice is fine
    assert_eq!(calls.dropped.recv().await, Some(task.id));
    assert!(matches!(
        t.engine.submit(NewTask::new("x")).await,
        Err(TaskError::ShuttingDown)
    ));
    drop(t.engine);

    let engine = Engine::open(t.config.clone()).await.unwrap();
    let stored = engine.get(task.id).await.unwrap();
    assert_eq!(stored.status, TaskState::Queued);
    assert_eq!(stored.attempts, 0, "a shutdown does not use up an attempt");
    assert_eq!(stored.history[0].outcome, Some(AttemptOutcome::Interrupted));
}

#[tokio::test(start_paused = true)]
async fn an_attempt_given_back_at_shutdown_and_the_next_have_different_history_numbers() {
    let (gate, mut calls) = gate();
    let t = started_with(|c| {
        c.grace = Duration::from_millis(200);
        c.providers.insert("gate", gate);
    })
    .await;
    let task = t
        .engine
        .submit(NewTask {
            provider: Some("gate".into()),
            ..NewTask::new("long")
        })
        .await
        .unwrap();
    calls.started.recv().await.unwrap();
    t.engine.shutdown().await;
    drop(t.engine);

    let engine = Engine::open(t.config.clone()).await.unwrap();
    engine.start().await;
    assert_eq!(calls.started.recv().await, Some(task.id));
    let stored = engine.get(task.id).await.unwrap();
    let numbers: Vec<u32> = stored.history.iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2], "{:?}", stored.history);
    assert_eq!(stored.attempts, 1, "the given-back attempt is not counted");
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_before_start_closes_the_database() {
    let t = open_with(|_| {}).await;
    t.engine.shutdown().await;
    drop(t.engine);
    Engine::open(t.config.clone())
        .await
        .expect("the file lock was released");
}

#[test]
fn a_crash_requeues_running_tasks_or_fails_those_without_attempts_left() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, mut calls) = gate();
    let mut config = config(&dir);
    config.clock = baton_engine::Clock::System;
    config.providers.insert("gate", gate);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (again, last) = rt.block_on(async {
        let engine = Engine::open(config.clone()).await.unwrap();
        engine.start().await;
        let gated = |max| NewTask {
            provider: Some("gate".into()),
            max_attempts: Some(max),
            ..NewTask::new("crash me")
        };
        let again = engine.submit(gated(3)).await.unwrap();
        let last = engine.submit(gated(1)).await.unwrap();
        calls.started.recv().await.unwrap();
        calls.started.recv().await.unwrap();
        (again.id, last.id)
    });
    // Like a kill: no shutdown code runs; the runtime drops every task mid-flight
    // (dropping waits for that, which releases the file).
    drop(rt);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = Engine::open(config.clone()).await.unwrap();
        let again = engine.get(again).await.unwrap();
        assert_eq!((again.status, again.attempts), (TaskState::Queued, 1));
        assert_eq!(again.history[0].outcome, Some(AttemptOutcome::Interrupted));
        let last = engine.get(last).await.unwrap();
        assert_eq!(last.status, TaskState::Failed);
        assert_eq!(last.error.as_deref(), Some("interrupted"));
        let counts = engine.counts().await.unwrap();
        assert_eq!((counts.running, counts.queued, counts.failed), (0, 1, 1));
        engine.shutdown().await;
    });
}

#[tokio::test(start_paused = true)]
async fn list_filters_by_status_and_parent_newest_first() {
    let t = open_with(|_| {}).await;
    let a = t.engine.submit(task("a", "echo")).await.unwrap();
    let b = t.engine.submit(task("b", "echo")).await.unwrap();
    let c = t.engine.chain(a.id, task("c", "echo")).await.unwrap();
    let all = t
        .engine
        .list(ListQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![c.id, b.id, a.id]
    );
    let waiting = t
        .engine
        .list(ListQuery {
            filter: TaskFilter {
                status: Some(TaskState::Waiting),
                ..TaskFilter::default()
            },
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(waiting.iter().map(|t| t.id).collect::<Vec<_>>(), vec![c.id]);
    let kids = t
        .engine
        .list(ListQuery {
            filter: TaskFilter {
                parent_task_id: Some(a.id),
                ..TaskFilter::default()
            },
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(kids.iter().map(|t| t.id).collect::<Vec<_>>(), vec![c.id]);
    let counts = t.engine.counts().await.unwrap();
    assert_eq!((counts.queued, counts.waiting, counts.total()), (2, 1, 3));
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_the_database_even_while_engine_handles_live_on() {
    // The desktop app exits right after shutdown with its state still holding the
    // engine: the file must already be closed cleanly by then.
    let t = started_with(|_| {}).await;
    let task = t.engine.submit(task("x", "echo")).await.unwrap();
    t.engine.shutdown().await;
    assert!(matches!(
        t.engine.get(task.id).await,
        Err(TaskError::ShuttingDown)
    ));
    let reopened = Engine::open(t.config.clone())
        .await
        .expect("the file is closed although `t.engine` is still alive");
    assert_eq!(reopened.get(task.id).await.unwrap().id, task.id);
}

#[tokio::test(start_paused = true)]
async fn a_retried_task_cancelled_while_scheduled_runs_now_ahead_of_later_work() {
    // One slot, paused: the queue order alone decides which task runs first.
    let t = started_with(|c| c.workers = 1).await;
    t.engine.set_paused(true);
    let mut rx = t.engine.subscribe();
    let later = t.engine.now() + chrono::Duration::hours(2);
    let cancelled = t
        .engine
        .submit(NewTask {
            start_at: Some(later),
            ..task("was scheduled", "echo")
        })
        .await
        .unwrap();
    t.engine.cancel(cancelled.id, None).await.unwrap();
    let waiting = t.engine.submit(task("queued first", "echo")).await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    let retried = t.engine.retry(cancelled.id, None).await.unwrap();
    assert_eq!(retried.status, TaskState::Queued);
    assert_eq!(retried.start_at, Some(t.engine.now()));
    t.engine.set_paused(false);
    // FIFO by the time each became ready: the other task, then the retry, both
    // long before the cancelled start time.
    let first = reach(&mut rx, waiting.id, TaskState::Completed).await;
    let second = reach(&mut rx, cancelled.id, TaskState::Completed).await;
    assert!(first.finished_at <= second.started_at);
    assert!(second.finished_at.unwrap() < later);
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_past_the_grace_period_still_closes_the_file_cleanly() {
    let t = started_with(|c| c.grace = Duration::from_millis(100)).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(task("long", "sleep=60000")).await.unwrap();
    reach(&mut rx, task.id, TaskState::Running).await;
    t.engine.shutdown().await;
    // redb's header: byte 9 bit 1 is "recovery required", cleared on a clean close.
    let header = std::fs::read(&t.config.db_path).unwrap();
    assert_eq!(&header[..4], b"redb");
    assert_eq!(header[9] & 0b10, 0, "the file was left needing recovery");
    let reopened = Engine::open(t.config.clone()).await.unwrap();
    let back = reopened.get(task.id).await.unwrap();
    assert_eq!((back.status, back.attempts), (TaskState::Queued, 0));
}

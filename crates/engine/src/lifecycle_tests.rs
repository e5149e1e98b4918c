//! Outcomes that arrive too late or twice change nothing.

use super::*;
use crate::store::Store;
use rand::SeedableRng;

fn new_task(prompt: &str) -> Task {
    Task::sample(prompt)
}

/// Runs `f` in one committed transaction.
fn write<T>(store: &Store, f: impl FnOnce(&mut WriteTxn, &mut Ctx) -> T) -> T {
    let mut rng = StdRng::seed_from_u64(7);
    let mut events = Vec::new();
    let batch = store.begin().unwrap();
    let mut txn = batch.txn();
    let mut ctx = Ctx {
        now: Utc::now(),
        backoff: Backoff::default(),
        rng: &mut rng,
        events: &mut events,
        schedules: &mut Vec::new(),
    };
    let out = f(&mut txn, &mut ctx);
    drop(txn);
    batch.commit().unwrap();
    out
}

fn completed(id: TaskId, claim_no: u32) -> Outcome {
    Outcome {
        id,
        claim_no,
        result: AttemptResult::Completed {
            output: "late".into(),
        },
        usage: Default::default(),
    }
}

#[test]
fn a_late_outcome_after_cancel_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("b.redb")).unwrap();
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    let claimed = write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    assert_eq!(claimed[0].id, task.id);
    write(&store, |txn, ctx| cancel(txn, ctx, task.id, None).unwrap());
    let before = store.get(task.id).unwrap();

    let late = write(&store, |txn, ctx| {
        finish(txn, ctx, completed(task.id, 1)).unwrap()
    });
    assert_eq!(late, None);
    assert_eq!(store.get(task.id).unwrap(), before);
    assert_eq!(before.as_ref().unwrap().status, TaskState::Cancelled);
}

#[test]
fn a_duplicate_or_stale_outcome_records_no_second_completion() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("b.redb")).unwrap();
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    let first = write(&store, |txn, ctx| {
        finish(txn, ctx, completed(task.id, 1)).unwrap()
    });
    assert_eq!(first.map(|t| t.status), Some(TaskState::Completed));
    let after_first = store.get(task.id).unwrap();

    // The same report again, and one for an attempt that never ran.
    for attempt in [1, 2] {
        let again = write(&store, |txn, ctx| {
            finish(txn, ctx, completed(task.id, attempt)).unwrap()
        });
        assert_eq!(again, None);
    }
    let stored = store.get(task.id).unwrap();
    assert_eq!(stored, after_first);
    let completions = stored
        .unwrap()
        .history
        .iter()
        .filter(|a| a.outcome == Some(AttemptOutcome::Completed))
        .count();
    assert_eq!(completions, 1);
}

#[test]
fn an_outcome_from_before_a_crash_is_ignored_after_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("b.redb")).unwrap();
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    write(&store, |txn, ctx| recover(txn, ctx).unwrap());
    // Claimed again: attempt 2 is the current one.
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    let stale = write(&store, |txn, ctx| {
        finish(txn, ctx, completed(task.id, 1)).unwrap()
    });
    assert_eq!(stale, None);
    let current = write(&store, |txn, ctx| {
        finish(txn, ctx, completed(task.id, 2)).unwrap()
    });
    assert_eq!(
        current.map(|t| (t.status, t.attempts)),
        Some((TaskState::Completed, 2))
    );
}

#[test]
fn an_outcome_from_before_a_manual_retry_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("b.redb")).unwrap();
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    write(&store, |txn, ctx| cancel(txn, ctx, task.id, None).unwrap());
    write(&store, |txn, ctx| retry(txn, ctx, task.id, None).unwrap());
    let again = write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    // Attempts restarted at 1, but this is the task's second run.
    assert_eq!((again[0].attempts, again[0].history.len()), (1, 2));
    let stale = write(&store, |txn, ctx| {
        finish(txn, ctx, completed(task.id, 1)).unwrap()
    });
    assert_eq!(stale, None);
    assert_eq!(
        store.get(task.id).unwrap().unwrap().status,
        TaskState::Running
    );
    let current = write(&store, |txn, ctx| {
        finish(txn, ctx, completed(task.id, 2)).unwrap()
    });
    assert_eq!(current.map(|t| t.status), Some(TaskState::Completed));
}

#[test]
fn streamed_output_is_appended_only_to_the_current_run_and_a_retry_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("b.redb")).unwrap();
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    let output = |store: &Store| store.get(task.id).unwrap().unwrap().output;
    for piece in ["par", "tial"] {
        assert!(write(&store, |txn, _| append_output(
            txn, task.id, 1, piece
        )
        .unwrap()));
    }
    assert_eq!(output(&store).as_deref(), Some("partial"));
    // An append for another run changes nothing.
    assert!(!write(&store, |txn, _| append_output(txn, task.id, 2, "x")
        .unwrap()));

    // A transient failure keeps the partial output; the retry's claim clears it.
    let failed = Outcome {
        id: task.id,
        claim_no: 1,
        result: AttemptResult::Failed {
            error: "cut".into(),
            retryable: true,
            retry_after: Some(std::time::Duration::ZERO),
            failure: None,
        },
        usage: AttemptUsage {
            prompt_tokens: Some(5),
            completion_tokens: Some(2),
            ttft_ms: Some(40),
            cost_usd: Some(0.5),
            ..AttemptUsage::default()
        },
    };
    let retrying = write(&store, |txn, ctx| finish(txn, ctx, failed).unwrap()).unwrap();
    assert_eq!(retrying.status, TaskState::Scheduled);
    assert_eq!(retrying.output.as_deref(), Some("partial"));
    assert_eq!(
        (retrying.prompt_tokens, retrying.completion_tokens),
        (Some(5), Some(2))
    );
    assert_eq!(retrying.history[0].ttft_ms, Some(40));
    // A late append from the failed run changes nothing now.
    assert!(!write(&store, |txn, _| append_output(
        txn, task.id, 1, "late"
    )
    .unwrap()));
    write(&store, |txn, ctx| promote_due(txn, ctx).unwrap());
    let claimed = write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    assert_eq!(claimed[0].output, None);
    let done = write(&store, |txn, ctx| {
        finish(txn, ctx, completed(task.id, 2)).unwrap()
    })
    .unwrap();
    assert_eq!(done.output.as_deref(), Some("late"));
    // Tokens and cost add up over attempts; the completion reported none.
    assert_eq!(done.prompt_tokens, Some(5));
    assert_eq!(done.cost_usd.map(|c| c.0), Some(0.5));
}

#[test]
fn a_claim_skips_held_tasks_within_its_scan_and_they_keep_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("b.redb")).unwrap();
    let ids: Vec<TaskId> = write(&store, |txn, ctx| {
        (0..10)
            .map(|i| create(txn, ctx, new_task(&format!("t{i}"))).unwrap().id)
            .collect()
    });
    let held: Vec<TaskId> = ids[..5].to_vec();
    let claim_some = |max: usize, scan: usize| {
        let mut looked = Vec::new();
        let claimed = write(&store, |txn, ctx| {
            claim_where(txn, ctx, max, scan, |t| {
                looked.push(t.id);
                !held.contains(&t.id)
            })
            .unwrap()
        });
        (claimed.iter().map(|t| t.id).collect::<Vec<_>>(), looked)
    };

    // Five held at the head: the claim looks past them, each once.
    let (claimed, looked) = claim_some(2, 100);
    assert_eq!(claimed, ids[5..7]);
    assert_eq!(looked, ids[..7]);
    // The scan bounds how many it looks at, held ones included.
    let (claimed, looked) = claim_some(3, 6);
    assert_eq!(claimed, ids[7..8]);
    assert_eq!(looked, [&ids[..5], &ids[7..8]].concat());
    let batch = store.begin().unwrap();
    let queue = batch.txn().queue_head(100).unwrap();
    assert_eq!(queue, [&ids[..5], &ids[8..]].concat());
}

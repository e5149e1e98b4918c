//! Outcomes that arrive too late or twice change nothing.

use super::*;
use crate::conformance::Backend;
use crate::storage::{Storage, UnitOfWork};
use rand::SeedableRng;

fn new_task(prompt: &str) -> Task {
    Task::sample(prompt)
}

/// Runs `f` in one committed unit of work.
pub(crate) fn write<S: Storage, T>(
    store: &S,
    f: impl FnOnce(&mut <S::Unit as UnitOfWork>::Txn<'_>, &mut Ctx) -> T,
) -> T {
    write_at(store, Utc::now(), f).0
}

/// [`write`] at `now`; also returns the unit's events.
pub(crate) fn write_at<S: Storage, T>(
    store: &S,
    now: DateTime<Utc>,
    f: impl FnOnce(&mut <S::Unit as UnitOfWork>::Txn<'_>, &mut Ctx) -> T,
) -> (T, Vec<Draft>) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut events = Vec::new();
    let batch = store.begin().unwrap();
    let mut txn = batch.txn();
    let mut ctx = Ctx {
        now,
        backoff: Backoff::default(),
        rng: &mut rng,
        events: &mut events,
        schedules: &mut Vec::new(),
    };
    let out = f(&mut txn, &mut ctx);
    // As the writer does: a shared backend records the unit's events.
    txn.record_events(&events).unwrap();
    drop(txn);
    batch.commit().unwrap();
    (out, events)
}

pub(crate) fn completed(id: TaskId, claim_no: u32) -> Outcome {
    Outcome {
        id,
        claim_no,
        result: AttemptResult::Completed {
            output: "late".into(),
            output_json: None,
        },
        usage: Default::default(),
        fits: Vec::new(),
    }
}

pub(crate) fn a_late_outcome_after_cancel_changes_nothing<B: Backend>() {
    let place = B::place();
    let store = B::open(&place);
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    let claimed = write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    assert_eq!(claimed[0].id, task.id);
    write(&store, |txn, ctx| cancel(txn, ctx, task.id, None).unwrap());
    let before = store.get(task.id).unwrap();

    let late = write(&store, |txn, ctx| {
        finish(txn, ctx, &completed(task.id, 1)).unwrap()
    });
    assert_eq!(late, None);
    assert_eq!(store.get(task.id).unwrap(), before);
    assert_eq!(before.as_ref().unwrap().status, TaskState::Cancelled);
}

pub(crate) fn a_duplicate_or_stale_outcome_records_no_second_completion<B: Backend>() {
    let place = B::place();
    let store = B::open(&place);
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    let first = write(&store, |txn, ctx| {
        finish(txn, ctx, &completed(task.id, 1)).unwrap()
    });
    assert_eq!(first.map(|t| t.status), Some(TaskState::Completed));
    let after_first = store.get(task.id).unwrap();

    // The same report again, and one for an attempt that never ran.
    for attempt in [1, 2] {
        let again = write(&store, |txn, ctx| {
            finish(txn, ctx, &completed(task.id, attempt)).unwrap()
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

pub(crate) fn an_outcome_from_before_a_crash_is_ignored_after_recovery<B: Backend>() {
    let place = B::place();
    let store = B::open(&place);
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    // The crash: the process that ran attempt 1 is gone; the next one recovers.
    drop(store);
    let store = B::open(&place);
    write(&store, |txn, ctx| recover(txn, ctx).unwrap());
    // Claimed again: attempt 2 is the current one.
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    let stale = write(&store, |txn, ctx| {
        finish(txn, ctx, &completed(task.id, 1)).unwrap()
    });
    assert_eq!(stale, None);
    let current = write(&store, |txn, ctx| {
        finish(txn, ctx, &completed(task.id, 2)).unwrap()
    });
    assert_eq!(
        current.map(|t| (t.status, t.attempts)),
        Some((TaskState::Completed, 2))
    );
}

pub(crate) fn an_outcome_from_before_a_manual_retry_is_ignored<B: Backend>() {
    let place = B::place();
    let store = B::open(&place);
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    write(&store, |txn, ctx| cancel(txn, ctx, task.id, None).unwrap());
    write(&store, |txn, ctx| retry(txn, ctx, task.id, None).unwrap());
    let again = write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    // Attempts restarted at 1, but this is the task's second run.
    assert_eq!((again[0].attempts, again[0].history.len()), (1, 2));
    let stale = write(&store, |txn, ctx| {
        finish(txn, ctx, &completed(task.id, 1)).unwrap()
    });
    assert_eq!(stale, None);
    assert_eq!(
        store.get(task.id).unwrap().unwrap().status,
        TaskState::Running
    );
    let current = write(&store, |txn, ctx| {
        finish(txn, ctx, &completed(task.id, 2)).unwrap()
    });
    assert_eq!(current.map(|t| t.status), Some(TaskState::Completed));
}

pub(crate) fn streamed_output_is_appended_only_to_the_current_attempt_and_a_retry_starts_afresh<
    B: Backend,
>() {
    let place = B::place();
    let store = B::open(&place);
    let task = write(&store, |txn, ctx| create(txn, ctx, new_task("x")).unwrap());
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    let output = |store: &B| store.get(task.id).unwrap().unwrap().output;
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
        fits: Vec::new(),
    };
    let retrying = write(&store, |txn, ctx| finish(txn, ctx, &failed).unwrap()).unwrap();
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
        finish(txn, ctx, &completed(task.id, 2)).unwrap()
    })
    .unwrap();
    assert_eq!(done.output.as_deref(), Some("late"));
    // Tokens and cost add up over attempts; the completion reported none.
    assert_eq!(done.prompt_tokens, Some(5));
    assert_eq!(done.cost_usd.map(|c| c.0), Some(0.5));
}

pub(crate) fn a_claim_skips_held_tasks_within_its_scan_and_they_keep_their_place<B: Backend>() {
    let place = B::place();
    let store = B::open(&place);
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

/// A crash between a claim and its outcome: the backend is dropped (as a killed
/// process is) and opened again; recovery requeues the running task that has an
/// attempt left, fails the one that has none, and leaves the others as they were.
pub(crate) fn recovery_after_a_crash_requeues_running_tasks_and_fails_those_out_of_attempts<
    B: Backend,
>() {
    let place = B::place();
    let store = B::open(&place);
    let (again, last, waiting) = write(&store, |txn, ctx| {
        let again = create(txn, ctx, new_task("again")).unwrap();
        let mut once = new_task("once");
        once.max_attempts = 1;
        let last = create(txn, ctx, once).unwrap();
        let waiting = create(txn, ctx, new_task("queued after")).unwrap();
        (again, last, waiting)
    });
    let claimed = write(&store, |txn, ctx| claim(txn, ctx, 2).unwrap());
    assert_eq!(
        claimed.iter().map(|t| t.id).collect::<Vec<_>>(),
        [again.id, last.id]
    );
    // Work begun but never committed is lost with the process.
    let unit = store.begin().unwrap();
    drop(unit);
    drop(store);

    let store = B::open(&place);
    let recovered = write(&store, |txn, ctx| recover(txn, ctx).unwrap());
    let by_id = |id| recovered.iter().find(|t| t.id == id).cloned();
    let again = by_id(again.id).expect("the task with an attempt left is recovered");
    assert_eq!((again.status, again.attempts), (TaskState::Queued, 1));
    assert_eq!(
        again.history.last().and_then(|a| a.outcome),
        Some(AttemptOutcome::Interrupted)
    );
    let last = by_id(last.id).expect("the task out of attempts is recovered");
    assert_eq!(last.status, TaskState::Failed);
    assert_eq!(last.error.as_deref(), Some("interrupted"));
    assert!(
        by_id(waiting.id).is_none(),
        "a queued task is not recovered"
    );
    assert_eq!(
        store.get(waiting.id).unwrap().unwrap().status,
        TaskState::Queued
    );
    let counts = store.counts().unwrap();
    assert_eq!(
        (counts.running, counts.queued, counts.failed),
        (0, 2, 1),
        "counts after recovery"
    );
    // Recovery is done: a second one finds nothing.
    assert!(write(&store, |txn, ctx| recover(txn, ctx).unwrap()).is_empty());
}

/// Two engines on one shared database (a backend several processes open), each
/// claiming and finishing in its own units at once: every task is claimed once
/// and completes once, children are released once, and a replayed outcome
/// changes nothing. Waits are row locks, never sleeps.
pub(crate) fn two_writers_at_once_claim_each_task_once_and_complete_it_once<B>()
where
    B: Backend,
    B::Place: Sync,
{
    const PARENTS: usize = 120;
    let place = B::place();
    let setup = B::open(&place);
    let mut all = Vec::new();
    for i in 0..PARENTS {
        let parent = write(&setup, |txn, ctx| {
            create(txn, ctx, new_task(&format!("p{i}"))).unwrap()
        });
        all.push(parent.id);
        if i % 3 == 0 {
            let mut child = new_task(&format!("c{i}"));
            child.parent_task_id = Some(parent.id);
            let child = write(&setup, |txn, ctx| chain(txn, ctx, child).unwrap());
            assert_eq!(child.status, TaskState::Waiting);
            all.push(child.id);
        }
    }
    drop(setup);
    let total = all.len();

    let claims: Vec<Vec<TaskId>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let place = &place;
                scope.spawn(move || {
                    let store = B::open(place);
                    let mut mine = Vec::new();
                    loop {
                        let claimed = write(&store, |txn, ctx| claim(txn, ctx, 4).unwrap());
                        if claimed.is_empty() {
                            let counts = store.counts().unwrap();
                            if counts.queued + counts.running + counts.waiting == 0 {
                                return mine;
                            }
                            // The other writer holds the rest (or is about to
                            // release a child): look again.
                            std::thread::yield_now();
                            continue;
                        }
                        for task in claimed {
                            assert_eq!(task.attempts, 1, "{} claimed twice", task.id);
                            let done = write(&store, |txn, ctx| {
                                finish(txn, ctx, &completed(task.id, 1)).unwrap()
                            });
                            assert_eq!(done.map(|t| t.status), Some(TaskState::Completed));
                            // The same report again: stale.
                            let again = write(&store, |txn, ctx| {
                                finish(txn, ctx, &completed(task.id, 1)).unwrap()
                            });
                            assert_eq!(again, None);
                            mine.push(task.id);
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    let mut claimed: Vec<TaskId> = claims.concat();
    assert_eq!(claimed.len(), total, "claims across both writers");
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), total, "no task was claimed by both writers");
    let store = B::open(&place);
    for id in &all {
        let task = store.get(*id).unwrap().unwrap();
        assert_eq!(task.status, TaskState::Completed, "{id}");
        assert_eq!(task.history.len(), 1, "one attempt of {id}");
    }
    assert_eq!(store.counts().unwrap().completed, total as u64);
}

pub(crate) fn a_completion_records_its_deliveries_in_the_same_unit_and_tries_move_them_on<
    B: Backend,
>() {
    use crate::delivery::{Deliver, DeliveryStatus, DeliveryTarget, MAX_DELIVERY_ATTEMPTS};
    use crate::outbox::{self, Tried};
    let place = B::place();
    let store = B::open(&place);
    let task = Task {
        deliver: Deliver {
            webhook: Some("http://127.0.0.1:9/hook".into()),
            to_file: Some("/tmp/baton-conformance/out.md".into()),
            ..Deliver::default()
        },
        ..new_task("x")
    };
    let task = write(&store, |txn, ctx| create(txn, ctx, task).unwrap());
    write(&store, |txn, ctx| claim(txn, ctx, 1).unwrap());
    // A completion whose unit is dropped (a crash before the commit) records nothing.
    {
        let mut rng = StdRng::seed_from_u64(7);
        let mut events = Vec::new();
        let unit = store.begin().unwrap();
        let mut txn = unit.txn();
        let mut ctx = Ctx {
            now: Utc::now(),
            backoff: Backoff::default(),
            rng: &mut rng,
            events: &mut events,
            schedules: &mut Vec::new(),
        };
        finish(&mut txn, &mut ctx, &completed(task.id, 1)).unwrap();
        let recorded = events
            .iter()
            .filter(|e| matches!(e.kind, crate::events::EventKind::Delivery { .. }))
            .count();
        assert_eq!(recorded, 2, "recorded in the unit, dropped with it");
    }
    assert_eq!(store.deliveries_of(task.id).unwrap(), vec![]);
    assert_eq!(
        store.get(task.id).unwrap().unwrap().status,
        TaskState::Running
    );

    let done = write(&store, |txn, ctx| {
        finish(txn, ctx, &completed(task.id, 1)).unwrap()
    });
    assert_eq!(done.map(|t| t.status), Some(TaskState::Completed));
    let recorded = store.deliveries_of(task.id).unwrap();
    assert_eq!(recorded.len(), 2);
    assert!(recorded
        .iter()
        .all(|d| d.status == DeliveryStatus::Pending && d.attempt == 1));
    let later = Utc::now() + chrono::Duration::hours(1);
    let (due, _) = store.deliveries_due(later, 10).unwrap();
    assert_eq!(due.len(), 2);
    let hook = recorded
        .iter()
        .find(|d| matches!(d.target, DeliveryTarget::Webhook { .. }))
        .unwrap()
        .clone();
    assert_eq!(hook.idempotency_key(), format!("{}:1", task.id));

    // A refused try waits; a stale report (an old try number) changes nothing.
    let retry = Tried::Retry {
        error: "the receiver answered 503".into(),
        after: None,
    };
    let after_one = write(&store, |txn, ctx| {
        outbox::tried(txn, ctx, hook.id, 1, retry.clone()).unwrap()
    })
    .unwrap();
    assert_eq!(
        (after_one.status, after_one.attempts),
        (DeliveryStatus::Pending, 1)
    );
    assert!(after_one.next_at.unwrap() > after_one.created_at);
    let stale = write(&store, |txn, ctx| {
        outbox::tried(txn, ctx, hook.id, 1, Tried::Sent).unwrap()
    });
    assert_eq!(stale, None);
    // Sent: out of the due index for good.
    let sent = write(&store, |txn, ctx| {
        outbox::tried(txn, ctx, hook.id, 2, Tried::Sent).unwrap()
    })
    .unwrap();
    assert_eq!(
        (sent.status, sent.attempts, sent.error.clone()),
        (DeliveryStatus::Sent, 2, None)
    );
    let (due, _) = store.deliveries_due(later, 10).unwrap();
    assert_eq!(
        due.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![recorded.iter().find(|d| d.id != hook.id).unwrap().id]
    );
    // A resend makes it pending again, tries from zero, the same key; giving
    // up after the limit keeps the last error.
    let again = write(&store, |txn, ctx| {
        outbox::resend(txn, ctx, hook.id).unwrap()
    });
    assert_eq!((again.status, again.attempts), (DeliveryStatus::Pending, 0));
    for n in 1..=MAX_DELIVERY_ATTEMPTS {
        write(&store, |txn, ctx| {
            outbox::tried(txn, ctx, hook.id, n, retry.clone()).unwrap()
        });
    }
    let given_up = store
        .deliveries_of(task.id)
        .unwrap()
        .into_iter()
        .find(|d| d.id == hook.id)
        .unwrap();
    assert_eq!(given_up.status, DeliveryStatus::Failed);
    assert_eq!(
        given_up.error.as_deref(),
        Some("gave up after 12 tries; the last: the receiver answered 503")
    );
}

/// A claim that reserves against the budgets as the dispatcher's does (which
/// also asks the provider limiter): `cost` stands for the provider's prices.
fn claim_within_budgets<T: TaskTxn>(txn: &mut T, ctx: &mut Ctx, max: usize) -> Vec<Task> {
    let prices = crate::provider::Prices {
        input_per_mtok: 1_000.0,
        output_per_mtok: 1_000.0,
    };
    let mut book = crate::budget::Book::new(txn.budgets().unwrap(), ctx.now);
    let claimed = claim_where(txn, ctx, max, 16, |task| {
        match book.check(task, "mock", Some(&prices)) {
            Ok(reserved) => {
                book.reserve(&reserved);
                task.reserved = reserved;
                true
            }
            Err(_) => false,
        }
    })
    .unwrap();
    for b in book.into_changed().unwrap_or_default() {
        txn.put_budget(&b).unwrap();
    }
    claimed
}

pub(crate) fn budgets_reserve_at_claim_and_every_ending_settles_in_the_same_unit<B: Backend>() {
    use crate::budget::{apply, Budget, BudgetOp, BudgetPeriod, BudgetScope, BudgetUnit};
    let place = B::place();
    let store = B::open(&place);
    let now = Utc::now();
    // Each task's worst case: 1 + 64 prompt tokens + 100 completion = $0.165
    // at $1,000 per million; the cap admits two at once.
    write(&store, |txn, _| {
        let cap = Budget::new(
            "day".into(),
            BudgetPeriod::Daily,
            0.4,
            BudgetUnit::Usd,
            BudgetScope::All,
            chrono_tz::UTC,
            now,
        );
        apply(txn, now, BudgetOp::Set(cap)).unwrap()
    });
    let ids: Vec<TaskId> = (0..4)
        .map(|_| {
            let mut t = new_task("x");
            t.max_tokens = Some(100);
            write(&store, |txn, ctx| create(txn, ctx, t).unwrap()).id
        })
        .collect();
    let claimed = write(&store, |txn, ctx| claim_within_budgets(txn, ctx, 4));
    assert_eq!(claimed.len(), 2, "only two worst cases fit the cap");
    let budget = |s: &B| s.budgets().unwrap().remove(0);
    let b = budget(&store);
    assert!(
        (b.reserved.0 - 0.33).abs() < 1e-9,
        "reserved {}",
        b.reserved.0
    );
    assert_eq!(store.get(ids[0]).unwrap().unwrap().reserved.len(), 1);

    // The first settles with what it spent: 10 + 20 tokens = $0.03.
    let mut done = completed(ids[0], 1);
    done.usage.prompt_tokens = Some(10);
    done.usage.completion_tokens = Some(20);
    done.usage.cost_usd = Some(0.03);
    write(&store, |txn, ctx| finish(txn, ctx, &done).unwrap());
    let b = budget(&store);
    assert!((b.spent.0 - 0.03).abs() < 1e-9 && (b.reserved.0 - 0.165).abs() < 1e-9);
    assert!(store.get(ids[0]).unwrap().unwrap().reserved.is_empty());

    // A crash loses the second's outcome: it counts its worst case.
    drop(store);
    let store = B::open(&place);
    write(&store, |txn, ctx| recover(txn, ctx).unwrap());
    let b = budget(&store);
    assert!((b.spent.0 - 0.195).abs() < 1e-9 && b.reserved.0.abs() < 1e-9);

    // $0.205 left: one worst case fits; a cancel while it runs counts it whole.
    let claimed = write(&store, |txn, ctx| claim_within_budgets(txn, ctx, 4));
    assert_eq!(claimed.len(), 1);
    write(&store, |txn, ctx| {
        cancel(txn, ctx, claimed[0].id, None).unwrap()
    });
    let b = budget(&store);
    assert!((b.spent.0 - 0.36).abs() < 1e-9 && b.reserved.0.abs() < 1e-9);
    assert!(write(&store, |txn, ctx| claim_within_budgets(txn, ctx, 4)).is_empty());
}

/// The writer promotes due tasks and claims in one unit, the claim taking the
/// promoted tasks from memory and writing each once ([`claim_promoted`]). That
/// must give exactly what writing them queued and then claiming the queue
/// gives: the tasks claimed and in what order, every record, the queue, the
/// counts and the events. Checked with holds, a scan bound, fewer slots than
/// due tasks, a task whose prompt cannot be bound, and a task queued before.
pub(crate) fn a_burst_claimed_as_it_is_promoted_is_what_promoting_then_claiming_gives<
    B: Backend,
>() {
    let created = Utc::now();
    let due = created + chrono::Duration::seconds(60);
    // A parent that completed without parsed output: its child cannot bind
    // `{{parent.output.x}}` and fails at its claim.
    let mut parent = new_task("parent");
    parent.status = TaskState::Completed;
    parent.output = Some("plain text".into());
    let mut tasks = vec![parent.clone()];
    for i in 0..9 {
        let mut t = new_task(&format!("t{i}"));
        // Some share a due time: the id orders them.
        t.start_at = Some(due - chrono::Duration::milliseconds(i % 3));
        if i == 4 {
            t.prompt = "use {{parent.output.x}}".into();
            t.parent_task_id = Some(parent.id);
        }
        tasks.push(t);
    }
    let queued_before = new_task("queued before");
    // Held back by `admit` (a provider at its limit, a budget).
    let held: Vec<TaskId> = [2, 6].iter().map(|&i| tasks[i].id).collect();

    for (max, scan, with_queued) in [
        (100, 100, false),
        (3, 16, false),
        (4, 5, false),
        (100, 100, true),
        (2, 16, true),
    ] {
        // The same records in two places.
        let places = [B::place(), B::place()];
        let stores = [B::open(&places[0]), B::open(&places[1])];
        for store in &stores {
            write_at(store, created, |txn, ctx| {
                for t in &tasks {
                    if t.status == TaskState::Completed {
                        txn.put(None, t).unwrap();
                    } else {
                        create(txn, ctx, t.clone()).unwrap();
                    }
                }
                if with_queued {
                    create(txn, ctx, queued_before.clone()).unwrap();
                }
            });
        }
        let admit = |t: &mut Task| !held.contains(&t.id);
        let (separately, events_separately) = write_at(&stores[0], due, |txn, ctx| {
            promote_due(txn, ctx).unwrap();
            claim_where(txn, ctx, max, scan, admit).unwrap()
        });
        let (together, events_together) = write_at(&stores[1], due, |txn, ctx| {
            let promoting = promote(txn, ctx).unwrap();
            claim_promoted(txn, ctx, promoting, max, scan, admit).unwrap()
        });

        let case = format!("max {max}, scan {scan}, a task queued before: {with_queued}");
        assert!(!together.is_empty(), "{case}");
        assert_eq!(together, separately, "{case}: the tasks claimed");
        let moves = |events: &[Draft]| {
            events
                .iter()
                .map(|e| match &e.kind {
                    crate::events::EventKind::State { from, to, task } => {
                        (e.task_id, *from, *to, task.as_ref().clone())
                    }
                    _ => panic!("only moves were expected"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            moves(&events_together),
            moves(&events_separately),
            "{case}: the events"
        );
        let [a, b] = &stores;
        assert_eq!(b.all().unwrap(), a.all().unwrap(), "{case}: the records");
        assert_eq!(
            b.counts().unwrap(),
            a.counts().unwrap(),
            "{case}: the counts"
        );
        let queue = |s: &B| s.begin().unwrap().txn().queue_head(100).unwrap();
        assert_eq!(queue(b), queue(a), "{case}: the queue");
        let due_later = |s: &B| s.begin().unwrap().txn().due_by(due).unwrap();
        assert_eq!(due_later(b), due_later(a), "{case}: the scheduled");
        // Held tasks stay queued; the child whose prompt cannot be bound failed.
        for id in &held {
            let t = b.get(*id).unwrap().unwrap();
            assert_eq!(t.status, TaskState::Queued, "{case}");
        }
        if max == 100 {
            assert_eq!(
                b.get(tasks[5].id).unwrap().unwrap().status,
                TaskState::Failed,
                "{case}"
            );
        }
    }
}

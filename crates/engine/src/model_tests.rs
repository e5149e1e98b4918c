//! The store and the lifecycle against a plain in-memory model (STYLE practice 14).
//!
//! Random sequences of steps run through the real [`Store`] on a temporary redb file
//! and the real `lifecycle` functions, called the way the writer calls them. A step
//! is one write transaction holding one to three operations (group commit; a refused
//! operation must leave the transaction as it was), a transaction dropped without
//! commit, a clock jump followed by `promote_due`, or a crash: uncommitted work is
//! dropped, the store closed and reopened, then `recover` runs.
//!
//! The model is a `BTreeMap` with the rules of docs/state-machine.md written again,
//! plainly; it never calls the engine. It names each attempt by the claim that
//! started it, so an outcome is current only for the claim it came from. After every
//! step each stored task, every index (by state, queue, due, children, counts), every
//! list query and the events of the step must agree with it.

mod model;
mod ops;

use crate::backoff::Backoff;
use crate::conformance::Backend;
use crate::error::{ImportError, TaskError};
use crate::events::{Draft, EventKind};
use crate::lifecycle::{self, AttemptResult, Ctx, Outcome};
use crate::state::TaskState::{self, *};
use crate::storage::{Storage, TaskTxn, UnitOfWork};
use crate::store::ListQuery;
use crate::task::{Attempt, AttemptOutcome, Task, TaskId, PARENT_OUTPUT_PLACEHOLDER};
use chrono::{DateTime, Utc};
use model::{terminal, Model, ModelTask, Move, Refused};
use ops::{How, ImportRec, Op, ParentRef, Step};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeSet;
use std::time::Duration;

const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(60),
};
/// A limit larger than any generated database.
const BIG: usize = 10_000;

pub fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

fn build(m: &mut Model, parent: Option<TaskId>, delay_s: Option<i64>, max_attempts: u32) -> Task {
    m.counter += 1;
    let n = m.counter;
    let prompt = if n % 2 == 0 {
        format!("prompt {n}")
    } else {
        format!("prompt {n} on {PARENT_OUTPUT_PLACEHOLDER}")
    };
    Task {
        name: format!("task {n}"),
        start_at: delay_s.map(|s| m.now + secs(s)),
        // Wrong on purpose: create and chain stamp it.
        created_at: DateTime::UNIX_EPOCH,
        parent_task_id: parent,
        max_attempts,
        timeout_ms: 60_000,
        ..Task::sample(&prompt)
    }
}

/// A record as another engine's export would hold it.
fn import_record(rec: &ImportRec, id: TaskId, parent: Option<TaskId>, now: DateTime<Utc>) -> Task {
    let created_at = now - secs(rec.age_s);
    // States this engine could have exported: a task waiting to run has an attempt left.
    let attempts = match rec.status {
        Waiting | Scheduled | Queued => rec.attempts.min(rec.max_attempts - 1),
        Running => rec.attempts.clamp(1, rec.max_attempts),
        _ => rec.attempts.min(rec.max_attempts),
    };
    let history = (1..=attempts)
        .map(|number| {
            let open = rec.status == Running && number == attempts;
            Attempt {
                finished_at: (!open).then_some(created_at),
                outcome: (!open).then_some(AttemptOutcome::Failed),
                ..Attempt::started(number, created_at)
            }
        })
        .collect();
    let is = |s: TaskState| rec.status == s;
    Task {
        id,
        name: format!("imported {id}"),
        prompt: "imported prompt".into(),
        effective_prompt: None,
        status: rec.status,
        start_at: is(Scheduled).then(|| now + secs(1 + rec.age_s % 100)),
        created_at,
        started_at: (attempts > 0).then_some(created_at),
        finished_at: terminal(rec.status).then_some(created_at),
        output: is(Completed).then(|| "imported output".to_string()),
        error: is(Failed).then(|| "imported failure".to_string()),
        parent_task_id: parent,
        llm_provider: "mock".into(),
        llm_model: "echo".into(),
        latency_ms: None,
        attempts,
        max_attempts: rec.max_attempts,
        timeout_ms: 60_000,
        cancel_reason: is(Cancelled).then(|| "imported".to_string()),
        history,
        system: None,
        temperature: None,
        max_tokens: None,
        prompt_tokens: None,
        completion_tokens: None,
        cost_usd: None,
        failure: None,
        schedule_id: None,
        finish_reason: None,
        usage_estimated: false,
        tags: Vec::new(),
        timezone: None,
        deliver: Default::default(),
        reserved: Vec::new(),
        output_schema: None,
        output_json: None,
        fallbacks: Vec::new(),
        target_index: 0,
        fallback_after: None,
        group: None,
        batch: None,
    }
}

fn refusal<T>(result: Result<T, TaskError>) -> Result<T, Refused> {
    result.map_err(|e| match e {
        TaskError::Conflict { id, state, .. } => Refused(id, state),
        other => panic!("expected a conflict or success, got: {other}"),
    })
}

/// Applies `op` to the transaction and to the model, and compares what each returned.
fn apply(op: &Op, txn: &mut impl TaskTxn, ctx: &mut Ctx, m: &mut Model) {
    match op {
        &Op::Submit {
            delay_s,
            max_attempts,
        } => {
            let task = build(m, None, delay_s, max_attempts);
            let got = lifecycle::create(txn, ctx, task.clone()).expect("create");
            assert_eq!(got.status, m.create(&task), "create {task:?}");
        }
        &Op::Chain {
            parent,
            delay_s,
            max_attempts,
        } => {
            let Some(parent) = m.nth(parent) else { return };
            let task = build(m, Some(parent), delay_s, max_attempts);
            let got = refusal(lifecycle::chain(txn, ctx, task.clone())).map(|t| t.status);
            assert_eq!(got, m.chain(&task), "chain onto {parent}");
        }
        Op::Promote => {
            let got = lifecycle::promote_due(txn, ctx).expect("promote_due");
            assert_eq!(got, m.promote(), "promote_due: (moved, next due)");
        }
        &Op::Claim { max } => {
            let claimed = lifecycle::claim(txn, ctx, max).expect("claim");
            let got: Vec<(TaskId, u32)> = claimed.iter().map(|t| (t.id, t.attempts)).collect();
            assert_eq!(
                got,
                m.claim(max),
                "claim({max}): tasks and attempts, in order"
            );
        }
        &Op::Finish { target, how } => {
            let Some(claim) = m.target(target) else {
                return;
            };
            m.counter += 1;
            let output = format!("output {}", m.counter);
            let result = match how {
                How::Complete => AttemptResult::Completed {
                    output: output.clone(),
                    output_json: None,
                },
                How::RetryableFail => AttemptResult::Failed {
                    error: "try again".into(),
                    retryable: true,
                    retry_after: None,
                    failure: None,
                },
                How::FatalFail => AttemptResult::Failed {
                    error: "no".into(),
                    retryable: false,
                    retry_after: None,
                    failure: None,
                },
                How::TimedOut => AttemptResult::TimedOut { after_ms: 60_000 },
                How::Interrupted => AttemptResult::Interrupted,
            };
            let outcome = Outcome {
                id: claim.id,
                claim_no: claim.claim_no,
                result,
                usage: Default::default(),
                fits: Vec::new(),
            };
            let got = lifecycle::finish(txn, ctx, &outcome).expect("finish");
            let rescheduled = got.as_ref().and_then(|t| t.start_at);
            let want = m.finish(claim, how, &output, rescheduled);
            assert_eq!(got.map(|t| t.status), want, "finish {claim:?} with {how:?}");
        }
        &Op::Cancel { pick } => {
            let Some(id) = m.nth(pick) else { return };
            let got = refusal(lifecycle::cancel(txn, ctx, id, None))
                .map(|c| (c.previous, c.changed, c.task.status));
            assert_eq!(got, m.cancel(id), "cancel {id}");
        }
        &Op::Retry { pick, max_attempts } => {
            let Some(id) = m.nth(pick) else { return };
            let got = refusal(lifecycle::retry(txn, ctx, id, max_attempts)).map(|t| t.status);
            assert_eq!(got, m.retry(id, max_attempts), "retry {id}");
        }
        Op::Import { records, existing } => {
            let mut file: Vec<Task> = Vec::new();
            for rec in records {
                let id = TaskId::from_u128(rec.id);
                if file.iter().any(|t| t.id == id) {
                    continue; // the export parser refuses duplicate ids
                }
                let parent = match rec.parent {
                    ParentRef::None => None,
                    ParentRef::Stored(pick) => m.nth(pick),
                    ParentRef::InFile(pick) => {
                        (!file.is_empty()).then(|| file[pick % file.len()].id)
                    }
                    ParentRef::Missing => Some(TaskId::new()),
                };
                file.push(import_record(rec, id, parent, m.now));
            }
            if let Some(id) = existing.and_then(|pick| m.nth(pick)) {
                file.push(txn.get(id).unwrap().unwrap());
            }
            let got = match lifecycle::import(txn, ctx, file.clone()) {
                Ok(report) => Ok((report.imported, report.skipped_existing)),
                Err(ImportError::BadRecords(bad)) => Err(bad.iter().map(|r| r.index).collect()),
                Err(other) => panic!("import failed: {other}"),
            };
            assert_eq!(got, m.import(&file), "import {file:#?}");
        }
    }
}

/// Sorted, since the model need not change tasks in the engine's order.
fn moves_of(events: &[Draft]) -> Vec<Move> {
    let mut moves: Vec<Move> = (events.iter())
        .map(|d| {
            let EventKind::State { from, to, task } = &d.kind else {
                panic!("the lifecycle drafts only state events, got {d:?}")
            };
            assert_eq!(
                (task.id, task.status),
                (d.task_id, *to),
                "an event's task snapshot"
            );
            (d.task_id, *from, *to)
        })
        .collect();
    moves.sort();
    moves
}

struct Harness<B: Backend> {
    store: Option<B>,
    place: B::Place,
    rng: StdRng,
    model: Model,
}

impl<B: Backend> Harness<B> {
    fn new(seed: u64) -> Self {
        let place = B::place();
        Harness {
            store: Some(B::open(&place)),
            place,
            rng: StdRng::seed_from_u64(seed),
            model: Model::new(),
        }
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Commit(ops) => self.transaction(ops, true),
            Step::Abort(ops) => self.transaction(ops, false),
            Step::Advance(s) => {
                self.model.now += secs(*s);
                self.transaction(&[Op::Promote], true);
            }
            Step::Crash(ops) => {
                self.transaction(ops, false);
                drop(self.store.take());
                self.store = Some(B::open(&self.place));
                self.model.moves.clear();
                let store = self.store.as_ref().unwrap();
                let batch = store.begin().unwrap();
                let mut txn = batch.txn();
                let mut events = Vec::new();
                let mut ctx = Ctx {
                    now: self.model.now,
                    backoff: BACKOFF,
                    rng: &mut self.rng,
                    events: &mut events,
                    schedules: &mut Vec::new(),
                };
                let recovered = lifecycle::recover(&mut txn, &mut ctx).expect("recover");
                let got: BTreeSet<TaskId> = recovered.iter().map(|t| t.id).collect();
                assert_eq!(got, self.model.recover(), "recovered tasks");
                drop(txn);
                batch.commit().unwrap();
                self.model.moves.sort();
                assert_eq!(moves_of(&events), self.model.moves, "recover's events");
            }
        }
        check(self.store.as_ref().unwrap(), &self.model);
    }

    /// One write transaction; without `commit` the model is put back as it was.
    fn transaction(&mut self, ops: &[Op], commit: bool) {
        let saved = (!commit).then(|| self.model.clone());
        self.model.moves.clear();
        let batch = self.store.as_ref().unwrap().begin().unwrap();
        let mut txn = batch.txn();
        let mut events = Vec::new();
        for op in ops {
            let mut ctx = Ctx {
                now: self.model.now,
                backoff: BACKOFF,
                rng: &mut self.rng,
                events: &mut events,
                schedules: &mut Vec::new(),
            };
            apply(op, &mut txn, &mut ctx, &mut self.model);
        }
        self.model.moves.sort();
        assert_eq!(
            moves_of(&events),
            self.model.moves,
            "the transaction's events"
        );
        drop(txn);
        match saved {
            None => batch.commit().unwrap(),
            Some(saved) => {
                drop(batch);
                self.model = saved;
            }
        }
    }
}

fn ids(tasks: Result<Vec<Task>, TaskError>) -> Vec<TaskId> {
    tasks.unwrap().iter().map(|t| t.id).collect()
}

fn check_task(t: &Task, w: &ModelTask) {
    let id = t.id;
    assert_eq!(t.status, w.status, "{id}: status");
    assert_eq!(t.attempts, w.attempts, "{id}: attempts");
    assert_eq!(t.max_attempts, w.max_attempts, "{id}: max_attempts");
    assert_eq!(t.output, w.output, "{id}: output");
    assert_eq!(t.error.is_some(), w.has_error, "{id}: error {:?}", t.error);
    assert_eq!(
        t.cancel_reason.is_some(),
        w.has_cancel_reason,
        "{id}: cancel_reason"
    );
    assert_eq!(t.parent_task_id, w.parent, "{id}: parent");
    assert_eq!(t.created_at, w.created_at, "{id}: created_at");
    assert_eq!(t.start_at, w.start_at, "{id}: start_at");
    assert_eq!(
        t.effective_prompt, w.effective_prompt,
        "{id}: effective_prompt"
    );
    let history: Vec<(u32, Option<AttemptOutcome>)> =
        t.history.iter().map(|a| (a.number, a.outcome)).collect();
    assert_eq!(
        history, w.history,
        "{id}: (number, outcome) of each attempt"
    );
    assert_eq!(
        t.finished_at.is_some(),
        terminal(t.status),
        "{id}: finished_at is set exactly when {} is terminal",
        t.status
    );
    let open: Vec<u32> = (t.history.iter())
        .filter(|a| a.outcome.is_none())
        .map(|a| a.number)
        .collect();
    let want_open = if t.status == Running {
        vec![t.history.len() as u32]
    } else {
        vec![]
    };
    assert_eq!(
        open, want_open,
        "{id}: unfinished attempts of a {} task",
        t.status
    );
    assert!(
        t.attempts <= t.max_attempts,
        "{id}: attempts over max_attempts"
    );
}

/// `list` with a filter, whole and in pages of 3, returns `want`.
fn check_list(
    store: &impl Storage,
    status: Option<TaskState>,
    parent: Option<TaskId>,
    want: &[TaskId],
) {
    let query = |before, limit| ListQuery {
        filter: crate::TaskFilter {
            status,
            parent_task_id: parent,
            tag: None,
        },
        before,
        limit,
    };
    let whole = ids(store.list(&query(None, BIG)));
    assert_eq!(whole, want, "list of {status:?} children of {parent:?}");
    let mut paged: Vec<TaskId> = Vec::new();
    loop {
        let page = ids(store.list(&query(paged.last().copied(), 3)));
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(
        paged, want,
        "list of {status:?} children of {parent:?}, in pages"
    );
}

/// Every read the store offers agrees with the model.
fn check(store: &impl Storage, m: &Model) {
    let all = store.all().unwrap();
    let oldest_first: Vec<TaskId> = m.tasks.keys().copied().collect();
    assert_eq!(
        all.iter().map(|t| t.id).collect::<Vec<_>>(),
        oldest_first,
        "stored ids"
    );
    for task in &all {
        check_task(task, &m.tasks[&task.id]);
        assert_eq!(store.get(task.id).unwrap().as_ref(), Some(task), "get");
    }

    let newest_first = |keep: &dyn Fn(&ModelTask) -> bool| -> Vec<TaskId> {
        let kept = m.tasks.iter().rev().filter(|(_, t)| keep(t));
        kept.map(|(id, _)| *id).collect()
    };
    let counts = store.counts().unwrap();
    check_list(store, None, None, &newest_first(&|_| true));
    for s in TaskState::ALL {
        let want = newest_first(&|t| t.status == s);
        assert_eq!(counts.get(s), want.len() as u64, "count of {s}");
        check_list(store, Some(s), None, &want);
    }
    let parents: BTreeSet<TaskId> = m.tasks.values().filter_map(|t| t.parent).collect();
    for &p in &parents {
        let children = m.children(p);
        assert_eq!(store.children(p).unwrap(), children, "children of {p}");
        check_list(
            store,
            None,
            Some(p),
            &newest_first(&|t| t.parent == Some(p)),
        );
        for s in TaskState::ALL {
            let want = newest_first(&|t| t.parent == Some(p) && t.status == s);
            check_list(store, Some(s), Some(p), &want);
        }
    }

    // The queue and due indexes, read through a transaction that is never committed.
    let batch = store.begin().unwrap();
    let txn = batch.txn();
    assert_eq!(
        txn.queue_head(BIG).unwrap(),
        m.in_due_order(Queued),
        "queue order"
    );
    let (due, next) = txn.due_by(m.now + secs(100 * 365 * 24 * 3600)).unwrap();
    assert_eq!((due, next), (m.in_due_order(Scheduled), None), "due order");
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

/// Random step sequences through `B` agree with the model (64 cases take a few
/// seconds; PROPTEST_CASES=5000 hunts for longer).
pub(crate) fn store_and_lifecycle_agree_with_the_model_across_commits_aborts_and_crashes<
    B: Backend,
>() {
    let config = ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    };
    let steps = (any::<u64>(), proptest::collection::vec(ops::step(), 1..60));
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&steps, |(seed, steps)| {
        let mut harness = Harness::<B>::new(seed);
        for step in &steps {
            harness.run(step);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A record exported while running lost its attempt: import treats it as crash
/// recovery does (attempt closed as interrupted; failed when none is left), so it
/// never runs more than `max_attempts` times.
pub(crate) fn an_imported_running_record_is_recovered_like_after_a_crash<B: Backend>() {
    let mut harness = Harness::<B>::new(0);
    let running = |id, attempts| ImportRec {
        id,
        status: Running,
        parent: ParentRef::None,
        attempts,
        max_attempts: 2,
        age_s: 0,
    };
    let records = vec![running(1, 1), running(2, 2)];
    harness.run(&Step::Commit(vec![Op::Import {
        records,
        existing: None,
    }]));
    harness.run(&Step::Commit(vec![Op::Claim { max: 2 }]));
}

//! Batch mode against the fake server's batch endpoints (real HTTP, real redb).

mod common;

use baton_engine::{
    AttemptOutcome, BatchConfig, BatchRequest, Engine, EngineConfig, ErrorClass, Event, EventKind,
    HoldReason, NewTask, Prices, ProviderKind, ProviderSettings, TaskId, TaskState,
    BATCH_PRICE_FACTOR,
};
use common::PATIENCE;
use fake_llm::{BatchControls, FakeServer, Reply};
use std::collections::HashSet;
use std::time::Duration;

const PRICES: Prices = Prices {
    input_per_mtok: 1.0,
    output_per_mtok: 2.0,
};

fn batch_config(dir: &tempfile::TempDir) -> EngineConfig {
    let mut config = common::config(dir);
    config.clock = baton_engine::Clock::System;
    config.batch = BatchConfig {
        gather: Duration::from_millis(50),
        poll: Duration::from_millis(50),
    };
    config
}

fn settings(server: &FakeServer, kind: ProviderKind) -> ProviderSettings {
    let base = match kind {
        ProviderKind::OpenaiCompatible => format!("{}/v1", server.url()),
        _ => server.url(),
    };
    let mut s = ProviderSettings::new("fake", kind, base);
    s.model = Some("fake-model".into());
    s.prices = Some(PRICES);
    s
}

fn batch_task(prompt: &str, within: Duration) -> NewTask {
    NewTask {
        prompt: prompt.into(),
        provider: Some("fake".into()),
        batch: Some(BatchRequest::within(within)),
        ..NewTask::default()
    }
}

/// The fake's default answer: "ok", 10 prompt and 1 completion tokens.
fn live_cost() -> f64 {
    PRICES.cost(10, 1)
}

/// Waits until every task in `ids` has had an event matching `seen`.
async fn wait_all(
    rx: &mut baton_engine::Subscription,
    ids: &HashSet<TaskId>,
    mut seen: impl FnMut(&Event) -> bool,
) {
    let mut left = ids.clone();
    tokio::time::timeout(PATIENCE, async {
        while !left.is_empty() {
            let e = rx.recv().await.expect("event stream ended or lagged");
            if seen(&e) {
                left.remove(&e.task_id);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} tasks never got there", left.len()));
}

fn in_batch(e: &Event) -> bool {
    matches!(
        &e.kind,
        EventKind::Held {
            reason: HoldReason::Batch,
            ..
        }
    )
}

fn reached(to: TaskState) -> impl FnMut(&Event) -> bool {
    move |e| matches!(&e.kind, EventKind::State { to: t, .. } if *t == to)
}

/// `n` batch tasks; the engine is killed (its runtime dropped, no shutdown
/// code) once the provider holds them all, and a new engine finishes them.
fn survive_a_kill(kind: ProviderKind, n: usize) {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let server = server_rt.block_on(FakeServer::start(Reply::text(&["ok"])));
    // The batches end only once the engine is gone.
    server.set_batch_controls(BatchControls {
        never_end: true,
        ..BatchControls::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = batch_config(&dir);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = std::time::Instant::now();
    let ids: HashSet<TaskId> = rt.block_on(async {
        let engine = Engine::open(config.clone()).await.unwrap();
        engine.start().await;
        engine
            .save_provider(settings(&server, kind), None)
            .await
            .unwrap();
        let mut rx = engine.subscribe();
        let mut ids = HashSet::new();
        for i in 0..n {
            let t = engine
                .submit(batch_task(
                    &format!("question {i}"),
                    Duration::from_secs(3600),
                ))
                .await
                .unwrap();
            assert_eq!(t.status, TaskState::Scheduled);
            ids.insert(t.id);
        }
        wait_all(&mut rx, &ids, in_batch).await;
        ids
    });
    drop(rt); // like kill -9: between submission and results
    let in_batches = started.elapsed();
    let submitted: usize = server.batch_counters().requests_per_batch.iter().sum();
    assert_eq!(submitted, n, "every task was submitted once");
    server.set_batch_controls(BatchControls::default());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = Engine::open(config.clone()).await.unwrap();
        let counts = engine.counts().await.unwrap();
        assert_eq!(counts.running, n as u64, "a batch's tasks are not orphaned");
        let mut rx = engine.subscribe();
        let reopened = std::time::Instant::now();
        engine.start().await;
        wait_all(&mut rx, &ids, reached(TaskState::Completed)).await;
        eprintln!(
            "{kind}: {n} tasks created and in provider batches in {in_batches:?}; after the restart all completed in {:?}; {} batches",
            reopened.elapsed(),
            server.batch_counters().batches_created
        );
        let counters = server.batch_counters();
        assert_eq!(counters.answered.len(), n);
        assert!(
            counters.answered.values().all(|c| *c == 1),
            "one answer per custom_id"
        );
        assert_eq!(counters.batches_created, counters.requests_per_batch.len());
        assert!(server.requests().is_empty(), "nothing ran live");
        let mut total = 0.0;
        for id in &ids {
            let t = engine.get(*id).await.unwrap();
            assert_eq!(t.status, TaskState::Completed);
            assert_eq!(t.output.as_deref(), Some("ok"));
            assert_eq!(t.history.len(), 1, "one attempt, completed once");
            assert_eq!(t.history[0].outcome, Some(AttemptOutcome::Completed));
            total += t.cost_usd.unwrap().0;
        }
        let live = live_cost() * n as f64;
        assert!(
            (total - live * BATCH_PRICE_FACTOR).abs() < 1e-9,
            "cost {total} is half the live {live}"
        );
        engine.shutdown().await;
    });
}

#[test]
fn a_thousand_openai_batch_tasks_complete_once_each_across_a_kill_at_half_price() {
    survive_a_kill(ProviderKind::OpenaiCompatible, 1000);
}

#[test]
fn anthropic_batch_tasks_complete_once_each_across_a_kill_at_half_price() {
    survive_a_kill(ProviderKind::Anthropic, 100);
}

async fn started(server: &FakeServer, kind: ProviderKind) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(batch_config(&dir)).await.unwrap();
    engine.start().await;
    engine
        .save_provider(settings(server, kind), None)
        .await
        .unwrap();
    (dir, engine)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deadline_that_passes_moves_unfinished_batch_tasks_to_live_runs() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    server.set_batch_controls(BatchControls {
        never_end: true,
        ..BatchControls::default()
    });
    let (_dir, engine) = started(&server, ProviderKind::OpenaiCompatible).await;
    let mut rx = engine.subscribe();
    let mut ids = HashSet::new();
    for i in 0..5 {
        let t = engine
            .submit(batch_task(
                &format!("late {i}"),
                Duration::from_millis(1500),
            ))
            .await
            .unwrap();
        ids.insert(t.id);
    }
    wait_all(&mut rx, &ids, in_batch).await;
    wait_all(&mut rx, &ids, reached(TaskState::Completed)).await;
    assert_eq!(
        server.batch_counters().cancels,
        1,
        "the batch was withdrawn"
    );
    assert_eq!(server.requests().len(), 5, "each ran live once");
    for id in &ids {
        let t = engine.get(*id).await.unwrap();
        assert_eq!(t.history.len(), 2);
        assert_eq!(t.history[0].outcome, Some(AttemptOutcome::Interrupted));
        let why = t.history[0].error.as_deref().unwrap();
        assert!(why.contains("deadline"), "{why}");
        assert_eq!(t.history[1].outcome, Some(AttemptOutcome::Completed));
        assert_eq!(t.attempts, 1, "the withdrawn attempt is not counted");
        assert!(
            (t.cost_usd.unwrap().0 - live_cost()).abs() < 1e-12,
            "live price"
        );
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_a_task_in_a_submitted_batch_ignores_its_later_result() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    server.set_batch_controls(BatchControls {
        never_end: true,
        ..BatchControls::default()
    });
    let (_dir, engine) = started(&server, ProviderKind::OpenaiCompatible).await;
    let mut rx = engine.subscribe();
    let a = engine
        .submit(batch_task("cancel me", Duration::from_secs(3600)))
        .await
        .unwrap();
    let b = engine
        .submit(batch_task("keep me", Duration::from_secs(3600)))
        .await
        .unwrap();
    let ids: HashSet<TaskId> = [a.id, b.id].into();
    wait_all(&mut rx, &ids, in_batch).await;
    let cancelled = engine.cancel(a.id, None).await.unwrap();
    assert_eq!(cancelled.task.status, TaskState::Cancelled);
    server.set_batch_controls(BatchControls::default());
    common::reach(&mut rx, b.id, TaskState::Completed).await;
    // The batch answered both; the cancelled task's answer changed nothing.
    assert_eq!(server.batch_counters().answered.len(), 2);
    let a = engine.get(a.id).await.unwrap();
    assert_eq!(a.status, TaskState::Cancelled);
    assert_eq!(a.output, None);
    assert_eq!(a.cost_usd, None);
    assert_eq!(a.history[0].outcome, Some(AttemptOutcome::Cancelled));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_per_request_error_in_a_batch_is_classified_and_retried_in_the_next_batch() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    for kind in [ProviderKind::OpenaiCompatible, ProviderKind::Anthropic] {
        let (_dir, engine) = started(&server, kind).await;
        let mut rx = engine.subscribe();
        let t = engine
            .submit(batch_task(
                &format!("{kind} [batch-fail-once:429]"),
                Duration::from_secs(3600),
            ))
            .await
            .unwrap();
        common::reach(&mut rx, t.id, TaskState::Completed).await;
        let t = engine.get(t.id).await.unwrap();
        assert_eq!(t.history.len(), 2, "{kind}");
        let first = &t.history[0];
        assert_eq!(first.outcome, Some(AttemptOutcome::Retrying));
        assert_eq!(
            first.failure.as_ref().map(|f| f.class),
            Some(ErrorClass::RateLimited),
            "{kind}"
        );
        assert_eq!(t.history[1].outcome, Some(AttemptOutcome::Completed));
        engine.shutdown().await;
    }
    assert!(server.requests().is_empty(), "nothing ran live");
    assert_eq!(server.batch_counters().batches_created, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_without_batch_endpoints_runs_batch_tasks_live() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    server.set_batch_controls(BatchControls {
        missing: true,
        ..BatchControls::default()
    });
    let (_dir, engine) = started(&server, ProviderKind::OpenaiCompatible).await;
    let mut rx = engine.subscribe();
    let t = engine
        .submit(batch_task("no batches here", Duration::from_secs(3600)))
        .await
        .unwrap();
    common::reach(&mut rx, t.id, TaskState::Completed).await;
    let t = engine.get(t.id).await.unwrap();
    let why = t.history[0].error.as_deref().unwrap();
    assert!(
        why.contains("refused the batch") && why.contains("404"),
        "{why}"
    );
    assert_eq!(server.requests().len(), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_batch_input_is_refused_naming_the_field_and_nothing_is_stored() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    let (_dir, engine) = started(&server, ProviderKind::OpenaiCompatible).await;
    let past = NewTask {
        batch: Some(BatchRequest {
            within_ms: None,
            deadline: Some(chrono::Utc::now() - chrono::Duration::minutes(5)),
        }),
        ..batch_task("x", Duration::from_secs(60))
    };
    let cases = [
        (past, "batch.deadline", "in the past"),
        (
            NewTask {
                provider: None,
                ..batch_task("x", Duration::from_secs(60))
            },
            "batch",
            "no batch API",
        ),
        (
            batch_task("x", Duration::from_millis(10)),
            "batch.within_ms",
            "between",
        ),
        (
            NewTask {
                batch: Some(BatchRequest::default()),
                ..batch_task("x", Duration::from_secs(60))
            },
            "batch",
            "needs a deadline",
        ),
        (
            NewTask {
                start_at: Some(chrono::Utc::now() + chrono::Duration::minutes(5)),
                ..batch_task("x", Duration::from_secs(60))
            },
            "batch",
            "start_at",
        ),
    ];
    for (new, field, words) in cases {
        let e = engine.submit(new).await.unwrap_err();
        let baton_engine::TaskError::Invalid { field: got, .. } = &e else {
            panic!("not an invalid-input error: {e}");
        };
        assert_eq!(*got, field, "{e}");
        assert!(e.to_string().contains(words), "{e}");
    }
    let counts = engine.counts().await.unwrap();
    assert_eq!(counts.scheduled + counts.queued + counts.running, 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_takes_only_a_relative_deadline_and_its_fires_run_in_batches() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    let (_dir, engine) = started(&server, ProviderKind::OpenaiCompatible).await;
    let absolute = NewTask {
        batch: Some(BatchRequest {
            within_ms: None,
            deadline: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        }),
        ..batch_task("nightly", Duration::from_secs(60))
    };
    let e = engine
        .add_schedule(baton_engine::NewSchedule::new(
            "nightly",
            "0 2 * * *",
            absolute,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            baton_engine::TaskError::Invalid {
                field: "batch.deadline",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("within_ms"), "{e}");
    assert!(
        engine.schedules().await.unwrap().is_empty(),
        "nothing stored"
    );

    let relative = batch_task("nightly", Duration::from_secs(3600));
    let s = engine
        .add_schedule(baton_engine::NewSchedule::new(
            "nightly",
            "0 2 * * *",
            relative,
        ))
        .await
        .unwrap();
    let mut rx = engine.subscribe();
    let (_, fired) = engine.fire_schedule_now(s.id).await.unwrap();
    let t = &fired[0];
    assert_eq!(t.status, TaskState::Scheduled);
    let deadline = t.batch.as_ref().unwrap().deadline;
    let ahead = deadline - t.created_at;
    assert_eq!(ahead, chrono::Duration::hours(1), "counted from the fire");
    common::reach(&mut rx, t.id, TaskState::Completed).await;
    assert_eq!(server.batch_counters().batches_created, 1);
    assert!(server.requests().is_empty(), "nothing ran live");
    engine.shutdown().await;
}

/// Killed after the provider accepted a batch but before the engine learnt its
/// id: at the next start that batch is found by its metadata and cancelled, and
/// its tasks go in a new batch (the lost attempt counts, as any crash's does).
#[test]
fn a_batch_sent_just_before_a_kill_is_found_cancelled_and_its_tasks_sent_again() {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let server = server_rt.block_on(FakeServer::start(Reply::text(&["ok"])));
    server.set_batch_controls(BatchControls {
        stall_create: true,
        ..BatchControls::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let config = batch_config(&dir);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ids: HashSet<TaskId> = rt.block_on(async {
        let engine = Engine::open(config.clone()).await.unwrap();
        engine.start().await;
        engine
            .save_provider(settings(&server, ProviderKind::OpenaiCompatible), None)
            .await
            .unwrap();
        let mut ids = HashSet::new();
        for i in 0..3 {
            let t = engine
                .submit(batch_task(
                    &format!("orphan {i}"),
                    Duration::from_secs(3600),
                ))
                .await
                .unwrap();
            ids.insert(t.id);
        }
        tokio::time::timeout(
            PATIENCE,
            server.wait_for(|s| s.batch_counters().requests_per_batch.iter().sum::<usize>() == 3),
        )
        .await
        .expect("the batch reached the provider");
        ids
    });
    drop(rt); // killed while the provider's answer was on its way
    server.set_batch_controls(BatchControls::default());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = Engine::open(config.clone()).await.unwrap();
        assert_eq!(engine.counts().await.unwrap().scheduled, 3, "given back");
        let mut rx = engine.subscribe();
        engine.start().await;
        wait_all(&mut rx, &ids, reached(TaskState::Completed)).await;
        let counters = server.batch_counters();
        assert_eq!(counters.cancels, 1, "the unrecorded batch was cancelled");
        assert_eq!(counters.answered.len(), 3, "only the new batch answered");
        for id in &ids {
            let t = engine.get(*id).await.unwrap();
            assert_eq!(t.history.len(), 2);
            assert_eq!(t.history[0].outcome, Some(AttemptOutcome::Interrupted));
            assert_eq!(t.history[1].outcome, Some(AttemptOutcome::Completed));
        }
        engine.shutdown().await;
    });
}

/// A map marked batch: every row and then the join go through provider
/// batches (nothing live), each at half the price, the join on every answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_map_in_batch_mode_sends_its_rows_and_its_join_in_batches_at_half_price() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    let (_dir, engine) = started(&server, ProviderKind::OpenaiCompatible).await;
    let mut rx = engine.subscribe();
    let data: String = (1..=20).map(|i| format!("question {i}\n")).collect();
    let group = engine
        .map(baton_engine::NewMap {
            name: "night".into(),
            source: baton_engine::RowSource::Lines,
            data,
            task: batch_task("Answer {{item}}", Duration::from_secs(3600)),
            join: Some(baton_engine::NewJoin {
                instruction: "Summarise:\n{{items}}".into(),
                on: baton_engine::JoinOn::All,
            }),
        })
        .await
        .unwrap();
    let join = group.join.as_ref().unwrap().task_id;
    common::reach(&mut rx, join, TaskState::Completed).await;
    let rows = engine.group_tasks(group.id, 0, 100).await.unwrap();
    assert_eq!(rows.len(), 20);
    for t in rows.iter().chain([&engine.get(join).await.unwrap()]) {
        assert_eq!(t.status, TaskState::Completed, "{}", t.name);
        assert!(t.batch.is_some(), "{} is a batch task", t.name);
        let cost = t.cost_usd.unwrap().0;
        assert!(
            (cost - live_cost() * BATCH_PRICE_FACTOR).abs() < 1e-12,
            "{}: {cost}",
            t.name
        );
    }
    assert!(server.requests().is_empty(), "nothing ran live");
    assert!(
        server.batch_counters().batches_created >= 2,
        "the rows, then the join"
    );
    let join = engine.get(join).await.unwrap();
    assert!(join.effective_prompt.unwrap().contains("[row 20]"));
    engine.shutdown().await;
}

//! How late scheduled tasks start: `started_at − start_at` from the stored
//! tasks, and, for contrast, when the provider was actually called.
//!
//! `started_at` is stamped when the writer begins the claim's transaction, so it
//! leaves out that commit; the provider call happens after it. Both are reported.
//! With 1,024 workers no task waits for a free slot, which is what the goal
//! ("p99 ≤ 10 ms beyond waiting for a slot") is about; one case with 8 workers
//! shows the slot wait for contrast.

use crate::{Sizes, Summary};
use baton_engine::{
    CompletionRequest, Engine, EngineConfig, ListQuery, NewTask, OutputSink, Provider,
    ProviderError, TaskId, TaskState, MAX_WORKERS,
};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How far ahead the first task is due: the submits must all land before it.
const LEAD: Duration = Duration::from_secs(1);

/// Answers like the mock's `echo` and notes when each call began.
#[derive(Default)]
struct Stamping {
    calls: Mutex<HashMap<TaskId, DateTime<Utc>>>,
}

impl Provider for Stamping {
    fn default_model(&self) -> &str {
        "echo"
    }

    fn check_model(&self, _model: &str) -> Result<(), String> {
        Ok(())
    }

    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        _output: OutputSink,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        let now = Utc::now();
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request.task_id, now);
        Box::pin(async move { Ok(format!("echo: {}", request.prompt)) })
    }
}

struct Case {
    label: String,
    workers: usize,
    /// `started_at − start_at`, in ms.
    stored: Summary,
    /// Provider call − `start_at`, in ms.
    called: Summary,
    /// Tasks created already due because the submits outran [`LEAD`].
    created_due: usize,
}

pub struct Report {
    cases: Vec<Case>,
}

/// Case (a) alone, repeated: the burst's provider-call lateness moves a few ms
/// from run to run, so comparing two codes needs many runs of it.
pub struct Bursts {
    runs: Vec<Case>,
}

pub async fn bursts(sizes: &Sizes) -> Bursts {
    let n = sizes.scheduled_tasks;
    let mut runs = Vec::with_capacity(sizes.bursts);
    for i in 0..sizes.bursts {
        runs.push(case(format!("{}", i + 1), n, Duration::ZERO, MAX_WORKERS).await);
    }
    Bursts { runs }
}

pub async fn run(sizes: &Sizes) -> Report {
    let n = sizes.scheduled_tasks;
    let spread = sizes.spread;
    Report {
        cases: vec![
            case(
                format!("(a) {n} due at one instant"),
                n,
                Duration::ZERO,
                MAX_WORKERS,
            )
            .await,
            case(
                format!("(b) {n} spread over {} s", spread.as_secs()),
                n,
                spread,
                MAX_WORKERS,
            )
            .await,
            case(
                format!("(a) {n} due at one instant, slot-bound"),
                n,
                Duration::ZERO,
                8,
            )
            .await,
        ],
    }
}

/// `n` tasks due evenly over `spread`, starting [`LEAD`] from now.
async fn case(label: String, n: usize, spread: Duration, workers: usize) -> Case {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = EngineConfig::new(dir.path().join("baton.redb"));
    config.workers = workers;
    let stamping = Arc::new(Stamping::default());
    config.providers.insert("stamping", stamping.clone());
    let engine = Engine::open(config).await.expect("the engine opens");
    engine.start().await;

    let first = Utc::now() + LEAD;
    let step = spread / n as u32;
    let submits: Vec<_> = (0..n)
        .map(|i| {
            let engine = engine.clone();
            let due = first + step * i as u32;
            tokio::spawn(async move {
                engine
                    .submit(NewTask {
                        prompt: format!("Scheduled report #{i}"),
                        provider: Some("stamping".into()),
                        start_at: Some(due),
                        ..NewTask::default()
                    })
                    .await
            })
        })
        .collect();
    let mut created_due = 0;
    for submit in submits {
        let task = submit.await.expect("the submit ran").expect("accepted");
        created_due += usize::from(task.status != TaskState::Scheduled);
    }
    engine.wait_idle().await.expect("the engine goes idle");

    let tasks = engine
        .list(ListQuery {
            limit: n,
            ..ListQuery::default()
        })
        .await
        .expect("list");
    engine.shutdown().await;
    assert_eq!(tasks.len(), n);
    let calls = stamping.calls.lock().unwrap_or_else(|e| e.into_inner());
    let ms = |late: chrono::Duration| late.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3;
    let mut stored = Vec::with_capacity(n);
    let mut called = Vec::with_capacity(n);
    for task in &tasks {
        assert_eq!(task.status, TaskState::Completed);
        let due = task.start_at.expect("scheduled");
        stored.push(ms(task.started_at.expect("started") - due));
        called.push(ms(calls[&task.id] - due));
    }
    Case {
        label,
        workers,
        stored: Summary::of(stored),
        called: Summary::of(called),
        created_due,
    }
}

impl Bursts {
    pub fn print(&self) {
        println!(
            "\n## 2a. Burst lateness, ms: case (a) alone, run after run (workers = {MAX_WORKERS})"
        );
        println!("Where the time goes: the scheduler's timer (stored `started_at`), then one");
        println!("transaction and its commit until the first executor calls the provider (first");
        println!("call), then starting the other executors (p99 − first call).");
        println!("| run | stored p50 | first call | call p50 | call p99 | p99 − first call |");
        println!("|---:|---:|---:|---:|---:|---:|");
        for c in &self.runs {
            println!(
                "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                c.label,
                c.stored.p50,
                c.called.min,
                c.called.p50,
                c.called.p99,
                c.called.p99 - c.called.min
            );
        }
        let p99s: Vec<f64> = self.runs.iter().map(|c| c.called.p99).collect();
        println!("median provider-call p99: {:.2} ms", crate::median(&p99s));
    }
}

impl Report {
    pub fn print(&self) {
        println!("\n## 2. Scheduling lateness, ms (goal: p99 ≤ 10 ms beyond waiting for a slot)");
        println!("| case | workers | measured from | p50 | p99 | max | created already due |");
        println!("|---|---:|---|---:|---:|---:|---:|");
        for c in &self.cases {
            for (what, s) in [("stored started_at", c.stored), ("provider call", c.called)] {
                println!(
                    "| {} | {} | {what} | {:.2} | {:.2} | {:.2} | {} |",
                    c.label, c.workers, s.p50, s.p99, s.max, c.created_due
                );
            }
        }
    }
}

//! Durable lifecycles (submit → claim → complete) per second: the engine against
//! raw redb writing the same records with the same batching.
//!
//! Baseline A takes its batching from the engine round just before it: it
//! writes the N queued records in as many commits as the engine made while the
//! N submits were being answered, then the 2 × N running and completed records
//! in as many commits as the engine made after that. Both sides thus commit
//! equally often in each phase, which matters: a commit that grows the file
//! costs more than one that rewrites pages in place (two to three times more
//! while the disk is busy). The engine's own mean batch, `committed_requests /
//! commits`, counts requests, and one claim request moves up to `workers`
//! tasks, so a baseline batched that way (the same number of records in every
//! commit) makes more commits than the engine did. It is measured in every round
//! too, as baseline B, because it is the recipe the goal was set with.
//!
//! The records are encoded before the baseline's clock starts: the baseline is
//! redb alone, and JSON work counts against the engine.

use crate::{echo_task, median, Sizes};
use baton_engine::{
    Engine, EngineConfig, EngineStats, ListQuery, Task, TaskId, TaskState, MAX_WORKERS,
};
use redb::{Database, TableDefinition};
use std::time::{Duration, Instant};

const WORKERS: usize = 8;
const TASKS: TableDefinition<u128, &[u8]> = TableDefinition::new("tasks");

/// How many commits carry the N queued records, and how many the 2 × N
/// running and completed ones.
#[derive(Clone, Copy)]
struct Batching {
    creates: usize,
    rest: usize,
}

impl Batching {
    /// The same number of records in every commit.
    fn uniform(n: usize, per_commit: f64) -> Batching {
        let commits = |records: usize| (records as f64 / per_commit).ceil() as usize;
        Batching {
            creates: commits(n),
            rest: commits(2 * n),
        }
    }
}

/// A timed run and the bytes the process wrote meanwhile.
#[derive(Clone, Copy)]
struct Measured {
    time: Duration,
    written: u64,
}

struct EngineRound {
    measured: Measured,
    stats: EngineStats,
    batching: Batching,
    /// One task as the engine completed it.
    sample: Task,
}

struct Round {
    engine: EngineRound,
    /// Commit for commit, phase by phase, as the engine did.
    matched: Measured,
    /// `committed_requests / commits` records in every commit.
    by_requests: Measured,
}

pub struct Report {
    tasks: usize,
    rounds: Vec<Round>,
    /// Raw redb with every record in its own commit (the fsync floor), before
    /// and after the rounds: if these differ much, the disk was busy meanwhile.
    one_per_commit: (usize, Measured, Measured),
    /// Raw redb with the writer's largest batch, 1,024 records per commit.
    full_batches: Measured,
    /// The engine with as many workers as it allows: how much the slot count
    /// limits batching.
    wide: EngineRound,
}

pub async fn run(sizes: &Sizes) -> Report {
    let n = sizes.lifecycle_tasks;
    // A warm-up round, not counted: first-touch costs (page cache, allocator).
    let template = engine_round(n / 10, WORKERS).await.sample;
    let floor = sizes.fsync_floor_tasks;
    let floor_before = baseline_round(&template, floor, Batching::uniform(floor, 1.0)).await;
    let mut rounds = Vec::new();
    for round in 0..sizes.rounds {
        let engine = engine_round(n, WORKERS).await;
        let matched = engine.batching;
        let by_requests = Batching::uniform(n, requests_per_commit(engine.stats));
        // Alternate which baseline runs first, in case order matters.
        let (matched, by_requests) = if round % 2 == 0 {
            let m = baseline_round(&template, n, matched).await;
            (m, baseline_round(&template, n, by_requests).await)
        } else {
            let b = baseline_round(&template, n, by_requests).await;
            (baseline_round(&template, n, matched).await, b)
        };
        rounds.push(Round {
            engine,
            matched,
            by_requests,
        });
    }
    Report {
        tasks: n,
        rounds,
        one_per_commit: (
            floor,
            floor_before,
            baseline_round(&template, floor, Batching::uniform(floor, 1.0)).await,
        ),
        full_batches: baseline_round(&template, n, Batching::uniform(n, 1024.0)).await,
        wide: engine_round(n, MAX_WORKERS).await,
    }
}

/// N concurrent submits into a started engine; the clock stops when it is idle.
async fn engine_round(n: usize, workers: usize) -> EngineRound {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = EngineConfig::new(dir.path().join("baton.redb"));
    config.workers = workers;
    let engine = Engine::open(config).await.expect("the engine opens");
    engine.start().await;
    let before = engine.stats();

    let written = bytes_written();
    let started = Instant::now();
    let submits: Vec<_> = (0..n)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.submit(echo_task(i)).await })
        })
        .collect();
    for submit in submits {
        submit.await.expect("the submit ran").expect("accepted");
    }
    let submitted = engine.stats();
    engine.wait_idle().await.expect("the engine goes idle");
    let measured = Measured {
        time: started.elapsed(),
        written: bytes_written() - written,
    };

    let after = engine.stats();
    let counts = engine.counts().await.expect("counts");
    assert_eq!(counts.completed, n as u64, "every task completed");
    let sample = engine
        .list(ListQuery {
            limit: 1,
            ..ListQuery::default()
        })
        .await
        .expect("list")
        .remove(0);
    engine.shutdown().await;
    let creates = (submitted.commits - before.commits) as usize;
    EngineRound {
        measured,
        stats: EngineStats {
            commits: after.commits - before.commits,
            committed_requests: after.committed_requests - before.committed_requests,
        },
        batching: Batching {
            creates,
            rest: (after.commits - submitted.commits) as usize,
        },
        sample,
    }
}

/// The same three records per task, default durability: all queued records
/// spread evenly over `batching.creates` commits, then all running and then all
/// completed records spread evenly over `batching.rest` commits.
async fn baseline_round(template: &Task, n: usize, batching: Batching) -> Measured {
    let records = stages(template, n);
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = Database::create(dir.path().join("raw.redb")).expect("redb opens");
        let write = |records: &[(u128, Vec<u8>)], commits: usize| {
            let commits = commits.clamp(1, records.len());
            for i in 0..commits {
                let chunk =
                    &records[i * records.len() / commits..(i + 1) * records.len() / commits];
                let txn = db.begin_write().expect("write transaction");
                {
                    let mut table = txn.open_table(TASKS).expect("table");
                    for (id, bytes) in chunk {
                        table.insert(*id, bytes.as_slice()).expect("insert");
                    }
                }
                txn.commit().expect("commit");
            }
        };
        let written = bytes_written();
        let started = Instant::now();
        write(&records[..n], batching.creates);
        write(&records[n..], batching.rest);
        Measured {
            time: started.elapsed(),
            written: bytes_written() - written,
        }
    })
    .await
    .expect("the baseline ran")
}

/// The queued, running and completed records of `n` tasks shaped like `template`,
/// JSON-encoded as the engine stores them, in write order.
fn stages(template: &Task, n: usize) -> Vec<(u128, Vec<u8>)> {
    let tasks: Vec<(u128, Task)> = (0..n)
        .map(|i| {
            let uuid = uuid::Uuid::now_v7();
            let id: TaskId = serde_json::from_value(serde_json::json!(uuid.to_string()))
                .expect("a UUID is a task id");
            let mut task = template.clone();
            task.id = id;
            task.prompt = echo_task(i).prompt;
            (uuid.as_u128(), task)
        })
        .collect();
    let encode = |t: &Task| serde_json::to_vec(t).expect("a task encodes");
    let mut out = Vec::with_capacity(3 * n);
    for stage in [TaskState::Queued, TaskState::Running, TaskState::Completed] {
        for (id, done) in &tasks {
            let mut t = done.clone();
            t.status = stage;
            if stage == TaskState::Queued {
                (t.attempts, t.started_at, t.history) = (0, None, Vec::new());
            }
            if stage != TaskState::Completed {
                (t.output, t.finished_at, t.latency_ms) = (None, None, None);
                for attempt in &mut t.history {
                    (attempt.finished_at, attempt.outcome) = (None, None);
                }
            }
            out.push((*id, encode(&t)));
        }
    }
    out
}

/// Bytes this process has passed to write calls (`wchar` in /proc/self/io).
fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn requests_per_commit(stats: EngineStats) -> f64 {
    stats.committed_requests as f64 / stats.commits.max(1) as f64
}

fn per_sec(n: usize, m: Measured) -> f64 {
    n as f64 / m.time.as_secs_f64()
}

/// KiB written per lifecycle.
fn kib_each(n: usize, m: Measured) -> f64 {
    m.written as f64 / 1024.0 / n as f64
}

impl Report {
    pub fn print(&self) {
        let n = self.tasks;
        println!("\n## 1. Durable lifecycles per second (submit → claim → complete)");
        println!(
            "N = {n} tasks per round, mock `echo`, workers = {WORKERS}, Clock::System, default durability"
        );
        println!(
            "baseline A: raw redb, commit for commit as the engine (while submitting + after)"
        );
        println!("baseline B: raw redb, the engine's requests/commit as records in every commit");
        println!(
            "| round | engine /s | A /s | engine ÷ A | B /s | engine ÷ B | engine commits (while submitting + after) | requests/commit | KiB written per lifecycle, engine / A |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (i, r) in self.rounds.iter().enumerate() {
            let e = &r.engine;
            let engine = per_sec(n, e.measured);
            let (a, b) = (per_sec(n, r.matched), per_sec(n, r.by_requests));
            println!(
                "| {} | {engine:.0} | {a:.0} | {:.2} | {b:.0} | {:.2} | {} ({} + {}) | {:.1} | {:.1} / {:.1} |",
                i + 1,
                engine / a,
                engine / b,
                e.stats.commits,
                e.batching.creates,
                e.batching.rest,
                requests_per_commit(e.stats),
                kib_each(n, e.measured),
                kib_each(n, r.matched),
            );
        }
        let rates = |f: fn(&Round) -> Measured| -> Vec<f64> {
            self.rounds.iter().map(|r| per_sec(n, f(r))).collect()
        };
        let ratios = |f: fn(&Round) -> Measured| -> Vec<f64> {
            self.rounds
                .iter()
                .map(|r| f(r).time.as_secs_f64() / r.engine.measured.time.as_secs_f64())
                .collect()
        };
        println!(
            "| **median** | **{:.0}** | **{:.0}** | **{:.2}** | **{:.0}** | **{:.2}** | goal: engine ≥ 0.50 × baseline | | |",
            median(&rates(|r| r.engine.measured)),
            median(&rates(|r| r.matched)),
            median(&ratios(|r| r.matched)),
            median(&rates(|r| r.by_requests)),
            median(&ratios(|r| r.by_requests)),
        );
        let (f, before, after) = self.one_per_commit;
        println!(
            "reference, raw redb, one commit per record ({f} tasks), before / after the rounds: {:.0} / {:.0} lifecycles/s, {:.0} / {:.0} commits/s (far apart means the disk was busy: discard the run)",
            per_sec(f, before),
            per_sec(f, after),
            per_sec(3 * f, before),
            per_sec(3 * f, after),
        );
        let m = self.full_batches;
        println!(
            "reference, raw redb, 1,024 records per commit: {:.0} lifecycles/s ({n} tasks, {:.1} KiB written per lifecycle)",
            per_sec(n, m),
            kib_each(n, m),
        );
        let w = &self.wide;
        println!(
            "reference, engine with workers = {MAX_WORKERS}: {:.0} lifecycles/s ({n} tasks, {} commits, {:.1} requests/commit, {:.1} KiB written per lifecycle)",
            per_sec(n, w.measured),
            w.stats.commits,
            requests_per_commit(w.stats),
            kib_each(n, w.measured),
        );
    }
}

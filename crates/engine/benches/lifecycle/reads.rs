//! Reads with a large store: the newest 100 (`list`) and `get` of random ids.
//! The store is filled by concurrent submits on an engine that is open but not
//! started, so every task stays queued and nothing else runs during the reads.
//! Calls are made one at a time: these are per-call latencies.

use crate::{echo_task, micros, Sizes, Summary};
use baton_engine::{Engine, EngineConfig, ListQuery, TaskId};
use futures::StreamExt;
use rand::Rng;
use std::time::{Duration, Instant};

/// Submits in flight while filling.
const FILL_CONCURRENCY: usize = 2048;

pub struct Report {
    stored: usize,
    fill: Duration,
    file_bytes: u64,
    /// Per call, in µs.
    list: Summary,
    get: Summary,
}

pub async fn run(sizes: &Sizes) -> Report {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("baton.redb");
    let engine = Engine::open(EngineConfig::new(&path))
        .await
        .expect("the engine opens");

    let started = Instant::now();
    let ids: Vec<TaskId> = futures::stream::iter(0..sizes.stored_tasks)
        .map(|i| {
            let engine = engine.clone();
            async move { engine.submit(echo_task(i)).await.expect("accepted").id }
        })
        .buffer_unordered(FILL_CONCURRENCY)
        .collect()
        .await;
    let fill = started.elapsed();

    let newest = ListQuery {
        limit: 100,
        ..ListQuery::default()
    };
    let mut list = Vec::with_capacity(sizes.list_calls);
    for _ in 0..sizes.list_calls {
        let t = Instant::now();
        let page = engine.list(newest.clone()).await.expect("list");
        list.push(micros(t.elapsed()));
        assert_eq!(page.len(), 100);
    }

    let mut rng = rand::rng();
    let mut get = Vec::with_capacity(sizes.get_calls);
    for _ in 0..sizes.get_calls {
        let id = ids[rng.random_range(0..ids.len())];
        let t = Instant::now();
        let task = engine.get(id).await.expect("get");
        get.push(micros(t.elapsed()));
        assert_eq!(task.id, id);
    }
    engine.shutdown().await;

    Report {
        stored: ids.len(),
        fill,
        file_bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
        list: Summary::of(list),
        get: Summary::of(get),
    }
}

impl Report {
    pub fn print(&self) {
        println!(
            "\n## 3. Reads with {} tasks stored, µs per call",
            self.stored
        );
        println!(
            "filled by {FILL_CONCURRENCY} concurrent submits in {:.1} s ({:.0} submits/s); file {:.1} MiB",
            self.fill.as_secs_f64(),
            self.stored as f64 / self.fill.as_secs_f64(),
            self.file_bytes as f64 / (1024.0 * 1024.0)
        );
        println!("| call | calls | mean | p50 | p99 | max |");
        println!("|---|---:|---:|---:|---:|---:|");
        for (what, s) in [
            ("list(limit 100), newest first", self.list),
            ("get(random id)", self.get),
        ] {
            println!(
                "| {what} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
                s.n, s.mean, s.p50, s.p99, s.max
            );
        }
    }
}

//! `cargo bench -p baton-engine --bench providers`: 2,000 tasks against the fake
//! LLM server over real HTTP on 127.0.0.1, each streaming 50 chunks after a
//! 200 ms time to first token, on 256 slots. Prints the wall time against the
//! ideal (the slots working back to back with no engine overhead) and the
//! engine's peak RSS. docs/PERFORMANCE.md records a run.
//!
//! The fake server runs in a child process (this same binary, started again
//! with `BATON_BENCH_FAKE_SERVER`), so the peak RSS read from /proc is the
//! engine's alone. `BATON_BENCH_QUICK=1` runs 300 tasks only.

use baton_engine::{Engine, EngineConfig, NewTask, ProviderKind, ProviderSettings};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TTFT: Duration = Duration::from_millis(200);
const CHUNKS: usize = 50;
const CHUNK_GAP: Duration = Duration::from_millis(10);
const SLOTS: usize = 256;

fn main() {
    if std::env::var_os("BATON_BENCH_FAKE_SERVER").is_some() {
        return serve();
    }
    let tasks = if std::env::var_os("BATON_BENCH_QUICK").is_some() {
        300
    } else {
        2_000
    };
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut child = Server(
        Command::new(exe)
            .env("BATON_BENCH_FAKE_SERVER", "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fake server"),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().expect("its stdout"))
        .read_line(&mut line)
        .expect("its address");
    let url = line.trim().to_string();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (wall, rss_before, rss_peak) = runtime.block_on(run(&url, tasks));
    drop(child);

    // Every slot runs one task after another: ceil(tasks / slots) rounds.
    let per_task = TTFT + CHUNK_GAP * (CHUNKS as u32 - 1);
    let ideal = per_task * tasks.div_ceil(SLOTS) as u32;
    let over = wall.as_secs_f64() / ideal.as_secs_f64() - 1.0;
    println!("providers: {tasks} tasks, {SLOTS} slots, {} ms to first token, {CHUNKS} chunks {} ms apart",
        TTFT.as_millis(), CHUNK_GAP.as_millis());
    println!("  wall time      {:>8.2} s", wall.as_secs_f64());
    println!(
        "  ideal          {:>8.2} s  ({} rounds of {} ms)",
        ideal.as_secs_f64(),
        tasks.div_ceil(SLOTS),
        per_task.as_millis()
    );
    println!(
        "  over ideal     {:>8.1} %  (target: within 10 %)",
        over * 100.0
    );
    println!(
        "  tasks/s        {:>8.0}",
        tasks as f64 / wall.as_secs_f64()
    );
    println!("  RSS            {:>8.1} MiB before start, {:.1} MiB peak (engine process; the server is a child)",
        rss_before as f64 / 1024.0, rss_peak as f64 / 1024.0);
}

/// The fake server's process, stopped however the bench ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Submits `n` tasks to a fresh engine, then times start → idle.
async fn run(url: &str, n: usize) -> (Duration, u64, u64) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = EngineConfig::new(dir.path().join("baton.redb"));
    config.workers = SLOTS;
    let engine = Engine::open(config).await.expect("open");
    let mut settings =
        ProviderSettings::new("fake", ProviderKind::OpenaiCompatible, format!("{url}/v1"));
    settings.model = Some("bench".into());
    engine
        .save_provider(settings, None)
        .await
        .expect("provider");
    for i in 0..n {
        engine
            .submit(NewTask {
                prompt: format!("benchmark task {i}"),
                provider: Some("fake".into()),
                ..NewTask::default()
            })
            .await
            .expect("submit");
    }
    let rss_before = rss_kib("VmRSS");
    let started = Instant::now();
    engine.start().await;
    engine.wait_idle().await.expect("idle");
    let wall = started.elapsed();
    let counts = engine.counts().await.expect("counts");
    assert_eq!(
        counts.completed, n as u64,
        "every task completed: {counts:?}"
    );
    let sample = engine
        .list(baton_engine::ListQuery {
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(
        sample[0]
            .output
            .as_deref()
            .map(|o| o.split_whitespace().count()),
        Some(CHUNKS)
    );
    engine.shutdown().await;
    (wall, rss_before, rss_kib("VmHWM"))
}

/// A field of /proc/self/status in KiB; 0 where there is none.
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The child: a fake server until killed.
fn serve() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let reply = fake_llm::Reply::words(CHUNKS)
            .ttft(TTFT)
            .chunk_delay(CHUNK_GAP);
        let server = fake_llm::FakeServer::start(reply).await;
        println!("{}", server.url());
        std::future::pending::<()>().await
    })
}

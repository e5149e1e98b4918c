//! SSE fan-out: `SUBSCRIBERS` clients follow `GET /events` while `TASKS` tasks,
//! submitted through `POST /tasks`, complete. Every subscriber must receive every
//! event, in order; the delivery delay is the receive time minus the event's `at`
//! (stamped by the engine's writer when the batch that made the change begins, so
//! it includes the commit and its fsync).
//!
//! `cargo bench -p baton-api --bench sse_fanout` (env: SUBSCRIBERS, TASKS, WORKERS).
//! The engine, the server and the clients share this process and the machine's
//! cores, as they would on a desktop.

use baton_api::{ApiOptions, ApiServer, SseParser};
use baton_engine::{Engine, EngineConfig};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one subscriber saw.
struct Seen {
    events: usize,
    in_order: bool,
    delays_us: Vec<u64>,
}

/// `"at":"…"` out of an event's JSON, without parsing the whole task.
fn at(data: &str) -> Option<DateTime<Utc>> {
    let start = data.find("\"at\":\"")? + 6;
    let end = start + data[start..].find('"')?;
    data[start..end].parse().ok()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let subscribers = env("SUBSCRIBERS", 50);
    let tasks = env("TASKS", 10_000);
    let workers = env("WORKERS", 16);
    let _ = rustls::crypto::ring::default_provider().install_default();

    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path().join("baton.redb"));
    config.workers = workers;
    let engine = Engine::open(config).await.unwrap();
    let api = ApiServer::start(engine.clone(), ApiOptions::new(dir.path()))
        .await
        .unwrap();
    engine.start().await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = api.url().to_string();
    let token = api.token().to_string();

    // Ground truth: how many events the engine publishes for these tasks.
    let mut truth = engine.subscribe();
    let truth = tokio::spawn(async move {
        let (mut events, mut done) = (0usize, 0usize);
        while done < tasks {
            let event = truth.recv().await.expect("the bench reads fast enough");
            events += 1;
            if let baton_engine::EventKind::State { to, .. } = event.kind {
                done += usize::from(to == baton_engine::TaskState::Completed);
            }
        }
        events
    });
    let completed = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let response = http
            .get(format!("{url}/events"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        // Subscribed once the headers are here: the handler registers first.
        let completed = completed.clone();
        readers.push(tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut parser = SseParser::new();
            let mut seen = Seen {
                events: 0,
                in_order: true,
                delays_us: Vec::with_capacity(tasks * 3),
            };
            let mut last_id = 0u64;
            let mut done = 0;
            while done < tasks {
                let Some(Ok(chunk)) = body.next().await else {
                    break;
                };
                let now = Utc::now();
                for message in parser.feed(&chunk) {
                    if message.event != "message" {
                        seen.in_order = false; // a resync: something was missed
                        continue;
                    }
                    let id: u64 = message.id.as_deref().unwrap_or("0").parse().unwrap();
                    seen.in_order &= id == last_id + 1 || last_id == 0;
                    last_id = id;
                    seen.events += 1;
                    if let Some(at) = at(&message.data) {
                        seen.delays_us
                            .push((now - at).num_microseconds().unwrap_or(0).max(0) as u64);
                    }
                    if message.data.contains("\"type\":\"state\"")
                        && message.data.contains("\"to\":\"completed\"")
                    {
                        done += 1;
                    }
                }
            }
            completed.fetch_add(1, Ordering::Relaxed);
            seen
        }));
    }

    let started = Instant::now();
    let submitters = 8;
    let mut handles = Vec::new();
    for s in 0..submitters {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        handles.push(tokio::spawn(async move {
            for i in (s..tasks).step_by(submitters) {
                let response = http
                    .post(format!("{url}/tasks"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"prompt": format!("task {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let submitted_in = started.elapsed();
    let mut results = Vec::new();
    for r in readers {
        results.push(
            tokio::time::timeout(Duration::from_secs(600), r)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let elapsed = started.elapsed();

    let expected = truth.await.unwrap();
    let mut delays: Vec<u64> = results
        .iter()
        .flat_map(|s| s.delays_us.iter().copied())
        .collect();
    delays.sort_unstable();
    let everyone = results.iter().all(|s| s.events == expected && s.in_order);
    println!("sse fan-out: {subscribers} subscribers, {tasks} tasks, {workers} workers");
    println!("  events published by the engine: {expected}");
    println!(
        "  every subscriber got every event, in order: {everyone} (min {}, max {})",
        results.iter().map(|s| s.events).min().unwrap_or(0),
        results.iter().map(|s| s.events).max().unwrap_or(0)
    );
    println!(
        "  submitted in {:.2}s; all delivered in {:.2}s; {:.0} deliveries/s",
        submitted_in.as_secs_f64(),
        elapsed.as_secs_f64(),
        delays.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  delivery delay: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&delays, 50.0) as f64 / 1000.0,
        percentile(&delays, 99.0) as f64 / 1000.0,
        delays.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    api.shutdown().await;
    engine.shutdown().await;
    assert!(everyone, "a subscriber missed events");
}

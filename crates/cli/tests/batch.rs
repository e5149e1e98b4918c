//! Batch mode through the CLI: `--batch [--deadline D]` on `submit` and
//! `schedule add`, and a SIGKILL of `baton run` between a batch's submission
//! and its results.

mod common;

use common::{batched as submitted, count, Baton};
use fake_llm::{BatchControls, FakeServer, Reply};

const READY: &str = "engine started";

#[test]
fn a_thousand_batch_tasks_survive_a_sigkill_of_baton_run_completing_once_each_at_half_price() {
    let total = 1000;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(FakeServer::start(Reply::text(&["ok"])));
    // The batches end only after the kill.
    server.set_batch_controls(BatchControls {
        never_end: true,
        ..BatchControls::default()
    });
    let baton = Baton::new();
    let base = format!("{}/v1", server.url());
    baton.ok(&[
        "provider",
        "add",
        "fake",
        "--kind",
        "openai-compatible",
        "--base-url",
        &base,
        "--model",
        "fake-model",
        "--input-price",
        "1",
        "--output-price",
        "2",
    ]);
    let started = std::time::Instant::now();
    let mut runner = baton.spawn(&["run", "--batch-poll", "50ms"]);
    runner.wait_for("the engine to start", |log| count(log, &[READY]) > 0);
    // Submitted through the running engine's API, four at a time.
    std::thread::scope(|s| {
        for part in 0..4 {
            let baton = &baton;
            s.spawn(move || {
                for i in (part..total).step_by(4) {
                    baton.submit(&[
                        &format!("question {i}"),
                        "--provider",
                        "fake",
                        "--batch",
                        "--deadline",
                        "1h",
                    ]);
                }
            });
        }
    });
    runner.wait_for("every task to be in a submitted batch", |log| {
        submitted(log) == total
    });
    runner.kill();
    let submitted_at = started.elapsed();
    let before: usize = server.batch_counters().requests_per_batch.iter().sum();
    assert_eq!(before, total, "each task was sent once");

    server.set_batch_controls(BatchControls::default());
    let mut again = baton.spawn(&["run", "--batch-poll", "50ms", "--exit-when-idle"]);
    let status = again.wait_exit();
    assert!(status.success(), "log:\n{}", again.log().join("\n"));
    eprintln!(
        "{total} batch tasks: submitted in {submitted_at:?}, all done {:?} after the start",
        started.elapsed()
    );

    let counters = server.batch_counters();
    assert_eq!(counters.answered.len(), total);
    assert!(
        counters.answered.values().all(|n| *n == 1),
        "one answer per custom_id"
    );
    assert!(server.requests().is_empty(), "nothing ran live");
    let tasks = baton.tasks();
    assert_eq!(tasks.len(), total);
    let mut cost = 0.0;
    for t in &tasks {
        assert_eq!(t["status"], "completed", "{t:#}");
        let history = t["history"].as_array().unwrap();
        assert_eq!(history.len(), 1, "one attempt, completed once: {t:#}");
        cost += t["cost_usd"].as_f64().unwrap();
    }
    // Live: 10 prompt tokens at $1/M and 1 completion token at $2/M each.
    let live = total as f64 * (10.0 * 1.0 + 2.0) / 1e6;
    assert!(
        (cost - live / 2.0).abs() < 1e-9,
        "recorded {cost}, live would be {live}"
    );
}

#[test]
fn batch_flags_refuse_bad_deadlines_with_one_sentence_and_store_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(FakeServer::start(Reply::text(&["ok"])));
    let baton = Baton::new();
    let base = format!("{}/v1", server.url());
    baton.ok(&[
        "provider",
        "add",
        "fake",
        "--kind",
        "openai-compatible",
        "--base-url",
        &base,
        "--model",
        "m",
    ]);
    let before = baton.snapshot();
    let cases: &[(&[&str], &str)] = &[
        (
            &["submit", "x", "--provider", "fake", "--deadline", "2h"],
            "add --batch",
        ),
        (
            &[
                "submit",
                "x",
                "--provider",
                "fake",
                "--batch",
                "--deadline",
                "2020-01-01T00:00:00Z",
            ],
            "batch.deadline 2020-01-01T00:00:00Z is in the past",
        ),
        (
            &["submit", "x", "--batch", "--deadline", "soon"],
            "--deadline 'soon' is neither a duration",
        ),
        (
            &["submit", "x", "--batch"],
            "provider 'mock' has no batch API",
        ),
        (
            &[
                "schedule",
                "add",
                "nightly",
                "--cron",
                "0 2 * * *",
                "--provider",
                "fake",
                "--batch",
                "--deadline",
                "2030-01-01T00:00:00Z",
                "p",
            ],
            "takes batch.within_ms",
        ),
    ];
    for (args, says) in cases {
        let refusal = baton.refuse(args);
        assert_eq!(
            refusal.status,
            2,
            "`{}`: {}",
            args.join(" "),
            refusal.message
        );
        assert!(
            refusal.message.contains(says),
            "`{}` said {:?}",
            args.join(" "),
            refusal.message
        );
    }
    assert_eq!(baton.snapshot(), before, "nothing stored");
    assert!(baton
        .ok(&["schedule", "list"])
        .lines()
        .all(|l| !l.contains("nightly")));
    // A relative deadline is a schedule's: accepted.
    baton.ok(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 2 * * *",
        "--provider",
        "fake",
        "--batch",
        "--deadline",
        "6h",
        "p",
    ]);
}

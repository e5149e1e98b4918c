//! Deliveries survive a `kill -9` of the engine: the outbox is written with the
//! completion, so whatever was pending goes out when `baton run` starts again.
//! A real receiver (HTTP on loopback) and real files.

mod common;

use common::{count, Baton};
use fake_llm::webhook::{Received, WebhookReceiver};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

const SECRET_VAR: &str = "BATON_SOAK_WEBHOOK_SECRET";
const SECRET: &str = "a secret only the receiver knows";
/// How long the receiver refuses everything (the must-hold).
const REFUSING: Duration = Duration::from_secs(120);
/// The tries of a delivery refused that long end within about 4 minutes.
const PATIENCE: Duration = Duration::from_secs(600);

/// An export file of `n` queued mock tasks, each delivering as `deliver(i)` says.
fn import_file(
    dir: &Path,
    n: usize,
    prompt: impl Fn(usize) -> String,
    deliver: impl Fn(usize) -> Value,
) -> String {
    let tasks: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("01900000-0000-7000-8000-{i:012x}"),
                "name": format!("task {i}"),
                "prompt": prompt(i),
                "status": "queued",
                "start_at": null,
                "created_at": "2026-01-01T00:00:00Z",
                "started_at": null,
                "finished_at": null,
                "output": null,
                "error": null,
                "parent_task_id": null,
                "llm_provider": "mock",
                "llm_model": "echo",
                "latency_ms": null,
                "attempts": 0,
                "max_attempts": 3,
                "timeout_ms": 60000,
                "cancel_reason": null,
                "history": [],
                "deliver": deliver(i),
            })
        })
        .collect();
    let file = json!({
        "format_version": 2,
        "exported_at": "2026-01-01T00:00:00Z",
        "tasks": tasks,
        "schedules": [],
    });
    let path = dir.join("tasks.json");
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

fn signed_by_the_secret(r: &Received) -> bool {
    let Some(hex) = r
        .signature
        .as_deref()
        .and_then(|s| s.strip_prefix("sha256="))
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&r.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == expected
}

fn accepted_keys(received: &[Received]) -> BTreeSet<String> {
    received
        .iter()
        .filter(|r| r.accepted())
        .filter_map(|r| r.idempotency_key.clone())
        .collect()
}

#[test]
fn a_thousand_webhook_deliveries_survive_a_refusing_receiver_and_a_kill_9() {
    const TASKS: usize = 1000;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime.block_on(WebhookReceiver::start());
    receiver.refuse_for(503, REFUSING);
    let baton = Baton::new();
    let url = receiver.url();
    let file = import_file(
        baton.data_dir(),
        TASKS,
        |i| format!("question {i}"),
        |_| json!({"webhook": url, "webhook_secret_env": SECRET_VAR}),
    );
    baton.ok(&["import", &file]);
    let env = [(SECRET_VAR, SECRET)];

    // The engine is killed while deliveries are in flight (refused, retried).
    let mut first = baton.spawn_env(&["run", "--no-api", "--workers", "8"], &env);
    runtime.block_on(receiver.wait_until(PATIENCE, |r| r.len() >= 300));
    first.kill();
    let tried_before_kill = receiver.received().len();

    let mut second = baton.spawn_env(&["run", "--no-api", "--exit-when-idle"], &env);
    runtime.block_on(receiver.wait_until(PATIENCE, |r| accepted_keys(r).len() == TASKS));
    // It stops by itself once nothing is pending.
    assert!(second.wait_exit().success(), "{:?}", second.log());

    let tasks = baton.tasks();
    assert_eq!(tasks.len(), TASKS);
    // The key is the task and the attempt that completed it (a second one for
    // a task the kill interrupted while it ran).
    let expected: BTreeSet<String> = tasks
        .iter()
        .map(|t| {
            let attempt = t["history"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["outcome"] == "completed")
                .map(|a| a["number"].as_u64().unwrap())
                .unwrap_or(0);
            format!("{}:{attempt}", t["id"].as_str().unwrap())
        })
        .collect();
    let received = receiver.received();
    let accepted = accepted_keys(&received);
    let missing: Vec<_> = expected.difference(&accepted).take(5).collect();
    let unexpected: Vec<_> = accepted.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "every task's delivery, once each: missing {missing:?}, unexpected {unexpected:?}"
    );
    assert!(
        received.iter().all(signed_by_the_secret),
        "every request verifies against the secret"
    );
    // A repeat (refused tries, a try cut by the kill) carries the same key and bytes.
    let mut bodies: HashMap<&str, &[u8]> = HashMap::new();
    for r in &received {
        let key = r.idempotency_key.as_deref().expect("an idempotency key");
        let body = bodies.entry(key).or_insert(&r.body);
        assert_eq!(*body, &r.body[..], "{key}: the same body on every try");
        assert_eq!(r.json()["idempotency_key"], key);
    }
    assert!(tried_before_kill >= 300 && received.len() > TASKS);
    // Each task completed once: the kill recorded no completion twice.
    for t in &tasks {
        assert_eq!(t["status"], "completed", "{t}");
        let completions = t["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["outcome"] == "completed")
            .count();
        assert_eq!(completions, 1, "{t}");
    }
    let listed = baton.json(&["deliveries", tasks[0]["id"].as_str().unwrap(), "--json"]);
    assert_eq!(listed[0]["status"], "sent");
}

#[test]
fn file_deliveries_after_a_kill_9_are_whole_files_one_per_task() {
    const TASKS: usize = 120;
    let baton = Baton::new();
    let out = baton.data_dir().join("answers");
    // Large answers (the mock echoes its prompt): a torn write would show.
    let prompt = |i: usize| format!("{i}:{}", "lorem ipsum ".repeat(20_000));
    let file = import_file(
        baton.data_dir(),
        TASKS,
        prompt,
        |i| json!({"to_file": out.join(format!("answer-{i}.md")).to_string_lossy()}),
    );
    baton.ok(&["import", &file]);
    let mut first = baton.spawn(&["run", "--no-api", "--workers", "4"]);
    first.wait_for("some attempts to finish", |log| {
        count(log, &["attempt finished", "completed"]) >= 30
    });
    first.kill();
    let mut second = baton.spawn(&["run", "--no-api", "--exit-when-idle"]);
    assert!(second.wait_exit().success(), "{:?}", second.log());

    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        TASKS,
        "one file per task and nothing else: {names:?}"
    );
    for i in 0..TASKS {
        let text = std::fs::read_to_string(out.join(format!("answer-{i}.md"))).unwrap();
        assert_eq!(
            text,
            format!("echo: {}", prompt(i)),
            "answer-{i}.md is whole"
        );
    }
}

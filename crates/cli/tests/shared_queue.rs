//! One queue for many machines: several `baton --database URL run` runners on
//! one PostgreSQL database (a private cluster, `scripts/pg.sh`), against the
//! fake LLM server, which counts requests and two live calls of one prompt.
//! Each test makes its own database and drops it after.

mod common;

use common::{batched, count, Baton, Running};
use fake_llm::{FakeServer, Reply};
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The queue's database: one of its own in the test cluster (dropped when
/// this is), or a database something else owns.
struct Queue {
    _own: Option<baton_testkit::TestDatabase>,
    url: String,
}

impl Queue {
    fn new(tag: &str) -> Queue {
        let db = baton_testkit::TestDatabase::new(&format!("cli_{tag}"));
        Queue {
            url: db.url().to_string(),
            _own: Some(db),
        }
    }

    /// The database at `url`, left as it is when this is dropped.
    fn at(url: &str) -> Queue {
        Queue {
            _own: None,
            url: url.to_string(),
        }
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect")
    }

    /// `--database URL ARGS…`
    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["--database", self.url.as_str()];
        all.extend_from_slice(args);
        all
    }
}

/// `n` tasks on the fake server's provider, one prompt each ("item-0001"…),
/// made in one transaction by `baton map`.
fn queue_tasks(baton: &Baton, queue: &Queue, server: &FakeServer, n: usize) {
    queue_limited_tasks(baton, queue, server, n, &[]);
}

/// Adds provider `fake` (the fake server's OpenAI-compatible API) with `limits`.
fn add_fake_provider(baton: &Baton, queue: &Queue, server: &FakeServer, limits: &[&str]) {
    let base = format!("{}/v1", server.url());
    let mut add = queue.args(&[
        "provider",
        "add",
        "fake",
        "--kind",
        "openai-compatible",
        "--base-url",
        &base,
        "--model",
        "fake-model",
    ]);
    add.extend_from_slice(limits);
    baton.ok(&add);
}

/// [`queue_tasks`], the provider added with `limits` (`--max-concurrency 2`…).
fn queue_limited_tasks(
    baton: &Baton,
    queue: &Queue,
    server: &FakeServer,
    n: usize,
    limits: &[&str],
) {
    add_fake_provider(baton, queue, server, limits);
    let file = baton.data_dir().join("items.txt");
    let items: String = (1..=n).map(|i| format!("item-{i:04}\n")).collect();
    std::fs::write(&file, items).unwrap();
    baton.ok(&queue.args(&[
        "map",
        "items",
        "--lines",
        file.to_str().unwrap(),
        "{{item}}",
        "--provider",
        "fake",
    ]));
}

/// The fake LLM server on a runtime of its own, answering "ok" after `delay`.
fn fake_server(delay: Duration) -> (tokio::runtime::Runtime, FakeServer) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(FakeServer::start(Reply::text(&["ok"]).delay(delay)));
    (rt, server)
}

/// Every task completed, exactly one of its attempts completed, and the
/// completed one was its last (no stale outcome applied after it).
fn each_completed_once(tasks: &HashMap<String, Value>) {
    for (prompt, task) in tasks {
        assert_eq!(task["status"], "completed", "{prompt}: {task:#}");
        let outcomes = outcomes(task);
        assert_eq!(
            outcomes.iter().filter(|o| *o == "completed").count(),
            1,
            "{prompt}: completed once: {outcomes:?}"
        );
        assert_eq!(
            outcomes.last().unwrap(),
            "completed",
            "{prompt}: {outcomes:?}"
        );
    }
}

fn runner(baton: &Baton, queue: &Queue, extra: &[&str]) -> Running {
    let mut args = queue.args(&["run", "--workers", "8", "--lease", "2s"]);
    args.extend_from_slice(extra);
    let mut running = baton.spawn(&args);
    running.wait_for("the runner to start", |log| {
        count(log, &["engine started"]) > 0
    });
    running
}

/// Every task as exported (status, history), by prompt.
fn tasks_by_prompt(baton: &Baton, queue: &Queue) -> HashMap<String, Value> {
    let file = baton.data_dir().join("export.json");
    baton.ok(&queue.args(&["export", "--out", file.to_str().unwrap()]));
    let export: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    export["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["prompt"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

fn outcomes(task: &Value) -> Vec<String> {
    task["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The counts the runners kept (the group's, updated by every row's end in
/// its own transaction) against `count(*)` of the tasks table.
fn counts_agree(baton: &Baton, queue: &Queue) {
    let mut client = queue.client();
    let count = |client: &mut postgres::Client, sql: &str| -> i64 {
        client.query_one(sql, &[]).unwrap().get(0)
    };
    let total = count(&mut client, "SELECT count(*) FROM baton_tasks");
    let completed = count(
        &mut client,
        "SELECT count(*) FROM baton_tasks WHERE status = 5",
    );
    let group = baton.json(&queue.args(&["group", "show", "items", "--json"]));
    assert_eq!(group["total"].as_i64().unwrap(), total, "{group:#}");
    assert_eq!(group["completed"].as_i64().unwrap(), completed, "{group:#}");
    assert_eq!(group["failed"].as_i64().unwrap(), 0, "{group:#}");
}

/// The must-hold: 3 runners × 8 workers, 2,000 tasks.
#[test]
fn three_runners_of_eight_workers_complete_two_thousand_tasks_once_each_without_overlap() {
    let total = 2000;
    // Long enough that calls from different runners are in flight together.
    let (_rt, server) = fake_server(Duration::from_millis(20));
    let queue = Queue::new("three");
    let baton = Baton::new();
    queue_tasks(&baton, &queue, &server, total);

    let mut runners: Vec<Running> = (0..3)
        .map(|_| runner(&baton, &queue, &["--exit-when-idle"]))
        .collect();
    for r in &mut runners {
        assert!(r.wait_exit().success(), "{}", r.log().join("\n"));
    }

    let tasks = tasks_by_prompt(&baton, &queue);
    assert_eq!(tasks.len(), total);
    let mut attempts = 0;
    for (prompt, task) in &tasks {
        assert_eq!(task["status"], "completed", "{prompt}: {task:#}");
        assert_eq!(outcomes(task), ["completed"], "{prompt}: one attempt");
        attempts += outcomes(task).len();
    }
    assert_eq!(
        server.requests().len(),
        attempts,
        "provider requests = recorded attempts"
    );
    assert_eq!(server.overlapping(), 0, "two live calls of one task");
    for (i, r) in runners.iter().enumerate() {
        assert!(
            count(r.log(), &["attempt finished", "status=completed"]) > 0,
            "runner {i} ran nothing: the queue was not shared"
        );
    }
    counts_agree(&baton, &queue);
}

/// The runner with this pid, as `baton db status` lists it.
fn runner_id(baton: &Baton, queue: &Queue, pid: u32) -> String {
    let status = baton.json(&queue.args(&["db", "status", "--json"]));
    status["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pid"].as_u64() == Some(pid as u64))
        .unwrap_or_else(|| panic!("runner {pid} is not registered: {status:#}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The must-hold: 10 SIGKILLs of random runners, each restarted.
#[test]
fn ten_sigkills_of_runners_lose_no_task_and_complete_none_twice() {
    // 24 calls of 250 ms at once: about 96 tasks a second; each kill takes
    // about 3 s (the 2 s lease, the rescue, a restart), so the ten kills all
    // land while the queue is busy.
    let total = 4000;
    let (_rt, server) = fake_server(Duration::from_millis(250));
    let queue = Queue::new("kills");
    let baton = Baton::new();
    queue_tasks(&baton, &queue, &server, total);
    let mut client = queue.client();
    let completed = |client: &mut postgres::Client| -> i64 {
        client
            .query_one("SELECT count(*) FROM baton_tasks WHERE status = 5", &[])
            .map(|r| r.get(0))
            .unwrap_or(0)
    };

    let mut runners: Vec<Running> = (0..3).map(|_| runner(&baton, &queue, &[])).collect();
    let mut reclaim_ms = Vec::new();
    let mut seed = 0x5eed_u64;
    for kill in 0..10 {
        // Let the queue make progress between kills.
        let before = completed(&mut client);
        let deadline = Instant::now() + Duration::from_secs(60);
        while completed(&mut client) < before + 40 {
            assert!(
                Instant::now() < deadline,
                "kill {kill}: no progress from {before}; logs:\n{}",
                runners
                    .iter()
                    .map(|r| r.log()[r.log().len().saturating_sub(15)..].join("\n"))
                    .collect::<Vec<_>>()
                    .join("\n-----\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let victim = (seed >> 33) as usize % runners.len();
        let id = runner_id(&baton, &queue, runners[victim].id());
        runners[victim].kill();
        let killed_at = Instant::now();
        let held: Vec<String> = client
            .query(
                "SELECT id::text FROM baton_tasks WHERE status = 4 AND runner_id::text = $1",
                &[&id],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        // Re-claimed: none of its tasks is still running under it.
        if !held.is_empty() {
            loop {
                let left: i64 = client
                    .query_one(
                        "SELECT count(*) FROM baton_tasks WHERE status = 4 AND runner_id::text = $1",
                        &[&id],
                    )
                    .unwrap()
                    .get(0);
                if left == 0 {
                    break;
                }
                assert!(
                    killed_at.elapsed() < Duration::from_secs(60),
                    "never rescued"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            reclaim_ms.push(killed_at.elapsed().as_millis() as u64);
        }
        runners[victim] = runner(&baton, &queue, &[]);
    }
    let mut last = runner(&baton, &queue, &["--exit-when-idle"]);
    assert!(last.wait_exit().success(), "{}", last.log().join("\n"));
    drop(runners);

    let tasks = tasks_by_prompt(&baton, &queue);
    assert_eq!(tasks.len(), total, "no task lost");
    for (prompt, task) in &tasks {
        assert_eq!(task["status"], "completed", "{prompt}: {task:#}");
        let outcomes = outcomes(task);
        assert_eq!(
            outcomes.iter().filter(|o| *o == "completed").count(),
            1,
            "{prompt}: completed once, last: {outcomes:?}"
        );
        assert_eq!(
            outcomes.last().unwrap(),
            "completed",
            "{prompt}: {outcomes:?}"
        );
    }
    assert_eq!(server.overlapping(), 0, "two live calls of one task");
    counts_agree(&baton, &queue);
    reclaim_ms.sort_unstable();
    eprintln!(
        "kill → re-claim (lease 2 s): p50 {} ms, max {} ms over {} kills",
        reclaim_ms.get(reclaim_ms.len() / 2).copied().unwrap_or(0),
        reclaim_ms.last().copied().unwrap_or(0),
        reclaim_ms.len()
    );
}

/// The must-hold: a runner stopped (SIGSTOP) for longer than its lease, then
/// continued, applies no stale outcome and makes no call that overlaps the
/// rescuer's.
#[test]
fn a_runner_stopped_past_its_lease_applies_no_stale_outcome_and_overlaps_no_call() {
    let total = 300;
    // Calls long enough that the stopped runner holds several when stopped.
    let (_rt, server) = fake_server(Duration::from_millis(400));
    let queue = Queue::new("stop");
    let baton = Baton::new();
    queue_tasks(&baton, &queue, &server, total);
    let mut client = queue.client();
    let running_under = |client: &mut postgres::Client, id: &str| -> i64 {
        client
            .query_one(
                "SELECT count(*) FROM baton_tasks WHERE status = 4 AND runner_id::text = $1",
                &[&id],
            )
            .unwrap()
            .get(0)
    };

    let mut stopped = runner(&baton, &queue, &[]);
    let stopped_id = runner_id(&baton, &queue, stopped.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    while running_under(&mut client, &stopped_id) < 8 {
        assert!(Instant::now() < deadline, "the runner never held 8 calls");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = stopped.id() as i32;
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let mut rescuer = runner(&baton, &queue, &[]);
    while running_under(&mut client, &stopped_id) > 0 {
        assert!(
            Instant::now() < deadline,
            "the stopped runner's tasks were never rescued"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Past its lease, and rescued: now it wakes up with its old calls.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    // Each of the 8 calls it held reports, late: refused, as the task moved on.
    stopped.wait_for("the woken runner's 8 late outcomes to be refused", |log| {
        count(log, &["outcome ignored: the task had moved on"]) >= 8
            && count(log, &["joined the shared queue again"]) > 0
    });
    let mut last = runner(&baton, &queue, &["--exit-when-idle"]);
    assert!(last.wait_exit().success(), "{}", last.log().join("\n"));
    drop((stopped, rescuer.kill()));

    let tasks = tasks_by_prompt(&baton, &queue);
    assert_eq!(tasks.len(), total);
    each_completed_once(&tasks);
    assert_eq!(server.overlapping(), 0, "two live calls of one task");
    counts_agree(&baton, &queue);
}

/// A cancel made by another process reaches the runner holding the task
/// through the outbox's doorbell, and its provider call is dropped.
#[test]
fn a_cancel_from_another_process_aborts_the_call_on_the_runner_holding_the_task() {
    // A call that would take a minute.
    let (rt, server) = fake_server(Duration::from_secs(60));
    let queue = Queue::new("cancel");
    let baton = Baton::new();
    queue_tasks(&baton, &queue, &server, 1);
    let mut holder = runner(&baton, &queue, &[]);
    rt.block_on(server.wait_for(|s| !s.requests().is_empty()));
    let tasks = tasks_by_prompt(&baton, &queue);
    let id = tasks["item-0001"]["id"].as_str().unwrap().to_string();

    // Timed from the start of `baton cancel` (its start-up and connection
    // included): an upper bound of commit → abort.
    let cancelled_at = Instant::now();
    baton.ok(&queue.args(&["cancel", &id]));
    rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            server.wait_for(|s| s.closed_early() == 1),
        )
        .await
        .expect("the call was never dropped")
    });
    eprintln!(
        "`baton cancel` started → provider call dropped: {} ms",
        cancelled_at.elapsed().as_millis()
    );
    holder.wait_for("the runner to say the attempt was aborted", |log| {
        count(log, &["attempt aborted: the task was cancelled"]) == 1
    });
    assert_eq!(
        baton.json(&queue.args(&["show", &id, "--json"]))["status"],
        "cancelled"
    );
}

/// A provider's concurrency limit is the queue's, not each runner's: three
/// runners of eight workers share `--max-concurrency 2`.
#[test]
fn a_providers_concurrency_limit_holds_for_the_whole_queue() {
    let (_rt, server) = fake_server(Duration::from_millis(100));
    let queue = Queue::new("limits");
    let baton = Baton::new();
    queue_limited_tasks(&baton, &queue, &server, 60, &["--max-concurrency", "2"]);
    let mut runners: Vec<Running> = (0..3)
        .map(|_| runner(&baton, &queue, &["--exit-when-idle"]))
        .collect();
    for r in &mut runners {
        assert!(r.wait_exit().success(), "{}", r.log().join("\n"));
    }
    assert_eq!(server.requests().len(), 60);
    assert!(
        server.max_in_flight() <= 2,
        "{} requests at once against a limit of 2 for the queue",
        server.max_in_flight()
    );
    counts_agree(&baton, &queue);
}

/// A 429 one runner meets cools the provider down for every runner: none
/// sends a request to it before the Retry-After ends.
#[test]
fn a_429_at_one_runner_cools_the_provider_down_for_all_of_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(FakeServer::start(Reply::text(&["ok"])));
    server.push(Reply::error(429, "slow down").retry_after("3"));
    let queue = Queue::new("cooldown");
    let baton = Baton::new();
    queue_tasks(&baton, &queue, &server, 1);
    let mut first = runner(&baton, &queue, &[]);
    first.wait_for("the 429", |log| count(log, &["attempt finished"]) >= 1);
    let limited_at = server.requests()[0].at;
    // Another runner, and more work for it: it must wait out the cool-down.
    let file = baton.data_dir().join("more.txt");
    std::fs::write(&file, "more-1\nmore-2\nmore-3\n").unwrap();
    baton.ok(&queue.args(&[
        "map",
        "more",
        "--lines",
        file.to_str().unwrap(),
        "{{item}}",
        "--provider",
        "fake",
    ]));
    drop(first);
    let mut second = runner(&baton, &queue, &["--exit-when-idle"]);
    assert!(second.wait_exit().success(), "{}", second.log().join("\n"));
    let requests = server.requests();
    assert_eq!(requests.len(), 5, "the 429, its retry and three more");
    for r in &requests[1..] {
        assert!(
            r.at - limited_at >= Duration::from_millis(2900),
            "a request {} ms after the 429 that asked for 3 s",
            (r.at - limited_at).as_millis()
        );
    }
}

/// A private cluster of its own (scripts/pg.sh), for a test that restarts it.
struct Cluster {
    dir: String,
    url: String,
}

impl Cluster {
    fn start() -> Cluster {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let out = std::process::Command::new("bash")
            .arg(format!("{root}/scripts/pg.sh"))
            .arg("start")
            .output()
            .expect("run pg.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap()
                .to_string()
        };
        Cluster {
            dir: value("BATON_PG_DIR"),
            url: value("BATON_TEST_DATABASE_URL"),
        }
    }

    /// `pg_ctl restart -m fast`: every connection is closed.
    fn restart(&self) {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .map(|e| e.unwrap().path())
            .max()
            .unwrap()
            .join("bin/pg_ctl");
        let status = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin)
            .args([
                "-D",
                &format!("{}/data", self.dir),
                "-m",
                "fast",
                "-w",
                "restart",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let _ = std::process::Command::new("bash")
            .arg(format!("{root}/scripts/pg.sh"))
            .args(["stop", &self.dir])
            .status();
    }
}

/// A runner survives the database restarting: it says so, keeps the outcomes
/// of its running attempts, writes them once the database is back, and every
/// task completes once.
#[test]
fn a_runner_survives_the_database_restarting_and_loses_nothing() {
    let cluster = Cluster::start();
    // The cluster's own database: it goes with the cluster's directory.
    let queue = Queue::at(&cluster.url);
    let (_rt, server) = fake_server(Duration::from_millis(300));
    let baton = Baton::new();
    queue_tasks(&baton, &queue, &server, 200);
    let mut running = runner(&baton, &queue, &[]);
    running.wait_for("some tasks to complete", |log| {
        count(log, &["attempt finished", "status=completed"]) >= 30
    });
    cluster.restart();
    running.wait_for("the runner to say the database is back", |log| {
        count(log, &["cannot be written"]) > 0 && count(log, &["can be written again"]) > 0
    });
    let mut last = runner(&baton, &queue, &["--exit-when-idle"]);
    assert!(last.wait_exit().success(), "{}", last.log().join("\n"));
    drop(running);

    let tasks = tasks_by_prompt(&baton, &queue);
    assert_eq!(tasks.len(), 200);
    each_completed_once(&tasks);
}

/// An unreachable database at start is one sentence, naming no password.
#[test]
fn an_unreachable_database_is_one_sentence_without_the_password() {
    let baton = Baton::new();
    let url = "postgres://baton:hunter2secret@127.0.0.1:1/baton";
    for args in [
        vec!["--database", url, "list"],
        vec!["--database", url, "run"],
    ] {
        let refusal = baton.refuse(&args);
        assert!(
            refusal
                .message
                .contains("cannot open the shared queue's database"),
            "{}",
            refusal.message
        );
        assert!(!refusal.message.contains("hunter2"), "{}", refusal.message);
    }
}

/// `baton events` on a shared queue follows every runner's events, each
/// task's in the order they committed.
#[test]
fn events_on_a_shared_queue_follow_every_runners_tasks_in_order() {
    let queue = Queue::new("events");
    let baton = Baton::new();
    let mut follower = baton.spawn_stdout(&queue.args(&["events"]));
    follower.wait_for("the follower to start", |log| {
        count(log, &["following the shared queue's events"]) > 0
    });
    // A client: it follows the queue but is no runner of it.
    let status = baton.json(&queue.args(&["db", "status", "--json"]));
    assert_eq!(status["runners"], serde_json::json!([]), "{status:#}");
    let ids: Vec<String> = (0..5)
        .map(|i| {
            baton
                .ok(&queue.args(&["submit", &format!("hello {i}")]))
                .trim()
                .to_string()
        })
        .collect();
    let mut runners: Vec<Running> = (0..2)
        .map(|_| runner(&baton, &queue, &["--exit-when-idle"]))
        .collect();
    for r in &mut runners {
        assert!(r.wait_exit().success(), "{}", r.log().join("\n"));
    }
    follower.wait_for("every task's events", |log| {
        ids.iter()
            .all(|id| count(log, &[id.as_str(), "running → completed"]) == 1)
    });
    for id in &ids {
        let changes: Vec<&str> = follower
            .log()
            .iter()
            .filter(|l| l.contains(id.as_str()) && l.contains('→'))
            .map(|l| l.split("  ").nth(2).unwrap_or(""))
            .map(|what| what.split("  ").next().unwrap_or(""))
            .collect();
        assert_eq!(
            changes,
            ["new → queued", "queued → running", "running → completed"],
            "{id}"
        );
    }
}

/// The must-hold: 5 every-second schedules over 120 s, a runner killed (and
/// started again) every 20 s: exactly one run per schedule and fire time, and
/// no fire time missing between the first and the last.
#[test]
fn every_second_schedules_fire_once_per_second_across_runners_killed_every_20_s() {
    let queue = Queue::new("fires");
    let baton = Baton::new();
    for i in 0..5 {
        baton.ok(&queue.args(&[
            "schedule",
            "add",
            &format!("tick-{i}"),
            "--cron",
            "* * * * * *",
            "--missed",
            "all",
            "--overlap",
            "queue",
            &format!("tick {i}"),
        ]));
    }
    let mut runners: Vec<Running> = (0..3).map(|_| runner(&baton, &queue, &[])).collect();
    let started = Instant::now();
    for kill in 0..6 {
        let due = Duration::from_secs(20 * (kill + 1));
        std::thread::sleep(due.saturating_sub(started.elapsed()));
        let victim = kill as usize % runners.len();
        runners[victim].kill();
        runners[victim] = runner(&baton, &queue, &[]);
    }
    drop(runners);

    let mut client = queue.client();
    let rows = client
        .query(
            "SELECT s.record, t.record FROM baton_tasks t JOIN baton_schedules s ON s.id = t.schedule_id",
            &[],
        )
        .unwrap();
    let mut fires: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let schedule: Value = serde_json::from_slice(row.get::<_, &[u8]>(0)).unwrap();
        let task: Value = serde_json::from_slice(row.get::<_, &[u8]>(1)).unwrap();
        fires
            .entry(schedule["name"].as_str().unwrap().to_string())
            .or_default()
            .push(task["start_at"].as_str().unwrap().to_string());
    }
    assert_eq!(fires.len(), 5, "every schedule fired");
    for (name, mut times) in fires {
        times.sort();
        let n = times.len();
        times.dedup();
        assert_eq!(times.len(), n, "{name}: a fire time ran twice");
        let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
        let (first, last) = (parse(&times[0]), parse(&times[n - 1]));
        let span = (last - first).num_seconds() as usize + 1;
        assert_eq!(n, span, "{name}: {} of {span} fire times ran", n);
        assert!(n >= 115, "{name}: only {n} fire times in 120 s");
    }
}

/// A TCP proxy to the database that a test can cut: while cut, bytes are
/// held, not refused (a partition, not a closed port), and new connections
/// wait.
struct Proxy {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    fn to(url: &str) -> Proxy {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let target = url
            .rsplit_once('@')
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(hostport, _)| hostport.to_string())
            .expect("host:port in the URL");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                while flag.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let Ok(server) = std::net::TcpStream::connect(&target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            while flag.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, cut }
    }

    /// `url` with its host and port replaced by this proxy's.
    fn url(&self, url: &str) -> String {
        let (scheme_user, rest) = url.rsplit_once('@').unwrap();
        let (_, db) = rest.split_once('/').unwrap();
        format!("{scheme_user}@127.0.0.1:{}/{db}", self.port)
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The must-hold: a runner cut off from the database for longer than its
/// lease stops its own calls before another runner takes its tasks over, so
/// no two calls of one task overlap; back on the network it applies nothing
/// stale and runs again.
#[test]
fn a_runner_cut_off_from_the_database_stops_its_calls_before_its_tasks_are_taken_over() {
    // Calls longer than the lease: the cut-off runner's are still in flight
    // when its lease ends.
    let (rt, server) = fake_server(Duration::from_secs(5));
    let queue = Queue::new("partition");
    let baton = Baton::new();
    queue_tasks(&baton, &queue, &server, 16);
    let proxy = Proxy::to(&queue.url);
    let behind_proxy = proxy.url(&queue.url);
    let mut args = vec!["--database", behind_proxy.as_str()];
    args.extend(["run", "--workers", "8", "--lease", "2s"]);
    let mut cut_off = baton.spawn(&args);
    cut_off.wait_for("the runner to start", |log| {
        count(log, &["engine started"]) > 0
    });
    let mut client = queue.client();
    let running_under = |client: &mut postgres::Client, pid: u32| -> i64 {
        client
            .query_one(
                "SELECT count(*) FROM baton_tasks t JOIN baton_runners r ON r.id = t.runner_id
                 WHERE t.status = 4 AND r.pid = $1",
                &[&(pid as i32)],
            )
            .unwrap()
            .get(0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while running_under(&mut client, cut_off.id()) < 8 {
        assert!(Instant::now() < deadline, "the runner never held 8 calls");
        std::thread::sleep(Duration::from_millis(10));
    }
    let closed_before = server.closed_early();
    proxy.set_cut(true);
    cut_off.wait_for("the cut-off runner to stop its calls", |log| {
        count(log, &["no heartbeat reached the database"]) > 0
    });
    // Its 8 calls were dropped by it, not finished.
    let dropped = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            server.wait_for(|s| s.closed_early() >= closed_before + 8),
        )
        .await
    });
    if dropped.is_err() {
        let (requests, closed) = (server.requests().len(), server.closed_early());
        unsafe { libc::kill(cut_off.id() as i32, libc::SIGKILL) };
        cut_off.wait_exit();
        panic!(
            "the cut-off runner's calls were never dropped: {requests} requests, {closed} dropped; log:\n{}",
            cut_off.log().join("\n")
        );
    }
    let mut other = runner(&baton, &queue, &["--exit-when-idle"]);
    assert!(other.wait_exit().success(), "{}", other.log().join("\n"));
    proxy.set_cut(false);
    cut_off.wait_for("the runner to claim again", |log| {
        count(log, &["claims tasks again"]) + count(log, &["joined the shared queue again"]) > 0
    });
    drop(cut_off);

    let tasks = tasks_by_prompt(&baton, &queue);
    each_completed_once(&tasks);
    assert_eq!(server.overlapping(), 0, "two live calls of one task");
}

/// Batch mode on a shared queue: tasks a client submits reach a runner's batch
/// loop through the outbox, and a runner killed while its provider batch is out
/// is not the end of it: after its lease another runner takes the batch over
/// (not requeued: its results will come) and completes every task once, with
/// nothing run live.
#[test]
fn a_provider_batch_outlives_the_runner_that_sent_it() {
    let total = 10;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(FakeServer::start(Reply::text(&["ok"])));
    // The batch ends only after the kill.
    server.set_batch_controls(fake_llm::BatchControls {
        never_end: true,
        ..fake_llm::BatchControls::default()
    });
    let queue = Queue::new("batch");
    let baton = Baton::new();
    add_fake_provider(&baton, &queue, &server, &[]);
    let mut sender = runner(&baton, &queue, &["--batch-poll", "50ms"]);
    for i in 0..total {
        baton.ok(&queue.args(&[
            "submit",
            &format!("question {i}"),
            "--provider",
            "fake",
            "--batch",
            "--deadline",
            "1h",
        ]));
    }
    sender.wait_for("every task in a submitted batch", |log| {
        batched(log) == total
    });
    sender.kill();

    server.set_batch_controls(fake_llm::BatchControls::default());
    let mut heir = runner(
        &baton,
        &queue,
        &["--batch-poll", "50ms", "--exit-when-idle"],
    );
    assert!(heir.wait_exit().success(), "{}", heir.log().join("\n"));
    assert!(
        count(heir.log(), &["took over the provider batches"]) > 0,
        "{}",
        heir.log().join("\n")
    );
    assert_eq!(batched(heir.log()), 0, "the heir sent no batch of its own");

    let tasks = tasks_by_prompt(&baton, &queue);
    assert_eq!(tasks.len(), total);
    for (prompt, task) in &tasks {
        assert_eq!(task["status"], "completed", "{prompt}: {task:#}");
        assert_eq!(outcomes(task), ["completed"], "{prompt}: one attempt");
    }
    let counters = server.batch_counters();
    assert_eq!(counters.answered.len(), total);
    assert!(
        counters.answered.values().all(|n| *n == 1),
        "one answer per request"
    );
    assert!(server.requests().is_empty(), "nothing ran live");
}

/// Moving a queue between backends is export and import: tasks made and run
/// in this computer's redb file (a chain, a finished task, one scheduled for
/// later) read back from PostgreSQL exactly as they were exported, and again
/// from PostgreSQL into a fresh redb file; a second import adds nothing.
#[test]
fn tasks_move_from_redb_to_the_shared_queue_and_back_by_export_and_import() {
    let queue = Queue::new("moves");
    let local = Baton::new();
    let done = local.submit(&["finished here", "--provider", "mock"]);
    local.run_until_idle();
    let parent = local.submit(&[
        "a parent",
        "--provider",
        "mock",
        "--at",
        "2099-01-01T00:00:00Z",
    ]);
    local.ok(&[
        "chain",
        &parent,
        "its child: {{parent.output}}",
        "--tag",
        "moved",
    ]);
    let exported = |baton: &Baton, db: Option<&Queue>, name: &str| -> (std::path::PathBuf, Value) {
        let file = baton.data_dir().join(name);
        let mut args = vec!["export", "--out", file.to_str().unwrap()];
        if let Some(q) = db {
            args.splice(0..0, ["--database", q.url.as_str()]);
        }
        baton.ok(&args);
        let json: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        (file, json)
    };
    let by_id = |export: &Value| -> HashMap<String, Value> {
        export["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_str().unwrap().to_string(), t.clone()))
            .collect()
    };
    let (file, from_redb) = exported(&local, None, "from-redb.json");
    assert_eq!(by_id(&from_redb).len(), 3);
    assert_eq!(by_id(&from_redb)[&done]["status"], "completed");

    let shared = Baton::new();
    shared.ok(&queue.args(&["import", file.to_str().unwrap()]));
    let (file, from_pg) = exported(&shared, Some(&queue), "from-pg.json");
    assert_eq!(by_id(&from_pg), by_id(&from_redb), "the tasks as they were");
    // Ids already stored are skipped.
    shared.ok(&queue.args(&["import", file.to_str().unwrap()]));
    let (_, again) = exported(&shared, Some(&queue), "again.json");
    assert_eq!(by_id(&again), by_id(&from_redb));

    let back = Baton::new();
    back.ok(&["import", file.to_str().unwrap()]);
    let (_, round_trip) = exported(&back, None, "back.json");
    assert_eq!(
        by_id(&round_trip),
        by_id(&from_redb),
        "and back to a redb file"
    );
}

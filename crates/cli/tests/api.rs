//! The CLI while another process (`baton run`) owns the database: every command
//! goes through the running engine's HTTP API, found by `<data-dir>/api.json`.

mod common;

use common::{count, Baton, Running};
use serde_json::Value;

const READY: &str = "engine started";

fn running_engine(baton: &Baton, extra: &[&str]) -> Running {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    let mut server = baton.spawn(&args);
    server.wait_for("the engine to start", |log| count(log, &[READY]) > 0);
    server
}

/// `baton events ARGS`, once it is subscribed.
fn follow(baton: &Baton, args: &[&str]) -> Running {
    let mut all = vec!["events"];
    all.extend_from_slice(args);
    let mut events = baton.spawn_stdout(&all);
    events.wait_for("the subscription", |lines| {
        count(lines, &["following the events"]) > 0
    });
    events
}

/// Follows `baton events --json` until `task_id` reaches status `to`.
fn until_status(events: &mut Running, task_id: &str, to: &str) {
    events.wait_for(&format!("{task_id} to be {to}"), |lines| {
        lines.iter().any(|line| {
            let event: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            event["task_id"] == task_id && event["type"] == "state" && event["to"] == to
        })
    });
}

fn api_json(baton: &Baton) -> Value {
    let text = std::fs::read_to_string(baton.data_dir().join("api.json")).expect("api.json");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn submit_list_show_cancel_and_wait_work_while_baton_run_holds_the_database() {
    let baton = Baton::new();
    let mut server = running_engine(&baton, &[]);
    let discovery = api_json(&baton);
    assert_eq!(discovery["pid"], server.id());
    let mut events = follow(&baton, &["--json"]);

    let quick = baton.submit(&["hello"]);
    let slow = baton.submit(&["take your time", "--model", "sleep=60000", "--name", "slow"]);
    until_status(&mut events, &quick, "completed");
    until_status(&mut events, &slow, "running");
    assert_eq!(baton.task(&quick)["output"], "echo: hello");
    let listed: Vec<String> = baton
        .tasks()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, [slow.clone(), quick.clone()]);

    assert_eq!(
        baton.ok(&["cancel", &slow, "--reason", "enough"]),
        format!("cancelled task {slow} (it was running)\n")
    );
    until_status(&mut events, &slow, "cancelled");
    assert_eq!(
        baton.ok(&["cancel", &slow]),
        format!("task {slow} was already cancelled\n")
    );
    let refusal = baton.refuse(&["cancel", &quick]);
    assert_eq!(refusal.status, 1, "a completed task cannot be cancelled");
    let refusal = baton.refuse(&["show", "01890a5d-ac96-774b-bcce-b302099a8057"]);
    assert_eq!(refusal.status, 2);
    assert_eq!(
        refusal.message,
        "no task has the id 01890a5d-ac96-774b-bcce-b302099a8057"
    );

    baton.submit(&["a little later", "--model", "sleep=300"]);
    assert_eq!(
        baton.ok(&["wait", "--timeout", "30s"]),
        "every task is finished: 2 completed, 0 failed, 1 cancelled\n"
    );
    assert_eq!(count(server.log(), &["database", "in use"]), 0);
    server.kill();
}

#[test]
fn events_prints_every_event_of_a_task_in_order() {
    let baton = Baton::new();
    let _server = running_engine(&baton, &[]);
    let mut events = follow(&baton, &["--json"]);
    let id = baton.submit(&["in pieces", "--model", "stream=3"]);
    until_status(&mut events, &id, "completed");
    let steps: Vec<String> = events
        .log()
        .iter()
        // Log lines on stderr are not JSON.
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["task_id"] == id.as_str())
        .map(|e| match e["type"].as_str().unwrap() {
            "state" => e["to"].as_str().unwrap().to_string(),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(
        steps,
        [
            "queued",
            "running",
            "output",
            "output",
            "output",
            "completed"
        ]
    );

    let mut people = follow(&baton, &[]);
    let id = baton.submit(&["for people", "--name", "readable"]);
    people.wait_for("a completed line", |lines| {
        lines
            .iter()
            .any(|l| l.contains(&id) && l.contains("running → completed"))
    });
    assert!(people
        .log()
        .iter()
        .any(|l| l.contains(&id) && l.contains("new → queued  readable")));
}

#[test]
fn run_serves_the_api_on_the_port_asked_for_and_removes_api_json_on_exit() {
    let baton = Baton::new();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut server = running_engine(&baton, &["--api-port", &port.to_string()]);
    assert_eq!(api_json(&baton)["url"], format!("http://127.0.0.1:{port}"));
    assert!(count(server.log(), &["API listening", &port.to_string()]) > 0);
    let second = baton.refuse(&["run"]);
    assert!(
        second.message.contains("in use by another Baton process"),
        "{second:?}"
    );

    #[cfg(unix)]
    {
        // SAFETY: kill(2) with a pid this test spawned and has not reaped.
        assert_eq!(
            unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) },
            0
        );
        assert!(server.wait_exit().success());
        assert!(!baton.data_dir().join("api.json").exists());
    }
}

#[test]
fn a_stale_api_json_is_ignored_and_the_database_is_opened() {
    let baton = Baton::new();
    // A pid that is gone, and a URL nothing listens on.
    // `baton --version`: a process that exits at once on every OS (Windows has no `true`).
    let mut gone = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let stale = |pid: u32| {
        let text = serde_json::json!({
            "pid": pid, "url": "http://127.0.0.1:9",
            "token_file": baton.data_dir().join("api-token"),
        });
        std::fs::write(baton.data_dir().join("api.json"), text.to_string()).unwrap();
    };
    stale(dead);
    let id = baton.submit(&["offline"]);
    assert_eq!(baton.task(&id)["status"], "queued");

    // A live pid (this test) whose URL does not answer: stale too.
    let token = baton.data_dir().join("api-token");
    std::fs::write(&token, "t".repeat(64)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    stale(std::process::id());
    assert_eq!(baton.tasks().len(), 1);
    baton.run_until_idle();
    assert_eq!(baton.task(&id)["status"], "completed");
}

#[test]
fn events_without_a_running_engine_says_so() {
    let baton = Baton::new();
    let refusal = baton.refuse(&["events"]);
    assert_eq!(refusal.status, 1);
    assert_eq!(
        refusal.message,
        "no Baton engine is running for this data directory; start one with `baton run`"
    );
}

#[test]
fn wait_through_the_api_gives_up_at_its_deadline_and_says_what_is_left() {
    let baton = Baton::new();
    let _server = running_engine(&baton, &[]);
    baton.submit(&["next hour", "--in", "1h"]);
    let refusal = baton.refuse(&["wait", "--timeout", "1s"]);
    assert_eq!(refusal.status, 1);
    assert_eq!(
        refusal.message,
        "gave up after 1s: 1 task is still active (1 scheduled)"
    );
}

#[test]
fn values_json_cannot_carry_are_refused_alike_with_or_without_a_running_engine() {
    let baton = Baton::new();
    let cases: &[&[&str]] = &[
        &["submit", "x", "--temperature", "NaN"],
        &["submit", "x", "--temperature", "inf"],
        &["submit", "x", "--in", "999999999h"],
    ];
    let alone: Vec<_> = cases.iter().map(|args| baton.refuse(args)).collect();
    let mut server = running_engine(&baton, &[]);
    for (args, before) in cases.iter().zip(&alone) {
        let through_api = baton.refuse(args);
        assert_eq!(through_api.status, 2, "{args:?}: {}", through_api.message);
        assert_eq!(through_api.message, before.message, "{args:?}");
    }
    assert!(
        alone[0].message.contains("temperature"),
        "{}",
        alone[0].message
    );
    assert!(
        alone[2].message.contains("year 9999"),
        "{}",
        alone[2].message
    );
    assert!(baton.tasks().is_empty(), "a refused submit stored a task");
    server.kill();
}

#[test]
fn an_api_json_naming_a_remote_url_or_a_foreign_token_file_is_not_trusted() {
    let baton = Baton::new();
    let mut server = running_engine(&baton, &[]);
    let real = api_json(&baton);
    let path = baton.data_dir().join("api.json");
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "s".repeat(64)).unwrap();
    let planted = [
        serde_json::json!({"pid": real["pid"], "url": "http://10.9.8.7:4000", "token_file": real["token_file"]}),
        serde_json::json!({"pid": real["pid"], "url": real["url"], "token_file": secret}),
        serde_json::json!({"pid": real["pid"], "url": real["url"], "token_file": baton.db_file()}),
    ];
    for file in planted {
        std::fs::write(&path, file.to_string()).unwrap();
        let refusal = baton.refuse(&["list"]);
        assert_eq!(refusal.status, 1, "{}", refusal.message);
        assert!(refusal.message.contains("api.json"), "{}", refusal.message);
    }
    std::fs::write(&path, real.to_string()).unwrap();
    assert!(baton.tasks().is_empty(), "the real file is still used");
    server.kill();
}

#[test]
fn submit_with_an_idempotency_key_creates_once_with_or_without_a_running_engine() {
    let baton = Baton::new();
    let args = [
        "once",
        "--at",
        "2030-01-01T00:00:00Z",
        "--idempotency-key",
        "job-7",
    ];
    let first = baton.submit(&args);
    assert_eq!(baton.submit(&args), first, "a retry answers the first task");
    let mut server = running_engine(&baton, &[]);
    assert_eq!(
        baton.submit(&args),
        first,
        "the key is kept in the database"
    );
    let refusal = baton.refuse(&["submit", "other", "--idempotency-key", "job-7"]);
    assert_eq!(refusal.status, 2, "{}", refusal.message);
    assert!(refusal.message.contains("job-7"), "{}", refusal.message);
    assert_eq!(baton.tasks().len(), 1);
    server.kill();
}

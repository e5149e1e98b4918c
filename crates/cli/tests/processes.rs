//! Guarantees that involve more than one process: the database lock, graceful
//! shutdown on SIGTERM, and recovery after a SIGKILL.

mod common;

use common::{count, Baton};

const READY: &str = "engine started";

#[test]
fn a_database_held_by_a_running_baton_without_its_api_is_reported_as_in_use() {
    let baton = Baton::new();
    let mut server = baton.spawn(&["run", "--no-api"]);
    server.wait_for("the engine to start", |log| count(log, &[READY]) > 0);

    let db = baton.db_file();
    for args in [&["list"][..], &["submit", "x"], &["run"]] {
        let refusal = baton.refuse(args);
        assert_eq!(refusal.status, 1);
        assert_eq!(
            refusal.message,
            format!(
                "the database {} is in use by another Baton process; stop it or use another --data-dir",
                db.display()
            )
        );
    }
    server.kill();
    assert!(baton.tasks().is_empty(), "the lock goes with the process");
}

#[cfg(unix)]
#[test]
fn sigterm_lets_running_attempts_finish_then_exits_0() {
    let baton = Baton::new();
    let id = baton.submit(&["take your time", "--model", "sleep=1000"]);
    let mut server = baton.spawn(&["run"]);
    server.wait_for("the attempt to start", |log| {
        count(log, &["attempt started"]) > 0
    });

    // SAFETY: kill(2) with a pid this test spawned and has not reaped.
    let sent = unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "kill failed");
    let status = server.wait_exit();
    assert!(
        status.success(),
        "exit {status}; log:\n{}",
        server.log().join("\n")
    );
    assert_eq!(
        count(server.log(), &["SIGTERM: shutting down"]),
        1,
        "{:?}",
        server.log()
    );

    let task = baton.task(&id);
    assert_eq!(
        task["status"], "completed",
        "finished within the grace period: {task:#}"
    );
    assert_eq!(task["history"].as_array().unwrap().len(), 1);
}

#[cfg(unix)]
#[test]
fn wait_stopped_by_a_signal_shuts_down_gracefully_and_says_what_is_left() {
    let baton = Baton::new();
    let running = baton.submit(&["almost done", "--model", "sleep=500"]);
    baton.submit(&["next hour", "--in", "1h"]);
    let mut waiting = baton.spawn(&["wait", "--timeout", "10m"]);
    waiting.wait_for("the attempt to start", |log| {
        count(log, &["attempt started"]) > 0
    });

    // SAFETY: kill(2) with a pid this test spawned and has not reaped.
    assert_eq!(
        unsafe { libc::kill(waiting.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = waiting.wait_exit();
    assert_eq!(status.code(), Some(1), "log:\n{}", waiting.log().join("\n"));
    assert_eq!(
        waiting.log().last().map(String::as_str),
        Some("baton: stopped by SIGTERM: 1 task is still active (1 scheduled)")
    );
    assert_eq!(baton.task(&running)["status"], "completed");
}

/// The crash-recovery guarantee: after a SIGKILL mid-run, the next run finishes
/// every task, none completes twice, and each attempt the kill cut short is
/// recorded as interrupted.
#[test]
fn after_sigkill_the_next_run_completes_every_task_exactly_once() {
    let baton = Baton::new();
    let total = 40;
    for i in 0..total {
        let model = if i % 4 == 0 {
            "sleep=300,stream=5"
        } else {
            "sleep=300"
        };
        baton.submit(&[&format!("task {i}"), "--model", model]);
    }

    let mut server = baton.spawn(&["run", "--workers", "8"]);
    // Killed mid-flight: some attempts done and durable, others running.
    server.wait_for("some completed and some running", |log| {
        let started = count(log, &["attempt started"]);
        let finished = count(log, &["attempt finished"]);
        let completed = count(log, &["attempt finished", "status=completed"]);
        completed >= 8 && started >= finished + 4
    });
    server.kill();
    let completed_before_kill: Vec<String> = server
        .log()
        .iter()
        .filter(|l| l.contains("status=completed"))
        .filter_map(|l| l.split("task_id=").nth(1))
        .map(|rest| rest[..36].to_string())
        .collect();

    let mut recovery = baton.spawn(&["run", "--exit-when-idle"]);
    let status = recovery.wait_exit();
    assert!(
        status.success(),
        "recovery run failed:\n{}",
        recovery.log().join("\n")
    );
    let recovered_lines = count(recovery.log(), &["recovered a task", "task_id="]);
    assert!(
        recovered_lines > 0,
        "recovery names each task:\n{}",
        recovery.log().join("\n")
    );

    let tasks = baton.tasks();
    assert_eq!(tasks.len(), total);
    let mut interrupted = 0;
    for task in &tasks {
        let history = task["history"].as_array().unwrap();
        let outcomes: Vec<&str> = history
            .iter()
            .map(|a| a["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(task["status"], "completed", "{task:#}");
        assert_eq!(
            outcomes.iter().filter(|o| **o == "completed").count(),
            1,
            "completed exactly once: {task:#}"
        );
        assert_eq!(outcomes.last(), Some(&"completed"), "{task:#}");
        for attempt in &history[..history.len() - 1] {
            assert_eq!(attempt["outcome"], "interrupted", "{task:#}");
            assert!(attempt["finished_at"].is_string(), "{task:#}");
            interrupted += 1;
        }
        assert_eq!(
            task["output"],
            format!("echo: {}", task["prompt"].as_str().unwrap())
        );
        let id = task["id"].as_str().unwrap().to_string();
        if completed_before_kill.contains(&id) {
            assert_eq!(
                history.len(),
                1,
                "a task completed before the kill ran again: {task:#}"
            );
        }
    }
    assert!(interrupted > 0, "the kill interrupted no attempt");
    assert_eq!(
        interrupted, recovered_lines,
        "one interrupted entry per recovered attempt"
    );
}

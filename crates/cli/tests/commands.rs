//! Each command, through the real binary: what it prints and what it stores.

mod common;

use chrono::{DateTime, Utc};
use common::Baton;
use serde_json::Value;
use std::collections::BTreeSet;

/// The serde names of a task; `effective_prompt` appears only once bound.
const TASK_FIELDS: &[&str] = &[
    "id",
    "name",
    "prompt",
    "status",
    "start_at",
    "created_at",
    "started_at",
    "finished_at",
    "output",
    "error",
    "parent_task_id",
    "llm_provider",
    "llm_model",
    "latency_ms",
    "attempts",
    "max_attempts",
    "timeout_ms",
    "cancel_reason",
    "history",
    "system",
    "temperature",
    "max_tokens",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "failure",
];

fn time(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a time"));
    assert!(text.ends_with('Z'), "{text} is not UTC");
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn fields(task: &Value) -> BTreeSet<&str> {
    task.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn submit_json_has_the_task_field_names_and_list_and_show_agree() {
    let baton = Baton::new();
    let task = baton.json(&[
        "submit",
        "Write a haiku",
        "--name",
        "haiku",
        "--model",
        "sleep=10",
        "--max-attempts",
        "4",
        "--timeout",
        "90s",
        "--json",
    ]);
    assert_eq!(fields(&task), TASK_FIELDS.iter().copied().collect());
    assert_eq!(task["name"], "haiku");
    assert_eq!(task["prompt"], "Write a haiku");
    assert_eq!(task["status"], "queued");
    assert_eq!(task["llm_provider"], "mock");
    assert_eq!(task["llm_model"], "sleep=10");
    assert_eq!(task["max_attempts"], 4);
    assert_eq!(task["timeout_ms"], 90_000);
    assert_eq!(task["attempts"], 0);
    assert_eq!(task["history"], Value::Array(vec![]));
    time(&task["created_at"]);

    let listed = baton.tasks();
    assert_eq!(
        listed,
        vec![task.clone()],
        "list --json is one array of tasks"
    );
    assert_eq!(baton.task(task["id"].as_str().unwrap()), task);
}

#[test]
fn submit_prints_only_the_id_and_list_shows_a_row_per_task_newest_first() {
    let baton = Baton::new();
    let first = baton.submit(&["first prompt"]);
    let second = baton.submit(&["second prompt", "--name", "second"]);
    for id in [&first, &second] {
        assert_eq!(id.len(), 36, "{id:?} is not a bare UUID");
    }
    let table = baton.ok(&["list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for column in ["ID", "STATUS", "NAME", "MODEL", "WHEN", "ATTEMPTS"] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(
        lines[1].starts_with(&second) && lines[1].contains("second"),
        "{table}"
    );
    assert!(
        lines[2].starts_with(&first) && lines[2].contains("first prompt"),
        "{table}"
    );
    assert!(
        lines[1].contains("queued") && lines[1].contains("0/3"),
        "{table}"
    );

    let limited = baton.json(&["list", "--json", "--limit", "1"]);
    let limited = limited.as_array().unwrap();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0]["id"], second.as_str());
}

#[test]
fn run_exit_when_idle_completes_every_task_with_the_mock_echo() {
    let baton = Baton::new();
    let plain = baton.submit(&["hello there"]);
    let streamed = baton.submit(&["in pieces", "--model", "stream=3,sleep=30"]);
    baton.run_until_idle();

    for (id, prompt) in [(&plain, "hello there"), (&streamed, "in pieces")] {
        let task = baton.task(id);
        assert_eq!(task["status"], "completed", "{task:#}");
        assert_eq!(task["output"], format!("echo: {prompt}"));
        assert_eq!(task["attempts"], 1);
        assert!(task["latency_ms"].is_u64());
        assert!(time(&task["finished_at"]) >= time(&task["started_at"]));
        let history = task["history"].as_array().unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0]["outcome"], "completed");
    }
    let completed = baton.json(&["list", "--status", "completed", "--json"]);
    assert_eq!(completed.as_array().unwrap().len(), 2);

    let shown = baton.ok(&["show", &plain]);
    for part in [
        "status:",
        "completed",
        "output:",
        "echo: hello there",
        "history:",
        "#1",
    ] {
        assert!(shown.contains(part), "show lacks {part:?}:\n{shown}");
    }
}

#[test]
fn run_exit_when_idle_on_an_empty_database_returns_at_once() {
    Baton::new().run_until_idle();
}

#[test]
fn a_task_submitted_with_in_waits_until_due_then_runs() {
    let baton = Baton::new();
    let task = baton.json(&["submit", "later", "--in", "1s", "--json"]);
    assert_eq!(task["status"], "scheduled");
    let due = time(&task["start_at"]);
    let lead = due - time(&task["created_at"]);
    assert!(
        lead <= chrono::Duration::seconds(1) && lead > chrono::Duration::zero(),
        "due {lead} after creation"
    );
    let row = baton.ok(&["list"]);
    assert!(row.contains("scheduled") && row.contains("due "), "{row}");

    baton.run_until_idle();
    let done = baton.task(task["id"].as_str().unwrap());
    assert_eq!(done["status"], "completed");
    assert!(
        time(&done["started_at"]) >= due,
        "ran before it was due: {done:#}"
    );
}

#[test]
fn a_task_submitted_with_at_is_start_at_that_utc_time() {
    let baton = Baton::new();
    let task = baton.json(&[
        "submit",
        "new year",
        "--at",
        "2099-01-01T01:00:00+01:00",
        "--json",
    ]);
    assert_eq!(task["status"], "scheduled");
    assert_eq!(
        time(&task["start_at"]),
        "2099-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
}

#[test]
fn chain_binds_the_parent_output_into_the_instruction() {
    let baton = Baton::new();
    let parent = baton.submit(&["hello"]);
    let child = baton.json(&["chain", &parent, "Summarise: {{parent.output}}", "--json"]);
    assert_eq!(child["status"], "waiting");
    assert_eq!(child["parent_task_id"], parent.as_str());
    assert_eq!(child["prompt"], "Summarise: {{parent.output}}");

    baton.run_until_idle();
    let child = baton.task(child["id"].as_str().unwrap());
    assert_eq!(child["status"], "completed", "{child:#}");
    assert_eq!(child["effective_prompt"], "Summarise: echo: hello");
    assert_eq!(child["output"], "echo: Summarise: echo: hello");

    // Onto a completed parent: bound at once and ready to run.
    let late = baton.json(&["chain", &parent, "Again: {{parent.output}}", "--json"]);
    assert_eq!(late["status"], "queued");
    assert_eq!(late["effective_prompt"], "Again: echo: hello");
}

#[test]
fn a_prompt_of_dash_is_read_from_standard_input() {
    let baton = Baton::new();
    let output = baton.output_with_stdin(&["submit", "-", "--json"], b"line one\nline two\n");
    let task: Value = serde_json::from_str(&common::succeeded(&output, &["submit", "-"])).unwrap();
    assert_eq!(task["prompt"], "line one\nline two");
    assert_eq!(task["name"], "line one");
}

#[test]
fn cancel_stores_the_reason_and_a_second_cancel_says_already_cancelled() {
    let baton = Baton::new();
    let id = baton.submit(&["not needed", "--in", "1h"]);
    let said = baton.ok(&["cancel", &id, "--reason", "changed my mind"]);
    assert!(
        said.contains("cancelled") && said.contains("scheduled"),
        "{said}"
    );
    let task = baton.task(&id);
    assert_eq!(task["status"], "cancelled");
    assert_eq!(task["cancel_reason"], "changed my mind");
    assert!(task["finished_at"].is_string());

    let again = baton.ok(&["cancel", &id]);
    assert!(again.contains("already cancelled"), "{again}");
    assert_eq!(baton.task(&id), task, "a second cancel changes nothing");

    baton.run_until_idle();
    assert_eq!(
        baton.task(&id)["history"],
        Value::Array(vec![]),
        "a cancelled task never runs"
    );
}

#[test]
fn retry_queues_failed_and_cancelled_tasks_again_with_attempts_reset() {
    let baton = Baton::new();
    let failing = baton.submit(&["doomed", "--model", "fatal", "--max-attempts", "1"]);
    let cancelled = baton.submit(&["paused", "--in", "1h"]);
    baton.ok(&["cancel", &cancelled]);
    baton.run_until_idle();
    let failed = baton.task(&failing);
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("fatal"),
        "{failed:#}"
    );

    let said = baton.ok(&["retry", &failing, "--max-attempts", "2"]);
    assert!(said.contains("queued"), "{said}");
    let again = baton.task(&failing);
    assert_eq!(again["status"], "queued");
    assert_eq!(again["attempts"], 0);
    assert_eq!(again["max_attempts"], 2);
    assert_eq!(again["error"], Value::Null);

    baton.ok(&["retry", &cancelled]);
    assert_eq!(baton.task(&cancelled)["status"], "queued");
    assert_eq!(baton.task(&cancelled)["cancel_reason"], Value::Null);
    baton.run_until_idle();
    assert_eq!(baton.task(&cancelled)["status"], "completed");
    assert_eq!(baton.task(&cancelled)["output"], "echo: paused");
}

#[test]
fn export_then_import_into_a_fresh_directory_round_trips_and_reimport_skips() {
    let source = Baton::new();
    let parent = source.submit(&["root"]);
    source.ok(&["chain", &parent, "child of {{parent.output}}"]);
    source.submit(&["failing", "--model", "fatal", "--max-attempts", "1"]);
    source.run_until_idle();
    let cancelled = source.submit(&["never", "--in", "1h"]);
    source.ok(&["cancel", &cancelled]);
    source.submit(&["still queued", "--name", "q"]);

    let file = source.data_dir().join("export.json");
    let said = source.ok(&["export", "--out", file.to_str().unwrap()]);
    assert!(said.contains("exported 5 tasks"), "{said}");
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(exported["format_version"], 3);
    let stdout: Value = serde_json::from_str(&source.ok(&["export"])).unwrap();
    assert_eq!(stdout["tasks"], exported["tasks"], "stdout and --out agree");

    let target = Baton::new();
    let said = target.ok(&["import", file.to_str().unwrap()]);
    assert!(said.starts_with("imported 5 tasks"), "{said}");
    assert!(!said.contains("skipped"), "{said}");
    assert_eq!(target.tasks(), source.tasks());

    let again = target.ok(&["import", file.to_str().unwrap()]);
    assert!(again.starts_with("imported 0 tasks"), "{again}");
    assert!(again.contains("skipped 5 tasks"), "{again}");
    for task in source.tasks() {
        assert!(again.contains(task["id"].as_str().unwrap()), "{again}");
    }
    assert_eq!(target.tasks(), source.tasks(), "re-import changed nothing");
}

#[test]
fn wait_runs_every_task_to_the_end() {
    let baton = Baton::new();
    baton.submit(&["one"]);
    baton.submit(&["two", "--model", "sleep=50"]);
    let said = baton.ok(&["wait", "--timeout", "60s"]);
    assert!(said.contains("2 completed"), "{said}");
    assert!(baton.tasks().iter().all(|t| t["status"] == "completed"));
}

#[test]
fn wait_past_its_timeout_exits_1_saying_how_many_tasks_are_active() {
    let baton = Baton::new();
    baton.submit(&["next hour", "--in", "1h"]);
    let output = baton
        .command(&["wait", "--timeout", "200ms"])
        .env("BATON_LOG", "warn")
        .output()
        .unwrap();
    let refusal = common::refused(&output, &["wait"]);
    assert_eq!(refusal.status, 1);
    assert!(
        refusal
            .message
            .contains("1 task is still active (1 scheduled)"),
        "{}",
        refusal.message
    );
}

#[test]
fn the_data_directory_can_come_from_baton_data_dir() {
    let baton = Baton::new();
    let id = baton.submit(&["where am I"]);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["show", &id, "--json"])
        .env("BATON_DATA_DIR", baton.data_dir())
        .env_remove("BATON_LOG")
        .output()
        .unwrap();
    let task: Value = serde_json::from_str(&common::succeeded(&output, &["show"])).unwrap();
    assert_eq!(task["id"], id.as_str());
}

#[cfg(unix)]
#[test]
fn a_new_data_directory_and_its_database_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("fresh/baton");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("--data-dir")
        .arg(&dir)
        .args(["submit", "a secret prompt"])
        .env_remove("BATON_LOG")
        .output()
        .unwrap();
    common::succeeded(&output, &["submit"]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "the data directory");
    assert_eq!(mode(&root.path().join("fresh")), 0o700, "its new parent");
    assert_eq!(mode(&dir.join("baton.redb")), 0o600, "the database");
}

#[cfg(unix)]
#[test]
fn export_out_writes_through_a_symlink_keeps_the_mode_and_refuses_what_is_not_a_file() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let baton = Baton::new();
    baton.submit(&["exported"]);
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    let target = dir.path().join("real.json");
    std::fs::write(&target, "old").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    baton.ok(&["export", "--out", link.to_str().unwrap()]);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&target).unwrap()).unwrap();
    assert_eq!(written["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(mode(&target), 0o640, "the target keeps its mode");

    let fifo = dir.path().join("fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let refusal = baton.refuse(&["export", "--out", fifo.to_str().unwrap()]);
    assert!(
        refusal.message.contains("not a regular file"),
        "{}",
        refusal.message
    );
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    let refusal = baton.refuse(&["export", "--out", dir.path().to_str().unwrap()]);
    assert!(refusal.message.contains("directory"), "{}", refusal.message);

    let stdout = baton.ok(&["export", "--out", "-"]);
    let exported: Value = serde_json::from_str(&stdout).expect("only the file on stdout");
    assert_eq!(exported["tasks"].as_array().unwrap().len(), 1);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 3, "no temporary file left behind: {left:?}");
}

#[test]
fn list_show_and_export_leave_the_database_file_byte_for_byte_unchanged() {
    let baton = Baton::new();
    let id = baton.submit(&["only read me"]);
    let file = baton.db_file();
    let bytes = std::fs::read(&file).unwrap();
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    baton.ok(&["list"]);
    baton.ok(&["show", &id]);
    baton.ok(&["export"]);
    assert!(std::fs::read(&file).unwrap() == bytes, "the file changed");
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        modified
    );
}

//! Every refusal is one sentence on stderr, a non-zero exit (2 for a wrong
//! request, 1 for a state that does not allow it), and an unchanged database.

mod common;

use common::{Baton, Refusal};
use serde_json::Value;

/// A database with a task in each interesting state.
struct Fixture {
    baton: Baton,
    completed: String,
    failed: String,
    cancelled: String,
    queued: String,
}

fn fixture() -> Fixture {
    let baton = Baton::new();
    let completed = baton.submit(&["fine"]);
    let failed = baton.submit(&["doomed", "--model", "fatal", "--max-attempts", "1"]);
    baton.run_until_idle();
    let cancelled = baton.submit(&["dropped"]);
    baton.ok(&["cancel", &cancelled]);
    let queued = baton.submit(&["pending"]);
    Fixture {
        baton,
        completed,
        failed,
        cancelled,
        queued,
    }
}

/// Runs `args`, expects the refusal, and checks the database did not change.
fn refuse(baton: &Baton, args: &[&str], status: i32, says: &str) -> Refusal {
    let before = baton.snapshot();
    let refusal = baton.refuse(args);
    assert_eq!(
        refusal.status,
        status,
        "`{}`: {}",
        args.join(" "),
        refusal.message
    );
    assert!(
        refusal.message.contains(says),
        "`{}` said {:?}, expected it to mention {says:?}",
        args.join(" "),
        refusal.message
    );
    assert_eq!(
        baton.snapshot(),
        before,
        "`{}` changed the database",
        args.join(" ")
    );
    refusal
}

#[test]
fn invalid_task_fields_are_refused_with_exit_2_and_nothing_stored() {
    let f = fixture();
    let cases: &[(&[&str], &str)] = &[
        (&["submit", ""], "the prompt is empty"),
        (&["submit", "  \n "], "the prompt is empty"),
        (
            &["submit", "x", "--max-attempts", "0"],
            "between 1 and 20, got 0",
        ),
        (
            &["submit", "x", "--max-attempts", "21"],
            "between 1 and 20, got 21",
        ),
        (
            &["submit", "x", "--max-attempts", "-1"],
            "between 1 and 20, got -1",
        ),
        (&["submit", "x", "--timeout", "0"], "longer than zero"),
        (&["submit", "x", "--timeout", "24h 1s"], "at most 24 hours"),
        (
            &["submit", "x", "--timeout", "soon"],
            "--timeout 'soon' is not a duration",
        ),
        (
            &["submit", "x", "--at", "tomorrow"],
            "--at 'tomorrow' is not an RFC 3339 time",
        ),
        (&["submit", "x", "--at", "2030-01-01"], "RFC 3339"),
        (
            &["submit", "x", "--in", "5x"],
            "--in '5x' is not a duration",
        ),
        (&["submit", "x", "--in", "10"], "not a duration"),
        (
            &["submit", "x", "--at", "2030-01-01T00:00:00Z", "--in", "5s"],
            "cannot be used with",
        ),
        (&["submit", "x", "--model", "sleep=abc"], "sleep=abc"),
        (
            &["submit", "x", "--provider", "nowhere"],
            "unknown provider 'nowhere'",
        ),
        (&["submit", "x", "--name", ""], "the name is empty"),
        (&["submit", "Hi {{nme}}"], "unknown variable {{nme}}"),
        (
            &["submit", "x", "--webhook", "ftp://example.com/x"],
            "the webhook 'ftp://example.com/x' is not an http(s) URL",
        ),
        (
            &["submit", "x", "--to-file", "/tmp/reports/../../etc/x"],
            "climbs out of its folder with '..'",
        ),
        (
            &["submit", "x", "--to-file", "/tmp/r/{{last_output}}.md"],
            "{{last_output}} cannot be used in a file path",
        ),
        (&["submit", "x", "--webhook-secret-env", "S"], "--webhook"),
        (
            &[
                "submit",
                "x",
                "--webhook",
                "http://h/",
                "--webhook-secret-env",
                "1-A",
            ],
            "'1-A' is not an environment variable name",
        ),
        (
            &["submit", "x", "--webhook", "http://h/", "--only-if-changed"],
            "only a schedule's task has a previous answer",
        ),
        (&["deliveries", "nope"], "'nope' is not a task id"),
        (
            &["deliveries", "resend", "nope"],
            "'nope' is not a delivery id",
        ),
        (
            &[
                "deliveries",
                "resend",
                "01900000-0000-7000-8000-000000000001",
            ],
            "no delivery has the id 01900000-0000-7000-8000-000000000001",
        ),
        (
            &["submit", "{{schedule.name}}"],
            "names {{schedule.name}}, which cannot be used here",
        ),
        (&["submit"], "<PROMPT>"),
        (&["submit", "x", "--frobnicate"], "--frobnicate"),
        (&["list", "--status", "done"], "unknown status 'done'"),
        (&["list", "--limit", "0"], "--limit must be at least 1"),
        (
            &["run", "--workers", "0"],
            "--workers must be between 1 and 1024",
        ),
        (
            &["wait", "--timeout", "0"],
            "--timeout must be longer than zero",
        ),
        (&["wait", "--timeout", "whenever"], "not a duration"),
        (&["teleport"], "teleport"),
    ];
    for (args, says) in cases {
        refuse(&f.baton, args, 2, says);
    }
}

/// The task and filter flags are the engine's `NewTask` and `TaskFilter`, each
/// value parsed by the engine: a bad one is the engine's own sentence (the one
/// the API answers with), alone on the line.
#[test]
fn bad_task_and_filter_flags_are_the_engines_sentence_and_create_nothing() {
    let f = fixture();
    let seventeen: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
    let mut too_many = vec!["submit", "x"];
    for tag in &seventeen {
        too_many.extend(["--tag", tag]);
    }
    let cases: &[(&[&str], &str)] = &[
        (
            &["submit", "x", "--max-attempts", "0"],
            "max_attempts must be between 1 and 20, got 0",
        ),
        (
            &["submit", "x", "--max-attempts", "many"],
            "max_attempts must be between 1 and 20, got 'many'",
        ),
        (
            &["chain", &f.completed, "x", "--tag", "no spaces"],
            "the tag 'no spaces' has ' '; a tag holds only letters, digits, '-', '_' and '.'",
        ),
        (&["submit", "x", "--tag", " "], "a tag is empty"),
        (&too_many, "a task has at most 16 tags, got 17"),
        (
            &["submit", "x", "--timeout", "25h"],
            "the timeout must be at most 24 hours, got 90000s",
        ),
        (
            &[
                "schedule",
                "add",
                "s",
                "--cron",
                "0 9 * * *",
                "p",
                "--tag",
                "a/b",
            ],
            "the tag 'a/b' has '/'; a tag holds only letters, digits, '-', '_' and '.'",
        ),
        (
            &["list", "--tag", "a/b"],
            "the tag 'a/b' has '/'; a tag holds only letters, digits, '-', '_' and '.'",
        ),
        (
            &["list", "--parent", "x"],
            "parent_task_id 'x' is not a task id (a UUID)",
        ),
    ];
    for (args, sentence) in cases {
        let refusal = refuse(&f.baton, args, 2, sentence);
        assert_eq!(refusal.message, *sentence, "`{}`", args.join(" "));
    }
}

#[test]
fn a_prompt_over_one_mebibyte_is_refused() {
    let f = fixture();
    let before = f.baton.snapshot();
    let huge = vec![b'x'; 1024 * 1024 + 1];
    let output = f.baton.output_with_stdin(&["submit", "-"], &huge);
    let refusal = common::refused(&output, &["submit", "-"]);
    assert_eq!(refusal.status, 2);
    assert!(
        refusal.message.contains("1048577 bytes"),
        "{}",
        refusal.message
    );
    assert_eq!(f.baton.snapshot(), before);

    let exact = vec![b'x'; 1024 * 1024];
    let output = f.baton.output_with_stdin(&["submit", "-"], &exact);
    common::succeeded(&output, &["submit", "-"]);
}

#[test]
fn unknown_and_malformed_ids_are_refused_with_exit_2() {
    let f = fixture();
    let unknown = "01900000-0000-7000-8000-000000000000";
    for command in ["show", "cancel", "retry"] {
        refuse(
            &f.baton,
            &[command, "not-a-uuid"],
            2,
            "'not-a-uuid' is not a task id",
        );
        refuse(
            &f.baton,
            &[command, unknown],
            2,
            &format!("no task has the id {unknown}"),
        );
    }
    refuse(
        &f.baton,
        &["chain", "not-a-uuid", "x"],
        2,
        "is not a task id",
    );
    refuse(&f.baton, &["chain", unknown, "x"], 2, "no task has that id");
}

#[test]
fn operations_the_task_state_forbids_are_refused_with_exit_1_naming_the_state() {
    let f = fixture();
    refuse(&f.baton, &["chain", &f.failed, "x"], 1, "is failed");
    refuse(&f.baton, &["chain", &f.cancelled, "x"], 1, "is cancelled");
    refuse(&f.baton, &["retry", &f.queued], 1, "is queued");
    refuse(&f.baton, &["retry", &f.completed], 1, "is completed");
    refuse(&f.baton, &["cancel", &f.completed], 1, "is completed");
    refuse(&f.baton, &["cancel", &f.failed], 1, "is failed");
    refuse(
        &f.baton,
        &["retry", &f.failed, "--max-attempts", "0"],
        2,
        "between 1 and 20",
    );
}

#[test]
fn bad_import_files_are_refused_whole_and_import_nothing() {
    let f = fixture();
    let dir = f.baton.data_dir();
    let good: Value = serde_json::from_str(&f.baton.ok(&["export"])).unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    };
    let mut future = good.clone();
    future["format_version"] = 99.into();
    let mut one_bad = good.clone();
    one_bad["tasks"][1]["max_attempts"] = 0.into();
    let mut unparsable_record = good.clone();
    unparsable_record["tasks"][0]["status"] = "sleeping".into();

    let target = Baton::new();
    let cases = [
        (
            write("text.json", b"this is not json".to_vec()),
            "not valid JSON",
        ),
        (
            write("array.json", b"[1, 2]".to_vec()),
            "not a Baton export",
        ),
        (
            write("future.json", future.to_string().into_bytes()),
            "format_version 99",
        ),
        (
            write("one-bad.json", one_bad.to_string().into_bytes()),
            "record 1",
        ),
        (
            write(
                "bad-status.json",
                unparsable_record.to_string().into_bytes(),
            ),
            "record 0",
        ),
        (write("binary.json", vec![0xff, 0xfe, 0x00]), "not UTF-8"),
    ];
    for (path, says) in &cases {
        refuse(&target, &["import", path], 2, says);
    }
    assert!(
        target.tasks().is_empty(),
        "a refused import stored something"
    );
    refuse(
        &target,
        &["import", "/no/such/file.json"],
        1,
        "cannot read /no/such/file.json",
    );
}

#[test]
fn a_corrupt_database_file_is_refused_and_left_as_it_was() {
    let baton = Baton::new();
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(baton.db_file(), &garbage).unwrap();
    for args in [
        &["list"][..],
        &["submit", "x"],
        &["run", "--exit-when-idle"],
    ] {
        let refusal = baton.refuse(args);
        assert_eq!(refusal.status, 1);
        assert!(
            refusal.message.contains("is not a Baton database"),
            "{}",
            refusal.message
        );
        assert!(
            refusal.message.contains("baton.redb"),
            "{}",
            refusal.message
        );
    }
    assert_eq!(std::fs::read(baton.db_file()).unwrap(), garbage);
}

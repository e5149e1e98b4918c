//! `--output-schema FILE` on submit, chain and schedule add: a bad file or a
//! malformed schema is one sentence naming it (exit 2, nothing stored); a good
//! one gives a completed task whose `show --json` has the parsed answer
//! (`output_json`), on the database and through a running engine's API.

mod common;

use common::{count, Baton};
use serde_json::{json, Value};

fn schema() -> Value {
    json!({"type": "object", "required": ["summary"],
           "properties": {"summary": {"type": "string"}, "score": {"type": "integer"}}})
}

fn structured_tasks_run_and_bad_schemas_are_refused(baton: &Baton, run: impl Fn(&Baton)) {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("schema.json");
    std::fs::write(&good, schema().to_string()).unwrap();
    let not_json = dir.path().join("broken.json");
    std::fs::write(&not_json, "{\"type\": ").unwrap();
    let malformed = dir.path().join("malformed.json");
    std::fs::write(&malformed, r#"{"type": "nonsense"}"#).unwrap();
    let absent = dir.path().join("absent.json");
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();

    let before = baton.snapshot();
    for (file, says) in [
        (path(&not_json), "is not valid JSON"),
        (path(&malformed), "not a valid JSON Schema"),
        (path(&absent), "cannot read the output schema file"),
    ] {
        for args in [
            vec!["submit", "x", "--output-schema", &file],
            vec![
                "schedule",
                "add",
                "s",
                "--cron",
                "0 9 * * *",
                "x",
                "--output-schema",
                &file,
            ],
        ] {
            let refusal = baton.refuse(&args);
            assert_eq!(refusal.status, 2, "{args:?}: {}", refusal.message);
            assert!(
                refusal.message.contains(says) && !refusal.message.trim().contains('\n'),
                "{args:?}: {}",
                refusal.message
            );
        }
    }
    assert_eq!(baton.snapshot(), before, "a refusal stored something");

    // The mock answers with a value made from the schema; `badjson=1` makes its
    // first answer prose, retried as a schema mismatch.
    let parent = baton.submit(&[
        "Summarise",
        "--model",
        "badjson=1",
        "--output-schema",
        &path(&good),
    ]);
    let child = baton.ok(&["chain", &parent, "Tweet: {{parent.output.summary}}"]);
    run(baton);
    let shown = baton.task(&parent);
    assert_eq!(shown["status"], "completed", "{shown}");
    assert_eq!(shown["output_schema"], schema());
    assert_eq!(shown["output_json"], json!({"summary": "text", "score": 1}));
    assert_eq!(shown["history"][0]["failure"]["class"], "schema_mismatch");
    assert!(
        baton
            .ok(&["show", &parent])
            .contains("output schema: matched"),
        "the text view says the answer matched"
    );
    let child = baton.task(child.trim());
    assert_eq!(child["status"], "completed", "{child}");
    assert_eq!(child["effective_prompt"], "Tweet: text");
}

#[test]
fn output_schemas_are_read_checked_and_answered_on_the_database() {
    structured_tasks_run_and_bad_schemas_are_refused(&Baton::new(), Baton::run_until_idle);
}

#[test]
fn output_schemas_are_read_checked_and_answered_through_the_api() {
    let baton = Baton::new();
    let mut server = baton.spawn(&["run"]);
    server.wait_for("the engine to start", |log| {
        count(log, &["engine started"]) > 0
    });
    // `wait` returns once the running engine has nothing left to do.
    structured_tasks_run_and_bad_schemas_are_refused(&baton, |b| {
        b.ok(&["wait"]);
    });
}

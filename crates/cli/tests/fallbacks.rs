//! `--fallback PROVIDER[:MODEL]` on submit, chain and schedule add: the real
//! binary, on a temporary data directory, with the built-in mock's models as
//! targets (`fail=1` fails its first attempt as transient).

mod common;

use common::Baton;

#[test]
fn show_json_gives_the_provider_and_model_of_each_attempt() {
    let baton = Baton::new();
    let id = baton.submit(&["hello", "--model", "fail=1", "--fallback", "mock:echo"]);
    baton.run_until_idle();
    let task = baton.task(&id);
    assert_eq!(task["status"], "completed", "{task}");
    assert_eq!(
        task["fallbacks"],
        serde_json::json!([{"provider": "mock", "model": "echo"}])
    );
    let attempts: Vec<(String, String)> = task["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap().to_string(),
                a["model"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            ("mock".to_string(), "fail=1".to_string()),
            ("mock".to_string(), "echo".to_string())
        ]
    );
    let shown = baton.ok(&["show", &id]);
    assert!(shown.contains("fallbacks:     mock:echo"), "{shown}");
    assert!(
        shown.contains("on mock:fail=1") && shown.contains("on mock:echo"),
        "{shown}"
    );
}

#[test]
fn chain_and_schedule_take_fallbacks_in_order() {
    let baton = Baton::new();
    let parent = baton.submit(&["first"]);
    let child = baton
        .ok(&[
            "chain",
            &parent,
            "then {{parent.output}}",
            "--model",
            "fail=1",
            "--fallback",
            "mock:fail=2",
            "--fallback",
            "mock",
        ])
        .trim()
        .to_string();
    let task = baton.task(&child);
    assert_eq!(
        task["fallbacks"],
        serde_json::json!([
            {"provider": "mock", "model": "fail=2"},
            {"provider": "mock", "model": "echo"}
        ]),
        "in order, the default model resolved"
    );
    let saved = baton.json(&[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 3 * * *",
        "x",
        "--model",
        "fail=1",
        "--fallback",
        "mock:echo",
        "--fallback-after",
        "2",
        "--json",
    ]);
    assert_eq!(
        saved["template"]["fallbacks"],
        serde_json::json!([{"provider": "mock", "model": "echo"}])
    );
    assert_eq!(saved["template"]["fallback_after"], 2);
}

#[test]
fn a_fallback_that_does_not_exist_is_refused_and_nothing_is_stored() {
    let baton = Baton::new();
    let before = baton.snapshot();
    for (args, says) in [
        (
            vec!["submit", "x", "--fallback", "nowhere"],
            "the fallback 'nowhere' names an unknown provider 'nowhere'",
        ),
        (
            vec!["submit", "x", "--fallback", ":echo"],
            "does not start with a provider name",
        ),
        (vec!["submit", "x", "--fallback", "mock:"], "empty model"),
        (
            vec!["submit", "x", "--fallback", "mock:sleep=abc"],
            "sleep=abc",
        ),
        (
            vec!["submit", "x", "--fallback", "mock:echo"],
            "already one of the task's targets",
        ),
        (
            vec![
                "submit",
                "x",
                "--fallback",
                "mock:fail=1",
                "--fallback-after",
                "0",
            ],
            "fallback_after must be between 1 and 20, got 0",
        ),
        (
            vec![
                "schedule",
                "add",
                "nightly",
                "--cron",
                "0 3 * * *",
                "x",
                "--fallback",
                "nowhere",
            ],
            "unknown provider 'nowhere'",
        ),
    ] {
        let refusal = baton.refuse(&args);
        assert_eq!(refusal.status, 2, "{args:?}: {}", refusal.message);
        assert!(
            refusal.message.contains(says),
            "{args:?} said {:?}, expected {says:?}",
            refusal.message
        );
    }
    assert_eq!(baton.snapshot(), before, "a task was stored");
    let schedules = baton.json(&["schedule", "list", "--json"]);
    assert_eq!(schedules, serde_json::json!([]), "a schedule was stored");
}

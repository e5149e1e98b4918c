//! `baton budget set|list|remove`, on the database and through a running
//! engine's API (the same answers either way): caps set and changed, spending
//! counted against them, bad input refused in one sentence with nothing stored.

mod common;

use common::{count, Baton};

fn budgets_set_counted_refused_and_removed(baton: &Baton) {
    baton.ok(&[
        "provider",
        "add",
        "priced",
        "--kind",
        "mock",
        "--input-price",
        "1000",
        "--output-price",
        "1000",
    ]);
    let set = baton.ok(&[
        "budget",
        "set",
        "nightly",
        "--daily",
        "$0.50",
        "--usd",
        "--tz",
        "Europe/Paris",
    ]);
    assert!(
        set.contains("nightly") && set.contains("$0.00 of $0.50 (0%)"),
        "{set}"
    );
    let tokens = baton.json(&[
        "budget",
        "set",
        "tok",
        "--monthly",
        "100000",
        "--tokens",
        "--provider",
        "priced",
        "--json",
    ]);
    assert_eq!(tokens["scope"]["provider"], "priced");
    assert_eq!(tokens["period"], "monthly");

    for (args, says) in [
        (
            vec!["budget", "set", "x", "--daily", "-1", "--usd"],
            "more than 0",
        ),
        (
            vec!["budget", "set", "x", "--daily", "ten", "--usd"],
            "is not a number",
        ),
        (
            vec![
                "budget",
                "set",
                "x",
                "--daily",
                "1",
                "--usd",
                "--tz",
                "Mars/Olympus",
            ],
            "not a known IANA time zone",
        ),
        (
            vec![
                "budget",
                "set",
                "x",
                "--daily",
                "1",
                "--usd",
                "--provider",
                "nowhere",
            ],
            "no provider is named 'nowhere'",
        ),
        (
            vec![
                "budget",
                "set",
                "x",
                "--daily",
                "1",
                "--usd",
                "--schedule",
                "weekly",
            ],
            "no schedule is named 'weekly'",
        ),
        (
            vec!["budget", "set", "x", "--daily", "--monthly", "1", "--usd"],
            "cannot be used with",
        ),
        (vec!["budget", "set", "x", "1", "--usd"], "--daily"),
        (
            vec!["budget", "remove", "never-set"],
            "no budget is named 'never-set'",
        ),
    ] {
        let refusal = baton.refuse(&args);
        assert_eq!(refusal.status, 2, "{args:?}: {}", refusal.message);
        assert!(
            refusal.message.contains(says),
            "{args:?}: {}",
            refusal.message
        );
    }
    let listed = baton.json(&["budget", "list", "--json"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nightly", "tok"], "nothing refused was stored");

    // A priced task's spending is counted against both caps.
    // Its worst case: 13 + 64 prompt and 100 completion tokens, $0.177.
    let id = baton.submit(&[
        "hello budgets",
        "--provider",
        "priced",
        "--max-tokens",
        "100",
    ]);
    // `wait` runs the engine here, or follows the one serving the API.
    baton.ok(&["wait"]);
    let task = baton.task(&id);
    assert_eq!(task["status"], "completed");
    assert!(task.get("reserved").is_none(), "settled: {task}");
    let listed = baton.json(&["budget", "list", "--json"]);
    let spent = |name: &str| -> f64 {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .unwrap()["spent"]
            .as_f64()
            .unwrap()
    };
    let cost = task["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0);
    assert!((spent("nightly") - cost).abs() < 1e-12);
    let tokens =
        task["prompt_tokens"].as_f64().unwrap() + task["completion_tokens"].as_f64().unwrap();
    assert_eq!(spent("tok"), tokens);
    assert!(baton.ok(&["budget", "list"]).contains("Europe/Paris"));

    let removed = baton.json(&["budget", "remove", "tok", "--json"]);
    assert_eq!(removed["name"], "tok");
    assert_eq!(
        baton
            .json(&["budget", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn budgets_are_set_counted_and_removed_on_the_database() {
    budgets_set_counted_refused_and_removed(&Baton::new());
}

#[test]
fn budgets_are_set_counted_and_removed_through_the_api() {
    let baton = Baton::new();
    let mut server = baton.spawn(&["run"]);
    server.wait_for("the engine to start", |log| {
        count(log, &["engine started"]) > 0
    });
    budgets_set_counted_refused_and_removed(&baton);
}

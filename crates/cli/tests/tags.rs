//! `--tag` on submit and chain, and `list --tag`/`--parent`, on the database and
//! through a running engine's API (the filter sent as its query): the same
//! answers either way.

mod common;

use common::{count, Baton};
use serde_json::Value;

fn names(tasks: &Value) -> Vec<&str> {
    tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

fn tags_submitted_chained_and_listed(baton: &Baton) {
    let parent = baton.json(&[
        "submit", "p", "--name", "parent", "--tag", "Ops", "--tag", "weekly", "--tag", "ops",
        "--json",
    ]);
    assert_eq!(parent["tags"], serde_json::json!(["ops", "weekly"]));
    baton.submit(&["q", "--name", "plain"]);
    let id = parent["id"].as_str().unwrap();
    let child = baton.json(&[
        "chain", id, "c", "--name", "child", "--tag", "daily", "--json",
    ]);
    assert_eq!(child["tags"], serde_json::json!(["ops", "weekly", "daily"]));

    assert_eq!(
        names(&baton.json(&["list", "--tag", "OPS", "--json"])),
        ["child", "parent"]
    );
    assert_eq!(
        names(&baton.json(&["list", "--tag", "daily", "--json"])),
        ["child"]
    );
    assert_eq!(
        names(&baton.json(&["list", "--parent", id, "--tag", "Daily", "--json"])),
        ["child"]
    );
    assert!(baton.ok(&["show", id]).contains("ops, weekly"));

    let refusal = baton.refuse(&["submit", "x", "--tag", "no spaces"]);
    assert_eq!(refusal.status, 2);
    assert!(
        refusal.message.contains("only letters, digits") && !refusal.message.contains('\n'),
        "{}",
        refusal.message
    );
    let refusal = baton.refuse(&["list", "--tag", "a/b"]);
    assert_eq!(refusal.status, 2, "{}", refusal.message);
    assert_eq!(baton.json(&["list", "--json"]).as_array().unwrap().len(), 3);
}

#[test]
fn tags_are_given_inherited_and_listed_on_the_database() {
    tags_submitted_chained_and_listed(&Baton::new());
}

#[test]
fn tags_are_given_inherited_and_listed_through_the_api() {
    let baton = Baton::new();
    let mut server = baton.spawn(&["run"]);
    server.wait_for("the engine to start", |log| {
        count(log, &["engine started"]) > 0
    });
    tags_submitted_chained_and_listed(&baton);
}

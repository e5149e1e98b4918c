//! `baton schedule …` through the real binary: what each command prints and
//! stores, its refusals, and schedules in export and import. The expressions
//! used fire once a year (1 January), so nothing fires during a test unless it
//! runs at that very minute; fires come from `run-now`.

mod common;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use common::{count, Baton};
use serde_json::Value;

const YEARLY: &str = "0 0 1 1 *";

fn time(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a time"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// Midnight on the next 1 January in `zone`, `years_on` years after that.
fn new_year(zone: chrono_tz::Tz, years_on: i32) -> DateTime<Utc> {
    let year = Utc::now().with_timezone(&zone).year() + 1 + years_on;
    zone.with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn schedules(baton: &Baton) -> Vec<Value> {
    match baton.json(&["schedule", "list", "--json"]) {
        Value::Array(list) => list,
        other => panic!("schedule list --json printed {other}, not one array"),
    }
}

/// Everything a refused command must leave as it was: tasks and schedules.
fn snapshot(baton: &Baton) -> (String, String) {
    (baton.snapshot(), baton.ok(&["schedule", "list", "--json"]))
}

#[test]
fn a_schedule_is_added_listed_shown_paused_resumed_run_now_and_removed() {
    let baton = Baton::new();
    let tokyo = chrono_tz::Asia::Tokyo;
    let added = baton.ok(&[
        "schedule",
        "add",
        "new-year",
        "--cron",
        YEARLY,
        "--tz",
        "Asia/Tokyo",
        "--missed",
        "skip",
        "--overlap",
        "queue",
        "--max-lateness",
        "2h",
        "say hi",
        "--model",
        "echo",
        "--max-attempts",
        "2",
    ]);
    let next = new_year(tokyo, 0);
    let next_text = next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        added.starts_with(&format!(
            "schedule 'new-year' added: next run {next_text} ("
        )) && added.contains(" 00:00 JST); id "),
        "{added}"
    );

    let listed = schedules(&baton);
    assert_eq!(listed.len(), 1);
    let s = &listed[0];
    let id = s["id"].as_str().unwrap().to_string();
    assert!(added.trim_end().ends_with(&format!("id {id}")), "{added}");
    assert_eq!(s["name"], "new-year");
    assert_eq!(s["cron"], YEARLY);
    assert_eq!(s["timezone"], "Asia/Tokyo");
    assert_eq!(s["missed"], "skip");
    assert_eq!(s["overlap"], "queue");
    assert_eq!(s["max_lateness_ms"], 7_200_000);
    assert_eq!(s["enabled"], true);
    assert_eq!(time(&s["next_fire_at"]), next);
    assert_eq!(s["fires"], 0);
    assert_eq!(s["template"]["prompt"], "say hi");
    assert_eq!(s["template"]["max_attempts"], 2);

    let table = baton.ok(&["schedule", "list"]);
    let header = table.lines().next().unwrap();
    for column in [
        "NAME", "CRON", "ZONE", "STATE", "NEXT RUN", "RUNS", "SKIPPED",
    ] {
        assert!(header.contains(column), "{table}");
    }
    let row = table.lines().nth(1).unwrap();
    for value in ["new-year", YEARLY, "Asia/Tokyo", "enabled", &next_text] {
        assert!(row.contains(value), "{table}");
    }

    let shown = baton.json(&["schedule", "show", "new-year", "--json"]);
    assert_eq!(shown["id"], id.as_str());
    let upcoming: Vec<DateTime<Utc>> = shown["upcoming"]
        .as_array()
        .unwrap()
        .iter()
        .map(time)
        .collect();
    let five: Vec<DateTime<Utc>> = (0..5).map(|n| new_year(tokyo, n)).collect();
    assert_eq!(upcoming, five);
    assert_eq!(shown["recent_tasks"], Value::Array(vec![]));
    let text = baton.ok(&["schedule", "show", "NEW-YEAR"]);
    for line in [
        "name:          new-year",
        "time zone:     Asia/Tokyo",
        "state:         enabled",
    ] {
        assert!(text.contains(line), "{text}");
    }
    assert!(text.contains("recent tasks: none yet"), "{text}");
    let upcoming_lines = text.split("upcoming:\n").nth(1).unwrap().lines();
    let in_tokyo = upcoming_lines
        .take(5)
        .filter(|l| l.ends_with(" 00:00 JST)"));
    assert_eq!(in_tokyo.count(), 5, "{text}");

    assert_eq!(
        baton.ok(&["schedule", "pause", "new-year"]),
        "schedule 'new-year' paused\n"
    );
    let paused = &schedules(&baton)[0];
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["next_fire_at"], Value::Null);
    assert!(baton.ok(&["schedule", "list"]).contains("paused"));
    let resumed = baton.ok(&["schedule", "resume", &id]);
    assert!(
        resumed.starts_with(&format!(
            "schedule 'new-year' resumed: next run {next_text}"
        )),
        "{resumed}"
    );
    assert_eq!(time(&schedules(&baton)[0]["next_fire_at"]), next);

    let fired = baton.ok(&["schedule", "run-now", "new-year"]);
    let task_ids: Vec<&str> = fired.lines().collect();
    assert_eq!(task_ids.len(), 1, "{fired}");
    let task = baton.task(task_ids[0]);
    assert_eq!(task["schedule_id"], id.as_str());
    assert_eq!(task["prompt"], "say hi");
    assert_eq!(task["name"], "new-year");
    assert_eq!(task["max_attempts"], 2);
    baton.run_until_idle();
    let task = baton.task(task_ids[0]);
    assert_eq!(task["status"], "completed");
    assert_eq!(task["output"], "echo: say hi");

    let after = &schedules(&baton)[0];
    assert_eq!(after["fires"], 1);
    assert_eq!(
        time(&after["next_fire_at"]),
        next,
        "run-now does not move the next fire time"
    );
    let shown = baton.json(&["schedule", "show", "new-year", "--json"]);
    assert_eq!(shown["recent_tasks"][0]["id"], task_ids[0]);
    assert_eq!(shown["recent_tasks"][0]["status"], "completed");
    let text = baton.ok(&["schedule", "show", "new-year"]);
    assert!(
        text.contains(&format!("{}  completed", task_ids[0])),
        "{text}"
    );

    assert_eq!(
        baton.ok(&["schedule", "remove", "new-year"]),
        "schedule 'new-year' removed; the tasks it created are kept\n"
    );
    assert!(schedules(&baton).is_empty());
    assert_eq!(baton.ok(&["schedule", "list"]), "no schedules\n");
    assert_eq!(baton.task(task_ids[0])["status"], "completed");
}

#[test]
fn fire_now_creates_the_task_and_its_follow_ups_chained_in_order() {
    let baton = Baton::new();
    baton.ok(&[
        "schedule",
        "add",
        "digest",
        "--cron",
        YEARLY,
        "--follow-up",
        "shorter: {{parent.output}}",
        "--follow-up",
        "last",
        "news",
        "--name",
        "digest task",
    ]);
    let fired = baton.ok(&["schedule", "run-now", "digest"]);
    let ids: Vec<&str> = fired.lines().collect();
    assert_eq!(ids.len(), 3, "{fired}");
    baton.run_until_idle();
    let tasks: Vec<Value> = ids.iter().map(|id| baton.task(id)).collect();
    assert_eq!(tasks[0]["name"], "digest task");
    assert_eq!(tasks[0]["output"], "echo: news");
    assert_eq!(tasks[1]["parent_task_id"], ids[0]);
    assert_eq!(tasks[1]["output"], "echo: shorter: echo: news");
    assert_eq!(tasks[2]["parent_task_id"], ids[1]);
    for t in &tasks {
        assert_eq!(t["status"], "completed");
    }
}

#[test]
fn a_schedule_added_paused_stays_paused_and_edit_replaces_its_definition() {
    let baton = Baton::new();
    let added = baton.ok(&[
        "schedule",
        "add",
        "weekly",
        "--cron",
        "0 9 * * MON",
        "--paused",
        "old prompt",
    ]);
    assert!(
        added.starts_with("schedule 'weekly' added: paused; id "),
        "{added}"
    );
    let before = &schedules(&baton)[0];
    assert_eq!(before["enabled"], false);

    let edited = baton.json(&[
        "schedule",
        "edit",
        "weekly",
        "--rename",
        "yearly",
        "--cron",
        YEARLY,
        "--tz",
        "Europe/Paris",
        "--overlap",
        "cancel",
        "new prompt",
        "--timeout",
        "30s",
        "--json",
    ]);
    assert_eq!(edited["id"], before["id"], "the same schedule");
    assert_eq!(edited["name"], "yearly");
    assert_eq!(edited["cron"], YEARLY);
    assert_eq!(edited["timezone"], "Europe/Paris");
    assert_eq!(edited["overlap"], "cancel");
    assert_eq!(edited["missed"], "once", "the whole definition is replaced");
    assert_eq!(edited["enabled"], false, "edit does not resume");
    assert_eq!(edited["template"]["prompt"], "new prompt");
    assert_eq!(edited["template"]["timeout_ms"], 30_000);
    assert_eq!(schedules(&baton), [edited]);

    baton.ok(&["schedule", "resume", "yearly"]);
    assert_eq!(
        time(&schedules(&baton)[0]["next_fire_at"]),
        new_year(chrono_tz::Europe::Paris, 0)
    );
}

#[test]
fn bad_schedule_input_is_one_sentence_and_stores_nothing() {
    let baton = Baton::new();
    baton.ok(&["schedule", "add", "taken", "--cron", YEARLY, "x"]);
    let add = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["schedule", "add", "fresh", "--cron", YEARLY, "prompt"];
        args.extend_from_slice(extra);
        args
    };
    let with_cron = |cron: &'static str| vec!["schedule", "add", "fresh", "--cron", cron, "p"];
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            with_cron("61 * * * *"),
            2,
            "the cron expression '61 * * * *' is invalid",
        ),
        (with_cron("* * *"), 2, "has 3 fields"),
        (with_cron("0 0 30 2 *"), 2, "never fires"),
        (with_cron(""), 2, "the cron expression is empty"),
        (
            add(&["--tz", "Mars/Olympus"]),
            2,
            "'Mars/Olympus' is not a known IANA time zone",
        ),
        (
            vec!["schedule", "add", "TAKEN", "--cron", YEARLY, "p"],
            2,
            "a schedule named 'TAKEN' already exists",
        ),
        (
            vec!["schedule", "add", "", "--cron", YEARLY, "p"],
            2,
            "the schedule's name is empty",
        ),
        (
            add(&["--missed", "sometimes"]),
            2,
            "--missed 'sometimes' is not one of skip, once, all",
        ),
        (
            add(&["--overlap", "merge"]),
            2,
            "--overlap 'merge' is not one of skip, queue, cancel",
        ),
        (
            add(&["--max-lateness", "soon"]),
            2,
            "--max-lateness 'soon' is not a duration",
        ),
        (add(&["--max-lateness", "0s"]), 2, "longer than zero"),
        (add(&["--max-attempts", "0"]), 2, "between 1 and 20, got 0"),
        (
            add(&["--provider", "nowhere"]),
            2,
            "unknown provider 'nowhere'",
        ),
        (add(&["--model", "sleep=abc"]), 2, "sleep=abc"),
        (add(&["--in", "5m"]), 2, "--in"),
        (
            vec!["schedule", "add", "fresh", "--cron", YEARLY, ""],
            2,
            "the prompt is empty",
        ),
        (vec!["schedule", "add", "fresh", "p"], 2, "--cron"),
        (
            vec!["schedule", "edit", "taken", "--cron", "0 0 31 4 *", "p"],
            2,
            "never fires",
        ),
        (
            vec!["schedule", "edit", "nope", "--cron", YEARLY, "p"],
            2,
            "no schedule is named 'nope'",
        ),
        (
            vec!["schedule", "show", "nope"],
            2,
            "no schedule is named 'nope'",
        ),
        (
            vec!["schedule", "pause", "nope"],
            2,
            "no schedule is named 'nope'",
        ),
        (
            vec!["schedule", "resume", "nope"],
            2,
            "no schedule is named 'nope'",
        ),
        (
            vec!["schedule", "remove", "nope"],
            2,
            "no schedule is named 'nope'",
        ),
        (
            vec!["schedule", "run-now", "nope"],
            2,
            "no schedule is named 'nope'",
        ),
        (vec!["schedule", "frobnicate"], 2, "frobnicate"),
        (
            add(&["--pause-after-failures", "-1"]),
            2,
            "-1 is not between 0 (never pause) and 1000",
        ),
        (
            add(&["--pause-after-failures", "1001"]),
            2,
            "1001 is not between 0 (never pause) and 1000",
        ),
        (
            vec!["schedule", "add", "fresh", "--cron", YEARLY, "for {{dat}}"],
            2,
            "unknown variable {{dat}}",
        ),
        (
            add(&["--follow-up", "{{parent.output}} {{now}} {{wat}}"]),
            2,
            "follow-up 1: the follow-up names an unknown variable {{wat}}",
        ),
    ];
    for (args, status, says) in &cases {
        let before = snapshot(&baton);
        let refusal = baton.refuse(args);
        let context = format!("`{}` said {:?}", args.join(" "), refusal.message);
        assert_eq!(refusal.status, *status, "{context}");
        assert!(
            refusal.message.contains(says),
            "{context}; expected {says:?}"
        );
        assert_eq!(snapshot(&baton), before, "{context}: changed the database");
    }
    assert_eq!(schedules(&baton).len(), 1);
}

#[test]
fn export_includes_schedules_and_import_restores_them_into_another_data_dir() {
    let source = Baton::new();
    source.ok(&[
        "schedule",
        "add",
        "morning",
        "--cron",
        "0 9 * * MON-FRI",
        "--tz",
        "Europe/Paris",
        "--missed",
        "all",
        "--follow-up",
        "in French",
        "summarise",
    ]);
    source.ok(&[
        "schedule",
        "add",
        "yearly",
        "--cron",
        YEARLY,
        "--paused",
        "happy new year",
    ]);
    source.ok(&["schedule", "run-now", "yearly"]);
    source.run_until_idle();

    let file = source.data_dir().join("export.json");
    let said = source.ok(&["export", "--out", file.to_str().unwrap()]);
    assert_eq!(
        said,
        format!("exported 1 tasks and 2 schedules to {}\n", file.display())
    );
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(exported["format_version"], 3);
    assert_eq!(exported["schedules"].as_array().unwrap().len(), 2);

    let target = Baton::new();
    let said = target.ok(&["import", file.to_str().unwrap()]);
    assert_eq!(said, "imported 1 tasks and 2 schedules\n");
    let (from, to) = (schedules(&source), schedules(&target));
    assert_eq!(to.len(), 2);
    for (a, b) in from.iter().zip(&to) {
        for field in [
            "id", "name", "cron", "timezone", "missed", "overlap", "enabled", "template", "fires",
        ] {
            assert_eq!(a[field], b[field], "{field}");
        }
    }
    assert_eq!(to[1]["enabled"], false, "a paused schedule stays paused");
    assert_eq!(to[1]["next_fire_at"], Value::Null);
    assert_eq!(time(&to[0]["next_fire_at"]), time(&from[0]["next_fire_at"]));
    assert_eq!(target.tasks(), source.tasks());

    let again = target.ok(&["import", file.to_str().unwrap()]);
    assert!(
        again.starts_with("imported 0 tasks and 0 schedules\n"),
        "{again}"
    );
    assert!(
        again.contains("skipped 2 schedules whose id or name is already in the database:\n  morning\n  yearly\n"),
        "{again}"
    );
    assert_eq!(schedules(&target), to, "re-import changed nothing");
}

#[test]
fn schedule_commands_go_through_a_running_engine_api() {
    let baton = Baton::new();
    baton.ok(&["schedule", "add", "yearly", "--cron", YEARLY, "x"]);
    let mut server = baton.spawn(&["run"]);
    server.wait_for("the engine to start", |log| {
        count(log, &["engine started"]) > 0
    });

    let added = baton.json(&[
        "schedule",
        "add",
        "other one",
        "--cron",
        YEARLY,
        "--tz",
        "Europe/Paris",
        "y",
        "--json",
    ]);
    assert_eq!(added["timezone"], "Europe/Paris");
    let names: Vec<Value> = schedules(&baton)
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, ["yearly", "other one"]);
    assert!(baton
        .ok(&["schedule", "show", "OTHER ONE"])
        .contains("name:          other one"));

    let fired = baton.ok(&["schedule", "run-now", "yearly"]);
    let task_id = fired.trim();
    baton.ok(&["wait"]);
    assert_eq!(baton.task(task_id)["output"], "echo: x");
    let shown = baton.json(&["schedule", "show", "yearly", "--json"]);
    assert_eq!(shown["fires"], 1);
    assert_eq!(shown["recent_tasks"][0]["id"], task_id);

    assert_eq!(
        baton.ok(&["schedule", "pause", "other one"]),
        "schedule 'other one' paused\n"
    );
    let edited = baton.json(&[
        "schedule",
        "edit",
        "other one",
        "--rename",
        "other",
        "--cron",
        "0 9 * * *",
        "z",
        "--json",
    ]);
    assert_eq!(
        (edited["name"].as_str(), edited["enabled"].as_bool()),
        (Some("other"), Some(false))
    );
    assert!(baton
        .ok(&["schedule", "resume", "other"])
        .starts_with("schedule 'other' resumed: next run "));
    baton.ok(&["schedule", "remove", "other"]);

    // The same refusals as without an engine: one sentence, exit 2, nothing stored.
    for (args, says) in [
        (
            &["schedule", "add", "yearly", "--cron", YEARLY, "p"][..],
            "a schedule named 'yearly' already exists",
        ),
        (
            &["schedule", "add", "z", "--cron", "61 * * * *", "p"],
            "is invalid",
        ),
        (
            &["schedule", "run-now", "nope"],
            "no schedule is named 'nope'",
        ),
    ] {
        let refusal = baton.refuse(args);
        assert_eq!(refusal.status, 2, "{}", refusal.message);
        assert!(refusal.message.contains(says), "{}", refusal.message);
    }
    assert_eq!(schedules(&baton).len(), 1);
    server.kill();

    let mut server = baton.spawn(&["run", "--no-api"]);
    server.wait_for("the engine to start", |log| {
        count(log, &["engine started"]) > 0
    });
    let refusal = baton.refuse(&["schedule", "list"]);
    assert_eq!(refusal.status, 1);
    assert_eq!(
        refusal.message,
        format!(
            "the database {} is in use by another Baton process; stop it or use another --data-dir",
            baton.db_file().display()
        )
    );
    server.kill();
}

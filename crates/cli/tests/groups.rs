//! `baton map` and `baton group`: a map survives kill -9s with every row
//! completed once and its join and export in input order; bad input is one
//! sentence and creates nothing.

mod common;

use common::*;
use std::collections::HashMap;

/// The must-hold: 1,000 rows, the engine killed five times while it runs.
#[test]
fn a_thousand_row_map_killed_five_times_completes_every_row_once_in_input_order() {
    let baton = Baton::new();
    let file = baton.data_dir().join("items.txt");
    let items: String = (1..=1000).map(|i| format!("item-{i:04}\n")).collect();
    std::fs::write(&file, items).unwrap();
    let group_id = baton
        .ok(&[
            "map",
            "thousand",
            "--lines",
            file.to_str().unwrap(),
            "Say {{item}}",
            "--model",
            "sleep=30",
            "--join",
            "In order:\n{{items}}",
        ])
        .trim()
        .to_string();

    let mut before = 0;
    for kill in 1..=5 {
        let mut server = baton.spawn(&["run", "--workers", "8", "--no-api"]);
        // Killed mid-flight: some rows done in this run, others running.
        server.wait_for(
            &format!("kill {kill}: some completed, some running"),
            |log| {
                let started = count(log, &["attempt started"]);
                let finished = count(log, &["attempt finished"]);
                count(log, &["attempt finished", "status=completed"]) >= 100
                    && started >= finished + 4
            },
        );
        server.kill();
        let done = baton.json(&["group", "show", "thousand", "--json"])["completed"]
            .as_u64()
            .unwrap();
        assert!(
            done > before,
            "kill {kill}: progress was kept ({done} after {before})"
        );
        before = done;
    }
    let mut last = baton.spawn(&["run", "--exit-when-idle", "--no-api"]);
    assert!(last.wait_exit().success(), "{}", last.log().join("\n"));

    let group = baton.json(&["group", "show", &group_id, "--json"]);
    assert_eq!(group["status"], "completed", "{group:#}");
    assert_eq!(
        (group["completed"].as_u64(), group["total"].as_u64()),
        (Some(1000), Some(1000))
    );
    let rows = baton.json(&["list", "--group", "thousand", "--limit", "2000", "--json"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1000);
    let mut interrupted = 0;
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["group"]["row"], i + 1, "input order");
        assert_eq!(row["status"], "completed", "{row:#}");
        let outcomes: Vec<&str> = row["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(
            outcomes.iter().filter(|o| **o == "completed").count(),
            1,
            "completed exactly once: {row:#}"
        );
        interrupted += outcomes.iter().filter(|o| **o == "interrupted").count();
        assert_eq!(row["output"], format!("echo: Say item-{:04}", i + 1));
    }
    assert!(interrupted > 0, "the kills interrupted no attempt");

    // The join ran once, on every answer in input order.
    let join = baton.task(group["join"]["task_id"].as_str().unwrap());
    assert_eq!(join["status"], "completed");
    assert_eq!(join["history"].as_array().unwrap().len(), 1, "{join:#}");
    let prompt = join["effective_prompt"].as_str().unwrap();
    let positions: Vec<usize> = (1..=1000)
        .map(|i| {
            prompt
                .find(&format!("echo: Say item-{i:04}"))
                .expect("every answer")
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "answers in input order"
    );

    // The export: one line per row, in input order.
    let out = baton.data_dir().join("results.jsonl");
    baton.ok(&[
        "group",
        "export",
        "thousand",
        "--format",
        "jsonl",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1000);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(
            line["output"],
            format!("echo: Say item-{:04}", i + 1),
            "{line}"
        );
    }
}

#[test]
fn a_group_is_cancelled_and_its_failed_rows_retried_together() {
    let baton = Baton::new();
    let file = baton.data_dir().join("items.txt");
    std::fs::write(&file, "a\nb\nc\n").unwrap();
    baton.ok(&[
        "map",
        "g",
        "--lines",
        file.to_str().unwrap(),
        "{{item}}",
        "--join",
        "{{items}}",
    ]);
    let cancelled = baton.json(&["group", "cancel", "g", "--json"]);
    assert_eq!(cancelled["status"], "cancelled", "{cancelled:#}");
    assert_eq!(cancelled["cancelled"], 3);
    assert_eq!(cancelled["join"]["status"], "cancelled");

    let retried = baton.json(&["group", "retry", "g", "--json"]);
    assert_eq!(retried["status"], "running", "{retried:#}");
    assert_eq!(
        (
            retried["cancelled"].as_u64(),
            retried["join"]["status"].as_str()
        ),
        (Some(0), Some("waiting"))
    );
    baton.run_until_idle();
    let done = baton.json(&["group", "show", "g", "--json"]);
    assert_eq!(done["status"], "completed", "{done:#}");
    let refusal = baton.refuse(&["group", "retry", "g"]);
    assert!(
        refusal.message.contains("no failed or cancelled task"),
        "{}",
        refusal.message
    );
}

#[test]
fn bad_map_input_is_one_sentence_naming_the_problem_and_creates_nothing() {
    let baton = Baton::new();
    let dir = baton.data_dir();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let empty = write("empty.txt", "");
    let ragged = write("ragged.csv", "city,question\nParis,why\nRome\n");
    let csv = write("ok.csv", "city,question\nParis,why\n");
    let huge = dir.join("huge.csv");
    // Sparse: ten gigabytes that take no space, refused before being read.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(10 << 30)
        .unwrap();
    let huge = huge.to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["map", "g", "--lines", &empty, "{{item}}"], "no rows"),
        (vec!["map", "g", "--csv", &ragged, "{{row.city}}"], "row 2"),
        (
            vec!["map", "g", "--csv", &csv, "{{row.country}}"],
            "city, question",
        ),
        (vec!["map", "g", "--csv", &huge, "{{row.city}}"], "limit"),
        (
            vec!["map", "g", "--lines", "/nowhere/at/all.txt", "{{item}}"],
            "/nowhere/at/all.txt",
        ),
        (
            vec!["map", "g", "--csv", &csv, "{{row.city}}", "--name", "n"],
            "--name",
        ),
        (
            vec![
                "map",
                "g",
                "--csv",
                &csv,
                "{{row.city}}",
                "--join",
                "{{nope}}",
            ],
            "nope",
        ),
    ];
    for (args, words) in cases {
        let refusal = baton.refuse(&args);
        assert!(
            refusal.message.contains(words),
            "`{}`: {:?} should name {words:?}",
            args.join(" "),
            refusal.message
        );
    }
    assert_eq!(baton.ok(&["group", "list"]), "no groups\n");
    assert!(baton.tasks().is_empty(), "nothing was created");
}

#[test]
fn a_csv_map_exports_its_columns_then_the_answers_in_input_order() {
    let baton = Baton::new();
    let file = baton.data_dir().join("rows.csv");
    std::fs::write(&file, "city,question\nParis,\"why, really\"\nRome,how\n").unwrap();
    baton.ok(&[
        "map",
        "cities",
        "--csv",
        file.to_str().unwrap(),
        "{{row.question}} in {{row.city}}",
    ]);
    baton.run_until_idle();
    let csv = baton.ok(&["group", "export", "cities"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[..3], ["city", "question", "output"], "{csv}");
    let records: Vec<HashMap<String, String>> = reader.deserialize().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["output"], "echo: why, really in Paris");
    assert_eq!(records[1]["city"], "Rome");
    assert_eq!(records[1]["status"], "completed");
}

#[test]
fn a_group_moves_to_another_database_by_export_and_import_and_its_join_still_runs() {
    let from = Baton::new();
    let file = from.data_dir().join("items.txt");
    std::fs::write(&file, "a\nb\n").unwrap();
    from.ok(&[
        "map",
        "moved",
        "--lines",
        file.to_str().unwrap(),
        "{{item}}",
        "--join",
        "{{items}}",
    ]);
    let export = from.data_dir().join("export.json");
    from.ok(&["export", "--out", export.to_str().unwrap()]);

    let to = Baton::new();
    let said = to.ok(&["import", export.to_str().unwrap()]);
    assert!(
        said.contains("imported 3 tasks") && said.contains("imported 1 groups"),
        "{said}"
    );
    let group = to.json(&["group", "show", "moved", "--json"]);
    assert_eq!(
        (group["total"].as_u64(), group["status"].as_str()),
        (Some(2), Some("running"))
    );
    to.run_until_idle();
    let group = to.json(&["group", "show", "moved", "--json"]);
    assert_eq!(group["status"], "completed", "{group:#}");
    assert_eq!(group["join"]["status"], "completed");
    // Importing the same file again leaves the stored group alone.
    let again = to.ok(&["import", export.to_str().unwrap()]);
    assert!(
        again.contains("skipped 1 groups") && again.contains("moved"),
        "{again}"
    );
}

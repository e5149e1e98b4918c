//! Groups (`map`) through the engine: a join that reads every answer in input
//! order, a rate-limited map that takes what the provider's limit allows and no
//! more, and refusals that create nothing.

mod common;

use baton_engine::{
    Clock, EventKind, GroupStatus, JoinOn, Limits, NewJoin, NewMap, NewTask, ProviderKind,
    ProviderSettings, RowSource, TaskError, TaskState,
};
use common::*;
use std::collections::HashSet;

fn lines(n: usize) -> String {
    (1..=n).map(|i| format!("item {i:03}\n")).collect()
}

fn map(name: &str, source: RowSource, data: String, prompt: &str) -> NewMap {
    NewMap {
        name: name.into(),
        source,
        data,
        task: NewTask::new(prompt),
        join: None,
    }
}

#[tokio::test]
async fn a_join_runs_once_every_row_completed_on_their_answers_in_input_order() {
    let t = started_with(|c| c.workers = 8).await;
    let mut rx = t.engine.subscribe();
    let group = t
        .engine
        .map(NewMap {
            join: Some(NewJoin {
                instruction: "Summarise:\n{{items}}".into(),
                on: JoinOn::All,
            }),
            task: NewTask {
                deliver: baton_engine::Deliver {
                    to_file: Some(
                        t.dir
                            .path()
                            .join("summary.md")
                            .to_string_lossy()
                            .into_owned(),
                    ),
                    ..Default::default()
                },
                ..NewTask::new("Answer {{item}}")
            },
            ..map("nightly", RowSource::Lines, lines(40), "")
        })
        .await
        .unwrap();
    assert_eq!((group.total, group.status), (40, GroupStatus::Running));
    let join = group.join.as_ref().unwrap().task_id;
    let done = reach(&mut rx, join, TaskState::Completed).await;
    let prompt = done.effective_prompt.as_deref().unwrap();
    let mut at = 0;
    for i in 1..=40 {
        let needle = format!("echo: Answer item {i:03}");
        let found = prompt[at..]
            .find(&needle)
            .unwrap_or_else(|| panic!("row {i} in order in the join's prompt: {prompt}"));
        at += found + needle.len();
    }
    let group = t.engine.find_group("NIGHTLY").await.unwrap();
    assert_eq!(
        (group.completed, group.status),
        (40, GroupStatus::Completed)
    );
    let rows = t.engine.group_tasks(group.id, 0, 100).await.unwrap();
    let numbers: Vec<u32> = rows
        .iter()
        .map(|r| r.group.as_ref().unwrap().row.unwrap())
        .collect();
    assert_eq!(numbers, (1..=40).collect::<Vec<_>>());
    // The file takes the join's answer; the rows deliver nowhere.
    assert!(rows.iter().all(|r| r.deliver.to_file.is_none()));
    assert!(done.deliver.to_file.is_some());
}

/// 35 rows on a provider allowing 10 requests a minute: starts at 0, 60, 120
/// and 180 s are the soonest the limit allows, so the map takes 180 s (on a
/// paused clock, so the test takes no time). Within 10%, and never sooner.
#[tokio::test(start_paused = true)]
async fn a_rate_limited_map_takes_what_the_providers_rpm_allows_within_ten_percent() {
    let t = started_with(|c| {
        c.clock = Clock::tokio_at("2026-12-04T12:00:00Z".parse().unwrap());
        c.workers = 16;
    })
    .await;
    let mut s = ProviderSettings::new("slow", ProviderKind::Mock, "");
    s.limits = Limits {
        rpm: Some(10),
        ..Limits::default()
    };
    t.engine.save_provider(s, None).await.unwrap();
    let mut rx = t.engine.subscribe();
    let begun = t.engine.now();
    let group = t
        .engine
        .map(NewMap {
            task: NewTask {
                provider: Some("slow".into()),
                ..NewTask::new("Answer {{item}}")
            },
            ..map("limited", RowSource::Lines, lines(35), "")
        })
        .await
        .unwrap();
    let mut ended = HashSet::new();
    let mut starts = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while ended.len() < 35 {
            let event = rx.recv().await.expect("no lag");
            if let EventKind::State { to, task, .. } = event.kind {
                if task.group.as_ref().map(|m| m.group_id) != Some(group.id) {
                    continue;
                }
                match to {
                    TaskState::Running => starts.push(event.at),
                    s if s.is_terminal() => {
                        assert_eq!(s, TaskState::Completed);
                        ended.insert(task.id);
                    }
                    _ => {}
                }
            }
        }
    })
    .await
    .expect("every row ends");
    let wall = (t.engine.now() - begun).num_milliseconds() as f64 / 1000.0;
    let allowed = 180.0;
    eprintln!("rate-limited map: {wall:.3} s of virtual time, {allowed} s allowed");
    assert!(
        wall >= allowed && wall <= allowed * 1.1,
        "the map took {wall:.1} s; the limit allows {allowed} s"
    );
    // No 60 s window ever held more than 10 starts.
    for (i, first) in starts.iter().enumerate() {
        let within = starts[i..]
            .iter()
            .take_while(|s| (**s - *first).num_milliseconds() < 60_000)
            .count();
        assert!(within <= 10, "{within} starts within 60 s of {first}");
    }
}

#[tokio::test]
async fn a_refused_map_names_the_problem_and_creates_nothing() {
    let t = started_with(|_| {}).await;
    let cases = [
        (
            map("empty", RowSource::Lines, "\n\n".into(), "x {{item}}"),
            "rows",
        ),
        (map("", RowSource::Lines, lines(2), "x {{item}}"), "name"),
        (map("p", RowSource::Lines, lines(2), "  "), "prompt"),
        (
            NewMap {
                task: NewTask {
                    max_attempts: Some(0),
                    ..NewTask::new("x {{item}}")
                },
                ..map("attempts", RowSource::Lines, lines(2), "")
            },
            "max_attempts",
        ),
        (
            NewMap {
                join: Some(NewJoin {
                    instruction: " ".into(),
                    on: JoinOn::Completed,
                }),
                ..map("join", RowSource::Lines, lines(2), "x {{item}}")
            },
            "join",
        ),
        (
            NewMap {
                task: NewTask {
                    deliver: baton_engine::Deliver {
                        to_file: Some("/tmp/answers.md".into()),
                        ..Default::default()
                    },
                    ..NewTask::new("x {{item}}")
                },
                ..map("one-file", RowSource::Lines, lines(2), "")
            },
            "to_file",
        ),
    ];
    for (new, field) in cases {
        let name = new.name.clone();
        match t.engine.map(new).await {
            Err(TaskError::Invalid { field: f, message }) => {
                assert_eq!(f, field, "{name}: {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{name}: expected a refusal naming {field}, got {other:?}"),
        }
    }
    t.engine
        .map(map("taken", RowSource::Lines, lines(1), "x {{item}}"))
        .await
        .unwrap();
    let again = t
        .engine
        .map(map("TAKEN", RowSource::Lines, lines(1), "x {{item}}"))
        .await;
    assert!(
        matches!(again, Err(TaskError::Invalid { field: "name", .. })),
        "{again:?}"
    );
    assert_eq!(t.engine.groups().await.unwrap().len(), 1);
    assert_eq!(
        t.engine.counts().await.unwrap().total(),
        1,
        "only the one map's row"
    );
}

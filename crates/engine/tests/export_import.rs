//! Export and import: the versioned JSON file, validated whole before anything is written.

mod common;

use baton_engine::{ImportError, NewTask, TaskState, EXPORT_FORMAT_VERSION};
use common::*;

#[tokio::test(start_paused = true)]
async fn export_then_import_round_trips_every_task_and_its_history() {
    let source = started_with(|_| {}).await;
    let mut rx = source.engine.subscribe();
    let done = source.engine.submit(task("one", "fail=1")).await.unwrap();
    reach(&mut rx, done.id, TaskState::Completed).await;
    let child = source
        .engine
        .chain(
            done.id,
            NewTask {
                start_at: Some(source.engine.now() + chrono::Duration::hours(2)),
                ..task("later: {{parent.output}}", "echo")
            },
        )
        .await
        .unwrap();
    assert_eq!(child.status, TaskState::Scheduled);
    let exported = source.engine.export().await.unwrap();
    assert_eq!(exported.format_version, EXPORT_FORMAT_VERSION);
    let text = serde_json::to_string_pretty(&exported).unwrap();

    let target = open_with(|_| {}).await;
    let report = target.engine.import(&text).await.unwrap();
    assert_eq!(report.imported, 2);
    assert!(report.skipped_existing.is_empty());
    let imported = target.engine.export().await.unwrap();
    assert_eq!(imported.tasks, exported.tasks);
    let counts = target.engine.counts().await.unwrap();
    assert_eq!((counts.completed, counts.scheduled), (1, 1));

    // The same file again: every id is reported, nothing is overwritten.
    let again = target.engine.import(&text).await.unwrap();
    assert_eq!(again.imported, 0);
    assert_eq!(again.skipped_existing, vec![done.id, child.id]);
    assert_eq!(target.engine.export().await.unwrap().tasks, exported.tasks);
}

#[tokio::test(start_paused = true)]
async fn an_imported_waiting_child_of_a_completed_parent_is_released() {
    let source = open_with(|_| {}).await;
    let parent = source.engine.submit(task("p", "echo")).await.unwrap();
    let child = source
        .engine
        .chain(parent.id, task("c", "echo"))
        .await
        .unwrap();
    let mut file = source.engine.export().await.unwrap();
    // Make the parent look completed in the file, as if exported mid-chain and
    // finished elsewhere.
    let p = file.tasks.iter_mut().find(|t| t.id == parent.id).unwrap();
    p.status = TaskState::Completed;
    p.output = Some("done".into());
    let text = serde_json::to_string(&file).unwrap();

    let target = open_with(|_| {}).await;
    target.engine.import(&text).await.unwrap();
    let released = target.engine.get(child.id).await.unwrap();
    assert_eq!(released.status, TaskState::Queued);
    assert_eq!(released.effective_prompt.as_deref(), Some("done\n\nc"));
}

#[tokio::test(start_paused = true)]
async fn an_import_that_is_not_json_or_from_the_future_is_refused() {
    let t = open_with(|_| {}).await;
    let err = t.engine.import("{ not json").await.unwrap_err();
    assert_eq!(err.code(), "import_not_json");
    let err = t
        .engine
        .import(r#"{"format_version": 99, "exported_at": "2026-01-01T00:00:00Z", "tasks": []}"#)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImportError::FutureVersion { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("format_version 99"), "{err}");
    let err = t.engine.import(r#"[1, 2]"#).await.unwrap_err();
    assert_eq!(err.code(), "import_wrong_shape");
    assert_eq!(t.engine.counts().await.unwrap().total(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_import_with_one_bad_record_writes_nothing_and_names_each_bad_record() {
    let source = open_with(|_| {}).await;
    for i in 0..3 {
        source
            .engine
            .submit(task(&format!("t{i}"), "echo"))
            .await
            .unwrap();
    }
    let mut file: serde_json::Value =
        serde_json::to_value(source.engine.export().await.unwrap()).unwrap();
    file["tasks"][1]["max_attempts"] = 0.into();
    file["tasks"][2]["prompt"] = "  ".into();
    let text = file.to_string();

    let target = open_with(|_| {}).await;
    let err = target.engine.import(&text).await.unwrap_err();
    let ImportError::BadRecords(bad) = &err else {
        panic!("expected bad records, got {err:?}");
    };
    assert_eq!(bad.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 2]);
    let text = err.to_string();
    assert!(
        text.contains("record 1") && text.contains("between 1 and 20"),
        "{text}"
    );
    assert!(
        text.contains("record 2") && text.contains("the prompt is empty"),
        "{text}"
    );
    assert_eq!(target.engine.counts().await.unwrap().total(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_import_whose_parent_is_missing_everywhere_writes_nothing() {
    let source = open_with(|_| {}).await;
    let parent = source.engine.submit(task("p", "echo")).await.unwrap();
    source
        .engine
        .chain(parent.id, task("c", "echo"))
        .await
        .unwrap();
    let mut file = source.engine.export().await.unwrap();
    file.tasks.retain(|t| t.id != parent.id);
    let target = open_with(|_| {}).await;
    let err = target
        .engine
        .import(&serde_json::to_string(&file).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("neither in the file nor stored"),
        "{err}"
    );
    assert_eq!(target.engine.counts().await.unwrap().total(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_import_whose_parents_form_a_loop_of_any_length_writes_nothing_and_names_each_record() {
    let source = open_with(|_| {}).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            source
                .engine
                .submit(task(&format!("t{i}"), "echo"))
                .await
                .unwrap()
                .id,
        );
    }
    let file = source.engine.export().await.unwrap();
    let target = open_with(|_| {}).await;
    // Two records naming each other, then three in a ring; the fourth is innocent.
    for ring in [&ids[..2], &ids[..3]] {
        let mut file = file.clone();
        for (k, id) in ring.iter().enumerate() {
            let parent = ring[(k + 1) % ring.len()];
            let t = file.tasks.iter_mut().find(|t| t.id == *id).unwrap();
            t.parent_task_id = Some(parent);
            t.status = TaskState::Waiting;
        }
        let err = target
            .engine
            .import(&serde_json::to_string(&file).unwrap())
            .await
            .unwrap_err();
        let ImportError::BadRecords(bad) = &err else {
            panic!("expected bad records, got {err:?}");
        };
        let mut named: Vec<_> = bad.iter().filter_map(|r| r.id).collect();
        named.sort();
        let mut want = ring.to_vec();
        want.sort();
        assert_eq!(named, want, "{err}");
        assert!(err.to_string().contains("loops back"), "{err}");
        assert_eq!(target.engine.counts().await.unwrap().total(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn an_import_with_a_misspelt_field_writes_nothing_and_names_the_field() {
    let source = open_with(|_| {}).await;
    source.engine.submit(task("t", "echo")).await.unwrap();
    let file: serde_json::Value =
        serde_json::to_value(source.engine.export().await.unwrap()).unwrap();
    let target = open_with(|_| {}).await;

    let mut record = file.clone();
    record["tasks"][0]["max_attempt"] = 5.into();
    let err = target.engine.import(&record.to_string()).await.unwrap_err();
    assert_eq!(err.code(), "import_bad_records", "{err}");
    assert!(
        err.to_string().contains("unknown field `max_attempt`"),
        "{err}"
    );

    let mut top = file.clone();
    top["schedule"] = serde_json::json!([]);
    let err = target.engine.import(&top.to_string()).await.unwrap_err();
    assert_eq!(err.code(), "import_wrong_shape", "{err}");
    assert!(
        err.to_string().contains("unknown field `schedule`"),
        "{err}"
    );
    assert_eq!(target.engine.counts().await.unwrap().total(), 0);
}

/// `export_to` into a file, read back as text.
async fn streamed(engine: &baton_engine::Engine) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    let file = std::fs::File::create(&path).unwrap();
    engine.export_to(file).await.unwrap();
    std::fs::read_to_string(&path).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_streamed_export_is_the_same_text_as_the_whole_file_serialised() {
    let t = started_with(|_| {}).await;
    // Empty lists first: the streamed array has no length up front.
    let text = streamed(&t.engine).await;
    let mut whole = t.engine.export().await.unwrap();
    whole.exported_at = serde_json::from_str::<baton_engine::ExportFile>(&text)
        .unwrap()
        .exported_at;
    assert_eq!(text, serde_json::to_string_pretty(&whole).unwrap() + "\n");

    let mut rx = t.engine.subscribe();
    let done = t.engine.submit(task("one", "fail=1")).await.unwrap();
    reach(&mut rx, done.id, TaskState::Completed).await;
    let then = t.engine.chain(done.id, task("then", "echo")).await.unwrap();
    let two = t.engine.submit(task("two", "echo")).await.unwrap();
    // Both settled, so the two exports below read the same state.
    reach_all(
        &mut rx,
        vec![
            (then.id, TaskState::Completed),
            (two.id, TaskState::Completed),
        ],
    )
    .await;
    let text = streamed(&t.engine).await;
    let mut whole = t.engine.export().await.unwrap();
    assert_eq!(whole.tasks.len(), 3);
    whole.exported_at = serde_json::from_str::<baton_engine::ExportFile>(&text)
        .unwrap()
        .exported_at;
    assert_eq!(text, serde_json::to_string_pretty(&whole).unwrap() + "\n");
}

/// A file written before the renames: a task's start time as `scheduled_for`, a
/// schedule's count and active tasks as `runs` and `active_run`.
#[tokio::test(start_paused = true)]
async fn a_file_with_the_old_field_names_imports_with_its_start_time_and_fires() {
    let source = open_with(|_| {}).await;
    let at = source.engine.now() + chrono::Duration::hours(3);
    let later = source
        .engine
        .submit(NewTask {
            start_at: Some(at),
            ..task("later", "echo")
        })
        .await
        .unwrap();
    let s = source
        .engine
        .add_schedule(baton_engine::NewSchedule::new(
            "daily",
            "0 9 * * *",
            task("daily prompt", "echo"),
        ))
        .await
        .unwrap();
    let (_, fired) = source.engine.fire_schedule_now(s.id).await.unwrap();
    let mut file = serde_json::to_value(source.engine.export().await.unwrap()).unwrap();
    let rename = |record: &mut serde_json::Value, new: &str, old: &str| {
        let fields = record.as_object_mut().unwrap();
        let value = fields.remove(new).unwrap();
        fields.insert(old.into(), value);
    };
    for t in file["tasks"].as_array_mut().unwrap() {
        rename(t, "start_at", "scheduled_for");
    }
    let schedule = &mut file["schedules"][0];
    rename(schedule, "fires", "runs");
    rename(schedule, "active_fire", "active_run");
    let text = file.to_string();
    assert!(!text.contains("\"start_at\"") && !text.contains("\"fires\""));

    let target = open_with(|_| {}).await;
    let report = target.engine.import(&text).await.unwrap();
    assert_eq!((report.imported, report.schedules_imported), (2, 1));
    let imported = target.engine.get(later.id).await.unwrap();
    assert_eq!(imported.start_at, Some(at));
    assert_eq!(imported.status, TaskState::Scheduled);
    let schedule = target.engine.schedule(s.id).await.unwrap();
    assert_eq!(schedule.fires, 1);
    assert_eq!(schedule.active_fire, vec![fired[0].id]);
}

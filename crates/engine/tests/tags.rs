//! Tags: validated and stored with the task, inherited by chained tasks and a
//! schedule's tasks, and a filter of the store's list and the catalog.

mod common;

use baton_engine::{
    Catalog, CatalogQuery, Clock, ListQuery, NewSchedule, NewTask, TaskError, TaskFilter, TaskState,
};
use common::*;

fn tagged(prompt: &str, tags: &[&str]) -> NewTask {
    NewTask {
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..task(prompt, "echo")
    }
}

fn strings(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| t.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn tags_are_stored_lowercased_once_each() {
    let t = open_with(|_| {}).await;
    let created = t
        .engine
        .submit(tagged("p", &["Ops", "weekly", "ops"]))
        .await
        .unwrap();
    assert_eq!(created.tags, strings(&["ops", "weekly"]));
    assert_eq!(t.engine.get(created.id).await.unwrap().tags, created.tags);
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_bad_tag_is_refused_with_one_sentence_and_nothing_is_stored() {
    let t = open_with(|_| {}).await;
    for (tags, says) in [
        (vec!["has space".to_string()], "only letters, digits"),
        (vec![String::new()], "a tag is empty"),
        (vec!["x".repeat(33)], "longer than 32 characters"),
        (
            (0..17).map(|i| format!("t{i}")).collect(),
            "at most 16 tags",
        ),
    ] {
        let err = t
            .engine
            .submit(NewTask {
                tags,
                ..task("p", "echo")
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TaskError::Invalid { field, .. } if *field == "tags"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(says) && !text.contains('\n'), "{text}");
    }
    assert_eq!(t.engine.counts().await.unwrap().total(), 0);
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_chained_task_carries_its_parents_tags_and_its_own() {
    let t = open_with(|_| {}).await;
    let parent = t.engine.submit(tagged("p", &["ops"])).await.unwrap();
    let child = t
        .engine
        .chain(parent.id, tagged("c", &["weekly", "OPS"]))
        .await
        .unwrap();
    assert_eq!(child.tags, strings(&["ops", "weekly"]));
    let bare = t.engine.chain(parent.id, task("c2", "echo")).await.unwrap();
    assert_eq!(bare.tags, strings(&["ops"]));
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_chain_that_would_carry_too_many_tags_is_refused() {
    let t = open_with(|_| {}).await;
    let eight: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let parent = t
        .engine
        .submit(NewTask {
            tags: eight,
            ..task("p", "echo")
        })
        .await
        .unwrap();
    let err = t
        .engine
        .chain(
            parent.id,
            NewTask {
                tags: (0..10).map(|i| format!("c{i}")).collect(),
                ..task("c", "echo")
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 16 tags"), "{err}");
    assert_eq!(t.engine.counts().await.unwrap().total(), 1);
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn every_task_of_a_schedules_fire_carries_the_template_tags() {
    let t =
        started_with(|c| c.clock = Clock::tokio_at("2026-06-01T10:30:00Z".parse().unwrap())).await;
    let mut new = NewSchedule::new("report", "0 9 * * *", tagged("p", &["Weekly"]));
    new.follow_ups = vec!["summarise".into()];
    let s = t.engine.add_schedule(new).await.unwrap();
    assert_eq!(s.template.tags, strings(&["weekly"]));
    let (_, tasks) = t.engine.fire_schedule_now(s.id).await.unwrap();
    assert_eq!(tasks.len(), 2);
    for task in &tasks {
        assert_eq!(task.tags, strings(&["weekly"]), "{}", task.name);
    }
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_list_and_the_catalog_filter_by_tag() {
    let t = open_with(|_| {}).await;
    let ops = t.engine.submit(tagged("a", &["ops"])).await.unwrap();
    t.engine.submit(tagged("b", &["weekly"])).await.unwrap();
    t.engine.submit(task("c", "echo")).await.unwrap();
    let both = t
        .engine
        .submit(tagged("d", &["weekly", "ops"]))
        .await
        .unwrap();
    let listed = |status| ListQuery {
        filter: TaskFilter {
            tag: Some("ops".into()),
            status,
            ..TaskFilter::default()
        },
        limit: 10,
        ..ListQuery::default()
    };
    let ids = |tasks: Vec<baton_engine::Task>| tasks.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        ids(t.engine.list(listed(None)).await.unwrap()),
        [both.id, ops.id]
    );
    assert_eq!(
        ids(t
            .engine
            .list(listed(Some(TaskState::Queued)))
            .await
            .unwrap()),
        [both.id, ops.id]
    );
    let catalog = Catalog::load(&t.engine).await.unwrap();
    let page = catalog.query(&CatalogQuery {
        tag: Some(" OPS ".into()),
        limit: 10,
        ..CatalogQuery::default()
    });
    assert_eq!(page.total, 2);
    assert_eq!(page.rows[0].tags, strings(&["weekly", "ops"]));
    // Before the first load, a tag filter waits for the catalog rather than
    // answering from the unfiltered store pages.
    let fresh = Catalog::empty();
    let weekly = CatalogQuery {
        tag: Some("weekly".into()),
        limit: 10,
        ..CatalogQuery::default()
    };
    let (answer, _) = tokio::join!(fresh.query_now(&t.engine, &weekly), fresh.reload(&t.engine));
    assert_eq!(answer.unwrap().total, 2);
    t.engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn tags_survive_export_and_import_and_a_file_with_unfolded_tags_is_refused_whole() {
    let source = open_with(|_| {}).await;
    source
        .engine
        .submit(tagged("p", &["ops", "weekly"]))
        .await
        .unwrap();
    let s = source
        .engine
        .add_schedule(NewSchedule::new(
            "report",
            "0 9 * * *",
            tagged("p", &["ops"]),
        ))
        .await
        .unwrap();
    let text = serde_json::to_string(&source.engine.export().await.unwrap()).unwrap();

    let target = open_with(|_| {}).await;
    target.engine.import(&text).await.unwrap();
    let file = target.engine.export().await.unwrap();
    assert_eq!(file.tasks[0].tags, strings(&["ops", "weekly"]));
    assert_eq!(
        target.engine.schedule(s.id).await.unwrap().template.tags,
        strings(&["ops"])
    );

    let bad = text.replace(r#""weekly""#, r#""Weekly""#);
    let other = open_with(|_| {}).await;
    let err = other.engine.import(&bad).await.unwrap_err();
    assert!(err.to_string().contains("tags"), "{err}");
    assert_eq!(other.engine.counts().await.unwrap().total(), 0);
    for t in [source, target, other] {
        t.engine.shutdown().await;
    }
}

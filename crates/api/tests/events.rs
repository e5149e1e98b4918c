//! `GET /events`: every event, in order, resumable with `Last-Event-ID`.

mod common;

use baton_api::wire::{StreamEvent, StreamEventKind};
use common::{Api, Events};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Submits `n` quick tasks and returns their ids.
async fn submit_quick(api: &Api, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let task = api
            .submit(json!({"prompt": format!("task {i}"), "model": "stream=2"}))
            .await;
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Reads events until every id in `ids` has completed.
async fn until_all_completed(events: &mut Events, ids: &[String]) -> Vec<(u64, Value)> {
    let mut left: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut seen = Vec::new();
    while !left.is_empty() {
        let (id, event) = events.next_task_event().await;
        if event["type"] == "state" && event["to"] == "completed" {
            left.remove(event["task_id"].as_str().unwrap());
        }
        seen.push((id, event));
    }
    seen
}

#[tokio::test]
async fn every_event_is_delivered_once_in_order() {
    let api = Api::start().await;
    let mut engine_events = api.engine.subscribe();
    let mut events = api.events(None).await;
    let ids = submit_quick(&api, 20).await;
    let seen = until_all_completed(&mut events, &ids).await;

    for pair in seen.windows(2) {
        assert_eq!(
            pair[1].0,
            pair[0].0 + 1,
            "ids are consecutive: nothing skipped"
        );
    }
    // The same events as an in-process subscriber, in the same order.
    let mut expected = Vec::new();
    while expected.len() < seen.len() {
        expected.push(serde_json::to_value(engine_events.recv().await.unwrap()).unwrap());
    }
    let got: Vec<Value> = seen.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(got, expected);
    // Per task: created queued, running, two chunks, completed.
    let mut per_task: HashMap<&str, Vec<String>> = HashMap::new();
    for (_, e) in &seen {
        let step = match e["type"].as_str().unwrap() {
            "state" => e["to"].as_str().unwrap().to_string(),
            other => other.to_string(),
        };
        per_task
            .entry(e["task_id"].as_str().unwrap())
            .or_default()
            .push(step);
    }
    for id in &ids {
        assert_eq!(
            per_task[id.as_str()],
            ["queued", "running", "output", "output", "completed"]
        );
    }
    // The data is the documented shape.
    for (_, e) in &seen {
        let parsed: StreamEvent = serde_json::from_value(e.clone()).unwrap();
        if let StreamEventKind::State { task, .. } = parsed.kind {
            assert_eq!(task.id.to_string(), e["task_id"]);
        }
    }
    api.stop().await;
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_resumes_right_after_it() {
    let api = Api::start().await;
    let mut watcher = api.events(None).await;
    let mut first = api.events(None).await;
    let ids = submit_quick(&api, 3).await;
    let early = until_all_completed(&mut first, &ids).await;
    let last = early.last().unwrap().0;
    drop(first);

    // Events happen while nobody from `first` listens.
    let more = submit_quick(&api, 3).await;
    let mut everything = until_all_completed(&mut watcher, &ids).await;
    everything.extend(until_all_completed(&mut watcher, &more).await);

    let mut resumed = api.events(Some(&last.to_string())).await;
    let after = until_all_completed(&mut resumed, &more).await;
    let expected: Vec<_> = everything
        .into_iter()
        .filter(|(id, _)| *id > last)
        .collect();
    assert_eq!(
        after, expected,
        "exactly the events after Last-Event-ID, in order"
    );
    api.stop().await;
}

#[tokio::test]
async fn an_id_older_than_the_events_kept_gets_a_resync_first() {
    let api = Api::start_with(|o| o.replay_events = 4).await;
    let mut watcher = api.events(None).await;
    let ids = submit_quick(&api, 3).await;
    let all = until_all_completed(&mut watcher, &ids).await;
    assert!(all.len() > 4);

    let mut resumed = api.events(Some("1")).await;
    let notice = resumed.next().await.unwrap();
    assert_eq!(notice.event, "resync");
    let data: Value = serde_json::from_str(&notice.data).unwrap();
    assert_eq!(data["type"], "resync");
    // Then the oldest events still held, up to the newest.
    let held: Vec<u64> = all.iter().rev().take(4).rev().map(|(id, _)| *id).collect();
    for want in held {
        assert_eq!(resumed.next_task_event().await.0, want);
    }

    // An id from another run (larger than any given) gets the same notice.
    let mut foreign = api.events(Some("999999")).await;
    assert_eq!(foreign.next().await.unwrap().event, "resync");
    let mut garbage = api.events(Some("abc")).await;
    assert_eq!(garbage.next().await.unwrap().event, "resync");
    api.stop().await;
}

#[tokio::test]
async fn a_shutdown_ends_every_stream_with_a_shutdown_event() {
    let api = Api::start().await;
    let mut a = api.events(None).await;
    let mut b = api.events(None).await;
    api.api.shutdown().await;
    for stream in [&mut a, &mut b] {
        let mut last = None;
        while let Some(message) = stream.next().await {
            last = Some(message);
        }
        assert_eq!(last.unwrap().event, "shutdown");
    }
    api.engine.shutdown().await;
}

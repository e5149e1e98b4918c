//! Idempotency keys: a retried create creates once, durably, for a day.

mod common;

use baton_engine::{Engine, IdempotencyKey, TaskError};
use common::*;
use std::time::Duration;

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::new(text).unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_same_key_and_request_answer_the_first_task_even_after_a_restart() {
    let t = open_with(|_| {}).await;
    let first = t
        .engine
        .submit_once(task("hi", "echo"), key("k-1"))
        .await
        .unwrap();
    assert!(!first.replayed);
    let again = t
        .engine
        .submit_once(task("hi", "echo"), key("k-1"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.task.id, first.task.id);
    let parent = first.task.id;
    let child = t
        .engine
        .chain_once(parent, task("c", "echo"), key("k-2"))
        .await
        .unwrap();
    let child_again = t
        .engine
        .chain_once(parent, task("c", "echo"), key("k-2"))
        .await
        .unwrap();
    assert_eq!(
        (child_again.task.id, child_again.replayed),
        (child.task.id, true)
    );
    assert_eq!(t.engine.counts().await.unwrap().total(), 2);

    // The key was committed with the task: a restarted engine still knows it.
    t.engine.shutdown().await;
    let reopened = Engine::open(t.config.clone()).await.unwrap();
    let after = reopened
        .submit_once(task("hi", "echo"), key("k-1"))
        .await
        .unwrap();
    assert_eq!((after.task.id, after.replayed), (first.task.id, true));
    assert_eq!(reopened.counts().await.unwrap().total(), 2);
    reopened.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_same_key_with_another_request_is_refused_and_creates_nothing() {
    let t = open_with(|_| {}).await;
    t.engine
        .submit_once(task("hi", "echo"), key("k"))
        .await
        .unwrap();
    let err = t
        .engine
        .submit_once(task("other", "echo"), key("k"))
        .await
        .unwrap_err();
    assert!(matches!(err, TaskError::IdempotencyKeyReused(_)), "{err:?}");
    assert_eq!(err.code(), "idempotency_key_reused");
    assert!(err.to_string().contains("'k'"), "{err}");
    assert_eq!(t.engine.counts().await.unwrap().total(), 1);
    assert!(IdempotencyKey::new("").is_err());
    assert!(IdempotencyKey::new("has space").is_err());
    assert!(IdempotencyKey::new("x".repeat(256)).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_key_is_forgotten_after_its_retention() {
    let t = open_with(|_| {}).await;
    let first = t
        .engine
        .submit_once(task("hi", "echo"), key("old"))
        .await
        .unwrap();
    tokio::time::advance(baton_engine::IDEMPOTENCY_RETENTION + Duration::from_secs(60)).await;
    // Any keyed write forgets expired keys.
    t.engine
        .submit_once(task("x", "echo"), key("new"))
        .await
        .unwrap();
    let reused = t
        .engine
        .submit_once(task("other", "echo"), key("old"))
        .await
        .unwrap();
    assert!(!reused.replayed);
    assert_ne!(reused.task.id, first.task.id);
}

#[tokio::test(start_paused = true)]
async fn a_schedule_added_with_a_key_is_added_once() {
    let t = open_with(|_| {}).await;
    let new = || baton_engine::NewSchedule::new("daily", "0 9 * * *", task("hi", "echo"));
    let (first, replayed) = t.engine.add_schedule_once(new(), key("s-1")).await.unwrap();
    assert!(!replayed);
    let (again, replayed) = t.engine.add_schedule_once(new(), key("s-1")).await.unwrap();
    assert!(replayed);
    assert_eq!(again.id, first.id);
    let mut other = new();
    other.cron = "0 10 * * *".into();
    let err = t
        .engine
        .add_schedule_once(other, key("s-1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "idempotency_key_reused");
    assert_eq!(t.engine.schedules().await.unwrap().len(), 1);
}

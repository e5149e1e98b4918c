//! Deliveries against a real webhook receiver and real files, on the real
//! clock (HTTP cannot run on tokio's paused one). Waits are on events and on
//! what the receiver saw, never on sleeps.

mod common;

use baton_engine::{
    Deliver, Delivery, DeliveryStatus, DeliveryTarget, Event, EventKind, NewSchedule, NewTask,
    TaskId, TaskState,
};
use common::*;
use fake_llm::webhook::WebhookReceiver;
use hmac::{Hmac, Mac};
use std::time::Duration;

const SECRET_VAR: &str = "BATON_TEST_WEBHOOK_SECRET";
const SECRET: &str = "correct horse battery staple";
const WITHIN: Duration = Duration::from_secs(60);

fn verify(signature: Option<&str>, body: &[u8]) -> bool {
    let Some(hex) = signature.and_then(|s| s.strip_prefix("sha256=")) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex == expected
}

/// Waits for a delivery of `task` to reach `status`.
async fn delivery_reaches(
    rx: &mut baton_engine::Subscription,
    task: TaskId,
    status: DeliveryStatus,
) -> Delivery {
    tokio::time::timeout(WITHIN, async {
        loop {
            if let Event {
                kind: EventKind::Delivery { delivery },
                ..
            } = rx.recv().await.expect("event stream ended or lagged")
            {
                if delivery.task_id == task && delivery.status == status {
                    return (*delivery).clone();
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no delivery of {task} became {status:?}"))
}

fn hook(url: &str) -> Deliver {
    Deliver {
        webhook: Some(url.into()),
        webhook_secret_env: Some(SECRET_VAR.into()),
        ..Deliver::default()
    }
}

#[tokio::test]
async fn a_refused_webhook_is_retried_with_the_same_key_and_signature_until_it_is_sent() {
    // Set before the engine starts; no other test of this file reads it.
    std::env::set_var(SECRET_VAR, SECRET);
    let receiver = WebhookReceiver::start().await;
    receiver.refuse_for(503, Duration::from_millis(2500));
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            deliver: hook(&receiver.url()),
            ..task("report", "echo")
        })
        .await
        .unwrap();
    let done = reach(&mut rx, task.id, TaskState::Completed).await;
    let sent = delivery_reaches(&mut rx, task.id, DeliveryStatus::Sent).await;
    assert!(sent.attempts >= 2, "refused first: {sent:?}");
    let got = receiver.received();
    assert_eq!(got.len() as u32, sent.attempts);
    assert!(got
        .iter()
        .all(|r| r.idempotency_key.as_deref() == Some(&*format!("{}:1", task.id))));
    assert!(got.iter().all(|r| verify(r.signature.as_deref(), &r.body)));
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "the same bytes every time"
    );
    let body = got.last().unwrap().json();
    assert_eq!(body["task_id"], task.id.to_string());
    assert_eq!(body["status"], "completed");
    assert_eq!(body["output"], "echo: report");
    assert_eq!(body["attempt"], 1);
    assert_eq!(
        body["run"], 1,
        "the attempt under its old name, for receivers written before"
    );
    // The delivery never touched the task's own outcome.
    assert_eq!(t.engine.get(task.id).await.unwrap(), *done);
}

#[tokio::test]
async fn a_refusal_that_another_try_cannot_fix_fails_at_once_and_a_resend_sends_it() {
    let receiver = WebhookReceiver::start().await;
    receiver.refuse_for(400, Duration::from_secs(3600));
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            deliver: Deliver {
                webhook: Some(receiver.url()),
                ..Deliver::default()
            },
            ..task("x", "echo")
        })
        .await
        .unwrap();
    let failed = delivery_reaches(&mut rx, task.id, DeliveryStatus::Failed).await;
    assert_eq!(failed.attempts, 1);
    assert_eq!(
        failed.error.as_deref(),
        Some("the receiver answered 400 Bad Request")
    );
    receiver.refuse_for(400, Duration::ZERO);
    let resent = t.engine.resend_delivery(failed.id).await.unwrap();
    assert_eq!(
        (resent.status, resent.attempts),
        (DeliveryStatus::Pending, 0)
    );
    let sent = delivery_reaches(&mut rx, task.id, DeliveryStatus::Sent).await;
    assert_eq!((sent.id, sent.attempts), (failed.id, 1));
    let keys: Vec<_> = receiver
        .received()
        .into_iter()
        .map(|r| r.idempotency_key.unwrap())
        .collect();
    assert_eq!(keys, vec![format!("{}:1", task.id); 2]);
    let listed = t.engine.deliveries(task.id).await.unwrap();
    assert_eq!(listed, vec![sent]);
}

#[tokio::test]
async fn a_missing_secret_fails_the_delivery_naming_the_variable_not_the_task() {
    let receiver = WebhookReceiver::start().await;
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            deliver: Deliver {
                webhook: Some(receiver.url()),
                webhook_secret_env: Some("BATON_TEST_UNSET_SECRET_VAR".into()),
                ..Deliver::default()
            },
            ..task("x", "echo")
        })
        .await
        .unwrap();
    let failed = delivery_reaches(&mut rx, task.id, DeliveryStatus::Failed).await;
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("BATON_TEST_UNSET_SECRET_VAR that holds the webhook's secret is not set"),
        "{failed:?}"
    );
    assert!(receiver.received().is_empty(), "nothing unsigned was sent");
    assert_eq!(
        t.engine.get(task.id).await.unwrap().status,
        TaskState::Completed
    );
}

#[tokio::test]
async fn a_schedules_file_delivery_binds_its_path_and_skips_an_unchanged_answer() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("reports");
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let template = format!("{}/{{{{schedule.name}}}}/{{{{date}}}}.md", folder.display());
    let mut new = NewSchedule::new(
        "../daily",
        "0 9 * * *",
        NewTask {
            deliver: Deliver {
                to_file: Some(template),
                only_if_changed: true,
                ..Deliver::default()
            },
            ..task("same answer", "echo")
        },
    );
    new.timezone = Some("Europe/Paris".into());
    let s = t.engine.add_schedule(new).await.unwrap();
    let (_, first) = t.engine.fire_schedule_now(s.id).await.unwrap();
    let sent = delivery_reaches(&mut rx, first[0].id, DeliveryStatus::Sent).await;
    let DeliveryTarget::File { path } = &sent.target else {
        panic!("{sent:?}")
    };
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y-%m-%d");
    // The schedule's name cannot climb out of the folder.
    assert_eq!(*path, format!("{}/..-daily/{today}.md", folder.display()));
    assert_eq!(std::fs::read_to_string(path).unwrap(), "echo: same answer");
    let (_, second) = t.engine.fire_schedule_now(s.id).await.unwrap();
    let skipped = delivery_reaches(&mut rx, second[0].id, DeliveryStatus::Skipped).await;
    assert_eq!(
        skipped.error.as_deref(),
        Some("the answer is the same as the last one delivered")
    );
}

#[tokio::test]
async fn a_webhook_secret_kept_in_the_keychain_signs_the_post_or_is_refused_clearly() {
    let receiver = WebhookReceiver::start().await;
    // A URL of its own: the keychain entry is this test's alone.
    let url = format!("{}?run={}", receiver.url(), std::process::id());
    let t = started_with(|_| {}).await;
    let secret = baton_engine::ApiKey::new(SECRET).unwrap();
    match t.engine.store_webhook_secret(&url, secret).await {
        Ok(()) => {
            let mut rx = t.engine.subscribe();
            let task = t
                .engine
                .submit(NewTask {
                    deliver: Deliver {
                        webhook: Some(url.clone()),
                        webhook_secret_keychain: true,
                        ..Deliver::default()
                    },
                    ..task("x", "echo")
                })
                .await
                .unwrap();
            delivery_reaches(&mut rx, task.id, DeliveryStatus::Sent).await;
            let got = receiver.received();
            assert!(verify(got[0].signature.as_deref(), &got[0].body));
        }
        // No Secret Service on this machine (a headless CI box): one sentence,
        // naming the way out, and nothing stored.
        Err(e) => {
            assert_eq!(e.code(), "invalid_input", "{e}");
            let text = e.to_string();
            assert!(text.contains("no OS keychain is available here"), "{text}");
            assert!(text.contains("environment variable"), "{text}");
            assert!(!text.contains(SECRET));
        }
    }
}

//! Structured output: answers checked against the task's output schema, over
//! real HTTP against the fake server in both protocols (and with the mock).
//! A task never completes with output that fails its schema; an answer that
//! does fails its attempt as `schema_mismatch`, and the retry's prompt carries
//! the answer and the errors.

mod common;

use baton_engine::{
    AttemptOutcome, ErrorClass, ListQuery, NewSchedule, NewTask, ProviderKind, ProviderSettings,
    TaskError, TaskState,
};
use common::*;
use fake_llm::{FakeServer, Protocol, Reply};
use serde_json::{json, Value};

fn settings(server: &FakeServer, kind: ProviderKind) -> ProviderSettings {
    let base = match kind {
        ProviderKind::OpenaiCompatible => format!("{}/v1", server.url()),
        _ => server.url(),
    };
    let mut s = ProviderSettings::new("fake", kind, base);
    s.model = Some("fake-model".into());
    s
}

fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["summary", "score"],
        "properties": {
            "summary": {"type": "string", "minLength": 1},
            "score": {"type": "integer", "minimum": 0},
        },
        "additionalProperties": false,
    })
}

fn structured(prompt: &str, model: &str) -> NewTask {
    NewTask {
        prompt: prompt.into(),
        provider: Some("fake".into()),
        model: Some(model.into()),
        output_schema: Some(schema()),
        ..NewTask::default()
    }
}

/// The text of a recorded request's last user message.
fn user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn every_completed_answer_matches_its_schema_after_a_mismatch_whose_retry_prompt_carried_the_errors(
) {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    for kind in [ProviderKind::OpenaiCompatible, ProviderKind::Anthropic] {
        for (directive, says) in [
            ("invalid-json-first", "not valid JSON"),
            ("mismatch-first", "at /summary"),
        ] {
            let server = FakeServer::start(Reply::text(&["free text"])).await;
            let t = started_with(|_| {}).await;
            t.engine
                .save_provider(settings(&server, kind), None)
                .await
                .unwrap();
            let mut ids = Vec::new();
            for i in 0..24 {
                let task = t
                    .engine
                    .submit(structured(
                        &format!("Summarise report {i}."),
                        &format!("fake-model {directive}"),
                    ))
                    .await
                    .unwrap();
                ids.push(task.id);
            }
            idle(&t.engine).await;
            for id in &ids {
                let task = t.engine.get(*id).await.unwrap();
                assert_eq!(task.status, TaskState::Completed, "{kind} {directive}");
                let value = task
                    .output_json
                    .clone()
                    .expect("a completed task has output_json");
                assert!(validator.is_valid(&value), "{kind}: {value}");
                assert_eq!(
                    serde_json::from_str::<Value>(task.output.as_deref().unwrap()).unwrap(),
                    value
                );
                assert_eq!(task.attempts, 2, "the mismatch counted as an attempt");
                let first = &task.history[0];
                assert_eq!(first.outcome, Some(AttemptOutcome::Retrying));
                assert_eq!(
                    first.failure.as_ref().map(|f| f.class),
                    Some(ErrorClass::SchemaMismatch)
                );
                let error = first.error.clone().unwrap();
                assert!(error.contains(says), "{kind} {directive}: {error}");
                assert!(first.partial_output.is_some(), "the invalid answer is kept");
                // The retry's prompt, as sent and as recorded, carries the errors.
                let sent = task.effective_prompt.clone().unwrap();
                assert!(sent.starts_with(&task.prompt), "{sent}");
                assert!(sent.contains(&error), "{sent}");
                let requests: Vec<_> = server
                    .requests()
                    .into_iter()
                    .filter(|r| user_text(&r.body).starts_with(&task.prompt))
                    .collect();
                assert_eq!(requests.len(), 2);
                assert_eq!(
                    requests[0].protocol,
                    match kind {
                        ProviderKind::Anthropic => Protocol::Anthropic,
                        _ => Protocol::OpenAi,
                    }
                );
                assert!(!user_text(&requests[0].body).contains("did not match"));
                let retry = user_text(&requests[1].body);
                assert!(
                    retry.contains("did not match the required JSON schema")
                        && retry.contains(&error),
                    "{retry}"
                );
                // Asked natively, in each protocol's form.
                match kind {
                    ProviderKind::Anthropic => {
                        assert_eq!(requests[1].body["tools"][0]["input_schema"], schema());
                        assert_eq!(requests[1].body["tool_choice"]["name"], "output");
                    }
                    _ => assert_eq!(
                        requests[1].body["response_format"]["json_schema"]["schema"],
                        schema()
                    ),
                }
            }
            t.engine.shutdown().await;
        }
    }
}

#[tokio::test]
async fn a_task_whose_answers_never_match_fails_and_never_completes() {
    let server = FakeServer::start(Reply::text(&["free text"])).await;
    let t = started_with(|_| {}).await;
    t.engine
        .save_provider(settings(&server, ProviderKind::OpenaiCompatible), None)
        .await
        .unwrap();
    let task = t
        .engine
        .submit(NewTask {
            max_attempts: Some(3),
            ..structured("Never right", "fake-model invalid-json-always")
        })
        .await
        .unwrap();
    idle(&t.engine).await;
    let task = t.engine.get(task.id).await.unwrap();
    assert_eq!(task.status, TaskState::Failed);
    assert_eq!(task.output_json, None);
    assert_eq!(task.attempts, 3);
    assert_eq!(
        task.failure.as_ref().map(|f| f.class),
        Some(ErrorClass::SchemaMismatch)
    );
    assert!(task
        .history
        .iter()
        .all(|a| a.failure.as_ref().map(|f| f.class) == Some(ErrorClass::SchemaMismatch)));
    assert!(task.error.unwrap().contains("not valid JSON"));
    t.engine.shutdown().await;
}

#[tokio::test]
async fn a_malformed_schema_is_refused_naming_the_field_and_nothing_is_stored() {
    let t = started_with(|_| {}).await;
    let parent = t.engine.submit(task("parent", "echo")).await.unwrap();
    idle(&t.engine).await;
    for bad in [
        json!({"type": "nonsense"}),
        json!({"required": "summary"}),
        json!(["not", "an", "object"]),
        json!({"$ref": "https://example.com/schema.json"}),
    ] {
        let new = NewTask {
            output_schema: Some(bad.clone()),
            ..task("p", "echo")
        };
        let refusals = [
            t.engine.submit(new.clone()).await.unwrap_err(),
            t.engine.chain(parent.id, new.clone()).await.unwrap_err(),
            t.engine
                .add_schedule(NewSchedule::new("s", "0 9 * * *", new.clone()))
                .await
                .unwrap_err(),
        ];
        for e in refusals {
            assert!(
                matches!(
                    e,
                    TaskError::Invalid {
                        field: "output_schema",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
        }
    }
    let all = t
        .engine
        .list(ListQuery {
            limit: 100,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "only the parent was stored");
    assert!(t.engine.schedules().await.unwrap().is_empty());
    t.engine.shutdown().await;
}

#[tokio::test]
async fn a_chained_task_reads_a_field_of_its_parents_parsed_output() {
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    // The mock answers with a value made from the schema; `badjson=1` makes
    // its first answer prose, so the parent completes on its second attempt.
    let parent = t
        .engine
        .submit(NewTask {
            output_schema: Some(schema()),
            ..task("Summarise", "badjson=1")
        })
        .await
        .unwrap();
    let child = t
        .engine
        .chain(
            parent.id,
            task(
                "Expand on: {{parent.output.summary}} ({{parent.output.score}})",
                "echo",
            ),
        )
        .await
        .unwrap();
    let missing = t
        .engine
        .chain(parent.id, task("Use {{parent.output.title}}", "echo"))
        .await
        .unwrap();
    // Either may finish first: wait for both, then read each.
    reach_all(
        &mut rx,
        vec![
            (child.id, TaskState::Completed),
            (missing.id, TaskState::Failed),
        ],
    )
    .await;
    let done = t.engine.get(child.id).await.unwrap();
    let parent = t.engine.get(parent.id).await.unwrap();
    assert_eq!(parent.attempts, 2);
    let summary = parent.output_json.as_ref().unwrap()["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        done.effective_prompt.as_deref(),
        Some(format!("Expand on: {summary} (0)").as_str())
    );
    // A field the parsed output lacks fails the task at once, saying which.
    let failed = t.engine.get(missing.id).await.unwrap();
    assert_eq!(failed.attempts, 1, "no retry can bind a finished answer");
    let error = failed.error.clone().unwrap();
    assert!(
        error.contains("{{parent.output.title}}") && error.contains("no field 'title'"),
        "{error}"
    );
    // A parent without a schema has no fields: refused when chained.
    let plain = t.engine.submit(task("plain", "echo")).await.unwrap();
    let e = t
        .engine
        .chain(plain.id, task("{{parent.output.summary}}", "echo"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            TaskError::Invalid {
                field: "prompt",
                ..
            }
        ) && e.to_string().contains("no output schema"),
        "{e}"
    );
    t.engine.shutdown().await;
}

#[tokio::test]
async fn a_schedules_task_answers_with_the_templates_schema_and_its_follow_up_reads_a_field() {
    let t = started_with(|_| {}).await;
    let mut new = NewSchedule::new(
        "digest",
        "0 9 * * *",
        NewTask {
            output_schema: Some(schema()),
            ..task("Digest", "echo")
        },
    );
    new.follow_ups = vec!["Tweet: {{parent.output.summary}}".into()];
    let s = t.engine.add_schedule(new.clone()).await.unwrap();
    assert_eq!(s.template.output_schema, Some(schema()));
    let mut rx = t.engine.subscribe();
    let (_, tasks) = t.engine.fire_schedule_now(s.id).await.unwrap();
    let done = reach(&mut rx, tasks[1].id, TaskState::Completed).await;
    let first = t.engine.get(tasks[0].id).await.unwrap();
    let summary = first.output_json.as_ref().unwrap()["summary"]
        .as_str()
        .unwrap();
    assert_eq!(
        done.effective_prompt.as_deref(),
        Some(format!("Tweet: {summary}").as_str())
    );
    assert_eq!(done.output_schema, None, "follow-ups answer in free text");
    // A second follow-up's parent has no schema: refused when saved.
    new.follow_ups
        .push("Again: {{parent.output.summary}}".into());
    let e = t.engine.add_schedule(new).await.unwrap_err();
    assert!(
        matches!(
            e,
            TaskError::Invalid {
                field: "follow_ups",
                ..
            }
        ),
        "{e}"
    );
    t.engine.shutdown().await;
}

#[tokio::test]
async fn the_schema_and_the_parsed_answer_travel_in_exports_and_a_malformed_schema_is_not_imported()
{
    let source = started_with(|_| {}).await;
    let done = source
        .engine
        .submit(NewTask {
            output_schema: Some(schema()),
            ..task("Summarise", "echo")
        })
        .await
        .unwrap();
    idle(&source.engine).await;
    let exported = source.engine.export().await.unwrap();
    let text = serde_json::to_string(&exported).unwrap();
    let record = &serde_json::from_str::<Value>(&text).unwrap()["tasks"][0];
    assert_eq!(record["output_schema"], schema());
    assert_eq!(
        record["output_json"],
        json!({"summary": "text", "score": 0})
    );

    let target = open_with(|_| {}).await;
    target.engine.import(&text).await.unwrap();
    let imported = target.engine.get(done.id).await.unwrap();
    assert_eq!(
        imported.output_json,
        Some(json!({"summary": "text", "score": 0}))
    );

    // The same record with a schema that does not compile: refused, nothing written.
    let mut bad: Value = serde_json::from_str(&text).unwrap();
    bad["tasks"][0]["output_schema"] = json!({"type": "nonsense"});
    let other = open_with(|_| {}).await;
    let err = other.engine.import(&bad.to_string()).await.unwrap_err();
    assert!(err.to_string().contains("output schema"), "{err}");
    assert_eq!(other.engine.counts().await.unwrap().total(), 0);
    source.engine.shutdown().await;
}

#[tokio::test]
async fn a_webhook_receives_the_parsed_answer_beside_the_text() {
    let receiver = fake_llm::webhook::WebhookReceiver::start().await;
    let t = started_with(|_| {}).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            output_schema: Some(schema()),
            deliver: baton_engine::Deliver {
                webhook: Some(receiver.url()),
                ..baton_engine::Deliver::default()
            },
            ..task("Summarise", "echo")
        })
        .await
        .unwrap();
    // The delivery is sent after the completion's commit.
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let baton_engine::Event {
                kind: baton_engine::EventKind::Delivery { delivery },
                ..
            } = rx.recv().await.unwrap()
            {
                if delivery.task_id == task.id
                    && delivery.status == baton_engine::DeliveryStatus::Sent
                {
                    return;
                }
            }
        }
    })
    .await
    .expect("the webhook was never sent");
    let body = receiver.received().last().unwrap().json();
    assert_eq!(body["output_json"], json!({"summary": "text", "score": 0}));
    assert_eq!(
        serde_json::from_str::<Value>(body["output"].as_str().unwrap()).unwrap(),
        body["output_json"]
    );
    t.engine.shutdown().await;
}

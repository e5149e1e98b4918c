//! The OpenAPI document: docs/openapi.json is the served one, and its task
//! schemas name every field the engine writes.

mod common;

use common::{expect_json, Api};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn docs_openapi_json_matches_the_generated_document() {
    let generated = baton_api::openapi_json();
    let path = checked_in();
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != generated {
        std::fs::write(&path, &generated).expect("write docs/openapi.json");
        panic!("docs/openapi.json was out of date and has been regenerated; review and commit it");
    }
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let api = Api::start().await;
    let served = expect_json(
        api.get("/openapi.json").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let generated: Value = serde_json::from_str(&baton_api::openapi_json()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
    api.stop().await;
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

/// Every key the engine writes is documented, and the keys it always writes are
/// documented as required.
fn check(doc: &Value, name: &str, written: &Value) {
    let schema = schema(doc, name);
    let documented = keys(&schema["properties"]);
    let written = keys(written);
    let undocumented: Vec<_> = written.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "{name}: the engine writes {undocumented:?}, which the schema lacks"
    );
    // A schema whose every field may be null (Limits) lists none.
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let not_written: Vec<_> = required.difference(&written).collect();
    assert!(
        not_written.is_empty(),
        "{name}: {not_written:?} are required but not written"
    );
}

#[tokio::test]
async fn the_task_schemas_name_every_field_the_engine_writes() {
    let doc: Value = serde_json::from_str(&baton_api::openapi_json()).unwrap();
    let api = Api::start().await;
    let mut events = api.events(None).await;
    let parent = api.submit(json!({"prompt": "p"})).await;
    let parent_id = parent["id"].as_str().unwrap().to_string();
    events.until_status(&parent_id, "completed").await;
    let child = expect_json(
        api.post(&format!("/tasks/{parent_id}/chain"))
            .json(&json!({"name": "c", "instruction": "i"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let child_id = child["id"].as_str().unwrap().to_string();
    events.until_status(&child_id, "completed").await;
    let child = api.task(&child_id).await;
    assert!(child["effective_prompt"].is_string());
    check(&doc, "Task", &child);
    check(&doc, "Attempt", &child["history"][0]);
    let export = expect_json(api.get("/export").send().await.unwrap(), StatusCode::OK).await;
    check(&doc, "ExportFile", &export);
    api.stop().await;
}

#[tokio::test]
async fn the_schedule_schemas_name_every_field_the_engine_writes() {
    let doc: Value = serde_json::from_str(&baton_api::openapi_json()).unwrap();
    let api = Api::start().await;
    let schedule = expect_json(
        api.post("/schedules")
            .json(&json!({"name": "s", "cron": "0 0 1 1 *", "task": {"prompt": "p"}}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    check(&doc, "Schedule", &schedule);
    check(&doc, "TaskTemplate", &schedule["template"]);
    let fired = expect_json(
        api.post("/schedules/s/run").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    check(&doc, "ScheduleFire", &fired);
    let export = expect_json(api.get("/export").send().await.unwrap(), StatusCode::OK).await;
    check(&doc, "ExportFile", &export);
    check(&doc, "Schedule", &export["schedules"][0]);
    api.stop().await;
}

#[tokio::test]
async fn the_provider_schemas_name_every_field_the_engine_writes() {
    let doc: Value = serde_json::from_str(&baton_api::openapi_json()).unwrap();
    let api = Api::start().await;
    let saved = expect_json(
        api.request(reqwest::Method::PUT, "/providers/p")
            .json(
                &json!({"kind": "mock", "key": {"source": "env", "var": "V"},
                          "prices": {"input_per_mtok": 1, "output_per_mtok": 2}}),
            )
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    check(&doc, "ProviderSettings", &saved);
    check(&doc, "Limits", &saved["limits"]);
    check(&doc, "Prices", &saved["prices"]);
    let tested = expect_json(
        api.post("/providers/p/test").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    check(&doc, "ProviderTestResult", &tested);
    // Each key source is one of the documented shapes.
    let sources: Vec<&str> = doc["components"]["schemas"]["KeyRef"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["properties"]["source"]["enum"][0].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["none", "env", "keychain"]);
    api.stop().await;
}

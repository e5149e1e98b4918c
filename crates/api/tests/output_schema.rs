//! Output schemas over HTTP: a malformed one is refused naming `output_schema`
//! (create, chain and schedule bodies) with nothing stored; a good one gives a
//! task whose `output_json` is the parsed answer, in `GET /tasks/{id}`.

mod common;

use common::{expect_error, expect_json, Api};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_malformed_schema_is_a_4xx_naming_the_field_and_nothing_is_stored() {
    let api = Api::start().await;
    let parent = api.submit(json!({"prompt": "p"})).await;
    let chain = format!("/tasks/{}/chain", parent["id"].as_str().unwrap());
    for bad in [
        json!({"type": "nonsense"}),
        json!({"properties": 3}),
        json!("a string"),
    ] {
        for (path, body) in [
            ("/tasks", json!({"prompt": "x", "output_schema": bad})),
            (
                chain.as_str(),
                json!({"instruction": "x", "output_schema": bad}),
            ),
            (
                "/schedules",
                json!({"name": "s", "cron": "0 9 * * *",
                       "task": {"prompt": "x", "output_schema": bad}}),
            ),
        ] {
            let response = api.post(path).json(&body).send().await.unwrap();
            let status = response.status();
            assert!(status.is_client_error(), "{path} {bad}: {status}");
            let error = expect_error(response, status, "invalid_input").await;
            assert_eq!(error["field"], "output_schema", "{path} {bad}: {error}");
            let message = error["message"].as_str().unwrap();
            assert!(
                message.contains("output schema") && !message.contains('\n'),
                "{error}"
            );
        }
    }
    let tasks = expect_json(api.get("/tasks").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        tasks.as_array().unwrap().len(),
        1,
        "only the parent: {tasks}"
    );
    let schedules = expect_json(api.get("/schedules").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(schedules.as_array().unwrap().len(), 0, "{schedules}");
    api.stop().await;
}

#[tokio::test]
async fn a_completed_task_shows_its_parsed_answer() {
    let api = Api::start().await;
    let mut events = api.events(None).await;
    let schema = json!({"type": "object", "required": ["summary"],
                        "properties": {"summary": {"type": "string"}}});
    let task = api
        .submit(json!({"prompt": "Summarise", "output_schema": schema}))
        .await;
    let id = task["id"].as_str().unwrap();
    events.until_status(id, "completed").await;
    let done = api.task(id).await;
    assert_eq!(done["output_schema"], schema);
    assert_eq!(done["output_json"], json!({"summary": "text"}));
    api.stop().await;
}

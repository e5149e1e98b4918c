//! Tags over HTTP: sent in the create and chain bodies, inherited by a chain,
//! and a filter of `GET /tasks`. The chain body is the create body with
//! `instruction` for `prompt`, and refuses unknown fields the same way.

mod common;

use common::{expect_error, expect_json, Api};
use reqwest::StatusCode;
use serde_json::json;

async fn ids(api: &Api, query: &str) -> Vec<String> {
    let body = expect_json(
        api.get(&format!("/tasks{query}")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn tags_are_stored_inherited_by_a_chain_and_filter_the_list() {
    let api = Api::start().await;
    let ops = api
        .submit(json!({"prompt": "a", "tags": ["Ops", "weekly", "ops"]}))
        .await;
    assert_eq!(ops["tags"], json!(["ops", "weekly"]));
    let plain = api.submit(json!({"prompt": "b"})).await;
    assert!(plain.get("tags").is_none(), "no tags, no key: {plain}");
    let ops_id = ops["id"].as_str().unwrap().to_string();
    let child = expect_json(
        api.post(&format!("/tasks/{ops_id}/chain"))
            .json(&json!({"instruction": "c", "tags": ["daily"]}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(child["tags"], json!(["ops", "weekly", "daily"]));
    assert_eq!(child["prompt"], "c");
    let child_id = child["id"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&api, "?tag=OPS").await,
        [child_id.clone(), ops_id.clone()]
    );
    assert_eq!(ids(&api, "?tag=daily").await, [child_id]);
    assert_eq!(ids(&api, "?tag=none").await, Vec::<String>::new());
    assert_eq!(ids(&api, "").await.len(), 3);
    let error = expect_error(
        api.get("/tasks?tag=a%20b").send().await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    assert_eq!(error["field"], "tag", "{error}");
    // The engine's sentence, as `baton list --tag 'a b'` prints it.
    assert_eq!(
        error["message"],
        "the tag 'a b' has ' '; a tag holds only letters, digits, '-', '_' and '.'"
    );
    api.stop().await;
}

#[tokio::test]
async fn a_chain_body_refuses_unknown_fields_and_names_instruction() {
    let api = Api::start().await;
    let parent = api.submit(json!({"prompt": "p"})).await;
    let path = format!("/tasks/{}/chain", parent["id"].as_str().unwrap());
    let cases = [
        (json!({"instruction": "i", "max_attempt": 2}), "max_attempt"),
        (json!({"prompt": "i"}), "prompt"),
        (json!({"name": "n"}), "instruction"),
        (json!({"instruction": 5}), "instruction"),
        (json!({"instruction": "i", "tags": [""]}), "tags"),
    ];
    for (body, field) in cases {
        let response = api.post(&path).json(&body).send().await.unwrap();
        let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        assert_eq!(error["field"], field, "{body} → {error}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(field.trim_end_matches('s')) && !message.contains('\n'),
            "{error}"
        );
    }
    assert_eq!(
        ids(&api, "").await.len(),
        1,
        "a refused chain creates nothing"
    );
    api.stop().await;
}

#[tokio::test]
async fn the_documented_request_bodies_refuse_extra_properties() {
    let doc: serde_json::Value = serde_json::from_str(&baton_api::openapi_json()).unwrap();
    let schemas = &doc["components"]["schemas"];
    for name in ["CreateTask", "ChainTask", "ScheduleRequest", "TaskTemplate"] {
        assert_eq!(
            schemas[name]["additionalProperties"],
            json!(false),
            "{name}"
        );
    }
    assert!(schemas["ChainTask"]["properties"]["instruction"].is_object());
    assert!(schemas["ChainTask"]["properties"]["prompt"].is_null());
    assert_eq!(schemas["ChainTask"]["required"], json!(["instruction"]));
    assert!(schemas["CreateTask"]["properties"]["tags"].is_object());
    assert_eq!(
        schemas["CreateTask"]["properties"]["max_attempts"]["maximum"],
        json!(*baton_engine::MAX_ATTEMPTS_RANGE.end())
    );
    assert_eq!(
        schemas["CreateTask"]["properties"]["timeout_ms"]["maximum"],
        json!(baton_engine::MAX_TIMEOUT.as_millis() as u64)
    );
}

//! The schedule endpoints with good and bad input, against a real engine and
//! server. The expression fires once a year, so fires come from `/run`.

mod common;

use common::{expect_error, expect_json, Api};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const YEARLY: &str = "0 0 1 1 *";

async fn create(api: &Api, body: Value) -> Value {
    let response = api.post("/schedules").json(&body).send().await.unwrap();
    expect_json(response, StatusCode::CREATED).await
}

#[tokio::test]
async fn a_schedule_is_created_read_edited_paused_resumed_fired_and_deleted() {
    let api = Api::start().await;
    let response = api
        .post("/schedules")
        .json(&json!({
            "name": "New Year", "cron": YEARLY, "timezone": "Asia/Tokyo",
            "missed": "skip", "overlap": "queue", "max_lateness_s": 7200,
            "task": {"prompt": "happy new year", "model": "echo", "max_attempts": 2},
            "follow_ups": ["shorter: {{parent.output}}"]
        }))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created = expect_json(response, StatusCode::CREATED).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/schedules/{id}"));
    assert_eq!(created["timezone"], "Asia/Tokyo");
    assert_eq!(created["missed"], "skip");
    assert_eq!(created["overlap"], "queue");
    assert_eq!(created["max_lateness_ms"], 7_200_000);
    assert_eq!(created["enabled"], true);
    assert!(created["next_fire_at"].is_string());
    assert_eq!(created["template"]["max_attempts"], 2);

    let list = expect_json(api.get("/schedules").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(list, json!([created.clone()]));
    // By id, or by name in any case (percent-encoded in the path).
    for key in [id.as_str(), "new%20year"] {
        let got = expect_json(
            api.get(&format!("/schedules/{key}")).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(got, created);
    }

    let paused = expect_json(
        api.post(&format!("/schedules/{id}/pause"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["next_fire_at"], Value::Null);
    let edited = expect_json(
        api.request(Method::PUT, &format!("/schedules/{id}"))
            .json(&json!({"name": "yearly", "cron": YEARLY, "task": {"prompt": "new"}}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(edited["id"], id.as_str());
    assert_eq!(edited["name"], "yearly");
    assert_eq!(
        edited["timezone"], "UTC",
        "the whole definition is replaced"
    );
    assert_eq!(edited["enabled"], false, "an edit does not resume");
    let resumed = expect_json(
        api.post("/schedules/YEARLY/resume").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(resumed["enabled"], true);
    assert!(resumed["next_fire_at"].is_string());

    let mut events = api.events(None).await;
    let fired = expect_json(
        api.post("/schedules/yearly/run").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(fired["schedule"]["fires"], 1);
    let task_id = fired["tasks"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(fired["tasks"][0]["schedule_id"], id.as_str());
    events.until_status(&task_id, "completed").await;
    let tasks = expect_json(
        api.get("/schedules/yearly/tasks?limit=10")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(tasks[0]["id"], task_id.as_str());
    assert_eq!(tasks[0]["output"], "echo: new");

    let removed = expect_json(
        api.request(Method::DELETE, "/schedules/yearly")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(removed["id"], id.as_str());
    let list = expect_json(api.get("/schedules").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(list, json!([]));
    assert_eq!(
        api.task(&task_id).await["status"],
        "completed",
        "its tasks stay"
    );
    api.stop().await;
}

#[tokio::test]
async fn bad_schedules_are_422_naming_the_field_and_store_nothing() {
    let api = Api::start().await;
    create(
        &api,
        json!({"name": "taken", "cron": YEARLY, "task": {"prompt": "x"}}),
    )
    .await;
    for (body, field) in [
        (
            json!({"name": "a", "cron": "61 * * * *", "task": {"prompt": "x"}}),
            "cron",
        ),
        (
            json!({"name": "a", "cron": "0 0 30 2 *", "task": {"prompt": "x"}}),
            "cron",
        ),
        (
            json!({"name": "a", "cron": YEARLY, "timezone": "Mars/Olympus", "task": {"prompt": "x"}}),
            "timezone",
        ),
        (
            json!({"name": "TAKEN", "cron": YEARLY, "task": {"prompt": "x"}}),
            "name",
        ),
        (
            json!({"name": "a", "cron": YEARLY, "task": {"prompt": ""}}),
            "prompt",
        ),
        (
            json!({"name": "a", "cron": YEARLY, "task": {"prompt": "x", "start_at": "2099-01-01T00:00:00Z"}}),
            "start_at",
        ),
        (
            json!({"name": "a", "cron": YEARLY, "max_lateness_s": -1, "task": {"prompt": "x"}}),
            "max_lateness_s",
        ),
    ] {
        let response = api.post("/schedules").json(&body).send().await.unwrap();
        let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    let response = api
        .post("/schedules")
        .json(&json!({"name": "a", "cron": YEARLY, "missed": "sometimes", "task": {"prompt": "x"}}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let list = expect_json(api.get("/schedules").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    for (method, path) in [
        (Method::GET, "/schedules/nope"),
        (Method::DELETE, "/schedules/nope"),
        (Method::POST, "/schedules/nope/pause"),
        (Method::POST, "/schedules/nope/resume"),
        (Method::POST, "/schedules/nope/run"),
        (Method::GET, "/schedules/nope/tasks"),
    ] {
        let response = api.request(method, path).send().await.unwrap();
        let error = expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(error["message"], "no schedule is named 'nope'");
    }
    let response = api
        .get("/schedules/taken/tasks?limit=0")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    api.stop().await;
}

#[tokio::test]
async fn import_reports_the_schedules_it_stored_and_skipped() {
    let api = Api::start().await;
    create(
        &api,
        json!({"name": "kept", "cron": YEARLY, "task": {"prompt": "x"}}),
    )
    .await;
    let export = expect_json(api.get("/export").send().await.unwrap(), StatusCode::OK).await;
    let target = Api::start().await;
    let first = expect_json(
        target.post("/import").json(&export).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["schedules_imported"], 1);
    assert_eq!(first["skipped_schedules"], json!([]));
    let again = expect_json(
        target.post("/import").json(&export).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["schedules_imported"], 0);
    assert_eq!(again["skipped_schedules"], json!(["kept"]));
    api.stop().await;
    target.stop().await;
}

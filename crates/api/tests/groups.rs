//! Groups over HTTP: a map created from a CSV body runs its rows and its join,
//! pages its rows in input order and exports its results; a bad input is a 422
//! naming the row, with nothing created.

mod common;

use common::{expect_error, expect_json, Api};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_map_runs_its_rows_then_its_join_and_exports_in_input_order() {
    let api = Api::start().await;
    let mut events = api.events(None).await;
    let created = expect_json(
        api.post("/groups")
            .json(&json!({
                "name": "cities",
                "source": "csv",
                "data": "city,question\nParis,why\nRome,how\nOslo,when\n",
                "task": {"prompt": "{{row.question}} in {{row.city}}", "max_attempts": 2},
                "join": {"instruction": "Summarise:\n{{items}}", "on": "all"}
            }))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["total"], 3);
    assert_eq!(created["columns"], json!(["city", "question"]));
    let join = created["join"]["task_id"].as_str().unwrap().to_string();
    events.until_status(&join, "completed").await;

    let group = expect_json(
        api.get("/groups/CITIES").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (group["status"].as_str(), group["completed"].as_u64()),
        (Some("completed"), Some(3))
    );
    let page = expect_json(
        api.get("/groups/cities/tasks?offset=1&limit=5")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["group"]["row"], 2);
    assert_eq!(page[0]["output"], "echo: how in Rome");
    assert_eq!(
        page[0]["max_attempts"], 2,
        "every row has the map's task settings"
    );

    let csv = api.get("/groups/cities/export").send().await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "city,question,output,status,error,prompt_tokens,completion_tokens,cost_usd"
    );
    assert!(
        lines[1].starts_with("Paris,why,echo: why in Paris,completed"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("Oslo,when,echo: when in Oslo,completed"),
        "{text}"
    );
    let jsonl = api
        .get("/groups/cities/export?format=jsonl")
        .send()
        .await
        .unwrap();
    let text = jsonl.text().await.unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["city"], "Paris");

    let retry = expect_error(
        api.post("/groups/cities/retry").send().await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    assert!(
        retry["message"].as_str().unwrap().contains("nothing")
            || retry["message"].as_str().unwrap().contains("no failed"),
        "{retry}"
    );
}

#[tokio::test]
async fn a_bad_map_is_a_422_naming_the_row_and_creates_nothing() {
    let api = Api::start().await;
    for (body, field, words) in [
        (
            json!({"name": "g", "source": "csv", "data": "a,b\n1\n", "task": {"prompt": "{{row.a}}"}}),
            "rows",
            "row 1",
        ),
        (
            json!({"name": "g", "source": "csv", "data": "a,b\n1,2\n", "task": {"prompt": "{{row.c}}"}}),
            "prompt",
            "a, b",
        ),
        (
            json!({"name": "g", "source": "lines", "data": "", "task": {"prompt": "{{item}}"}}),
            "rows",
            "no rows",
        ),
        (
            json!({"name": "g", "source": "lines", "data": "x\n", "task": {"prompt": "{{item}}"}, "join": {"instruction": "{{row.x}}"}}),
            "join",
            "row",
        ),
    ] {
        let error = expect_error(
            api.post("/groups").json(&body).send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        )
        .await;
        assert_eq!(error["field"], field, "{body}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(words),
            "{body}: {error}"
        );
    }
    let listed = expect_json(api.get("/groups").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(listed, json!([]));
    let tasks = expect_json(api.get("/tasks").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        tasks["tasks"].as_array().map(Vec::len).unwrap_or(0),
        0,
        "{tasks}"
    );
    expect_error(
        api.get("/groups/nowhere").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

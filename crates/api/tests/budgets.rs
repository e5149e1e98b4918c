//! Budgets over HTTP: set (a change keeps the period's spending), listed with
//! what was spent, removed; a bad field is a 422 naming it, with nothing stored.

mod common;

use common::{expect_error, expect_json, Api};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn budgets_are_set_listed_and_removed_and_bad_ones_store_nothing() {
    let api = Api::start().await;
    for (body, field) in [
        (
            json!({"name": "n", "period": "daily", "amount": -2, "unit": "usd"}),
            "amount",
        ),
        (
            json!({"name": "n", "period": "daily", "amount": 2, "unit": "usd", "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        (
            json!({"name": "n", "period": "daily", "amount": 2, "unit": "usd", "provider": "nowhere"}),
            "provider",
        ),
        (
            json!({"name": "n/a", "period": "daily", "amount": 2, "unit": "usd"}),
            "name",
        ),
    ] {
        let error = expect_error(
            api.post("/budgets").json(&body).send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        )
        .await;
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    // An unknown unit or a missing period never reaches the engine.
    for body in [
        json!({"name": "n", "period": "weekly", "amount": 2, "unit": "usd"}),
        json!({"name": "n", "amount": 2, "unit": "eur"}),
    ] {
        let response = api.post("/budgets").json(&body).send().await.unwrap();
        assert!(response.status().is_client_error(), "{body}");
    }
    let listed = expect_json(api.get("/budgets").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(listed, json!([]), "nothing refused was stored");

    let set = expect_json(
        api.post("/budgets")
            .json(&json!({"name": "nightly", "period": "daily", "amount": 0.5, "unit": "usd", "timezone": "Europe/Paris"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(set["scope"], json!({"kind": "all"}));
    assert_eq!(set["spent"], 0.0);
    let changed = expect_json(
        api.post("/budgets")
            .json(&json!({"name": "nightly", "period": "daily", "amount": 2, "unit": "usd", "timezone": "Europe/Paris"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["amount"], 2.0);
    assert_eq!(changed["created_at"], set["created_at"]);
    let listed = expect_json(api.get("/budgets").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let removed = expect_json(
        api.request(Method::DELETE, "/budgets/nightly")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(removed["name"], "nightly");
    expect_error(
        api.request(Method::DELETE, "/budgets/nightly")
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

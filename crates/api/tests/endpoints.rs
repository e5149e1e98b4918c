//! Every endpoint with good and bad input, against a real engine and server.

mod common;

use common::{expect_error, expect_json, Api};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn health_answers_ok_with_the_pid_and_counts() {
    let api = Api::start().await;
    let body = expect_json(api.get("/health").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["pid"], std::process::id());
    assert_eq!(body["counts"]["queued"], 0);
    api.stop().await;
}

#[tokio::test]
async fn a_created_task_is_201_with_its_location_and_the_cli_field_names() {
    let api = Api::start().await;
    let response = api
        .post("/tasks")
        .json(&json!({
            "name": "greet", "prompt": "hello", "max_attempts": 2,
            "provider": "mock", "model": "echo", "timeout_ms": 1500,
            "start_at": "2099-01-01T00:00:00Z"
        }))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let task = expect_json(response, StatusCode::CREATED).await;
    let id = task["id"].as_str().unwrap();
    assert_eq!(location, format!("/tasks/{id}"));
    assert_eq!(task["name"], "greet");
    assert_eq!(task["status"], "scheduled");
    assert_eq!(task["max_attempts"], 2);
    assert_eq!(task["timeout_ms"], 1500);
    assert_eq!(task["llm_provider"], "mock");
    assert_eq!(task["llm_model"], "echo");
    assert_eq!(task["start_at"], "2099-01-01T00:00:00Z");
    assert_eq!(api.task(id).await, task, "GET returns what POST did");

    // A client written before the rename sends the start time as `scheduled_for`.
    let old = api
        .submit(json!({"prompt": "old client", "scheduled_for": "2099-01-01T00:00:00Z"}))
        .await;
    assert_eq!(
        (&old["status"], &old["start_at"]),
        (&json!("scheduled"), &json!("2099-01-01T00:00:00Z"))
    );

    let minimal = api.submit(json!({"prompt": "first line\nsecond"})).await;
    assert_eq!(
        minimal["name"], "first line",
        "the name defaults as in the CLI"
    );
    api.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_and_a_missing_content_type_415() {
    let api = Api::start().await;
    for body in ["{", "{\"prompt\": \"x\"} trailing", "", "\u{0}"] {
        let response = api
            .post("/tasks")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    }
    let response = api
        .post("/tasks")
        .header("content-type", "text/plain")
        .body("{\"prompt\": \"x\"}")
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    api.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_422_naming_the_field() {
    let api = Api::start().await;
    let cases = [
        (json!({}), "prompt"),
        (json!([1, 2]), "body"),
        (json!({"prompt": "   "}), "prompt"),
        (json!({"prompt": 5}), "prompt"),
        (json!({"prompt": "x", "max_attempts": 0}), "max_attempts"),
        (json!({"prompt": "x", "max_attempts": -1}), "max_attempts"),
        (json!({"prompt": "x", "max_attempts": 21}), "max_attempts"),
        (json!({"prompt": "x", "timeout_ms": 0}), "timeout_ms"),
        (json!({"prompt": "x", "timeout_ms": -3}), "timeout_ms"),
        (
            json!({"prompt": "x", "timeout_ms": 100_000_000}),
            "timeout_ms",
        ),
        // The seconds field of before 0.2 is refused by name, not dropped.
        (json!({"prompt": "x", "timeout_s": 5}), "timeout_s"),
        (json!({"prompt": "x", "tags": ["no spaces"]}), "tags"),
        (json!({"prompt": "x", "provider": "nope"}), "provider"),
        (json!({"prompt": "x", "model": "sleep=abc"}), "model"),
        (json!({"prompt": "x", "name": " "}), "name"),
        (json!({"prompt": "x", "start_at": "tomorrow"}), "start_at"),
        (
            json!({"prompt": "x", "fallbacks": [{"provider": "nowhere"}]}),
            "fallbacks",
        ),
        (
            json!({"prompt": "x", "fallbacks": [{"provider": "mock", "model": ""}]}),
            "fallbacks",
        ),
        (
            json!({"prompt": "x", "fallbacks": [{"provider": "mock", "model": "echo"}]}),
            "fallbacks",
        ),
        (json!({"prompt": "x", "fallbacks": "mock"}), "fallbacks"),
        (
            json!({"prompt": "x", "fallback_after": 0}),
            "fallback_after",
        ),
    ];
    for (body, field) in cases {
        let response = api.post("/tasks").json(&body).send().await.unwrap();
        let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        assert_eq!(error["field"], field, "{body} → {error}");
    }
    let tasks = expect_json(api.get("/tasks").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(tasks, json!([]), "a refused request creates nothing");
    api.stop().await;
}

#[tokio::test]
async fn a_task_with_fallbacks_shows_each_attempts_target_and_the_switch_event() {
    let api = Api::start().await;
    let mut events = api.events(None).await;
    let task = api
        .submit(json!({"prompt": "x", "model": "fail=1",
            "fallbacks": [{"provider": "mock", "model": "echo"}]}))
        .await;
    let id = task["id"].as_str().unwrap();
    assert_eq!(
        task["fallbacks"],
        json!([{"provider": "mock", "model": "echo"}])
    );
    let seen = events.until_status(id, "completed").await;
    let switch = seen
        .iter()
        .map(|(_, e)| e)
        .find(|e| e["type"] == "fallback")
        .expect("a fallback event");
    // The event is the documented schema.
    let typed: baton_api::wire::StreamEvent = serde_json::from_value(switch.clone()).unwrap();
    assert!(matches!(
        typed.kind,
        baton_api::wire::StreamEventKind::Fallback { warning: false, .. }
    ));
    assert_eq!(switch["class"], "transient");
    assert_eq!(switch["to"], json!({"provider": "mock", "model": "echo"}));
    let done = api.task(id).await;
    let targets: Vec<(&str, &str)> = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap(),
                a["model"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(targets, [("mock", "fail=1"), ("mock", "echo")]);
    api.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let api = Api::start_with(|o| {
        o.body_limit = 1024;
        o.import_limit = 2048;
    })
    .await;
    let big = json!({"prompt": "x".repeat(4096)});
    let response = api.post("/tasks").json(&big).send().await.unwrap();
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    let response = api
        .post("/import")
        .header("content-type", "application/json")
        .body("x".repeat(4096))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    // The import route has its own, larger limit.
    let response = api
        .post("/import")
        .header("content-type", "application/json")
        .body(format!(
            "{{\"format_version\": 1, {} \"tasks\": []}}",
            " ".repeat(1500)
        ))
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::OK).await;
    api.stop().await;
}

#[tokio::test]
async fn an_unknown_id_is_404_and_a_malformed_one_422() {
    let api = Api::start().await;
    let unknown = "01890a5d-ac96-774b-bcce-b302099a8057";
    for path in [
        format!("/tasks/{unknown}"),
        format!("/tasks/{unknown}/retry"),
        format!("/tasks/{unknown}/cancel"),
        format!("/tasks/{unknown}/chain"),
    ] {
        let request = if path.ends_with(unknown) {
            api.get(&path)
        } else if path.ends_with("chain") {
            api.post(&path).json(&json!({"instruction": "x"}))
        } else {
            api.post(&path)
        };
        expect_error(
            request.send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let error = expect_error(
        api.get("/tasks/not-a-uuid").send().await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    assert_eq!(error["field"], "id");
    api.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_both_as_json() {
    let api = Api::start().await;
    expect_error(
        api.get("/nope").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        api.request(reqwest::Method::DELETE, "/tasks")
            .send()
            .await
            .unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    api.stop().await;
}

async fn list(api: &Api, query: &str) -> (Vec<String>, Option<String>) {
    let response = api.get(&format!("/tasks{query}")).send().await.unwrap();
    let next = response
        .headers()
        .get("x-next-cursor")
        .map(|v| v.to_str().unwrap().to_string());
    let body = expect_json(response, StatusCode::OK).await;
    let ids = body
        .as_array()
        .expect("a plain array, like `baton list --json`")
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    (ids, next)
}

#[tokio::test]
async fn lists_page_by_cursor_or_offset_and_filter_by_status_and_parent() {
    let api = Api::start().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let task = api
            .submit(json!({"prompt": format!("t{i}"), "start_at": "2099-01-01T00:00:00Z"}))
            .await;
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    ids.reverse(); // newest first

    let (page1, next) = list(&api, "?limit=3").await;
    assert_eq!(page1, ids[0..3]);
    let (page2, next) = list(&api, &format!("?limit=3&cursor={}", next.unwrap())).await;
    assert_eq!(page2, ids[3..6]);
    let (page3, next) = list(&api, &format!("?limit=3&cursor={}", next.unwrap())).await;
    assert_eq!(page3, ids[6..7]);
    assert_eq!(next, None, "no cursor after the last page");

    assert_eq!(list(&api, "?limit=2&offset=4").await.0, ids[4..6]);
    assert_eq!(list(&api, "?offset=100").await.0, Vec::<String>::new());
    assert_eq!(list(&api, "").await.0, ids, "default limit 50");

    let parent = &ids[0];
    let child = expect_json(
        api.post(&format!("/tasks/{parent}/chain"))
            .json(&json!({"name": "child", "instruction": "then {{parent.output}}"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(child["status"], "waiting");
    let child_id = child["id"].as_str().unwrap().to_string();
    assert_eq!(
        list(&api, &format!("?parent_task_id={parent}")).await.0,
        std::slice::from_ref(&child_id)
    );
    assert_eq!(list(&api, "?status=waiting").await.0, [child_id]);
    assert_eq!(list(&api, "?status=SCHEDULED&limit=1000").await.0, ids);
    api.stop().await;
}

#[tokio::test]
async fn bad_list_parameters_are_422_naming_them() {
    let api = Api::start().await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=ten", "limit"),
        ("?offset=-1", "offset"),
        ("?cursor=nope", "cursor"),
        ("?status=done", "status"),
        ("?parent_task_id=x", "parent_task_id"),
        (
            "?offset=2&cursor=01890a5d-ac96-774b-bcce-b302099a8057",
            "offset",
        ),
    ] {
        let error = expect_error(
            api.get(&format!("/tasks{query}")).send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        )
        .await;
        assert_eq!(error["field"], field, "{query}");
    }
    api.stop().await;
}

#[tokio::test]
async fn transitions_the_state_does_not_allow_are_409() {
    let api = Api::start().await;
    let mut events = api.events(None).await;

    // Chaining onto a failed parent.
    let failed = api
        .submit(json!({"prompt": "x", "model": "fatal", "max_attempts": 1}))
        .await;
    let failed_id = failed["id"].as_str().unwrap().to_string();
    events.until_status(&failed_id, "failed").await;
    let response = api
        .post(&format!("/tasks/{failed_id}/chain"))
        .json(&json!({"name": "c", "instruction": "go on"}))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::CONFLICT, "invalid_state").await;

    // Retrying a running task; cancelling it; cancelling it again; retrying it.
    let running = api
        .submit(json!({"prompt": "slow", "model": "sleep=30000"}))
        .await;
    let id = running["id"].as_str().unwrap().to_string();
    events.until_status(&id, "running").await;
    let response = api
        .post(&format!("/tasks/{id}/retry"))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::CONFLICT, "invalid_state").await;

    let cancelled = expect_json(
        api.post(&format!("/tasks/{id}/cancel"))
            .json(&json!({"reason": "enough"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["previous_status"], "running");
    assert_eq!(cancelled["changed"], true);
    assert_eq!(cancelled["cancel_reason"], "enough");
    let again = expect_json(
        api.post(&format!("/tasks/{id}/cancel"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["changed"], false, "cancelling twice is not an error");

    let retried = expect_json(
        api.post(&format!("/tasks/{id}/retry"))
            .json(&json!({"max_attempts": 5}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(retried["status"], "queued");
    assert_eq!(retried["max_attempts"], 5);
    let response = api
        .post(&format!("/tasks/{id}/retry"))
        .json(&json!({"max_attempts": 0}))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
    assert_eq!(error["field"], "max_attempts");

    // Cancelling a completed task.
    let done = api.submit(json!({"prompt": "quick"})).await;
    let done_id = done["id"].as_str().unwrap().to_string();
    events.until_status(&done_id, "completed").await;
    let response = api
        .post(&format!("/tasks/{done_id}/cancel"))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::CONFLICT, "invalid_state").await;
    api.stop().await;
}

#[tokio::test]
async fn a_chain_onto_a_completed_parent_runs_on_its_output() {
    let api = Api::start().await;
    let mut events = api.events(None).await;
    let parent = api.submit(json!({"prompt": "hi"})).await;
    let parent_id = parent["id"].as_str().unwrap().to_string();
    events.until_status(&parent_id, "completed").await;
    let child = expect_json(
        api.post(&format!("/tasks/{parent_id}/chain"))
            .json(&json!({"name": "child", "instruction": "[{{parent.output}}]"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let child_id = child["id"].as_str().unwrap().to_string();
    events.until_status(&child_id, "completed").await;
    let child = api.task(&child_id).await;
    assert_eq!(child["parent_task_id"], parent_id.as_str());
    assert_eq!(child["output"], "echo: [echo: hi]");
    api.stop().await;
}

#[tokio::test]
async fn an_export_imports_into_another_engine_and_bad_files_are_refused() {
    let from = Api::start().await;
    from.submit(json!({"prompt": "keep me", "start_at": "2099-01-01T00:00:00Z"}))
        .await;
    let file: Value = expect_json(from.get("/export").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(file["format_version"], 3);
    assert_eq!(file["tasks"].as_array().unwrap().len(), 1);

    let to = Api::start().await;
    let report = expect_json(
        to.post("/import").json(&file).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        report,
        json!({"imported": 1, "skipped_existing": [], "schedules_imported": 0, "skipped_schedules": [], "groups_imported": 0, "skipped_groups": []})
    );
    let again = expect_json(
        to.post("/import").json(&file).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["imported"], 0);
    assert_eq!(again["skipped_existing"], json!([file["tasks"][0]["id"]]));

    let garbage = to
        .post("/import")
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap();
    expect_error(garbage, StatusCode::BAD_REQUEST, "malformed_json").await;
    let shape = to
        .post("/import")
        .json(&json!({"tasks": []}))
        .send()
        .await
        .unwrap();
    expect_error(
        shape,
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_wrong_shape",
    )
    .await;
    let future = to
        .post("/import")
        .json(&json!({"format_version": 99, "tasks": []}))
        .send()
        .await
        .unwrap();
    expect_error(
        future,
        StatusCode::UNPROCESSABLE_ENTITY,
        "import_future_version",
    )
    .await;
    let bad = to
        .post("/import")
        .json(&json!({"format_version": 1, "exported_at": "2030-01-01T00:00:00Z", "tasks": [{"id": "x"}]}))
        .send()
        .await
        .unwrap();
    let error = expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "import_bad_records").await;
    assert_eq!(error["records"][0]["index"], 0);
    from.stop().await;
    to.stop().await;
}

#[tokio::test]
async fn a_misspelt_field_is_422_naming_it_and_creates_nothing() {
    let api = Api::start().await;
    let cases = [
        (
            "/tasks",
            json!({"prompt": "x", "max_attempt": 5}),
            "max_attempt",
        ),
        (
            "/schedules",
            json!({"name": "n", "cron": "0 9 * * *", "task": {"prompt": "x", "max_attempt": 5}}),
            "task.max_attempt",
        ),
        (
            "/schedules",
            json!({"name": "n", "cron": "0 9 * * *", "timezon": "UTC", "task": {"prompt": "x"}}),
            "timezon",
        ),
        (
            "/schedules",
            json!({"name": "n", "cron": "0 9 * * *", "pause_after_failures": -1, "task": {"prompt": "x"}}),
            "pause_after_failures",
        ),
        (
            "/schedules",
            json!({"name": "n", "cron": "0 9 * * *", "pause_after_failures": 1001, "task": {"prompt": "x"}}),
            "pause_after_failures",
        ),
        ("/tasks", json!({"prompt": "on {{dte}}"}), "prompt"),
        (
            "/schedules",
            json!({"name": "n", "cron": "0 9 * * *", "task": {"prompt": "{{last_output}} {{nope}}"}}),
            "prompt",
        ),
    ];
    for (path, body, field) in cases {
        let response = api.post(path).json(&body).send().await.unwrap();
        let error = expect_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;
        assert_eq!(error["field"], field, "{body} → {error}");
        let name = field.rsplit('.').next().unwrap().replace('_', " ");
        let message = error["message"].as_str().unwrap().replace('_', " ");
        assert!(message.contains(&name), "{error}");
    }
    let tasks = expect_json(api.get("/tasks").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(tasks, json!([]), "a refused request creates nothing");
    let schedules = expect_json(api.get("/schedules").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(schedules, json!([]));
    api.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_creates_once_and_refuses_another_body() {
    let api = Api::start().await;
    let send = |body: Value, key: &str| {
        api.post("/tasks")
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send(json!({"prompt": "once"}), "retry-1").await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = expect_json(first, StatusCode::CREATED).await;
    let again = send(json!({"prompt": "once"}), "retry-1").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again = expect_json(again, StatusCode::CREATED).await;
    assert_eq!(again["id"], first["id"]);
    let other = send(json!({"prompt": "another"}), "retry-1").await.unwrap();
    let error = expect_error(
        other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(error["field"], "idempotency-key");
    let bad = send(json!({"prompt": "x"}), "has space").await.unwrap();
    expect_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input").await;

    let parent = first["id"].as_str().unwrap();
    let chain = |key: &str| {
        api.post(&format!("/tasks/{parent}/chain"))
            .header("idempotency-key", key)
            .json(&json!({"instruction": "next"}))
            .send()
    };
    let child = expect_json(chain("c-1").await.unwrap(), StatusCode::CREATED).await;
    let child_again = expect_json(chain("c-1").await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(child["id"], child_again["id"]);
    let tasks = expect_json(api.get("/tasks").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(tasks.as_array().unwrap().len(), 2, "{tasks}");

    let schedule = || {
        api.post("/schedules")
            .header("idempotency-key", "s-1")
            .json(&json!({"name": "daily", "cron": "0 9 * * *", "task": {"prompt": "x"}}))
            .send()
    };
    let first = expect_json(schedule().await.unwrap(), StatusCode::CREATED).await;
    let again = schedule().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again = expect_json(again, StatusCode::CREATED).await;
    assert_eq!(again["id"], first["id"]);
    api.stop().await;
}

//! The provider endpoints with good and bad input, against a real engine and
//! server. Keys come from environment variables; the OS keychain is never
//! reached (a request with `api_key` here is always refused before it is).

mod common;

use common::{expect_error, expect_json, Api};
use fake_llm::{FakeServer, Reply};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

async fn put(api: &Api, name: &str, body: Value) -> Response {
    api.request(Method::PUT, &format!("/providers/{name}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn providers(api: &Api) -> Value {
    expect_json(api.get("/providers").send().await.unwrap(), StatusCode::OK).await
}

#[tokio::test]
async fn a_provider_is_added_listed_tested_replaced_and_removed() {
    let api = Api::start().await;
    let response = api.get("/providers").send().await.unwrap();
    assert_eq!(response.headers()[baton_api::BUILTIN_PROVIDERS], "mock");
    assert_eq!(expect_json(response, StatusCode::OK).await, json!([]));

    let saved = expect_json(
        put(
            &api,
            "local",
            json!({
                "kind": "mock", "model": "echo",
                "limits": {"rpm": 600, "max_concurrency": 2},
                "key": {"source": "env", "var": " LOCAL_KEY "},
                "prices": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
                "headers": {"X-Title": "Baton"},
                "idle_timeout_ms": 90000
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(saved["name"], "local");
    assert_eq!(saved["kind"], "mock");
    assert_eq!(saved["key"], json!({"source": "env", "var": "LOCAL_KEY"}));
    assert_eq!(saved["limits"]["rpm"], 600);
    assert_eq!(saved["idle_timeout_ms"], 90000);
    assert_eq!(providers(&api).await, json!([saved.clone()]));

    // A task can name it at once.
    let task = api
        .submit(json!({"prompt": "hi", "provider": "local"}))
        .await;
    assert_eq!(task["llm_provider"], "local");
    assert_eq!(task["llm_model"], "echo");

    for body in [None, Some(json!({})), Some(json!({"model": "echo"}))] {
        let mut request = api.post("/providers/local/test");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let tested = expect_json(request.send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(tested["provider"], "local");
        assert_eq!(tested["model"], "echo");
        assert!(tested["latency_ms"].is_u64(), "{tested}");
        assert!(
            tested["output"].as_str().unwrap().contains("pong"),
            "{tested}"
        );
    }
    // The built-in one can be tested too.
    let tested = expect_json(
        api.post("/providers/mock/test").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(tested["provider"], "mock");

    // A PUT replaces the whole definition; the body may name it too.
    let replaced = expect_json(
        put(&api, "local", json!({"name": "local", "kind": "mock"})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["model"], Value::Null);
    assert_eq!(replaced["key"], json!({"source": "none"}));
    assert_eq!(
        replaced["limits"],
        json!({"max_concurrency": null, "rpm": null, "tpm": null})
    );
    assert_eq!(providers(&api).await, json!([replaced.clone()]));

    let removed = expect_json(
        api.request(Method::DELETE, "/providers/local")
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(removed, replaced);
    assert_eq!(providers(&api).await, json!([]));
    for (method, path) in [
        (Method::DELETE, "/providers/local"),
        (Method::POST, "/providers/local/test"),
    ] {
        let body = expect_error(
            api.request(method, path).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_eq!(body["message"], "no provider is named 'local'");
    }
    let body = expect_error(
        api.get("/providers/local").send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    assert!(body.get("field").is_none());
    api.stop().await;
}

#[tokio::test]
async fn bad_provider_requests_are_refused_naming_the_field_and_change_nothing() {
    let api = Api::start().await;
    for (name, body, field) in [
        ("mock", json!({"kind": "mock"}), "name"),
        ("a b", json!({"kind": "mock"}), "name"),
        ("x", json!({"name": "y", "kind": "mock"}), "name"),
        ("x", json!({}), "kind"),
        ("x", json!({"kind": "gemini"}), "kind"),
        (
            "x",
            json!({"kind": "anthropic", "base_url": "ftp://h"}),
            "base_url",
        ),
        ("x", json!({"kind": "anthropic"}), "base_url"),
        (
            "x",
            json!({"kind": "anthropic", "base_url": "https://u:p@h"}),
            "base_url",
        ),
        ("x", json!({"kind": "mock", "limits": {"rpm": 0}}), "limits"),
        (
            "x",
            json!({"kind": "mock", "limits": {"rpm": "many"}}),
            "limits.rpm",
        ),
        (
            "x",
            json!({"kind": "mock", "headers": {"bad header": "v"}}),
            "headers",
        ),
        (
            "x",
            json!({"kind": "mock", "headers": {"Authorization": "Bearer sk-plain"}}),
            "headers",
        ),
        (
            "x",
            json!({"kind": "mock", "headers": {"X-Api-Key": "sk-plain"}}),
            "headers",
        ),
        (
            "x",
            json!({"kind": "mock", "limits": {"rmp": 5}}),
            "limits.rmp",
        ),
        ("x", json!({"kind": "mock", "base-url": "h"}), "base-url"),
        (
            "x",
            json!({"kind": "mock", "key": {"source": "env", "var": " "}}),
            "key",
        ),
        (
            "x",
            json!({"kind": "mock", "key": {"source": "vault"}}),
            "key.source",
        ),
        (
            "x",
            json!({"kind": "mock", "idle_timeout_ms": 0}),
            "idle_timeout_ms",
        ),
        (
            "x",
            json!({"kind": "mock", "prices": {"input_per_mtok": -1, "output_per_mtok": 0}}),
            "prices",
        ),
        ("x", json!({"kind": "mock", "api_key": "  "}), "api_key"),
        (
            "x",
            json!({"kind": "mock", "api_key": "k", "key": {"source": "env", "var": "V"}}),
            "key",
        ),
    ] {
        let refused = expect_error(
            put(&api, &name.replace(' ', "%20"), body.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        )
        .await;
        assert_eq!(refused["field"], field, "{name} {body}: {refused}");
    }
    let not_json = api
        .request(Method::PUT, "/providers/x")
        .header("content-type", "application/json")
        .body("{kind")
        .send()
        .await
        .unwrap();
    expect_error(not_json, StatusCode::BAD_REQUEST, "malformed_json").await;
    let not_declared = api
        .request(Method::PUT, "/providers/x")
        .body(r#"{"kind": "mock"}"#)
        .send()
        .await
        .unwrap();
    expect_error(
        not_declared,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    expect_json(
        put(&api, "local", json!({"kind": "mock"})).await,
        StatusCode::OK,
    )
    .await;
    let refused = expect_error(
        api.post("/providers/local/test")
            .json(&json!({"model": "no-such-model"}))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    assert_eq!(refused["field"], "model");
    // A test of a provider whose key variable is unset in the engine's
    // environment: the provider cannot be called.
    expect_json(
        put(
            &api,
            "keyless",
            json!({"kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                   "key": {"source": "env", "var": "BATON_API_TEST_UNSET_VARIABLE"}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let refused = expect_error(
        api.post("/providers/keyless/test").send().await.unwrap(),
        StatusCode::BAD_GATEWAY,
        "provider_auth",
    )
    .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("$BATON_API_TEST_UNSET_VARIABLE"),
        "{refused}"
    );
    let names: Vec<Value> = match providers(&api).await {
        Value::Array(list) => list.into_iter().map(|p| p["name"].clone()).collect(),
        other => panic!("{other}"),
    };
    assert_eq!(names, ["keyless", "local"], "the refusals stored nothing");
    api.stop().await;
}

#[tokio::test]
async fn a_key_sent_or_echoed_by_the_provider_is_never_answered() {
    const SENT: &str = "sk-api-sent-0123456789abcdef";
    const VAR: &str = "BATON_API_TEST_PROVIDER_KEY";
    const ENV_KEY: &str = "sk-api-env-fedcba9876543210";
    // A name no other test reads; set before the engine looks it up.
    std::env::set_var(VAR, ENV_KEY);
    let api = Api::start().await;
    let mut answers = Vec::new();

    // Sent for the keychain, but refused before the keychain is reached, even
    // where the refusal would quote it.
    for (body, field) in [
        (
            json!({"kind": "anthropic", "base_url": "https://u:p@h", "api_key": SENT}),
            "base_url",
        ),
        (
            json!({"kind": "anthropic", "base_url": format!("ftp://{SENT}"), "api_key": SENT}),
            "base_url",
        ),
        (json!({"kind": SENT, "api_key": SENT}), "kind"),
        (
            json!({"kind": "mock", "model": 5, "api_key": SENT}),
            "model",
        ),
        (
            json!({"name": SENT, "kind": "mock", "api_key": SENT}),
            "name",
        ),
    ] {
        let refused = expect_error(
            put(&api, "sent", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
        )
        .await;
        assert_eq!(refused["field"], field, "{refused}");
        answers.push(refused);
    }
    assert!(
        answers[1]["message"]
            .as_str()
            .unwrap()
            .contains("[redacted]"),
        "{}",
        answers[1]
    );

    // A key from the engine's environment, which the provider echoes back.
    let server = FakeServer::start(Reply::text(&["po", "ng"]).usage(9, 1)).await;
    let saved = expect_json(
        put(
            &api,
            "fake",
            json!({"kind": "openai-compatible", "base_url": format!("{}/v1", server.url()),
                   "model": "fake-model", "key": {"source": "env", "var": VAR}}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let tested = expect_json(
        api.post("/providers/fake/test").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(tested["model"], "fake-model");
    assert_eq!(tested["output"], "pong");
    assert_eq!(
        (&tested["prompt_tokens"], &tested["completion_tokens"]),
        (&json!(9), &json!(1))
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let bearer = format!("Bearer {ENV_KEY}");
    assert_eq!(requests[0].header("authorization"), Some(bearer.as_str()));

    server.push(Reply::error(
        401,
        &format!("Incorrect API key provided: {ENV_KEY}"),
    ));
    let refused = expect_error(
        api.post("/providers/fake/test")
            .json(&json!({"model": "other"}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_GATEWAY,
        "provider_auth",
    )
    .await;
    assert!(
        refused["message"].as_str().unwrap().contains("[redacted]"),
        "{refused}"
    );
    answers.extend([saved, tested, refused, providers(&api).await]);
    let export = expect_json(api.get("/export").send().await.unwrap(), StatusCode::OK).await;
    answers.push(export);
    for answer in &answers {
        let text = answer.to_string();
        assert!(!text.contains(&SENT[..12]), "{text}");
        assert!(!text.contains(&ENV_KEY[..12]), "{text}");
    }
    api.stop().await;
}

#[tokio::test]
async fn a_providers_models_and_the_local_servers_are_answered_and_nothing_is_added_unasked() {
    let api = Api::start().await;
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    server.set_models(fake_llm::ListFormat::Vllm, &["qwen", "llama"]);
    let base = format!("{}/v1", server.url());
    expect_json(
        put(
            &api,
            "local",
            json!({"kind": "openai-compatible", "base_url": base}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let listed = expect_json(
        api.get("/providers/local/models").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        listed,
        json!({"provider": "local", "models": ["qwen", "llama"]})
    );
    expect_error(
        api.get("/providers/nothing/models").send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // The real ports: whether a server answers there is this machine's business
    // (the CLI's detection test may be running), but all five are asked.
    let detection = expect_json(
        api.get("/local-servers").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let asked: Vec<&str> = detection["looked_at"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(
        asked,
        [
            "http://127.0.0.1:11434/api/tags",
            "http://127.0.0.1:1234/v1/models",
            "http://127.0.0.1:8080/v1/models",
            "http://127.0.0.1:1337/v1/models",
            "http://127.0.0.1:8000/v1/models",
        ]
    );
    assert!(detection["found"].is_array() && detection["unrecognised"].is_array());
    assert_eq!(providers(&api).await.as_array().unwrap().len(), 1);

    let refused = expect_error(
        api.post("/local-servers/no-such-server")
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_detected",
    )
    .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .starts_with("no local server to add as 'no-such-server' answered on 127.0.0.1"),
        "{refused}"
    );
    assert_eq!(providers(&api).await.as_array().unwrap().len(), 1);
    api.stop().await;
}

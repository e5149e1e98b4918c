//! Real providers against the fake server (crates/fake-llm) over real HTTP on
//! 127.0.0.1: streaming, error classes and retries, Retry-After and the
//! provider cool-down, cancellation, limits, and keys kept out of the files.

mod common;

use baton_engine::{
    ApiKey, AttemptOutcome, ErrorClass, EventKind, HoldReason, KeyRef, Limits, NewTask, Prices,
    ProviderConfigError, ProviderKind, ProviderSettings, TaskState,
};
use common::*;
use fake_llm::{FakeServer, Protocol, Reply};
use std::time::Duration;

/// A provider named `fake` of `kind` pointing at `server`.
fn settings(server: &FakeServer, kind: ProviderKind) -> ProviderSettings {
    let base = match kind {
        ProviderKind::OpenaiCompatible => format!("{}/v1", server.url()),
        _ => server.url(),
    };
    let mut s = ProviderSettings::new("fake", kind, base);
    s.model = Some("fake-model".into());
    s
}

async fn engine_with(s: ProviderSettings) -> TestEngine {
    let t = started_with(|_| {}).await;
    t.engine.save_provider(s, None).await.unwrap();
    t
}

fn on_fake(prompt: &str) -> NewTask {
    NewTask {
        prompt: prompt.into(),
        provider: Some("fake".into()),
        ..NewTask::default()
    }
}

#[tokio::test]
async fn streamed_chunks_arrive_in_order_and_the_output_is_their_concatenation() {
    for kind in [ProviderKind::OpenaiCompatible, ProviderKind::Anthropic] {
        let server = FakeServer::start(
            Reply::text(&["Hel", "lo, ", "wor", "ld"])
                .usage(21, 4)
                .chunk_delay(Duration::from_millis(5)),
        )
        .await;
        let var = format!("BATON_TEST_KEY_STREAM_{}", kind.as_str().replace('-', "_"));
        std::env::set_var(&var, "sk-stream-test-key");
        let mut s = settings(&server, kind);
        s.key = KeyRef::Env { var };
        s.prices = Some(Prices {
            input_per_mtok: 1_000_000.0,
            output_per_mtok: 2_000_000.0,
        });
        let t = engine_with(s).await;
        let mut rx = t.engine.subscribe();
        let task = t
            .engine
            .submit(NewTask {
                system: Some("be brief".into()),
                temperature: Some(0.25),
                max_tokens: Some(64),
                ..on_fake("say hello")
            })
            .await
            .unwrap();
        let mut chunks = Vec::new();
        let done = loop {
            let event = rx.recv().await.unwrap();
            if event.task_id != task.id {
                continue;
            }
            match event.kind {
                EventKind::Output { index, chunk, .. } => {
                    assert_eq!(index as usize, chunks.len(), "{kind}: chunks out of order");
                    chunks.push(chunk);
                }
                EventKind::State { to, task, .. } if to.is_terminal() => break task,
                _ => {}
            }
        };
        assert_eq!(
            done.status,
            TaskState::Completed,
            "{kind}: {:?}",
            done.error
        );
        assert_eq!(chunks, ["Hel", "lo, ", "wor", "ld"], "{kind}");
        assert_eq!(done.output.as_deref(), Some("Hello, world"));
        assert_eq!(
            (done.prompt_tokens, done.completion_tokens),
            (Some(21), Some(4))
        );
        assert_eq!(done.cost_usd.map(|c| c.0), Some(21.0 + 8.0), "{kind}");
        let attempt = &done.history[0];
        assert_eq!(
            (attempt.prompt_tokens, attempt.completion_tokens),
            (Some(21), Some(4))
        );
        assert!(attempt.ttft_ms.is_some() && attempt.latency_ms.is_some());

        let request = &server.requests()[0];
        let body = &request.body;
        assert_eq!(body["model"], "fake-model");
        assert_eq!(body["stream"], true);
        assert_eq!(body["temperature"], 0.25);
        assert_eq!(body["max_tokens"], 64);
        match request.protocol {
            Protocol::OpenAi => {
                assert_eq!(body["messages"][0]["content"], "be brief");
                assert_eq!(body["stream_options"]["include_usage"], true);
                assert_eq!(
                    request.header("authorization"),
                    Some("Bearer sk-stream-test-key")
                );
            }
            Protocol::Anthropic => {
                assert_eq!(body["system"], "be brief");
                assert_eq!(request.header("x-api-key"), Some("sk-stream-test-key"));
                assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
            }
        }
        t.engine.shutdown().await;
    }
}

#[tokio::test]
async fn a_whole_json_reply_from_a_server_that_does_not_stream_is_accepted() {
    for kind in [ProviderKind::OpenaiCompatible, ProviderKind::Anthropic] {
        let server = FakeServer::start(Reply::text(&["pong"]).usage(5, 1).whole()).await;
        let t = engine_with(settings(&server, kind)).await;
        let mut rx = t.engine.subscribe();
        let task = t.engine.submit(on_fake("ping")).await.unwrap();
        let done = reach(&mut rx, task.id, TaskState::Completed).await;
        assert_eq!(done.output.as_deref(), Some("pong"), "{kind}");
        assert_eq!(done.completion_tokens, Some(1));
        t.engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_and_cools_the_whole_provider_down() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    server.push(Reply::error(429, "Rate limit reached").retry_after("12"));
    let t = engine_with(settings(&server, ProviderKind::OpenaiCompatible)).await;
    let mut rx = t.engine.subscribe();
    let first = t.engine.submit(on_fake("first")).await.unwrap();
    let retrying = reach(&mut rx, first.id, TaskState::Scheduled).await;
    let failed_at = retrying.history[0].finished_at.unwrap();
    assert_eq!(
        retrying.start_at,
        Some(failed_at + chrono::Duration::seconds(12)),
        "the retry waits exactly the Retry-After, not the backoff"
    );
    let failure = retrying.failure.clone().unwrap();
    assert_eq!(
        (failure.class, failure.status),
        (ErrorClass::RateLimited, Some(429))
    );
    assert_eq!(failure.message.as_deref(), Some("Rate limit reached"));
    assert!(retrying
        .error
        .as_deref()
        .unwrap()
        .contains("provider 'fake'"));

    // Another task of the same provider is held back, and says why and how long.
    let second = t.engine.submit(on_fake("second")).await.unwrap();
    let message = tokio::time::timeout(PATIENCE, async {
        loop {
            let e = rx.recv().await.unwrap();
            if let EventKind::Held {
                reason, message, ..
            } = &e.kind
            {
                if e.task_id == second.id {
                    assert_eq!(*reason, HoldReason::RateLimit);
                    return message.clone();
                }
            }
            if let EventKind::State {
                to: TaskState::Running,
                ..
            } = e.kind
            {
                panic!("nothing may start while the provider cools down");
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(message, "waiting: rate limit, 12 s");

    reach_all(
        &mut rx,
        vec![
            (first.id, TaskState::Completed),
            (second.id, TaskState::Completed),
        ],
    )
    .await;
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for later in &requests[1..] {
        assert!(
            later.at - requests[0].at >= Duration::from_secs(12),
            "a request went out during the cool-down"
        );
    }
}

#[tokio::test]
async fn retry_after_ms_is_read_too() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    server.push(
        Reply::error(429, "slow")
            .retry_after_ms(300)
            .retry_after("30"),
    );
    let t = engine_with(settings(&server, ProviderKind::OpenaiCompatible)).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(on_fake("x")).await.unwrap();
    let retrying = reach(&mut rx, task.id, TaskState::Scheduled).await;
    let wait = retrying.start_at.unwrap() - retrying.history[0].finished_at.unwrap();
    assert_eq!(wait, chrono::Duration::milliseconds(300));
    reach(&mut rx, task.id, TaskState::Completed).await;
}

#[tokio::test]
async fn an_auth_error_fails_at_once_without_a_retry() {
    for kind in [ProviderKind::OpenaiCompatible, ProviderKind::Anthropic] {
        let server = FakeServer::start(Reply::error(401, "invalid x-api-key")).await;
        let t = engine_with(settings(&server, kind)).await;
        let mut rx = t.engine.subscribe();
        let task = t.engine.submit(on_fake("x")).await.unwrap();
        let failed = reach(&mut rx, task.id, TaskState::Failed).await;
        assert_eq!(failed.attempts, 1, "{kind}");
        assert_eq!(server.requests().len(), 1);
        let failure = failed.failure.clone().unwrap();
        assert_eq!(
            (failure.class, failure.status),
            (ErrorClass::Auth, Some(401))
        );
        let error = failed.error.clone().unwrap();
        assert!(
            error.contains("provider 'fake'") && error.contains("API key"),
            "{error}"
        );
        t.engine.shutdown().await;
    }
}

#[tokio::test]
async fn server_errors_overload_and_malformed_json_are_retried_as_transient() {
    let server = FakeServer::start(Reply::text(&["finally"])).await;
    server.push(Reply::error(500, "boom"));
    server.push(Reply::error(529, "Overloaded"));
    server.push(Reply::text(&["x"]).malformed());
    let t = engine_with(settings(&server, ProviderKind::Anthropic)).await;
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(NewTask {
            max_attempts: Some(4),
            ..on_fake("x")
        })
        .await
        .unwrap();
    let done = reach(&mut rx, task.id, TaskState::Completed).await;
    assert_eq!(done.output.as_deref(), Some("finally"));
    let failures: Vec<_> = done.history[..3]
        .iter()
        .map(|a| {
            let f = a.failure.clone().expect("a failure per failed attempt");
            (a.outcome, f.class, f.status)
        })
        .collect();
    use AttemptOutcome::Retrying;
    assert_eq!(
        failures,
        vec![
            (Some(Retrying), ErrorClass::Transient, Some(500)),
            (Some(Retrying), ErrorClass::Transient, Some(529)),
            (Some(Retrying), ErrorClass::Transient, None),
        ]
    );
    assert!(done.history[2]
        .error
        .as_deref()
        .unwrap()
        .contains("malformed JSON"));
    assert_eq!(done.failure, None, "a completed task carries no failure");
}

#[tokio::test]
async fn a_cut_stream_is_retried_and_the_retrys_output_replaces_the_partial_one() {
    let server = FakeServer::start(Reply::text(&["fresh ", "answer"])).await;
    server.push(Reply::words(6).cut_after(3));
    let t = engine_with(settings(&server, ProviderKind::OpenaiCompatible)).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(on_fake("x")).await.unwrap();
    let retrying = reach(&mut rx, task.id, TaskState::Scheduled).await;
    // What reached the client before the connection broke is kept (the last
    // chunk before a reset may be lost on the way).
    let partial = retrying.output.clone().unwrap_or_default();
    assert!(
        partial.starts_with("w0 ") && "w0 w1 w2 ".starts_with(&partial),
        "the partial output is kept: {partial:?}"
    );
    assert_eq!(
        retrying.failure.as_ref().unwrap().class,
        ErrorClass::Incomplete
    );
    assert!(retrying
        .error
        .as_deref()
        .unwrap()
        .contains("ended the answer before finishing"));
    let done = reach(&mut rx, task.id, TaskState::Completed).await;
    assert_eq!(done.output.as_deref(), Some("fresh answer"));
}

#[tokio::test]
async fn a_stalled_stream_fails_after_the_idle_timeout_and_is_retried() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    server.push(Reply::words(5).stall_after(2));
    let mut s = settings(&server, ProviderKind::Anthropic);
    s.idle_timeout_ms = Some(300);
    let t = engine_with(s).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(on_fake("x")).await.unwrap();
    let retrying = reach(&mut rx, task.id, TaskState::Scheduled).await;
    assert!(
        retrying.error.as_deref().unwrap().contains("stalled"),
        "{:?}",
        retrying.error
    );
    assert_eq!(retrying.output.as_deref(), Some("w0 w1 "));
    reach(&mut rx, task.id, TaskState::Completed).await;
    server.wait_for(|s| s.closed_early() == 1).await;
}

#[tokio::test]
async fn cancelling_closes_the_connection_and_keeps_the_partial_output() {
    let server = FakeServer::start(Reply::words(10).stall_after(2)).await;
    let t = engine_with(settings(&server, ProviderKind::OpenaiCompatible)).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(on_fake("x")).await.unwrap();
    let mut seen = 0;
    while seen < 2 {
        if let EventKind::Output { .. } = rx.recv().await.unwrap().kind {
            seen += 1;
        }
    }
    assert_eq!(server.closed_early(), 0);
    t.engine.cancel(task.id, None).await.unwrap();
    tokio::time::timeout(PATIENCE, server.wait_for(|s| s.closed_early() == 1))
        .await
        .expect("the server never saw the connection close");
    // A second cancel is queued behind the flush of the dropped stream.
    t.engine.cancel(task.id, None).await.unwrap();
    let cancelled = t.engine.get(task.id).await.unwrap();
    assert_eq!(cancelled.status, TaskState::Cancelled);
    assert_eq!(cancelled.output.as_deref(), Some("w0 w1 "));
    assert_eq!(server.requests().len(), 1);
}

/// The most tasks whose attempt started within any 60 s window, and the
/// largest sum of `weight` over such a window.
fn busiest_minute(
    tasks: &[baton_engine::Task],
    weight: impl Fn(&baton_engine::Task) -> u64,
) -> (usize, u64) {
    let mut starts: Vec<_> = tasks
        .iter()
        .map(|t| (t.history[0].started_at, weight(t)))
        .collect();
    starts.sort_by_key(|s| s.0);
    let (mut most, mut heaviest) = (0, 0);
    for (i, (t, _)) in starts.iter().enumerate() {
        let window: Vec<_> = starts[i..]
            .iter()
            .take_while(|(u, _)| *u - *t < chrono::Duration::seconds(60))
            .collect();
        most = most.max(window.len());
        heaviest = heaviest.max(window.iter().map(|(_, w)| w).sum());
    }
    (most, heaviest)
}

/// 200 tasks at once on 256 workers against a provider with `limits`; the
/// finished tasks. The limiter does not care what the provider is, so this
/// uses the mock kind (which reports usage) under a paused clock: minutes of
/// limits in no time.
async fn run_200_limited(limits: Limits) -> Vec<baton_engine::Task> {
    let t = started_with(|c| c.workers = 256).await;
    let mut s = ProviderSettings::new("fake", ProviderKind::Mock, "");
    s.model = Some("sleep=300".into());
    s.limits = limits;
    t.engine.save_provider(s, None).await.unwrap();
    let mut rx = t.engine.subscribe();
    let mut want = Vec::new();
    for i in 0..200 {
        let task = t
            .engine
            .submit(NewTask {
                max_tokens: Some(100),
                ..on_fake(&format!("task {i:03}"))
            })
            .await
            .unwrap();
        want.push((task.id, TaskState::Completed));
    }
    reach_all(&mut rx, want).await;
    let tasks = t
        .engine
        .list(baton_engine::ListQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    t.engine.shutdown().await;
    assert!(tasks.iter().all(|t| t.attempts == 1), "every task ran once");
    tasks
}

#[tokio::test(start_paused = true)]
async fn a_requests_per_minute_limit_holds_under_200_concurrent_tasks() {
    let tasks = run_200_limited(Limits {
        rpm: Some(50),
        ..Limits::default()
    })
    .await;
    let (most, _) = busiest_minute(&tasks, |_| 0);
    assert_eq!(most, 50, "at most, and up to, 50 requests in any minute");
}

#[tokio::test(start_paused = true)]
async fn a_tokens_per_minute_limit_holds_under_200_concurrent_tasks() {
    // Each task reserves 3 + 100 tokens and reports 3 + 8 ("echo: task 007").
    let tasks = run_200_limited(Limits {
        tpm: Some(2_000),
        ..Limits::default()
    })
    .await;
    let reported = |t: &baton_engine::Task| t.prompt_tokens.unwrap() + t.completion_tokens.unwrap();
    let (_, tokens) = busiest_minute(&tasks, reported);
    assert!(tokens <= 2_000, "{tokens} tokens in one minute");
    // Reconciling with the small reported usage lets far more than 2000 / 103 run.
    let (most, _) = busiest_minute(&tasks, |_| 0);
    assert!(
        most > 2_000 / 103,
        "only {most} tasks in the busiest minute"
    );
}

#[tokio::test]
async fn a_concurrency_limit_holds_under_200_concurrent_http_requests() {
    let server = FakeServer::start(Reply::words(3).ttft(Duration::from_millis(20))).await;
    let mut s = settings(&server, ProviderKind::OpenaiCompatible);
    s.limits.max_concurrency = Some(7);
    let t = started_with(|c| c.workers = 256).await;
    t.engine.save_provider(s, None).await.unwrap();
    let mut rx = t.engine.subscribe();
    let mut want = Vec::new();
    for i in 0..200 {
        let task = t.engine.submit(on_fake(&format!("t{i}"))).await.unwrap();
        want.push((task.id, TaskState::Completed));
    }
    reach_all(&mut rx, want).await;
    assert_eq!(server.requests().len(), 200);
    assert_eq!(server.max_in_flight(), 7);
    t.engine.shutdown().await;
}

#[tokio::test]
async fn no_key_reaches_the_database_file_or_an_export() {
    const KEY: &str = "sk-live-DISTINCTIVE-4f9a1c77e0b2";
    // The server echoes the key back, as OpenAI's 401 does.
    let server = FakeServer::start(Reply::error(
        401,
        &format!("Incorrect API key provided: {KEY}"),
    ))
    .await;
    std::env::set_var("BATON_TEST_KEY_LEAK", KEY);
    let mut s = settings(&server, ProviderKind::OpenaiCompatible);
    s.key = KeyRef::Env {
        var: "BATON_TEST_KEY_LEAK".into(),
    };
    let t = engine_with(s).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(on_fake("x")).await.unwrap();
    let failed = reach(&mut rx, task.id, TaskState::Failed).await;
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    let message = failed.failure.clone().unwrap().message.unwrap();
    assert!(message.contains("[redacted]"), "{message}");

    let export = serde_json::to_string(&t.engine.export().await.unwrap()).unwrap();
    t.engine.shutdown().await;
    let db = std::fs::read(t.dir.path().join("baton.redb")).unwrap();
    for piece in [KEY, &KEY[..12], &KEY[KEY.len() - 12..]] {
        assert!(!export.contains(piece), "the export holds '{piece}'");
        assert!(
            !db.windows(piece.len()).any(|w| w == piece.as_bytes()),
            "the database file holds '{piece}'"
        );
    }
    assert!(
        db.windows(19).any(|w| w == b"BATON_TEST_KEY_LEAK"),
        "the variable's name is stored"
    );
}

#[tokio::test]
async fn a_key_for_the_keychain_is_stored_there_or_refused_clearly_with_nothing_saved() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    let t = started_with(|_| {}).await;
    let mut s = settings(&server, ProviderKind::Anthropic);
    s.name = format!("keychain-test-{}", std::process::id());
    let key = ApiKey::new("sk-ant-keychain-test").unwrap();
    match t.engine.save_provider(s.clone(), Some(key)).await {
        Ok(saved) => {
            assert_eq!(saved.key, KeyRef::Keychain);
            t.engine.remove_provider(&s.name).await.unwrap();
        }
        Err(e) => {
            assert!(matches!(e, ProviderConfigError::Key(_)), "{e:?}");
            assert_eq!(e.code(), "keychain_unavailable", "{e}");
            assert!(e.to_string().contains("--key-env"), "{e}");
            assert!(t.engine.provider_settings().is_empty());
        }
    }
}

#[tokio::test]
async fn provider_settings_survive_a_reopen_and_are_removed_cleanly() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    let t = started_with(|_| {}).await;
    let mut s = settings(&server, ProviderKind::OpenaiCompatible);
    s.limits.rpm = Some(60);
    let saved = t.engine.save_provider(s, None).await.unwrap();
    t.engine.shutdown().await;
    let TestEngine {
        dir: _dir,
        engine,
        config,
    } = t;
    drop(engine);
    let reopened = baton_engine::Engine::open(config).await.unwrap();
    assert_eq!(reopened.provider_settings(), vec![saved.clone()]);
    assert!(reopened.providers().get("fake").is_some());
    // A built-in name cannot be taken.
    let mut mock = saved.clone();
    mock.name = "mock".into();
    assert!(matches!(
        reopened.save_provider(mock, None).await,
        Err(ProviderConfigError::Invalid { field: "name", .. })
    ));
    reopened.remove_provider("fake").await.unwrap();
    assert!(reopened.provider_settings().is_empty());
    assert!(matches!(
        reopened.remove_provider("fake").await,
        Err(ProviderConfigError::NotFound(_))
    ));
    let err = reopened.submit(on_fake("x")).await.unwrap_err();
    assert!(err.to_string().contains("unknown provider 'fake'"), "{err}");
    reopened.shutdown().await;
}

#[tokio::test]
async fn a_provider_test_reports_the_model_latency_and_tokens() {
    let server = FakeServer::start(Reply::text(&["po", "ng"]).usage(12, 2)).await;
    let t = engine_with(settings(&server, ProviderKind::Anthropic)).await;
    let report = t.engine.test_provider("fake", None).await.unwrap();
    assert_eq!(report.model, "fake-model");
    assert_eq!(report.output, "pong");
    assert_eq!(
        (report.prompt_tokens, report.completion_tokens),
        (Some(12), Some(2))
    );
    assert!(report.ttft_ms.is_some());
    server.set_default(Reply::error(401, "bad key"));
    let err = t.engine.test_provider("fake", None).await.unwrap_err();
    assert_eq!(err.code(), "provider_auth", "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_429_without_retry_after_still_cools_the_provider_down_for_the_least_backoff() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    server.push(Reply::error(429, "Too many requests"));
    // The test engine's backoff starts at 100 ms: the first retry waits 50–100 ms,
    // so the provider cools down for 50 ms.
    let t = engine_with(settings(&server, ProviderKind::OpenaiCompatible)).await;
    let mut rx = t.engine.subscribe();
    let first = t.engine.submit(on_fake("first")).await.unwrap();
    reach(&mut rx, first.id, TaskState::Scheduled).await;
    let second = t.engine.submit(on_fake("second")).await.unwrap();
    let held = tokio::time::timeout(PATIENCE, async {
        loop {
            let e = rx.recv().await.unwrap();
            match e.kind {
                EventKind::Held { reason, .. } if e.task_id == second.id => return reason,
                EventKind::State {
                    to: TaskState::Running,
                    ..
                } => panic!("nothing may start while the provider cools down"),
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(held, HoldReason::RateLimit);
    reach_all(
        &mut rx,
        vec![
            (first.id, TaskState::Completed),
            (second.id, TaskState::Completed),
        ],
    )
    .await;
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for later in &requests[1..] {
        assert!(
            later.at - requests[0].at >= Duration::from_millis(50),
            "a request went out during the cool-down"
        );
    }
}

#[tokio::test]
async fn the_models_a_provider_lists_are_asked_with_its_key_and_each_protocols_headers() {
    const KEY: &str = "sk-ant-models-0123456789abcdef";
    std::env::set_var("BATON_TEST_KEY_MODELS", KEY);
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    server.set_models(
        fake_llm::ListFormat::Anthropic,
        &["claude-sonnet-4-5", "claude-haiku-4-5"],
    );
    server.require_key(KEY);
    let mut s = settings(&server, ProviderKind::Anthropic);
    s.key = KeyRef::Env {
        var: "BATON_TEST_KEY_MODELS".into(),
    };
    let t = engine_with(s).await;

    let models = t.engine.provider_models("fake").await.unwrap();

    assert_eq!(models, ["claude-sonnet-4-5", "claude-haiku-4-5"]);
    let asked = server.list_requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].uri, "/v1/models?limit=1000");
    assert_eq!(asked[0].header("x-api-key"), Some(KEY));
    assert_eq!(asked[0].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(asked[0].header("authorization"), None);

    // The same server as an OpenAI-compatible provider: `{base}/models`, a bearer key.
    let mut s = settings(&server, ProviderKind::OpenaiCompatible);
    s.name = "compatible".into();
    s.key = KeyRef::Env {
        var: "BATON_TEST_KEY_MODELS".into(),
    };
    t.engine.save_provider(s, None).await.unwrap();
    server.set_models(fake_llm::ListFormat::OpenAi, &["gpt-4o-mini"]);
    assert_eq!(
        t.engine.provider_models("compatible").await.unwrap(),
        ["gpt-4o-mini"]
    );
    let asked = server.list_requests();
    assert_eq!(asked[1].uri, "/v1/models");
    let bearer = format!("Bearer {KEY}");
    assert_eq!(asked[1].header("authorization"), Some(bearer.as_str()));

    // A refusal that echoes the key is reported without it.
    server.require_key("sk-another-key-entirely-0000");
    let err = t.engine.provider_models("fake").await.unwrap_err();
    assert_eq!(err.code(), "provider_auth", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("[redacted]") && !text.contains(&KEY[..12]) && !text.contains(&KEY[12..]),
        "{text}"
    );

    assert_eq!(
        t.engine.provider_models("mock").await.unwrap(),
        Vec::<String>::new()
    );
    assert!(matches!(
        t.engine.provider_models("nothing").await,
        Err(ProviderConfigError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_provider_without_a_model_list_or_a_server_says_so_in_one_sentence() {
    let server = FakeServer::start(Reply::text(&["ok"])).await;
    let t = engine_with(settings(&server, ProviderKind::OpenaiCompatible)).await;
    // No model list here: the fake answers 404.
    let err = t.engine.provider_models("fake").await.unwrap_err();
    assert_eq!(err.code(), "provider_invalid_request", "{err}");
    assert!(
        err.to_string()
            .starts_with("provider 'fake' rejected the request (HTTP 404"),
        "{err}"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = ProviderSettings::new(
        "gone",
        ProviderKind::OpenaiCompatible,
        format!("http://{}/v1", closed.local_addr().unwrap()),
    );
    drop(closed);
    t.engine.save_provider(gone, None).await.unwrap();
    let err = t.engine.provider_models("gone").await.unwrap_err();
    assert_eq!(err.code(), "provider_unavailable", "{err}");
    assert!(
        err.to_string()
            .starts_with("cannot connect to provider 'gone'"),
        "{err}"
    );
}

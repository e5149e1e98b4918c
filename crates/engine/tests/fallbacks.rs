//! Fallbacks (docs/fallbacks.md) against real fake servers over HTTP: each
//! error class moves a task to its documented next target; the first provider
//! down sends a queue to the second; attempts say which target answered and
//! what it cost; bad fallbacks are refused with nothing stored.

mod common;

use baton_engine::{
    ErrorClass, EventKind, NewTask, Prices, ProviderKind, ProviderSettings, Target, Task, TaskState,
};
use common::*;
use fake_llm::{FakeServer, ListFormat, Protocol, Reply, ResettingServer};

/// Provider `name` of `kind` at `url` (a fake server's), model `fake-model`.
fn provider(name: &str, kind: ProviderKind, url: &str) -> ProviderSettings {
    let base = match kind {
        ProviderKind::OpenaiCompatible => format!("{url}/v1"),
        _ => url.to_string(),
    };
    let mut s = ProviderSettings::new(name, kind, base);
    s.model = Some("fake-model".into());
    s
}

fn target(provider: &str) -> Target {
    Target {
        provider: provider.into(),
        model: None,
    }
}

/// A task on `first` falling back to `second`, then `third`.
fn with_fallbacks(prompt: &str) -> NewTask {
    NewTask {
        prompt: prompt.into(),
        provider: Some("first".into()),
        fallbacks: vec![target("second"), target("third")],
        max_attempts: Some(5),
        ..NewTask::default()
    }
}

/// How the first provider fails its first attempt.
enum Fault {
    /// The server answers this (once, then "ok").
    Reply(ProviderKind, Box<Reply>),
    ConnectionRefused,
    ConnectionReset,
}

struct Case {
    name: &'static str,
    fault: Fault,
    /// The target the second attempt must go to.
    next: &'static str,
    /// The switch carries a warning (auth).
    warning: bool,
}

fn matrix() -> Vec<Case> {
    use ProviderKind::{Anthropic, OpenaiCompatible as OpenAi};
    let reply = |kind, r: Reply| Fault::Reply(kind, Box::new(r));
    vec![
        Case {
            name: "429 with Retry-After",
            fault: reply(OpenAi, Reply::error(429, "slow down").retry_after("60")),
            next: "second",
            warning: false,
        },
        Case {
            name: "429 without Retry-After",
            fault: reply(Anthropic, Reply::error(429, "slow down")),
            next: "second",
            warning: false,
        },
        Case {
            name: "500",
            fault: reply(OpenAi, Reply::error(500, "boom")),
            next: "second",
            warning: false,
        },
        Case {
            name: "503",
            fault: reply(Anthropic, Reply::error(503, "unavailable")),
            next: "second",
            warning: false,
        },
        Case {
            name: "connection refused",
            fault: Fault::ConnectionRefused,
            next: "second",
            warning: false,
        },
        Case {
            name: "connection reset",
            fault: Fault::ConnectionReset,
            next: "second",
            warning: false,
        },
        Case {
            name: "stalled stream",
            fault: reply(OpenAi, Reply::words(5).stall_after(1)),
            next: "second",
            warning: false,
        },
        Case {
            // `second`'s window is too small for the prompt: `third` is next.
            name: "context length, OpenAI's format",
            fault: reply(OpenAi, Reply::context_length(Protocol::OpenAi)),
            next: "third",
            warning: false,
        },
        Case {
            name: "context length, Anthropic's format",
            fault: reply(Anthropic, Reply::context_length(Protocol::Anthropic)),
            next: "third",
            warning: false,
        },
        Case {
            name: "401",
            fault: reply(OpenAi, Reply::error(401, "invalid x-api-key")),
            next: "second",
            warning: true,
        },
    ]
}

/// Runs one task through `case`; returns it completed, and the fallback
/// events it had.
async fn run_case(case: Case) -> (Task, Vec<EventKind>) {
    let t = started_with(|_| {}).await;
    // Kept alive for the whole case.
    let mut _servers = Vec::new();
    let mut _resetting = None;
    let first = match case.fault {
        Fault::Reply(kind, reply) => {
            let server = FakeServer::start(Reply::text(&["from first"])).await;
            server.push(*reply);
            let mut s = provider("first", kind, &server.url());
            s.idle_timeout_ms = Some(300);
            _servers.push(server);
            s
        }
        Fault::ConnectionRefused => {
            // A port nothing listens on: bound, then let go.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            provider(
                "first",
                ProviderKind::OpenaiCompatible,
                &format!("http://127.0.0.1:{port}"),
            )
        }
        Fault::ConnectionReset => {
            let server = ResettingServer::start().await;
            let s = provider("first", ProviderKind::OpenaiCompatible, &server.url());
            _resetting = Some(server);
            s
        }
    };
    t.engine.save_provider(first, None).await.unwrap();
    for (name, kind) in [
        ("second", ProviderKind::OpenaiCompatible),
        ("third", ProviderKind::Anthropic),
    ] {
        let server = FakeServer::start(Reply::text(&["from ", name]).usage(12, 2)).await;
        let mut s = provider(name, kind, &server.url());
        if name == "second" {
            // Too small for any prompt: a context-length failure skips it.
            s.context_windows.insert("fake-model".into(), 5);
            s.prices = Some(Prices {
                input_per_mtok: 1.0,
                output_per_mtok: 2.0,
            });
        }
        t.engine.save_provider(s, None).await.unwrap();
        _servers.push(server);
    }
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(with_fallbacks("Summarise the minutes of the last meeting"))
        .await
        .unwrap();
    let mut fallbacks = Vec::new();
    let done = tokio::time::timeout(PATIENCE, async {
        loop {
            let e = rx.recv().await.expect("events");
            if e.task_id != task.id {
                continue;
            }
            match e.kind {
                kind @ EventKind::Fallback { .. } => fallbacks.push(kind),
                EventKind::State { to, task, .. } if to.is_terminal() => return task,
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{}: the task never ended", case.name));
    t.engine.shutdown().await;
    ((*done).clone(), fallbacks)
}

#[tokio::test]
async fn each_fault_picks_the_documented_next_target() {
    for case in matrix() {
        let (name, next, warning) = (case.name, case.next, case.warning);
        let (task, fallbacks) = run_case(case).await;
        assert_eq!(
            task.status,
            TaskState::Completed,
            "{name}: {:?}",
            task.error
        );
        let answered: Vec<(&str, &str)> = task
            .history
            .iter()
            .map(|a| {
                (
                    a.provider.as_deref().unwrap_or("?"),
                    a.model.as_deref().unwrap_or("?"),
                )
            })
            .collect();
        assert_eq!(
            answered,
            [("first", "fake-model"), (next, "fake-model")],
            "{name}: the attempts' targets"
        );
        assert_eq!(
            task.output.as_deref(),
            Some(format!("from {next}").as_str()),
            "{name}"
        );
        assert_eq!(task.target(), (next, "fake-model"), "{name}");
        // The switch is announced once, with a warning only for refused credentials.
        match fallbacks.as_slice() {
            [EventKind::Fallback {
                from,
                to,
                warning: w,
                message,
                ..
            }] => {
                assert_eq!(from.provider, "first", "{name}");
                assert_eq!(to.provider, next, "{name}");
                assert_eq!(*w, warning, "{name}: {message}");
            }
            other => panic!("{name}: fallback events {other:?}"),
        }
        // The switch does not wait for the first provider's Retry-After or backoff.
        let gap = task.history[1].started_at - task.history[0].finished_at.unwrap();
        assert!(
            gap < chrono::Duration::seconds(5),
            "{name}: the next target started {gap} after the failure"
        );
        // What each attempt cost: the second provider is priced, the others not.
        let costs: Vec<Option<f64>> = task
            .history
            .iter()
            .map(|a| a.cost_usd.map(|c| c.0))
            .collect();
        if next == "second" {
            assert_eq!(costs, [None, Some((12.0 + 2.0 * 2.0) / 1e6)], "{name}");
        } else {
            assert_eq!(costs, [None, None], "{name}");
        }
    }
}

#[tokio::test]
async fn a_context_window_from_the_model_list_decides_too() {
    let t = started_with(|_| {}).await;
    let first = FakeServer::start(Reply::context_length(Protocol::OpenAi)).await;
    // vLLM's list gives every model a window of 8192 tokens (`max_model_len`).
    let second = FakeServer::start(Reply::text(&["from second"])).await;
    second.set_models(ListFormat::Vllm, &["fake-model"]);
    let third = FakeServer::start(Reply::text(&["from third"])).await;
    for (name, server) in [("first", &first), ("second", &second), ("third", &third)] {
        let s = provider(name, ProviderKind::OpenaiCompatible, &server.url());
        t.engine.save_provider(s, None).await.unwrap();
    }
    let mut rx = t.engine.subscribe();
    // About 12,000 tokens: more than 8192.
    let long = "the quick brown fox jumps over the lazy dog ".repeat(1300);
    let task = t.engine.submit(with_fallbacks(&long)).await.unwrap();
    let done = reach(&mut rx, task.id, TaskState::Completed).await;
    assert_eq!(done.output.as_deref(), Some("from third"));
    assert_eq!(
        second.requests().len(),
        0,
        "the too-small model was not asked"
    );
    assert_eq!(
        second.list_requests().len(),
        1,
        "its model list was read once"
    );

    // A short prompt fits the listed window: the next target is the second.
    first.push(Reply::context_length(Protocol::OpenAi));
    let short = t.engine.submit(with_fallbacks("short")).await.unwrap();
    let done = reach(&mut rx, short.id, TaskState::Completed).await;
    assert_eq!(done.output.as_deref(), Some("from second"));
    t.engine.shutdown().await;
}

#[tokio::test]
async fn a_prompt_too_long_for_every_target_fails_with_a_sentence() {
    let t = started_with(|_| {}).await;
    let server = FakeServer::start(Reply::context_length(Protocol::Anthropic)).await;
    for name in ["first", "second", "third"] {
        let mut s = provider(name, ProviderKind::Anthropic, &server.url());
        s.context_windows.insert("fake-model".into(), 5);
        t.engine.save_provider(s, None).await.unwrap();
    }
    let mut rx = t.engine.subscribe();
    let task = t
        .engine
        .submit(with_fallbacks("a prompt of more than five tokens"))
        .await
        .unwrap();
    let failed = reach(&mut rx, task.id, TaskState::Failed).await;
    assert_eq!(failed.attempts, 1);
    assert_eq!(
        failed.failure.as_ref().unwrap().class,
        ErrorClass::ContextLength
    );
    let error = failed.error.clone().unwrap();
    assert!(
        error.contains("does not fit the model's context window")
            && error.contains("fits none of the fallbacks' context windows"),
        "{error}"
    );
    t.engine.shutdown().await;
}

#[tokio::test]
async fn with_the_first_provider_down_200_queued_tasks_finish_on_the_second() {
    let workers = 8;
    let t = started_with(|c| c.workers = workers).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = provider(
        "first",
        ProviderKind::OpenaiCompatible,
        &format!("http://127.0.0.1:{port}"),
    );
    t.engine.save_provider(down, None).await.unwrap();
    let second = FakeServer::start(Reply::text(&["ok"])).await;
    t.engine
        .save_provider(
            provider("second", ProviderKind::Anthropic, &second.url()),
            None,
        )
        .await
        .unwrap();
    t.engine.set_paused(true);
    let mut rx = t.engine.subscribe();
    let mut want = Vec::new();
    for i in 0..200 {
        let task = t
            .engine
            .submit(NewTask {
                fallbacks: vec![target("second")],
                ..with_fallbacks(&format!("task {i}"))
            })
            .await
            .unwrap();
        want.push((task.id, TaskState::Completed));
    }
    t.engine.set_paused(false);
    reach_all(&mut rx, want).await;
    let tasks = t
        .engine
        .list(baton_engine::ListQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tasks.len(), 200);
    let mut on_first = 0;
    for task in &tasks {
        let last = task.history.last().unwrap();
        assert_eq!(last.provider.as_deref(), Some("second"), "{}", task.name);
        assert!(
            task.attempts <= 2,
            "{}: {} attempts",
            task.name,
            task.attempts
        );
        on_first += task
            .history
            .iter()
            .filter(|a| a.provider.as_deref() == Some("first"))
            .count();
    }
    // Once one attempt found it down, claims pass the first provider over:
    // only the tasks already running on it tried it.
    assert!(
        on_first <= workers,
        "{on_first} attempts went to a provider known to be down"
    );
    assert_eq!(second.requests().len(), 200);
    t.engine.shutdown().await;
}

#[tokio::test]
async fn unknown_or_malformed_fallbacks_are_refused_naming_the_field_and_nothing_is_stored() {
    let t = started_with(|_| {}).await;
    let refused = |new: NewTask| {
        let engine = t.engine.clone();
        async move { engine.submit(new).await.unwrap_err() }
    };
    let err = refused(NewTask {
        fallbacks: vec![target("nowhere")],
        ..NewTask::new("x")
    })
    .await;
    assert_eq!(err.code(), "invalid_input");
    let text = err.to_string();
    assert!(
        text.contains("fallback 'nowhere'") && text.contains("unknown provider"),
        "{text}"
    );
    assert!(
        matches!(
            err,
            baton_engine::TaskError::Invalid {
                field: "fallbacks",
                ..
            }
        ),
        "{err:?}"
    );
    for bad in [
        vec![target("mock")],
        vec![Target {
            provider: "mock".into(),
            model: Some("".into()),
        }],
        vec![Target {
            provider: "has space".into(),
            model: None,
        }],
        (0..9)
            .map(|i| Target {
                provider: "mock".into(),
                model: Some(format!("m{i}")),
            })
            .collect(),
    ] {
        let err = refused(NewTask {
            fallbacks: bad.clone(),
            ..NewTask::new("x")
        })
        .await;
        assert_eq!(err.code(), "invalid_input", "{bad:?}");
        assert!(
            matches!(
                err,
                baton_engine::TaskError::Invalid {
                    field: "fallbacks",
                    ..
                }
            ),
            "{bad:?}: {err:?}"
        );
    }
    let schedule = baton_engine::NewSchedule::new(
        "nightly",
        "0 3 * * *",
        NewTask {
            fallbacks: vec![target("nowhere")],
            ..NewTask::new("x")
        },
    );
    assert_eq!(
        t.engine.add_schedule(schedule).await.unwrap_err().code(),
        "invalid_input"
    );
    assert!(t.engine.schedules().await.unwrap().is_empty());
    let listed = t
        .engine
        .list(baton_engine::ListQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(listed.is_empty(), "nothing was stored");
    t.engine.shutdown().await;
}

#[tokio::test]
async fn a_schedules_fallbacks_reach_every_task_it_creates_and_a_manual_retry_starts_on_the_first_target(
) {
    let t = started_with(|_| {}).await;
    let first = FakeServer::start(Reply::error(401, "bad key")).await;
    let second = FakeServer::start(Reply::error(401, "bad key too")).await;
    for (name, server) in [("first", &first), ("second", &second)] {
        let s = provider(name, ProviderKind::OpenaiCompatible, &server.url());
        t.engine.save_provider(s, None).await.unwrap();
    }
    let schedule = t
        .engine
        .add_schedule(baton_engine::NewSchedule::new(
            "nightly",
            "0 3 * * *",
            NewTask {
                fallbacks: vec![target("second")],
                fallback_after: Some(2),
                ..with_fallbacks("x")
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        schedule.template.fallbacks,
        [Target {
            provider: "second".into(),
            model: Some("fake-model".into())
        }],
        "the model is resolved when saved"
    );
    assert_eq!(schedule.template.fallback_after, Some(2));
    let mut rx = t.engine.subscribe();
    let (_, tasks) = t.engine.fire_schedule_now(schedule.id).await.unwrap();
    let failed = reach(&mut rx, tasks[0].id, TaskState::Failed).await;
    assert_eq!(failed.fallbacks, schedule.template.fallbacks);
    assert_eq!(failed.fallback_after, Some(2));
    assert_eq!(
        failed.attempts, 2,
        "auth: first, then second, then no target left"
    );
    assert_eq!(failed.target(), ("second", "fake-model"));

    first.set_default(Reply::text(&["fixed"]));
    let retried = t.engine.retry(failed.id, None).await.unwrap();
    assert_eq!(retried.target(), ("first", "fake-model"));
    let done = reach(&mut rx, failed.id, TaskState::Completed).await;
    assert_eq!(
        done.history.last().unwrap().provider.as_deref(),
        Some("first")
    );
    t.engine.shutdown().await;
}

/// 200 queued tasks, 8 workers, their first provider accepting connections but
/// never answering (its idle timeout, 1 s, ends each attempt there), against
/// the same load on the second provider alone. Prints the p50 and p99 from
/// submission to completion of each; docs/PERFORMANCE.md keeps the figures.
/// No warm-up round: the process is as cold as a fresh engine's (an attempt that
/// got nothing back is counted without loading the tokenizer).
/// `cargo test --release -p baton-engine --test fallbacks -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, run by hand"]
async fn measure_the_latency_a_down_first_provider_adds() {
    let quantiles = |mut ms: Vec<i64>| {
        ms.sort_unstable();
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        (at(0.5), at(0.99))
    };
    let mut results = Vec::new();
    for (round, n, first_down) in [("baseline", 200, false), ("first down", 200, true)] {
        let t = started_with(|c| c.workers = 8).await;
        let hanging =
            FakeServer::start(Reply::text(&["never"]).delay(std::time::Duration::from_secs(3600)))
                .await;
        let mut first = provider("first", ProviderKind::OpenaiCompatible, &hanging.url());
        first.idle_timeout_ms = Some(1000);
        t.engine.save_provider(first, None).await.unwrap();
        let second =
            FakeServer::start(Reply::words(20).chunk_delay(std::time::Duration::from_millis(5)))
                .await;
        t.engine
            .save_provider(
                provider("second", ProviderKind::OpenaiCompatible, &second.url()),
                None,
            )
            .await
            .unwrap();
        let mut rx = t.engine.subscribe();
        let mut want = Vec::new();
        t.engine.set_paused(true);
        for i in 0..n {
            let new = if first_down {
                NewTask {
                    fallbacks: vec![target("second")],
                    ..with_fallbacks(&format!("task {i}"))
                }
            } else {
                NewTask {
                    provider: Some("second".into()),
                    ..NewTask::new(format!("task {i}"))
                }
            };
            want.push((t.engine.submit(new).await.unwrap().id, TaskState::Completed));
        }
        t.engine.set_paused(false);
        reach_all(&mut rx, want).await;
        let tasks = t
            .engine
            .list(baton_engine::ListQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let ms: Vec<i64> = tasks
            .iter()
            .map(|t| (t.finished_at.unwrap() - t.created_at).num_milliseconds())
            .collect();
        let (p50, p99) = quantiles(ms);
        println!("{round}: p50 {p50} ms, p99 {p99} ms");
        results.push(p99);
        t.engine.shutdown().await;
    }
    println!(
        "added at p99: {} ms (one attempt timeout: 1000 ms)",
        results[1] - results[0]
    );
}

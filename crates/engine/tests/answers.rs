//! Whole answers from real servers, against the fake server over real HTTP:
//! an answer the server ends before finishing is never recorded as completed;
//! why each answer stopped is recorded; tokens are counted when the server
//! reports none; a provider that preempts overlapping requests gets fewer at once.

mod common;

use baton_engine::{
    AttemptOutcome, ErrorClass, EventKind, NewTask, ProviderKind, ProviderSettings, Task, TaskState,
};
use common::*;
use fake_llm::{Ending, FakeServer, Reply};
use std::time::Duration;

const KINDS: [ProviderKind; 2] = [ProviderKind::OpenaiCompatible, ProviderKind::Anthropic];

/// A provider named `fake` of `kind` pointing at `server`, with `model`.
fn settings(server: &FakeServer, kind: ProviderKind, model: &str) -> ProviderSettings {
    let base = match kind {
        ProviderKind::OpenaiCompatible => format!("{}/v1", server.url()),
        _ => server.url(),
    };
    let mut s = ProviderSettings::new("fake", kind, base);
    s.model = Some(model.into());
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

/// Runs one task on a fresh engine against `server` until it is terminal.
async fn run_one(server: &FakeServer, kind: ProviderKind, model: &str, task: NewTask) -> Task {
    let t = engine_with(settings(server, kind, model)).await;
    let mut rx = t.engine.subscribe();
    let task = t.engine.submit(task).await.unwrap();
    states_until_terminal(&mut rx, task.id).await;
    let done = t.engine.get(task.id).await.unwrap();
    t.engine.shutdown().await;
    done
}

#[tokio::test]
async fn an_answer_the_server_ends_before_finishing_is_retried_and_keeps_its_partial_output() {
    for kind in KINDS {
        for ending in [Ending::EndMarker, Ending::Eof, Ending::Closed] {
            let server = FakeServer::start(Reply::text(&["whole ", "answer"])).await;
            server.push(Reply::words(6).end_after(2, ending));
            let done = run_one(&server, kind, "fake-model", on_fake("x")).await;
            let case = format!("{kind} {ending:?}");
            assert_eq!(done.status, TaskState::Completed, "{case}");
            assert_eq!(done.output.as_deref(), Some("whole answer"), "{case}");
            let cut = &done.history[0];
            assert_eq!(cut.outcome, Some(AttemptOutcome::Retrying), "{case}");
            let failure = cut.failure.clone().expect("a failure");
            assert_eq!(failure.class, ErrorClass::Incomplete, "{case}");
            assert!(
                cut.error
                    .as_deref()
                    .unwrap()
                    .contains("ended the answer before finishing"),
                "{case}: {:?}",
                cut.error
            );
            assert_eq!(cut.finish_reason, None, "{case}");
            // A broken connection may lose the last chunk on the way.
            let partial = cut.partial_output.clone().unwrap_or_default();
            assert!(
                partial.starts_with("w0 ") && "w0 w1 ".starts_with(&partial),
                "{case}: the partial answer stays on its attempt: {partial:?}"
            );
            assert_eq!(done.history[1].partial_output, None, "{case}");
        }
    }
}

#[tokio::test]
async fn an_answer_without_a_finish_reason_is_never_completed() {
    for kind in KINDS {
        // Every chunk arrives and the stream ends in order, but nothing says why
        // it stopped; nor does a whole reply. No attempt may complete.
        for reply in [
            Reply::text(&["looks ", "whole"]).finish(None),
            Reply::text(&["looks whole"]).finish(None).whole(),
        ] {
            let server = FakeServer::start(reply.clone()).await;
            let done = run_one(
                &server,
                kind,
                "fake-model",
                NewTask {
                    max_attempts: Some(2),
                    ..on_fake("x")
                },
            )
            .await;
            let case = format!("{kind} whole={}", reply.whole);
            assert_eq!(done.status, TaskState::Failed, "{case}");
            assert_eq!(
                done.failure.unwrap().class,
                ErrorClass::Incomplete,
                "{case}"
            );
            assert!(done
                .history
                .iter()
                .all(|a| a.outcome != Some(AttemptOutcome::Completed)));
            assert_eq!(server.requests().len(), 2, "{case}: retried by the policy");
        }
    }
}

#[tokio::test]
async fn why_an_answer_stopped_is_recorded_per_attempt_and_on_the_task() {
    for kind in KINDS {
        for (finish, whole) in [("stop", false), ("length", false), ("length", true)] {
            let mut reply = Reply::text(&["a", "b"]).finish(Some(finish));
            reply.whole = whole;
            let server = FakeServer::start(reply).await;
            let done = run_one(
                &server,
                kind,
                "fake-model",
                NewTask {
                    max_tokens: Some(24),
                    ..on_fake("x")
                },
            )
            .await;
            let case = format!("{kind} {finish} whole={whole}");
            assert_eq!(done.status, TaskState::Completed, "{case}");
            // Anthropic's stop_reason (end_turn, max_tokens) maps onto these.
            assert_eq!(done.finish_reason.as_deref(), Some(finish), "{case}");
            assert_eq!(
                done.history[0].finish_reason.as_deref(),
                Some(finish),
                "{case}"
            );
        }
    }
}

#[tokio::test]
async fn tokens_are_counted_when_the_server_reports_none_and_marked_estimated() {
    for kind in KINDS {
        // "Hello, world" is 3 tokens in o200k (gpt-4o's tokenizer); the prompt
        // "say hello" is 2, plus 3 for its message and 3 to prime the reply.
        let server = FakeServer::start(Reply::text(&["Hel", "lo, ", "world"]).no_usage()).await;
        let mut s = settings(&server, kind, "gpt-4o-mini");
        s.prices = Some(baton_engine::Prices {
            input_per_mtok: 1_000_000.0,
            output_per_mtok: 1_000_000.0,
        });
        let t = engine_with(s).await;
        let mut rx = t.engine.subscribe();
        let task = t.engine.submit(on_fake("say hello")).await.unwrap();
        let done = reach(&mut rx, task.id, TaskState::Completed).await;
        assert_eq!(
            (done.prompt_tokens, done.completion_tokens),
            (Some(8), Some(3)),
            "{kind}"
        );
        assert!(done.usage_estimated, "{kind}");
        assert!(done.history[0].usage_estimated, "{kind}");
        assert_eq!(done.cost_usd.map(|c| c.0), Some(11.0), "{kind}");
        t.engine.shutdown().await;

        // Reported usage wins, and is not marked.
        let server = FakeServer::start(Reply::text(&["Hel", "lo"]).usage(21, 4)).await;
        let done = run_one(&server, kind, "gpt-4o-mini", on_fake("say hello")).await;
        assert_eq!(
            (done.prompt_tokens, done.completion_tokens),
            (Some(21), Some(4))
        );
        assert!(!done.usage_estimated && !done.history[0].usage_estimated);
    }
}

/// The scenario: a server that ends a running answer when a newer
/// request arrives, four workers, six tasks, eight attempts each.
#[tokio::test]
async fn against_a_preempting_server_no_interrupted_answer_completes_and_concurrency_backs_off() {
    for kind in KINDS {
        let answer: String = (0..8).map(|i| format!("w{i} ")).collect();
        let server = FakeServer::start(
            Reply::words(8)
                .chunk_delay(Duration::from_millis(15))
                .no_usage(),
        )
        .await;
        server.set_preempting(true);
        let t = started_with(|c| c.workers = 4).await;
        t.engine
            .save_provider(settings(&server, kind, "fake-model"), None)
            .await
            .unwrap();
        let mut rx = t.engine.subscribe();
        let mut ids = Vec::new();
        for i in 0..6 {
            let task = NewTask {
                max_attempts: Some(8),
                ..on_fake(&format!("task {i}"))
            };
            ids.push(t.engine.submit(task).await.unwrap().id);
        }
        let mut lowered = Vec::new();
        let mut open: Vec<_> = ids.clone();
        tokio::time::timeout(PATIENCE, async {
            while !open.is_empty() {
                let e = rx.recv().await.expect("no lag");
                match e.kind {
                    EventKind::ConcurrencyLowered {
                        max_concurrency,
                        message,
                        ..
                    } => lowered.push((max_concurrency, message)),
                    EventKind::State { to, .. } if to.is_terminal() => {
                        open.retain(|id| *id != e.task_id)
                    }
                    _ => {}
                }
            }
        })
        .await
        .expect("every task ends");

        assert!(
            server.preempted() > 0,
            "{kind}: the server preempted nothing"
        );
        assert!(
            !lowered.is_empty(),
            "{kind}: the concurrency never backed off"
        );
        assert!(
            lowered.windows(2).all(|w| w[1].0 < w[0].0) && lowered[0].0 < 4,
            "{kind}: each backoff lowers the limit: {lowered:?}"
        );
        assert!(lowered[0].1.contains("interrupted answers"), "{lowered:?}");
        let settings = t.engine.provider_settings();
        let in_force = settings[0]
            .lowered_concurrency
            .expect("shown in the settings");
        assert_eq!(in_force.max_concurrency, lowered.last().unwrap().0);

        let mut completed = 0;
        for id in ids {
            let task = t.engine.get(id).await.unwrap();
            if task.status != TaskState::Completed {
                continue;
            }
            completed += 1;
            assert_eq!(
                task.output.as_deref(),
                Some(answer.as_str()),
                "{kind}: a completed task has a whole answer"
            );
            assert_eq!(task.finish_reason.as_deref(), Some("stop"));
            assert!(
                task.prompt_tokens.is_some() && task.completion_tokens.is_some(),
                "{kind}: every completed task has token counts"
            );
            assert!(task.usage_estimated, "{kind}: the server reported none");
            for failure in task.history.iter().filter_map(|a| a.failure.as_ref()) {
                assert_eq!(failure.class, ErrorClass::Incomplete, "{kind}");
            }
        }
        assert!(completed >= 4, "{kind}: only {completed} of 6 completed");
        t.engine.shutdown().await;
    }
}

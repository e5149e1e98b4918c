//! Test helpers: an engine on a temporary redb file, providers that report what
//! happens to their calls, and waits on events (never on sleeps).
#![allow(dead_code)]

use baton_engine::{
    Clock, CompletionRequest, Engine, EngineConfig, Event, EventKind, NewTask, OutputSink,
    Provider, ProviderError, Task, TaskId, TaskState,
};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Long enough that only a bug reaches it; under a paused clock it costs nothing.
pub const PATIENCE: Duration = Duration::from_secs(600);

pub struct TestEngine {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub config: EngineConfig,
}

pub fn config(dir: &tempfile::TempDir) -> EngineConfig {
    let mut config = EngineConfig::new(dir.path().join("baton.redb"));
    config.clock = Clock::tokio();
    config.backoff.base = Duration::from_millis(100);
    config
}

/// An opened (not started) engine with a tokio clock; `tweak` may change the config.
pub async fn open_with(tweak: impl FnOnce(&mut EngineConfig)) -> TestEngine {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&dir);
    tweak(&mut config);
    let engine = Engine::open(config.clone()).await.unwrap();
    TestEngine {
        dir,
        engine,
        config,
    }
}

pub async fn started_with(tweak: impl FnOnce(&mut EngineConfig)) -> TestEngine {
    let t = open_with(tweak).await;
    t.engine.start().await;
    t
}

pub fn task(prompt: &str, model: &str) -> NewTask {
    NewTask {
        prompt: prompt.into(),
        model: Some(model.into()),
        ..NewTask::default()
    }
}

/// Waits for `id` to reach `to`, returning the task as the event carried it.
pub async fn reach(rx: &mut baton_engine::Subscription, id: TaskId, to: TaskState) -> Arc<Task> {
    tokio::time::timeout(PATIENCE, async {
        loop {
            match rx.recv().await.expect("event stream ended or lagged") {
                Event {
                    task_id,
                    kind: EventKind::State { to: t, task, .. },
                    ..
                } if task_id == id && t == to => return task,
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("task {id} never reached {to}"))
}

/// Waits until each task has reached its state, in any order.
pub async fn reach_all(rx: &mut baton_engine::Subscription, mut want: Vec<(TaskId, TaskState)>) {
    tokio::time::timeout(PATIENCE, async {
        while !want.is_empty() {
            if let Event {
                task_id,
                kind: EventKind::State { to, .. },
                ..
            } = rx.recv().await.expect("event stream ended or lagged")
            {
                want.retain(|w| *w != (task_id, to));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never reached: {want:?}"))
}

/// Every state event of `id` until it reaches a terminal state.
pub async fn states_until_terminal(
    rx: &mut baton_engine::Subscription,
    id: TaskId,
) -> Vec<(Option<TaskState>, TaskState)> {
    tokio::time::timeout(PATIENCE, async {
        let mut seen = Vec::new();
        loop {
            if let Event {
                task_id,
                kind: EventKind::State { from, to, .. },
                ..
            } = rx.recv().await.expect("event stream ended or lagged")
            {
                if task_id == id {
                    seen.push((from, to));
                    if to.is_terminal() {
                        return seen;
                    }
                }
            }
        }
    })
    .await
    .expect("task never became terminal")
}

pub async fn idle(engine: &Engine) {
    tokio::time::timeout(PATIENCE, engine.wait_idle())
        .await
        .expect("engine never became idle")
        .unwrap();
}

/// A provider whose calls never finish on their own. It reports each call's start
/// and the moment its future is dropped (the call aborted).
pub struct Gate {
    pub started: mpsc::UnboundedSender<TaskId>,
    pub dropped: mpsc::UnboundedSender<TaskId>,
}

pub struct GateEvents {
    pub started: mpsc::UnboundedReceiver<TaskId>,
    pub dropped: mpsc::UnboundedReceiver<TaskId>,
}

pub fn gate() -> (Arc<Gate>, GateEvents) {
    let (started, started_rx) = mpsc::unbounded_channel();
    let (dropped, dropped_rx) = mpsc::unbounded_channel();
    (
        Arc::new(Gate { started, dropped }),
        GateEvents {
            started: started_rx,
            dropped: dropped_rx,
        },
    )
}

struct OnDrop(Option<(mpsc::UnboundedSender<TaskId>, TaskId)>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some((tx, id)) = self.0.take() {
            let _ = tx.send(id);
        }
    }
}

impl Provider for Gate {
    fn default_model(&self) -> &str {
        "gate"
    }
    fn check_model(&self, _model: &str) -> Result<(), String> {
        Ok(())
    }
    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        _output: OutputSink,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let _guard = OnDrop(Some((self.dropped.clone(), request.task_id)));
            let _ = self.started.send(request.task_id);
            std::future::pending::<()>().await;
            unreachable!()
        })
    }
}

/// Counts calls per task and the most calls in flight at once; each call takes
/// `hold` (tokio time).
#[derive(Default)]
pub struct Counter {
    pub calls: Mutex<HashMap<TaskId, usize>>,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub hold: Duration,
}

impl Provider for Counter {
    fn default_model(&self) -> &str {
        "count"
    }
    fn check_model(&self, _model: &str) -> Result<(), String> {
        Ok(())
    }
    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        _output: OutputSink,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            *self
                .calls
                .lock()
                .unwrap()
                .entry(request.task_id)
                .or_default() += 1;
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.hold).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(format!("counted {}", request.prompt))
        })
    }
}

//! Providers: what answers a prompt. The engine holds them by name.
//!
//! The mock lives here; real HTTP providers come with their own module.

mod mock;

pub use mock::MockProvider;

use crate::clock::Clock;
use crate::events::{Draft, EventKind};
use crate::shared::Shared;
use crate::task::TaskId;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One call to a provider.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    pub task_id: TaskId,
    /// The effective prompt (a chained task's has its parent's output bound in).
    pub prompt: String,
    pub model: String,
    /// 1 for the first attempt.
    pub attempt: u32,
}

/// Why a call failed, and whether another attempt may succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub message: String,
    pub retryable: bool,
}

impl ProviderError {
    pub fn retryable(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            retryable: true,
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Something that answers prompts. `complete` must be cancel-safe: the engine
/// drops the future to abort the call (cancel, timeout, shutdown).
pub trait Provider: Send + Sync + 'static {
    /// The model used when a task names none.
    fn default_model(&self) -> &str;

    /// Refuses a model string this provider cannot use, with one sentence why.
    fn check_model(&self, model: &str) -> Result<(), String>;

    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        output: OutputSink,
    ) -> BoxFuture<'a, Result<String, ProviderError>>;
}

/// Where a provider sends output as it arrives; each piece becomes an event.
pub struct OutputSink {
    shared: Arc<Shared>,
    clock: Clock,
    task_id: TaskId,
    attempt: u32,
    next_index: u32,
}

impl OutputSink {
    pub(crate) fn new(shared: Arc<Shared>, clock: Clock, task_id: TaskId, attempt: u32) -> Self {
        OutputSink {
            shared,
            clock,
            task_id,
            attempt,
            next_index: 0,
        }
    }

    pub fn send(&mut self, chunk: impl Into<String>) {
        let index = self.next_index;
        self.next_index += 1;
        self.shared.events.publish(Draft {
            at: self.clock.now(),
            task_id: self.task_id,
            kind: EventKind::Output {
                attempt: self.attempt,
                index,
                chunk: chunk.into(),
            },
        });
    }
}

/// Providers by name. `mock` is always there.
#[derive(Clone)]
pub struct Providers {
    by_name: BTreeMap<String, Arc<dyn Provider>>,
}

impl Default for Providers {
    fn default() -> Self {
        let mut by_name: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        by_name.insert("mock".into(), Arc::new(MockProvider));
        Providers { by_name }
    }
}

impl Providers {
    /// Adds or replaces a provider.
    pub fn insert(&mut self, name: impl Into<String>, provider: Arc<dyn Provider>) {
        self.by_name.insert(name.into(), provider);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

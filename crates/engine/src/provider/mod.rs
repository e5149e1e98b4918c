//! Providers: what answers a prompt. The engine holds them by name.
//!
//! # Layout
//! - this file: the [`Provider`] trait, [`CompletionRequest`], [`ProviderError`] and
//!   its class, the [`OutputSink`] a provider streams into, and [`Providers`].
//! - `mock`: the deterministic mock (always registered as `mock`).
//! - `limits`: per-provider concurrency, requests and tokens per minute, the
//!   cool-down after a 429, and the lowered concurrency of a provider that keeps
//!   interrupting answers; the dispatcher consults it before claiming a task.
//! - `tokens`: Baton's own token count, for providers that report no usage.
//! - `settings`: a configured provider as stored (kind, base URL, model, limits,
//!   prices, where its key is).
//! - `keys`: API keys in the OS keychain or an environment variable; redaction.
//! - `http`: OpenAI-compatible and Anthropic providers over streaming HTTP.
//! - `registry`: built-in and configured providers by name.
//! - `admin`: the engine's provider API (save, remove, test, list models, add a
//!   local server).
//! - `detect`: local model servers on loopback (Ollama, LM Studio, llama.cpp's
//!   server, Jan, vLLM), found through their model-list endpoints.

mod admin;
mod detect;
mod http;
pub(crate) mod keys;
mod limits;
mod mock;
mod registry;
mod settings;
mod tokens;

pub use admin::ProviderTest;
pub use detect::{Detection, LocalServer, LocalServerKind, Unrecognised};
pub use keys::{ApiKey, KeyError, KEYCHAIN_SERVICE};
pub use limits::{HoldReason, Limits, LoweredConcurrency};
pub use mock::MockProvider;
pub use settings::{
    KeyRef, Prices, ProviderKind, ProviderSettings, DEFAULT_IDLE_TIMEOUT_MS, MAX_PROVIDER_NAME,
};

pub(crate) use http::{ItemResult, Polled};
pub(crate) use registry::Registry;

pub(crate) use limits::{estimate_tokens, Admission, Limiter, Permit, Share, LOWERED_FOR};
pub(crate) use tokens::{count_prompt, count_text};

/// The completion budget when a task sets no `max_tokens`: sent where the
/// protocol requires one (Anthropic) and reserved against tokens-per-minute limits.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

use crate::clock::Clock;
use crate::events::{Draft, EventKind};
use crate::shared::Shared;
use crate::task::{ErrorClass, Failure, TaskId};
use crate::writer::OutputLog;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// One call to a provider.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    pub task_id: TaskId,
    /// The effective prompt (a chained task's has its parent's output bound in).
    pub prompt: String,
    pub model: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub system: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// The task's output schema: asked for natively (OpenAI's `json_schema`
    /// response format, Anthropic's forced tool); the engine checks the answer.
    pub output_schema: Option<serde_json::Value>,
}

impl CompletionRequest {
    /// A request with no system prompt and the provider's defaults.
    pub fn new(task_id: TaskId, prompt: impl Into<String>, model: impl Into<String>) -> Self {
        CompletionRequest {
            task_id,
            prompt: prompt.into(),
            model: model.into(),
            attempt: 1,
            system: None,
            temperature: None,
            max_tokens: None,
            output_schema: None,
        }
    }
}

/// Why a call failed: its class decides whether and when it is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// One sentence for the task's error: it names the provider and what to fix.
    pub message: String,
    pub class: ErrorClass,
    /// The HTTP status, when the provider answered with one.
    pub status: Option<u16>,
    /// The provider's own message.
    pub detail: Option<String>,
    /// How long the provider asked to wait (Retry-After, retry-after-ms).
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        ProviderError {
            message: message.into(),
            class,
            status: None,
            detail: None,
            retry_after: None,
        }
    }

    /// A transient error: retried with backoff.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, message)
    }

    /// An error no retry can fix.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::InvalidRequest, message)
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    pub fn is_retryable(&self) -> bool {
        self.class.is_retryable()
    }

    pub(crate) fn failure(&self) -> Failure {
        Failure {
            class: self.class,
            status: self.status,
            message: self.detail.clone(),
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

    /// The models the provider offers, as it lists them; none by default.
    fn models(&self) -> BoxFuture<'_, Result<Vec<String>, ProviderError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The context window of `model` in tokens, when known: from the
    /// provider's settings, else from its model list once it was read.
    fn context_window(&self, _model: &str) -> Option<u32> {
        None
    }
}

/// Output is persisted once this much is pending…
const FLUSH_BYTES: usize = 4 * 1024;
/// …or this long after the last write, whichever comes first.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Where a provider sends output and usage as they arrive. Each chunk becomes an
/// output event at once; chunks are appended to the task's stored output in small
/// batches, so a cancelled or failed attempt keeps what it streamed.
pub struct OutputSink {
    target: Option<Target>,
    next_index: u32,
    pending: String,
    last_flush: Instant,
    probe: Arc<Mutex<Probe>>,
}

/// The task attempt a sink belongs to.
struct Target {
    shared: Arc<Shared>,
    clock: Clock,
    log: OutputLog,
    task_id: TaskId,
    attempt: u32,
    /// Which claim of the task (see `lifecycle::Outcome`).
    claim_no: u32,
}

/// What the executor learns from a sink after the call: time to first token,
/// the provider's usage report and finish reason, and the text streamed (to
/// count its tokens when no usage was reported).
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub started: Instant,
    pub first_output: Option<Instant>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub finish_reason: Option<String>,
    pub text: String,
}

impl OutputSink {
    pub(crate) fn new(
        shared: Arc<Shared>,
        clock: Clock,
        log: OutputLog,
        task_id: TaskId,
        attempt: u32,
        claim_no: u32,
    ) -> Self {
        let mut sink = OutputSink::detached();
        sink.target = Some(Target {
            shared,
            clock,
            log,
            task_id,
            attempt,
            claim_no,
        });
        sink
    }

    /// A sink that belongs to no task: output is only measured (a provider test).
    pub fn detached() -> Self {
        let now = Instant::now();
        OutputSink {
            target: None,
            next_index: 0,
            pending: String::new(),
            last_flush: now,
            probe: Arc::new(Mutex::new(Probe {
                started: now,
                first_output: None,
                prompt_tokens: None,
                completion_tokens: None,
                finish_reason: None,
                text: String::new(),
            })),
        }
    }

    /// One piece of output, in order.
    pub fn send(&mut self, chunk: impl Into<String>) {
        let chunk = chunk.into();
        let index = self.next_index;
        self.next_index += 1;
        if !chunk.is_empty() {
            let mut probe = lock(&self.probe);
            probe.first_output.get_or_insert_with(Instant::now);
            probe.text.push_str(&chunk);
        }
        let Some(target) = &self.target else { return };
        self.pending.push_str(&chunk);
        target.shared.events.publish(Draft {
            at: target.clock.now(),
            task_id: target.task_id,
            kind: EventKind::Output {
                attempt: target.attempt,
                index,
                chunk,
            },
        });
        if self.pending.len() >= FLUSH_BYTES || self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// The provider's usage report; a later report replaces an earlier one's
    /// numbers (streams report running totals).
    pub fn usage(&mut self, prompt_tokens: Option<u64>, completion_tokens: Option<u64>) {
        let mut probe = lock(&self.probe);
        if prompt_tokens.is_some() {
            probe.prompt_tokens = prompt_tokens;
        }
        if completion_tokens.is_some() {
            probe.completion_tokens = completion_tokens;
        }
    }

    /// Why the answer stopped, as the provider said (`stop`, `length`, …).
    pub fn finish_reason(&mut self, reason: impl Into<String>) {
        lock(&self.probe).finish_reason = Some(reason.into());
    }

    pub(crate) fn probe(&self) -> Arc<Mutex<Probe>> {
        self.probe.clone()
    }

    fn flush(&mut self) {
        self.last_flush = Instant::now();
        if self.pending.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.pending);
        if let Some(t) = &self.target {
            t.log.append(t.task_id, t.claim_no, text);
        }
    }
}

impl Drop for OutputSink {
    /// The call ended (finished, failed, or dropped by a cancel or timeout): what
    /// is pending is written. The writer takes it before the attempt's outcome.
    fn drop(&mut self) {
        self.flush();
    }
}

impl Probe {
    pub fn read(probe: &Mutex<Probe>) -> Probe {
        lock(probe).clone()
    }
}

fn lock(probe: &Mutex<Probe>) -> std::sync::MutexGuard<'_, Probe> {
    // A poisoned probe still holds plain numbers.
    probe.lock().unwrap_or_else(|e| e.into_inner())
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

    pub(crate) fn remove(&mut self, name: &str) -> Option<Arc<dyn Provider>> {
        self.by_name.remove(name)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
}

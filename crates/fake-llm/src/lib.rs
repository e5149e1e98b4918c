//! A fake LLM server for tests and benchmarks. It speaks OpenAI's chat
//! completions (`POST /v1/chat/completions`) and Anthropic's Messages
//! (`POST /v1/messages`), streamed (SSE) or whole, and is scripted per request:
//! each request takes the next [`Reply`] from the queue, or the default one.
//! A reply can be delayed, fail with any status (and Retry-After), send
//! malformed JSON, stall, leave out its usage or its finish reason, or end
//! its stream early after N deltas ([`Ending`]: the end marker without a
//! finish reason, a clean EOF, or a closed connection).
//!
//! In preempting mode ([`FakeServer::set_preempting`]) a request that arrives
//! while others stream ends the oldest of those streams early, as llama.cpp's
//! server does when a newer request takes a running generation's slot: the
//! end marker (`[DONE]`, or `message_stop`) with no finish reason.
//!
//! It records what it saw ([`Observed`]): each request's path, headers and body,
//! and every response whose stream the client dropped before it finished (the
//! connection closed), so tests can check that a cancel reached the server.
//!
//! A request that asks for structured output (OpenAI's `response_format` of
//! type `json_schema`, or Anthropic's forced tool: `tool_choice` naming a tool)
//! is answered with a JSON value made from the schema, the same every time
//! ([`example`]), streamed in three pieces (from Anthropic, as the tool's
//! `input_json_delta`s). Directives in the model name make it wrong: with
//! `invalid-json-first` the first request of each prompt (told apart by the
//! first line of its last user message) gets text that is not JSON, with
//! `mismatch-first` JSON whose strings are numbers, and with `invalid-json-always`
//! every request gets text that is not JSON. Later requests of that prompt get
//! the valid value.
//!
//! [`Reply::context_length`] refuses a prompt as too long in each protocol's
//! words, and [`ResettingServer`] resets every connection before answering.
//!
//! Provider batches (OpenAI's Batch API, Anthropic's Message Batches) are kept
//! in memory with counters and controls ([`BatchControls`], [`BatchCounters`];
//! see `batch`).
//!
//! It can also list models ([`FakeServer::set_models`]) in the format of a given
//! server ([`ListFormat`]: Ollama's `GET /api/tags`, OpenAI's `GET /v1/models`
//! as LM Studio, Jan, vLLM and llama.cpp's server write it, or Anthropic's).
//!
//! ```no_run
//! # async fn demo() {
//! use fake_llm::{FakeServer, Reply};
//! let server = FakeServer::start(Reply::text(&["Hel", "lo"])).await;
//! server.push(Reply::error(429, "slow down").retry_after("12"));
//! let openai_base = format!("{}/v1", server.url());
//! let anthropic_base = server.url();
//! # }
//! ```

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::stream::{self, Stream, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

mod batch;
mod models;
pub use batch::{BatchControls, BatchCounters};
pub mod webhook;
pub use models::ListFormat;

/// The wire protocol of a request, from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    OpenAi,
    Anthropic,
}

/// How a stream ends early ([`Reply::end_after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The protocol's end marker with no finish reason: `data: [DONE]`, or
    /// Anthropic's `message_stop` with no `message_delta` before it.
    EndMarker,
    /// The body ends cleanly (EOF) with nothing more.
    Eof,
    /// The connection is broken off.
    Closed,
}

/// How to answer one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Before the response headers.
    pub delay: Duration,
    /// `Retry-After` header value (seconds or an HTTP date).
    pub retry_after: Option<String>,
    pub retry_after_ms: Option<u64>,
    /// The error message of a non-200 reply.
    pub message: String,
    /// The `error.code` of a non-200 OpenAI reply (`context_length_exceeded`).
    pub code: Option<String>,
    pub chunks: Vec<String>,
    /// Between the headers and the first chunk.
    pub ttft: Duration,
    /// Between chunks.
    pub chunk_delay: Duration,
    /// Reported usage (prompt, completion).
    pub usage: (u64, u64),
    /// After this many chunks the connection is broken off.
    pub cut_after: Option<usize>,
    /// After this many chunks the stream ends this way.
    pub end_after: Option<(usize, Ending)>,
    /// Streams and whole replies carry no usage.
    pub no_usage: bool,
    /// The finish reason (OpenAI's words; Anthropic's `stop_reason` is
    /// mapped: `length` → `max_tokens`); `None` leaves it out.
    pub finish: Option<String>,
    /// After this many chunks the stream goes silent (until the client leaves).
    pub stall_after: Option<usize>,
    /// The first event is not JSON.
    pub malformed: bool,
    /// Answer with one JSON document instead of a stream.
    pub whole: bool,
    /// The answer is a tool's input (Anthropic's forced tool): set by the
    /// server for a request that asks for structured output.
    pub tool: bool,
}

impl Reply {
    /// A streamed reply of these chunks.
    pub fn text(chunks: &[&str]) -> Reply {
        Reply {
            status: 200,
            delay: Duration::ZERO,
            retry_after: None,
            retry_after_ms: None,
            message: String::new(),
            code: None,
            chunks: chunks.iter().map(|c| c.to_string()).collect(),
            ttft: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            usage: (10, chunks.len() as u64),
            cut_after: None,
            end_after: None,
            no_usage: false,
            finish: Some("stop".into()),
            stall_after: None,
            malformed: false,
            whole: false,
            tool: false,
        }
    }

    /// `n` chunks `"w0 "`, `"w1 "`, …
    pub fn words(n: usize) -> Reply {
        let words: Vec<String> = (0..n).map(|i| format!("w{i} ")).collect();
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        Reply::text(&refs)
    }

    /// An error status with the protocol's error body.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            message: message.to_string(),
            ..Reply::text(&[])
        }
    }

    /// A prompt longer than the model's context, as each protocol says it:
    /// OpenAI's 400 with code `context_length_exceeded`, Anthropic's 400
    /// `invalid_request_error` "prompt is too long".
    pub fn context_length(protocol: Protocol) -> Reply {
        match protocol {
            Protocol::OpenAi => Reply::error(
                400,
                "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.",
            )
            .code("context_length_exceeded"),
            Protocol::Anthropic => Reply::error(400, "prompt is too long: 208000 tokens > 200000 maximum"),
        }
    }

    pub fn code(mut self, code: &str) -> Self {
        self.code = Some(code.to_string());
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    pub fn ttft(mut self, d: Duration) -> Self {
        self.ttft = d;
        self
    }
    pub fn chunk_delay(mut self, d: Duration) -> Self {
        self.chunk_delay = d;
        self
    }
    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_string());
        self
    }
    pub fn retry_after_ms(mut self, ms: u64) -> Self {
        self.retry_after_ms = Some(ms);
        self
    }
    pub fn usage(mut self, prompt: u64, completion: u64) -> Self {
        self.usage = (prompt, completion);
        self
    }
    pub fn cut_after(mut self, chunks: usize) -> Self {
        self.cut_after = Some(chunks);
        self
    }
    pub fn end_after(mut self, chunks: usize, ending: Ending) -> Self {
        self.end_after = Some((chunks, ending));
        self
    }
    pub fn no_usage(mut self) -> Self {
        self.no_usage = true;
        self
    }
    /// `None`: the reply says no finish reason.
    pub fn finish(mut self, reason: Option<&str>) -> Self {
        self.finish = reason.map(String::from);
        self
    }
    pub fn stall_after(mut self, chunks: usize) -> Self {
        self.stall_after = Some(chunks);
        self
    }
    pub fn malformed(mut self) -> Self {
        self.malformed = true;
        self
    }
    pub fn whole(mut self) -> Self {
        self.whole = true;
        self
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Observed {
    pub protocol: Protocol,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub at: Instant,
}

impl Observed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    queue: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    requests: Mutex<Vec<Observed>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Requests in flight per prompt (its last user message).
    by_prompt: Mutex<std::collections::HashMap<String, usize>>,
    /// Requests that arrived while another with the same prompt was in flight.
    overlapping: AtomicUsize,
    closed_early: AtomicUsize,
    changed: Notify,
    preempting: AtomicBool,
    /// Streams that may still be preempted, oldest first.
    streaming: Mutex<VecDeque<Arc<Preempt>>>,
    preempted: AtomicUsize,
    models: Mutex<models::ModelList>,
    /// The prompts (first lines) already answered with structured output.
    structured_seen: Mutex<std::collections::HashSet<String>>,
    batches: Mutex<batch::Batches>,
}

/// Asks one stream to end early.
#[derive(Default)]
struct Preempt {
    asked: AtomicBool,
    notify: Notify,
}

/// A running fake server on 127.0.0.1 (a free port). Stops when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Starts a server whose every request gets `default` unless one was pushed.
    pub async fn start(default: Reply) -> FakeServer {
        Self::start_on("127.0.0.1:0".parse().expect("an address"), default)
            .await
            .expect("bind the fake server")
    }

    pub async fn start_on(addr: SocketAddr, default: Reply) -> std::io::Result<FakeServer> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            by_prompt: Mutex::new(Default::default()),
            overlapping: AtomicUsize::new(0),
            closed_early: AtomicUsize::new(0),
            changed: Notify::new(),
            preempting: AtomicBool::new(false),
            streaming: Mutex::new(VecDeque::new()),
            preempted: AtomicUsize::new(0),
            models: Mutex::new(models::ModelList::default()),
            structured_seen: Mutex::new(Default::default()),
            batches: Mutex::new(Default::default()),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .route("/v1/models", get(models::v1_models))
            .route("/api/tags", get(models::ollama_tags))
            .route("/v1/files", post(batch::upload))
            .route("/v1/files/{id}/content", get(batch::file_content))
            .route(
                "/v1/batches",
                post(batch::openai_create).get(batch::openai_list),
            )
            .route("/v1/batches/{id}", get(batch::openai_get))
            .route("/v1/batches/{id}/cancel", post(batch::openai_cancel))
            .route("/v1/messages/batches", post(batch::anthropic_create))
            .route("/v1/messages/batches/{id}", get(batch::anthropic_get))
            .route(
                "/v1/messages/batches/{id}/results",
                get(batch::anthropic_results),
            )
            .route(
                "/v1/messages/batches/{id}/cancel",
                post(batch::anthropic_cancel),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeServer { addr, shared, task })
    }

    /// `http://127.0.0.1:PORT`: the Anthropic base URL; add `/v1` for OpenAI's.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a reply for the next request that has none.
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.queue).push_back(reply);
    }

    pub fn set_default(&self, reply: Reply) {
        *lock(&self.shared.default) = reply;
    }

    pub fn requests(&self) -> Vec<Observed> {
        lock(&self.shared.requests).clone()
    }

    /// Responses whose stream the client dropped before the end.
    pub fn closed_early(&self) -> usize {
        self.shared.closed_early.load(Ordering::SeqCst)
    }

    /// In preempting mode, each request that arrives while others stream ends
    /// the oldest of those streams early (see the crate doc).
    pub fn set_preempting(&self, on: bool) {
        self.shared.preempting.store(on, Ordering::SeqCst);
    }

    /// Streams ended early by a newer request.
    pub fn preempted(&self) -> usize {
        self.shared.preempted.load(Ordering::SeqCst)
    }

    /// Requests that arrived while another request with the same prompt (its
    /// last user message) was still being answered: two live calls of one
    /// task, when each task's prompt is its own.
    pub fn overlapping(&self) -> usize {
        self.shared.overlapping.load(Ordering::SeqCst)
    }

    /// The most requests it was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits until `check` holds; re-checked after every request and every
    /// response that ends.
    pub async fn wait_for(&self, mut check: impl FnMut(&FakeServer) -> bool) {
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if check(self) {
                return;
            }
            changed.await;
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn openai(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    answer(s, Protocol::OpenAi, headers, body).await
}

async fn anthropic(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    answer(s, Protocol::Anthropic, headers, body).await
}

/// The schema a request asks its answer to match, if any.
fn asked_schema(protocol: Protocol, body: &Value) -> Option<Value> {
    match protocol {
        Protocol::OpenAi => {
            let format = body.get("response_format")?;
            (format.get("type")?.as_str()? == "json_schema")
                .then(|| format.pointer("/json_schema/schema").cloned())?
        }
        Protocol::Anthropic => {
            let name = body.pointer("/tool_choice/name")?.as_str()?;
            body.get("tools")?
                .as_array()?
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some(name))?
                .get("input_schema")
                .cloned()
        }
    }
}

/// The text of the request's last user message.
fn last_user_text(body: &Value) -> String {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return String::new();
    };
    let Some(last) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    else {
        return String::new();
    };
    match last.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// Replaces the reply's text with a JSON answer to `schema` (or, as the model
/// name's directives ask, a wrong one).
fn structured_reply(
    s: &Shared,
    protocol: Protocol,
    body: &Value,
    schema: &Value,
    reply: &mut Reply,
) {
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    let prompt = last_user_text(body);
    let key = prompt.lines().next().unwrap_or("").to_string();
    let first = lock(&s.structured_seen).insert(key);
    let valid = example(schema).to_string();
    let text = if model.contains("invalid-json-always")
        || (model.contains("invalid-json-first") && first)
    {
        "Sure! Here is the summary you asked for, in prose.".to_string()
    } else if model.contains("mismatch-first") && first {
        strings_as_numbers(example(schema)).to_string()
    } else {
        valid
    };
    let third = text.len() / 3;
    let mut cuts = [0, third, 2 * third, text.len()];
    // On char boundaries.
    for c in cuts.iter_mut() {
        while !text.is_char_boundary(*c) {
            *c += 1;
        }
    }
    reply.chunks = cuts
        .windows(2)
        .map(|w| text[w[0]..w[1]].to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if protocol == Protocol::Anthropic {
        reply.tool = true;
        if reply.finish.as_deref() == Some("stop") {
            reply.finish = Some("tool_calls".into());
        }
    }
}

/// A value that matches simple schemas, the same every time: `const`, the first
/// of `enum`, `anyOf`/`oneOf`, every property of an object, one item of an
/// array (or `minItems`), a number's minimum, a string of `minLength`.
pub fn example(schema: &Value) -> Value {
    if let Some(v) = schema.get("const") {
        return v.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema.get(key).and_then(|e| e.get(0)) {
            return example(first);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    let min = |key: &str| schema.get(key).and_then(Value::as_f64);
    match ty {
        "object" => Value::Object(
            schema
                .get("properties")
                .and_then(Value::as_object)
                .map(|props| props.iter().map(|(k, v)| (k.clone(), example(v))).collect())
                .unwrap_or_default(),
        ),
        "array" => {
            let n = schema.get("minItems").and_then(Value::as_u64).unwrap_or(1);
            let item = schema.get("items").map(example).unwrap_or(Value::Null);
            Value::Array(vec![item; n.max(1) as usize])
        }
        "integer" => Value::from(min("minimum").map_or(1, |m| m.ceil() as i64)),
        "number" => Value::from(min("minimum").unwrap_or(1.5)),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => {
            let len = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            Value::String(format!("{:x<len$}", "fake"))
        }
    }
}

/// The same value with every string a number: JSON that fails a schema of strings.
fn strings_as_numbers(value: Value) -> Value {
    match value {
        Value::String(_) => Value::from(42),
        Value::Array(items) => Value::Array(items.into_iter().map(strings_as_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, strings_as_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A server that accepts each connection and resets it (TCP RST) before any
/// response: what a crashing server or a dropping proxy looks like to a client.
/// Stops when dropped.
pub struct ResettingServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl ResettingServer {
    pub async fn start() -> ResettingServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the resetting server");
        let addr = listener.local_addr().expect("an address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                // A zero linger makes the close a reset, not a clean FIN; it
                // cannot block, which is the reason tokio discourages lingers.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                drop(stream);
            }
        });
        ResettingServer {
            addr,
            accepted,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`, as [`FakeServer::url`].
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted (and reset) so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for ResettingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The end marker of a stream that says no finish reason.
fn end_marker(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::OpenAi => "data: [DONE]\n\n",
        Protocol::Anthropic => "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    }
}

/// Counts a response as in flight until dropped; a stream dropped before it
/// finished means the client closed the connection.
struct InFlight {
    shared: Arc<Shared>,
    finished: bool,
    prompt: String,
}

impl InFlight {
    fn new(shared: Arc<Shared>, prompt: String) -> InFlight {
        let n = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(n, Ordering::SeqCst);
        let same = {
            let mut by_prompt = lock(&shared.by_prompt);
            let count = by_prompt.entry(prompt.clone()).or_default();
            *count += 1;
            *count
        };
        if same > 1 {
            shared.overlapping.fetch_add(1, Ordering::SeqCst);
        }
        InFlight {
            shared,
            finished: false,
            prompt,
        }
    }
}

impl InFlight {
    /// The response ended as planned.
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        {
            let mut by_prompt = lock(&self.shared.by_prompt);
            if let Some(count) = by_prompt.get_mut(&self.prompt) {
                *count -= 1;
                if *count == 0 {
                    by_prompt.remove(&self.prompt);
                }
            }
        }
        if !self.finished {
            self.shared.closed_early.fetch_add(1, Ordering::SeqCst);
        }
        self.shared.changed.notify_waiters();
    }
}

async fn answer(s: Arc<Shared>, protocol: Protocol, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut reply = lock(&s.queue)
        .pop_front()
        .unwrap_or_else(|| lock(&s.default).clone());
    if let Some(schema) = asked_schema(protocol, &body) {
        structured_reply(&s, protocol, &body, &schema, &mut reply);
    }
    lock(&s.requests).push(Observed {
        protocol,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.clone(),
        at: Instant::now(),
    });
    if s.preempting.load(Ordering::SeqCst) {
        if let Some(oldest) = lock(&s.streaming).pop_front() {
            oldest.asked.store(true, Ordering::SeqCst);
            oldest.notify.notify_one();
        }
    }
    s.changed.notify_waiters();
    let mut guard = InFlight::new(s.clone(), last_user_text(&body));
    tokio::time::sleep(reply.delay).await;
    if reply.status != 200 {
        guard.finish();
        return error_response(protocol, &reply);
    }
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake")
        .to_string();
    if reply.whole {
        tokio::time::sleep(reply.ttft).await;
        guard.finish();
        return (
            [("content-type", "application/json")],
            whole(protocol, &reply, &model).to_string(),
        )
            .into_response();
    }
    let events = sse_events(protocol, &reply, &model);
    let preempt = Arc::new(Preempt::default());
    lock(&s.streaming).push_back(preempt.clone());
    let stream = Paced {
        reply,
        guard,
        preempt,
        end_marker: end_marker(protocol),
        ended: false,
    };
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream.run(events)))
        .expect("a valid response")
}

fn error_response(protocol: Protocol, reply: &Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match protocol {
        Protocol::OpenAi => {
            let kind = if reply.status == 400 {
                "invalid_request_error"
            } else {
                "fake_error"
            };
            json!({"error": {"message": reply.message, "type": kind, "code": reply.code}})
        }
        Protocol::Anthropic => {
            let kind = match reply.status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": reply.message}})
        }
    };
    let mut response = (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Some(v) = reply.retry_after.as_deref().and_then(|v| v.parse().ok()) {
        headers.insert("retry-after", v);
    }
    if let Some(ms) = reply.retry_after_ms {
        headers.insert("retry-after-ms", ms.into());
    }
    response
}

/// The stream's events; element `i < chunks` carries chunk `i`.
fn sse_events(protocol: Protocol, reply: &Reply, model: &str) -> Vec<String> {
    let (prompt, completion) = reply.usage;
    let mut out = Vec::new();
    let data = |v: Value| format!("data: {v}\n\n");
    match protocol {
        Protocol::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                data(
                    json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                    "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": null}),
                )
            };
            for (i, c) in reply.chunks.iter().enumerate() {
                let delta = if i == 0 {
                    json!({"role": "assistant", "content": c})
                } else {
                    json!({"content": c})
                };
                out.push(chunk(delta, Value::Null));
            }
            out.push(chunk(json!({}), json!(reply.finish)));
            if !reply.no_usage {
                out.push(data(json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                    "model": model, "choices": [],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})));
            }
            out.push("data: [DONE]\n\n".to_string());
        }
        Protocol::Anthropic => {
            let event = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n");
            let mut head = vec![
                event(
                    "message_start",
                    json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message",
                    "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": if reply.no_usage { Value::Null } else { json!({"input_tokens": prompt, "output_tokens": 1}) }}}),
                ),
                event(
                    "content_block_start",
                    if reply.tool {
                        json!({"type": "content_block_start", "index": 0, "content_block":
                            {"type": "tool_use", "id": "toolu_fake", "name": "output", "input": {}}})
                    } else {
                        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
                    },
                ),
                event("ping", json!({"type": "ping"})),
            ];
            for c in &reply.chunks {
                let delta = if reply.tool {
                    json!({"type": "input_json_delta", "partial_json": c})
                } else {
                    json!({"type": "text_delta", "text": c})
                };
                out.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0, "delta": delta}),
                ));
            }
            // The preamble rides with the first chunk so element i is still chunk i.
            let first = head.drain(..).collect::<String>();
            match out.first_mut() {
                Some(e) => e.insert_str(0, &first),
                None => out.push(first),
            }
            out.push(event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ));
            let mut delta = json!({"type": "message_delta",
                "delta": {"stop_reason": reply.finish.as_deref().map(stop_reason), "stop_sequence": null}});
            if !reply.no_usage {
                delta["usage"] = json!({"output_tokens": completion});
            }
            out.push(event("message_delta", delta));
            out.push(event("message_stop", json!({"type": "message_stop"})));
        }
    }
    if reply.malformed {
        out.insert(0, "data: {\"choices\": [{\"delta\": \n\n".to_string());
    }
    out
}

/// Anthropic's word for an OpenAI finish reason.
fn stop_reason(finish: &str) -> &str {
    match finish {
        "stop" => "end_turn",
        "length" => "max_tokens",
        "tool_calls" => "tool_use",
        "content_filter" => "refusal",
        other => other,
    }
}

fn whole(protocol: Protocol, reply: &Reply, model: &str) -> Value {
    let text: String = reply.chunks.concat();
    let (prompt, completion) = reply.usage;
    let mut value = match protocol {
        Protocol::OpenAi => {
            json!({"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reply.finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})
        }
        Protocol::Anthropic => {
            let block = match serde_json::from_str::<Value>(&text) {
                Ok(input) if reply.tool => {
                    json!({"type": "tool_use", "id": "toolu_fake", "name": "output", "input": input})
                }
                _ => json!({"type": "text", "text": text}),
            };
            json!({"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [block], "stop_reason": reply.finish.as_deref().map(stop_reason),
            "stop_sequence": null, "usage": {"input_tokens": prompt, "output_tokens": completion}})
        }
    };
    if reply.no_usage {
        value.as_object_mut().expect("an object").remove("usage");
    }
    value
}

/// One streamed response: the reply's pacing, its early ending, and the
/// preemption a newer request may ask for.
struct Paced {
    reply: Reply,
    /// Rides in the stream: when hyper drops the body early, it counts a
    /// closed connection.
    guard: InFlight,
    preempt: Arc<Preempt>,
    end_marker: &'static str,
    /// The stream sent its early end marker: nothing more follows.
    ended: bool,
}

/// What a stream does next.
enum Step {
    Send(String),
    Break,
    End,
}

impl Paced {
    /// Sends `events`: chunk `i` is due at `ttft + i × chunk_delay` after the
    /// stream starts (absolute deadlines, so timer lateness does not add up over
    /// a long stream).
    fn run(self, events: Vec<String>) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
        let start = Instant::now();
        stream::unfold(
            (events.into_iter().enumerate(), Some(self)),
            move |(mut events, paced)| async move {
                let mut paced = paced?;
                let step = match events.next() {
                    None => Step::End,
                    Some((i, event)) => paced.step(i, event, start).await,
                };
                match step {
                    Step::Send(bytes) => Some((Ok(Bytes::from(bytes)), (events, Some(paced)))),
                    Step::Break => {
                        // Give the chunks before the break time to leave (as on
                        // a real network), then end the body with an error:
                        // hyper breaks the connection off.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        paced.finish();
                        let err = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut");
                        Some((Err(err), (events, None)))
                    }
                    Step::End => {
                        paced.finish();
                        None
                    }
                }
            },
        )
        .fuse()
    }

    async fn step(&mut self, i: usize, event: String, start: Instant) -> Step {
        let reply = &self.reply;
        if self.ended {
            return Step::End;
        }
        if reply.cut_after == Some(i) {
            return Step::Break;
        }
        if let Some((n, ending)) = reply.end_after {
            if n == i {
                return self.end(ending);
            }
        }
        if reply.stall_after == Some(i) {
            std::future::pending::<()>().await;
        }
        // The events after the last chunk (finish, usage, done) follow at once.
        let step = i.min(reply.chunks.len().saturating_sub(1)) as u32;
        let due = start + reply.ttft + reply.chunk_delay * step;
        let preempt = self.preempt.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = preempt.notify.notified() => {}
        }
        if self.preempt.asked.load(Ordering::SeqCst) {
            self.guard.shared.preempted.fetch_add(1, Ordering::SeqCst);
            return self.end(Ending::EndMarker);
        }
        Step::Send(event)
    }

    fn end(&mut self, ending: Ending) -> Step {
        match ending {
            Ending::EndMarker => {
                self.ended = true;
                Step::Send(self.end_marker.to_string())
            }
            Ending::Eof => Step::End,
            Ending::Closed => Step::Break,
        }
    }

    /// The response ended as planned (however early).
    fn finish(&mut self) {
        self.guard.finish();
    }
}

impl Drop for Paced {
    /// Finished or dropped by the client: no longer open to preemption.
    fn drop(&mut self) {
        let preempt = &self.preempt;
        lock(&self.guard.shared.streaming).retain(|p| !Arc::ptr_eq(p, preempt));
    }
}

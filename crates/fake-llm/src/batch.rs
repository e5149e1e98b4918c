//! Provider batches, in both protocols, kept in memory for as long as the
//! server runs (so a client may be killed and restarted between submission
//! and results, as the tests do).
//!
//! - OpenAI: `POST /v1/files` (multipart, `purpose=batch`, a JSONL file),
//!   `POST /v1/batches`, `GET /v1/batches/{id}`, `GET /v1/files/{id}/content`,
//!   `POST /v1/batches/{id}/cancel`. Failed requests go to the error file.
//! - Anthropic: `POST /v1/messages/batches`, `GET /v1/messages/batches/{id}`,
//!   `GET /v1/messages/batches/{id}/results`, `POST /v1/messages/batches/{id}/cancel`.
//!
//! A batch ends [`BatchControls::duration`] after it was created (or never,
//! with `never_end`); a cancel ends it at once with the requests not yet
//! answered cancelled. Answers are the server's default reply (its chunks
//! joined, its usage), or the schema's [`crate::example`] when one is asked.
//! A prompt containing `[batch-fail-once:STATUS]` has its first request in any
//! batch fail with that HTTP status (429 → rate limited, 400 → invalid, …);
//! later requests of the same prompt succeed. Counters: batches created,
//! requests per batch, result downloads, and answers per custom_id.

use crate::{asked_schema, example, lock, Protocol, Shared};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How batches behave.
#[derive(Debug, Clone, Default)]
pub struct BatchControls {
    /// From creation to the end of a batch.
    pub duration: Duration,
    /// Batches never end by themselves (only a cancel ends them).
    pub never_end: bool,
    /// The batch endpoints answer 404, as an OpenAI-compatible server without them.
    pub missing: bool,
    /// An OpenAI batch is created but the answer to its create request never
    /// comes (the client is killed before learning the batch's id).
    pub stall_create: bool,
}

/// What the server counted of its batches.
#[derive(Debug, Clone, Default)]
pub struct BatchCounters {
    pub batches_created: usize,
    /// Requests in each batch, in creation order.
    pub requests_per_batch: Vec<usize>,
    pub result_downloads: usize,
    pub cancels: usize,
    /// Successful answers given per custom_id (at a batch's end).
    pub answered: HashMap<String, usize>,
    /// Error results given, per custom_id.
    pub errored: HashMap<String, usize>,
}

struct FakeBatch {
    protocol: Protocol,
    created: Instant,
    /// (custom_id, body)
    requests: Vec<(String, Value)>,
    /// Set at the end: each request's result line.
    results: Option<Vec<Value>>,
    errors: Vec<Value>,
    cancelled: bool,
    metadata: Value,
}

#[derive(Default)]
pub(crate) struct Batches {
    controls: BatchControls,
    counters: BatchCounters,
    files: HashMap<String, Vec<u8>>,
    batches: BTreeMap<String, FakeBatch>,
    failed_once: HashSet<String>,
    next: usize,
}

impl crate::FakeServer {
    pub fn set_batch_controls(&self, controls: BatchControls) {
        lock(&self.shared.batches).controls = controls;
    }

    pub fn batch_counters(&self) -> BatchCounters {
        lock(&self.shared.batches).counters.clone()
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [("content-type", "application/json")],
        json!({"error": {"message": "Not Found", "type": "invalid_request_error"}}).to_string(),
    )
        .into_response()
}

fn ok(value: Value) -> Response {
    ([("content-type", "application/json")], value.to_string()).into_response()
}

fn note(s: &Shared) {
    s.changed.notify_waiters();
}

impl Batches {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    fn create(&mut self, protocol: Protocol, requests: Vec<(String, Value)>) -> String {
        let id = self.id(match protocol {
            Protocol::OpenAi => "batch_",
            Protocol::Anthropic => "msgbatch_",
        });
        self.counters.batches_created += 1;
        self.counters.requests_per_batch.push(requests.len());
        self.batches.insert(
            id.clone(),
            FakeBatch {
                protocol,
                created: Instant::now(),
                requests,
                results: None,
                errors: Vec::new(),
                cancelled: false,
                metadata: Value::Null,
            },
        );
        id
    }

    /// Ends batch `id` if its time has come; true once it has ended.
    fn settle(&mut self, id: &str, default: &crate::Reply) -> bool {
        let Some(b) = self.batches.get(id) else {
            return false;
        };
        if b.results.is_some() {
            return true;
        }
        let due = !self.controls.never_end && b.created.elapsed() >= self.controls.duration;
        if !due && !b.cancelled {
            return false;
        }
        // A cancel that came before anyone saw the batch end wins.
        let cancelled = b.cancelled;
        let protocol = b.protocol;
        let requests = b.requests.clone();
        let (mut results, mut errors) = (Vec::new(), Vec::new());
        for (custom_id, body) in requests {
            if cancelled {
                if protocol == Protocol::Anthropic {
                    results.push(json!({"custom_id": custom_id, "result": {"type": "canceled"}}));
                }
                continue;
            }
            let prompt = last_user_text(&body);
            let fail = fail_status(&prompt).filter(|_| self.failed_once.insert(prompt.clone()));
            if let Some(status) = fail {
                *self.counters.errored.entry(custom_id.clone()).or_default() += 1;
                let message = format!("fake batch failure {status}");
                match protocol {
                    Protocol::OpenAi => errors.push(json!({
                        "id": format!("batch_req_{custom_id}"), "custom_id": custom_id,
                        "response": {"status_code": status, "request_id": "req_fake",
                            "body": {"error": {"message": message, "type": "fake_error"}}},
                        "error": null})),
                    Protocol::Anthropic => {
                        let kind = match status {
                            429 => "rate_limit_error",
                            400 => "invalid_request_error",
                            529 => "overloaded_error",
                            _ => "api_error",
                        };
                        results.push(json!({"custom_id": custom_id, "result": {"type": "errored",
                            "error": {"type": "error", "error": {"type": kind, "message": message}}}}));
                    }
                }
                continue;
            }
            *self.counters.answered.entry(custom_id.clone()).or_default() += 1;
            let mut reply = default.clone();
            let schema = asked_schema(protocol, &body);
            if let Some(schema) = &schema {
                reply.chunks = vec![example(schema).to_string()];
                reply.tool = protocol == Protocol::Anthropic;
            }
            let model = body["model"].as_str().unwrap_or("fake").to_string();
            let message = crate::whole(protocol, &reply, &model);
            results.push(match protocol {
                Protocol::OpenAi => json!({
                    "id": format!("batch_req_{custom_id}"), "custom_id": custom_id,
                    "response": {"status_code": 200, "request_id": "req_fake", "body": message},
                    "error": null}),
                Protocol::Anthropic => json!({"custom_id": custom_id,
                    "result": {"type": "succeeded", "message": message}}),
            });
        }
        let b = self.batches.get_mut(id).expect("looked up above");
        b.results = Some(results);
        b.errors = errors;
        true
    }

    fn openai_view(&self, id: &str) -> Value {
        let b = &self.batches[id];
        let status = match (&b.results, b.cancelled) {
            (None, _) => "in_progress",
            (Some(_), true) => "cancelled",
            (Some(_), false) => "completed",
        };
        let out = b
            .results
            .as_ref()
            .filter(|r| !r.is_empty())
            .map(|_| format!("{id}-out"));
        let err = (!b.errors.is_empty()).then(|| format!("{id}-err"));
        json!({"id": id, "object": "batch", "endpoint": "/v1/chat/completions",
            "status": status, "output_file_id": out, "error_file_id": err,
            "request_counts": {"total": b.requests.len()}, "metadata": b.metadata})
    }

    fn anthropic_view(&self, id: &str, base: &str) -> Value {
        let b = &self.batches[id];
        let (status, url) = match &b.results {
            None if b.cancelled => ("canceling", None),
            None => ("in_progress", None),
            Some(_) => (
                "ended",
                Some(format!("{base}/v1/messages/batches/{id}/results")),
            ),
        };
        json!({"id": id, "type": "message_batch", "processing_status": status,
            "results_url": url})
    }
}

fn fail_status(prompt: &str) -> Option<u16> {
    let rest = prompt.split("[batch-fail-once:").nth(1)?;
    rest.split(']').next()?.trim().parse().ok()
}

fn last_user_text(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn jsonl(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The `file` part of a multipart form.
fn multipart_file(headers: &HeaderMap, body: &[u8]) -> Option<Vec<u8>> {
    let ct = headers.get("content-type")?.to_str().ok()?;
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let text = String::from_utf8_lossy(body);
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        if head.contains("name=\"file\"") {
            return Some(content.trim_end_matches("\r\n").as_bytes().to_vec());
        }
    }
    None
}

pub(crate) async fn upload(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut b = lock(&s.batches);
    if b.controls.missing {
        return not_found();
    }
    let Some(file) = multipart_file(&headers, &body) else {
        return (StatusCode::BAD_REQUEST, "no file part").into_response();
    };
    let id = b.id("file-");
    let bytes = file.len();
    b.files.insert(id.clone(), file);
    ok(json!({"id": id, "object": "file", "bytes": bytes, "purpose": "batch"}))
}

pub(crate) async fn openai_create(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let (view, stall) = match create_openai(&s, &body) {
        Ok(done) => done,
        Err(refused) => return *refused,
    };
    note(&s);
    if stall {
        std::future::pending::<()>().await;
    }
    ok(view)
}

/// The batch made of an uploaded file, and whether to withhold the answer.
fn create_openai(s: &Shared, body: &[u8]) -> Result<(Value, bool), Box<Response>> {
    let mut b = lock(&s.batches);
    if b.controls.missing {
        return Err(Box::new(not_found()));
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(file) = body["input_file_id"].as_str().and_then(|f| b.files.get(f)) else {
        return Err(Box::new(
            (StatusCode::BAD_REQUEST, "no such input file").into_response(),
        ));
    };
    let requests = file
        .split(|c| *c == b'\n')
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .map(|l| {
            (
                l["custom_id"].as_str().unwrap_or("").to_string(),
                l["body"].clone(),
            )
        })
        .collect();
    let id = b.create(Protocol::OpenAi, requests);
    if let Some(batch) = b.batches.get_mut(&id) {
        batch.metadata = body["metadata"].clone();
    }
    Ok((b.openai_view(&id), b.controls.stall_create))
}

/// `GET /v1/batches`: the batches, newest first, with their metadata.
pub(crate) async fn openai_list(State(s): State<Arc<Shared>>) -> Response {
    let b = lock(&s.batches);
    if b.controls.missing {
        return not_found();
    }
    let data: Vec<Value> = b.batches.keys().rev().map(|id| b.openai_view(id)).collect();
    ok(json!({"object": "list", "data": data, "has_more": false}))
}

pub(crate) async fn openai_get(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let default = lock(&s.default).clone();
    let mut b = lock(&s.batches);
    if b.controls.missing || !b.batches.contains_key(&id) {
        return not_found();
    }
    b.settle(&id, &default);
    let view = b.openai_view(&id);
    drop(b);
    note(&s);
    ok(view)
}

pub(crate) async fn openai_cancel(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let default = lock(&s.default).clone();
    let mut b = lock(&s.batches);
    let Some(batch) = b.batches.get_mut(&id) else {
        return not_found();
    };
    batch.cancelled = true;
    b.counters.cancels += 1;
    b.settle(&id, &default);
    let view = b.openai_view(&id);
    drop(b);
    note(&s);
    ok(view)
}

pub(crate) async fn file_content(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut b = lock(&s.batches);
    let (batch, kind) = match id.rsplit_once('-') {
        Some((batch, kind)) => (batch.to_string(), kind.to_string()),
        None => return not_found(),
    };
    let Some(found) = b.batches.get(&batch) else {
        return not_found();
    };
    let text = match kind.as_str() {
        "out" => jsonl(found.results.as_deref().unwrap_or_default()),
        "err" => jsonl(&found.errors),
        _ => return not_found(),
    };
    b.counters.result_downloads += 1;
    drop(b);
    note(&s);
    ([("content-type", "application/jsonl")], text).into_response()
}

pub(crate) async fn anthropic_create(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let mut b = lock(&s.batches);
    if b.controls.missing {
        return not_found();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let requests = body["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r["custom_id"].as_str().unwrap_or("").to_string(),
                r["params"].clone(),
            )
        })
        .collect();
    let id = b.create(Protocol::Anthropic, requests);
    let view = b.anthropic_view(&id, "");
    drop(b);
    note(&s);
    ok(view)
}

fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

pub(crate) async fn anthropic_get(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let default = lock(&s.default).clone();
    let mut b = lock(&s.batches);
    if b.controls.missing || !b.batches.contains_key(&id) {
        return not_found();
    }
    b.settle(&id, &default);
    let view = b.anthropic_view(&id, &base(&headers));
    drop(b);
    note(&s);
    ok(view)
}

pub(crate) async fn anthropic_cancel(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let default = lock(&s.default).clone();
    let mut b = lock(&s.batches);
    let Some(batch) = b.batches.get_mut(&id) else {
        return not_found();
    };
    batch.cancelled = true;
    b.counters.cancels += 1;
    b.settle(&id, &default);
    let view = b.anthropic_view(&id, &base(&headers));
    drop(b);
    note(&s);
    ok(view)
}

pub(crate) async fn anthropic_results(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Response {
    let mut b = lock(&s.batches);
    let Some(found) = b.batches.get(&id) else {
        return not_found();
    };
    let Some(results) = &found.results else {
        return not_found();
    };
    let text = jsonl(results);
    b.counters.result_downloads += 1;
    drop(b);
    note(&s);
    ([("content-type", "application/jsonl")], text).into_response()
}

//! Model lists, each in one server's own format: Ollama's `GET /api/tags`, and
//! `GET /v1/models` as OpenAI, LM Studio, Jan, vLLM, llama.cpp's server and
//! Anthropic write it. Until [`FakeServer::set_models`] is called both answer 404.

use super::{lock, FakeServer, Shared};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// Whose model list a fake answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// `GET /api/tags` → `{"models":[{"name","model","size","digest","details"}]}`;
    /// `GET /v1/models` answers OpenAI's list too, as Ollama's does.
    Ollama,
    /// OpenAI's own `{"object":"list","data":[{"id","object","created","owned_by"}]}`.
    OpenAi,
    /// OpenAI's list with `owned_by: organization_owner`.
    LmStudio,
    /// OpenAI's list with Jan's extra fields (`name`, `version`, `engine`).
    Jan,
    /// OpenAI's list with `root`, `parent`, `max_model_len` and `permission`.
    Vllm,
    /// OpenAI's list with `meta` per model and, as newer versions do, a
    /// top-level `models` array in Ollama's shape.
    LlamaCpp,
    /// `{"data":[{"type":"model","id","display_name","created_at"}],"has_more",
    /// "first_id","last_id"}`; refuses a request without `x-api-key` and
    /// `anthropic-version`, as Anthropic does.
    Anthropic,
}

/// One request for a model list, as received.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// With the query (`/v1/models?limit=1000`).
    pub uri: String,
    pub headers: Vec<(String, String)>,
}

impl ListRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
pub(crate) struct ModelList {
    listed: Option<(ListFormat, Vec<String>)>,
    /// The key a list request must carry (`Authorization: Bearer` or `x-api-key`).
    key: Option<String>,
    requests: Vec<ListRequest>,
}

impl FakeServer {
    /// Lists `models` in `format` from now on.
    pub fn set_models(&self, format: ListFormat, models: &[&str]) {
        let mut list = lock(&self.shared.models);
        list.listed = Some((format, models.iter().map(|m| m.to_string()).collect()));
    }

    /// Refuses a model-list request without this key (401, echoing the key it
    /// was sent, as some servers do).
    pub fn require_key(&self, key: &str) {
        lock(&self.shared.models).key = Some(key.to_string());
    }

    /// The model-list requests received so far.
    pub fn list_requests(&self) -> Vec<ListRequest> {
        lock(&self.shared.models).requests.clone()
    }
}

pub(crate) async fn v1_models(
    State(s): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let Some((format, models)) = received(&s, uri.to_string(), &headers) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if format == ListFormat::Anthropic
        && (headers.get("x-api-key").is_none() || headers.get("anthropic-version").is_none())
    {
        let body = json!({"type": "error", "error": {"type": "authentication_error",
            "message": "x-api-key and anthropic-version headers are required"}});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    if let Some(refusal) = refuse(&s, &headers) {
        return refusal;
    }
    Json(openai_list(format, &models)).into_response()
}

pub(crate) async fn ollama_tags(
    State(s): State<Arc<Shared>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    match received(&s, uri.to_string(), &headers) {
        Some((ListFormat::Ollama, models)) => Json(json!({
            "models": models.iter().map(|m| ollama_model(m)).collect::<Vec<_>>()
        }))
        .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Records the request; the list, if one is set.
fn received(s: &Shared, uri: String, headers: &HeaderMap) -> Option<(ListFormat, Vec<String>)> {
    let mut list = lock(&s.models);
    list.requests.push(ListRequest {
        uri,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
    });
    s.changed.notify_waiters();
    list.listed.clone()
}

fn refuse(s: &Shared, headers: &HeaderMap) -> Option<Response> {
    let wanted = lock(&s.models).key.clone()?;
    let sent = headers
        .get("x-api-key")
        .or_else(|| headers.get("authorization"))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_string())
        .unwrap_or_default();
    (sent != wanted).then(|| {
        let body = json!({"error": {"message": format!("Incorrect API key provided: {sent}"),
            "type": "invalid_request_error", "code": "invalid_api_key"}});
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    })
}

fn ollama_model(name: &str) -> Value {
    json!({
        "name": name, "model": name, "modified_at": "2025-05-01T10:00:00.000000+02:00",
        "size": 2_019_393_189u64, "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {"parent_model": "", "format": "gguf", "family": "llama",
            "families": ["llama"], "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}
    })
}

fn openai_list(format: ListFormat, models: &[String]) -> Value {
    let data: Vec<Value> = models
        .iter()
        .map(|id| match format {
            ListFormat::Ollama => {
                json!({"id": id, "object": "model", "created": 1_746_000_000, "owned_by": "library"})
            }
            ListFormat::OpenAi => {
                json!({"id": id, "object": "model", "created": 1_746_000_000, "owned_by": "system"})
            }
            ListFormat::LmStudio => {
                json!({"id": id, "object": "model", "owned_by": "organization_owner"})
            }
            ListFormat::Jan => json!({"id": id, "object": "model", "name": id, "version": "1.0",
                "created": 0, "owned_by": "jan", "engine": "llama-cpp"}),
            ListFormat::Vllm => json!({"id": id, "object": "model", "created": 1_746_000_000,
                "owned_by": "vllm", "root": id, "parent": null, "max_model_len": 8192,
                "permission": [{"id": "modelperm-1", "object": "model_permission",
                    "allow_sampling": true, "is_blocking": false}]}),
            ListFormat::LlamaCpp => json!({"id": id, "object": "model", "created": 1_746_000_000,
                "owned_by": "llamacpp", "meta": {"vocab_type": 2, "n_vocab": 128256,
                    "n_ctx_train": 131072, "n_embd": 3072, "n_params": 3_212_749_888u64,
                    "size": 2_019_377_376u64}}),
            ListFormat::Anthropic => json!({"type": "model", "id": id,
                "display_name": id.replace('-', " "), "created_at": "2025-02-19T00:00:00Z"}),
        })
        .collect();
    match format {
        ListFormat::Anthropic => json!({
            "data": data, "has_more": false,
            "first_id": models.first(), "last_id": models.last(),
        }),
        ListFormat::LlamaCpp => json!({
            "models": models.iter().map(|m| ollama_model(m)).collect::<Vec<_>>(),
            "object": "list", "data": data,
        }),
        _ => json!({"object": "list", "data": data}),
    }
}

//! The provider endpoints: list, add or replace, remove, test, the models a
//! provider lists, and local servers found on loopback and added on request.
//! Each is one call into the engine; no answer ever carries a key.

use crate::error::HttpError;
use crate::extract::{self, JsonOrEmpty};
use crate::routes::AppState;
use crate::wire::{ErrorBody, ProviderModels, ProviderRequest, ProviderTestResult, TestProvider};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_engine::{Detection, ProviderSettings};

/// The header of `GET /providers` naming the built-in providers, comma-separated.
pub const BUILTIN_PROVIDERS: &str = "x-builtin-providers";

/// `GET /providers`
#[utoipa::path(get, path = "/providers", tag = "providers",
    responses(
        (status = 200, description = "the configured providers (not the built-in ones), by name, as `baton provider list --json`; never a key",
         body = Vec<baton_engine::ProviderSettings>,
         headers(("X-Builtin-Providers" = String, description = "the built-in providers tasks may also name, comma-separated (e.g. `mock`)"))),
        (status = 401, description = "no or wrong token", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_providers(State(state): State<AppState>) -> Response {
    let configured = state.engine.provider_settings();
    let builtin: Vec<String> = state
        .engine
        .providers()
        .names()
        .filter(|n| !configured.iter().any(|s| s.name == *n))
        .map(String::from)
        .collect();
    let mut response = Json(configured).into_response();
    if let Ok(value) = HeaderValue::from_str(&builtin.join(",")) {
        response.headers_mut().insert(BUILTIN_PROVIDERS, value);
    }
    response
}

/// `PUT /providers/{name}`
#[utoipa::path(put, path = "/providers/{name}", tag = "providers",
    params(("name" = String, Path, description = "the provider's name: letters, digits, '-', '_' and '.'")),
    request_body = ProviderRequest,
    responses(
        (status = 200, description = "added, or replaced whole; its tasks use it from now on. Never the key", body = baton_engine::ProviderSettings),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 409, description = "`key_unavailable`: the OS keychain refused the key; nothing was saved", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "invalid fields (a built-in's name, a base URL that is not http(s) or holds credentials, …); nothing was saved", body = ErrorBody),
        (status = 503, description = "`keychain_unavailable`: `api_key` was sent but the engine's machine has no OS keychain; nothing was saved (name an environment variable instead)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn save_provider(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Json<ProviderSettings>, HttpError> {
    let bytes = extract::json_bytes(request, &state, false).await?;
    // Whatever goes wrong, the answer never carries the key that was sent.
    let secret = sent_key(&bytes);
    let saved = async {
        let body: ProviderRequest = extract::parse(&bytes)?;
        let (settings, key) = body.into_settings(&name)?;
        let storing = key.is_some();
        state
            .engine
            .save_provider(settings, key)
            .await
            .map_err(|e| {
                let mut e = HttpError::from(e);
                if storing
                    && e.body.field.as_deref() == Some("key")
                    && e.status != StatusCode::UNPROCESSABLE_ENTITY
                {
                    e.body.field = Some("api_key".into());
                }
                e
            })
    }
    .await;
    saved.map(Json).map_err(|e| e.redacted(secret.as_deref()))
}

/// The `api_key` of a body, if it is JSON with one.
fn sent_key(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    match value.get("api_key")? {
        serde_json::Value::String(key) => Some(key.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// `DELETE /providers/{name}`
#[utoipa::path(delete, path = "/providers/{name}", tag = "providers",
    params(("name" = String, Path, description = "the provider's name")),
    responses(
        (status = 200, description = "removed, with its key in the keychain; the settings as they were. Its queued tasks fail when run unless a provider of that name comes back", body = baton_engine::ProviderSettings),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no provider has this name", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn remove_provider(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ProviderSettings>, HttpError> {
    Ok(Json(state.engine.remove_provider(name.trim()).await?))
}

/// `POST /providers/{name}/test`
#[utoipa::path(post, path = "/providers/{name}/test", tag = "providers",
    params(("name" = String, Path, description = "the provider's name (a built-in one too)")),
    request_body(content = Option<TestProvider>, description = "optional: `{model}`"),
    responses(
        (status = 200, description = "the provider answered one tiny request; nothing was stored", body = ProviderTestResult),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no provider has this name", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "a model the provider does not offer", body = ErrorBody),
        (status = 502, description = "the provider could not be called or answered with an error: `provider_auth` (also: its key is not where the settings say, e.g. an unset environment variable), `provider_rate_limited`, `provider_unavailable` (no answer, or none within 60 s), `provider_invalid_request`; the message has the key taken out", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn test_provider(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<TestProvider>,
) -> Result<Json<ProviderTestResult>, HttpError> {
    let tested = state.engine.test_provider(name.trim(), body.model).await?;
    Ok(Json(tested.into()))
}

/// `GET /providers/{name}/models`
#[utoipa::path(get, path = "/providers/{name}/models", tag = "providers",
    params(("name" = String, Path, description = "the provider's name (a built-in one too)")),
    responses(
        (status = 200, description = "the models the provider lists, in its order: an OpenAI-compatible provider's `GET {base_url}/models`, Anthropic's `GET /v1/models`, asked with the provider's key; the mock lists none", body = ProviderModels),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no provider has this name", body = ErrorBody),
        (status = 502, description = "the provider could not be asked or refused: `provider_auth` (also: its key is not where the settings say), `provider_unavailable` (no answer, or not a model list), `provider_invalid_request` (e.g. it has no model list); the message has the key taken out", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn provider_models(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ProviderModels>, HttpError> {
    let name = name.trim();
    let models = state.engine.provider_models(name).await?;
    Ok(Json(ProviderModels {
        provider: name.to_string(),
        models,
    }))
}

/// `GET /local-servers`
#[utoipa::path(get, path = "/local-servers", tag = "providers",
    responses(
        (status = 200, description = "the local servers answering on the engine's loopback, on their usual ports: Ollama (11434, `GET /api/tags`), LM Studio (1234), llama.cpp's server (8080), Jan (1337) and vLLM (8000), each through its model list (`GET /v1/models`); ports that answered otherwise; every URL asked. Takes at most about 1.5 s. Adds nothing", body = Detection),
        (status = 401, description = "no or wrong token", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn local_servers(State(state): State<AppState>) -> Json<Detection> {
    Json(state.engine.detect_local_servers().await)
}

/// `POST /local-servers/{name}`
#[utoipa::path(post, path = "/local-servers/{name}", tag = "providers",
    params(("name" = String, Path, description = "a found server's `name`, as `GET /local-servers` answers it (e.g. `ollama`)")),
    responses(
        (status = 201, description = "looked again, and added the server found under this name as an OpenAI-compatible provider with no key and its first model as the default", body = baton_engine::ProviderSettings),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "`not_detected`: no server found now goes by this name; nothing was added", body = ErrorBody),
        (status = 422, description = "the server is a configured provider already; nothing was added", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn add_local_server(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<ProviderSettings>), HttpError> {
    let added = state.engine.add_local_server(&name).await?;
    Ok((StatusCode::CREATED, Json(added)))
}

//! Real providers over HTTP: OpenAI-compatible servers and Anthropic.
//!
//! One request per attempt, always streamed (SSE). Each text delta goes to the
//! [`OutputSink`] as it arrives; usage reports go there too. Waiting for the
//! response and for each later chunk is bounded by the provider's idle timeout,
//! so a stalled stream fails (transient) instead of holding a slot until the
//! task's timeout. Dropping the future drops the response, which closes the
//! connection: that is how a cancel reaches the server.
//!
//! Errors are classified here ([`classify`]): the class decides retries, and a
//! 429's Retry-After cools the whole provider down (see `limits`). An answer is
//! whole only when the provider said why it stopped (a finish reason; from
//! Anthropic, a `stop_reason` and `message_stop`): a stream that ends without
//! one, by `[DONE]`, EOF or a closed connection, or a whole reply without one,
//! fails the attempt with class `incomplete` (some servers end a running
//! answer this way when a newer request preempts it).
//!
//! # Layout
//! - `sse`: the event-stream decoder.
//! - `openai`, `anthropic`: request bodies and event parsing per protocol.
//! - `models`: the models a provider lists, and the list formats of local servers.

mod anthropic;
mod batch;
pub(super) mod models;
pub(crate) use batch::{ItemResult, Polled};
mod openai;
mod sse;

use super::keys::{self, ApiKey, KeyError};
use super::settings::{KeyRef, ProviderKind, ProviderSettings};
use super::{CompletionRequest, OutputSink, Provider, ProviderError};
use crate::task::ErrorClass;
use futures::future::BoxFuture;
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use std::sync::Mutex;
use std::time::Duration;

/// How long to wait for a TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most of an error body read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// A Retry-After longer than this is taken as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// What a protocol parser found in one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    /// Running totals; `None` leaves a number as it was.
    Usage {
        prompt: Option<u64>,
        completion: Option<u64>,
    },
    /// Why the answer stopped (`stop`, `length`, … ; Anthropic's mapped onto these).
    Finish(String),
    /// The stream's end marker (`[DONE]`, `message_stop`). The reply is whole
    /// only if a [`Piece::Finish`] came before it.
    Done,
    /// The provider reported an error inside the stream.
    Error {
        status: Option<u16>,
        kind: Option<String>,
        message: String,
    },
}

pub(crate) struct HttpProvider {
    settings: ProviderSettings,
    client: reqwest::Client,
    /// A key read from the keychain, kept so each request is not a D-Bus call.
    keychain_key: Mutex<Option<ApiKey>>,
    /// Context windows the model list gave, by model (the settings' win).
    listed_windows: Mutex<std::collections::BTreeMap<String, u32>>,
}

impl HttpProvider {
    pub fn new(settings: ProviderSettings) -> Result<HttpProvider, String> {
        // reqwest is built without a default crypto provider; ring is ours. An
        // error only means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(HttpProvider {
            settings,
            client,
            keychain_key: Mutex::new(None),
            listed_windows: Mutex::new(Default::default()),
        })
    }

    fn learn_windows(&self, windows: Vec<(String, u32)>) {
        let mut known = self
            .listed_windows
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        known.extend(windows);
    }

    fn name(&self) -> &str {
        &self.settings.name
    }

    async fn key(&self) -> Result<Option<ApiKey>, KeyError> {
        if self.settings.key != KeyRef::Keychain {
            return keys::resolve(self.name(), &self.settings.key);
        }
        if let Some(key) = self.cached_key() {
            return Ok(Some(key));
        }
        let (name, source) = (self.name().to_string(), self.settings.key.clone());
        let key = tokio::task::spawn_blocking(move || keys::resolve(&name, &source))
            .await
            .map_err(|e| KeyError::Keychain(e.to_string()))??;
        *self.keychain_key.lock().unwrap_or_else(|e| e.into_inner()) = key.clone();
        Ok(key)
    }

    fn cached_key(&self) -> Option<ApiKey> {
        self.keychain_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn headers(&self, key: Option<&ApiKey>) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let secret = |value: String| {
            let mut v = HeaderValue::from_str(&value).map_err(|_| {
                ProviderError::new(
                    ErrorClass::Auth,
                    format!("the API key of provider '{}' holds characters a header cannot carry; store it again", self.name()),
                )
            })?;
            v.set_sensitive(true);
            Ok::<_, ProviderError>(v)
        };
        match self.settings.kind {
            ProviderKind::Anthropic => {
                headers.insert(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static(anthropic::VERSION),
                );
                if let Some(key) = key {
                    headers.insert(
                        HeaderName::from_static("x-api-key"),
                        secret(key.expose().to_string())?,
                    );
                }
            }
            _ => {
                if let Some(key) = key {
                    headers.insert(
                        reqwest::header::AUTHORIZATION,
                        secret(format!("Bearer {}", key.expose()))?,
                    );
                }
            }
        }
        // Checked when the settings were saved. `${VAR}` is read now, like a key.
        for (name, value) in &self.settings.headers {
            let value = match super::settings::env_reference(value) {
                Some(var) => std::env::var(var).map_err(|_| {
                    ProviderError::new(
                        ErrorClass::Auth,
                        format!("provider '{}' takes header '{name}' from ${var}, which is not set; export it", self.name()),
                    )
                })?,
                None => value.clone(),
            };
            if let (Ok(n), Ok(mut v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                v.set_sensitive(super::settings::is_credential_header(name));
                headers.insert(n, v);
            }
        }
        Ok(headers)
    }

    async fn call(
        &self,
        request: CompletionRequest,
        output: &mut OutputSink,
    ) -> Result<String, ProviderError> {
        let name = self.name();
        let key = self.key().await.map_err(|e| {
            ProviderError::new(
                ErrorClass::Auth,
                format!("provider '{name}' has no usable API key: {e}"),
            )
        })?;
        let key = key.as_ref();
        let (path, body) = match self.settings.kind {
            ProviderKind::Anthropic => (anthropic::path(), anthropic::body(&request)),
            _ => (
                openai::path(),
                openai::body(&request, openai::Dialect::of(&self.settings.base_url)),
            ),
        };
        let url = format!("{}{path}", self.settings.base_url);
        let idle = self.settings.idle_timeout();
        let send = self
            .client
            .post(&url)
            .headers(self.headers(key)?)
            .body(body.to_string())
            .send();
        let response = match tokio::time::timeout(idle, send).await {
            Err(_) => return Err(stalled(name, idle, "a response")),
            Ok(Err(e)) => return Err(transport(name, &url, &e, key)),
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers(), chrono::Utc::now());
            let body = read_bounded(response, idle).await;
            let detail = keys::redact(&error_message(&body), key);
            let e = classify(name, status.as_u16(), detail, retry_after);
            return Err(too_long_if(e, &body));
        }
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut answer = Answer::default();
        if is_json {
            // The server ignored `stream: true` and sent the whole reply.
            let body = read_all(response, idle, name).await?;
            let value: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| malformed(name, &e.to_string()))?;
            let pieces = match self.settings.kind {
                ProviderKind::Anthropic => anthropic::parse_whole(&value),
                _ => openai::parse_whole(&value),
            }
            .map_err(|e| malformed(name, &e))?;
            self.apply(pieces, &mut answer, output, key)?;
            return answer.whole(name, "the reply carried no finish reason");
        }
        let mut stream = response.bytes_stream();
        let mut decoder = sse::SseDecoder::default();
        loop {
            let chunk = match tokio::time::timeout(idle, stream.next()).await {
                Err(_) => return Err(stalled(name, idle, "the next chunk of the reply")),
                Ok(None) => return answer.ended(name, &self.settings.kind, "the stream ended"),
                Ok(Some(Err(e))) => {
                    let how = format!(
                        "the connection closed: {}",
                        keys::redact(&error_chain(&e), key)
                    );
                    return answer.ended(name, &self.settings.kind, &how);
                }
                Ok(Some(Ok(bytes))) => bytes,
            };
            for event in decoder.push(&chunk) {
                let pieces = match self.settings.kind {
                    ProviderKind::Anthropic => anthropic::parse_event(&event),
                    _ => openai::parse_event(&event),
                }
                .map_err(|e| malformed(name, &e))?;
                if self.apply(pieces, &mut answer, output, key)? {
                    // The end marker: stop reading, even if the server keeps the stream open.
                    return answer.whole(
                        name,
                        "the stream ended with its end marker but no finish reason",
                    );
                }
            }
        }
    }

    /// Sends text, usage and the finish reason on; true at the end marker.
    fn apply(
        &self,
        pieces: Vec<Piece>,
        answer: &mut Answer,
        output: &mut OutputSink,
        key: Option<&ApiKey>,
    ) -> Result<bool, ProviderError> {
        for piece in pieces {
            match piece {
                Piece::Text(t) => {
                    answer.text.push_str(&t);
                    output.send(t);
                }
                Piece::Usage { prompt, completion } => output.usage(prompt, completion),
                Piece::Finish(reason) => {
                    output.finish_reason(reason.clone());
                    answer.finish = Some(reason);
                }
                Piece::Done => return Ok(true),
                Piece::Error {
                    status,
                    kind,
                    message,
                } => {
                    let message = keys::redact(&message, key);
                    let detail = match kind {
                        Some(kind) => format!("{kind}: {message}"),
                        None => message,
                    };
                    // Unknown mid-stream errors are the server's trouble: transient.
                    let e = classify(self.name(), status.unwrap_or(500), detail.clone(), None);
                    return Err(too_long_if(e, &detail));
                }
            }
        }
        Ok(false)
    }
}

/// What has arrived of one answer.
#[derive(Debug, Default)]
struct Answer {
    text: String,
    finish: Option<String>,
}

impl Answer {
    /// The answer at its end marker (or a whole reply): complete only with a
    /// finish reason.
    fn whole(self, name: &str, missing: &str) -> Result<String, ProviderError> {
        match self.finish {
            Some(_) => Ok(self.text),
            None => Err(self.incomplete(name, missing)),
        }
    }

    /// The stream stopped without its end marker (EOF, a closed connection).
    /// An OpenAI-compatible answer that already gave its finish reason is
    /// whole (only its usage or `[DONE]` is missing); Anthropic's needs
    /// `message_stop` too.
    fn ended(self, name: &str, kind: &ProviderKind, how: &str) -> Result<String, ProviderError> {
        if self.finish.is_some() && *kind != ProviderKind::Anthropic {
            return Ok(self.text);
        }
        Err(self.incomplete(name, &format!("{how} before the end of the answer")))
    }

    fn incomplete(&self, name: &str, how: &str) -> ProviderError {
        ProviderError::new(
            ErrorClass::Incomplete,
            format!(
                "provider '{name}' ended the answer before finishing ({how}; {} characters had arrived)",
                self.text.chars().count()
            ),
        )
    }
}

impl Provider for HttpProvider {
    fn default_model(&self) -> &str {
        self.settings.model.as_deref().unwrap_or("")
    }

    fn check_model(&self, model: &str) -> Result<(), String> {
        if model.trim().is_empty() {
            return Err(format!(
                "provider '{}' has no default model; name one with --model",
                self.name()
            ));
        }
        Ok(())
    }

    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        mut output: OutputSink,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move { self.call(request, &mut output).await })
    }

    fn models(&self) -> BoxFuture<'_, Result<Vec<String>, ProviderError>> {
        Box::pin(self.list_models())
    }

    fn context_window(&self, model: &str) -> Option<u32> {
        self.settings
            .context_windows
            .get(model)
            .copied()
            .or_else(|| {
                let known = self
                    .listed_windows
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                known.get(model).copied()
            })
    }
}

/// The class of an HTTP error status, with the sentence a person reads.
pub(crate) fn classify(
    provider: &str,
    status: u16,
    detail: String,
    retry_after: Option<Duration>,
) -> ProviderError {
    let said = if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    let (class, message) = match status {
        429 => (
            ErrorClass::RateLimited,
            match retry_after {
                Some(wait) => format!(
                    "provider '{provider}' is rate limiting ({said}); it asked to wait {} s",
                    wait.as_millis().div_ceil(1000)
                ),
                None => format!("provider '{provider}' is rate limiting ({said})"),
            },
        ),
        401 | 403 => (
            ErrorClass::Auth,
            format!(
                "provider '{provider}' refused the credentials ({said}); check its API key \
                 (`baton provider add {provider} … --key-env VAR` or `--key-stdin`)"
            ),
        ),
        400 | 404 | 405 | 413 | 422 => (
            ErrorClass::InvalidRequest,
            format!(
                "provider '{provider}' rejected the request ({said}); check the model name, \
                 the base URL, and that the prompt fits the model's context"
            ),
        ),
        408 | 409 | 425 | 500..=599 => (
            ErrorClass::Transient,
            format!("provider '{provider}' failed ({said})"),
        ),
        400..=499 => (
            ErrorClass::InvalidRequest,
            format!("provider '{provider}' rejected the request ({said})"),
        ),
        _ => (
            ErrorClass::Transient,
            format!("provider '{provider}' answered unexpectedly ({said})"),
        ),
    };
    let mut e = ProviderError::new(class, message)
        .with_status(status)
        .with_retry_after(retry_after);
    if !detail.is_empty() {
        e = e.with_detail(detail);
    }
    e
}

/// Words by which a provider says the prompt is longer than the model's
/// context: OpenAI's `context_length_exceeded` code and "maximum context
/// length", Anthropic's "prompt is too long", and what llama.cpp's server,
/// vLLM and Ollama say.
const TOO_LONG: [&str; 6] = [
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "exceeds the available context size",
    "exceed_context_size_error",
    "context window",
];

/// A refusal (400, 413, 422) whose body or message says the prompt does not
/// fit the model's context becomes class `context_length`.
fn too_long_if(mut e: ProviderError, text: &str) -> ProviderError {
    let text = text.to_ascii_lowercase();
    if e.class == ErrorClass::InvalidRequest
        && matches!(e.status, Some(400 | 413 | 422))
        && TOO_LONG.iter().any(|w| text.contains(w))
    {
        e.class = ErrorClass::ContextLength;
        e.message = format!(
            "{}; the prompt does not fit the model's context window",
            e.message
                .split("; check the model name")
                .next()
                .unwrap_or(&e.message)
        );
    }
    e
}

/// `retry-after-ms` (milliseconds, OpenAI) or `Retry-After` (seconds or an
/// HTTP date), capped at an hour.
pub(crate) fn retry_after(
    headers: &HeaderMap,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let wait = if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).ok()?
    } else {
        let value = text("retry-after")?;
        match value.parse::<f64>() {
            Ok(secs) => Duration::try_from_secs_f64(secs.max(0.0)).ok()?,
            Err(_) => {
                let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
                (at.with_timezone(&chrono::Utc) - now)
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            }
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The provider's own message from an error body: `error.message` (OpenAI,
/// Anthropic), `error` as text (Ollama), `message`, or the text itself.
fn error_message(body: &str) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => v
            .pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .and_then(|m| m.as_str())
            .map(String::from)
            .unwrap_or_else(|| body.to_string()),
        Err(_) => body.to_string(),
    };
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = flat.chars().take(500).collect();
    if flat.chars().count() > 500 {
        short.push('…');
    }
    short
}

/// Up to [`MAX_ERROR_BODY`] of a body; whatever arrived if it stalls or breaks.
async fn read_bounded(response: reqwest::Response, idle: Duration) -> String {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(bytes))) => body.extend_from_slice(&bytes),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    String::from_utf8_lossy(&body).into_owned()
}

async fn read_all(
    response: reqwest::Response,
    idle: Duration,
    name: &str,
) -> Result<Vec<u8>, ProviderError> {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return Err(stalled(name, idle, "the rest of the reply")),
            Ok(None) => return Ok(body),
            Ok(Some(Err(e))) => {
                return Err(ProviderError::retryable(format!(
                    "the reply from provider '{name}' was cut off mid-way: {}",
                    error_chain(&e)
                )))
            }
            Ok(Some(Ok(bytes))) => body.extend_from_slice(&bytes),
        }
    }
}

fn stalled(name: &str, idle: Duration, what: &str) -> ProviderError {
    ProviderError::retryable(format!(
        "provider '{name}' sent nothing for {} s while the engine waited for {what} (stalled); \
         raise its idle timeout if the model is slow to start",
        idle.as_secs_f64()
    ))
}

fn malformed(name: &str, detail: &str) -> ProviderError {
    ProviderError::retryable(format!("provider '{name}' sent malformed JSON: {detail}"))
}

fn transport(name: &str, url: &str, e: &reqwest::Error, key: Option<&ApiKey>) -> ProviderError {
    let detail = keys::redact(&error_chain(e), key);
    let message = if e.is_connect() {
        format!("cannot connect to provider '{name}' at {url}: {detail}; is the server running and the base URL right?")
    } else if e.is_timeout() {
        format!("the request to provider '{name}' timed out: {detail}")
    } else {
        format!("the request to provider '{name}' failed: {detail}")
    };
    ProviderError::retryable(message)
}

/// An error and its sources on one line ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let line = s.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_http_dates() {
        let now: chrono::DateTime<chrono::Utc> = "2015-10-21T07:27:48Z".parse().unwrap();
        let at = |pairs| retry_after(&headers(pairs), now);
        assert_eq!(at(&[("retry-after", "12")]), Some(Duration::from_secs(12)));
        assert_eq!(
            at(&[("retry-after", "1.5")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            at(&[("retry-after-ms", "250"), ("retry-after", "9")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            at(&[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]),
            Some(Duration::ZERO)
        );
        assert_eq!(at(&[("retry-after", "999999")]), Some(MAX_RETRY_AFTER));
        assert_eq!(at(&[("retry-after", "soon")]), None);
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn statuses_fall_into_their_classes() {
        let class = |s| classify("p", s, String::new(), None).class;
        assert_eq!(class(429), ErrorClass::RateLimited);
        for s in [500, 502, 503, 504, 529, 408] {
            assert_eq!(class(s), ErrorClass::Transient, "{s}");
        }
        for s in [401, 403] {
            assert_eq!(class(s), ErrorClass::Auth, "{s}");
        }
        for s in [400, 404, 413, 422, 418] {
            assert_eq!(class(s), ErrorClass::InvalidRequest, "{s}");
        }
        let auth = classify("openai", 401, "Incorrect API key provided".into(), None);
        assert!(auth.message.contains("provider 'openai'") && auth.message.contains("API key"));
        assert_eq!(auth.detail.as_deref(), Some("Incorrect API key provided"));
        assert_eq!(auth.status, Some(401));
    }

    #[test]
    fn context_length_errors_are_recognised_in_both_formats() {
        let class = |status, body: &str| {
            let e = classify("p", status, error_message(body), None);
            too_long_if(e, body).class
        };
        let openai = r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert_eq!(class(400, openai), ErrorClass::ContextLength);
        let code_only =
            r#"{"error":{"message":"too many tokens","code":"context_length_exceeded"}}"#;
        assert_eq!(class(400, code_only), ErrorClass::ContextLength);
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208000 tokens > 200000 maximum"}}"#;
        assert_eq!(class(400, anthropic), ErrorClass::ContextLength);
        let e = too_long_if(
            classify("p", 400, error_message(anthropic), None),
            anthropic,
        );
        assert!(
            e.message
                .contains("does not fit the model's context window"),
            "{}",
            e.message
        );
        // Other refusals keep their class; a 500 saying the words is the server's trouble.
        assert_eq!(
            class(400, r#"{"error":{"message":"unknown model"}}"#),
            ErrorClass::InvalidRequest
        );
        assert_eq!(class(500, openai), ErrorClass::Transient);
    }

    #[test]
    fn error_bodies_give_the_providers_own_message() {
        assert_eq!(
            error_message(
                r#"{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","code":"rate_limit_exceeded"}}"#
            ),
            "Rate limit reached for gpt-4o"
        );
        assert_eq!(
            error_message(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            ),
            "Overloaded"
        );
        assert_eq!(
            error_message(r#"{"error":"model 'llama9' not found"}"#),
            "model 'llama9' not found"
        );
        assert_eq!(
            error_message("<html>\n Bad Gateway </html>"),
            "<html> Bad Gateway </html>"
        );
    }
}

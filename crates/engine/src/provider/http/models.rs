//! The models a provider lists: `GET {base}/models` in OpenAI's list format
//! (OpenAI and the compatible servers), `GET {base}/v1/models` from Anthropic
//! (paged), and Ollama's own `GET /api/tags`. Parsing is lenient: extra fields
//! are ignored, and llama.cpp's server, which may send Ollama's `models` array
//! beside (or, in some builds, instead of) `data`, is read either way.

use super::{classify, error_chain, read_bounded, transport, HttpProvider};
use crate::provider::keys;
use crate::provider::settings::ProviderKind;
use crate::provider::ProviderError;
use crate::task::ErrorClass;
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

/// A model list is small; one from a server that keeps sending is cut here.
pub(crate) const MAX_LIST_BODY: usize = 4 * 1024 * 1024;
/// How long one page of a configured provider's list may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(15);
/// Anthropic's largest page; a few pages cover every model it has.
const ANTHROPIC_PAGE: u32 = 1000;
const MAX_PAGES: usize = 10;

/// The ids of OpenAI's list (`data[].id`), else of Ollama's shape. `None`
/// when the document is neither.
pub(crate) fn openai_ids(doc: &Value) -> Option<Vec<String>> {
    match doc.get("data").and_then(Value::as_array) {
        Some(data) => Some(strings(data, &["id"])),
        None => ollama_names(doc),
    }
}

/// The context windows an OpenAI-format list gives, by model id: servers that
/// say it name it `context_length` (OpenRouter, LM Studio), `context_window`
/// (Groq), `max_context_length` (LM Studio's own API) or `max_model_len` (vLLM).
pub(crate) fn context_windows(doc: &Value) -> Vec<(String, u32)> {
    let Some(data) = doc.get("data").and_then(Value::as_array) else {
        return Vec::new();
    };
    data.iter()
        .filter_map(|entry| {
            let id = entry.get("id")?.as_str()?.trim();
            let window = [
                "context_length",
                "context_window",
                "max_context_length",
                "max_model_len",
            ]
            .iter()
            .find_map(|k| entry.get(*k).and_then(Value::as_u64))?;
            let window = u32::try_from(window).ok().filter(|w| *w > 0)?;
            (!id.is_empty()).then(|| (id.to_string(), window))
        })
        .collect()
}

/// The names of Ollama's `/api/tags` (`models[].name`, or `.model`).
pub(crate) fn ollama_names(doc: &Value) -> Option<Vec<String>> {
    let models = doc.get("models")?.as_array()?;
    Some(strings(models, &["name", "model", "id"]))
}

/// The first of `keys` that is a non-empty string, per entry; each name once.
fn strings(entries: &[Value], keys: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in entries {
        let name = keys
            .iter()
            .find_map(|k| entry.get(*k).and_then(Value::as_str))
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if let Some(name) = name {
            if !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Reads at most `max` bytes of a body; `Err` when the connection breaks.
pub(crate) async fn read_capped(
    response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while let Some(bytes) = stream.next().await {
        body.extend_from_slice(&bytes?);
        if body.len() >= max {
            body.truncate(max);
            break;
        }
    }
    Ok(body)
}

impl HttpProvider {
    /// The models the provider lists, in its order.
    pub(super) async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        let name = self.name();
        let key = self.key().await.map_err(|e| {
            ProviderError::new(
                ErrorClass::Auth,
                format!("provider '{name}' has no usable API key: {e}"),
            )
        })?;
        let headers = self.headers(key.as_ref())?;
        let base = &self.settings.base_url;
        let mut models = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let url = match self.settings.kind {
                ProviderKind::Anthropic => {
                    let mut url = format!("{base}/v1/models?limit={ANTHROPIC_PAGE}");
                    if let Some(id) = &after {
                        url.push_str("&after_id=");
                        url.push_str(&url_escape(id));
                    }
                    url
                }
                _ => format!("{base}/models"),
            };
            let doc = self.get_json(&url, headers.clone(), key.as_ref()).await?;
            let page = openai_ids(&doc).ok_or_else(|| {
                ProviderError::retryable(format!(
                    "provider '{name}' answered GET {url} with something other than a model list"
                ))
            })?;
            models.extend(page);
            self.learn_windows(context_windows(&doc));
            // Only Anthropic pages its list.
            let more = self.settings.kind == ProviderKind::Anthropic
                && doc.get("has_more").and_then(Value::as_bool) == Some(true);
            after = doc.get("last_id").and_then(Value::as_str).map(String::from);
            if !more || after.is_none() {
                break;
            }
        }
        let mut seen = std::collections::HashSet::new();
        models.retain(|m| seen.insert(m.clone()));
        Ok(models)
    }

    async fn get_json(
        &self,
        url: &str,
        headers: reqwest::header::HeaderMap,
        key: Option<&keys::ApiKey>,
    ) -> Result<Value, ProviderError> {
        let name = self.name();
        let response = self
            .client
            .get(url)
            .headers(headers)
            .timeout(LIST_TIMEOUT)
            .send()
            .await
            .map_err(|e| transport(name, url, &e, key))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = super::retry_after(response.headers(), chrono::Utc::now());
            let body = read_bounded(response, LIST_TIMEOUT).await;
            let detail = keys::redact(&super::error_message(&body), key);
            return Err(classify(name, status.as_u16(), detail, retry_after));
        }
        let body = read_capped(response, MAX_LIST_BODY).await.map_err(|e| {
            ProviderError::retryable(format!(
                "the model list from provider '{name}' was cut off: {}",
                keys::redact(&error_chain(&e), key)
            ))
        })?;
        serde_json::from_slice(&body).map_err(|e| {
            ProviderError::retryable(format!(
                "provider '{name}' answered GET {url} with malformed JSON ({e})"
            ))
        })
    }
}

/// An id as a query value: ids are plain (`claude-sonnet-4-5-20250929`), but
/// anything else is percent-encoded.
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_servers_list_format_gives_its_model_names() {
        let openai = json!({"object": "list", "data": [
            {"id": "gpt-4o-mini", "object": "model", "owned_by": "system"},
            {"id": "qwen", "max_model_len": 8192, "permission": []},
        ]});
        assert_eq!(openai_ids(&openai).unwrap(), ["gpt-4o-mini", "qwen"]);
        // llama.cpp's newer answer carries both arrays; `data` wins.
        let llama = json!({"models": [{"name": "m.gguf"}], "object": "list",
            "data": [{"id": "m.gguf", "meta": {"n_ctx_train": 4096}}]});
        assert_eq!(openai_ids(&llama).unwrap(), ["m.gguf"]);
        let only_models = json!({"models": [{"model": "m.gguf"}]});
        assert_eq!(openai_ids(&only_models).unwrap(), ["m.gguf"]);
        let tags = json!({"models": [{"name": "llama3.2:latest", "size": 1},
            {"name": "llama3.2:latest"}, {"name": ""}, {"nope": 1}]});
        assert_eq!(ollama_names(&tags).unwrap(), ["llama3.2:latest"]);
        assert_eq!(context_windows(&openai), [("qwen".to_string(), 8192)]);
        let many = json!({"data": [{"id": "a", "context_length": 128000},
            {"id": "b", "context_window": 4096}, {"id": "c", "max_context_length": 0},
            {"id": "d", "max_context_length": 32768}]});
        assert_eq!(
            context_windows(&many),
            [
                ("a".into(), 128000),
                ("b".into(), 4096),
                ("d".into(), 32768)
            ]
        );
        let empty = json!({"object": "list", "data": []});
        assert_eq!(openai_ids(&empty).unwrap(), Vec::<String>::new());
        for garbage in [
            json!([]),
            json!({"data": "x"}),
            json!("text"),
            json!({"models": {}}),
        ] {
            assert_eq!(openai_ids(&garbage), None, "{garbage}");
            assert_eq!(ollama_names(&garbage), None, "{garbage}");
        }
    }

    #[test]
    fn ids_are_escaped_in_a_query() {
        assert_eq!(url_escape("claude-3.5_x~"), "claude-3.5_x~");
        assert_eq!(url_escape("a b&c"), "a%20b%26c");
    }
}

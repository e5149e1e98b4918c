//! Provider batches: OpenAI's Batch API (a JSONL file uploaded, then a batch
//! made of it; results in an output and an error file) and Anthropic's Message
//! Batches (the requests inline; results as JSONL at `results_url`). Each
//! request's body is built by the same code as a live call's, without `stream`.

use super::{anthropic, classify, error_message, keys, openai, transport, HttpProvider, Piece};
use crate::provider::settings::ProviderKind;
use crate::provider::{CompletionRequest, ProviderError};
use crate::task::ErrorClass;
use serde_json::{json, Value};
use std::time::Duration;

/// A batch's requests are small, its results file may be large: its own bound.
const BATCH_HTTP_TIMEOUT: Duration = Duration::from_secs(300);

/// What became of one request of an ended batch.
#[derive(Debug, Clone)]
pub(crate) enum ItemResult {
    Answer {
        text: String,
        finish: Option<String>,
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
    },
    Error(ProviderError),
}

/// A submitted batch, as the provider reports it.
#[derive(Debug)]
pub(crate) enum Polled {
    Running,
    /// Ended (completed, cancelled, expired or failed): the results of the
    /// requests that finished, by custom_id; the others never will.
    Ended(Vec<(String, ItemResult)>),
}

impl HttpProvider {
    fn is_anthropic(&self) -> bool {
        self.settings.kind == ProviderKind::Anthropic
    }

    /// One request's body: the live body, not streamed.
    fn batch_body(&self, request: &CompletionRequest) -> Value {
        let mut body = if self.is_anthropic() {
            anthropic::body(request)
        } else {
            openai::body(request, openai::Dialect::of(&self.settings.base_url))
        };
        if let Some(map) = body.as_object_mut() {
            map.remove("stream");
            map.remove("stream_options");
        }
        body
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<(String, &str)>,
    ) -> Result<Vec<u8>, ProviderError> {
        let name = self.name();
        let key = self.key().await.map_err(|e| {
            ProviderError::new(
                ErrorClass::Auth,
                format!("provider '{name}' has no usable API key: {e}"),
            )
        })?;
        let key = key.as_ref();
        let mut headers = self.headers(key)?;
        let mut request = self.client.request(method, url);
        if let Some((body, content_type)) = body {
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                reqwest::header::HeaderValue::from_str(content_type)
                    .map_err(|e| ProviderError::fatal(e.to_string()))?,
            );
            request = request.body(body);
        } else {
            headers.remove(reqwest::header::CONTENT_TYPE);
        }
        let response = tokio::time::timeout(BATCH_HTTP_TIMEOUT, request.headers(headers).send())
            .await
            .map_err(|_| {
                ProviderError::retryable(format!("provider '{name}' did not answer {url}"))
            })?
            .map_err(|e| transport(name, url, &e, key))?;
        let status = response.status();
        let retry_after = super::retry_after(response.headers(), chrono::Utc::now());
        let bytes = tokio::time::timeout(BATCH_HTTP_TIMEOUT, response.bytes())
            .await
            .map_err(|_| ProviderError::retryable(format!("provider '{name}' stalled on {url}")))?
            .map_err(|e| transport(name, url, &e, key))?;
        if !status.is_success() {
            let detail = keys::redact(&error_message(&String::from_utf8_lossy(&bytes)), key);
            return Err(classify(name, status.as_u16(), detail, retry_after));
        }
        Ok(bytes.to_vec())
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, ProviderError> {
        let bytes = self
            .send(
                method,
                url,
                body.map(|b| (b.to_string(), "application/json")),
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| super::malformed(self.name(), &e.to_string()))
    }

    /// Sends `items` (custom_id, request) as one batch; returns the provider's
    /// batch id. `engine_id` goes in the batch's metadata (OpenAI).
    pub(crate) async fn submit_batch(
        &self,
        items: &[(String, CompletionRequest)],
        engine_id: &str,
    ) -> Result<String, ProviderError> {
        let base = self.settings.base_url.trim_end_matches('/');
        let value = if self.is_anthropic() {
            let requests: Vec<Value> = items
                .iter()
                .map(|(id, r)| json!({"custom_id": id, "params": self.batch_body(r)}))
                .collect();
            self.send_json(
                reqwest::Method::POST,
                &format!("{base}/v1/messages/batches"),
                Some(json!({ "requests": requests })),
            )
            .await?
        } else {
            let mut jsonl = String::new();
            for (id, r) in items {
                let line = json!({
                    "custom_id": id,
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": self.batch_body(r),
                });
                jsonl.push_str(&line.to_string());
                jsonl.push('\n');
            }
            // A multipart form written by hand: the one upload Baton makes.
            let boundary = format!("baton-{}", uuid::Uuid::now_v7().simple());
            let form = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batch.jsonl\"\r\n\
                 Content-Type: application/jsonl\r\n\r\n{jsonl}\r\n--{boundary}--\r\n"
            );
            let content_type = format!("multipart/form-data; boundary={boundary}");
            let file = self
                .send(
                    reqwest::Method::POST,
                    &format!("{base}/files"),
                    Some((form, &content_type)),
                )
                .await?;
            let file: Value = serde_json::from_slice(&file)
                .map_err(|e| super::malformed(self.name(), &e.to_string()))?;
            let file_id = file["id"].as_str().unwrap_or_default().to_string();
            self.send_json(
                reqwest::Method::POST,
                &format!("{base}/batches"),
                Some(json!({
                    "input_file_id": file_id,
                    "endpoint": "/v1/chat/completions",
                    "completion_window": "24h",
                    "metadata": {"baton_batch": engine_id},
                })),
            )
            .await?
        };
        value["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| super::malformed(self.name(), "the batch has no id"))
    }

    /// Where a submitted batch is; once ended, its results.
    pub(crate) async fn poll_batch(&self, id: &str) -> Result<Polled, ProviderError> {
        let base = self.settings.base_url.trim_end_matches('/');
        if self.is_anthropic() {
            let batch = self
                .send_json(
                    reqwest::Method::GET,
                    &format!("{base}/v1/messages/batches/{id}"),
                    None,
                )
                .await?;
            if batch["processing_status"].as_str() != Some("ended") {
                return Ok(Polled::Running);
            }
            let Some(url) = batch["results_url"].as_str() else {
                return Ok(Polled::Ended(Vec::new()));
            };
            let body = self.send(reqwest::Method::GET, url, None).await?;
            return Ok(Polled::Ended(self.anthropic_results(&body)));
        }
        let batch = self
            .send_json(reqwest::Method::GET, &format!("{base}/batches/{id}"), None)
            .await?;
        let status = batch["status"].as_str().unwrap_or_default();
        if !matches!(status, "completed" | "expired" | "cancelled" | "failed") {
            return Ok(Polled::Running);
        }
        let mut results = Vec::new();
        for field in ["output_file_id", "error_file_id"] {
            if let Some(file) = batch[field].as_str() {
                let body = self
                    .send(
                        reqwest::Method::GET,
                        &format!("{base}/files/{file}/content"),
                        None,
                    )
                    .await?;
                results.extend(self.openai_results(&body));
            }
        }
        Ok(Polled::Ended(results))
    }

    /// The provider's batches (the latest 100) whose metadata names one of
    /// `engine_ids` and that have not ended: batches the engine sent but never
    /// learnt the id of (killed before the answer). Anthropic's batches carry
    /// no metadata: none are found there.
    pub(crate) async fn find_batches(
        &self,
        engine_ids: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<String>, ProviderError> {
        if self.is_anthropic() {
            return Ok(Vec::new());
        }
        let base = self.settings.base_url.trim_end_matches('/');
        let list = self
            .send_json(
                reqwest::Method::GET,
                &format!("{base}/batches?limit=100"),
                None,
            )
            .await?;
        Ok(list["data"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|b| {
                b.pointer("/metadata/baton_batch")
                    .and_then(Value::as_str)
                    .is_some_and(|id| engine_ids.contains(id))
            })
            .filter(|b| {
                !matches!(
                    b["status"].as_str(),
                    Some("completed" | "expired" | "cancelled" | "cancelling" | "failed")
                )
            })
            .filter_map(|b| b["id"].as_str().map(String::from))
            .collect())
    }

    /// Asks the provider to stop a batch; what finished is still reported.
    pub(crate) async fn cancel_batch(&self, id: &str) -> Result<(), ProviderError> {
        let base = self.settings.base_url.trim_end_matches('/');
        let url = if self.is_anthropic() {
            format!("{base}/v1/messages/batches/{id}/cancel")
        } else {
            format!("{base}/batches/{id}/cancel")
        };
        self.send_json(reqwest::Method::POST, &url, Some(json!({})))
            .await
            .map(|_| ())
    }

    fn openai_results(&self, body: &[u8]) -> Vec<(String, ItemResult)> {
        lines(body)
            .filter_map(|line| {
                let id = line["custom_id"].as_str()?.to_string();
                if let Some(error) = line.get("error").filter(|e| !e.is_null()) {
                    let message = error["message"].as_str().unwrap_or("unknown error");
                    let e = classify(self.name(), 500, message.to_string(), None);
                    return Some((id, ItemResult::Error(e)));
                }
                let status = line.pointer("/response/status_code")?.as_u64()? as u16;
                let body = line.pointer("/response/body")?;
                if status != 200 {
                    let detail = error_message(&body.to_string());
                    return Some((
                        id,
                        ItemResult::Error(classify(self.name(), status, detail, None)),
                    ));
                }
                Some((id, self.answer(openai::parse_whole(body))))
            })
            .collect()
    }

    fn anthropic_results(&self, body: &[u8]) -> Vec<(String, ItemResult)> {
        lines(body)
            .filter_map(|line| {
                let id = line["custom_id"].as_str()?.to_string();
                let result = &line["result"];
                match result["type"].as_str()? {
                    "succeeded" => {
                        Some((id, self.answer(anthropic::parse_whole(&result["message"]))))
                    }
                    "errored" => {
                        let error = result.pointer("/error/error").unwrap_or(&result["error"]);
                        Some((id, self.answer(Ok(vec![anthropic::error_piece(error)]))))
                    }
                    // Canceled or expired: never ran; the engine runs it again.
                    _ => None,
                }
            })
            .collect()
    }

    /// A whole reply's pieces as one request's result.
    fn answer(&self, pieces: Result<Vec<Piece>, String>) -> ItemResult {
        let pieces = match pieces {
            Ok(p) => p,
            Err(e) => return ItemResult::Error(super::malformed(self.name(), &e)),
        };
        let (mut text, mut finish, mut prompt, mut completion) = (String::new(), None, None, None);
        for piece in pieces {
            match piece {
                Piece::Text(t) => text.push_str(&t),
                Piece::Finish(f) => finish = Some(f),
                Piece::Usage {
                    prompt: p,
                    completion: c,
                } => {
                    prompt = p.or(prompt);
                    completion = c.or(completion);
                }
                Piece::Done => {}
                Piece::Error {
                    status,
                    kind,
                    message,
                } => {
                    let detail = match kind {
                        Some(kind) => format!("{kind}: {message}"),
                        None => message,
                    };
                    let e = classify(self.name(), status.unwrap_or(500), detail.clone(), None);
                    return ItemResult::Error(super::too_long_if(e, &detail));
                }
            }
        }
        ItemResult::Answer {
            text,
            finish,
            prompt_tokens: prompt,
            completion_tokens: completion,
        }
    }
}

fn lines(body: &[u8]) -> impl Iterator<Item = Value> + '_ {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter_map(|l| serde_json::from_slice(l).ok())
}

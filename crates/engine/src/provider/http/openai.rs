//! The OpenAI chat completions protocol, as OpenAI and the compatible servers
//! speak it: `POST {base}/chat/completions` with `stream: true` and
//! `stream_options.include_usage`, answered by SSE `data:` chunks, a last chunk
//! with `usage` and empty `choices`, then `data: [DONE]`.

use super::sse::SseEvent;
use super::Piece;
use crate::provider::CompletionRequest;
use serde_json::{json, Value};

pub(crate) fn path() -> &'static str {
    "/chat/completions"
}

/// Where OpenAI's own API and the compatible servers differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// api.openai.com: the completion limit is `max_completion_tokens`; its
    /// reasoning models (o1, o3, o4-mini, …) refuse the older `max_tokens`.
    OpenAi,
    /// Everyone else (vLLM, llama.cpp, Ollama, Groq, …): `max_tokens`, which
    /// not all of them know by the newer name.
    Compatible,
}

impl Dialect {
    pub(crate) fn of(base_url: &str) -> Dialect {
        let host = reqwest::Url::parse(base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
        match host.as_deref() {
            Some("api.openai.com") => Dialect::OpenAi,
            _ => Dialect::Compatible,
        }
    }
}

pub(crate) fn body(request: &CompletionRequest, dialect: Dialect) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": request.prompt}));
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = request.max_tokens {
        let field = match dialect {
            Dialect::OpenAi => "max_completion_tokens",
            Dialect::Compatible => "max_tokens",
        };
        body[field] = json!(n);
    }
    // OpenAI's structured outputs; llama.cpp's server, vLLM, LM Studio and
    // Ollama take the same form. Not `strict`: OpenAI's strict mode refuses
    // schemas without `additionalProperties: false` on every object, and the
    // engine checks every answer anyway.
    if let Some(schema) = &request.output_schema {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema},
        });
    }
    body
}

/// One SSE event of the stream.
pub(crate) fn parse_event(event: &SseEvent) -> Result<Vec<Piece>, String> {
    let data = event.data.trim();
    if data == "[DONE]" {
        return Ok(vec![Piece::Done]);
    }
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let value: Value =
        serde_json::from_str(data).map_err(|e| format!("{e} in {}", excerpt(data)))?;
    if let Some(error) = value.get("error") {
        return Ok(vec![stream_error(error)]);
    }
    let mut pieces = Vec::new();
    if let Some(text) = value
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
    {
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
    }
    if let Some(reason) = value
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
    {
        pieces.push(Piece::Finish(reason.to_string()));
    }
    // Groq reports usage under `x_groq`; everyone else at the top.
    let usage = value
        .get("usage")
        .filter(|u| !u.is_null())
        .or_else(|| value.pointer("/x_groq/usage"));
    if let Some(usage) = usage {
        pieces.push(usage_piece(usage));
    }
    Ok(pieces)
}

/// A whole (non-streamed) response, from a server that ignored `stream: true`.
pub(crate) fn parse_whole(value: &Value) -> Result<Vec<Piece>, String> {
    if let Some(error) = value.get("error") {
        return Ok(vec![stream_error(error)]);
    }
    let text = value
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or("the response has no choices[0].message.content")?;
    let mut pieces = vec![Piece::Text(text.to_string())];
    if let Some(reason) = value
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
    {
        pieces.push(Piece::Finish(reason.to_string()));
    }
    if let Some(usage) = value.get("usage").filter(|u| !u.is_null()) {
        pieces.push(usage_piece(usage));
    }
    pieces.push(Piece::Done);
    Ok(pieces)
}

fn usage_piece(usage: &Value) -> Piece {
    Piece::Usage {
        prompt: usage.get("prompt_tokens").and_then(Value::as_u64),
        completion: usage.get("completion_tokens").and_then(Value::as_u64),
    }
}

/// An error object inside a 200 stream (vLLM, LiteLLM, OpenRouter send these).
fn stream_error(error: &Value) -> Piece {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .unwrap_or("unknown error")
        .to_string();
    let status = error
        .get("code")
        .and_then(|c| {
            c.as_u64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c));
    let kind = error.get("type").and_then(Value::as_str).map(String::from);
    Piece::Error {
        status,
        kind,
        message,
    }
}

pub(super) fn excerpt(text: &str) -> String {
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    format!("'{s}'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::sse::SseDecoder;
    use crate::provider::http::Piece::*;

    /// A stream in the shape api.openai.com sends for gpt-4o-mini with include_usage,
    /// written from the documented wire format (no network here to capture one)
    /// (ids and fingerprints shortened).
    const RECORDED: &str = concat!(
        "data: {\"id\":\"chatcmpl-B9\",\"object\":\"chat.completion.chunk\",\"created\":1727000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_1bb46167f9\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-B9\",\"object\":\"chat.completion.chunk\",\"created\":1727000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_1bb46167f9\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-B9\",\"object\":\"chat.completion.chunk\",\"created\":1727000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_1bb46167f9\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"! How can I help?\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-B9\",\"object\":\"chat.completion.chunk\",\"created\":1727000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_1bb46167f9\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-B9\",\"object\":\"chat.completion.chunk\",\"created\":1727000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_1bb46167f9\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":9,\"total_tokens\":18,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n",
        "data: [DONE]\n\n",
    );

    fn pieces(stream: &str) -> Vec<Piece> {
        let mut d = SseDecoder::default();
        d.push(stream.as_bytes())
            .iter()
            .flat_map(|e| parse_event(e).unwrap())
            .collect()
    }

    #[test]
    fn a_recorded_stream_gives_text_usage_and_done() {
        assert_eq!(
            pieces(RECORDED),
            vec![
                Text("Hello".into()),
                Text("! How can I help?".into()),
                Finish("stop".into()),
                Usage {
                    prompt: Some(9),
                    completion: Some(9)
                },
                Done
            ]
        );
    }

    #[test]
    fn groq_usage_and_ollama_comments_are_understood() {
        let groq = "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":\"req_1\",\"usage\":{\"queue_time\":0.01,\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}}\n\n";
        assert_eq!(
            pieces(groq),
            vec![
                Finish("stop".into()),
                Usage {
                    prompt: Some(12),
                    completion: Some(3)
                }
            ]
        );
        let with_comment =
            ": OPENROUTER PROCESSING\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n";
        assert_eq!(pieces(with_comment), vec![Text("hi".into())]);
    }

    #[test]
    fn an_error_inside_the_stream_and_malformed_json_are_reported() {
        let err = "data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"code\":500}}\n\n";
        assert_eq!(
            pieces(err),
            vec![Error {
                status: Some(500),
                kind: Some("server_error".into()),
                message: "The server had an error".into()
            }]
        );
        let bad = SseEvent {
            event: None,
            data: "{\"choices\": [".into(),
        };
        assert!(parse_event(&bad).is_err());
    }

    #[test]
    fn the_request_carries_system_temperature_max_tokens_and_include_usage() {
        let mut r = CompletionRequest::new(crate::task::TaskId::new(), "hi", "gpt-4o-mini");
        r.system = Some("be brief".into());
        r.temperature = Some(0.5);
        r.max_tokens = Some(20);
        let b = body(&r, Dialect::Compatible);
        assert_eq!(b["messages"][0]["role"], "system");
        assert_eq!(b["messages"][1]["content"], "hi");
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(
            (b["temperature"].as_f64(), b["max_tokens"].as_u64()),
            (Some(0.5), Some(20))
        );
        let plain = body(
            &CompletionRequest::new(crate::task::TaskId::new(), "hi", "m"),
            Dialect::Compatible,
        );
        assert!(plain.get("temperature").is_none() && plain.get("max_tokens").is_none());
    }

    #[test]
    fn an_output_schema_is_asked_as_the_json_schema_response_format() {
        let mut r = CompletionRequest::new(crate::TaskId::new(), "p", "m");
        r.output_schema = Some(json!({"type": "object"}));
        let b = body(&r, Dialect::Compatible);
        assert_eq!(
            b["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": {"type": "object"}}})
        );
    }

    #[test]
    fn openais_own_api_gets_max_completion_tokens_and_compatible_servers_max_tokens() {
        let mut r = CompletionRequest::new(crate::task::TaskId::new(), "hi", "o4-mini");
        r.max_tokens = Some(64);
        assert_eq!(Dialect::of("https://api.openai.com/v1"), Dialect::OpenAi);
        assert_eq!(Dialect::of("https://API.OpenAI.com/v1/"), Dialect::OpenAi);
        for other in [
            "http://127.0.0.1:11434/v1",
            "https://api.groq.com/openai/v1",
            "https://api.openai.com.example.net/v1",
            "not a url",
        ] {
            assert_eq!(Dialect::of(other), Dialect::Compatible, "{other}");
        }
        let openai = body(&r, Dialect::OpenAi);
        assert_eq!(openai["max_completion_tokens"], 64);
        assert!(openai.get("max_tokens").is_none());
        let compatible = body(&r, Dialect::Compatible);
        assert_eq!(compatible["max_tokens"], 64);
        assert!(compatible.get("max_completion_tokens").is_none());
    }

    #[test]
    fn a_whole_response_is_read_when_the_server_does_not_stream() {
        let v: Value = serde_json::from_str(r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#).unwrap();
        assert_eq!(
            parse_whole(&v).unwrap(),
            vec![
                Text("pong".into()),
                Finish("stop".into()),
                Usage {
                    prompt: Some(5),
                    completion: Some(1)
                },
                Done
            ]
        );
    }

    /// What the issue saw from a server that preempted a running answer: the
    /// role, then the end marker, and no finish reason anywhere.
    #[test]
    fn a_preempted_stream_has_no_finish_reason_before_its_end_marker() {
        let preempted = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"},\"finish_reason\":null}]}\n\n",
            "data: [DONE]\n\n",
        );
        assert_eq!(pieces(preempted), vec![Done]);
        let length = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"length\"}]}\n\n";
        assert_eq!(
            pieces(length),
            vec![Text("a".into()), Finish("length".into())]
        );
    }
}

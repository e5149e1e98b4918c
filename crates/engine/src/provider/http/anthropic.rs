//! Anthropic's Messages API: `POST {base}/v1/messages` with `stream: true`,
//! answered by typed SSE events: `message_start` (with the input usage),
//! `content_block_start`, `content_block_delta` (text), `content_block_stop`,
//! `message_delta` (with the output usage so far), `message_stop`; `ping` at
//! any time, and `error` when it fails mid-stream.

use super::openai::excerpt;
use super::sse::SseEvent;
use super::Piece;
use crate::provider::{CompletionRequest, DEFAULT_MAX_TOKENS};
use serde_json::{json, Value};

pub(crate) const VERSION: &str = "2023-06-01";

pub(crate) fn path() -> &'static str {
    "/v1/messages"
}

pub(crate) fn body(request: &CompletionRequest) -> Value {
    let mut body = json!({
        "model": request.model,
        // Required by the API.
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": [{"role": "user", "content": request.prompt}],
        "stream": true,
    });
    if let Some(system) = &request.system {
        body["system"] = json!(system);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    // Anthropic has no JSON response format: the answer is the input of one
    // tool whose input schema is the output schema, and the model must call it.
    if let Some(schema) = &request.output_schema {
        body["tools"] = json!([{
            "name": OUTPUT_TOOL,
            "description": "Give the answer: its input is the whole answer, matching the schema.",
            "input_schema": schema,
        }]);
        body["tool_choice"] = json!({"type": "tool", "name": OUTPUT_TOOL});
    }
    body
}

/// The tool an output schema is asked for through.
pub(crate) const OUTPUT_TOOL: &str = "output";

pub(crate) fn parse_event(event: &SseEvent) -> Result<Vec<Piece>, String> {
    let data = event.data.trim();
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let value: Value =
        serde_json::from_str(data).map_err(|e| format!("{e} in {}", excerpt(data)))?;
    // The data's own `type` names the event; the `event:` line repeats it.
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .or(event.event.as_deref())
        .unwrap_or("");
    Ok(match kind {
        "message_start" => value
            .pointer("/message/usage")
            .map(|u| vec![input_usage(u)])
            .unwrap_or_default(),
        // Text deltas are output, and so are tool-input deltas: Baton sends a
        // tool only for an output schema, and its input is the answer. Thinking
        // deltas are not.
        "content_block_delta" => match value.pointer("/delta/type").and_then(Value::as_str) {
            Some("text_delta") => value.pointer("/delta/text"),
            Some("input_json_delta") => value.pointer("/delta/partial_json"),
            _ => None,
        }
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(|text| vec![Piece::Text(text.to_string())])
        .unwrap_or_default(),
        "message_delta" => {
            let mut pieces = Vec::new();
            if let Some(reason) = value.pointer("/delta/stop_reason").and_then(Value::as_str) {
                pieces.push(Piece::Finish(finish_reason(reason)));
            }
            if let Some(u) = value.get("usage") {
                if u.get("input_tokens").is_some_and(|n| !n.is_null()) {
                    pieces.push(input_usage(u));
                }
                pieces.push(Piece::Usage {
                    prompt: None,
                    completion: u.get("output_tokens").and_then(Value::as_u64),
                });
            }
            pieces
        }
        "message_stop" => vec![Piece::Done],
        "error" => vec![error_piece(value.get("error").unwrap_or(&Value::Null))],
        // ping, content_block_start, content_block_stop, and types added later.
        _ => Vec::new(),
    })
}

/// Anthropic's `stop_reason` as an OpenAI-style finish reason; one with no
/// counterpart (`pause_turn`, later ones) is kept as Anthropic says it.
pub(crate) fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        other => other,
    }
    .to_string()
}

/// Input tokens, counting the cached ones (written or read): all were sent.
fn input_usage(usage: &Value) -> Piece {
    let n = |k: &str| usage.get(k).and_then(Value::as_u64);
    let prompt = n("input_tokens").map(|i| {
        i + n("cache_creation_input_tokens").unwrap_or(0)
            + n("cache_read_input_tokens").unwrap_or(0)
    });
    Piece::Usage {
        prompt,
        completion: n("output_tokens"),
    }
}

/// `{"type": "overloaded_error", "message": "Overloaded"}` and its kin, as the
/// HTTP status the same error has outside a stream.
pub(crate) fn error_piece(error: &Value) -> Piece {
    let kind = error.get("type").and_then(Value::as_str).map(String::from);
    let status = match kind.as_deref() {
        Some("invalid_request_error") => Some(400),
        Some("authentication_error") => Some(401),
        Some("permission_error") => Some(403),
        Some("not_found_error") => Some(404),
        Some("request_too_large") => Some(413),
        Some("rate_limit_error") => Some(429),
        Some("api_error") => Some(500),
        Some("overloaded_error") => Some(529),
        _ => None,
    };
    Piece::Error {
        status,
        kind,
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_string(),
    }
}

/// A whole (non-streamed) message.
pub(crate) fn parse_whole(value: &Value) -> Result<Vec<Piece>, String> {
    if value.get("type").and_then(Value::as_str) == Some("error") {
        return Ok(vec![error_piece(
            value.get("error").unwrap_or(&Value::Null),
        )]);
    }
    let blocks = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or("the response has no content")?;
    let text: String = blocks
        .iter()
        .filter_map(|b| match b.get("type").and_then(Value::as_str) {
            Some("text") => b.get("text").and_then(Value::as_str).map(str::to_string),
            // The output schema's tool: its input is the answer.
            Some("tool_use") => b.get("input").map(Value::to_string),
            _ => None,
        })
        .collect();
    let mut pieces = vec![Piece::Text(text)];
    if let Some(reason) = value.get("stop_reason").and_then(Value::as_str) {
        pieces.push(Piece::Finish(finish_reason(reason)));
    }
    if let Some(usage) = value.get("usage") {
        pieces.push(input_usage(usage));
    }
    pieces.push(Piece::Done);
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::http::sse::SseDecoder;
    use crate::provider::http::Piece::*;

    /// A stream in the shape api.anthropic.com sends for claude-3-5-haiku, written from
    /// the documented wire format (no network here to capture one; ids shortened).
    const RECORDED: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-3-5-haiku-20241022\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\n",
        "data: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"! How can I help?\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":12}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n",
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
                Usage {
                    prompt: Some(25),
                    completion: Some(1)
                },
                Text("Hello".into()),
                Text("! How can I help?".into()),
                Finish("stop".into()),
                Usage {
                    prompt: None,
                    completion: Some(12)
                },
                Done
            ]
        );
    }

    #[test]
    fn an_overloaded_error_mid_stream_maps_to_529() {
        let s = "event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
        assert_eq!(
            pieces(s),
            vec![Error {
                status: Some(529),
                kind: Some("overloaded_error".into()),
                message: "Overloaded".into()
            }]
        );
    }

    #[test]
    fn an_output_schema_is_a_forced_tool_whose_streamed_input_is_the_answer() {
        let mut r = CompletionRequest::new(crate::TaskId::new(), "p", "m");
        r.output_schema = Some(json!({"type": "object"}));
        let b = body(&r);
        assert_eq!(b["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(b["tool_choice"], json!({"type": "tool", "name": "output"}));
        assert!(
            super::body(&CompletionRequest::new(crate::TaskId::new(), "p", "m"))
                .get("tools")
                .is_none()
        );
        let s = concat!(
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\": \"}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n",
        );
        assert_eq!(pieces(s), vec![Text("{\"a\": ".into()), Text("1}".into())]);
        let whole: Value = serde_json::from_str(r#"{"content":[{"type":"tool_use","id":"t","name":"output","input":{"a":1}}],"stop_reason":"tool_use"}"#).unwrap();
        assert_eq!(parse_whole(&whole).unwrap()[0], Text("{\"a\":1}".into()));
    }

    #[test]
    fn thinking_deltas_are_not_output_and_cached_input_counts() {
        let s = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":1000,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n",
        );
        assert_eq!(
            pieces(s),
            vec![Usage {
                prompt: Some(1110),
                completion: Some(1)
            }]
        );
    }

    #[test]
    fn the_request_always_has_max_tokens_and_a_top_level_system() {
        let mut r =
            CompletionRequest::new(crate::task::TaskId::new(), "hi", "claude-3-5-haiku-latest");
        r.system = Some("be brief".into());
        let b = body(&r);
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(b["system"], "be brief");
        assert_eq!(b["messages"][0]["role"], "user");
        assert!(b.get("temperature").is_none());
    }

    #[test]
    fn a_whole_message_is_read_when_the_server_does_not_stream() {
        let v: Value = serde_json::from_str(r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[{"type":"text","text":"pong"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":8,"output_tokens":4}}"#).unwrap();
        assert_eq!(
            parse_whole(&v).unwrap(),
            vec![
                Text("pong".into()),
                Finish("stop".into()),
                Usage {
                    prompt: Some(8),
                    completion: Some(4)
                },
                Done
            ]
        );
    }

    #[test]
    fn stop_reasons_map_onto_finish_reasons() {
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
            ("pause_turn", "pause_turn"),
        ] {
            assert_eq!(finish_reason(stop), finish);
        }
    }
}

//! The deterministic mock provider. Its model string is a comma-separated list of
//! directives: `echo` (default), `sleep=MS`, `fail=N`, `fatal`, `stream=K`,
//! `badjson=N` (with an output schema, the first N attempts answer with text
//! that is not JSON) and `panic` (for testing that a panicking provider fails
//! only its attempt). With an output schema, the answer is a JSON value made
//! from the schema (`structured::example`).

use super::{CompletionRequest, OutputSink, Provider, ProviderError};
use futures::future::BoxFuture;
use std::time::Duration;

pub struct MockProvider;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Plan {
    sleep_ms: u64,
    fail_first: u32,
    fatal: bool,
    panic: bool,
    stream: u32,
    bad_json_first: u32,
}

fn parse(model: &str) -> Result<Plan, String> {
    let mut plan = Plan::default();
    for directive in model.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (key, value) = match directive.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (directive, None),
        };
        let number = |what: &str| -> Result<u64, String> {
            value.and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| {
                format!("mock directive '{directive}' needs a whole number ({what})")
            })
        };
        match (key, value) {
            ("echo", None) => {}
            ("fatal", None) => plan.fatal = true,
            ("panic", None) => plan.panic = true,
            ("sleep", Some(_)) => plan.sleep_ms = number("milliseconds")?,
            ("fail", Some(_)) => {
                plan.fail_first = u32::try_from(number("attempts")?)
                    .map_err(|_| format!("mock directive '{directive}' is too large"))?
            }
            ("badjson", Some(_)) => {
                plan.bad_json_first = u32::try_from(number("attempts")?)
                    .map_err(|_| format!("mock directive '{directive}' is too large"))?
            }
            ("stream", Some(_)) => {
                let k = number("chunks")?;
                if !(1..=100_000).contains(&k) {
                    return Err(format!(
                        "mock directive '{directive}' needs between 1 and 100000 chunks"
                    ));
                }
                plan.stream = k as u32;
            }
            _ => {
                return Err(format!(
                    "unknown mock directive '{directive}' (expected echo, sleep=MS, fail=N, fatal, stream=K, badjson=N or panic)"
                ))
            }
        }
    }
    Ok(plan)
}

/// Sleeps for `d`. A zero sleep only yields: tokio rounds a timer up to its
/// next millisecond tick, which made every `echo` take up to a millisecond.
async fn pause_for(d: Duration) {
    if d.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(d).await;
    }
}

/// Splits `text` into `k` pieces of nearly equal length, on char boundaries.
fn split_even(text: &str, k: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let k = k.max(1);
    (0..k)
        .map(|i| {
            let start = chars.len() * i / k;
            let end = chars.len() * (i + 1) / k;
            chars[start..end].iter().collect()
        })
        .collect()
}

impl Provider for MockProvider {
    fn default_model(&self) -> &str {
        "echo"
    }

    fn check_model(&self, model: &str) -> Result<(), String> {
        parse(model).map(|_| ())
    }

    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        mut output: OutputSink,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let plan = parse(&request.model).map_err(ProviderError::fatal)?;
            let answer = match &request.output_schema {
                Some(_) if request.attempt <= plan.bad_json_first => {
                    format!("not JSON, attempt {}", request.attempt)
                }
                Some(schema) => crate::structured::example(schema).to_string(),
                None => format!("echo: {}", request.prompt),
            };
            if plan.panic {
                panic!("mock provider asked to panic");
            }
            let fails = plan.fatal || request.attempt <= plan.fail_first;
            if plan.stream > 0 && !fails {
                let pieces = split_even(&answer, plan.stream as usize);
                let pause = Duration::from_millis(plan.sleep_ms) / plan.stream;
                for piece in pieces {
                    pause_for(pause).await;
                    output.send(piece);
                }
            } else {
                pause_for(Duration::from_millis(plan.sleep_ms)).await;
            }
            // Usage as a real provider reports it: about four bytes a token.
            let tokens = |text: &str| text.len().div_ceil(4) as u64;
            output.usage(Some(tokens(&request.prompt)), Some(tokens(&answer)));
            if plan.fatal {
                return Err(ProviderError::fatal(
                    "mock: the 'fatal' directive fails every attempt",
                ));
            }
            if request.attempt <= plan.fail_first {
                return Err(ProviderError::retryable(format!(
                    "mock: simulated transient failure (attempt {} of the first {} that fail)",
                    request.attempt, plan.fail_first
                )));
            }
            output.finish_reason("stop");
            Ok(answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_directive_together() {
        assert_eq!(
            parse("sleep=200, fail=1,stream=5,fatal").unwrap(),
            Plan {
                sleep_ms: 200,
                fail_first: 1,
                fatal: true,
                panic: false,
                stream: 5,
                bad_json_first: 0,
            }
        );
        assert_eq!(parse("").unwrap(), Plan::default());
        assert_eq!(parse("echo").unwrap(), Plan::default());
    }

    #[test]
    fn refuses_unknown_or_malformed_directives() {
        for bad in [
            "bogus",
            "sleep",
            "sleep=abc",
            "stream=0",
            "fail=-1",
            "echo=3",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(bad.split('=').next().unwrap()), "{bad}: {err}");
        }
    }

    #[test]
    fn split_even_keeps_every_char_in_order() {
        let text = "héllo wörld, chunked";
        for k in 1..30 {
            let parts = split_even(text, k);
            assert_eq!(parts.len(), k);
            assert_eq!(parts.concat(), text);
        }
    }
}

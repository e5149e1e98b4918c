//! Baton's own token count, for an attempt whose provider reported no usage
//! (some OpenAI-compatible servers send none in streams, even when asked; a cut
//! stream ends before its usage). Counted once, when the attempt ends.
//!
//! OpenAI's models are counted with their own tokenizer (`tiktoken-rs` embeds
//! the BPE files: o200k for the gpt-4o/o-series family, cl100k for gpt-4 and
//! gpt-3.5). Every other model (Anthropic's, local ones) is counted with cl100k
//! as an approximation: their tokenizers are not published in a form a
//! well-kept Rust library carries. The error against reported counts is
//! measured in docs/PERFORMANCE.md ("Token estimate vs reported counts").

use tiktoken_rs::CoreBPE;

/// Tokens a chat request adds around each message, and to prime the reply
/// (OpenAI's documented chat format: `<|start|>role<|message|>…<|end|>`).
const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_TO_PRIME_REPLY: u64 = 3;

/// The tokenizer of `model`'s family, or cl100k for a model tiktoken does not know.
fn tokenizer(model: &str) -> &'static CoreBPE {
    // OpenRouter and LiteLLM prefix the vendor: "openai/gpt-4o-mini".
    let bare = model.rsplit('/').next().unwrap_or(model);
    tiktoken_rs::bpe_for_model(bare).unwrap_or_else(|_| tiktoken_rs::cl100k_base_singleton())
}

/// Tokens of a piece of text, such as an answer.
pub(crate) fn count_text(model: &str, text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    tokenizer(model).count_ordinary(text) as u64
}

/// Tokens of a request: the system prompt and the prompt as chat messages.
pub(crate) fn count_prompt(model: &str, system: Option<&str>, prompt: &str) -> u64 {
    let messages = 1 + u64::from(system.is_some());
    count_text(model, prompt)
        + system.map_or(0, |s| count_text(model, s))
        + messages * TOKENS_PER_MESSAGE
        + TOKENS_TO_PRIME_REPLY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_models_use_their_own_tokenizer_and_others_cl100k() {
        // "tiktoken is great!" is 6 tokens in cl100k and o200k alike; a word
        // the two split differently tells them apart.
        assert_eq!(count_text("gpt-4o-mini", "tiktoken is great!"), 6);
        assert_eq!(count_text("gpt-4", "tiktoken is great!"), 6);
        let word = "antidisestablishmentarianism";
        let o200k = tiktoken_rs::o200k_base_singleton().count_ordinary(word) as u64;
        let cl100k = tiktoken_rs::cl100k_base_singleton().count_ordinary(word) as u64;
        assert_eq!(count_text("openai/gpt-4o", word), o200k);
        assert_eq!(count_text("claude-3-5-haiku-latest", word), cl100k);
        assert_eq!(count_text("llama3.2:3b", ""), 0);
    }

    #[test]
    fn a_prompt_counts_its_chat_framing() {
        let bare = count_text("gpt-4o", "hello there");
        assert_eq!(count_prompt("gpt-4o", None, "hello there"), bare + 6);
        assert_eq!(
            count_prompt("gpt-4o", Some("be brief"), "hello there"),
            bare + count_text("gpt-4o", "be brief") + 9
        );
    }

    /// A fixed corpus of the kinds of text tasks send and receive: prose, code,
    /// JSON, numbers, other scripts, emoji.
    const CORPUS: &[&str] = &[
        "Summarise the following meeting notes in three bullet points, keeping every date and name.",
        "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.",
        "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{v:?}\");\n}\n",
        "{\"id\": \"0190d7a4-1c2b-7e3f-9a8b-5c4d3e2f1a0b\", \"status\": \"completed\", \"latency_ms\": 1532, \"tags\": [\"a\", \"b\"]}",
        "SELECT name, COUNT(*) AS n FROM tasks WHERE status = 'failed' GROUP BY name ORDER BY n DESC LIMIT 10;",
        "Invoice 2026-11-30: 3 × 19.99 EUR, 12 × 4.50 EUR, VAT 21 %, total 114.13 EUR, due 2026-12-31.",
        "Le service a répondu trop tôt : la réponse s'arrête au milieu d'une phrase, sans raison de fin.",
        "Die Antwort wurde nach drei Sätzen abgebrochen; bitte versuche es später noch einmal.",
        "请把下面的段落翻译成英文，并保留所有的专有名词和数字。",
        "今日はいい天気ですね。明日の会議は午前十時からです。",
        "Great job! 🎉🚀 Ship it 👍 — then write the release notes ✍️.",
        "Once upon a time, in a kingdom by the sea, there lived a cartographer who drew maps of places that did not exist yet, and every map she drew, the sea would make true by morning.",
    ];

    /// Records the error of Baton's estimates on [`CORPUS`] against the counts
    /// OpenAI reports for gpt-4o (its tokenizer, o200k, counts them exactly):
    /// the cl100k approximation used for every non-OpenAI model, and the
    /// limiter's four-bytes-a-token reservation. docs/PERFORMANCE.md quotes the
    /// figures printed here (`--nocapture`).
    #[test]
    fn the_token_estimate_stays_close_to_reported_counts_on_a_fixed_corpus() {
        let reported: Vec<u64> = CORPUS.iter().map(|t| count_text("gpt-4o", t)).collect();
        let error = |estimate: &dyn Fn(&str) -> u64| {
            let (mut abs, mut worst, mut total, mut total_est) = (0.0, 0.0f64, 0, 0);
            for (text, &r) in CORPUS.iter().zip(&reported) {
                let e = estimate(text);
                let rel = (e as f64 - r as f64).abs() / r as f64;
                abs += rel;
                worst = worst.max(rel);
                total += r;
                total_est += e;
            }
            let overall = (total_est as f64 - total as f64) / total as f64;
            (abs / CORPUS.len() as f64, worst, overall)
        };
        let cl100k = error(&|t| count_text("claude-3-5-haiku-latest", t));
        let bytes = error(&|t| t.len().div_ceil(4) as u64);
        let o200k = error(&|t| count_text("gpt-4o-mini", t));
        println!(
            "{} texts, {} tokens reported (o200k)\n\
             cl100k estimate: mean |error| {:.1} %, worst {:.1} %, total {:+.1} %\n\
             bytes/4 estimate: mean |error| {:.1} %, worst {:.1} %, total {:+.1} %",
            CORPUS.len(),
            reported.iter().sum::<u64>(),
            cl100k.0 * 100.0,
            cl100k.1 * 100.0,
            cl100k.2 * 100.0,
            bytes.0 * 100.0,
            bytes.1 * 100.0,
            bytes.2 * 100.0,
        );
        // An OpenAI model is counted with its own tokenizer: no error.
        assert_eq!(o200k, (0.0, 0.0, 0.0));
        assert!(
            cl100k.0 < 0.15,
            "cl100k is off by {:.1} %",
            cl100k.0 * 100.0
        );
        assert!(cl100k.2.abs() < 0.10);
    }
}

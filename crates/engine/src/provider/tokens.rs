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
}

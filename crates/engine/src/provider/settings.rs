//! A configured provider as stored in the `providers` table: everything but its
//! key, which lives in the OS keychain or an environment variable.

use super::limits::Limits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Longest provider name.
pub const MAX_PROVIDER_NAME: usize = 64;
/// How long a response may go without sending a byte, when the settings say nothing.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 120_000;

/// Which wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum ProviderKind {
    /// `POST {base_url}/chat/completions`: OpenAI, Ollama, LM Studio, llama.cpp,
    /// vLLM, LiteLLM, OpenRouter, Groq.
    OpenaiCompatible,
    /// `POST {base_url}/v1/messages`: Anthropic's Messages API.
    Anthropic,
    /// The deterministic mock, under another name (with limits, for trying them).
    Mock,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenaiCompatible => "openai-compatible",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Mock => "mock",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "openai-compatible" | "openai" => Ok(ProviderKind::OpenaiCompatible),
            "anthropic" => Ok(ProviderKind::Anthropic),
            "mock" => Ok(ProviderKind::Mock),
            other => Err(format!(
                "unknown provider kind '{other}' (expected openai-compatible, anthropic or mock)"
            )),
        }
    }
}

/// Where a provider's API key comes from. The key itself is never stored here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum KeyRef {
    /// No key (a local server).
    #[default]
    None,
    /// Read from this environment variable at each request.
    Env { var: String },
    /// In the OS keychain, under service `baton` and the provider's name.
    Keychain,
}

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Prices {
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub input_per_mtok: f64,
    #[cfg_attr(feature = "utoipa", schema(minimum = 0))]
    pub output_per_mtok: f64,
}

impl Prices {
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_per_mtok + output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// A configured provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ProviderSettings {
    /// Letters, digits, '-', '_' and '.'; tasks name it with `provider`.
    pub name: String,
    pub kind: ProviderKind,
    /// e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`,
    /// `https://api.anthropic.com`. Unused by `mock`.
    #[serde(default)]
    pub base_url: String,
    /// The model a task gets when it names none.
    #[serde(default)]
    pub model: Option<String>,
    /// Sent with every request (e.g. OpenRouter's `HTTP-Referer`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub key: KeyRef,
    #[serde(default)]
    pub prices: Option<Prices>,
    /// Longest silence while waiting for a response or its next chunk; a stream
    /// silent for longer is treated as stalled (transient, retried).
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Context windows in tokens, by model: which fallbacks a prompt too long
    /// for one model may move to. Models not named here take the window the
    /// provider's model list gives, when it gives one (docs/fallbacks.md).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context_windows: BTreeMap<String, u32>,
    /// The concurrency in force now, when Baton lowered it below `limits`
    /// because the provider kept interrupting answers while several were in
    /// flight. Filled in when listing; never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowered_concurrency: Option<super::LoweredConcurrency>,
}

impl ProviderSettings {
    pub fn new(name: impl Into<String>, kind: ProviderKind, base_url: impl Into<String>) -> Self {
        ProviderSettings {
            name: name.into(),
            kind,
            base_url: base_url.into(),
            model: None,
            headers: BTreeMap::new(),
            limits: Limits::default(),
            key: KeyRef::None,
            prices: None,
            idle_timeout_ms: None,
            context_windows: BTreeMap::new(),
            lowered_concurrency: None,
        }
    }

    pub fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.idle_timeout_ms.unwrap_or(DEFAULT_IDLE_TIMEOUT_MS))
    }

    /// Checks every field, trimming what people type with stray spaces. Returns
    /// the field at fault and one sentence.
    pub(crate) fn normalise(mut self) -> Result<Self, (&'static str, String)> {
        // The engine's state, not a setting.
        self.lowered_concurrency = None;
        self.name = self.name.trim().to_string();
        let name = &self.name;
        if name.is_empty() || name.chars().count() > MAX_PROVIDER_NAME {
            return Err((
                "name",
                format!("a provider name has 1 to {MAX_PROVIDER_NAME} characters"),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err((
                "name",
                format!(
                    "the provider name '{name}' may only hold letters, digits, '-', '_' and '.'"
                ),
            ));
        }
        self.base_url = self.base_url.trim().trim_end_matches('/').to_string();
        if self.kind != ProviderKind::Mock {
            let url = reqwest::Url::parse(&self.base_url).map_err(|e| {
                (
                    "base_url",
                    format!("the base URL '{}' is not a URL ({e})", self.base_url),
                )
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err((
                    "base_url",
                    format!(
                        "the base URL '{}' must start with http:// or https://",
                        self.base_url
                    ),
                ));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err((
                    "base_url",
                    "the base URL must not hold credentials; give the key with --key-env or --key-stdin".into(),
                ));
            }
        }
        self.model = self
            .model
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty());
        for (key, value) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(key.as_bytes()).is_err() {
                return Err(("headers", format!("'{key}' is not a valid header name")));
            }
            if is_credential_header(key) && env_reference(value).is_none() {
                return Err((
                    "headers",
                    format!("header '{key}' carries a credential, which is kept like a key: give its value as ${{VAR}}, naming an environment variable that holds it"),
                ));
            }
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err((
                    "headers",
                    format!("the value of header '{key}' is not valid in a header"),
                ));
            }
        }
        let zero = |n: Option<u64>, what: &str| match n {
            Some(0) => Err((
                "limits",
                format!("{what} must be at least 1 (leave it out for no limit)"),
            )),
            _ => Ok(()),
        };
        zero(
            self.limits.max_concurrency.map(u64::from),
            "max_concurrency",
        )?;
        zero(self.limits.rpm.map(u64::from), "rpm")?;
        zero(self.limits.tpm, "tpm")?;
        if let KeyRef::Env { var } = &mut self.key {
            *var = var.trim().to_string();
            if var.is_empty() || var.contains(['=', '\0']) {
                return Err((
                    "key",
                    format!("'{var}' is not an environment variable name"),
                ));
            }
        }
        if let Some(p) = self.prices {
            let ok = |x: f64| x.is_finite() && x >= 0.0;
            if !ok(p.input_per_mtok) || !ok(p.output_per_mtok) {
                return Err((
                    "prices",
                    "prices must be zero or more dollars per million tokens".into(),
                ));
            }
        }
        self.context_windows = std::mem::take(&mut self.context_windows)
            .into_iter()
            .map(|(m, w)| (m.trim().to_string(), w))
            .collect();
        if let Some((model, _)) = self
            .context_windows
            .iter()
            .find(|(m, w)| m.is_empty() || **w == 0)
        {
            return Err((
                "context_windows",
                if model.is_empty() {
                    "a context window names no model".to_string()
                } else {
                    format!("the context window of '{model}' must be at least 1 token")
                },
            ));
        }
        if self.idle_timeout_ms == Some(0) {
            return Err((
                "idle_timeout_ms",
                "the idle timeout must be longer than zero".into(),
            ));
        }
        Ok(self)
    }
}

/// Header names whose values are credentials (`Authorization`, `X-Api-Key`,
/// `X-Auth-Token`, …): never stored or answered, only named by `${VAR}`.
pub(crate) fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "key"
    ) || name.ends_with("-key")
        || name.ends_with("_key")
        || name.contains("token")
        || name.contains("secret")
        || name.contains("password")
}

/// `VAR` when a header value is `${VAR}`: read from the engine's environment
/// at each request, like a key's `env` source.
pub(crate) fn env_reference(value: &str) -> Option<&str> {
    let var = value.trim().strip_prefix("${")?.strip_suffix('}')?.trim();
    let valid = !var.is_empty() && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(var)
}

impl ProviderSettings {
    /// The settings as answered to a client: a credential header stored by an
    /// older Baton as a plain value shows as `[hidden]`.
    pub(crate) fn answerable(mut self) -> Self {
        for (name, value) in self.headers.iter_mut() {
            if is_credential_header(name) && env_reference(value).is_none() {
                *value = "[hidden]".to_string();
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_must_name_a_variable_and_stored_values_are_hidden() {
        let with = |name: &str, value: &str| {
            let mut s = ProviderSettings::new("p", ProviderKind::OpenaiCompatible, "https://x/v1");
            s.headers.insert(name.into(), value.into());
            s
        };
        for name in [
            "Authorization",
            "X-Api-Key",
            "x-auth-token",
            "OpenAI-Secret",
        ] {
            let err = with(name, "sk-literal").normalise().unwrap_err();
            assert_eq!(err.0, "headers");
            assert!(
                err.1.contains(name) && !err.1.contains("sk-literal"),
                "{}",
                err.1
            );
            assert!(with(name, "${MY_KEY}").normalise().is_ok(), "{name}");
        }
        assert!(with("HTTP-Referer", "https://me").normalise().is_ok());
        let legacy = with("X-Api-Key", "sk-literal").answerable();
        assert_eq!(legacy.headers["X-Api-Key"], "[hidden]");
        let named = with("X-Api-Key", "${MY_KEY}").answerable();
        assert_eq!(named.headers["X-Api-Key"], "${MY_KEY}");
    }

    #[test]
    fn settings_round_trip_as_json_with_kebab_kinds() {
        let mut s = ProviderSettings::new("groq", ProviderKind::OpenaiCompatible, "https://x/v1");
        s.key = KeyRef::Env {
            var: "GROQ_API_KEY".into(),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"openai-compatible\"") && json.contains("\"source\":\"env\""));
        assert_eq!(serde_json::from_str::<ProviderSettings>(&json).unwrap(), s);
        // Old or hand-written records may leave out everything optional.
        let minimal: ProviderSettings =
            serde_json::from_str(r#"{"name":"a","kind":"anthropic","base_url":"https://a"}"#)
                .unwrap();
        assert_eq!(minimal.key, KeyRef::None);
    }

    #[test]
    fn normalise_refuses_each_bad_field() {
        let ok = ProviderSettings::new(
            " local ",
            ProviderKind::OpenaiCompatible,
            "http://127.0.0.1:11434/v1/",
        );
        let ok = ok.normalise().unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.base_url.as_str()),
            ("local", "http://127.0.0.1:11434/v1")
        );
        let bad = |f: fn(&mut ProviderSettings)| {
            let mut s =
                ProviderSettings::new("p", ProviderKind::Anthropic, "https://api.anthropic.com");
            f(&mut s);
            s.normalise().unwrap_err().0
        };
        assert_eq!(bad(|s| s.name = "a b".into()), "name");
        assert_eq!(bad(|s| s.base_url = "ftp://x".into()), "base_url");
        assert_eq!(bad(|s| s.base_url = "not a url".into()), "base_url");
        assert_eq!(bad(|s| s.base_url = "https://u:p@x".into()), "base_url");
        assert_eq!(
            bad(|s| {
                s.headers.insert("bad header".into(), "v".into());
            }),
            "headers"
        );
        assert_eq!(bad(|s| s.limits.rpm = Some(0)), "limits");
        assert_eq!(bad(|s| s.key = KeyRef::Env { var: " ".into() }), "key");
        assert_eq!(
            bad(|s| s.prices = Some(Prices {
                input_per_mtok: -1.0,
                output_per_mtok: 0.0
            })),
            "prices"
        );
    }

    #[test]
    fn cost_is_per_million_tokens() {
        let p = Prices {
            input_per_mtok: 3.0,
            output_per_mtok: 15.0,
        };
        assert!((p.cost(1_000_000, 0) - 3.0).abs() < 1e-12);
        assert!((p.cost(2000, 1000) - 0.021).abs() < 1e-12);
    }
}

//! The engine's provider API, for the CLI and the desktop's settings: list,
//! save (with an optional key for the keychain), remove, a one-request test,
//! the models a provider lists, and local servers found and added.
//! Settings go through the writer like every write; keys go only to the keychain.

use super::detect::{self, Candidate, Detection};
use super::keys::{self, ApiKey};
use super::settings::{KeyRef, ProviderSettings};
use super::{CompletionRequest, LoweredConcurrency, OutputSink, Probe};
use crate::engine::Engine;
use crate::error::ProviderConfigError;
use crate::task::TaskId;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// The prompt of a provider test: tiny, so it costs next to nothing.
const TEST_PROMPT: &str = "Reply with the single word: pong";
const TEST_MAX_TOKENS: u32 = 16;
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What a provider test measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ProviderTest {
    pub provider: String,
    pub model: String,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub output: String,
}

impl Engine {
    /// The configured providers (not the built-in `mock`), by name.
    /// Each carries the concurrency in force when Baton lowered it
    /// (`lowered_concurrency`).
    pub fn provider_settings(&self) -> Vec<ProviderSettings> {
        let inner = self.inner();
        let now = Instant::now();
        let mut all = inner.registry.settings();
        for s in &mut all {
            s.lowered_concurrency =
                inner
                    .dispatcher
                    .limiter()
                    .lowered(&s.name, now)
                    .map(|(max, left)| LoweredConcurrency {
                        max_concurrency: max,
                        until: inner.clock.now()
                            + chrono::Duration::from_std(left).unwrap_or(chrono::Duration::zero()),
                    });
        }
        all.into_iter().map(ProviderSettings::answerable).collect()
    }

    /// Adds or replaces a provider. With `key`, the key is stored in the OS
    /// keychain first and the settings point there; without one, the settings'
    /// own key source (none, or an environment variable) is kept. Nothing is
    /// saved when the keychain refuses.
    pub async fn save_provider(
        &self,
        settings: ProviderSettings,
        key: Option<ApiKey>,
    ) -> Result<ProviderSettings, ProviderConfigError> {
        let inner = self.inner();
        let mut settings = settings
            .normalise()
            .map_err(|(field, message)| ProviderConfigError::invalid(field, message))?;
        if inner.registry.is_builtin(&settings.name) {
            return Err(ProviderConfigError::invalid(
                "name",
                format!(
                    "'{}' is a built-in provider; choose another name",
                    settings.name
                ),
            ));
        }
        if let Some(key) = key {
            let name = settings.name.clone();
            tokio::task::spawn_blocking(move || keys::store(&name, &key))
                .await
                .map_err(|e| {
                    ProviderConfigError::Task(crate::TaskError::Storage(e.to_string()))
                })??;
            settings.key = KeyRef::Keychain;
        }
        // Built before saving: settings that cannot make a provider are not stored.
        inner
            .registry
            .install(settings.clone(), inner.dispatcher.limiter())
            .map_err(|m| ProviderConfigError::invalid("base_url", m))?;
        if let Err(e) = inner.writer.save_provider(settings.clone()).await {
            // Not durable: put back what the store still holds.
            self.reload_provider(&settings.name).await;
            return Err(e.into());
        }
        tracing::info!(provider = %settings.name, kind = %settings.kind, "provider saved");
        Ok(settings)
    }

    /// Removes a provider and its keychain entry. Its queued tasks stay queued
    /// and fail clearly when run, unless a provider of that name comes back.
    pub async fn remove_provider(
        &self,
        name: &str,
    ) -> Result<ProviderSettings, ProviderConfigError> {
        let inner = self.inner();
        let settings = inner
            .registry
            .setting(name)
            .ok_or_else(|| ProviderConfigError::NotFound(name.to_string()))?;
        inner.writer.remove_provider(name.to_string()).await?;
        inner.registry.uninstall(name, inner.dispatcher.limiter());
        if settings.key == KeyRef::Keychain {
            let owned = name.to_string();
            let deleted = tokio::task::spawn_blocking(move || keys::delete(&owned)).await;
            if let Ok(Err(e)) = deleted {
                tracing::warn!(provider = name, error = %e, "could not delete the key from the keychain");
            }
        }
        Ok(settings.answerable())
    }

    /// Sends one tiny request and reports the model, latency and tokens.
    /// Nothing is stored.
    pub async fn test_provider(
        &self,
        name: &str,
        model: Option<String>,
    ) -> Result<ProviderTest, ProviderConfigError> {
        let provider = self
            .inner()
            .registry
            .get(name)
            .ok_or_else(|| ProviderConfigError::NotFound(name.to_string()))?;
        let model = model
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| provider.default_model().to_string());
        provider
            .check_model(&model)
            .map_err(|m| ProviderConfigError::invalid("model", m))?;
        let mut request = CompletionRequest::new(TaskId::new(), TEST_PROMPT, model.clone());
        request.max_tokens = Some(TEST_MAX_TOKENS);
        let sink = OutputSink::detached();
        let probe = sink.probe();
        let started = Instant::now();
        let output =
            match tokio::time::timeout(TEST_TIMEOUT, provider.complete(request, sink)).await {
                Err(_) => {
                    return Err(ProviderConfigError::Call(super::ProviderError::retryable(
                        format!(
                            "provider '{name}' did not answer within {} s",
                            TEST_TIMEOUT.as_secs()
                        ),
                    )))
                }
                Ok(Err(e)) => return Err(ProviderConfigError::Call(e)),
                Ok(Ok(output)) => output,
            };
        let probe = Probe::read(&probe);
        Ok(ProviderTest {
            provider: name.to_string(),
            model,
            latency_ms: started.elapsed().as_millis() as u64,
            ttft_ms: probe.first_output.map(|t| (t - started).as_millis() as u64),
            prompt_tokens: probe.prompt_tokens,
            completion_tokens: probe.completion_tokens,
            output,
        })
    }

    /// The models provider `name` lists (OpenAI-compatible: `GET {base}/models`;
    /// Anthropic: `GET /v1/models`), with its key. The mock lists none.
    pub async fn provider_models(&self, name: &str) -> Result<Vec<String>, ProviderConfigError> {
        let provider = self
            .inner()
            .registry
            .get(name)
            .ok_or_else(|| ProviderConfigError::NotFound(name.to_string()))?;
        provider.models().await.map_err(ProviderConfigError::Call)
    }

    /// Looks for Ollama, LM Studio, llama.cpp's server, Jan and vLLM on their
    /// usual loopback ports. Adds nothing.
    pub async fn detect_local_servers(&self) -> Detection {
        self.detect_on(&detect::usual_ports()).await
    }

    pub(crate) async fn detect_on(&self, candidates: &[Candidate]) -> Detection {
        detect::detect(candidates, &self.inner().registry.settings()).await
    }

    /// Looks again and adds the server found under `name` (a
    /// [`LocalServer`](super::LocalServer)'s `name`) as an OpenAI-compatible
    /// provider with no key and its first model as the default.
    pub async fn add_local_server(
        &self,
        name: &str,
    ) -> Result<ProviderSettings, ProviderConfigError> {
        self.add_local_server_on(&detect::usual_ports(), name).await
    }

    pub(crate) async fn add_local_server_on(
        &self,
        candidates: &[Candidate],
        name: &str,
    ) -> Result<ProviderSettings, ProviderConfigError> {
        let name = name.trim();
        let detection = self.detect_on(candidates).await;
        let Some(server) = detection.found.iter().find(|s| s.name == name) else {
            return Err(ProviderConfigError::NotDetected {
                name: name.to_string(),
                found: detection.found.iter().map(|s| s.name.clone()).collect(),
            });
        };
        if let Some(existing) = &server.configured_as {
            return Err(ProviderConfigError::invalid(
                "name",
                format!(
                    "the {} at {} is provider '{existing}' already",
                    server.label, server.base_url
                ),
            ));
        }
        self.save_provider(server.settings(), None).await
    }

    /// Makes the registry match the store for one provider.
    async fn reload_provider(&self, name: &str) {
        let inner = self.inner();
        let stored = self
            .stored_providers()
            .await
            .into_iter()
            .find(|s| s.name == name);
        match stored {
            Some(s) => {
                let _ = inner.registry.install(s, inner.dispatcher.limiter());
            }
            None => inner.registry.uninstall(name, inner.dispatcher.limiter()),
        }
    }

    /// The readable provider records in the store; unreadable ones are logged.
    pub(crate) async fn stored_providers(&self) -> Vec<ProviderSettings> {
        let records = match self.read(crate::storage::Storage::providers).await {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(error = %e, "could not read the configured providers");
                return Vec::new();
            }
        };
        records
            .into_iter()
            .filter_map(|r| r.map_err(|e| tracing::warn!("{e}")).ok())
            .collect()
    }

    /// At open: makes every stored provider callable.
    pub(crate) async fn install_stored_providers(&self) {
        let inner = self.inner();
        for settings in self.stored_providers().await {
            let name = settings.name.clone();
            if inner.registry.is_builtin(&name) {
                tracing::warn!(provider = %name, "a stored provider has a built-in's name; the built-in wins");
                continue;
            }
            if let Err(e) = inner.registry.install(settings, inner.dispatcher.limiter()) {
                tracing::warn!(provider = %name, error = %e, "a stored provider could not be loaded");
            }
        }
    }
}

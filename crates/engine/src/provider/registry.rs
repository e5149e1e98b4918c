//! The providers an engine can call: the built-in ones its config brought
//! (always `mock`) and the configured ones from the `providers` table, which
//! can change while the engine runs.

use super::http::HttpProvider;
use super::limits::Limiter;
use super::settings::{Prices, ProviderKind, ProviderSettings};
use super::{CompletionRequest, MockProvider, OutputSink, Provider, ProviderError, Providers};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

pub(crate) struct Registry {
    builtin: Providers,
    /// A std RwLock: nothing awaits while it is held.
    state: RwLock<State>,
}

struct State {
    providers: Providers,
    /// The configured HTTP providers again, for their batch APIs.
    http: BTreeMap<String, Arc<HttpProvider>>,
    settings: BTreeMap<String, ProviderSettings>,
}

impl Registry {
    pub fn new(builtin: Providers) -> Self {
        Registry {
            state: RwLock::new(State {
                providers: builtin.clone(),
                http: BTreeMap::new(),
                settings: BTreeMap::new(),
            }),
            builtin,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.read().providers.get(name).cloned()
    }

    /// `model`'s context window on provider `name`, when known.
    pub fn context_window(&self, name: &str, model: &str) -> Option<u32> {
        self.get(name)?.context_window(model)
    }

    /// Provider `name`'s batch API: OpenAI-compatible and Anthropic providers
    /// have one (a compatible server may still answer 404); the mock has none.
    pub fn batch_client(&self, name: &str) -> Option<Arc<HttpProvider>> {
        self.read().http.get(name).cloned()
    }

    pub fn prices(&self, name: &str) -> Option<Prices> {
        self.read().settings.get(name).and_then(|s| s.prices)
    }

    /// Every provider, built-in and configured.
    pub fn snapshot(&self) -> Providers {
        self.read().providers.clone()
    }

    pub fn settings(&self) -> Vec<ProviderSettings> {
        self.read().settings.values().cloned().collect()
    }

    pub fn setting(&self, name: &str) -> Option<ProviderSettings> {
        self.read().settings.get(name).cloned()
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(name)
    }

    /// Builds the provider `settings` describe and makes it callable under its
    /// name, replacing an earlier one (its requests in flight finish as they were).
    pub fn install(&self, settings: ProviderSettings, limiter: &Limiter) -> Result<(), String> {
        let mut http = None;
        let provider: Arc<dyn Provider> = match settings.kind {
            ProviderKind::Mock => Arc::new(NamedMock {
                model: settings.model.clone().unwrap_or_else(|| "echo".into()),
            }),
            _ => {
                let p = Arc::new(HttpProvider::new(settings.clone())?);
                http = Some(p.clone());
                p
            }
        };
        limiter.set_limits(&settings.name, settings.limits);
        let mut state = self.write();
        match http {
            Some(p) => state.http.insert(settings.name.clone(), p),
            None => state.http.remove(&settings.name),
        };
        state.providers.insert(settings.name.clone(), provider);
        state.settings.insert(settings.name.clone(), settings);
        Ok(())
    }

    pub fn uninstall(&self, name: &str, limiter: &Limiter) {
        let mut state = self.write();
        state.settings.remove(name);
        state.providers.remove(name);
        state.http.remove(name);
        limiter.remove(name);
    }
}

/// The mock under a configured name, with that configuration's default model.
struct NamedMock {
    model: String,
}

impl Provider for NamedMock {
    fn default_model(&self) -> &str {
        &self.model
    }

    fn check_model(&self, model: &str) -> Result<(), String> {
        MockProvider.check_model(model)
    }

    fn complete<'a>(
        &'a self,
        request: CompletionRequest,
        output: OutputSink,
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move { MockProvider.complete(request, output).await })
    }
}

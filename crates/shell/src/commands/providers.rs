//! Configured providers: list, save (with a key for the OS keychain), remove,
//! test, the models each lists; and local servers found on loopback, added
//! only when the person clicks Add.
//!
//! A key travels one way only: from the settings form to the engine, which files
//! it in the keychain. No command returns one, and errors never carry one.

use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::{ApiKey, Detection, ProviderSettings, ProviderTest};

/// The configured providers (not the built-in `mock`); key sources, never keys.
pub async fn list_providers(state: &AppState) -> Result<Vec<ProviderSettings>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.provider_settings())
}

/// Adds or replaces a provider. `api_key`, when the person typed one, goes to the
/// OS keychain and the saved settings point there.
pub async fn save_provider(
    state: &AppState,
    settings: ProviderSettings,
    api_key: Option<String>,
) -> Result<ProviderSettings, CommandError> {
    let engine = state.engine().await?;
    let key = api_key
        .map(|k| ApiKey::new(k).ok_or_else(|| CommandError::invalid("key", "the API key is empty")))
        .transpose()?;
    Ok(engine.save_provider(settings, key).await?)
}

/// Removes a provider and its keychain entry; returns what was removed.
pub async fn remove_provider(
    state: &AppState,
    name: String,
) -> Result<ProviderSettings, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.remove_provider(&name).await?)
}

/// Sends one tiny request (to `model`, else the provider's default).
pub async fn test_provider(
    state: &AppState,
    name: String,
    model: Option<String>,
) -> Result<ProviderTest, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.test_provider(&name, model).await?)
}

/// The models provider `name` lists (asked when its form opens).
pub async fn provider_models(state: &AppState, name: String) -> Result<Vec<String>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.provider_models(&name).await?)
}

/// Ollama, LM Studio, llama.cpp's server, Jan and vLLM on their usual loopback
/// ports. Adds nothing.
pub async fn detect_local_servers(state: &AppState) -> Result<Detection, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.detect_local_servers().await)
}

/// Adds the local server found under `name` as a provider.
pub async fn add_local_server(
    state: &AppState,
    name: String,
) -> Result<ProviderSettings, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.add_local_server(&name).await?)
}

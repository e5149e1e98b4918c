//! Configured providers: list, save (with a key for the OS keychain), remove,
//! test, the models each lists; and local servers found on loopback, added
//! only when the person clicks Add.
//!
//! A key travels one way only: from the settings form to the engine, which files
//! it in the keychain. No command returns one, and errors never carry one.

use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::{ApiKey, Detection, ProviderSettings, ProviderTest};

pub async fn list_providers(state: &AppState) -> Result<Vec<ProviderSettings>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.provider_settings())
}

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

pub async fn remove_provider(
    state: &AppState,
    name: String,
) -> Result<ProviderSettings, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.remove_provider(&name).await?)
}

pub async fn test_provider(
    state: &AppState,
    name: String,
    model: Option<String>,
) -> Result<ProviderTest, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.test_provider(&name, model).await?)
}

pub async fn provider_models(state: &AppState, name: String) -> Result<Vec<String>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.provider_models(&name).await?)
}

pub async fn detect_local_servers(state: &AppState) -> Result<Detection, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.detect_local_servers().await)
}

pub async fn add_local_server(
    state: &AppState,
    name: String,
) -> Result<ProviderSettings, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.add_local_server(&name).await?)
}

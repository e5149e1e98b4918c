//! Configured providers: list, save (with a key for the OS keychain), remove, test.
//!
//! A key travels one way only: from the settings form to the engine, which files
//! it in the keychain. No command returns one, and errors never carry one.

use crate::error::CommandError;
use crate::state::AppState;
use baton_engine::{ApiKey, ProviderSettings, ProviderTest};
use tauri::State;

/// The configured providers (not the built-in `mock`); key sources, never keys.
#[tauri::command]
#[specta::specta]
pub async fn list_providers(
    state: State<'_, AppState>,
) -> Result<Vec<ProviderSettings>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.provider_settings())
}

/// Adds or replaces a provider. `api_key`, when the person typed one, goes to the
/// OS keychain and the saved settings point there.
#[tauri::command]
#[specta::specta]
pub async fn save_provider(
    state: State<'_, AppState>,
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
#[tauri::command]
#[specta::specta]
pub async fn remove_provider(
    state: State<'_, AppState>,
    name: String,
) -> Result<ProviderSettings, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.remove_provider(&name).await?)
}

/// Sends one tiny request (to `model`, else the provider's default).
#[tauri::command]
#[specta::specta]
pub async fn test_provider(
    state: State<'_, AppState>,
    name: String,
    model: Option<String>,
) -> Result<ProviderTest, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.test_provider(&name, model).await?)
}

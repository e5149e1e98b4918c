//! What the shell holds while it runs: the engine, its catalog, the settings.

use crate::settings::{Settings, SettingsFile};
use baton_engine::{Catalog, Engine, EngineConfig, Event};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// What commands need from the app around them, without naming its runtime (so
/// commands stay non-generic and the mock runtime runs them too).
pub trait Host: Send + Sync {
    /// Sends the engine status to the window and the tray.
    fn show_status(&self, status: &crate::events::StatusChanged);
    /// Turns start-at-login on or off, where the autostart plugin is present.
    fn set_autostart(&self, on: bool) -> Result<(), String>;
    /// Opens a folder in the file manager, where the opener plugin is present.
    fn open_path(&self, path: &Path) -> Result<(), String>;
}

pub struct AppState {
    pub host: Box<dyn Host>,
    pub engine: Engine,
    pub catalog: Arc<Catalog>,
    pub settings: Mutex<Settings>,
    pub settings_file: SettingsFile,
    pub data_dir: PathBuf,
    /// The local HTTP API, while the setting is on.
    api: tokio::sync::Mutex<Option<baton_api::RunningApi>>,
    /// Taken before the catalog loaded, for the event forwarder.
    events: Mutex<Option<broadcast::Receiver<Event>>>,
}

impl AppState {
    /// Opens the database in `data_dir`, starts the engine with the saved
    /// settings, and loads the catalog.
    pub async fn open(data_dir: &Path, host: Box<dyn Host>) -> Result<AppState, String> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let settings_file = SettingsFile::new(data_dir);
        let settings = settings_file.load();
        let mut config = EngineConfig::new(data_dir.join("baton.redb"));
        config.workers = (settings.workers as usize).clamp(1, baton_engine::MAX_WORKERS);
        let engine = Engine::open(config).await.map_err(|e| e.to_string())?;
        // Before the engine starts, so the API's event stream misses nothing.
        let api = if settings.api_enabled {
            Some(start_api(&engine, data_dir).await?)
        } else {
            None
        };
        engine.start().await;
        let events = engine.subscribe();
        // Filled by the event forwarder in the background, so the window opens
        // while 100,000 tasks load; list queries wait for it (`Catalog::loaded`).
        let catalog = Catalog::empty();
        Ok(AppState {
            host,
            engine,
            catalog,
            settings: Mutex::new(settings),
            settings_file,
            data_dir: data_dir.to_path_buf(),
            events: Mutex::new(Some(events)),
            api: tokio::sync::Mutex::new(api),
        })
    }

    /// Starts or stops the local HTTP API; returns its URL while it runs.
    pub async fn set_api(&self, on: bool) -> Result<Option<String>, String> {
        let mut api = self.api.lock().await;
        match (on, api.as_ref()) {
            (true, None) => *api = Some(start_api(&self.engine, &self.data_dir).await?),
            (false, Some(running)) => {
                running.shutdown().await;
                *api = None;
            }
            _ => {}
        }
        Ok(api.as_ref().map(|a| a.url().to_string()))
    }

    /// Stops the API (removing `api.json`), then the engine.
    pub async fn shutdown(&self) {
        if let Some(api) = self.api.lock().await.take() {
            api.shutdown().await;
        }
        self.engine.shutdown().await;
    }

    /// The engine's events from before the catalog loaded; `None` once taken.
    pub fn take_events(&self) -> Option<broadcast::Receiver<Event>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub fn log_dir(&self) -> PathBuf {
        log_dir(&self.data_dir)
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

async fn start_api(engine: &Engine, data_dir: &Path) -> Result<baton_api::RunningApi, String> {
    let api = baton_api::ApiServer::start(engine.clone(), baton_api::ApiOptions::new(data_dir))
        .await
        .map_err(|e| format!("cannot start the local API: {e}"))?;
    tracing::info!(url = api.url(), "local API listening");
    Ok(api)
}

pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// `BATON_DATA_DIR`, else the per-user data directory the CLI uses too, so both
/// see the same tasks.
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BATON_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("dev", "baton", "Baton").map(|p| p.data_dir().to_path_buf())
}

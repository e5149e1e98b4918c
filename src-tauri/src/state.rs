//! What the shell holds while it runs: the engine, its catalog, the settings.

use crate::error::CommandError;
use crate::settings::{Settings, SettingsFile};
use baton_engine::{Catalog, Engine, EngineConfig, Event};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

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
    pub catalog: Arc<Catalog>,
    pub settings: Mutex<Settings>,
    pub settings_file: SettingsFile,
    pub data_dir: PathBuf,
    /// The engine, once [`AppState::open_engine`] has opened it (or why it could not).
    engine: watch::Sender<Opening>,
    /// The local HTTP API, while the setting is on.
    api: tokio::sync::Mutex<Option<baton_api::RunningApi>>,
}

/// Where opening the engine stands.
#[derive(Clone)]
enum Opening {
    Pending,
    Ready(Engine),
    /// Why the database could not be opened, as one sentence.
    Failed(String),
}

impl AppState {
    /// The state the window needs at once (settings, folders, an empty
    /// catalog). The engine opens later, off the main thread
    /// ([`AppState::open_engine`]): opening a large database, or repairing one
    /// after a crash, must not hold up the window (see docs/PERFORMANCE.md).
    pub fn new(data_dir: &Path, host: Box<dyn Host>) -> Result<AppState, String> {
        // Owner only: it holds every prompt and output.
        baton_engine::create_private_dir(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let settings_file = SettingsFile::new(data_dir);
        let settings = settings_file.load();
        Ok(AppState {
            host,
            // Filled by the event forwarder once the engine is open; list
            // queries wait for it (`Catalog::loaded`).
            catalog: Catalog::empty(),
            settings: Mutex::new(settings),
            settings_file,
            data_dir: data_dir.to_path_buf(),
            engine: watch::Sender::new(Opening::Pending),
            api: tokio::sync::Mutex::new(None),
        })
    }

    /// Opens the database in `data_dir`, starts the engine with the saved
    /// settings (and the local API when it is on), and makes it available to
    /// [`AppState::engine`]. Returns the engine with its event subscription,
    /// taken before it started so the forwarder misses nothing.
    pub async fn open_engine(&self) -> Result<(Engine, broadcast::Receiver<Event>), String> {
        let result = self.try_open_engine().await;
        self.engine.send_replace(match &result {
            Ok((engine, _)) => Opening::Ready(engine.clone()),
            Err(e) => Opening::Failed(e.clone()),
        });
        result
    }

    async fn try_open_engine(&self) -> Result<(Engine, broadcast::Receiver<Event>), String> {
        let settings = self.settings();
        let mut config = EngineConfig::new(self.data_dir.join("baton.redb"));
        config.workers = (settings.workers as usize).clamp(1, baton_engine::MAX_WORKERS);
        let engine = Engine::open(config)
            .await
            .map_err(|e| format!("Baton could not open its database: {e}"))?;
        // Before the engine starts, so the API's event stream misses nothing.
        if settings.api_enabled {
            let api = start_api(&engine, &self.data_dir).await;
            match api {
                Ok(api) => *self.api.lock().await = Some(api),
                Err(e) => {
                    engine.shutdown().await;
                    return Err(e);
                }
            }
        }
        let events = engine.subscribe();
        engine.start().await;
        Ok((engine, events))
    }

    /// The engine, once it is open: waits while it opens, and answers why it
    /// could not be opened if that failed.
    pub async fn engine(&self) -> Result<Engine, CommandError> {
        let mut opening = self.engine.subscribe();
        let state = opening
            .wait_for(|o| !matches!(o, Opening::Pending))
            .await
            .map(|o| o.clone())
            // The sender lives as long as `self`.
            .unwrap_or(Opening::Pending);
        match state {
            Opening::Ready(engine) => Ok(engine),
            Opening::Failed(why) => Err(CommandError::new("engine_unavailable", why)),
            Opening::Pending => Err(CommandError::new(
                "engine_unavailable",
                "Baton is shutting down.",
            )),
        }
    }

    /// Starts or stops the local HTTP API; returns its URL while it runs.
    pub async fn set_api(&self, on: bool) -> Result<Option<String>, String> {
        let engine = self.engine().await.map_err(|e| e.message)?;
        let mut api = self.api.lock().await;
        match (on, api.as_ref()) {
            (true, None) => *api = Some(start_api(&engine, &self.data_dir).await?),
            (false, Some(running)) => {
                running.shutdown().await;
                *api = None;
            }
            _ => {}
        }
        Ok(api.as_ref().map(|a| a.url().to_string()))
    }

    /// Stops the API (removing `api.json`), then the engine (after it finished
    /// opening, if it still was).
    pub async fn shutdown(&self) {
        let engine = self.engine().await;
        if let Some(api) = self.api.lock().await.take() {
            api.shutdown().await;
        }
        if let Ok(engine) = engine {
            engine.shutdown().await;
        }
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
/// see the same tasks. The local one: on Windows the roaming one would copy the
/// database between machines at each sign-in (elsewhere they are the same).
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("BATON_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("dev", "baton", "Baton")
        .map(|p| p.data_local_dir().to_path_buf())
}

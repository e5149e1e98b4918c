//! What the shell holds while it runs: the engine, its catalog, the settings.

use crate::error::CommandError;
use crate::notices::OpenTarget;
use crate::queue::{self, PasswordStore, QueueChoice};
use crate::settings::{Saved, Settings, SettingsFile};
use baton_engine::{Catalog, Engine, EngineConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What the shell needs from the program around it (the desktop window, or a
/// test), so commands and forwarders never name a GUI toolkit.
pub trait Host: Send + Sync {
    /// Sends an event to the window, if one is open.
    fn emit(&self, event: crate::follow::ToWindow) -> Result<(), String>;
    /// Sends the engine status to the window and the tray.
    fn show_status(&self, status: &crate::follow::EngineStatus);
    /// Shows a notification (the shell has decided it is wanted).
    fn notify(&self, notice: &crate::notices::Notice);
    /// Turns start-at-login on or off, where the host can.
    fn set_autostart(&self, on: bool) -> Result<(), String>;
    /// Opens a folder in the file manager, where the host can.
    fn open_path(&self, path: &Path) -> Result<(), String>;
    /// Quits: the engine shuts down gracefully and the program exits.
    fn quit(&self);
}

pub struct AppState {
    pub host: Arc<dyn Host>,
    pub catalog: Arc<Catalog>,
    /// Shared with the event forwarders (whether to notify).
    pub settings: Arc<Mutex<Settings>>,
    pub settings_file: SettingsFile,
    pub data_dir: PathBuf,
    /// The shared queue in use, `None` on this computer's redb file.
    queue: Mutex<Option<QueueChoice>>,
    /// Where the shared queue's password is kept (the OS keychain).
    pub passwords: Arc<dyn PasswordStore>,
    /// The engine, once [`AppState::open_engine`] has opened it (or why it could not).
    engine: watch::Sender<Opening>,
    /// Bumped each time another engine replaces the one open, so what followed
    /// the old one stops.
    pub generation: watch::Sender<u64>,
    /// Held while the database is switched, so two switches never interleave.
    switching: tokio::sync::Mutex<()>,
    /// The local HTTP API, while the setting is on.
    api: tokio::sync::Mutex<Option<baton_api::RunningApi>>,
    /// What the last click on a notification asked to open, until a page takes
    /// it: a window made by the click has no page yet to hear that it was asked.
    open_request: Mutex<Option<OpenTarget>>,
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
    pub fn new(
        data_dir: &Path,
        host: Arc<dyn Host>,
        passwords: Arc<dyn PasswordStore>,
    ) -> Result<AppState, String> {
        // Owner only: it holds every prompt and output.
        baton_engine::create_private_dir(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let settings_file = SettingsFile::new(data_dir);
        let Saved {
            settings,
            shared_queue,
        } = settings_file.load();
        Ok(AppState {
            host,
            // Filled by the event forwarder once the engine is open; list
            // queries wait for it (`Catalog::loaded`).
            catalog: Catalog::empty(),
            settings: Arc::new(Mutex::new(settings)),
            settings_file,
            data_dir: data_dir.to_path_buf(),
            queue: Mutex::new(shared_queue),
            passwords,
            engine: watch::Sender::new(Opening::Pending),
            generation: watch::Sender::new(0),
            switching: tokio::sync::Mutex::new(()),
            api: tokio::sync::Mutex::new(None),
            open_request: Mutex::new(None),
        })
    }

    /// Opens the database the settings name (the redb file in `data_dir`, or
    /// the shared queue with its password from the keychain), starts the
    /// engine with the saved settings (and the local API when it is on), and
    /// makes it available to [`AppState::engine`]. Returns the engine with its
    /// event subscription, taken before it started so the forwarder misses nothing.
    pub async fn open_engine(&self) -> Result<(Engine, baton_engine::Subscription), String> {
        let result = self.try_open_engine().await;
        self.engine.send_replace(match &result {
            Ok((engine, _)) => Opening::Ready(engine.clone()),
            Err(e) => Opening::Failed(e.clone()),
        });
        result
    }

    async fn try_open_engine(&self) -> Result<(Engine, baton_engine::Subscription), String> {
        let choice = self.queue();
        let password = match &choice {
            Some(choice) => self.saved_password(&choice.url).await,
            None => None,
        };
        let engine = self.open_unstarted(choice.as_ref(), password).await?;
        self.start_engine(engine).await
    }

    /// The keychain's password for the queue at `url`; none when it holds none
    /// or cannot be asked (then PGPASSWORD, or a database that needs none).
    async fn saved_password(&self, url: &str) -> Option<String> {
        let passwords = self.passwords.clone();
        let account = queue::account(url);
        match tokio::task::spawn_blocking(move || passwords.get(&account)).await {
            Ok(Ok(password)) => password,
            Ok(Err(why)) => {
                tracing::warn!(%why, "no password from the keychain");
                None
            }
            Err(_) => None,
        }
    }

    /// Opens (not starts) the engine on `choice`'s database, else the redb
    /// file. The error is one sentence without the password.
    async fn open_unstarted(
        &self,
        choice: Option<&QueueChoice>,
        password: Option<String>,
    ) -> Result<Engine, String> {
        let settings = self.settings();
        let mut config = EngineConfig::new(self.data_dir.join("baton.redb"));
        config.workers = (settings.workers as usize).clamp(1, baton_engine::MAX_WORKERS);
        if let Some(choice) = choice {
            // Holds the password from here on: never logged or shown.
            config.database_url = Some(match &password {
                Some(password) => queue::with_password(&choice.url, password),
                None => choice.url.clone(),
            });
            config.run_tasks = choice.run_tasks;
        }
        let opened = Engine::open(config).await;
        match (opened, choice) {
            (Ok(engine), _) => Ok(engine),
            (Err(e), None) => Err(format!("Baton could not open its database: {e}")),
            (Err(e), Some(choice)) => Err(queue::scrub(
                &format!(
                    "Baton could not open the shared queue {}: {}",
                    baton_engine::PgStore::describe(&choice.url),
                    // Not "cannot open the shared queue's database" twice.
                    match e {
                        baton_engine::OpenError::Shared(why) => why,
                        other => other.to_string(),
                    }
                ),
                password.as_deref(),
            )),
        }
    }

    /// Starts the local API (when it is on) and the engine; an API that cannot
    /// start stops the engine again.
    async fn start_engine(
        &self,
        engine: Engine,
    ) -> Result<(Engine, baton_engine::Subscription), String> {
        // Before the engine starts, so the API's event stream misses nothing.
        if self.settings().api_enabled {
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

    /// The shared queue in use (`None`: this computer's database).
    pub fn queue(&self) -> Option<QueueChoice> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Moves the app to `choice`'s database (`None`: this computer's redb
    /// file), with `password` when one was typed (else the keychain's). The
    /// new database is opened first: if it cannot be, the answer says why in
    /// one sentence and nothing changed (the engine, the keychain, the settings
    /// file). Then the password goes to the keychain, the choice to the
    /// settings file, the running engine shuts down gracefully, the new one
    /// starts and the window reloads from it.
    pub async fn switch_database(
        &self,
        choice: Option<QueueChoice>,
        password: Option<String>,
    ) -> Result<(), CommandError> {
        let _switching = self.switching.lock().await;
        let current = self.queue();
        let ready = matches!(&*self.engine.borrow(), Opening::Ready(_));
        if choice.is_none() && current.is_none() && ready {
            return Ok(());
        }
        let password = match (&choice, password) {
            (Some(_), Some(typed)) => Some(typed),
            (Some(choice), None) => self.saved_password(&choice.url).await,
            (None, _) => None,
        };
        let engine = self
            .open_unstarted(choice.as_ref(), password.clone())
            .await
            .map_err(|why| {
                let field = if choice.is_some() { "url" } else { "database" };
                CommandError {
                    field: Some(field.to_string()),
                    ..CommandError::new("database_unavailable", why)
                }
            })?;
        let kept = async {
            if let (Some(choice), Some(password)) = (&choice, &password) {
                let passwords = self.passwords.clone();
                let account = queue::account(&choice.url);
                let password = password.clone();
                tokio::task::spawn_blocking(move || passwords.set(&account, &password))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()))
                    .map_err(|why| {
                        CommandError::invalid(
                            "password",
                            format!("The password was not saved: {why}."),
                        )
                    })?;
            }
            let saved = Saved {
                settings: self.settings(),
                shared_queue: choice.clone(),
            };
            self.settings_file.save(&saved).map_err(|e| {
                CommandError::new("settings_unsaved", format!("cannot save settings: {e}"))
            })
        }
        .await;
        if let Err(e) = kept {
            engine.shutdown().await;
            return Err(e);
        }
        // Commands wait from here until the new engine is ready.
        let old = self.engine.send_replace(Opening::Pending);
        self.generation.send_modify(|g| *g += 1);
        if let Some(api) = self.api.lock().await.take() {
            api.shutdown().await;
        }
        if let Opening::Ready(old) = old {
            old.shutdown().await;
        }
        *self.queue.lock().unwrap_or_else(|e| e.into_inner()) = choice.clone();
        tracing::info!(
            database = %choice.as_ref().map_or("this computer's".to_string(), |c| baton_engine::PgStore::describe(&c.url)),
            "switching the database"
        );
        let started = match self.start_engine(engine).await {
            Ok(started) => started,
            Err(why) => {
                self.engine.send_replace(Opening::Failed(why.clone()));
                return Err(CommandError::new("engine_unavailable", why));
            }
        };
        let (engine, events) = started;
        // The list shows the new database's tasks before any command answers.
        if let Err(e) = self.catalog.reload(&engine).await {
            tracing::warn!(error = %e, "could not load the task list");
        }
        self.engine.send_replace(Opening::Ready(engine.clone()));
        crate::follow::follow(self, engine, events, true);
        Ok(())
    }

    /// Saves the settings (with the shared queue in use) to the settings file.
    pub fn save_settings(&self, settings: &Settings) -> std::io::Result<()> {
        self.settings_file.save(&Saved {
            settings: settings.clone(),
            shared_queue: self.queue(),
        })
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

    /// Keeps what a clicked notification opens for the page (a newer click
    /// replaces an untaken one); the host then shows the window and tells it.
    pub fn request_open(&self, target: OpenTarget) {
        *self.open_request.lock().unwrap_or_else(|e| e.into_inner()) = Some(target);
    }

    /// The request no page has taken yet; taking it clears it, so it is handled once.
    pub fn take_open_request(&self) -> Option<OpenTarget> {
        let taken = self
            .open_request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(target) = &taken {
            tracing::info!(?target, "a page took the open request");
        }
        taken
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

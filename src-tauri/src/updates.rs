//! In-app updates: the release feed (`latest.json`) is checked at start and from
//! the tray; an update is installed only when the person asks, then the app
//! closes the engine cleanly and restarts on the new version.
//!
//! The updater plugin does the checking: a bundle is installed only if its
//! minisign signature verifies against the public key in tauri.conf.json, and
//! only a version newer than the running one is ever offered (never a
//! downgrade). This module keeps what the window shows ([`UpdateStatus`]) and
//! turns the plugin's errors into sentences.

use baton_shell::CommandError;
use serde::Serialize;
use specta::Type;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use tauri::{AppHandle, Manager, Runtime, Url};
use tauri_plugin_updater::{Update, UpdaterExt};
use tauri_specta::Event as _;

/// Overrides the feed's address (a test's local server, a mirror). The bundle
/// must still verify against the built-in public key.
pub const FEED_ENV: &str = "BATON_UPDATE_URL";

/// Where the update check stands; sent to the window whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type, tauri_specta::Event)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UpdateStatus {
    /// Nothing to show: not checked yet, or a check at start that failed
    /// quietly (offline).
    Idle {
        current: String,
    },
    Checking {
        current: String,
    },
    UpToDate {
        current: String,
    },
    /// A newer, not yet verified version; installing it is the person's choice.
    Available {
        current: String,
        version: String,
        notes: Option<String>,
    },
    /// Downloading, verifying and installing.
    Installing {
        current: String,
        version: String,
        downloaded: u64,
        total: Option<u64>,
    },
    /// Installed: the app is closing the engine and restarting.
    Restarting {
        current: String,
        version: String,
    },
    /// A check or an install that failed; the running version is untouched.
    Failed {
        current: String,
        message: String,
    },
}

type Job = Pin<Box<dyn Future<Output = Result<UpdateStatus, CommandError>> + Send>>;

/// The app's update state. Commands take it without knowing the runtime: the
/// check and install it runs are bound to the app when it is managed.
pub struct Updates {
    current: String,
    status: Mutex<UpdateStatus>,
    /// The update last found, kept for `install_update`.
    pending: tokio::sync::Mutex<Option<Update>>,
    /// `None` without the updater plugin (tests on the mock runtime).
    ops: Option<Ops>,
}

struct Ops {
    check: Box<dyn Fn(bool) -> Job + Send + Sync>,
    install: Box<dyn Fn() -> Job + Send + Sync>,
}

impl Updates {
    /// Manages the update state; `plugin` says the updater plugin is registered.
    pub fn manage<R: Runtime>(app: &AppHandle<R>, plugin: bool) {
        let current = app.package_info().version.to_string();
        let ops = plugin.then(|| {
            let (a, b) = (app.clone(), app.clone());
            Ops {
                check: Box::new(move |asked| {
                    let app = a.clone();
                    Box::pin(async move { check(&app, asked).await })
                }),
                install: Box::new(move || {
                    let app = b.clone();
                    Box::pin(async move { install(&app).await })
                }),
            }
        });
        app.manage(Updates {
            status: Mutex::new(UpdateStatus::Idle {
                current: current.clone(),
            }),
            current,
            pending: tokio::sync::Mutex::new(None),
            ops,
        });
    }

    pub fn status(&self) -> UpdateStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub async fn check(&self, asked: bool) -> Result<UpdateStatus, CommandError> {
        match &self.ops {
            Some(ops) => (ops.check)(asked).await,
            None => Err(unavailable()),
        }
    }

    pub async fn install(&self) -> Result<UpdateStatus, CommandError> {
        match &self.ops {
            Some(ops) => (ops.install)().await,
            None => Err(unavailable()),
        }
    }
}

fn set<R: Runtime>(app: &AppHandle<R>, status: UpdateStatus) -> UpdateStatus {
    if let Some(updates) = app.try_state::<Updates>() {
        *updates.status.lock().unwrap_or_else(|e| e.into_inner()) = status.clone();
    }
    if let Err(e) = status.emit(app) {
        tracing::warn!(error = %e, "could not send the update status to the window");
    }
    status
}

fn unavailable() -> CommandError {
    CommandError::new(
        "updates_unavailable",
        "updates are not available in this build of Baton",
    )
}

/// Asks the feed for a newer version. `asked` is a person's check (the tray,
/// Settings): its failure is shown; a failed check at start is only logged,
/// since being offline is not worth a banner.
async fn check<R: Runtime>(app: &AppHandle<R>, asked: bool) -> Result<UpdateStatus, CommandError> {
    let updates = app.try_state::<Updates>().ok_or_else(unavailable)?;
    let current = updates.current.clone();
    if asked {
        set(
            app,
            UpdateStatus::Checking {
                current: current.clone(),
            },
        );
    }
    let found = async {
        let mut builder = app.updater_builder();
        if let Ok(url) = std::env::var(FEED_ENV) {
            let url = Url::parse(&url).map_err(|e| format!("{FEED_ENV} is not a URL: {e}"))?;
            builder = builder.endpoints(vec![url]).map_err(|e| e.to_string())?;
        }
        let updater = builder.build().map_err(|e| e.to_string())?;
        updater.check().await.map_err(|e| e.to_string())
    }
    .await;
    let status = match found {
        Ok(Some(update)) => {
            tracing::info!(version = %update.version, "an update is available");
            let status = UpdateStatus::Available {
                current: current.clone(),
                version: update.version.clone(),
                notes: update.body.clone(),
            };
            *updates.pending.lock().await = Some(update);
            status
        }
        // Said only to a person who asked; a quiet check leaves nothing to show.
        Ok(None) if asked => UpdateStatus::UpToDate { current },
        Ok(None) => UpdateStatus::Idle { current },
        Err(e) => {
            tracing::warn!(error = %e, "the update check failed");
            if asked {
                UpdateStatus::Failed {
                    current,
                    message: format!("Could not check for updates: {e}."),
                }
            } else {
                UpdateStatus::Idle { current }
            }
        }
    };
    Ok(set(app, status))
}

/// Downloads, verifies and installs the update found last, then closes the
/// engine and restarts. On failure the running version keeps running and the
/// status says why.
async fn install<R: Runtime>(app: &AppHandle<R>) -> Result<UpdateStatus, CommandError> {
    let updates = app.try_state::<Updates>().ok_or_else(unavailable)?;
    let current = updates.current.clone();
    // Held for the whole install, so a second click waits instead of racing.
    let mut pending = updates.pending.lock().await;
    let Some(update) = pending.as_ref() else {
        return Err(CommandError::new(
            "no_update",
            "there is no update to install; check for updates first",
        ));
    };
    let version = update.version.clone();
    let installing = |downloaded: u64, total: Option<u64>| UpdateStatus::Installing {
        current: current.clone(),
        version: version.clone(),
        downloaded,
        total,
    };
    set(app, installing(0, None));
    let mut downloaded = 0u64;
    let mut reported = 0u64;
    let result = update
        .download_and_install(
            |chunk, total| {
                downloaded += chunk as u64;
                // A status per megabyte, not per network chunk.
                if downloaded - reported >= 1 << 20 || Some(downloaded) == total {
                    reported = downloaded;
                    set(app, installing(downloaded, total));
                }
            },
            || {},
        )
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, version, "the update was not installed");
        return Ok(set(
            app,
            UpdateStatus::Failed {
                message: install_failure(&version, &current, &e),
                current,
            },
        ));
    }
    pending.take();
    tracing::info!(version, "update installed; restarting");
    let status = set(app, UpdateStatus::Restarting { current, version });
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        // The runner runs the old version: it quits (running attempts get
        // their grace period, the database is closed) before the new window
        // starts the new runner, which opens the database.
        let runner = app.state::<crate::runner::Runner>();
        if let Err(e) = runner.quit_for_restart(RUNNER_QUIT_LIMIT).await {
            tracing::warn!(error = %e.message, "restarting without the runner's clean stop");
        }
        app.request_restart();
    });
    Ok(status)
}

/// One sentence for a failed install, naming the signature when that is why.
fn install_failure(version: &str, current: &str, e: &tauri_plugin_updater::Error) -> String {
    use tauri_plugin_updater::Error;
    let why = match e {
        Error::Minisign(_) | Error::Base64(_) | Error::SignatureUtf8(_) => {
            "its signature does not verify against Baton's release key".to_string()
        }
        Error::SignedVersionMismatch { signed, .. } => {
            format!("its signature is for version {signed}, not {version}")
        }
        other => other.to_string(),
    };
    format!("The update to {version} was not installed: {why}. Baton {current} keeps running.")
}

/// The longest an installed update waits for the runner to stop (its grace
/// period for running attempts is 5 s).
const RUNNER_QUIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Checks once as the window opens, quietly, unless the setting is off (the
/// settings are the runner's); an available update is offered in the window.
pub fn check_at_start<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let runner = app.state::<crate::runner::Runner>();
        let settings = runner.call("get_settings", serde_json::Value::Null).await;
        // A runner that cannot answer leaves the default (on).
        let on = settings
            .ok()
            .and_then(|s| serde_json::from_value::<baton_shell::Settings>(s).ok())
            .is_none_or(|s| s.check_updates);
        if !on {
            tracing::info!("not checking for updates at start (Settings)");
            return;
        }
        let _ = check(&app, false).await;
    });
}

/// The tray's "Check for updates…" (the runner starts the window with
/// `--check-updates`): the answer appears in the window.
pub fn check_asked<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let _ = check(&app, true).await;
    });
}

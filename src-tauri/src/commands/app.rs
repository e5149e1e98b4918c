//! Settings, pause/resume, activity figures, the log folder, and what a
//! clicked notification asked the window to open.

use crate::error::CommandError;
use crate::events::StatusChanged;
use crate::notifications::{OpenTarget, PendingOpen};
use crate::settings::Settings;
use crate::state::AppState;
use crate::updates::{UpdateStatus, Updates};
use baton_engine::{Activity, Engine};
use chrono::{DateTime, Local, Utc};
use tauri::State;

#[tauri::command]
#[specta::specta]
pub fn get_settings(state: State<'_, AppState>) -> Settings {
    state.settings()
}

/// Applies and saves the settings; the engine's worker count changes at once.
#[tauri::command]
#[specta::specta]
pub async fn update_settings(
    state: State<'_, AppState>,
    settings: Settings,
) -> Result<Settings, CommandError> {
    let engine = state.engine().await?;
    engine.set_workers(settings.workers as usize)?;
    if settings.start_at_login != state.settings().start_at_login {
        state
            .host
            .set_autostart(settings.start_at_login)
            .map_err(|e| {
                CommandError::invalid(
                    "start_at_login",
                    format!("cannot change start at login: {e}"),
                )
            })?;
    }
    if settings.api_enabled != state.settings().api_enabled {
        state
            .set_api(settings.api_enabled)
            .await
            .map_err(|e| CommandError::invalid("api_enabled", e))?;
    }
    state
        .save_settings(&settings)
        .map_err(|e| CommandError::new("settings_unsaved", format!("cannot save settings: {e}")))?;
    *state.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings.clone();
    publish_status(&state, &engine).await;
    Ok(settings)
}

/// Paused workers finish what they run and start nothing new.
#[tauri::command]
#[specta::specta]
pub async fn set_paused(
    state: State<'_, AppState>,
    paused: bool,
) -> Result<StatusChanged, CommandError> {
    let engine = state.engine().await?;
    engine.set_paused(paused);
    Ok(publish_status(&state, &engine).await)
}

async fn publish_status(state: &AppState, engine: &Engine) -> StatusChanged {
    let status = StatusChanged::current(engine).await;
    state.host.show_status(&status);
    status
}

#[tauri::command]
#[specta::specta]
pub async fn engine_status(state: State<'_, AppState>) -> Result<StatusChanged, CommandError> {
    let engine = state.engine().await?;
    Ok(StatusChanged::of(&engine).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn activity(state: State<'_, AppState>) -> Result<Activity, CommandError> {
    let engine = state.engine().await?;
    state.catalog.loaded().await?;
    let now = engine.now();
    Ok(state.catalog.activity(now, local_midnight(now)))
}

/// The start of `now`'s day in this computer's time zone. Where a clock change
/// skips midnight, the day starts at the first local time that exists.
fn local_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let date = now.with_timezone(&Local).date_naive();
    (0..=3)
        .find_map(|hour| {
            date.and_hms_opt(hour, 0, 0)?
                .and_local_timezone(Local)
                .earliest()
        })
        .map_or(now, |start| start.to_utc())
}

/// What a click on a notification asked the window to open, if no page has
/// taken it yet; taking it clears it. The page asks when it hears
/// `OpenRequested` and once its list has loaded (a window made by the click).
#[tauri::command]
#[specta::specta]
pub fn take_open_request(pending: State<'_, PendingOpen>) -> Option<OpenTarget> {
    pending.take()
}

#[tauri::command]
#[specta::specta]
pub fn open_log_folder(state: State<'_, AppState>) -> Result<String, CommandError> {
    let dir = state.log_dir();
    let shown = dir.display().to_string();
    std::fs::create_dir_all(&dir)
        .map_err(|e| CommandError::new("open_failed", format!("cannot create {shown}: {e}")))?;
    state
        .host
        .open_path(&dir)
        .map_err(|e| CommandError::new("open_failed", format!("cannot open {shown}: {e}")))?;
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    #[test]
    fn the_local_day_starts_at_local_midnight_before_now() {
        let now = Utc::now();
        let start = local_midnight(now);
        let local = start.with_timezone(&Local);
        assert!(start <= now && now - start < chrono::Duration::hours(25));
        assert_eq!(local.date_naive(), now.with_timezone(&Local).date_naive());
        assert!(local.hour() <= 3 && (local.minute(), local.second()) == (0, 0));
    }
}

/// Asks the release feed for a newer version; the answer is also sent as an
/// `UpdateStatus` event.
#[tauri::command]
#[specta::specta]
pub async fn check_for_update(updates: State<'_, Updates>) -> Result<UpdateStatus, CommandError> {
    updates.check(true).await
}

/// Where the update check stands (what the window shows when it opens).
#[tauri::command]
#[specta::specta]
pub fn update_status(updates: State<'_, Updates>) -> UpdateStatus {
    updates.status()
}

/// Installs the update found by the last check, then restarts on it; asked for
/// by the person, never done on its own.
#[tauri::command]
#[specta::specta]
pub async fn install_update(updates: State<'_, Updates>) -> Result<UpdateStatus, CommandError> {
    updates.install().await
}

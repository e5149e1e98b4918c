//! Settings, pause/resume, activity figures, the log folder.

use crate::error::CommandError;
use crate::follow::EngineStatus;
use crate::settings::Settings;
use crate::state::AppState;
use baton_engine::Activity;
use chrono::{DateTime, Local, Utc};

pub async fn get_settings(state: &AppState) -> Result<Settings, CommandError> {
    Ok(state.settings())
}

pub async fn update_settings(
    state: &AppState,
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
    EngineStatus::publish(&*state.host, &engine).await;
    Ok(settings)
}

pub async fn set_paused(state: &AppState, paused: bool) -> Result<EngineStatus, CommandError> {
    let engine = state.engine().await?;
    engine.set_paused(paused);
    Ok(EngineStatus::publish(&*state.host, &engine).await)
}

pub async fn engine_status(state: &AppState) -> Result<EngineStatus, CommandError> {
    let engine = state.engine().await?;
    Ok(EngineStatus::of(&engine).await?)
}

pub async fn activity(state: &AppState) -> Result<Activity, CommandError> {
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

pub async fn open_log_folder(state: &AppState) -> Result<String, CommandError> {
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

pub async fn quit(state: &AppState) -> Result<(), CommandError> {
    state.host.quit();
    Ok(())
}

pub async fn take_open_request(
    state: &AppState,
) -> Result<Option<crate::notices::OpenTarget>, CommandError> {
    Ok(state.take_open_request())
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

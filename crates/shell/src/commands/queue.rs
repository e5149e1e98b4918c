//! Settings → Shared queue, and the queue the top bar names. The password
//! travels one way only: from the form to the keychain; no command returns it.

use crate::error::CommandError;
use crate::queue::{self, QueueChoice, QueueSettings, QueueStatus};
use crate::state::AppState;

pub async fn shared_queue_settings(state: &AppState) -> Result<QueueSettings, CommandError> {
    Ok(settings_of(state).await)
}

async fn settings_of(state: &AppState) -> QueueSettings {
    let Some(choice) = state.queue() else {
        return QueueSettings {
            url: None,
            run_tasks: true,
            password_saved: false,
        };
    };
    let passwords = state.passwords.clone();
    let account = queue::account(&choice.url);
    let password_saved = tokio::task::spawn_blocking(move || passwords.get(&account))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .is_some();
    QueueSettings {
        url: Some(choice.url),
        run_tasks: choice.run_tasks,
        password_saved,
    }
}

pub async fn shared_queue_status(state: &AppState) -> Result<Option<QueueStatus>, CommandError> {
    let engine = state.engine().await?;
    Ok(engine.shared_queue().await?.map(|q| QueueStatus {
        name: q.name,
        runners: q.runners.len() as u32,
        runs_tasks_here: q.runs_tasks_here,
    }))
}

pub async fn use_shared_queue(
    state: &AppState,
    url: String,
    password: Option<String>,
    run_tasks: bool,
) -> Result<QueueSettings, CommandError> {
    let url = queue::validate_url(&url)?;
    let password = password.filter(|p| !p.is_empty());
    state
        .switch_database(Some(QueueChoice { url, run_tasks }), password)
        .await?;
    Ok(settings_of(state).await)
}

pub async fn use_local_database(state: &AppState) -> Result<QueueSettings, CommandError> {
    state.switch_database(None, None).await?;
    Ok(settings_of(state).await)
}

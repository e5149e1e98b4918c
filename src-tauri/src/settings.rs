//! User settings, kept as JSON in the data directory beside the database.

use serde::{Deserialize, Serialize};
use specta::Type;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(default)]
pub struct Settings {
    /// Concurrent attempts.
    pub workers: u32,
    /// A native notification when a task completes or fails.
    pub notifications: bool,
    pub start_at_login: bool,
    /// Serve the local HTTP API on 127.0.0.1 (and write `api.json`), so the CLI
    /// and scripts can use this engine while the app runs.
    pub api_enabled: bool,
    /// Ask the release feed for a newer version when the app starts (the tray
    /// and Settings can always ask).
    pub check_updates: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            workers: baton_engine::DEFAULT_WORKERS as u32,
            notifications: true,
            start_at_login: false,
            api_enabled: false,
            check_updates: true,
        }
    }
}

pub struct SettingsFile {
    path: PathBuf,
}

impl SettingsFile {
    pub fn new(data_dir: &Path) -> Self {
        SettingsFile {
            path: data_dir.join("settings.json"),
        }
    }

    /// The saved settings; defaults when there are none or the file is unreadable
    /// (a warning says so: a broken settings file must not stop the app).
    pub fn load(&self) -> Settings {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(path = %self.path.display(), error = %e, "ignoring unreadable settings");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
    }

    /// Writes atomically: a temporary file renamed over the old one.
    pub fn save(&self, settings: &Settings) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(settings)?)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_file_from_before_a_setting_existed_loads_with_its_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = SettingsFile::new(dir.path());
        std::fs::write(
            dir.path().join("settings.json"),
            r#"{"workers": 6, "notifications": false, "start_at_login": false, "api_enabled": false}"#,
        )
        .unwrap();
        let loaded = file.load();
        assert_eq!(loaded.workers, 6);
        assert!(!loaded.notifications);
        assert!(
            loaded.check_updates,
            "update checks are on unless turned off"
        );
    }
}

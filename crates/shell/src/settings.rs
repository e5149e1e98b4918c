//! User settings, kept as JSON in the data directory beside the database.

use crate::queue::QueueChoice;
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

/// The settings file: the settings the General tab edits, and the shared
/// queue chosen in its own tab (no password: that is in the keychain).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    #[serde(flatten)]
    pub settings: Settings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_queue: Option<QueueChoice>,
}

pub struct SettingsFile {
    path: PathBuf,
    /// Held while the file is written, so two saves never interleave.
    writing: std::sync::Mutex<()>,
}

impl SettingsFile {
    pub fn new(data_dir: &Path) -> Self {
        SettingsFile {
            path: data_dir.join("settings.json"),
            writing: std::sync::Mutex::new(()),
        }
    }

    /// The saved settings; defaults when there are none or the file is unreadable
    /// (a warning says so: a broken settings file must not stop the app).
    pub fn load(&self) -> Saved {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(path = %self.path.display(), error = %e, "ignoring unreadable settings");
                Saved::default()
            }),
            Err(_) => Saved::default(),
        }
    }

    /// Writes atomically: a temporary file renamed over the old one.
    pub fn save(&self, saved: &Saved) -> std::io::Result<()> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(saved)?)?;
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
        let loaded = file.load().settings;
        assert_eq!(loaded.workers, 6);
        assert!(!loaded.notifications);
        assert!(
            loaded.check_updates,
            "update checks are on unless turned off"
        );
    }

    #[test]
    fn the_shared_queue_is_saved_beside_the_settings_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = SettingsFile::new(dir.path());
        let saved = Saved {
            settings: Settings {
                workers: 3,
                ..Settings::default()
            },
            shared_queue: Some(QueueChoice {
                url: "postgres://baton@db.example:5432/baton".into(),
                run_tasks: false,
            }),
        };
        file.save(&saved).unwrap();
        assert_eq!(file.load(), saved);
        let text = std::fs::read_to_string(dir.path().join("settings.json")).unwrap();
        assert!(text.contains("\"workers\": 3"), "{text}");
        // Back on this computer's database, the key is gone from the file.
        file.save(&Saved {
            shared_queue: None,
            ..saved
        })
        .unwrap();
        assert!(file.load().shared_queue.is_none());
    }
}

//! The runner as the shell's [`Host`]: events and the status go to every
//! connected window over the socket, the status to the tray too, notices to
//! the notification server.

use crate::runner::Action;
use baton_shell::link::{WindowEvent, Windows};
use baton_shell::notices::Notice;
use baton_shell::{EngineStatus, Host, ToWindow};
use std::path::Path;
use std::sync::Mutex;
use tokio::sync::{mpsc, watch};

pub struct RunnerHost {
    windows: Windows,
    /// What the runner is asked to do (here: Quit).
    actions: mpsc::UnboundedSender<Action>,
    /// The latest status, for the tray (which redraws from the latest only).
    status: watch::Sender<Option<EngineStatus>>,
    /// Notices for the notification sender, in order.
    notices: mpsc::UnboundedSender<Notice>,
    /// The sender's end until [`RunnerHost::start_desktop`] starts it.
    unsent: Mutex<Option<mpsc::UnboundedReceiver<Notice>>>,
}

impl RunnerHost {
    pub fn new(windows: Windows, actions: mpsc::UnboundedSender<Action>) -> RunnerHost {
        let (notices, unsent) = mpsc::unbounded_channel();
        RunnerHost {
            windows,
            actions,
            status: watch::Sender::new(None),
            notices,
            unsent: Mutex::new(Some(unsent)),
        }
    }

    pub fn windows(&self) -> &Windows {
        &self.windows
    }

    /// Starts the tray and the notification sender, which report what the
    /// person asks for on `actions`. Without a session bus (a headless
    /// machine) the runner still serves its windows, and says so in the log.
    pub async fn start_desktop(&self) {
        #[cfg(target_os = "linux")]
        crate::tray::spawn(self.status.subscribe(), self.actions.clone()).await;
        let unsent = self.unsent.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(unsent) = unsent {
            crate::notify::spawn(unsent, self.actions.clone()).await;
        }
    }
}

impl Host for RunnerHost {
    fn emit(&self, event: ToWindow) -> Result<(), String> {
        self.windows.send(WindowEvent::of(&event));
        Ok(())
    }

    fn show_status(&self, status: &EngineStatus) {
        self.windows.send(WindowEvent::status(status));
        self.status.send_replace(Some(status.clone()));
    }

    fn notify(&self, notice: &Notice) {
        let _ = self.notices.send(notice.clone());
    }

    fn set_autostart(&self, on: bool) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let entry = auto_launch::AutoLaunchBuilder::new()
            // The name the desktop app's entry had, so this one replaces it.
            .set_app_name("Baton")
            .set_app_path(&exe.to_string_lossy())
            .set_args(&[crate::HIDDEN_ARG])
            .build()
            .map_err(|e| e.to_string())?;
        let result = if on { entry.enable() } else { entry.disable() };
        result.map_err(|e| e.to_string())
    }

    fn open_path(&self, path: &Path) -> Result<(), String> {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else if cfg!(windows) {
            "explorer"
        } else {
            "xdg-open"
        };
        let mut child = std::process::Command::new(opener)
            .arg(path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{opener}: {e}"))?;
        // Reaped off the caller's thread; the file manager may outlive it.
        std::thread::spawn(move || child.wait());
        Ok(())
    }

    fn quit(&self) {
        let _ = self.actions.send(Action::Quit);
    }
}

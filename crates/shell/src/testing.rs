//! What the shell's tests share: a host that records, and an opened state.

use crate::follow::{EngineStatus, ToWindow};
use crate::link::{WindowEvent, Windows};
use crate::notices::Notice;
use crate::queue::MemoryPasswords;
use crate::state::{AppState, Host};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// A host that hands what the shell sends the window to the test, and to the
/// windows linked to it when there is a [`Windows`].
struct Recorder {
    seen: Mutex<mpsc::UnboundedSender<ToWindow>>,
    windows: Option<Windows>,
}

impl Host for Recorder {
    fn emit(&self, event: ToWindow) -> Result<(), String> {
        if let Some(windows) = &self.windows {
            windows.send(WindowEvent::of(&event));
        }
        let _ = self.seen.lock().unwrap().send(event);
        Ok(())
    }
    fn show_status(&self, status: &EngineStatus) {
        if let Some(windows) = &self.windows {
            windows.send(WindowEvent::status(status));
        }
    }
    fn notify(&self, _: &Notice) {}
    fn set_autostart(&self, _: bool) -> Result<(), String> {
        Ok(())
    }
    fn open_path(&self, _: &std::path::Path) -> Result<(), String> {
        Ok(())
    }
    fn quit(&self) {}
}

/// A state on a fresh redb file in `dir` with its engine open and followed.
pub async fn opened(
    dir: &std::path::Path,
    windows: Option<Windows>,
) -> (Arc<AppState>, mpsc::UnboundedReceiver<ToWindow>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let host = Recorder {
        seen: Mutex::new(tx),
        windows,
    };
    let state =
        Arc::new(AppState::new(dir, Arc::new(host), Arc::new(MemoryPasswords::default())).unwrap());
    let (engine, events) = state.open_engine().await.unwrap();
    crate::follow(&state, engine, events, false);
    (state, rx)
}

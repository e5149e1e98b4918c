//! The tray icon as a StatusNotifierItem with a dbusmenu (`ksni`, over D-Bus:
//! no GTK). It shows idle, busy or paused and how many tasks run, and its menu
//! asks the runner to show the window, pause or resume, check for updates and
//! quit. The menu's labels are the desktop app's, so the person sees no change.

use crate::runner::Action;
use baton_shell::EngineStatus;
use ksni::menu::StandardItem;
use ksni::{Icon, MenuItem, ToolTip, TrayMethods};
use tokio::sync::{mpsc, watch};

pub const SHOW: &str = "Show Baton";
pub const PAUSE: &str = "Pause workers";
pub const RESUME: &str = "Resume workers";
pub const CHECK_UPDATES: &str = "Check for updates…";
pub const QUIT: &str = "Quit";

struct Tray {
    status: Option<EngineStatus>,
    actions: mpsc::UnboundedSender<Action>,
    idle: Vec<Icon>,
    busy: Vec<Icon>,
}

impl Tray {
    fn running(&self) -> u32 {
        self.status.as_ref().map_or(0, |s| s.running)
    }

    fn paused(&self) -> bool {
        self.status.as_ref().is_some_and(|s| s.paused)
    }

    fn item(&self, label: &str, action: Action) -> MenuItem<Tray> {
        StandardItem {
            label: label.into(),
            activate: Box::new(move |tray: &mut Tray| {
                let _ = tray.actions.send(action.clone());
            }),
            ..Default::default()
        }
        .into()
    }
}

/// What the tooltip says.
pub fn describe(status: Option<&EngineStatus>) -> String {
    match status.map(|s| (s.paused, s.running)) {
        None => "Baton: starting".to_string(),
        Some((true, 0)) => "Baton: paused".to_string(),
        Some((true, n)) => format!("Baton: paused, {n} finishing"),
        Some((false, 0)) => "Baton: idle".to_string(),
        Some((false, n)) => format!("Baton: {n} running"),
    }
}

impl ksni::Tray for Tray {
    // A left click opens the menu, as the desktop app's tray did.
    const MENU_ON_ACTIVATE: bool = true;

    fn id(&self) -> String {
        "baton".into()
    }

    fn title(&self) -> String {
        "Baton".into()
    }

    fn icon_pixmap(&self) -> Vec<Icon> {
        if self.running() > 0 {
            self.busy.clone()
        } else {
            self.idle.clone()
        }
    }

    fn tool_tip(&self) -> ToolTip {
        ToolTip {
            title: describe(self.status.as_ref()),
            ..Default::default()
        }
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        let pause = if self.paused() { RESUME } else { PAUSE };
        vec![
            self.item(SHOW, Action::Show),
            self.item(pause, Action::TogglePause),
            self.item(CHECK_UPDATES, Action::CheckUpdates),
            self.item(QUIT, Action::Quit),
        ]
    }
}

/// Decodes a PNG into the ARGB32 (network byte order) pixmap the
/// specification sends; an undecodable icon is none (the host shows its own).
fn pixmap(png_bytes: &[u8]) -> Vec<Icon> {
    let decode = || -> Result<Icon, png::DecodingError> {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info()?;
        let mut rgba = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader.next_frame(&mut rgba)?;
        let data = match info.color_type {
            png::ColorType::Rgba => rgba[..info.buffer_size()]
                .chunks_exact(4)
                .flat_map(|p| [p[3], p[0], p[1], p[2]])
                .collect(),
            png::ColorType::Rgb => rgba[..info.buffer_size()]
                .chunks_exact(3)
                .flat_map(|p| [255, p[0], p[1], p[2]])
                .collect(),
            _ => Vec::new(),
        };
        Ok(Icon {
            width: info.width as i32,
            height: info.height as i32,
            data,
        })
    };
    match decode() {
        Ok(icon) if !icon.data.is_empty() => vec![icon],
        _ => Vec::new(),
    }
}

/// Puts the tray up and keeps it showing the latest status. Without a
/// session bus the runner goes on without a tray (and logs why).
pub async fn spawn(
    mut status: watch::Receiver<Option<EngineStatus>>,
    actions: mpsc::UnboundedSender<Action>,
) {
    let tray = Tray {
        status: status.borrow_and_update().clone(),
        actions,
        idle: pixmap(include_bytes!("../../../src-tauri/icons/tray-idle.png")),
        busy: pixmap(include_bytes!("../../../src-tauri/icons/tray-busy.png")),
    };
    // A panel may start after the runner (at login): the item is served and
    // registers with the watcher when one appears.
    let handle = match tray.assume_sni_available(true).spawn().await {
        Ok(handle) => handle,
        Err(e) => {
            tracing::warn!(error = %e, "no tray: the session bus cannot be reached");
            return;
        }
    };
    tracing::info!("tray up");
    tokio::spawn(async move {
        while status.changed().await.is_ok() {
            let latest = status.borrow_and_update().clone();
            if handle.update(|tray| tray.status = latest).await.is_none() {
                break;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tray_icons_decode_to_argb_pixmaps_of_their_size() {
        for png in [
            &include_bytes!("../../../src-tauri/icons/tray-idle.png")[..],
            &include_bytes!("../../../src-tauri/icons/tray-busy.png")[..],
        ] {
            let icons = pixmap(png);
            assert_eq!(icons.len(), 1);
            let icon = &icons[0];
            assert_eq!(icon.data.len(), (icon.width * icon.height * 4) as usize);
            assert!(icon.width > 0);
        }
        assert!(pixmap(b"not a png").is_empty());
    }

    #[test]
    fn the_tooltip_says_idle_busy_or_paused() {
        let status = |paused, running| EngineStatus {
            paused,
            workers: 4,
            running,
            health: baton_engine::Health::Ok,
        };
        assert_eq!(describe(Some(&status(false, 0))), "Baton: idle");
        assert_eq!(describe(Some(&status(false, 3))), "Baton: 3 running");
        assert_eq!(describe(Some(&status(true, 0))), "Baton: paused");
        assert_eq!(
            describe(Some(&status(true, 2))),
            "Baton: paused, 2 finishing"
        );
    }
}

//! The system tray: an icon that says idle or how many tasks run, and a menu to
//! show the window, pause or resume the workers, check for updates, and quit.

use baton_shell::{AppState, EngineStatus};
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

const TRAY_ID: &str = "baton";

/// The menu's items; the id strings are what Tauri hands back on a click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuId {
    Show,
    TogglePause,
    CheckUpdates,
    Quit,
}

impl MenuId {
    pub const ALL: [MenuId; 4] = [
        MenuId::Show,
        MenuId::TogglePause,
        MenuId::CheckUpdates,
        MenuId::Quit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MenuId::Show => "show",
            MenuId::TogglePause => "toggle-pause",
            MenuId::CheckUpdates => "check-updates",
            MenuId::Quit => "quit",
        }
    }

    pub fn parse(id: &str) -> Option<MenuId> {
        MenuId::ALL.into_iter().find(|m| m.as_str() == id)
    }
}

fn idle_icon() -> tauri::Result<Image<'static>> {
    Image::from_bytes(include_bytes!("../icons/tray-idle.png"))
}

fn busy_icon() -> tauri::Result<Image<'static>> {
    Image::from_bytes(include_bytes!("../icons/tray-busy.png"))
}

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let item =
        |id: MenuId, label: &str| MenuItem::with_id(app, id.as_str(), label, true, None::<&str>);
    let show = item(MenuId::Show, "Show Baton")?;
    let pause = item(MenuId::TogglePause, "Pause workers")?;
    let updates = item(MenuId::CheckUpdates, "Check for updates…")?;
    let quit = item(MenuId::Quit, "Quit")?;
    let menu = Menu::with_items(app, &[&show, &pause, &updates, &quit])?;
    app.manage(TrayMenu { pause });
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(idle_icon()?)
        .tooltip("Baton: idle")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()))
        .build(app)?;
    Ok(())
}

struct TrayMenu<R: Runtime> {
    pause: MenuItem<R>,
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    match MenuId::parse(id) {
        Some(MenuId::Show) => crate::window::show(app),
        Some(MenuId::TogglePause) => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let state = app.state::<AppState>();
                let Ok(engine) = state.engine().await else {
                    return;
                };
                engine.set_paused(!engine.is_paused());
                EngineStatus::publish(&*state.host, &engine).await;
            });
        }
        Some(MenuId::CheckUpdates) => crate::updates::check_from_tray(app),
        Some(MenuId::Quit) => quit(app),
        None => tracing::warn!(id, "unknown tray menu item"),
    }
}

/// Shuts the engine down gracefully (running attempts get their grace period),
/// then exits.
pub fn quit<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Some(state) = app.try_state::<AppState>() {
            state.shutdown().await;
        }
        app.exit(0);
    });
}

/// Reflects the engine's status in the tray's icon, tooltip and menu.
pub fn show_status<R: Runtime>(app: &AppHandle<R>, status: &EngineStatus) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    let text = match (status.paused, status.running) {
        (true, 0) => "Baton: paused".to_string(),
        (true, n) => format!("Baton: paused, {n} finishing"),
        (false, 0) => "Baton: idle".to_string(),
        (false, n) => format!("Baton: {n} running"),
    };
    let _ = tray.set_tooltip(Some(&text));
    let _ = tray.set_title((status.running > 0).then(|| status.running.to_string()));
    let icon = if status.running > 0 {
        busy_icon()
    } else {
        idle_icon()
    };
    if let Ok(icon) = icon {
        let _ = tray.set_icon(Some(icon));
    }
    if let Some(menu) = app.try_state::<TrayMenu<R>>() {
        let _ = menu.pause.set_text(if status.paused {
            "Resume workers"
        } else {
            "Pause workers"
        });
    }
}

#[cfg(test)]
mod tests {
    use super::MenuId;

    #[test]
    fn every_menu_id_round_trips_and_unknown_ids_are_refused() {
        for id in MenuId::ALL {
            assert_eq!(MenuId::parse(id.as_str()), Some(id));
        }
        assert_eq!(MenuId::parse("nope"), None);
    }
}

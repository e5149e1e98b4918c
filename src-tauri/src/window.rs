//! The main window comes and goes; the engine stays. Closing the window destroys
//! it and its webview (most of the app's memory: the WebKit processes, the page,
//! GTK's widgets), so the app in the tray is a light runner holding the engine
//! alone. Show makes the window again from `tauri.conf.json`, and the page loads
//! its state from the engine as at first start.

use tauri::{AppHandle, Manager, Runtime, WebviewWindow, WebviewWindowBuilder};

/// The label of the window defined in `tauri.conf.json`.
pub const MAIN: &str = "main";

/// Shows the main window, making it again if it was closed.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    let window = match app.get_webview_window(MAIN) {
        Some(window) => window,
        None => match create(app) {
            Ok(window) => window,
            Err(e) => {
                tracing::error!(error = %e, "could not make the window again");
                return;
            }
        },
    };
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
}

/// The main window from its entry in the app's config, so its size, title and
/// the rest are defined once.
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<WebviewWindow<R>> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN)
        .cloned()
        .ok_or_else(|| tauri::Error::WindowNotFound)?;
    tracing::info!("making the window");
    WebviewWindowBuilder::from_config(app, &config)?.build()
}

/// After the window is destroyed: glibc keeps the freed heap of the page's
/// side (GTK, WebKit's UI process half) in its arenas; hand it back to the
/// system so the runner's resident memory falls to what the engine uses.
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks glibc's own arenas; any thread may call it.
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(released, "malloc_trim after the window closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tauri::test::{mock_builder, mock_context, noop_assets};
    use tauri::utils::config::WindowConfig;

    /// The state after a close: the app runs and its config defines the window,
    /// but there is none (the mock runtime cannot destroy one, so it starts so).
    #[test]
    fn show_makes_the_window_from_the_config_when_there_is_none() {
        let mut context = mock_context(noop_assets());
        context.config_mut().app.windows = vec![WindowConfig {
            label: MAIN.into(),
            title: "Baton".into(),
            create: false,
            ..Default::default()
        }];
        let app = mock_builder().build(context).unwrap();
        assert!(app.get_webview_window(MAIN).is_none());

        show(app.handle());
        assert!(
            app.get_webview_window(MAIN).is_some(),
            "Show made no window"
        );

        // Showing again shows the same window; there is one.
        show(app.handle());
        assert_eq!(app.webview_windows().len(), 1);
    }
}

//! Native notifications through the notification plugin, and what a click on
//! one opens. What each says is the shell's (`baton_shell::notices`).
//!
//! Each notification carries what a click on it opens ([`OpenTarget`], in the
//! plugin's `extra` payload). Clicks are reported on Linux: once a Rust handler
//! is registered, tauri-plugin-notification (2.6 and later) sends every
//! notification with the freedesktop `default` action on one session-bus
//! connection, whose one thread receives `ActionInvoked` for all of them and
//! forgets each at `NotificationClosed` (the server sends it when the
//! notification expires, is dismissed or is clicked). So waiting for clicks
//! holds no thread or task per notification (sending one takes a blocking-pool
//! thread for the `Notify` call only), and never holds up the event forwarder.
//! On macOS and Windows the plugin would wait for each notification on a
//! thread of its own until it is acted on, so no handler is registered there
//! and a click reaches no code of ours (docs/platforms.md).
//!
//! A click keeps its request in the shell (`AppState::request_open`) and shows the window, making it
//! again if it was closed to the tray. The page takes the request
//! (`take_open_request`) when it hears [`OpenRequested`] and once its list has
//! loaded, so a page made by the click gets it too, and it is handled once.

pub use baton_shell::notices::{Notice, OpenTarget};
use serde::Serialize;
use specta::Type;
use tauri::{AppHandle, Manager, Runtime};
use tauri_specta::Event as _;

/// A notification was clicked: take what it opens with `take_open_request`.
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct OpenRequested;

/// The key of the notification's `extra` payload that holds its [`OpenTarget`].
const OPEN_KEY: &str = "open";

/// A native notification (the shell decided it is wanted), when the plugin is there.
pub(crate) fn show<R: Runtime>(app: &AppHandle<R>, notice: &Notice) {
    let Some(notifications) = app.try_state::<tauri_plugin_notification::Notification<R>>() else {
        return;
    };
    let shown = notifications
        .builder()
        .title(&notice.title)
        .body(&notice.body)
        .extra(OPEN_KEY, &notice.open)
        .show();
    if let Err(e) = shown {
        tracing::debug!(error = %e, "notification not shown");
    }
}

/// Linux: a click on a notification opens what it was sent with (see the
/// module's doc for why only Linux). Nothing without the plugin (tests).
pub(crate) fn open_on_click<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(target_os = "linux")]
    if let Some(notifications) = app.try_state::<tauri_plugin_notification::Notification<R>>() {
        let handle = app.clone();
        let registered = notifications.on_action(move |performed| {
            if let Some(target) = clicked(performed) {
                open(&handle, target);
            }
        });
        if let Err(e) = registered {
            tracing::warn!(error = %e, "clicks on notifications will open nothing");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = app;
}

/// What a reported action opens: a click on the notification itself (`tap`,
/// the freedesktop `default` action) on one of ours. Other actions, and
/// notifications without a target, open nothing.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn clicked(performed: &tauri_plugin_notification::ActionPerformed) -> Option<OpenTarget> {
    if performed.action_id() != "tap" {
        return None;
    }
    let extra = performed.notification()?.extra().get(OPEN_KEY)?;
    serde_json::from_value(extra.clone()).ok()
}

/// Keeps `target` for the page and shows the window (making it again if it
/// was closed), then tells a page already there to take it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn open<R: Runtime>(app: &AppHandle<R>, target: OpenTarget) {
    tracing::info!(?target, "notification clicked");
    app.state::<baton_shell::AppState>().request_open(target);
    let handle = app.clone();
    // Windows are made on the main thread; the plugin reports on its own.
    let queued = app.run_on_main_thread(move || {
        crate::window::show(&handle);
        if let Err(e) = OpenRequested.emit(&handle) {
            tracing::warn!(error = %e, "could not tell the window what to open");
        }
    });
    if let Err(e) = queued {
        tracing::warn!(error = %e, "could not show the window for a notification");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_engine::{TaskId, TaskState};
    use baton_shell::notices::{notices, Finished};
    use tauri::test::{mock_builder, mock_context, noop_assets};
    use tauri::utils::config::WindowConfig;
    use tauri::Listener;

    fn id(n: u128) -> TaskId {
        serde_json::from_value(serde_json::json!(uuid(n))).unwrap()
    }

    fn uuid(n: u128) -> String {
        format!("0190a0b0-0000-7000-8000-{n:012x}")
    }

    fn done(n: u128, name: &str, state: TaskState) -> Finished {
        let detail = match state {
            TaskState::Failed => "boom".to_string(),
            _ => format!("# {name}"),
        };
        Finished {
            id: id(n),
            name: name.into(),
            state,
            detail: Some(detail),
            asked: false,
        }
    }

    /// What the plugin reports for `action` on a notification sent with
    /// `extra` (its `actionPerformed` payload: the notification as sent).
    fn performed(
        action: &str,
        extra: serde_json::Value,
    ) -> tauri_plugin_notification::ActionPerformed {
        serde_json::from_value(serde_json::json!({
            "actionId": action,
            "inputValue": null,
            "notification": { "id": 7, "title": "t", "body": "b", "extra": extra },
        }))
        .unwrap()
    }

    #[test]
    fn a_click_on_a_notification_opens_what_it_was_sent_with_and_nothing_else_does() {
        let mut sent = notices(&[done(1, "a", TaskState::Completed)]);
        sent.extend(notices(
            &(0..5)
                .map(|i| done(i, "n", TaskState::Completed))
                .collect::<Vec<_>>(),
        ));
        for notice in sent.iter().cloned().chain([
            Notice::new("s", "b", OpenTarget::Window),
            Notice::new(
                "s",
                "b",
                OpenTarget::Schedule {
                    id: serde_json::from_value(serde_json::json!(uuid(3))).unwrap(),
                },
            ),
        ]) {
            let extra = serde_json::json!({ OPEN_KEY: notice.open });
            assert_eq!(clicked(&performed("tap", extra)), Some(notice.open));
        }
        assert_eq!(
            clicked(&performed(
                "tap",
                serde_json::json!({ OPEN_KEY: { "kind": "task", "id": uuid(1) } })
            )),
            Some(OpenTarget::Task { id: id(1) }),
            "the wire form changed"
        );

        let task = serde_json::json!({ OPEN_KEY: { "kind": "task", "id": uuid(1) } });
        assert_eq!(clicked(&performed("snooze", task)), None, "another action");
        assert_eq!(clicked(&performed("tap", serde_json::json!({}))), None);
        let foreign = serde_json::json!({ OPEN_KEY: { "kind": "task", "id": "x" } });
        assert_eq!(clicked(&performed("tap", foreign)), None);
    }

    #[test]
    fn a_click_makes_the_window_again_and_its_request_waits_for_the_page_once() {
        let mut context = mock_context(noop_assets());
        context.config_mut().app.windows = vec![WindowConfig {
            label: crate::window::MAIN.into(),
            title: "Baton".into(),
            create: false,
            ..Default::default()
        }];
        let app = mock_builder().build(context).unwrap();
        crate::bindings::builder::<tauri::test::MockRuntime>().mount_events(app.handle());
        let dir = tempfile::tempdir().unwrap();
        let host = std::sync::Arc::new(crate::events::AppHost {
            app: app.handle().clone(),
        });
        let passwords = std::sync::Arc::new(baton_shell::MemoryPasswords::default());
        app.manage(baton_shell::AppState::new(dir.path(), host, passwords).unwrap());
        let heard = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = heard.clone();
        app.listen("open-requested", move |_| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        assert!(app.get_webview_window(crate::window::MAIN).is_none());

        open(app.handle(), OpenTarget::Task { id: id(1) });
        assert!(
            app.get_webview_window(crate::window::MAIN).is_some(),
            "the click made no window"
        );
        assert_eq!(heard.load(std::sync::atomic::Ordering::SeqCst), 1);

        // A second click before the page took the first: the newer one wins.
        open(app.handle(), OpenTarget::List);
        let state = app.state::<baton_shell::AppState>();
        assert_eq!(state.take_open_request(), Some(OpenTarget::List));
        assert_eq!(state.take_open_request(), None, "a request is handled once");
        assert_eq!(app.webview_windows().len(), 1);
    }
}

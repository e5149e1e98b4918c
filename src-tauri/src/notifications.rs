//! Desktop notifications: what a finished task (or a burst of them, a schedule
//! that paused itself, an update) says, and what a click on one opens.
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
//! A click keeps its request in [`PendingOpen`] and shows the window, making it
//! again if it was closed to the tray. The page takes the request
//! (`take_open_request`) when it hears [`OpenRequested`] and once its list has
//! loaded, so a page made by the click gets it too, and it is handled once.

use crate::state::AppState;
use baton_engine::{ScheduleId, Task, TaskId, TaskState};
use serde::{Deserialize, Serialize};
use specta::Type;
use std::sync::Mutex;
use tauri::{AppHandle, Manager, Runtime};
use tauri_specta::Event as _;

/// What a click on a notification opens in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpenTarget {
    /// The task's detail (a task that completed or failed).
    Task { id: TaskId },
    /// The task list (a burst of finished tasks, summed up in one notification).
    List,
    /// The schedule in the Schedules view (it paused itself).
    Schedule { id: ScheduleId },
    /// The window as it is (an update is offered there).
    Window,
}

/// A notification was clicked: take what it opens with `take_open_request`.
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct OpenRequested;

/// The request of the last click, kept until the page takes it: a window made
/// by the click has no page to hear [`OpenRequested`] yet.
#[derive(Default)]
pub struct PendingOpen(Mutex<Option<OpenTarget>>);

impl PendingOpen {
    fn set(&self, target: OpenTarget) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(target);
    }

    /// The request not yet taken, if any; taking it clears it.
    pub fn take(&self) -> Option<OpenTarget> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A task that completed or failed.
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    pub id: TaskId,
    pub name: String,
    pub state: TaskState,
    /// The first lines of its answer ([`first_lines`]), or its error.
    pub detail: Option<String>,
    /// It asked for a notification of its answer (`--notify-result`): shown
    /// even when notifications are off in Settings.
    pub asked: bool,
}

impl Finished {
    /// The task that moved to `to`, if that finished it: with the first lines
    /// of its answer, or its error.
    pub fn of(to: TaskState, task: &Task) -> Option<Finished> {
        let detail = match to {
            TaskState::Completed => task.output.as_deref().map(first_lines),
            TaskState::Failed => task.error.clone(),
            _ => return None,
        };
        Some(Finished {
            id: task.id,
            name: task.name.clone(),
            state: to,
            detail,
            asked: to == TaskState::Completed && task.deliver.notify_result,
        })
    }
}

/// One notification and what a click on it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    pub title: String,
    pub body: String,
    pub open: OpenTarget,
}

impl Notice {
    pub fn new(title: impl Into<String>, body: impl Into<String>, open: OpenTarget) -> Notice {
        Notice {
            title: title.into(),
            body: body.into(),
            open,
        }
    }
}

/// At most this many notifications for one burst of finished tasks; more are
/// summed up in one ("12 tasks finished: 10 completed, 2 failed").
const NOTIFICATIONS_PER_BURST: usize = 3;

/// A notification shows a few lines: the answer's first ones, at most this many
/// characters in all.
const NOTICE_LINES: usize = 3;
const NOTICE_CHARS: usize = 200;

/// The first non-empty lines of an answer, for its notification ("…" when cut).
fn first_lines(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut text = lines
        .iter()
        .take(NOTICE_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let mut cut = lines.len() > NOTICE_LINES;
    if let Some((at, _)) = text.char_indices().nth(NOTICE_CHARS) {
        text.truncate(at);
        cut = true;
    }
    if cut {
        text.push('…');
    }
    text
}

/// The notifications for a burst of finished tasks: one each, opening the
/// task, or one summary opening the list when there are more than
/// [`NOTIFICATIONS_PER_BURST`].
pub(crate) fn notices(finished: &[Finished]) -> Vec<Notice> {
    if finished.len() > NOTIFICATIONS_PER_BURST {
        let failed = finished
            .iter()
            .filter(|f| f.state == TaskState::Failed)
            .count();
        return vec![Notice::new(
            format!("{} tasks finished", finished.len()),
            format!("{} completed, {failed} failed", finished.len() - failed),
            OpenTarget::List,
        )];
    }
    finished
        .iter()
        .map(|f| {
            let open = OpenTarget::Task { id: f.id };
            match f.state {
                TaskState::Completed => Notice::new(
                    format!("Task completed: {}", f.name),
                    match f.detail.as_deref() {
                        Some(lines) if !lines.is_empty() => lines,
                        _ => "The answer was empty.",
                    },
                    open,
                ),
                _ => Notice::new(
                    "Task failed",
                    format!(
                        "{}: {}",
                        f.name,
                        f.detail.as_deref().unwrap_or("no error message")
                    ),
                    open,
                ),
            }
        })
        .collect()
}

/// The key of the notification's `extra` payload that holds its [`OpenTarget`].
const OPEN_KEY: &str = "open";

/// Whether notifications are on in Settings.
pub(crate) fn enabled<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.state::<AppState>().settings().notifications
}

/// A native notification, when the setting allows it and the plugin is there.
pub(crate) fn show<R: Runtime>(app: &AppHandle<R>, notice: &Notice) {
    if enabled(app) {
        show_anyway(app, notice);
    }
}

/// A native notification whatever the setting (a task asked for it).
pub(crate) fn show_anyway<R: Runtime>(app: &AppHandle<R>, notice: &Notice) {
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
    app.state::<PendingOpen>().set(target);
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
            _ => first_lines(&format!("\n# {name}\n\nline two\nline three\nline four")),
        };
        Finished {
            id: id(n),
            name: name.into(),
            state,
            detail: Some(detail),
            asked: false,
        }
    }

    #[test]
    fn a_completed_task_s_notification_carries_the_first_lines_of_its_answer() {
        assert_eq!(first_lines("one\n\n  two  \nthree"), "one\ntwo\nthree");
        assert_eq!(first_lines("one\ntwo\nthree\nfour"), "one\ntwo\nthree…");
        let long = "é".repeat(300);
        assert_eq!(first_lines(&long), format!("{}…", "é".repeat(200)));
        assert_eq!(first_lines("  \n"), "");
        let empty = Finished {
            detail: Some(String::new()),
            ..done(1, "empty", TaskState::Completed)
        };
        assert_eq!(
            notices(&[empty]),
            vec![Notice::new(
                "Task completed: empty",
                "The answer was empty.",
                OpenTarget::Task { id: id(1) }
            )]
        );
    }

    #[test]
    fn a_few_finished_tasks_get_one_notification_each_opening_that_task() {
        let got = notices(&[
            done(1, "a", TaskState::Completed),
            done(2, "b", TaskState::Failed),
        ]);
        assert_eq!(
            got,
            vec![
                Notice::new(
                    "Task completed: a",
                    "# a\nline two\nline three…",
                    OpenTarget::Task { id: id(1) }
                ),
                Notice::new("Task failed", "b: boom", OpenTarget::Task { id: id(2) }),
            ]
        );
    }

    #[test]
    fn a_burst_of_finished_tasks_gets_one_summary_opening_the_list() {
        let mut burst: Vec<_> = (0..10)
            .map(|i| done(i, &i.to_string(), TaskState::Completed))
            .collect();
        burst.push(done(10, "x", TaskState::Failed));
        assert_eq!(
            notices(&burst),
            vec![Notice::new(
                "11 tasks finished",
                "10 completed, 1 failed",
                OpenTarget::List
            )]
        );
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
        app.manage(PendingOpen::default());
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
        let pending = app.state::<PendingOpen>();
        assert_eq!(pending.take(), Some(OpenTarget::List));
        assert_eq!(pending.take(), None, "a request is handled once");
        assert_eq!(app.webview_windows().len(), 1);
    }
}

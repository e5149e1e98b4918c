//! Notifications over D-Bus (`org.freedesktop.Notifications`, the Desktop
//! Notifications Specification), sent in order from one connection, and what
//! a click on one opens.
//!
//! Each is sent with the `default` action, so a click is reported as
//! `ActionInvoked(id, "default")`. Servers send that signal, and
//! `NotificationClosed` when one expires, is dismissed or is clicked, to the
//! connection that sent it: so the same connection listens, and a
//! notification's target is kept only until it closes. One task holds them
//! all; none waits per notification.

use crate::runner::Action;
use baton_shell::notices::Notice;
use tokio::sync::mpsc;

/// Sends notices until the runner stops; reports clicks on `actions`.
#[cfg(target_os = "linux")]
pub async fn spawn(
    mut notices: mpsc::UnboundedReceiver<Notice>,
    actions: mpsc::UnboundedSender<Action>,
) {
    use futures::StreamExt;
    use std::collections::HashMap;

    const NAME: &str = "org.freedesktop.Notifications";
    const PATH: &str = "/org/freedesktop/Notifications";

    let connection = match zbus::Connection::session().await {
        Ok(connection) => connection,
        Err(e) => {
            tracing::warn!(error = %e, "no notifications: the session bus cannot be reached");
            // Drain, so the shell's sends never pile up.
            tokio::spawn(async move { while notices.recv().await.is_some() {} });
            return;
        }
    };
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(NAME)
        .map(|rule| rule.build());
    let signals = match rule {
        Ok(rule) => zbus::MessageStream::for_match_rule(rule, &connection, None)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let mut signals = match signals {
        Ok(signals) => Some(signals),
        Err(e) => {
            tracing::warn!(error = %e, "clicks on notifications will open nothing");
            None
        }
    };
    tokio::spawn(async move {
        // Notification id -> what a click on it opens, until it closes.
        let mut open = HashMap::new();
        loop {
            tokio::select! {
                notice = notices.recv() => {
                    let Some(notice) = notice else { break };
                    let hints: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
                    let sent = connection
                        .call_method(
                            Some(NAME),
                            PATH,
                            Some(NAME),
                            "Notify",
                            &(
                                "Baton",
                                0u32,
                                "",
                                notice.title.as_str(),
                                notice.body.as_str(),
                                vec!["default", "Open"],
                                hints,
                                -1i32,
                            ),
                        )
                        .await;
                    match sent.and_then(|reply| reply.body().deserialize::<u32>()) {
                        Ok(id) => {
                            open.insert(id, notice.open);
                        }
                        Err(e) => tracing::debug!(error = %e, "notification not shown"),
                    }
                }
                Some(Ok(message)) = next(&mut signals) => {
                    let header = message.header();
                    match header.member().map(|m| m.as_str()) {
                        Some("ActionInvoked") => {
                            if let Ok((id, action)) = message.body().deserialize::<(u32, String)>() {
                                if action == "default" {
                                    if let Some(target) = open.remove(&id) {
                                        let _ = actions.send(Action::Open(target));
                                    }
                                }
                            }
                        }
                        Some("NotificationClosed") => {
                            if let Ok((id, _reason)) = message.body().deserialize::<(u32, u32)>() {
                                open.remove(&id);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    });

    /// The next signal, or never when there is no stream.
    async fn next(
        signals: &mut Option<zbus::MessageStream>,
    ) -> Option<zbus::Result<zbus::Message>> {
        match signals {
            Some(signals) => signals.next().await,
            None => std::future::pending().await,
        }
    }
}

/// Elsewhere the desktop's notifications are not built yet
/// (docs/tray-runner.md): notices are dropped.
#[cfg(not(target_os = "linux"))]
pub async fn spawn(
    mut notices: mpsc::UnboundedReceiver<Notice>,
    _actions: mpsc::UnboundedSender<Action>,
) {
    tokio::spawn(async move { while notices.recv().await.is_some() {} });
}

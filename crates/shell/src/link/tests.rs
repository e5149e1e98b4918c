//! The link over a real Unix socket in a temporary data directory, served by a
//! real engine on a redb file.

use super::*;
use crate::testing::opened;
use serde_json::json;
use std::time::Duration;

/// A bound, not a pause: each wait ends as soon as its event arrives.
const PATIENCE: Duration = Duration::from_secs(30);

/// A shell serving its data directory's socket.
async fn served(dir: &Path) -> (Arc<AppState>, tokio::task::JoinHandle<std::io::Result<()>>) {
    let windows = Windows::default();
    let (state, _) = opened(dir, Some(windows.clone())).await;
    let serving = tokio::spawn({
        let state = state.clone();
        let dir = dir.to_path_buf();
        async move { windows.serve(&dir, state).await }
    });
    // Serving has begun once the socket answers.
    tokio::time::timeout(PATIENCE, async {
        while UnixStream::connect(socket_path(dir)).await.is_err() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the socket never answered");
    (state, serving)
}

/// Waits for the event named `name` whose payload `wanted` accepts.
async fn wait_for(
    events: &mut mpsc::UnboundedReceiver<WindowEvent>,
    name: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    tokio::time::timeout(PATIENCE, async {
        while let Some(event) = events.recv().await {
            if event.event == name && wanted(&event.payload) {
                return event.payload;
            }
        }
        panic!("the link closed before a {name} event");
    })
    .await
    .unwrap_or_else(|_| panic!("no {name} event"))
}

fn completed(id: &Value) -> impl Fn(&Value) -> bool + '_ {
    move |p| p["type"] == "state" && p["task_id"] == *id && p["to"] == "completed"
}

#[tokio::test]
async fn a_window_over_the_socket_runs_commands_and_hears_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let (state, serving) = served(dir.path()).await;
    let (link, mut events) = Link::connect(dir.path()).await.unwrap();
    let (other, mut others) = Link::connect(dir.path()).await.unwrap();

    let task = link
        .call("submit_task", json!({"input": {"prompt": "hello"}}))
        .await
        .unwrap();
    assert_eq!(task["status"], "queued");
    let done = wait_for(&mut events, TASK_EVENT, completed(&task["id"])).await;
    assert_eq!(done["task"]["output"], "echo: hello");
    // Every window hears it, and the answer went to the one that asked.
    wait_for(&mut others, TASK_EVENT, completed(&task["id"])).await;
    let status = other
        .call("set_paused", json!({"paused": true}))
        .await
        .unwrap();
    assert_eq!(status["paused"], true);
    wait_for(&mut events, STATUS_CHANGED, |p| p["paused"] == true).await;

    // Calls at once are answered each by its own id.
    let (a, b) = tokio::join!(
        link.call("get_task", json!({"id": task["id"]})),
        link.call("get_settings", Value::Null),
    );
    assert_eq!(a.unwrap()["task"]["id"], task["id"]);
    assert!(b.unwrap()["workers"].is_number());

    // A refusal arrives as the command's own error.
    let err = link
        .call("submit_task", json!({"input": {"prompt": " "}}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.field.as_deref()),
        ("invalid_input", Some("prompt"))
    );

    serving.abort();
    state.shutdown().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_socket_is_the_owner_s_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (state, serving) = served(dir.path()).await;
    let mode = std::fs::metadata(socket_path(dir.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    serving.abort();
    state.shutdown().await;
}

#[tokio::test]
async fn a_call_to_a_shell_that_went_away_says_so_and_does_not_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (state, serving) = served(dir.path()).await;
    let (link, mut events) = Link::connect(dir.path()).await.unwrap();
    // As when the runner's process ends: its connections close.
    serving.abort();
    let _ = serving.await;
    tokio::time::timeout(PATIENCE, async { while events.recv().await.is_some() {} })
        .await
        .expect("the link never closed");
    let err = tokio::time::timeout(PATIENCE, link.call("get_settings", Value::Null))
        .await
        .expect("the call waited for a shell that is gone")
        .unwrap_err();
    assert_eq!(err.code, "runner_gone");
    state.shutdown().await;
}

#[tokio::test]
async fn a_line_that_is_not_a_request_closes_that_window_s_link_only() {
    let dir = tempfile::tempdir().unwrap();
    let (state, serving) = served(dir.path()).await;
    let (good, _good_events) = Link::connect(dir.path()).await.unwrap();
    let mut bad = UnixStream::connect(socket_path(dir.path())).await.unwrap();
    bad.write_all(b"not json\n").await.unwrap();
    let mut rest = String::new();
    let read = tokio::time::timeout(
        PATIENCE,
        tokio::io::AsyncReadExt::read_to_string(&mut bad, &mut rest),
    )
    .await
    .expect("the bad link stayed open");
    assert!(read.is_ok());
    assert!(good.call("get_settings", Value::Null).await.is_ok());
    serving.abort();
    state.shutdown().await;
}

#[test]
fn an_event_s_wire_form_names_it_as_the_page_listens_for_it() {
    let event = WindowEvent::of(&ToWindow::Resync { missed: 3 });
    let line = line(&FromShell::Event(event.clone()));
    assert_eq!(
        serde_json::from_str::<Value>(&line).unwrap(),
        json!({"kind": "event", "event": "resync", "payload": {"missed": 3}})
    );
    match serde_json::from_str::<FromShell>(&line).unwrap() {
        FromShell::Event(back) => assert_eq!(back, event),
        other => panic!("read back as {other:?}"),
    }
}

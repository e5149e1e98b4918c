//! The runner as a process: started from its binary on a temporary data
//! directory, talked to over its socket as the window does (`Link`), its tray
//! and notifications over a private D-Bus session bus as a panel and a
//! notification server do.

use baton_shell::link::{Link, WindowEvent, STATUS_CHANGED, TASK_EVENT};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// A bound, not a pause: each wait ends as soon as what it waits for happens.
const PATIENCE: Duration = Duration::from_secs(30);

const RUNNER: &str = env!("CARGO_BIN_EXE_baton-tray");

/// A runner process on `dir`, killed if a test fails before it exits.
struct Runner {
    child: Child,
    dir: PathBuf,
}

impl Runner {
    /// Starts `baton-tray` on `dir`. `bus`: the session bus (none: an address
    /// that cannot be reached, as on a headless machine). The window it
    /// starts is a script that writes its arguments to `window-starts`.
    fn start(dir: &Path, bus: Option<&str>, args: &[&str]) -> Runner {
        let window = dir.join("window.sh");
        std::fs::write(
            &window,
            format!(
                "#!/bin/sh\necho \"started $*\" >> '{}'\n",
                dir.join("window-starts").display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&window, std::fs::Permissions::from_mode(0o755)).unwrap();
        let no_bus = format!("unix:path={}", dir.join("no-bus").display());
        let child = Command::new(RUNNER)
            .args(args)
            .env("BATON_DATA_DIR", dir.join("data"))
            .env("BATON_WINDOW_BIN", &window)
            .env("DBUS_SESSION_BUS_ADDRESS", bus.unwrap_or(&no_bus))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("runner.err")).unwrap())
            .spawn()
            .expect("the runner starts");
        Runner {
            child,
            dir: dir.to_path_buf(),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Connects as a window does, once the runner serves its socket.
    async fn connect(&self) -> (Link, UnboundedReceiver<WindowEvent>) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match Link::connect(&self.data_dir()).await {
                Ok(link) => return link,
                Err(e) if Instant::now() > deadline => {
                    panic!("the runner never served its socket: {e}\n{}", self.log())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory effects; the pid is our child's.
        unsafe { libc::kill(self.pid() as i32, signal) };
    }

    /// Waits for the runner to exit.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the runner did not exit\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("runner.err")).unwrap_or_default()
    }

    /// The windows the runner started, one line each: "started ARGS".
    fn window_starts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("window-starts"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect()
    }

    async fn wait_for_window_starts(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let starts = self.window_starts();
            if starts.len() >= count {
                return starts;
            }
            assert!(
                Instant::now() < deadline,
                "the window was not started: {starts:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the event named `name` whose payload `wanted` accepts.
async fn wait_for(
    events: &mut UnboundedReceiver<WindowEvent>,
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

fn reached<'a>(id: &'a Value, state: &'a str) -> impl Fn(&Value) -> bool + 'a {
    move |p| p["type"] == "state" && p["task_id"] == *id && p["to"] == state
}

#[tokio::test]
async fn a_window_runs_commands_and_hears_events_over_the_runners_socket() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = Runner::start(dir.path(), None, &["--hidden"]);
    let (link, mut events) = runner.connect().await;

    let task = link
        .call("submit_task", json!({"input": {"prompt": "hello"}}))
        .await
        .unwrap();
    let done = wait_for(&mut events, TASK_EVENT, reached(&task["id"], "completed")).await;
    assert_eq!(done["task"]["output"], "echo: hello");
    let err = link
        .call("submit_task", json!({"input": {"prompt": " "}}))
        .await
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("prompt"));
    assert!(
        runner.window_starts().is_empty(),
        "--hidden started a window"
    );
    let lock = std::fs::read_to_string(runner.data_dir().join(baton_tray::LOCK_FILE)).unwrap();
    assert_eq!(
        lock.trim(),
        runner.pid().to_string(),
        "the lock file names the runner"
    );

    runner.signal(libc::SIGTERM);
    assert_eq!(runner.wait().code(), Some(0), "{}", runner.log());
    assert!(
        !baton_shell::link::socket_path(&runner.data_dir()).exists(),
        "the socket was left behind"
    );
}

#[tokio::test]
async fn the_runner_maps_no_webview_or_gui_toolkit() {
    let dir = tempfile::tempdir().unwrap();
    let runner = Runner::start(dir.path(), None, &["--hidden"]);
    let (link, _events) = runner.connect().await;
    // The engine is open and has answered: everything the runner loads is loaded.
    link.call("engine_status", Value::Null).await.unwrap();

    let maps = std::fs::read_to_string(format!("/proc/{}/maps", runner.pid())).unwrap();
    let libraries: std::collections::BTreeSet<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.contains(".so"))
        .collect();
    assert!(
        !libraries.is_empty(),
        "no shared library mapped: is this /proc?"
    );
    let toolkit: Vec<_> = libraries
        .iter()
        .filter(|p| {
            let p = p.to_ascii_lowercase();
            [
                "webkit",
                "javascriptcore",
                "libgtk",
                "libgdk",
                "libsoup",
                "libllvm",
            ]
            .iter()
            .any(|name| p.contains(name))
        })
        .collect();
    assert!(toolkit.is_empty(), "the runner maps {toolkit:?}");
}

/// redb's header flag "recovery required": set while the file is open for
/// writing, cleared on a clean close (redb 4, header.rs: bit 1 of byte 9).
fn recovery_required(db: &Path) -> bool {
    let header = std::fs::read(db).unwrap();
    assert_eq!(&header[..4], b"redb");
    header[9] & 0b10 != 0
}

#[tokio::test]
async fn sigterm_hands_back_a_running_attempt_and_closes_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = Runner::start(dir.path(), None, &["--hidden"]);
    let (link, mut events) = runner.connect().await;
    let task = link
        .call(
            "submit_task",
            json!({"input": {"prompt": "long", "model": "sleep=60000"}}),
        )
        .await
        .unwrap();
    wait_for(&mut events, TASK_EVENT, reached(&task["id"], "running")).await;

    runner.signal(libc::SIGTERM);
    assert_eq!(runner.wait().code(), Some(0), "{}", runner.log());
    let db = runner.data_dir().join("baton.redb");
    assert!(!recovery_required(&db), "the database was not closed");

    let engine = baton_engine::Engine::open(baton_engine::EngineConfig::new(db))
        .await
        .unwrap();
    let id = serde_json::from_value(task["id"].clone()).unwrap();
    let stored = engine.get(id).await.unwrap();
    assert_eq!(stored.status, baton_engine::TaskState::Queued);
    assert_eq!(stored.attempts, 0, "the interrupted attempt was counted");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_second_runner_leaves_the_first_serving_and_shows_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let first = Runner::start(dir.path(), None, &["--hidden"]);
    let (link, _events) = first.connect().await;

    let second_dir = dir.path().join("second");
    std::fs::create_dir(&second_dir).unwrap();
    // The same data directory through another path, its own window record.
    std::os::unix::fs::symlink(first.data_dir(), second_dir.join("data")).unwrap();
    let mut second = Runner::start(&second_dir, None, &[]);
    assert_eq!(second.wait().code(), Some(0), "{}", second.log());
    assert_eq!(second.wait_for_window_starts(1).await, ["started"]);

    // The first still holds the socket and the engine.
    let status = link.call("engine_status", Value::Null).await.unwrap();
    assert_eq!(status["paused"], false);
}

/// A private D-Bus session bus, stopped when dropped.
struct Bus {
    daemon: Child,
    address: String,
}

impl Bus {
    fn start() -> Bus {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            // It cannot raise its fd limit unprivileged, and says so.
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon runs (scripts/setup.sh installs it)");
        let mut address = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        Bus {
            daemon,
            address: address.trim().to_string(),
        }
    }

    /// `gdbus call` on this bus; its printed answer.
    fn call(&self, dest: &str, path: &str, method: &str, args: &[&str]) -> String {
        let out = Command::new("gdbus")
            .args(["call", "--session", "--timeout", "5", "--dest", dest])
            .args(["--object-path", path, "--method", method, "--"])
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .expect("gdbus runs");
        assert!(
            out.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// The runner's StatusNotifierItem name on `bus` (`org.kde.StatusNotifierItem-PID-N`).
async fn tray_name(bus: &Bus, pid: u32) -> String {
    let prefix = format!("org.kde.StatusNotifierItem-{pid}-");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let names = bus.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.ListNames",
            &[],
        );
        if let Some(name) = names
            .split('\'')
            .find(|n| n.starts_with(&prefix))
            .map(str::to_string)
        {
            return name;
        }
        assert!(Instant::now() < deadline, "no tray on the bus: {names}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The tray menu's items as (id, label), from dbusmenu's GetLayout.
fn menu_items(bus: &Bus, name: &str) -> Vec<(i32, String)> {
    let layout = bus.call(
        name,
        "/MenuBar",
        "com.canonical.dbusmenu.GetLayout",
        &["0", "-1", "[]"],
    );
    let mut items = Vec::new();
    for part in layout.split("(").skip(1) {
        let Some((id, rest)) = part.split_once(", {") else {
            continue;
        };
        let Ok(id) = id.trim().parse::<i32>() else {
            continue;
        };
        if let Some(label) = rest
            .split("'label': <'")
            .nth(1)
            .and_then(|l| l.split('\'').next())
        {
            items.push((id, label.to_string()));
        }
    }
    items
}

fn click(bus: &Bus, name: &str, label: &str) {
    let items = menu_items(bus, name);
    let (id, _) = items
        .iter()
        .find(|(_, l)| l == label)
        .unwrap_or_else(|| panic!("no item {label:?} in {items:?}"));
    bus.call(
        name,
        "/MenuBar",
        "com.canonical.dbusmenu.Event",
        &[&id.to_string(), "clicked", "<int32 0>", "0"],
    );
}

#[tokio::test]
async fn the_tray_menu_pauses_and_resumes_the_workers_shows_the_window_and_quits() {
    let bus = Bus::start();
    let dir = tempfile::tempdir().unwrap();
    let mut runner = Runner::start(dir.path(), Some(&bus.address), &["--hidden"]);
    let (_link, mut events) = runner.connect().await;
    let tray = tray_name(&bus, runner.pid()).await;
    let labels = |items: Vec<(i32, String)>| items.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
    assert_eq!(
        labels(menu_items(&bus, &tray)),
        ["Show Baton", "Pause workers", "Check for updates…", "Quit"]
    );

    click(&bus, &tray, "Pause workers");
    wait_for(&mut events, STATUS_CHANGED, |p| p["paused"] == true).await;
    assert_eq!(labels(menu_items(&bus, &tray))[1], "Resume workers");
    click(&bus, &tray, "Resume workers");
    wait_for(&mut events, STATUS_CHANGED, |p| p["paused"] == false).await;

    click(&bus, &tray, "Show Baton");
    assert_eq!(runner.wait_for_window_starts(1).await, ["started"]);
    click(&bus, &tray, "Check for updates…");
    assert_eq!(
        runner.wait_for_window_starts(2).await[1],
        "started --check-updates"
    );

    click(&bus, &tray, "Quit");
    assert_eq!(runner.wait().code(), Some(0), "{}", runner.log());
    let db = runner.data_dir().join("baton.redb");
    assert!(!recovery_required(&db), "Quit left the database open");
}

#[tokio::test]
async fn a_click_on_a_notification_leaves_its_task_for_the_page_and_starts_the_window() {
    let bus = Bus::start();
    let server_py = concat!(env!("CARGO_MANIFEST_DIR"), "/../../e2e/notifications.py");
    let mut server = Command::new("/usr/bin/python3")
        .arg(server_py)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the stand-in notification server starts");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(value) = serde_json::from_str(&line) {
                let _ = lines_tx.send(value);
            }
        }
    });
    let mut next_line = async move |wanted: &dyn Fn(&Value) -> bool| {
        tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.recv().await {
                if wanted(&line) {
                    return line;
                }
            }
            panic!("the notification server stopped");
        })
        .await
        .expect("the notification server said nothing")
    };
    next_line(&|l| l["ready"] == true).await;

    let dir = tempfile::tempdir().unwrap();
    let mut runner = Runner::start(dir.path(), Some(&bus.address), &["--hidden"]);
    let (link, mut events) = runner.connect().await;
    let task = link
        .call(
            "submit_task",
            json!({"input": {"name": "noted", "prompt": "hi"}}),
        )
        .await
        .unwrap();
    let shown = next_line(&|l| l["notify"]["summary"] == "Task completed: noted").await;
    assert_eq!(shown["notify"]["body"], "echo: hi");
    assert!(shown["notify"]["actions"]
        .as_array()
        .unwrap()
        .contains(&json!("default")));

    use std::io::Write;
    let stdin = server.stdin.as_mut().unwrap();
    writeln!(stdin, "invoke {} default", shown["notify"]["id"]).unwrap();
    wait_for(&mut events, baton_shell::link::OPEN_REQUESTED, |_| true).await;
    let target = link.call("take_open_request", Value::Null).await.unwrap();
    assert_eq!(target, json!({"kind": "task", "id": task["id"]}));
    assert_eq!(
        link.call("take_open_request", Value::Null).await.unwrap(),
        Value::Null,
        "a request is handled once"
    );
    assert_eq!(runner.wait_for_window_starts(1).await, ["started"]);

    runner.signal(libc::SIGTERM);
    assert_eq!(runner.wait().code(), Some(0), "{}", runner.log());
    drop(server.stdin.take());
    let _ = server.wait();
}

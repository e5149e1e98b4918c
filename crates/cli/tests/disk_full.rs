//! A full disk, for real: the data directory is on a small tmpfs that a filler
//! file fills up. While it is full, writes through the running `baton run`
//! fail with the `storage` error and `/health` says `unwritable`; once the
//! filler is deleted, the same process accepts writes again and finishes every
//! task whose creation was acknowledged, including the one whose attempt ended
//! while the disk was full.
//!
//! Mounting needs root (CI runs as root); elsewhere run it inside
//! `unshare -rm cargo test -p baton-cli --test disk_full`. It never skips on
//! Linux; macOS and Windows have no tmpfs to mount, so it is Linux's only.
#![cfg(target_os = "linux")]

mod common;

use common::{count, Baton, Running};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs and needs root: run it as root, or inside `unshare -rm`; mount said: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the file system is full (ENOSPC).
fn fill(path: &Path) -> PathBuf {
    let mut file = std::fs::File::create(path).expect("create the filler");
    for chunk in [1 << 20, 4096, 1] {
        let block = vec![7u8; chunk];
        loop {
            match file.write_all(&block).and_then(|()| file.sync_all()) {
                Ok(()) => continue,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
    }
    path.to_path_buf()
}

/// `GET /health` on the running engine: (HTTP status, body).
fn health(baton: &Baton) -> (u16, Value) {
    let discovery: Value = serde_json::from_str(
        &std::fs::read_to_string(baton.data_dir().join("api.json")).expect("api.json"),
    )
    .unwrap();
    let token = std::fs::read_to_string(discovery["token_file"].as_str().unwrap()).unwrap();
    let addr = discovery["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect to the API");
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        token.trim()
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // A chunked body: the JSON object is the part between its braces.
    let json = &body[body.find('{').unwrap()..=body.rfind('}').unwrap()];
    (status, serde_json::from_str(json).unwrap())
}

fn running_engine(baton: &Baton) -> Running {
    let mut server = baton.spawn(&["run"]);
    server.wait_for("the engine to start", |log| {
        count(log, &["engine started"]) > 0
    });
    server
}

fn wait_running(baton: &Baton, id: &str) {
    let mut events = baton.spawn_stdout(&["events", "--json"]);
    events.wait_for("the subscription", |lines| {
        count(lines, &["following the events"]) > 0
    });
    if baton.task(id)["status"] == "running" {
        return;
    }
    events.wait_for(&format!("{id} to run"), |lines| {
        lines.iter().any(|line| {
            let event: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            event["task_id"] == id && event["to"] == "running"
        })
    });
}

#[test]
fn a_full_disk_fails_writes_clearly_and_the_same_process_finishes_every_acknowledged_task_once_space_is_freed(
) {
    let disk = Tmpfs::mount("24m");
    let baton = Baton::in_dir(disk.path());
    let mut server = running_engine(&baton);
    let mut acknowledged = Vec::new();

    // An attempt that is running when the disk fills up, and ends while it is full.
    let slow = baton.submit(&["the slow one", "--model", "sleep=4000"]);
    wait_running(&baton, &slow);
    acknowledged.push(slow.clone());

    let filler = fill(&disk.path().join("filler"));
    // Large prompts need new pages: writes fail at once on a full disk.
    let prompt = "x".repeat(512 * 1024);
    let refusal = loop {
        let out = baton.output_with_stdin(&["submit", "-"], prompt.as_bytes());
        if out.status.success() {
            // Room was left in the file: this one is acknowledged and must finish.
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            acknowledged.push(text.split_whitespace().last().unwrap().to_string());
            assert!(
                acknowledged.len() < 40,
                "writes never failed on a full disk"
            );
            continue;
        }
        break String::from_utf8_lossy(&out.stderr).into_owned();
    };
    assert!(
        refusal.contains("the database cannot be written") && refusal.contains("No space left"),
        "{refusal}"
    );
    let (status, body) = health(&baton);
    assert_eq!(
        (status, body["status"].as_str()),
        (503, Some("unwritable")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("No space left"),
        "{body}"
    );
    server.wait_for("the slow attempt's outcome to be kept", |log| {
        count(log, &["kept the outcomes of running attempts"]) > 0
    });
    // Still full: still refused, with the same clear sentence.
    let again = baton.output_with_stdin(&["submit", "-"], prompt.as_bytes());
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("the database cannot be written"),
        "{again:?}"
    );

    std::fs::remove_file(&filler).unwrap();
    server.wait_for("writes to resume", |log| {
        count(log, &["can be written again"]) > 0
    });
    assert_eq!(health(&baton).1["status"], "ok");
    acknowledged.push(baton.submit(&["after the disk was freed"]));
    baton.ok(&["wait", "--timeout", "60s"]);
    for id in &acknowledged {
        let task = baton.task(id);
        assert_eq!(task["status"], "completed", "{task}");
    }
    assert_eq!(baton.task(&slow)["output"], "echo: the slow one");
    assert_eq!(
        server.id(),
        std::fs::read_to_string(baton.data_dir().join("api.json"))
            .map(|t| serde_json::from_str::<Value>(&t).unwrap()["pid"].clone())
            .unwrap(),
        "the same process served throughout"
    );
}

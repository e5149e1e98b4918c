//! Runs the real `baton` binary against a temporary data directory.
//!
//! Processes are synchronised on what they print (a log line, an exit), each
//! wait bounded by a deadline so a broken build fails instead of hanging.

#![allow(dead_code)] // each test file uses a different part

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Generous: the machine running the tests may be busy building.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub struct Baton {
    dir: tempfile::TempDir,
}

/// A refused command: its exit status and its one sentence.
#[derive(Debug)]
pub struct Refusal {
    pub status: i32,
    pub message: String,
}

impl Baton {
    pub fn new() -> Baton {
        Baton {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A data directory inside `parent` (a small file system, say).
    pub fn in_dir(parent: &Path) -> Baton {
        Baton {
            dir: tempfile::tempdir_in(parent).expect("temp dir"),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_file(&self) -> PathBuf {
        self.dir.path().join("baton.redb")
    }

    /// `baton --data-dir DIR ARGS…`, isolated from the caller's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
        command
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("BATON_DATA_DIR")
            .env_remove("BATON_LOG")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null());
        command
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run baton")
    }

    pub fn output_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton");
        let mut pipe = child.stdin.take().unwrap();
        // The child may refuse before reading it all; a closed pipe is fine then.
        let _ = pipe.write_all(stdin);
        drop(pipe);
        child.wait_with_output().expect("wait for baton")
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.output(args), args)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let stdout = self.ok(args);
        serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "`baton {}` printed no JSON ({e}):\n{stdout}",
                args.join(" ")
            )
        })
    }

    /// Submits and returns the new id.
    pub fn submit(&self, args: &[&str]) -> String {
        let mut all = vec!["submit"];
        all.extend_from_slice(args);
        self.ok(&all).trim().to_string()
    }

    pub fn task(&self, id: &str) -> Value {
        self.json(&["show", id, "--json"])
    }

    /// Every task, newest first, as `list --json` prints them.
    pub fn tasks(&self) -> Vec<Value> {
        match self.json(&["list", "--json", "--limit", "10000"]) {
            Value::Array(tasks) => tasks,
            other => panic!("list --json printed {other}, not one array"),
        }
    }

    /// The raw `list --json` text: equal text means an unchanged database.
    pub fn snapshot(&self) -> String {
        self.ok(&["list", "--json", "--limit", "10000"])
    }

    /// Runs the engine until nothing is left to do.
    pub fn run_until_idle(&self) {
        self.ok(&["run", "--exit-when-idle"]);
    }

    pub fn refuse(&self, args: &[&str]) -> Refusal {
        refused(&self.output(args), args)
    }

    /// Starts a long-running command whose stderr (the logs) is read as it comes.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_reading(args, false, &[])
    }

    /// [`Baton::spawn`] with extra environment variables for the child only.
    pub fn spawn_env(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        self.spawn_reading(args, false, env)
    }

    /// Starts a long-running command whose stdout and stderr are both read, as
    /// they come, into one list of lines.
    pub fn spawn_stdout(&self, args: &[&str]) -> Running {
        self.spawn_reading(args, true, &[])
    }

    fn spawn_reading(&self, args: &[&str], stdout: bool, env: &[(&str, &str)]) -> Running {
        let out = if stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = self
            .command(args)
            .envs(env.iter().copied())
            .stdout(out)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn baton");
        let mut pipes: Vec<Box<dyn std::io::Read + Send>> =
            vec![Box::new(child.stderr.take().unwrap())];
        if stdout {
            pipes.push(Box::new(child.stdout.take().unwrap()));
        }
        let (tx, lines) = mpsc::channel();
        for pipe in pipes {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }
}

pub fn succeeded(output: &Output, args: &[&str]) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`baton {}` failed with {}:\nstdout: {stdout}\nstderr: {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Checks the error contract: non-zero, nothing on stdout, and stderr exactly
/// one line `baton: <sentence>` with no panic or backtrace.
pub fn refused(output: &Output, args: &[&str]) -> Refusal {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let context = format!(
        "`baton {}` → {}; stderr:\n{stderr}",
        args.join(" "),
        output.status
    );
    assert!(!output.status.success(), "{context}");
    assert!(
        output.stdout.is_empty(),
        "{context}\nstdout: {:?}",
        output.stdout
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{context}");
    let message = lines[0]
        .strip_prefix("baton: ")
        .unwrap_or_else(|| panic!("no `baton: ` prefix: {context}"));
    assert!(
        !message.is_empty() && !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{context}"
    );
    Refusal {
        status: output.status.code().expect("exited, not killed"),
        message: message.to_string(),
    }
}

/// A `baton` child whose log lines are collected as they arrive.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Reads log lines until `done(all lines so far)` holds. Panics with the log
    /// if the deadline passes or the process exits first.
    pub fn wait_for(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "timed out waiting for {what}; log:\n{}",
                        self.seen.join("\n")
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("baton exited before {what}; log:\n{}", self.seen.join("\n"))
                }
            }
        }
    }

    /// Waits for the process to exit on its own; returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        // Its stderr closes when it exits.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("baton did not exit; log:\n{}", self.seen.join("\n"))
                }
            }
        }
        self.child.wait().expect("wait for baton")
    }

    /// SIGKILL: no handler runs, nothing is flushed or shut down.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill baton");
        self.child.wait().expect("reap baton");
    }

    pub fn log(&self) -> &[String] {
        &self.seen
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Log lines containing every one of `words`.
/// Requests the engine recorded as submitted in provider batches, from its log.
pub fn batched(log: &[String]) -> usize {
    log.iter()
        .filter(|l| l.contains("batch submitted"))
        .filter_map(|l| l.split("requests=").nth(1))
        .filter_map(|n| n.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}

pub fn count(lines: &[String], words: &[&str]) -> usize {
    lines
        .iter()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .count()
}

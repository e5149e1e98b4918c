//! `<data-dir>/api.json`: how other processes find a running engine's API.
//!
//! The server writes it (temporary file + rename) once it listens, and removes
//! it on a clean shutdown. A file left by a process that died is recognised by
//! its pid and ignored; it is not removed, because a new server may be about to
//! replace it.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `<data-dir>/api.json`.
pub const DISCOVERY_FILE: &str = "api.json";

/// The content of `api.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// The process serving the API.
    pub pid: u32,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    /// The file holding the bearer token.
    pub token_file: PathBuf,
}

impl Discovery {
    /// The live server's discovery file in `data_dir`, if there is one. A
    /// missing or unreadable file, or one whose process is gone, is `None`.
    pub fn find(data_dir: &Path) -> Option<Discovery> {
        let path = data_dir.join(DISCOVERY_FILE);
        let text = std::fs::read_to_string(&path).ok()?;
        let found: Discovery = match serde_json::from_str(&text) {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(path = %path.display(), "ignoring an unreadable discovery file: {e}");
                return None;
            }
        };
        if !pid_alive(found.pid) {
            tracing::debug!(
                pid = found.pid,
                "ignoring a stale discovery file: its process is gone"
            );
            return None;
        }
        Some(found)
    }

    /// The bearer token, read from `token_file`.
    pub fn token(&self) -> std::io::Result<String> {
        crate::token::read_token(&self.token_file)
    }

    /// Whether a client may use this file found in `data_dir`: anyone who can
    /// write there could otherwise send the client's requests (and its token)
    /// to another machine, or have any file's content sent as a token. The URL
    /// must be `http://` on a loopback address, and the token file must be the
    /// data directory's own `api-token`. Returns the sentence saying what is
    /// wrong.
    pub fn check(&self, data_dir: &Path) -> Result<(), String> {
        if !is_loopback_url(&self.url) {
            return Err(format!(
                "it names the URL '{}', which is not http:// on this machine's loopback address",
                self.url
            ));
        }
        let inside = || -> Option<bool> {
            let dir = std::fs::canonicalize(data_dir).ok()?;
            let parent = std::fs::canonicalize(self.token_file.parent()?).ok()?;
            Some(parent == dir && self.token_file.file_name()? == crate::token::TOKEN_FILE)
        };
        if inside() != Some(true) {
            return Err(format!(
                "it names the token file {}, which is not the data directory's {}",
                self.token_file.display(),
                crate::token::TOKEN_FILE
            ));
        }
        Ok(())
    }

    pub(crate) fn write(&self, data_dir: &Path) -> std::io::Result<PathBuf> {
        let path = data_dir.join(DISCOVERY_FILE);
        let partial = data_dir.join(format!("{DISCOVERY_FILE}.partial.{}", std::process::id()));
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)? + "\n";
        let result = std::fs::write(&partial, text).and_then(|()| std::fs::rename(&partial, &path));
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result.map(|()| path)
    }

    /// Removes the file if it is still this one (another server may have
    /// replaced it since).
    pub(crate) fn remove_if_mine(&self, path: &Path) {
        let mine = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<Discovery>(&text).ok())
            .is_some_and(|found| &found == self);
        if mine {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), "cannot remove the discovery file: {e}");
            }
        }
    }
}

/// `http://127.0.0.1:PORT`, `http://localhost:PORT` or `http://[::1]:PORT`,
/// with nothing after the port.
fn is_loopback_url(url: &str) -> bool {
    let Some(authority) = url.strip_prefix("http://") else {
        return false;
    };
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    loopback && !port.is_empty() && port.parse::<u16>().is_ok()
}

/// Whether a process with this id exists. `kill(pid, 0)` sends nothing; EPERM
/// means it exists but belongs to someone else.
#[cfg(unix)]
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // 0 and negative pids name process groups, not a process.
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Without a cheap check, a file is trusted; a failed connection then tells.
#[cfg(not(unix))]
pub fn pid_alive(_pid: u32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pid: u32) -> Discovery {
        Discovery {
            pid,
            url: "http://127.0.0.1:1".into(),
            token_file: "/nonexistent/api-token".into(),
        }
    }

    #[test]
    fn a_file_of_a_live_process_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let mine = sample(std::process::id());
        let path = mine.write(dir.path()).unwrap();
        assert_eq!(Discovery::find(dir.path()), Some(mine.clone()));
        mine.remove_if_mine(&path);
        assert!(!path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn a_file_whose_process_is_gone_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        sample(dead).write(dir.path()).unwrap();
        assert_eq!(Discovery::find(dir.path()), None);
        assert!(dir.path().join(DISCOVERY_FILE).exists(), "left in place");
    }

    #[test]
    fn garbage_and_group_pids_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DISCOVERY_FILE), "{not json").unwrap();
        assert_eq!(Discovery::find(dir.path()), None);
        sample(0).write(dir.path()).unwrap();
        assert_eq!(Discovery::find(dir.path()), None);
    }

    #[test]
    fn only_loopback_http_urls_pass_the_check() {
        for good in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
            "http://127.0.0.2:80",
        ] {
            assert!(is_loopback_url(good), "{good}");
        }
        for bad in [
            "http://10.0.0.1:8080",
            "https://127.0.0.1:8080",
            "http://127.0.0.1:8080/x",
            "http://127.0.0.1@evil.example:80",
            "http://evil.example:80",
            "http://127.0.0.1",
            "http://localhost.evil.example:80",
        ] {
            assert!(!is_loopback_url(bad), "{bad}");
        }
    }

    #[test]
    fn another_servers_file_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = sample(std::process::id());
        let path = theirs.write(dir.path()).unwrap();
        let mut mine = theirs.clone();
        mine.url = "http://127.0.0.1:2".into();
        mine.remove_if_mine(&path);
        assert!(path.exists());
    }
}

//! The shared queue: whether the app keeps its tasks in this computer's redb
//! file or in a PostgreSQL database several machines share
//! (docs/scale-out.md), and the database password, which lives in the OS
//! keychain only.
//!
//! The settings file keeps the URL without a password and the "run tasks on
//! this computer" switch; the password is read from the keychain and put into
//! the URL in memory right before the engine opens, and that string is never
//! logged, shown or returned. No command returns a password, and messages are
//! scrubbed of it before they leave.

use crate::error::CommandError;
use serde::{Deserialize, Serialize};
use specta::Type;
use std::collections::HashMap;
use std::sync::Mutex;

/// Which shared queue the app uses, as saved in the settings file. No
/// password: that is in the keychain ([`PasswordStore`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueChoice {
    /// `postgres://user@host:port/db`, validated by [`validate_url`].
    pub url: String,
    /// False: this computer only follows the queue (runners elsewhere run it).
    pub run_tasks: bool,
}

/// What Settings → Shared queue shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct QueueSettings {
    /// The shared queue's URL (no password), or `None` on this computer's database.
    pub url: Option<String>,
    pub run_tasks: bool,
    /// Whether the keychain holds a password for `url` (never the password).
    pub password_saved: bool,
}

/// What the top bar shows on a shared queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct QueueStatus {
    /// "user@host:port/db".
    pub name: String,
    /// Runners whose lease is current (this computer's included when it runs tasks).
    pub runners: u32,
    pub runs_tasks_here: bool,
}

/// Checks a shared queue's URL as typed, and returns it trimmed. A URL that
/// carries a password is refused (without repeating it): the password belongs
/// in the keychain, and the URL is saved in a plain file.
pub fn validate_url(url: &str) -> Result<String, CommandError> {
    let url = url.trim();
    let bad = || {
        CommandError::invalid(
            "url",
            "The URL must be a PostgreSQL URL such as postgres://baton@db.example:5432/baton.",
        )
    };
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return Err(bad());
    };
    let config: postgres::Config = url.parse().map_err(|_| bad())?;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let userinfo = authority.rsplit_once('@').map(|(user, _)| user);
    if config.get_password().is_some() || userinfo.is_some_and(|u| u.contains(':')) {
        return Err(CommandError::invalid(
            "url",
            "Leave the password out of the URL and type it in the Password field: the URL is saved in a plain file, the password in the OS keychain.",
        ));
    }
    if config.get_hosts().is_empty() || userinfo.is_none_or(str::is_empty) {
        return Err(CommandError::invalid(
            "url",
            "The URL must name a user and a host, as in postgres://baton@db.example:5432/baton.",
        ));
    }
    Ok(url.to_string())
}

/// `url` (validated: it has a user and no password) with `password` put in
/// for the connection. The result holds a secret: never log or show it.
pub fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let Some((user, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    format!("{scheme}://{user}:{}@{host}", percent_encode(password))
}

/// Everything but RFC 3986's unreserved characters, so any password survives.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `text` with every occurrence of the password (as typed or as put in a URL)
/// removed: a last guard on messages that leave the shell.
pub fn scrub(text: &str, password: Option<&str>) -> String {
    match password.filter(|p| !p.is_empty()) {
        Some(p) => text
            .replace(p, "[redacted]")
            .replace(&percent_encode(p), "[redacted]"),
        None => text.to_string(),
    }
}

/// The keychain account of a queue's password: its name
/// ("user@host:port/db"), prefixed so it never meets a provider's key (filed
/// under the provider's name in the same service).
pub fn account(url: &str) -> String {
    format!("shared-queue {}", baton_engine::PgStore::describe(url))
}

/// Where database passwords are kept. Calls may block (D-Bus on Linux):
/// callers run them on the blocking pool.
pub trait PasswordStore: Send + Sync {
    fn get(&self, account: &str) -> Result<Option<String>, String>;
    fn set(&self, account: &str, password: &str) -> Result<(), String>;
}

/// The OS keychain, under the service provider keys use ([`baton_engine::KEYCHAIN_SERVICE`]).
pub struct Keychain;

impl Keychain {
    fn entry(account: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new(baton_engine::KEYCHAIN_SERVICE, account).map_err(keychain_error)
    }
}

/// One sentence; a keychain's errors never contain the secret, and they may
/// span lines (D-Bus).
fn keychain_error(e: keyring::Error) -> String {
    let detail = e
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match e {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => format!(
            "no OS keychain is available here ({detail}); leave the password empty and start Baton with PGPASSWORD set instead"
        ),
        _ => format!("the OS keychain refused: {detail}"),
    }
}

impl PasswordStore for Keychain {
    fn get(&self, account: &str) -> Result<Option<String>, String> {
        match Keychain::entry(account)?.get_password() {
            Ok(password) => Ok(Some(password)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keychain_error(e)),
        }
    }

    fn set(&self, account: &str, password: &str) -> Result<(), String> {
        Keychain::entry(account)?
            .set_password(password)
            .map_err(keychain_error)
    }
}

/// Passwords in memory, for tests (CI machines have no keychain daemon).
#[derive(Default)]
pub struct MemoryPasswords {
    saved: Mutex<HashMap<String, String>>,
}

impl PasswordStore for MemoryPasswords {
    fn get(&self, account: &str) -> Result<Option<String>, String> {
        Ok(self
            .saved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(account)
            .cloned())
    }

    fn set(&self, account: &str, password: &str) -> Result<(), String> {
        self.saved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account.to_string(), password.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_postgres_url_with_a_user_a_host_and_no_password_is_taken() {
        assert_eq!(
            validate_url("  postgres://baton@db.example:5432/baton ").unwrap(),
            "postgres://baton@db.example:5432/baton"
        );
        assert!(validate_url("postgresql://me@127.0.0.1/q").is_ok());
        for bad in [
            "",
            "db.example:5432/baton",
            "mysql://baton@db.example/baton",
            "https://db.example",
            "postgres://baton@db.example:notaport/baton",
        ] {
            let err = validate_url(bad).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("url"), "{bad}");
            assert!(err.message.contains("PostgreSQL URL"), "{bad}: {err}");
        }
        let err = validate_url("postgres://db.example/baton").unwrap_err();
        assert!(err.message.contains("name a user"), "{err}");
        let err = validate_url("postgres://baton:hunter2@db.example/baton").unwrap_err();
        assert!(err.message.contains("Password field"), "{err}");
        assert!(!err.message.contains("hunter2"));
    }

    #[test]
    fn any_password_survives_being_put_into_the_url() {
        let password = "p@ss:w/rd %?#ü";
        let url = with_password("postgres://baton@db.example:5432/baton", password);
        let config: postgres::Config = url.parse().unwrap();
        assert_eq!(config.get_password(), Some(password.as_bytes()));
        assert_eq!(config.get_user(), Some("baton"));
        assert_eq!(config.get_dbname(), Some("baton"));
        assert_eq!(
            scrub(&format!("failed for {url} ({password})"), Some(password)),
            "failed for postgres://baton:[redacted]@db.example:5432/baton ([redacted])"
        );
    }
}

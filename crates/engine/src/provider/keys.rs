//! API keys: in the OS keychain (Secret Service, macOS Keychain, Windows
//! Credential Manager) through `keyring`, or in an environment variable the
//! provider's settings name. A key is held in an [`ApiKey`], which never prints
//! itself; nothing writes one to the database, an export or a log, and error
//! messages pass through [`redact`].
//!
//! Keychain calls block (D-Bus on Linux): callers run them on the blocking pool.

use super::settings::KeyRef;
use std::fmt;

/// The keychain service every Baton key is filed under; the account is the
/// provider's name.
pub const KEYCHAIN_SERVICE: &str = "baton";

/// A secret. `Debug` and `Display` show only that it is there.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Trims surrounding whitespace (a pasted newline); refuses an empty key.
    pub fn new(key: impl Into<String>) -> Option<ApiKey> {
        let key = key.into();
        let trimmed = key.trim();
        (!trimmed.is_empty()).then(|| ApiKey(trimmed.to_string()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Why a key could not be stored or found. Never contains the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("no OS keychain is available here ({0}); keep the key in an environment variable instead and name it with --key-env VAR")]
    NoKeychain(String),
    #[error("the OS keychain refused: {0}")]
    Keychain(String),
    #[error("the OS keychain holds no key for provider '{0}'; store one with `baton provider add {0} … --key-stdin`")]
    NotInKeychain(String),
    #[error("provider '{provider}' takes its key from ${var}, which is not set; export it")]
    EnvMissing { provider: String, var: String },
}

fn entry(provider: &str) -> Result<keyring::Entry, KeyError> {
    keyring::Entry::new(KEYCHAIN_SERVICE, provider).map_err(keychain_error)
}

fn keychain_error(e: keyring::Error) -> KeyError {
    match e {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            KeyError::NoKeychain(one_line(&inner.to_string()))
        }
        other => KeyError::Keychain(one_line(&other.to_string())),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Stores `key` for `provider`, replacing any earlier one.
pub(crate) fn store(provider: &str, key: &ApiKey) -> Result<(), KeyError> {
    entry(provider)?
        .set_password(key.expose())
        .map_err(keychain_error)
}

/// Deletes `provider`'s key; no key is not an error.
pub(crate) fn delete(provider: &str) -> Result<(), KeyError> {
    match entry(provider)?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(keychain_error(e)),
    }
}

/// The key a request to `provider` should carry; `None` when it takes none.
pub(crate) fn resolve(provider: &str, source: &KeyRef) -> Result<Option<ApiKey>, KeyError> {
    match source {
        KeyRef::None => Ok(None),
        KeyRef::Env { var } => std::env::var(var)
            .ok()
            .and_then(ApiKey::new)
            .map(Some)
            .ok_or_else(|| KeyError::EnvMissing {
                provider: provider.to_string(),
                var: var.clone(),
            }),
        KeyRef::Keychain => match entry(provider)?.get_password() {
            Ok(key) => Ok(ApiKey::new(key)),
            Err(keyring::Error::NoEntry) => Err(KeyError::NotInKeychain(provider.to_string())),
            Err(e) => Err(keychain_error(e)),
        },
    }
}

/// `text` with every occurrence of the key replaced, and of its first or last
/// 8+ characters too: some providers echo a key back half-masked ("sk-abc…xyz").
pub(crate) fn redact(text: &str, key: Option<&ApiKey>) -> String {
    let Some(key) = key.map(ApiKey::expose).filter(|k| k.chars().count() >= 8) else {
        return text.to_string();
    };
    let mut out = text.replace(key, "[redacted]");
    let chars: Vec<char> = key.chars().collect();
    let n = chars.len();
    for len in (8..n).rev() {
        for piece in [&chars[..len], &chars[n - len..]] {
            let piece: String = piece.iter().collect();
            if out.contains(&piece) {
                out = out.replace(&piece, "[redacted]");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_never_prints_itself() {
        let key = ApiKey::new("  sk-secret-123456 \n").unwrap();
        assert_eq!(key.expose(), "sk-secret-123456");
        assert!(!format!("{key:?}").contains("secret"));
        assert!(ApiKey::new(" \n").is_none());
    }

    #[test]
    fn redact_removes_the_key_and_long_pieces_of_it() {
        let key = ApiKey::new("sk-proj-ABCDEFGHIJKLMNOP").unwrap();
        let text =
            "Incorrect API key provided: sk-proj-ABCDEFGHIJKLMNOP. Also sk-proj-AB****GHIJKLMNOP";
        let clean = redact(text, Some(&key));
        assert!(
            !clean.contains("sk-proj-A") && !clean.contains("GHIJKLMNOP"),
            "{clean}"
        );
        assert!(
            clean.starts_with("Incorrect API key provided: [redacted]"),
            "{clean}"
        );
        assert_eq!(redact("nothing here", Some(&key)), "nothing here");
        assert_eq!(redact("x", None), "x");
    }

    #[test]
    fn a_missing_environment_variable_is_named() {
        let err = resolve(
            "openai",
            &KeyRef::Env {
                var: "BATON_TEST_SURELY_UNSET_VAR".into(),
            },
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("$BATON_TEST_SURELY_UNSET_VAR") && text.contains("openai"),
            "{text}"
        );
    }

    /// On a machine without a keychain daemon (CI), storing must fail with a
    /// sentence that says so and points at the variable; where a keychain is
    /// there, the key round-trips and is deleted again.
    #[test]
    fn the_keychain_works_or_says_clearly_that_it_is_missing() {
        let provider = format!("baton-test-{}", std::process::id());
        let key = ApiKey::new("sk-keychain-test-value").unwrap();
        match store(&provider, &key) {
            Ok(()) => {
                assert_eq!(resolve(&provider, &KeyRef::Keychain).unwrap(), Some(key));
                delete(&provider).unwrap();
                assert!(matches!(
                    resolve(&provider, &KeyRef::Keychain),
                    Err(KeyError::NotInKeychain(_)) | Err(KeyError::NoKeychain(_))
                ));
            }
            Err(e) => {
                let text = e.to_string();
                assert!(matches!(e, KeyError::NoKeychain(_)), "{e:?}");
                assert!(
                    text.contains("no OS keychain") && text.contains("--key-env"),
                    "{text}"
                );
                assert!(!text.contains("sk-keychain-test-value"));
            }
        }
    }
}

//! The bearer token: made once, at the first start, and kept in the data
//! directory readable by its owner only.

use crate::error::ApiError;
use rand::Rng;
use std::io::Write;
use std::path::{Path, PathBuf};

/// `<data-dir>/api-token`.
pub const TOKEN_FILE: &str = "api-token";

/// The token in `dir`, made now if there is none. A file others can read is
/// tightened to the owner before the token is used.
pub(crate) fn load_or_create(dir: &Path) -> Result<(String, PathBuf), ApiError> {
    let path = dir.join(TOKEN_FILE);
    let fail = |detail: String| ApiError::Token {
        path: path.clone(),
        detail,
    };
    if !path.exists() {
        create(&path).map_err(|e| fail(e.to_string()))?;
    }
    restrict(&path).map_err(|e| fail(e.to_string()))?;
    let token = read_token(&path).map_err(|e| fail(e.to_string()))?;
    Ok((token, path))
}

/// Reads a token file: its content without surrounding whitespace, not empty.
pub fn read_token(path: &Path) -> std::io::Result<String> {
    let token = std::fs::read_to_string(path)?.trim().to_string();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file holds no token (delete it and a new one is made)",
        ));
    }
    Ok(token)
}

/// Written under a temporary name and linked into place, so a reader never sees
/// a half-written token and two first starts cannot both create one.
fn create(path: &Path) -> std::io::Result<()> {
    let bytes: [u8; 32] = rand::rng().random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let partial = path.with_extension(format!("partial.{}", std::process::id()));
    let mut file = owner_only_file(&partial)?;
    let written = file
        .write_all(token.as_bytes())
        .and_then(|()| file.sync_all());
    let linked = written.and_then(|()| match std::fs::hard_link(&partial, path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = std::fs::remove_file(&partial);
    linked
}

#[cfg(unix)]
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "the API token file was readable by others; making it owner-only");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Compares without stopping at the first differing byte, so the time taken
/// says nothing about how much of a guess was right.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (first, path) = load_or_create(dir.path()).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
        let (second, _) = load_or_create(dir.path()).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = path;
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_readable_by_others_is_made_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE);
        std::fs::write(&path, "my-own-token\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (token, _) = load_or_create(dir.path()).unwrap();
        assert_eq!(token, "my-own-token");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_empty_token_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOKEN_FILE), "  \n").unwrap();
        assert!(load_or_create(dir.path()).is_err());
    }

    #[test]
    fn comparison_needs_every_byte() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}

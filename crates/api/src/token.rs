//! The bearer token: made once, at the first start, and kept in the data
//! directory readable by its owner only.
//!
//! The file must be a regular file owned by this user: it is opened without
//! following a symlink and checked on the open handle, so a link planted in the
//! data directory can neither have its target's mode changed nor be read and
//! sent as a token. A token others could read is no secret any more: it is
//! replaced, not only tightened.

use crate::error::ApiError;
use rand::Rng;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `<data-dir>/api-token`.
pub const TOKEN_FILE: &str = "api-token";

/// Shortest token accepted, in bytes: a guessable token is no lock.
pub const MIN_TOKEN_BYTES: usize = 32;

/// The token in `dir`, made now if there is none, replaced by a new one if
/// others could read it.
pub(crate) fn load_or_create(dir: &Path) -> Result<(String, PathBuf), ApiError> {
    let path = dir.join(TOKEN_FILE);
    let fail = |detail: String| ApiError::Token {
        path: path.clone(),
        detail,
    };
    if std::fs::symlink_metadata(&path).is_err() {
        create(&path).map_err(|e| fail(e.to_string()))?;
    }
    if let Opened::Loose = open_checked(&path).map_err(|e| fail(e.to_string()))? {
        tracing::warn!(path = %path.display(), "the API token file was readable by others; replacing the token");
        replace(&path).map_err(|e| fail(e.to_string()))?;
    }
    let token = read_token(&path).map_err(|e| fail(e.to_string()))?;
    Ok((token, path))
}

/// A token file that passed the checks, or one others may read or write.
enum Opened {
    Private(std::fs::File),
    Loose,
}

/// Reads a token file: its content without surrounding whitespace, at least
/// [`MIN_TOKEN_BYTES`] long, from a regular file owned by this user that only
/// its owner may read.
pub fn read_token(path: &Path) -> std::io::Result<String> {
    let Opened::Private(mut file) = open_checked(path)? else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "others may read it, so the token is no secret; the engine replaces it at its next start",
        ));
    };
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let token = text.trim().to_string();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file holds no token (delete it and a new one is made)",
        ));
    }
    if token.len() < MIN_TOKEN_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the token is {} bytes, shorter than {MIN_TOKEN_BYTES} (delete the file and a new one is made)",
                token.len()
            ),
        ));
    }
    Ok(token)
}

/// Opens `path` for reading without following a symlink, and checks the open
/// file: regular and owned by this user, else an error; whether others may
/// read or write it.
#[cfg(unix)]
fn open_checked(path: &Path) -> std::io::Result<Opened> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let refuse = |kind, why: &str| Err(std::io::Error::new(kind, why.to_string()));
    let file = match std::fs::OpenOptions::new()
        .read(true)
        // O_NONBLOCK: opening a FIFO must not wait for a writer.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return refuse(
                std::io::ErrorKind::InvalidInput,
                "it is a symbolic link, not a regular file; remove it and a new token is made",
            )
        }
        other => other?,
    };
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return refuse(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file; remove it and a new token is made",
        );
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return refuse(
            std::io::ErrorKind::PermissionDenied,
            "it belongs to another user; remove it and a new token is made",
        );
    }
    if meta.mode() & 0o077 != 0 {
        return Ok(Opened::Loose);
    }
    Ok(Opened::Private(file))
}

#[cfg(not(unix))]
fn open_checked(path: &Path) -> std::io::Result<Opened> {
    std::fs::File::open(path).map(Opened::Private)
}

/// A new token, written beside the old file and renamed over it.
fn replace(path: &Path) -> std::io::Result<()> {
    let partial = path.with_extension(format!("partial.{}", std::process::id()));
    let _ = std::fs::remove_file(&partial);
    let result = write_new(&partial).and_then(|()| std::fs::rename(&partial, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn write_new(path: &Path) -> std::io::Result<()> {
    let bytes: [u8; 32] = rand::rng().random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = owner_only_file(path)?;
    file.write_all(token.as_bytes())?;
    file.sync_all()
}

/// Written under a temporary name and linked into place, so a reader never sees
/// a half-written token and two first starts cannot both create one.
fn create(path: &Path) -> std::io::Result<()> {
    let partial = path.with_extension(format!("partial.{}", std::process::id()));
    let linked = write_new(&partial).and_then(|()| match std::fs::hard_link(&partial, path) {
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
    fn write_mode(path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn a_token_readable_by_others_is_replaced_by_a_new_owner_only_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE);
        let leaked = "a".repeat(64);
        write_mode(&path, &leaked, 0o644);
        assert!(
            read_token(&path).is_err(),
            "a client must not send it either"
        );
        let (token, _) = load_or_create(dir.path()).unwrap();
        assert_ne!(token, leaked);
        assert_eq!(token.len(), 64);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(read_token(&path).unwrap(), token);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_token_file_is_refused_and_its_target_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        write_mode(&target, &"b".repeat(64), 0o644);
        std::os::unix::fs::symlink(&target, dir.path().join(TOKEN_FILE)).unwrap();
        let err = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(mode(&target), 0o644, "the target's mode was changed");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "b".repeat(64));
        assert!(read_token(&dir.path().join(TOKEN_FILE)).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_that_is_not_a_regular_file_or_not_the_users_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE);
        std::fs::create_dir(&path).unwrap();
        let err = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir(&path).unwrap();
        // Only root can give a file away; elsewhere this part cannot be staged.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            write_mode(&path, &"c".repeat(64), 0o600);
            std::os::unix::fs::chown(&path, Some(4242), None).unwrap();
            let err = load_or_create(dir.path()).unwrap_err().to_string();
            assert!(err.contains("another user"), "{err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn empty_and_short_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE);
        write_mode(&path, "  \n", 0o600);
        assert!(load_or_create(dir.path()).is_err());
        write_mode(&path, "my-own-token\n", 0o600);
        let err = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("shorter than 32"), "{err}");
    }

    #[test]
    fn comparison_needs_every_byte() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}

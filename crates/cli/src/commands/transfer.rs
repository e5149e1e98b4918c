//! Export and import of the versioned JSON file.

use super::{with_backend, with_reader};
use crate::args::{ExportArgs, ImportArgs};
use crate::error::CliError;
use crate::output;
use baton_engine::ImportError;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

pub async fn export(db: &Path, args: ExportArgs) -> Result<(), CliError> {
    // The destination is checked before anything is read: a refused one costs nothing.
    let out = args.out.map(|path| Destination::open(&path)).transpose()?;
    let file = with_reader(db, |backend| async move { backend.export().await }).await?;
    let text = output::json(&file)?;
    let Some(mut out) = out else {
        return output::emit(&text);
    };
    out.write(text.as_bytes())?;
    let Some(path) = out.commit()? else {
        return Ok(()); // `--out -`: standard output holds the file alone
    };
    output::emit(&format!(
        "exported {} tasks and {} schedules to {}\n",
        file.tasks.len(),
        file.schedules.len(),
        path.display()
    ))
}

/// Where `export --out PATH` writes. An existing regular file, or the file a
/// symlink leads to, is replaced whole and atomically: the new content goes to
/// a temporary file in the target's own directory, which is renamed onto the
/// resolved path with the old file's mode, so an interrupted export never
/// leaves half a file and a symlink stays a symlink. A directory, FIFO, socket
/// or device is refused (renaming over `/dev/full` would replace the device
/// with a regular file). `-` is standard output.
pub(super) enum Destination {
    Stdout,
    File {
        /// The resolved path the temporary file is renamed onto.
        target: PathBuf,
        /// As the user wrote it, for messages.
        given: PathBuf,
        temp: PathBuf,
        file: std::fs::File,
        committed: bool,
    },
}

impl Destination {
    pub(super) fn open(given: &Path) -> Result<Destination, CliError> {
        if given.as_os_str() == "-" {
            return Ok(Destination::Stdout);
        }
        let fail = |detail: String| CliError::File {
            action: "write the export to",
            path: given.to_path_buf(),
            detail,
        };
        let (target, mode) = match std::fs::metadata(given) {
            Ok(meta) if meta.is_file() => {
                let target = std::fs::canonicalize(given).map_err(|e| fail(e.to_string()))?;
                (target, permissions_of(&meta))
            }
            Ok(meta) if meta.is_dir() => return Err(fail("it is a directory".into())),
            Ok(_) => {
                return Err(fail(
                    "it is not a regular file (a device, FIFO or socket); name a file, or - for standard output".into(),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if std::fs::symlink_metadata(given).is_ok() {
                    return Err(fail("it is a symbolic link to nothing".into()));
                }
                let name = given
                    .file_name()
                    .ok_or_else(|| fail("it does not name a file".into()))?;
                let parent = match given.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                let dir = std::fs::canonicalize(parent).map_err(|e| fail(e.to_string()))?;
                // A new export holds every prompt and output: owner only.
                (dir.join(name), NEW_FILE_MODE)
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let temp = target.with_file_name(format!(".{name}.partial.{}", std::process::id()));
        let file = create_exclusive(&temp, mode).map_err(|e| fail(e.to_string()))?;
        Ok(Destination::File {
            target,
            given: given.to_path_buf(),
            temp,
            file,
            committed: false,
        })
    }

    pub(super) fn write(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        match self {
            Destination::Stdout => output::emit(&String::from_utf8_lossy(bytes)),
            Destination::File { file, given, .. } => {
                file.write_all(bytes).map_err(|e| CliError::File {
                    action: "write the export to",
                    path: given.clone(),
                    detail: e.to_string(),
                })
            }
        }
    }

    /// Makes the written content the destination's; the path written, unless
    /// it was standard output.
    pub(super) fn commit(mut self) -> Result<Option<PathBuf>, CliError> {
        let Destination::File {
            target,
            given,
            temp,
            file,
            committed,
        } = &mut self
        else {
            return Ok(None);
        };
        file.sync_all()
            .and_then(|()| std::fs::rename(&*temp, &*target))
            .map_err(|e| CliError::File {
                action: "write the export to",
                path: given.clone(),
                detail: e.to_string(),
            })?;
        *committed = true;
        Ok(Some(given.clone()))
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        if let Destination::File {
            temp,
            committed: false,
            ..
        } = self
        {
            let _ = std::fs::remove_file(temp);
        }
    }
}

const NEW_FILE_MODE: u32 = 0o600;

#[cfg(unix)]
fn permissions_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permissions_of(_meta: &std::fs::Metadata) -> u32 {
    NEW_FILE_MODE
}

/// A new file that did not exist (never a file or link someone put there),
/// with `mode` set exactly (not reduced by the umask).
fn create_exclusive(path: &Path, mode: u32) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(file)
}

pub async fn import(db: &Path, args: ImportArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.file).map_err(|e| CliError::File {
        action: "read",
        path: args.file.clone(),
        detail: e.to_string(),
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ImportError::NotJson("the file is not UTF-8 text".into()))?;
    let report = with_backend(db, |backend| async move { backend.import(text).await }).await?;
    let mut out = format!(
        "imported {} tasks and {} schedules\n",
        report.imported, report.schedules_imported
    );
    if !report.skipped_existing.is_empty() {
        let _ = writeln!(
            out,
            "skipped {} tasks already in the database:",
            report.skipped_existing.len()
        );
        for id in &report.skipped_existing {
            let _ = writeln!(out, "  {id}");
        }
    }
    if !report.skipped_schedules.is_empty() {
        let _ = writeln!(
            out,
            "skipped {} schedules whose id or name is already in the database:",
            report.skipped_schedules.len()
        );
        for name in &report.skipped_schedules {
            let _ = writeln!(out, "  {name}");
        }
    }
    if report.groups_imported > 0 {
        let _ = writeln!(out, "imported {} groups", report.groups_imported);
    }
    if !report.skipped_groups.is_empty() {
        let _ = writeln!(
            out,
            "skipped {} groups whose id or name is already in the database:",
            report.skipped_groups.len()
        );
        for name in &report.skipped_groups {
            let _ = writeln!(out, "  {name}");
        }
    }
    output::emit(&out)
}

//! Export and import of the versioned JSON file.

use super::{with_backend, with_reader};
use crate::args::{ExportArgs, ImportArgs};
use crate::error::CliError;
use crate::output;
use baton_engine::ImportError;
use std::fmt::Write as _;
use std::path::Path;

pub async fn export(db: &Path, args: ExportArgs) -> Result<(), CliError> {
    let file = with_reader(db, |backend| async move { backend.export().await }).await?;
    let text = output::json(&file)?;
    let Some(path) = args.out else {
        return output::emit(&text);
    };
    // Written beside the target and renamed over it, so an interrupted export
    // never leaves a half file where a good one was.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, &text)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            CliError::File {
                action: "write the export to",
                path: path.clone(),
                detail: e.to_string(),
            }
        })?;
    output::emit(&format!(
        "exported {} tasks and {} schedules to {}\n",
        file.tasks.len(),
        file.schedules.len(),
        path.display()
    ))
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
    output::emit(&out)
}

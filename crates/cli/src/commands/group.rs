//! `baton map` and `baton group list|show|cancel|retry|export`: one prompt
//! over many rows, followed as one group (docs/groups.md).

use super::transfer::Destination;
use super::{with_backend, with_reader};
use crate::error::CliError;
use crate::output;
use baton_engine::{JoinOn, NewJoin, NewMap, NewTask, ResultFormat, RowSource};
use clap::{ArgGroup, Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["csv", "jsonl", "lines"])))]
pub struct MapArgs {
    /// The group's name (unique, any case)
    #[arg(id = "group_name", value_name = "NAME")]
    pub name: String,
    /// The prompt run for each row: {{row.COLUMN}} names a column (CSV, JSON
    /// Lines), {{item}} the line (--lines); `-` reads it from standard input
    pub prompt: String,
    /// A CSV file with a header row: one task per row
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// A JSON Lines file of objects: one task per line
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// A text file: one task per non-blank line
    #[arg(long, value_name = "FILE")]
    pub lines: Option<PathBuf>,
    /// A task run once every row has ended, on every answer in input order ({{items}})
    #[arg(long, value_name = "INSTRUCTION")]
    pub join: Option<String>,
    /// When the join runs: only if every row completed (all), or on those that did (completed)
    #[arg(
        long,
        value_enum,
        value_name = "POLICY",
        requires = "join",
        default_value = "all"
    )]
    pub join_on: JoinOn,
    /// The settings of every row's task (and the join's)
    #[command(flatten)]
    pub task: NewTask,
    /// Print the group as JSON instead of its id
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(subcommand)]
    pub command: GroupCommand,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Every group with its progress
    List(JsonFlag),
    /// A group's progress and its rows' states
    Show(KeyArgs),
    /// Cancel every row and the join that have not finished
    Cancel(KeyArgs),
    /// Retry every failed or cancelled row; the join waits for them again
    Retry(KeyArgs),
    /// The results in input order: the input's columns, then the answer, status, tokens, cost
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The group's name or id
    pub group: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The group's name or id
    pub group: String,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ResultFormat,
    /// Write here instead of standard output; an existing file is replaced atomically
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Rows `group show` lists.
const SHOWN_ROWS: usize = 50;

pub async fn map(db: &Path, args: MapArgs) -> Result<(), CliError> {
    let (source, path) = match (&args.csv, &args.jsonl, &args.lines) {
        (Some(p), _, _) => (RowSource::Csv, p),
        (_, Some(p), _) => (RowSource::Jsonl, p),
        (_, _, Some(p)) => (RowSource::Lines, p),
        _ => unreachable!("clap requires one input"),
    };
    if args.task.name.is_some() {
        return Err(CliError::usage(
            "--name does not apply to map: each row's task is named after the group and its row number",
        ));
    }
    let data = read_input(path)?;
    let prompt = crate::input::prompt(&args.prompt, std::io::stdin())?;
    let task = crate::input::task(prompt, &args.task)?;
    let new = NewMap {
        name: args.name,
        source,
        data,
        task,
        join: args.join.map(|instruction| NewJoin {
            instruction,
            on: args.join_on,
        }),
    };
    let group = with_backend(db, |backend| async move { backend.map(new).await }).await?;
    output::emit(&if args.json {
        output::json(&group)?
    } else {
        format!("{}\n", group.id)
    })
}

/// The input file's text; its size is checked before it is read, so a huge
/// file is refused without being loaded.
fn read_input(path: &Path) -> Result<String, CliError> {
    let fail = |detail: String| CliError::File {
        action: "read the rows from",
        path: path.to_path_buf(),
        detail,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("it is not a regular file".into()));
    }
    baton_engine::check_input_size(meta.len())?;
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    Ok(baton_engine::decode_rows(&bytes)?.to_string())
}

pub async fn run(db: &Path, args: GroupArgs) -> Result<(), CliError> {
    match args.command {
        GroupCommand::List(a) => {
            let groups = with_reader(db, |backend| async move { backend.groups().await }).await?;
            output::emit(&if a.json {
                output::json(&groups)?
            } else {
                output::groups(&groups)
            })
        }
        GroupCommand::Show(a) => {
            let key = a.group;
            let (group, rows) = with_reader(db, |backend| async move {
                let group = backend.find_group(&key).await?;
                let rows = backend.group_tasks(group.id, 0, SHOWN_ROWS).await?;
                Ok((group, rows))
            })
            .await?;
            output::emit(&if a.json {
                output::json(&group)?
            } else {
                output::group(&group, &rows)
            })
        }
        GroupCommand::Cancel(a) => {
            let key = a.group;
            let group = with_backend(db, |backend| async move {
                let group = backend.find_group(&key).await?;
                backend.cancel_group(group.id).await
            })
            .await?;
            output::emit(&if a.json {
                output::json(&group)?
            } else {
                format!(
                    "cancelled group '{}': {} of {} rows cancelled\n",
                    group.name, group.cancelled, group.total
                )
            })
        }
        GroupCommand::Retry(a) => {
            let key = a.group;
            let group = with_backend(db, |backend| async move {
                let group = backend.find_group(&key).await?;
                backend.retry_group(group.id).await
            })
            .await?;
            output::emit(&if a.json {
                output::json(&group)?
            } else {
                format!(
                    "retrying group '{}': {} of {} rows to run\n",
                    group.name,
                    group.pending(),
                    group.total
                )
            })
        }
        GroupCommand::Export(a) => {
            // The destination is checked before anything is read.
            let out = a.out.map(|path| Destination::open(&path)).transpose()?;
            let key = a.group;
            let format = a.format;
            let (group, bytes) = with_reader(db, |backend| async move {
                let group = backend.find_group(&key).await?;
                let bytes = backend.export_group(group.id, format).await?;
                Ok((group, bytes))
            })
            .await?;
            let Some(mut out) = out else {
                return output::emit_bytes(&bytes);
            };
            out.write(&bytes)?;
            let Some(path) = out.commit()? else {
                return Ok(());
            };
            output::emit(&format!(
                "exported {} rows of group '{}' to {}\n",
                group.total,
                group.name,
                path.display()
            ))
        }
    }
}

//! Commands that read: list and show.

use super::with_reader;
use crate::args::{ListArgs, ShowArgs};
use crate::error::CliError;
use crate::{input, output};
use baton_engine::ListQuery;
use std::path::Path;

pub async fn list(db: &Path, args: ListArgs) -> Result<(), CliError> {
    let query = ListQuery {
        filter: args.filter,
        limit: input::limit(args.limit)?,
        ..ListQuery::default()
    };
    let tasks = with_reader(db, |backend| async move { backend.list(query).await }).await?;
    output::emit(&if args.json {
        output::json(&tasks)?
    } else {
        output::table(&tasks)
    })
}

pub async fn show(db: &Path, args: ShowArgs) -> Result<(), CliError> {
    let id = input::task_id(&args.id)?;
    let task = with_reader(db, |backend| async move { backend.get(id).await }).await?;
    output::emit(&if args.json {
        output::json(&task)?
    } else {
        output::details(&task)
    })
}

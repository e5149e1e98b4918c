//! Commands that read: list and show.

use super::with_reader;
use crate::args::{ListArgs, ShowArgs};
use crate::error::CliError;
use crate::{input, output};
use baton_engine::ListQuery;
use std::path::Path;

pub async fn list(db: &Path, args: ListArgs) -> Result<(), CliError> {
    let limit = input::limit(args.limit)?;
    let tasks = match args.group {
        // A group's rows in input order, with the other filters applied to them.
        Some(key) => {
            let filter = args.filter;
            with_reader(db, |backend| async move {
                let group = backend.find_group(&key).await?;
                let mut out = Vec::new();
                let mut offset = 0;
                while out.len() < limit {
                    let page = backend.group_tasks(group.id, offset, 1000).await?;
                    offset += page.len();
                    let last = page.len() < 1000;
                    out.extend(page.into_iter().filter(|t| filter.passes(t)));
                    if last {
                        break;
                    }
                }
                out.truncate(limit);
                Ok(out)
            })
            .await?
        }
        None => {
            let query = ListQuery {
                filter: args.filter,
                limit,
                ..ListQuery::default()
            };
            with_reader(db, |backend| async move { backend.list(query).await }).await?
        }
    };
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

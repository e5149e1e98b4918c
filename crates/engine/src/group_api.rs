//! The engine's group operations (`map`), for the CLI, the API and the
//! desktop: create, list, show, cancel, retry, export (docs/groups.md).

use crate::engine::Engine;
use crate::error::TaskError;
use crate::group::{self, Group, GroupId, GroupMember, GroupOp, NewMap};
use crate::rows::{ResultFormat, Rows};
use crate::storage::Storage;
use crate::task::{self, Task, TaskId};

/// Row tasks read at a time when a group is exported.
const EXPORT_PAGE: usize = 1000;

impl Engine {
    /// Creates a group: one task per row of `new.data`, and the join if asked,
    /// in one transaction. Refused with the row or field named, and nothing
    /// created, when the input or the prompt is wrong.
    pub async fn map(&self, new: NewMap) -> Result<Group, TaskError> {
        let name = group::validate_name(&new.name)?;
        let rows = crate::rows::parse(new.source, &new.data)?;
        let template = new.task.prompt.clone();
        task::validate_prompt(&template)?;
        crate::prompt::check_map_prompt(&template, &rows)?;
        if let Some(join) = &new.join {
            task::validate_prompt(&join.instruction).map_err(|e| rename(e, "join"))?;
            crate::prompt::check_join_instruction(&join.instruction)?;
        }
        // One file for every row's answer would keep only the last: a file
        // takes the join's answer, and without a join there is the export.
        if new.task.deliver.to_file.is_some() && new.join.is_none() {
            return Err(TaskError::invalid(
                "to_file",
                "every row would write its answer over the same file: export the results with `group export`, or add a join whose answer goes to the file",
            ));
        }
        // Every other field is checked as a task's; the prompt was checked above.
        let mut fields = new.task;
        fields.prompt = "row".to_string();
        fields.name = Some(name.clone());
        let mut base = self.build(fields, None, crate::prompt::Scope::TASK)?;
        base.timezone = crate::prompt::has_variables(&template)
            .then(|| self.inner().local_zone.name().to_string());
        let id = GroupId::new();
        let mut row_base = base.clone();
        row_base.deliver.to_file = None;
        let tasks = row_tasks(&row_base, &name, &template, id, &rows)?;
        let join = new.join.as_ref().map(|j| {
            let mut t = base.clone();
            t.id = TaskId::new();
            t.name = format!("{name} · join");
            t.prompt = j.instruction.clone();
            // The rows' answers are read as text; the join answers freely.
            t.output_schema = None;
            t.timezone = Some(self.inner().local_zone.name().to_string());
            t.group = Some(GroupMember {
                group_id: id,
                row: None,
                values: Default::default(),
            });
            Box::new(t)
        });
        let group = Group {
            id,
            name,
            created_at: base.created_at,
            columns: rows.columns,
            prompt: template,
            total: tasks.len() as u32,
            completed: 0,
            failed: 0,
            cancelled: 0,
            join: join.as_ref().map(|j| group::GroupJoin {
                task_id: j.id,
                on: new.join.as_ref().map(|j| j.on).unwrap_or_default(),
                status: crate::state::TaskState::Waiting,
            }),
            status: Default::default(),
            cancelled_at: None,
        };
        self.inner()
            .writer
            .group(GroupOp::Create {
                group: Box::new(group),
                rows: tasks,
                join,
            })
            .await
    }

    /// Every group, oldest first.
    pub async fn groups(&self) -> Result<Vec<Group>, TaskError> {
        self.read(|store| store.groups()).await
    }

    /// The group with this name (any case) or id.
    pub async fn find_group(&self, name_or_id: &str) -> Result<Group, TaskError> {
        let key = name_or_id.trim().to_string();
        let by_id = key.parse::<GroupId>().ok();
        let wanted = key.clone();
        let found = self
            .read(move |store| match store.group_named(&wanted)? {
                Some(g) => Ok(Some(g)),
                None => by_id
                    .map(|id| store.group(id))
                    .transpose()
                    .map(Option::flatten),
            })
            .await?;
        found.ok_or(TaskError::GroupNotFound(key))
    }

    /// A page of a group's row tasks, in input order.
    pub async fn group_tasks(
        &self,
        id: GroupId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Task>, TaskError> {
        self.read(move |store| store.group_tasks(id, offset, limit))
            .await
    }

    /// Cancels every row and the join that have not finished.
    pub async fn cancel_group(&self, id: GroupId) -> Result<Group, TaskError> {
        self.inner().writer.group(GroupOp::Cancel(id)).await
    }

    /// Retries every failed or cancelled row; the join waits for them again.
    pub async fn retry_group(&self, id: GroupId) -> Result<Group, TaskError> {
        self.inner().writer.group(GroupOp::Retry(id)).await
    }

    /// Writes the group's results to `out` in input order (the input's
    /// columns, then the answer, its status, tokens and cost), reading the rows
    /// a page at a time so memory stays small however many there are.
    pub async fn export_group<W: std::io::Write + Send + 'static>(
        &self,
        id: GroupId,
        format: ResultFormat,
        out: W,
    ) -> Result<W, TaskError> {
        let group = self
            .read(move |store| store.group(id))
            .await?
            .ok_or_else(|| TaskError::GroupNotFound(id.to_string()))?;
        self.read(move |store| {
            // Read a page at a time as the writer asks for rows.
            let mut offset = 0;
            let mut failed = None;
            let pages = std::iter::from_fn(|| {
                if failed.is_some() {
                    return None;
                }
                match store.group_tasks(id, offset, EXPORT_PAGE) {
                    Ok(page) if page.is_empty() => None,
                    Ok(page) => {
                        offset += page.len();
                        Some(page)
                    }
                    Err(e) => {
                        failed = Some(e);
                        None
                    }
                }
            });
            let mut out = out;
            crate::rows::write_results(format, &group.columns, pages.flatten(), &mut out)
                .map_err(io_error)?;
            match failed {
                Some(e) => Err(e),
                None => Ok(out),
            }
        })
        .await
    }
}

fn io_error(e: std::io::Error) -> TaskError {
    TaskError::Storage(format!("cannot write the results: {e}"))
}

/// The same refusal, naming another field.
fn rename(e: TaskError, field: &'static str) -> TaskError {
    match e {
        TaskError::Invalid { message, .. } => TaskError::invalid(field, message),
        other => other,
    }
}

/// One task per row: the template with the row's values bound, named after
/// the group and the row's number.
fn row_tasks(
    base: &Task,
    name: &str,
    template: &str,
    id: GroupId,
    rows: &Rows,
) -> Result<Vec<Task>, TaskError> {
    let mut tasks = Vec::with_capacity(rows.rows.len());
    for (i, values) in rows.rows.iter().enumerate() {
        let n = i as u32 + 1;
        let prompt = crate::prompt::bind_row(template, &rows.columns, values);
        if prompt.len() > task::MAX_PROMPT_BYTES {
            return Err(TaskError::invalid(
                "rows",
                format!(
                    "row {n}'s prompt is {} bytes with its values, over the limit of {} bytes (1 MiB)",
                    prompt.len(),
                    task::MAX_PROMPT_BYTES
                ),
            ));
        }
        let mut t = base.clone();
        t.id = TaskId::new();
        t.name = format!("{name} #{n}");
        t.prompt = prompt;
        t.group = Some(GroupMember {
            group_id: id,
            row: Some(n),
            values: values.clone(),
        });
        tasks.push(t);
    }
    Ok(tasks)
}

//! What a notification says: a finished task (or a burst of them), a budget
//! warning, a schedule that paused itself; and what a click on one opens. The
//! host shows them (`Host::notify`); this module decides their words.

use baton_engine::{ScheduleId, Task, TaskId, TaskState};
use serde::{Deserialize, Serialize};
use specta::Type;

/// What a click on a notification opens in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpenTarget {
    /// The task's detail (a task that completed or failed).
    Task { id: TaskId },
    /// The task list (a burst of finished tasks, summed up in one notification).
    List,
    /// The schedule in the Schedules view (it paused itself).
    Schedule { id: ScheduleId },
    /// The window as it is (an update is offered there).
    Window,
}

/// A task that completed or failed.
#[derive(Debug, Clone)]
pub struct Finished {
    pub id: TaskId,
    pub name: String,
    pub state: TaskState,
    /// The first lines of its answer ([`first_lines`]), or its error.
    pub detail: Option<String>,
    /// It asked for a notification of its answer (`--notify-result`): shown
    /// even when notifications are off in Settings.
    pub asked: bool,
}

impl Finished {
    /// The task that moved to `to`, if that finished it: with the first lines
    /// of its answer, or its error.
    pub fn of(to: TaskState, task: &Task) -> Option<Finished> {
        let detail = match to {
            TaskState::Completed => task.output.as_deref().map(first_lines),
            TaskState::Failed => task.error.clone(),
            _ => return None,
        };
        Some(Finished {
            id: task.id,
            name: task.name.clone(),
            state: to,
            detail,
            asked: to == TaskState::Completed && task.deliver.notify_result,
        })
    }
}

/// One notification and what a click on it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
    pub open: OpenTarget,
}

impl Notice {
    pub fn new(title: impl Into<String>, body: impl Into<String>, open: OpenTarget) -> Notice {
        Notice {
            title: title.into(),
            body: body.into(),
            open,
        }
    }
}

/// At most this many notifications for one burst of finished tasks; more are
/// summed up in one ("12 tasks finished: 10 completed, 2 failed").
const NOTIFICATIONS_PER_BURST: usize = 3;

/// A notification shows a few lines: the answer's first ones, at most this many
/// characters in all.
const NOTICE_LINES: usize = 3;
const NOTICE_CHARS: usize = 200;

/// The first non-empty lines of an answer, for its notification ("…" when cut).
fn first_lines(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut text = lines
        .iter()
        .take(NOTICE_LINES)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let mut cut = lines.len() > NOTICE_LINES;
    if let Some((at, _)) = text.char_indices().nth(NOTICE_CHARS) {
        text.truncate(at);
        cut = true;
    }
    if cut {
        text.push('…');
    }
    text
}

/// The notifications for a burst of finished tasks: one each, opening the
/// task, or one summary opening the list when there are more than
/// [`NOTIFICATIONS_PER_BURST`].
pub fn notices(finished: &[Finished]) -> Vec<Notice> {
    if finished.len() > NOTIFICATIONS_PER_BURST {
        let failed = finished
            .iter()
            .filter(|f| f.state == TaskState::Failed)
            .count();
        return vec![Notice::new(
            format!("{} tasks finished", finished.len()),
            format!("{} completed, {failed} failed", finished.len() - failed),
            OpenTarget::List,
        )];
    }
    finished
        .iter()
        .map(|f| {
            let open = OpenTarget::Task { id: f.id };
            match f.state {
                TaskState::Completed => Notice::new(
                    format!("Task completed: {}", f.name),
                    match f.detail.as_deref() {
                        Some(lines) if !lines.is_empty() => lines,
                        _ => "The answer was empty.",
                    },
                    open,
                ),
                _ => Notice::new(
                    "Task failed",
                    format!(
                        "{}: {}",
                        f.name,
                        f.detail.as_deref().unwrap_or("no error message")
                    ),
                    open,
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> TaskId {
        serde_json::from_value(serde_json::json!(uuid(n))).unwrap()
    }

    fn uuid(n: u128) -> String {
        format!("0190a0b0-0000-7000-8000-{n:012x}")
    }

    fn done(n: u128, name: &str, state: TaskState) -> Finished {
        let detail = match state {
            TaskState::Failed => "boom".to_string(),
            _ => first_lines(&format!("\n# {name}\n\nline two\nline three\nline four")),
        };
        Finished {
            id: id(n),
            name: name.into(),
            state,
            detail: Some(detail),
            asked: false,
        }
    }

    #[test]
    fn a_completed_task_s_notification_carries_the_first_lines_of_its_answer() {
        assert_eq!(first_lines("one\n\n  two  \nthree"), "one\ntwo\nthree");
        assert_eq!(first_lines("one\ntwo\nthree\nfour"), "one\ntwo\nthree…");
        let long = "é".repeat(300);
        assert_eq!(first_lines(&long), format!("{}…", "é".repeat(200)));
        assert_eq!(first_lines("  \n"), "");
        let empty = Finished {
            detail: Some(String::new()),
            ..done(1, "empty", TaskState::Completed)
        };
        assert_eq!(
            notices(&[empty]),
            vec![Notice::new(
                "Task completed: empty",
                "The answer was empty.",
                OpenTarget::Task { id: id(1) }
            )]
        );
    }

    #[test]
    fn a_few_finished_tasks_get_one_notification_each_opening_that_task() {
        let got = notices(&[
            done(1, "a", TaskState::Completed),
            done(2, "b", TaskState::Failed),
        ]);
        assert_eq!(
            got,
            vec![
                Notice::new(
                    "Task completed: a",
                    "# a\nline two\nline three…",
                    OpenTarget::Task { id: id(1) }
                ),
                Notice::new("Task failed", "b: boom", OpenTarget::Task { id: id(2) }),
            ]
        );
    }

    #[test]
    fn a_burst_of_finished_tasks_gets_one_summary_opening_the_list() {
        let mut burst: Vec<_> = (0..10)
            .map(|i| done(i, &i.to_string(), TaskState::Completed))
            .collect();
        burst.push(done(10, "x", TaskState::Failed));
        assert_eq!(
            notices(&burst),
            vec![Notice::new(
                "11 tasks finished",
                "10 completed, 1 failed",
                OpenTarget::List
            )]
        );
    }
}

//! [`TaskFilter`]: which tasks a list shows, defined once for every host: the
//! API's `GET /tasks` query (serde, and utoipa's parameters behind `utoipa`),
//! the CLI's `list` flags (behind `clap`) and the CLI's query to a running
//! engine. Each value is parsed by the engine's rule whichever way it came, so
//! a bad one is refused with the same sentence.

use crate::error::TaskError;
use crate::state::TaskState;
use crate::task::{normalize_tag, Task, TaskId};
use serde::{Deserialize, Deserializer, Serialize};

/// Which tasks a list shows; every field left out matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct TaskFilter {
    /// Only tasks in this status.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_status"
    )]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "S",
            value_parser = status,
            help = "Only tasks in this state (waiting, scheduled, queued, running, completed, failed, cancelled)"
        )
    )]
    pub status: Option<TaskState>,
    /// Only tasks chained onto this one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_parent"
    )]
    #[cfg_attr(feature = "utoipa", param(value_type = Option<String>, format = Uuid))]
    #[cfg_attr(
        feature = "clap",
        arg(long = "parent", value_name = "ID", value_parser = parent_task_id)
    )]
    pub parent_task_id: Option<TaskId>,
    /// Only tasks carrying this tag (any case).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_tag"
    )]
    #[cfg_attr(feature = "clap", arg(long, value_name = "TAG", value_parser = normalize_tag))]
    pub tag: Option<String>,
}

impl TaskFilter {
    pub(crate) fn has_tag(&self, task: &Task) -> bool {
        self.tag.as_ref().is_none_or(|t| task.tags.contains(t))
    }

    /// Whether `task` passes every condition of the filter.
    pub fn passes(&self, task: &Task) -> bool {
        self.status.is_none_or(|s| s == task.status)
            && self
                .parent_task_id
                .is_none_or(|p| task.parent_task_id == Some(p))
            && self.has_tag(task)
    }
}

/// A status word, in any case.
pub(crate) fn status(text: &str) -> Result<TaskState, TaskError> {
    text.parse()
        .map_err(|message: String| TaskError::invalid("status", message))
}

pub(crate) fn parent_task_id(text: &str) -> Result<TaskId, TaskError> {
    text.parse().map_err(|_| {
        TaskError::invalid(
            "parent_task_id",
            format!("parent_task_id '{text}' is not a task id (a UUID)"),
        )
    })
}

// A query string's values are text: each is read as text and parsed by the
// flag's parser, whose sentence becomes the error.
fn de_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TaskState>, D::Error> {
    parsed(d, status)
}

fn de_parent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TaskId>, D::Error> {
    parsed(d, parent_task_id)
}

fn de_tag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    parsed(d, normalize_tag)
}

fn parsed<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: fn(&str) -> Result<T, TaskError>,
) -> Result<Option<T>, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map(Some).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_query(query: &str) -> Result<TaskFilter, String> {
        let value: serde_json::Value = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap())
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn filter_values_are_parsed_by_the_engines_rules() {
        let id = TaskId::new();
        let filter = from_query(&format!("status=Queued&parent_task_id={id}&tag=OPS")).unwrap();
        assert_eq!(
            filter,
            TaskFilter {
                status: Some(TaskState::Queued),
                parent_task_id: Some(id),
                tag: Some("ops".into()),
            }
        );
        assert_eq!(from_query("").unwrap(), TaskFilter::default());
        for (query, says) in [
            ("status=done", "unknown status 'done'"),
            ("parent_task_id=x", "parent_task_id 'x' is not a task id"),
            ("tag=a/b", "only letters, digits"),
        ] {
            let err = from_query(query).unwrap_err();
            assert!(err.contains(says), "{query}: {err}");
        }
    }

    #[test]
    fn a_filter_serializes_to_the_text_it_parses_from() {
        let filter = TaskFilter {
            status: Some(TaskState::Completed),
            parent_task_id: Some(TaskId::new()),
            tag: Some("ops".into()),
        };
        let json = serde_json::to_value(&filter).unwrap();
        assert_eq!(json["status"], "completed");
        assert_eq!(serde_json::from_value::<TaskFilter>(json).unwrap(), filter);
        assert_eq!(
            serde_json::to_value(TaskFilter::default()).unwrap(),
            serde_json::json!({})
        );
    }
}

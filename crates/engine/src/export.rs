//! The export file: versioned JSON, documented in docs/export-format.md.

use crate::error::{ImportError, RecordError};
use crate::schedule::{self, Schedule, TaskTemplate};
use crate::task::{self, Task, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The version this code writes and the newest it reads. History:
/// 1. tasks.
/// 2. adds `schedules` (a version 1 reader would drop them without a word).
/// 3. adds `groups` (`map`); their tasks carry `group`.
pub const EXPORT_FORMAT_VERSION: u64 = 3;

/// The export file (docs/export-format.md); `POST /import` takes the same shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ExportFile {
    pub format_version: u64,
    pub exported_at: DateTime<Utc>,
    pub tasks: Vec<Task>,
    /// Since format_version 2.
    #[serde(default)]
    pub schedules: Vec<Schedule>,
    /// Since format_version 3.
    #[serde(default)]
    pub groups: Vec<crate::group::Group>,
}

impl ExportFile {
    pub fn new(tasks: Vec<Task>, schedules: Vec<Schedule>, now: DateTime<Utc>) -> Self {
        ExportFile {
            format_version: EXPORT_FORMAT_VERSION,
            exported_at: now,
            tasks,
            schedules,
            groups: Vec::new(),
        }
    }
}

/// What [`write`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub tasks: usize,
    pub schedules: usize,
}

/// Writes the export file of `snapshot` to `out`, one task at a time: the
/// same text as `serde_json::to_string_pretty(&ExportFile)` plus a newline,
/// without the whole file (or every task) in memory.
pub(crate) fn write(
    out: impl std::io::Write,
    snapshot: &dyn crate::storage::Snapshot,
    now: DateTime<Utc>,
) -> Result<ExportSummary, crate::error::TaskError> {
    use crate::error::TaskError;
    let schedules = snapshot.schedules()?;
    let groups = snapshot.groups()?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, out);
    let tasks = std::cell::Cell::new(0);
    let file = Streamed {
        snapshot,
        now,
        schedules: &schedules,
        groups: &groups,
        tasks: &tasks,
    };
    let written = serde_json::to_writer_pretty(&mut out, &file)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            use std::io::Write;
            out.write_all(b"\n")
                .and_then(|()| out.flush())
                .map_err(|e| e.to_string())
        });
    written.map_err(|e| TaskError::Storage(format!("cannot write the export: {e}")))?;
    Ok(ExportSummary {
        tasks: tasks.get(),
        schedules: schedules.len(),
    })
}

/// [`ExportFile`]'s fields, with the tasks read as they are written.
struct Streamed<'a> {
    snapshot: &'a dyn crate::storage::Snapshot,
    now: DateTime<Utc>,
    schedules: &'a [Schedule],
    groups: &'a [crate::group::Group],
    tasks: &'a std::cell::Cell<usize>,
}

impl Serialize for Streamed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut file = s.serialize_struct("ExportFile", 5)?;
        file.serialize_field("format_version", &EXPORT_FORMAT_VERSION)?;
        file.serialize_field("exported_at", &self.now)?;
        file.serialize_field("tasks", &StreamedTasks(self))?;
        file.serialize_field("schedules", self.schedules)?;
        file.serialize_field("groups", self.groups)?;
        file.end()
    }
}

struct StreamedTasks<'a, 'b>(&'b Streamed<'a>);

impl Serialize for StreamedTasks<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(None)?;
        let mut failed: Option<S::Error> = None;
        let read = self.0.snapshot.each_task(&mut |task| {
            seq.serialize_element(&task).map_err(|e| {
                failed = Some(e);
                crate::error::TaskError::Storage("the export could not be written".into())
            })?;
            self.0.tasks.set(self.0.tasks.get() + 1);
            Ok(())
        });
        if let Some(e) = failed {
            return Err(e);
        }
        read.map_err(S::Error::custom)?;
        seq.end()
    }
}

/// A validated import file.
pub(crate) struct Parsed {
    pub tasks: Vec<Task>,
    pub schedules: Vec<Schedule>,
    pub groups: Vec<crate::group::Group>,
}

/// Parses and validates a whole file. Returns every bad record at once, so a
/// person can fix them all in one go; `check_model(provider, model)` lets the
/// engine refuse models its providers cannot use.
pub(crate) fn parse(
    text: &str,
    now: DateTime<Utc>,
    check_model: impl Fn(&str, &str) -> Result<(), String>,
) -> Result<Parsed, ImportError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ImportError::NotJson(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| ImportError::WrongShape("the top level is not an object".into()))?;
    let version = object
        .get("format_version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| {
            ImportError::WrongShape("format_version is missing or not a whole number".into())
        })?;
    if version > EXPORT_FORMAT_VERSION {
        return Err(ImportError::FutureVersion {
            found: version,
            supported: EXPORT_FORMAT_VERSION,
        });
    }
    let unknown = unknown_fields(&value, struct_fields::<ExportFile>());
    if !unknown.is_empty() {
        return Err(ImportError::WrongShape(format!(
            "the top level has {}",
            unknown.join(", ")
        )));
    }
    if version == 0 {
        return Err(ImportError::WrongShape(
            "format_version 0 does not exist".into(),
        ));
    }
    let records = object
        .get("tasks")
        .and_then(|v| v.as_array())
        .ok_or_else(|| ImportError::WrongShape("tasks is missing or not a list".into()))?;

    let mut tasks = Vec::with_capacity(records.len());
    let mut bad = Vec::new();
    let mut seen: HashSet<TaskId> = HashSet::new();
    // Each kept task's position in the file, for its error.
    let mut positions = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let id = record
            .get("id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok());
        let mut fail = |message: String| {
            bad.push(RecordError { index, id, message });
        };
        let unknown = unknown_fields(record, struct_fields::<Task>());
        if !unknown.is_empty() {
            fail(format!("it has {}", unknown.join(", ")));
            continue;
        }
        let task: Task = match serde_json::from_value(record.clone()) {
            Ok(task) => task,
            Err(e) => {
                fail(e.to_string());
                continue;
            }
        };
        if let Err(message) = check_record(&task, &check_model) {
            fail(message);
            continue;
        }
        if !seen.insert(task.id) {
            fail("the id appears twice in the file".into());
            continue;
        }
        tasks.push(task);
        positions.push(index);
    }
    bad.extend(parent_cycles(&tasks, &positions));
    let schedules = match object.get("schedules") {
        None => Vec::new(),
        Some(list) => {
            let list = list
                .as_array()
                .ok_or_else(|| ImportError::WrongShape("schedules is not a list".into()))?;
            parse_schedules(list, now, &check_model, &mut bad)
        }
    };
    let groups = match object.get("groups") {
        None => Vec::new(),
        Some(list) => {
            let list = list
                .as_array()
                .ok_or_else(|| ImportError::WrongShape("groups is not a list".into()))?;
            parse_groups(list, &mut bad)
        }
    };
    if !bad.is_empty() {
        return Err(ImportError::BadRecords(bad));
    }
    Ok(Parsed {
        tasks,
        schedules,
        groups,
    })
}

/// "unknown field `max_attempt`" for each key of `record` (an object) that is
/// not one of `known`: a misspelt field must not be dropped without a word.
fn unknown_fields(record: &serde_json::Value, known: &[&str]) -> Vec<String> {
    let Some(object) = record.as_object() else {
        return Vec::new(); // serde says what is wrong with it
    };
    object
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| format!("unknown field `{k}`"))
        .collect()
}

/// The field names `T`'s derived `Deserialize` accepts, as serde lists them to
/// a deserializer. (Not `deny_unknown_fields` on the types: a task or schedule
/// record is also what the database stores, which keeps its own rules.)
fn struct_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{Error as _, Visitor};
    use std::cell::Cell;

    struct Probe<'a>(&'a Cell<&'static [&'static str]>);

    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.set(fields);
            Err(Self::Error::custom("only the field names were wanted"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let fields = Cell::new(&[][..]);
    let _ = T::deserialize(Probe(&fields));
    fields.get()
}

/// Records whose parent chain, followed through the file, comes back to them:
/// they would wait for each other for ever. Each record of a loop is named, with
/// the loop. (A record naming itself is refused by `check_record`.)
fn parent_cycles(tasks: &[Task], positions: &[usize]) -> Vec<RecordError> {
    let index: HashMap<TaskId, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let parent = |i: usize| tasks[i].parent_task_id.and_then(|p| index.get(&p).copied());
    // 0: not visited, 1: on the current path, 2: done.
    let mut mark = vec![0u8; tasks.len()];
    let mut bad = Vec::new();
    for start in 0..tasks.len() {
        let mut path = Vec::new();
        let mut at = Some(start);
        while let Some(i) = at {
            match mark[i] {
                2 => break,
                1 => {
                    let from = path.iter().position(|&p| p == i).unwrap_or(0);
                    let cycle = &path[from..];
                    let ids: Vec<String> = cycle
                        .iter()
                        .chain(std::iter::once(&i))
                        .map(|&c| tasks[c].id.to_string())
                        .collect();
                    let message = format!(
                        "its parent chain loops back to it ({}), so these tasks would wait for each other for ever",
                        ids.join(" -> ")
                    );
                    bad.extend(cycle.iter().map(|&c| RecordError {
                        index: positions[c],
                        id: Some(tasks[c].id),
                        message: message.clone(),
                    }));
                    break;
                }
                _ => {
                    mark[i] = 1;
                    path.push(i);
                    at = parent(i);
                }
            }
        }
        for i in path {
            mark[i] = 2;
        }
    }
    bad
}

/// Group records; their counts are taken again from their tasks when imported.
fn parse_groups(
    records: &[serde_json::Value],
    bad: &mut Vec<RecordError>,
) -> Vec<crate::group::Group> {
    let mut out = Vec::with_capacity(records.len());
    let mut ids = HashSet::new();
    for (index, record) in records.iter().enumerate() {
        let mut fail = |message: String| {
            bad.push(RecordError {
                index,
                id: None,
                message: format!("in groups, group {}: {message}", index + 1),
            });
        };
        let g: crate::group::Group = match serde_json::from_value(record.clone()) {
            Ok(g) => g,
            Err(e) => {
                fail(e.to_string());
                continue;
            }
        };
        if let Err(e) = crate::group::validate_name(&g.name) {
            fail(e.to_string());
            continue;
        }
        if !ids.insert(g.id) {
            fail("the id appears twice in the file".into());
            continue;
        }
        out.push(g);
    }
    out
}

/// Schedule records; their errors name the list ("schedule 2 'daily': ...").
fn parse_schedules(
    records: &[serde_json::Value],
    now: DateTime<Utc>,
    check_model: &impl Fn(&str, &str) -> Result<(), String>,
    bad: &mut Vec<RecordError>,
) -> Vec<Schedule> {
    let mut out = Vec::with_capacity(records.len());
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for (index, record) in records.iter().enumerate() {
        let label = record
            .get("name")
            .and_then(|v| v.as_str())
            .map(|n| format!(" '{n}'"))
            .unwrap_or_default();
        let mut fail = |message: String| {
            bad.push(RecordError {
                index,
                id: None,
                message: format!("in schedules, schedule{label}: {message}"),
            });
        };
        let mut unknown = unknown_fields(record, struct_fields::<Schedule>());
        if let Some(template) = record.get("template") {
            let inner = unknown_fields(template, struct_fields::<TaskTemplate>());
            unknown.extend(inner.into_iter().map(|u| format!("{u} in its template")));
        }
        if !unknown.is_empty() {
            fail(format!("it has {}", unknown.join(", ")));
            continue;
        }
        let s: Schedule = match serde_json::from_value(record.clone()) {
            Ok(s) => s,
            Err(e) => {
                fail(e.to_string());
                continue;
            }
        };
        if let Err(message) = check_schedule(&s, now, check_model) {
            fail(message);
            continue;
        }
        if !ids.insert(s.id) {
            fail("the id appears twice in the file".into());
            continue;
        }
        if !names.insert(s.name.to_lowercase()) {
            fail("the name appears twice in the file".into());
            continue;
        }
        out.push(s);
    }
    out
}

fn check_schedule(
    s: &Schedule,
    now: DateTime<Utc>,
    check_model: &impl Fn(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    let sentence = |e: crate::error::TaskError| e.to_string();
    if schedule::validate_schedule_name(&s.name).map_err(sentence)? != s.name {
        return Err("the name has leading or trailing spaces".into());
    }
    schedule::Recurrence::parse(&s.cron, &s.timezone, now).map_err(sentence)?;
    let t = &s.template;
    task::validate_prompt(&t.prompt).map_err(sentence)?;
    task::validate_max_attempts(t.max_attempts).map_err(sentence)?;
    task::validate_timeout(Duration::from_millis(t.timeout_ms)).map_err(sentence)?;
    task::validate_generation(
        t.system.as_deref(),
        t.temperature.map(|r| r.0),
        t.max_tokens,
    )
    .map_err(sentence)?;
    schedule::validate_follow_ups(&t.follow_ups).map_err(sentence)?;
    task::validate_stored_tags(&t.tags).map_err(sentence)?;
    t.deliver.check(true).map_err(sentence)?;
    if let Some(schema) = &t.output_schema {
        crate::structured::check_schema(schema).map_err(sentence)?;
    }
    check_model(&t.provider, &t.model)?;
    check_fallbacks(&t.fallbacks, t.fallback_after, check_model)
}

/// Stored fallbacks: well formed, each model resolved and usable.
fn check_fallbacks(
    fallbacks: &[task::Target],
    fallback_after: Option<u32>,
    check_model: &impl Fn(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    task::check_fallbacks(fallbacks, fallback_after).map_err(|e| e.to_string())?;
    for t in fallbacks {
        let model = t
            .model
            .as_deref()
            .ok_or_else(|| format!("the fallback '{t}' has no model"))?;
        check_model(&t.provider, model).map_err(|e| format!("the fallback '{t}': {e}"))?;
    }
    Ok(())
}

fn check_record(
    task: &Task,
    check_model: &impl Fn(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    let sentence = |e: crate::error::TaskError| e.to_string();
    task::validate_prompt(&task.prompt).map_err(sentence)?;
    task::validate_name(&task.name).map_err(sentence)?;
    task::validate_max_attempts(task.max_attempts).map_err(sentence)?;
    task::validate_timeout(Duration::from_millis(task.timeout_ms)).map_err(sentence)?;
    task::validate_stored_tags(&task.tags).map_err(sentence)?;
    task.deliver
        .check(task.schedule_id.is_some())
        .map_err(sentence)?;
    if let Some(schema) = &task.output_schema {
        crate::structured::check_schema(schema).map_err(sentence)?;
    }
    if task.attempts > task.max_attempts {
        return Err(format!(
            "attempts ({}) is more than max_attempts ({})",
            task.attempts, task.max_attempts
        ));
    }
    if let Some(at) = task.start_at {
        task::validate_start_at(at).map_err(sentence)?;
    }
    if task.parent_task_id == Some(task.id) {
        return Err("the task names itself as its parent".into());
    }
    check_model(&task.llm_provider, &task.llm_model)?;
    check_fallbacks(&task.fallbacks, task.fallback_after, check_model)?;
    if task.target_index as usize >= task.target_count() {
        return Err(format!(
            "target_index ({}) names no target: the task has {}",
            task.target_index,
            task.target_count()
        ));
    }
    Ok(())
}

//! A live, in-memory summary of every task, for views that filter, search and
//! scroll through many tasks at once (the desktop list, activity figures).
//!
//! It subscribes to the engine's events *before* it loads the store, so no change
//! between the two is missed; events carry whole tasks, so applying one is an
//! upsert and the catalog converges on the store. A lagging subscription reloads.

use crate::engine::Engine;
use crate::events::{Event, EventKind};
use crate::group::GroupId;
use crate::state::TaskState;
use crate::storage::Storage;
use crate::task::{Real, Task, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast::error::RecvError;

/// The deepest window [`Catalog::query_now`] reads from the store before the
/// first load; deeper ones wait for it.
const STORE_PAGE_LIMIT: usize = 1000;

/// How many characters of the prompt are kept for search.
const SEARCH_PREFIX: usize = 240;

/// What a list row shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TaskSummary {
    pub id: TaskId,
    pub name: String,
    pub status: TaskState,
    pub llm_provider: String,
    pub llm_model: String,
    #[serde(alias = "scheduled_for")]
    pub start_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub parent_task_id: Option<TaskId>,
    /// Number of tasks chained onto this one.
    pub children: u32,
    pub latency_ms: Option<u64>,
    /// Shown as chips on the row.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(skip)]
    search_text: String,
    /// Prompt + completion tokens, for the activity figures (not sent to views).
    #[serde(skip)]
    tokens: u64,
    #[serde(skip)]
    cost_usd: Option<Real>,
    /// The group the task is a row or the join of (for the group filter).
    #[serde(skip)]
    group_id: Option<GroupId>,
}

impl TaskSummary {
    fn of(task: &Task, children: u32) -> Self {
        TaskSummary::from_row(
            Row {
                id: task.id,
                name: task.name.clone(),
                status: task.status,
                llm_provider: task.llm_provider.clone(),
                llm_model: task.llm_model.clone(),
                start_at: task.start_at,
                created_at: task.created_at,
                finished_at: task.finished_at,
                attempts: task.attempts,
                max_attempts: task.max_attempts,
                parent_task_id: task.parent_task_id,
                latency_ms: task.latency_ms,
                tags: task.tags.clone(),
                prompt: PromptPrefix(task.prompt.chars().take(SEARCH_PREFIX).collect()),
                prompt_tokens: task.prompt_tokens,
                completion_tokens: task.completion_tokens,
                cost_usd: task.cost_usd,
                group: task.group.as_ref().map(|m| GroupRef {
                    group_id: m.group_id,
                }),
            },
            children,
        )
    }

    fn from_row(row: Row, children: u32) -> Self {
        // Lowercased once here, so a search compares bytes.
        let mut search_text = format!("{} {} {}", row.name, row.id, row.prompt.0);
        if search_text.is_ascii() {
            search_text.make_ascii_lowercase();
        } else {
            search_text = search_text.to_lowercase();
        }
        TaskSummary {
            id: row.id,
            name: row.name,
            status: row.status,
            llm_provider: row.llm_provider,
            llm_model: row.llm_model,
            start_at: row.start_at,
            created_at: row.created_at,
            finished_at: row.finished_at,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            parent_task_id: row.parent_task_id,
            children,
            latency_ms: row.latency_ms,
            tags: row.tags,
            search_text,
            tokens: row.prompt_tokens.unwrap_or(0) + row.completion_tokens.unwrap_or(0),
            cost_usd: row.cost_usd,
            group_id: row.group.map(|g| g.group_id),
        }
    }
}

/// The fields of a stored task the catalog keeps: loading reads the records as
/// this (serde skips outputs, histories and the rest of long prompts).
#[derive(Deserialize)]
struct Row {
    id: TaskId,
    name: String,
    status: TaskState,
    llm_provider: String,
    llm_model: String,
    // Records written before the rename name it `scheduled_for`.
    #[serde(alias = "scheduled_for")]
    start_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    attempts: u32,
    max_attempts: u32,
    parent_task_id: Option<TaskId>,
    latency_ms: Option<u64>,
    #[serde(default)]
    tags: Vec<String>,
    prompt: PromptPrefix,
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    cost_usd: Option<Real>,
    #[serde(default)]
    group: Option<GroupRef>,
}

/// The part of a task's `group` the catalog keeps.
#[derive(Deserialize)]
struct GroupRef {
    group_id: GroupId,
}

/// The first [`SEARCH_PREFIX`] characters of a prompt, read without copying
/// the rest (a prompt may be a megabyte).
struct PromptPrefix(String);

impl<'de> Deserialize<'de> for PromptPrefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Prefix;
        impl serde::de::Visitor<'_> for Prefix {
            type Value = PromptPrefix;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a prompt")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PromptPrefix, E> {
                Ok(PromptPrefix(v.chars().take(SEARCH_PREFIX).collect()))
            }
        }
        d.deserialize_str(Prefix)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum StartFilter {
    /// No `start_at`: ran (or will run) as soon as possible.
    Immediate,
    /// With a `start_at`.
    Scheduled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ChainFilter {
    /// Tasks without a parent.
    Roots,
    /// Tasks that have at least one child.
    WithChildren,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CatalogQuery {
    pub status: Option<TaskState>,
    /// Tasks with or without a start time (`schedule` before the rename, still read).
    #[serde(alias = "schedule")]
    pub start: Option<StartFilter>,
    pub chain: Option<ChainFilter>,
    /// Case-insensitive; matches the name, the id or the start of the prompt.
    pub search: Option<String>,
    /// Only tasks carrying this tag (any case).
    #[serde(default)]
    pub tag: Option<String>,
    /// Only the rows and the join of this group.
    #[serde(default)]
    pub group: Option<GroupId>,
    pub offset: usize,
    pub limit: usize,
}

/// The tag a query filters by, as tags are stored; none when blank.
fn tag_filter(q: &CatalogQuery) -> Option<String> {
    q.tag
        .as_deref()
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
}

/// One window of the matching tasks, newest first, and how many match in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CatalogPage {
    pub total: usize,
    pub rows: Vec<TaskSummary>,
}

/// Figures for the activity panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Activity {
    /// Tasks finished in each of the last 30 minutes, oldest first.
    pub finished_per_minute: Vec<u32>,
    pub completed_today: u64,
    pub failed_today: u64,
    /// completed / (completed + failed) today; `None` before anything finished.
    pub success_rate: Option<f64>,
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
    /// Attempts beyond the first, over tasks finished today.
    pub retries_today: u64,
    /// Prompt + completion tokens of the tasks finished today, whatever their outcome.
    pub tokens_today: u64,
    /// US dollars, over the tasks finished today whose provider has prices.
    pub cost_today_usd: f64,
}

#[derive(Default)]
struct Rows {
    by_id: BTreeMap<Reverse<TaskId>, TaskSummary>,
}

impl Rows {
    fn upsert(&mut self, task: &Task) {
        let key = Reverse(task.id);
        let children = self.by_id.get(&key).map_or(0, |s| s.children);
        let is_new = !self.by_id.contains_key(&key);
        self.by_id.insert(key, TaskSummary::of(task, children));
        if is_new {
            if let Some(parent) = task.parent_task_id {
                if let Some(p) = self.by_id.get_mut(&Reverse(parent)) {
                    p.children += 1;
                }
            }
        }
    }

    fn load(tasks: Vec<Row>) -> Self {
        let mut children: std::collections::HashMap<TaskId, u32> = std::collections::HashMap::new();
        for row in &tasks {
            if let Some(p) = row.parent_task_id {
                *children.entry(p).or_default() += 1;
            }
        }
        let by_id = crate::store::parallel_map(tasks, |row| {
            let n = children.get(&row.id).copied().unwrap_or(0);
            (Reverse(row.id), TaskSummary::from_row(row, n))
        })
        .into_iter()
        .collect();
        Rows { by_id }
    }
}

pub struct Catalog {
    rows: RwLock<Rows>,
    /// Bumped after every change applied, for whoever waits on the catalog.
    version: tokio::sync::watch::Sender<u64>,
    /// Whether the first load has finished (or failed).
    loaded: tokio::sync::watch::Sender<Load>,
}

#[derive(Debug, Clone, PartialEq)]
enum Load {
    Pending,
    Done,
    /// The first load failed: queries that need it answer with this.
    Failed(String),
}

impl Catalog {
    /// A catalog with nothing loaded yet: [`Catalog::reload`] fills it, and
    /// [`Catalog::loaded`] waits for that. A host can so open its window while
    /// 100,000 tasks load.
    pub fn empty() -> Arc<Catalog> {
        Arc::new(Catalog {
            rows: RwLock::new(Rows::default()),
            version: tokio::sync::watch::Sender::new(0),
            loaded: tokio::sync::watch::Sender::new(Load::Pending),
        })
    }

    /// Loads every task. The caller keeps it current with [`Catalog::apply`] and
    /// [`Catalog::reload`], from a subscription it took *before* loading.
    pub async fn load(engine: &Engine) -> Result<Arc<Catalog>, crate::TaskError> {
        let catalog = Catalog::empty();
        catalog.reload(engine).await?;
        Ok(catalog)
    }

    /// Loads every task again (the first time, or after a subscription lagged).
    /// A failed first load is remembered, so queries waiting for it answer
    /// with the error instead of waiting forever; a failed later reload keeps
    /// the rows already loaded.
    pub async fn reload(&self, engine: &Engine) -> Result<(), crate::TaskError> {
        let result = async {
            let rows = engine.read(|store| store.scan::<Row>()).await?;
            tokio::task::spawn_blocking(move || Rows::load(rows))
                .await
                .map_err(|e| crate::TaskError::Storage(e.to_string()))
        }
        .await;
        match result {
            Ok(rows) => {
                *self.write() = rows;
                self.version.send_modify(|v| *v += 1);
                self.loaded.send_replace(Load::Done);
                Ok(())
            }
            Err(e) => {
                self.loaded.send_if_modified(|load| {
                    let first = *load == Load::Pending;
                    if first {
                        *load = Load::Failed(format!("the task list could not be loaded: {e}"));
                    }
                    first
                });
                Err(e)
            }
        }
    }

    /// [`Catalog::query`], without waiting for the first load where the store
    /// can answer at once: the first pages of the unfiltered list, or of one
    /// status, read newest first through the store's indexes. So a window shows
    /// its first rows while 100,000 tasks still load; anything else waits.
    pub async fn query_now(
        &self,
        engine: &Engine,
        q: &CatalogQuery,
    ) -> Result<CatalogPage, crate::TaskError> {
        let searching = q.search.as_deref().is_some_and(|s| !s.trim().is_empty());
        let tag = tag_filter(q);
        let simple = q.start.is_none()
            && q.chain.is_none()
            && !searching
            && tag.is_none()
            && q.group.is_none();
        let want = q.offset.saturating_add(q.limit);
        if *self.loaded.borrow() != Load::Pending || !simple || want > STORE_PAGE_LIMIT {
            self.loaded().await?;
            return Ok(self.query(q));
        }
        let status = q.status;
        let (tasks, counts) = engine
            .read(move |store| {
                let query = crate::store::ListQuery {
                    filter: crate::TaskFilter {
                        status,
                        ..Default::default()
                    },
                    limit: want,
                    ..Default::default()
                };
                let tasks = store
                    .list(&query)?
                    .into_iter()
                    .map(|task| Ok((store.children(task.id)?.len() as u32, task)))
                    .collect::<Result<Vec<_>, crate::TaskError>>()?;
                Ok((tasks, store.counts()?))
            })
            .await?;
        Ok(CatalogPage {
            total: status.map_or(counts.total(), |s| counts.get(s)) as usize,
            rows: tasks
                .iter()
                .skip(q.offset)
                .map(|(children, task)| TaskSummary::of(task, *children))
                .collect(),
        })
    }

    /// Returns once the first load has finished, or with its error if it failed.
    pub async fn loaded(&self) -> Result<(), crate::TaskError> {
        let mut rx = self.loaded.subscribe();
        // The sender lives as long as `self`, so this cannot fail while borrowed.
        let load = rx
            .wait_for(|load| *load != Load::Pending)
            .await
            .map(|load| load.clone())
            .unwrap_or(Load::Pending);
        match load {
            Load::Failed(why) => Err(crate::TaskError::Storage(why)),
            _ => Ok(()),
        }
    }

    /// Loads every task and keeps following the engine's events on a task of its
    /// own until the engine's event channel closes.
    pub async fn follow(engine: &Engine) -> Result<Arc<Catalog>, crate::TaskError> {
        let mut events = engine.subscribe();
        let catalog = Catalog::load(engine).await?;
        let weak = Arc::downgrade(&catalog);
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                let event = events.recv().await;
                let Some(catalog) = weak.upgrade() else {
                    return;
                };
                match event {
                    Ok(event) => catalog.apply(&event),
                    Err(RecvError::Lagged(_)) => {
                        if let Err(e) = catalog.reload(&engine).await {
                            tracing::warn!(error = %e, "catalog reload failed");
                        }
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Ok(catalog)
    }

    pub fn apply(&self, event: &Event) {
        if let EventKind::State { task, .. } = &event.kind {
            self.write().upsert(task);
            self.version.send_modify(|v| *v += 1);
        }
    }

    /// Changes each time the catalog applies an event or reloads.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn query(&self, q: &CatalogQuery) -> CatalogPage {
        let needle = q
            .search
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let tag = tag_filter(q);
        let rows = self.read();
        let mut total = 0;
        let mut page = Vec::with_capacity(q.limit.min(1000));
        for row in rows.by_id.values() {
            let matches = q.status.is_none_or(|s| row.status == s)
                && q.start.is_none_or(|s| match s {
                    StartFilter::Immediate => row.start_at.is_none(),
                    StartFilter::Scheduled => row.start_at.is_some(),
                })
                && q.chain.is_none_or(|c| match c {
                    ChainFilter::Roots => row.parent_task_id.is_none(),
                    ChainFilter::WithChildren => row.children > 0,
                })
                && needle
                    .as_deref()
                    .is_none_or(|n| row.search_text.contains(n))
                && tag.as_ref().is_none_or(|t| row.tags.contains(t))
                && q.group.is_none_or(|g| row.group_id == Some(g));
            if matches {
                if total >= q.offset && page.len() < q.limit {
                    page.push(row.clone());
                }
                total += 1;
            }
        }
        CatalogPage { total, rows: page }
    }

    /// Figures over the last 30 minutes before `now`, and over "today": the tasks
    /// finished since `day_start` (the host's local midnight; the catalog knows no
    /// time zone).
    pub fn activity(&self, now: DateTime<Utc>, day_start: DateTime<Utc>) -> Activity {
        let mut per_minute = vec![0u32; 30];
        let (mut completed, mut failed, mut retries, mut tokens) = (0u64, 0u64, 0u64, 0u64);
        let mut cost = 0.0;
        let mut latencies = Vec::new();
        for row in self.read().by_id.values() {
            let Some(done) = row.finished_at else {
                continue;
            };
            let ago = (now - done).num_minutes();
            if (0..30).contains(&ago) {
                per_minute[29 - ago as usize] += 1;
            }
            if done < day_start {
                continue;
            }
            match row.status {
                TaskState::Completed => {
                    completed += 1;
                    latencies.extend(row.latency_ms);
                }
                TaskState::Failed => failed += 1,
                _ => {}
            }
            retries += u64::from(row.attempts.saturating_sub(1));
            tokens += row.tokens;
            cost += row.cost_usd.map_or(0.0, |c| c.0);
        }
        latencies.sort_unstable();
        let pct = |p: f64| -> Option<u64> {
            (!latencies.is_empty())
                .then(|| latencies[((latencies.len() - 1) as f64 * p).round() as usize])
        };
        Activity {
            finished_per_minute: per_minute,
            completed_today: completed,
            failed_today: failed,
            success_rate: (completed + failed > 0)
                .then(|| completed as f64 / (completed + failed) as f64),
            latency_p50_ms: pct(0.50),
            latency_p95_ms: pct(0.95),
            retries_today: retries,
            tokens_today: tokens,
            cost_today_usd: cost,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rows> {
        self.rows.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rows> {
        self.rows.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_record_with_the_old_scheduled_for_lists_with_its_start_time() {
        let at: DateTime<Utc> = "2026-12-24T18:00:00Z".parse().unwrap();
        let now = Utc::now();
        let task = Task::fresh("n".into(), "p".into(), "mock".into(), "echo".into(), now);
        let mut record = serde_json::to_value(&task).unwrap();
        let fields = record.as_object_mut().unwrap();
        fields.remove("start_at");
        fields.insert("scheduled_for".into(), serde_json::json!(at));
        let raw = serde_json::to_vec(&record).unwrap();
        let row: Row = serde_json::from_slice(&raw).unwrap();
        assert_eq!(row.start_at, Some(at));
    }
}

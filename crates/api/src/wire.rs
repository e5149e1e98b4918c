//! The bodies the API reads and writes. Field names are the CLI's JSON: a task is
//! the engine's [`Task`], serialised as `baton show --json` prints it.
//!
//! These types are public so the CLI's client sends and reads exactly what the
//! server does. A new task's fields and the task record are the engine's own
//! types ([`NewTask`], [`Task`]), whose schemas the engine derives (its `utoipa`
//! feature).

use crate::error::HttpError;
use baton_engine::{
    ApiKey, Cancelled, ImportReport, KeyRef, Limits, MissedPolicy, NewSchedule, NewTask,
    OverlapPolicy, Prices, ProviderKind, ProviderSettings, ProviderTest, RecordError, Schedule,
    StatusCounts, Task, TaskId, TaskState,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use utoipa::ToSchema;

/// `POST /tasks/{id}/chain`: the fields of a new task ([`NewTask`], the
/// `POST /tasks` body), with `instruction` where that has `prompt`. Its schema is
/// `NewTask`'s with that one key renamed, so no field is written twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainTask(pub NewTask);

const INSTRUCTION: &str = "instruction";

impl ChainTask {
    /// Reads a chain body with the same refusals as any body (unknown fields,
    /// wrong types), naming `instruction` where the task's field is `prompt`.
    pub(crate) fn from_body(
        mut body: serde_json::Map<String, serde_json::Value>,
    ) -> Result<NewTask, HttpError> {
        if body.contains_key("prompt") {
            return Err(HttpError::invalid(
                "prompt",
                "prompt: a chained task's prompt is sent as `instruction`",
            ));
        }
        if let Some(instruction) = body.remove(INSTRUCTION) {
            body.insert("prompt".into(), instruction);
        }
        let bytes = serde_json::to_vec(&body).expect("a JSON map serialises");
        crate::extract::parse::<NewTask>(&bytes).map_err(|mut e| {
            if e.body.field.as_deref() == Some("prompt") {
                e.body.field = Some(INSTRUCTION.into());
                e.body.message = e.body.message.replacen("prompt", INSTRUCTION, 1);
            }
            e.body.message = e.body.message.replace("`prompt`", "`instruction`");
            e
        })
    }
}

impl Serialize for ChainTask {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        if let Some(body) = value.as_object_mut() {
            if let Some(prompt) = body.remove("prompt") {
                body.insert(INSTRUCTION.into(), prompt);
            }
        }
        value.serialize(serializer)
    }
}

impl utoipa::PartialSchema for ChainTask {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::Schema;
        use utoipa::openapi::RefOr;
        let mut schema = <NewTask as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.description =
                Some("`POST /tasks/{id}/chain`: a task that runs on the parent's output.".into());
            if let Some(mut prompt) = object.properties.remove("prompt") {
                if let RefOr::T(Schema::Object(field)) = &mut prompt {
                    field.description = Some(
                        "The child's prompt. `{{parent.output}}` is replaced by the parent's \
                         output; without it, the output is put first, followed by a blank line."
                            .into(),
                    );
                }
                object.properties.insert(INSTRUCTION.into(), prompt);
            }
            for name in &mut object.required {
                if name == "prompt" {
                    *name = INSTRUCTION.into();
                }
            }
        }
        schema
    }
}

impl ToSchema for ChainTask {
    fn name() -> std::borrow::Cow<'static, str> {
        "ChainTask".into()
    }
}

/// `POST /tasks/{id}/retry`; the body may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryTask {
    /// A new attempt budget (1..=20); defaults to the task's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 20)]
    pub max_attempts: Option<u32>,
}

/// `POST /tasks/{id}/cancel`; the body may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelTask {
    /// Why, kept with the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to a cancel: the task, plus what the cancel did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CancelledTask {
    #[serde(flatten)]
    pub task: Task,
    /// The status before the cancel.
    pub previous_status: TaskState,
    /// False when the task was already cancelled (not an error).
    pub changed: bool,
}

impl From<Cancelled> for CancelledTask {
    fn from(c: Cancelled) -> Self {
        CancelledTask {
            task: c.task,
            previous_status: c.previous,
            changed: c.changed,
        }
    }
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unwritable` (with status 503) while the engine cannot write its
    /// database (a full disk): writes then fail with the `storage` code, and
    /// the engine resumes by itself once it can write again.
    pub status: String,
    /// Why it is not `ok`: one sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The server's version.
    pub version: String,
    /// The process serving the API.
    pub pid: u32,
    pub counts: Counts,
}

/// The number of tasks in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    pub waiting: u64,
    pub scheduled: u64,
    pub queued: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
}

impl From<StatusCounts> for Counts {
    fn from(c: StatusCounts) -> Self {
        Counts {
            waiting: c.waiting,
            scheduled: c.scheduled,
            queued: c.queued,
            running: c.running,
            completed: c.completed,
            failed: c.failed,
            cancelled: c.cancelled,
        }
    }
}

impl From<Counts> for StatusCounts {
    fn from(c: Counts) -> Self {
        StatusCounts {
            waiting: c.waiting,
            scheduled: c.scheduled,
            queued: c.queued,
            running: c.running,
            completed: c.completed,
            failed: c.failed,
            cancelled: c.cancelled,
        }
    }
}

/// What `POST /import` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportSummary {
    pub imported: usize,
    /// Ids already stored; those records were left out, not overwritten.
    #[schema(value_type = Vec<String>)]
    pub skipped_existing: Vec<TaskId>,
    /// Schedules imported.
    #[serde(default)]
    pub schedules_imported: usize,
    /// Names of schedules left out because one with that id or name is stored.
    #[serde(default)]
    pub skipped_schedules: Vec<String>,
    /// Groups (`map`) imported.
    #[serde(default)]
    pub groups_imported: usize,
    /// Names of groups left out because one with that id or name is stored.
    #[serde(default)]
    pub skipped_groups: Vec<String>,
}

impl From<ImportReport> for ImportSummary {
    fn from(r: ImportReport) -> Self {
        ImportSummary {
            imported: r.imported,
            skipped_existing: r.skipped_existing,
            schedules_imported: r.schedules_imported,
            skipped_schedules: r.skipped_schedules,
            groups_imported: r.groups_imported,
            skipped_groups: r.skipped_groups,
        }
    }
}

/// `POST /schedules` and `PUT /schedules/{name_or_id}`: a recurring schedule
/// (docs/schedules.md). A `PUT` replaces the whole definition; it leaves the
/// schedule paused or enabled (`enabled` is read by `POST` only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// Unique in any case.
    pub name: String,
    /// 5 fields (minute hour day month weekday), or 6 with seconds first.
    pub cron: String,
    /// The IANA zone the expression is read in; `UTC` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Runs that fell due while the engine was stopped: `skip`, `once` (default) or `all`.
    #[serde(default)]
    pub missed: MissedPolicy,
    /// Missed runs later than this many seconds are skipped; no limit when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lateness_s: Option<f64>,
    /// A fire while the previous run is active: `skip` (default), `queue` or `cancel`.
    #[serde(default)]
    pub overlap: OverlapPolicy,
    /// False: created paused. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The task each fire creates; `start_at` must be left out.
    pub task: NewTask,
    /// Instructions chained onto the task, in order (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub follow_ups: Vec<String>,
    /// Failed runs in a row after which the schedule pauses itself; 0 never (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1000)]
    pub pause_after_failures: Option<u32>,
}

fn yes() -> bool {
    true
}

impl ScheduleRequest {
    pub(crate) fn into_new_schedule(self) -> Result<NewSchedule, HttpError> {
        let max_lateness = self
            .max_lateness_s
            .map(|s| {
                Duration::try_from_secs_f64(s).map_err(|_| {
                    HttpError::invalid(
                        "max_lateness_s",
                        format!("max_lateness_s must be a number of seconds, got {s}"),
                    )
                })
            })
            .transpose()?;
        Ok(NewSchedule {
            timezone: self.timezone,
            missed: self.missed,
            max_lateness,
            overlap: self.overlap,
            enabled: self.enabled,
            follow_ups: self.follow_ups,
            pause_after_failures: self.pause_after_failures,
            ..NewSchedule::new(self.name, self.cron, self.task)
        })
    }
}

/// The request a client sends for a new schedule.
impl From<NewSchedule> for ScheduleRequest {
    fn from(s: NewSchedule) -> Self {
        ScheduleRequest {
            name: s.name,
            cron: s.cron,
            timezone: s.timezone,
            missed: s.missed,
            max_lateness_s: s.max_lateness.map(|d| d.as_secs_f64()),
            overlap: s.overlap,
            enabled: s.enabled,
            task: s.task,
            follow_ups: s.follow_ups,
            pause_after_failures: s.pause_after_failures,
        }
    }
}

/// The answer to `POST /schedules/{name_or_id}/run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleFire {
    /// The schedule after the fire started.
    pub schedule: Schedule,
    /// The fire's tasks: its task first, then its follow-ups.
    pub tasks: Vec<Task>,
}

/// A secret in a request body (an API key): sent as a plain JSON string, but
/// `Debug` never shows it, so a logged request cannot leak it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `PUT /providers/{name}`: a provider's settings and where its key comes from.
/// The whole definition is replaced. The key itself, when sent in `api_key`, goes
/// to the OS keychain of the engine's machine and is never answered back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderRequest {
    /// The path's name; may be left out, and must equal it when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub kind: ProviderKind,
    /// Required but for `mock`: e.g. `https://api.openai.com/v1`,
    /// `http://localhost:11434/v1`, `https://api.anthropic.com`.
    #[serde(default)]
    pub base_url: String,
    /// The model tasks get when they name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sent with every request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub limits: Limits,
    /// Where the key comes from: `{"source": "none"}` (the default) or
    /// `{"source": "env", "var": "NAME"}`. `{"source": "keychain"}` without
    /// `api_key` keeps the key already in the keychain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyRef>,
    /// A key to store in the OS keychain; `key` is then left out (or `keychain`).
    /// Never part of any answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, write_only)]
    pub api_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<Prices>,
    /// Longest silence from the server, in milliseconds, before a request counts
    /// as stalled; 120000 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub idle_timeout_ms: Option<u64>,
    /// Context windows in tokens, by model, for fallbacks on a too-long prompt;
    /// models left out take the window the provider's model list gives.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub context_windows: std::collections::BTreeMap<String, u32>,
}

impl ProviderRequest {
    /// The request a client sends to save `settings`, with a key for the keychain.
    pub fn new(settings: ProviderSettings, api_key: Option<Secret>) -> ProviderRequest {
        ProviderRequest {
            name: Some(settings.name),
            kind: settings.kind,
            base_url: settings.base_url,
            model: settings.model,
            headers: settings.headers,
            limits: settings.limits,
            key: match (&api_key, settings.key) {
                (Some(_), _) => None,
                (None, key) => Some(key),
            },
            api_key,
            prices: settings.prices,
            idle_timeout_ms: settings.idle_timeout_ms,
            context_windows: settings.context_windows,
        }
    }

    /// The engine's settings for the provider `name` (the path's), and the key
    /// to store.
    pub(crate) fn into_settings(
        self,
        name: &str,
    ) -> Result<(ProviderSettings, Option<ApiKey>), HttpError> {
        if let Some(given) = &self.name {
            if given.trim() != name.trim() {
                return Err(HttpError::invalid(
                    "name",
                    format!("the body names provider '{given}' but the path '{name}'"),
                ));
            }
        }
        let api_key = match self.api_key {
            None => None,
            Some(secret) => Some(ApiKey::new(secret.0).ok_or_else(|| {
                HttpError::invalid("api_key", "api_key is empty; leave it out for no key")
            })?),
        };
        let key = match (&api_key, self.key) {
            (Some(_), Some(KeyRef::None | KeyRef::Env { .. })) => {
                return Err(HttpError::invalid(
                    "key",
                    "api_key stores the key in the OS keychain: leave key out, or give its source as keychain",
                ))
            }
            (Some(_), _) => KeyRef::Keychain,
            (None, key) => key.unwrap_or_default(),
        };
        let settings = ProviderSettings {
            key,
            model: self.model,
            headers: self.headers,
            limits: self.limits,
            prices: self.prices,
            idle_timeout_ms: self.idle_timeout_ms,
            context_windows: self.context_windows,
            ..ProviderSettings::new(name.trim(), self.kind, self.base_url)
        };
        Ok((settings, api_key))
    }
}

/// `POST /providers/{name}/test`; the body may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestProvider {
    /// The model to try; the provider's default when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// What a provider test measured (`baton provider test --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProviderTestResult {
    pub provider: String,
    pub model: String,
    /// From sending the request to the whole answer.
    pub latency_ms: u64,
    /// From sending the request to the first output.
    pub ttft_ms: Option<u64>,
    /// As the provider reported them.
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// What the model answered.
    pub output: String,
}

impl From<ProviderTest> for ProviderTestResult {
    fn from(t: ProviderTest) -> Self {
        ProviderTestResult {
            provider: t.provider,
            model: t.model,
            latency_ms: t.latency_ms,
            ttft_ms: t.ttft_ms,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            output: t.output,
        }
    }
}

/// The models a provider lists (`GET /providers/{name}/models`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProviderModels {
    pub provider: String,
    /// In the provider's order; each may be a task's `model`.
    pub models: Vec<String>,
}

/// Every error answer. `code` is stable; `message` is one sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// One of: `malformed_json`, `unsupported_media_type`, `unauthorized`,
    /// `forbidden_peer`, `not_found`, `method_not_allowed`, `invalid_state`,
    /// `body_too_large`, `bad_host`, `duplicate_host`, `invalid_input`,
    /// `idempotency_key_reused`, `import_future_version`,
    /// `import_wrong_shape`, `import_bad_records`, `keychain_unavailable`,
    /// `key_unavailable`, `not_detected`, `provider_auth`, `provider_rate_limited`,
    /// `provider_unavailable`, `provider_invalid_request`, `shutting_down`,
    /// `storage`, `internal`.
    pub code: String,
    pub message: String,
    /// For `invalid_input`: the request field at fault (`prompt`, `max_attempts`,
    /// `id`, `cursor`, …); for `keychain_unavailable` and `key_unavailable`: `key`
    /// or `api_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `import_bad_records`: every bad record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Vec<BadRecord>>,
}

/// One refused record of an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BadRecord {
    /// Its position in the file's `tasks`, from 0.
    pub index: usize,
    #[schema(value_type = Option<String>)]
    pub id: Option<TaskId>,
    pub message: String,
}

impl From<&RecordError> for BadRecord {
    fn from(e: &RecordError) -> Self {
        BadRecord {
            index: e.index,
            id: e.id,
            message: e.message.clone(),
        }
    }
}

/// The data of one task event on `GET /events`: the engine's event as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamEvent {
    /// The engine's sequence number (per engine run; the SSE `id` is the
    /// server's own counter).
    pub seq: u64,
    /// When the engine published it.
    pub at: DateTime<Utc>,
    #[schema(value_type = String, format = Uuid)]
    pub task_id: TaskId,
    #[serde(flatten)]
    pub kind: StreamEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEventKind {
    /// A committed status change; `from` is null when the task was created or imported.
    State {
        from: Option<TaskState>,
        to: TaskState,
        task: Box<Task>,
    },
    /// A piece of output from a running attempt.
    Output {
        attempt: u32,
        index: u32,
        chunk: String,
    },
    /// A queued task is held back by its provider's limit and stays queued.
    Held {
        provider: String,
        #[schema(value_type = baton_engine::HoldReason)]
        reason: String,
        /// Until the limit lifts, when a time lifts it.
        wait_ms: Option<u64>,
        /// e.g. "waiting: rate limit, 12 s".
        message: String,
    },
    /// The provider interrupted this task's answer while others were in flight;
    /// it is held to `max_concurrency` requests at once for `wait_ms`.
    ConcurrencyLowered {
        provider: String,
        max_concurrency: u32,
        wait_ms: u64,
        /// e.g. "provider 'local' interrupted answers while several were in
        /// flight: at most 2 at once for 300 s".
        message: String,
    },
    /// Settling this task's attempt brought a budget to 80% of its cap (once
    /// per budget and period).
    BudgetWarning {
        budget: String,
        #[schema(value_type = f64)]
        spent: baton_engine::Real,
        #[schema(value_type = f64)]
        amount: baton_engine::Real,
        #[schema(value_type = baton_engine::BudgetUnit)]
        unit: String,
        /// e.g. "budget 'nightly' has used $1.62 of its daily cap of $2.00".
        message: String,
    },
    /// The task's next attempt goes to another of its targets (a fallback).
    Fallback {
        from: baton_engine::Target,
        to: baton_engine::Target,
        #[schema(value_type = baton_engine::ErrorClass)]
        class: String,
        /// The switch hides a problem to fix (refused credentials).
        warning: bool,
        /// e.g. "falling back from 'a:m1' to 'b:m2' (rate_limited)".
        message: String,
    },
}

/// The data of a `resync` or `shutdown` event on `GET /events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamNotice {
    /// `resync`: events were missed, reload with `GET /tasks`; `shutdown`: the
    /// server is stopping and closes the stream.
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

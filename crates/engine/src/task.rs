//! The task record and the requests that create one, with their validation.

use crate::error::TaskError;
use crate::state::TaskState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Largest prompt accepted, in bytes.
pub const MAX_PROMPT_BYTES: usize = 1024 * 1024;
/// Allowed range for `max_attempts`.
pub const MAX_ATTEMPTS_RANGE: std::ops::RangeInclusive<u32> = 1..=20;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Most tags on one task.
pub const MAX_TAGS: usize = 16;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;
/// Most fallback targets on one task.
pub const MAX_FALLBACKS: usize = 8;
/// Failed attempts (transient, incomplete, timed out) on one target before the
/// next target is tried, when a task does not say.
pub const DEFAULT_FALLBACK_AFTER: u32 = 1;

/// The limits a form checks before sending, as the engine enforces them; the
/// desktop UI reads them from the generated bindings instead of repeating them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TaskLimits {
    pub max_attempts_min: u32,
    pub max_attempts_max: u32,
    pub max_timeout_ms: u64,
    pub max_prompt_bytes: u64,
    pub max_tags: u32,
    pub max_tag_chars: u32,
}

/// The engine's limits on a new task.
pub const TASK_LIMITS: TaskLimits = TaskLimits {
    max_attempts_min: *MAX_ATTEMPTS_RANGE.start(),
    max_attempts_max: *MAX_ATTEMPTS_RANGE.end(),
    max_timeout_ms: MAX_TIMEOUT.as_millis() as u64,
    max_prompt_bytes: MAX_PROMPT_BYTES as u64,
    max_tags: MAX_TAGS as u32,
    max_tag_chars: MAX_TAG_CHARS as u32,
};
/// Longest name kept; longer names are refused.
pub const MAX_NAME_CHARS: usize = 200;
/// Largest `max_tokens` accepted.
pub const MAX_TOKENS_LIMIT: u32 = 1_000_000;
/// Allowed sampling temperatures.
pub const TEMPERATURE_RANGE: std::ops::RangeInclusive<f64> = 0.0..=2.0;
/// The placeholder a chained prompt may use for its parent's output.
pub const PARENT_OUTPUT_PLACEHOLDER: &str = "{{parent.output}}";

/// Declares an id type: a UUIDv7 (so ids sort by creation time) that prints
/// hyphenated and parses with a sentence naming `field` when it is not a UUID.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        #[cfg_attr(feature = "specta", derive(specta::Type))]
        #[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
        pub struct $name(::uuid::Uuid);

        impl $name {
            pub(crate) fn new() -> Self {
                $name(::uuid::Uuid::now_v7())
            }

            /// The big-endian integer form; its order is creation order.
            pub(crate) fn as_u128(self) -> u128 {
                self.0.as_u128()
            }

            #[allow(dead_code)]
            pub(crate) fn from_u128(raw: u128) -> Self {
                $name(::uuid::Uuid::from_u128(raw))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::error::TaskError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s.trim()).map($name).map_err(|_| {
                    $crate::error::TaskError::invalid($field, format!(concat!("'{}' is not a ", $what, " id (a UUID)"), s))
                })
            }
        }
    };
}
pub(crate) use uuid_id;

uuid_id!(
    /// A task's id: a UUIDv7, so ids sort by creation time.
    TaskId,
    "id",
    "task"
);

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum AttemptOutcome {
    Completed,
    /// A retryable error; another attempt was scheduled.
    Retrying,
    Failed,
    TimedOut,
    Cancelled,
    /// The engine stopped (crash or shutdown) while the attempt ran.
    Interrupted,
}

/// One attempt in a task's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Attempt {
    pub number: u32,
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub started_at: DateTime<Utc>,
    #[serde(default, with = "crate::timestamp::option")]
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<AttemptOutcome>,
    pub error: Option<String>,
    /// The class, HTTP status and provider's own message of a provider error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Tokens as the provider reported them, or as Baton counted them when it
    /// reported none (`usage_estimated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    /// From the start of the attempt to its first output chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<u64>,
    /// From the start of the attempt to its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Why the answer stopped, as the provider said (see [`Task::finish_reason`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The tokens were counted by Baton, not reported by the provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_estimated: bool,
    /// What an answer the server ended before finishing (class `incomplete`)
    /// had streamed; the task's `output` moves on to the next attempt's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_output: Option<String>,
    /// The provider and model this attempt was sent to (the task's own, or a
    /// fallback's). Absent on records from before fallbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// What this attempt cost, from its provider's price table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<Real>,
}

impl Attempt {
    /// A new, open attempt.
    pub(crate) fn started(number: u32, at: DateTime<Utc>) -> Self {
        Attempt {
            provider: None,
            model: None,
            cost_usd: None,
            number,
            started_at: at,
            finished_at: None,
            outcome: None,
            error: None,
            failure: None,
            prompt_tokens: None,
            completion_tokens: None,
            ttft_ms: None,
            latency_ms: None,
            finish_reason: None,
            usage_estimated: false,
            partial_output: None,
        }
    }
}

/// Why a provider refused or failed a call. Decides whether, and when, the
/// attempt is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum ErrorClass {
    /// 429: retried after the provider's Retry-After; the whole provider cools down.
    RateLimited,
    /// 5xx, 529, connection errors, stalled streams, malformed replies: retried
    /// with backoff.
    Transient,
    /// 401/403: not retried.
    Auth,
    /// 400/404/413/422 (a bad model, a bad parameter): not retried.
    InvalidRequest,
    /// The prompt does not fit the model's context window (OpenAI-compatible
    /// `context_length_exceeded`, Anthropic's "prompt is too long"): not
    /// retried on the same target; a fallback whose window fits is tried.
    ContextLength,
    /// The server ended the answer before finishing: a stream without a finish
    /// reason (or, from Anthropic, without `message_stop` and a `stop_reason`),
    /// cut by EOF or a closed connection, or a whole reply without one. Retried
    /// with backoff; the partial output stays on the attempt.
    Incomplete,
    /// The answer is not JSON, or does not match the task's output schema:
    /// another attempt (counted), whose prompt carries the validation errors;
    /// the invalid answer stays on the attempt.
    SchemaMismatch,
}

impl ErrorClass {
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::RateLimited
                | ErrorClass::Transient
                | ErrorClass::Incomplete
                | ErrorClass::SchemaMismatch
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Transient => "transient",
            ErrorClass::Auth => "auth",
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::Incomplete => "incomplete",
            ErrorClass::SchemaMismatch => "schema_mismatch",
            ErrorClass::ContextLength => "context_length",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider error as recorded on the task and its attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Failure {
    pub class: ErrorClass,
    /// The HTTP status, when the provider answered with one.
    pub status: Option<u16>,
    /// The provider's own message (keys redacted), when it gave one.
    pub message: Option<String>,
}

/// A finite `f64` compared by its bits, so the records that carry one
/// (temperature, cost) stay `Eq`. Serialised as a plain number.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(value_type = f64))]
pub struct Real(pub f64);

impl PartialEq for Real {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Real {}

/// A task as stored, exported and shown. Field names are the CLI's and the API's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Task {
    pub id: TaskId,
    pub name: String,
    /// The prompt as given (for a chained task: its instruction).
    pub prompt: String,
    /// The prompt actually sent, once its variables (the parent's output,
    /// `{{date}}`, …) are bound; bound again when each attempt starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_prompt: Option<String>,
    pub status: TaskState,
    /// When a scheduled task starts (`None`: as soon as possible). Read also
    /// as `scheduled_for`, its name in records written before the rename.
    #[serde(alias = "scheduled_for", default, with = "crate::timestamp::option")]
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub start_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::timestamp")]
    #[cfg_attr(feature = "specta", specta(type = String))]
    pub created_at: DateTime<Utc>,
    #[serde(default, with = "crate::timestamp::option")]
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, with = "crate::timestamp::option")]
    #[cfg_attr(feature = "specta", specta(type = Option<String>))]
    pub finished_at: Option<DateTime<Utc>>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub parent_task_id: Option<TaskId>,
    pub llm_provider: String,
    pub llm_model: String,
    pub latency_ms: Option<u64>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    pub cancel_reason: Option<String>,
    #[serde(default)]
    pub history: Vec<Attempt>,
    /// Instructions sent as the system prompt.
    #[serde(default)]
    pub system: Option<String>,
    /// Sampling temperature (0–2); the provider's default when `None`.
    #[serde(default)]
    pub temperature: Option<Real>,
    /// Most completion tokens per attempt; the provider's default when `None`.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Tokens over every attempt, as the provider reported them (or Baton
    /// counted them: `usage_estimated`).
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    #[serde(default)]
    pub completion_tokens: Option<u64>,
    /// What those tokens cost, from the provider's price table.
    #[serde(default)]
    pub cost_usd: Option<Real>,
    /// The last provider error's class, HTTP status and message.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// The recurring schedule whose fire created this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<crate::schedule::ScheduleId>,
    /// Why the last answer stopped: `stop`, `length` (at `max_tokens`),
    /// `content_filter`, `tool_calls`, or the provider's own value. Anthropic's
    /// `stop_reason` is mapped onto these (`end_turn` → `stop`, `max_tokens` →
    /// `length`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Some of the token totals were counted by Baton because the provider
    /// reported none (shown with "≈").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_estimated: bool,
    /// Labels to find the task by: lowercase, unique, at most 16; a chained
    /// task carries its parent's too. Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The IANA zone `{{now}}`, `{{date}}` and `{{time}}` are read in: the
    /// schedule's for its tasks, the engine's local zone when a one-off task
    /// was created. Absent when the prompt names none of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Where the answer goes when the task completes.
    #[serde(default, skip_serializing_if = "crate::delivery::Deliver::is_empty")]
    pub deliver: crate::delivery::Deliver,
    /// While an attempt runs: its worst case, reserved in each budget that
    /// counts it, settled when the attempt ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved: Vec<crate::budget::Reserved>,
    /// A JSON Schema every answer must match; asked of the provider natively
    /// where it can. Absent when the answer is free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    pub output_schema: Option<serde_json::Value>,
    /// The answer parsed, once it matched `output_schema`: always present on a
    /// completed task that has one. Any JSON value, as the schema allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Value>))]
    pub output_json: Option<serde_json::Value>,
    /// Targets tried in order after `llm_provider`/`llm_model`, each with its
    /// model resolved (see docs/fallbacks.md). Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<Target>,
    /// The target the next attempt goes to: 0 is `llm_provider`/`llm_model`,
    /// `i` is `fallbacks[i - 1]`. Absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub target_index: u32,
    /// Failed attempts (transient, incomplete, timed out) on one target before
    /// the next is tried; [`DEFAULT_FALLBACK_AFTER`] when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_after: Option<u32>,
    /// The group (`baton map`) this task is a row or the join of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<crate::group::GroupMember>,
    /// Batch mode: sent in a provider batch (half the price) unless its
    /// deadline passes first (docs/batch.md). Absent for a live task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<crate::batch::BatchState>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A provider and model a task may run on: `PROVIDER[:MODEL]` on a command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Target {
    pub provider: String,
    /// The provider's default model when left out (a stored task's is always set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.model {
            Some(m) => write!(f, "{}:{m}", self.provider),
            None => f.write_str(&self.provider),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = TaskError;

    /// `PROVIDER` or `PROVIDER:MODEL`, split at the first `:` (a provider name
    /// has none; a model may: `ollama:llama3:8b`).
    fn from_str(text: &str) -> Result<Self, TaskError> {
        let (provider, model) = match text.split_once(':') {
            Some((p, m)) => (p.trim(), Some(m.trim())),
            None => (text.trim(), None),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if provider.is_empty() || !provider.chars().all(valid) {
            return Err(TaskError::invalid(
                "fallbacks",
                format!("the fallback '{text}' does not start with a provider name; write it PROVIDER or PROVIDER:MODEL"),
            ));
        }
        if model == Some("") {
            return Err(TaskError::invalid(
                "fallbacks",
                format!("the fallback '{text}' has an empty model after ':'; write it PROVIDER or PROVIDER:MODEL"),
            ));
        }
        Ok(Target {
            provider: provider.to_string(),
            model: model.map(String::from),
        })
    }
}

#[cfg(test)]
impl Task {
    /// A queued mock task for unit tests; override fields with `..Task::sample(p)`.
    pub(crate) fn sample(prompt: &str) -> Task {
        Task {
            timeout_ms: 1000,
            ..Task::fresh(
                prompt.into(),
                prompt.into(),
                "mock".into(),
                "echo".into(),
                chrono::Utc::now(),
            )
        }
    }
}

impl Task {
    /// A new queued record that has not run: default attempts and timeout, no
    /// schedule, parent or generation options. Callers override what they set.
    pub(crate) fn fresh(
        name: String,
        prompt: String,
        provider: String,
        model: String,
        now: DateTime<Utc>,
    ) -> Task {
        Task {
            id: TaskId::new(),
            name,
            prompt,
            effective_prompt: None,
            status: TaskState::Queued,
            start_at: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            output: None,
            error: None,
            parent_task_id: None,
            llm_provider: provider,
            llm_model: model,
            latency_ms: None,
            attempts: 0,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            timeout_ms: DEFAULT_TIMEOUT.as_millis() as u64,
            cancel_reason: None,
            history: Vec::new(),
            system: None,
            temperature: None,
            max_tokens: None,
            prompt_tokens: None,
            completion_tokens: None,
            cost_usd: None,
            failure: None,
            schedule_id: None,
            finish_reason: None,
            usage_estimated: false,
            tags: Vec::new(),
            timezone: None,
            deliver: Default::default(),
            group: None,
            reserved: Vec::new(),
            output_schema: None,
            output_json: None,
            fallbacks: Vec::new(),
            target_index: 0,
            fallback_after: None,
            batch: None,
        }
    }
}

impl Task {
    /// The prompt a provider receives.
    pub fn prompt_to_send(&self) -> &str {
        self.effective_prompt.as_deref().unwrap_or(&self.prompt)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The provider and model the next (or running) attempt goes to.
    pub fn target(&self) -> (&str, &str) {
        self.target_at(self.target_index as usize)
            .unwrap_or((&self.llm_provider, &self.llm_model))
    }

    /// Target `i`: 0 is the task's own provider and model, `i` is `fallbacks[i - 1]`.
    pub fn target_at(&self, i: usize) -> Option<(&str, &str)> {
        match i {
            0 => Some((&self.llm_provider, &self.llm_model)),
            _ => self
                .fallbacks
                .get(i - 1)
                .map(|t| (t.provider.as_str(), t.model.as_deref().unwrap_or(""))),
        }
    }

    /// How many targets the task has: its own and its fallbacks.
    pub fn target_count(&self) -> usize {
        1 + self.fallbacks.len()
    }
}

/// What a caller gives to create a task: every field a task is created with,
/// defined once. It is the API's `POST /tasks` body as it is, the chain body
/// with `instruction` for `prompt`, a schedule's `task`, and what the CLI and the
/// desktop forms fill in.
// The CLI's flags are derived from it (feature `clap`), each parsed with the
// engine's own check. Doc comments describe the JSON field (the OpenAPI schema),
// so each flag says in `help` what it takes (`--timeout` is a duration, not ms).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(as = CreateTask))]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct NewTask {
    /// What the model is asked (at most 1 MiB).
    // The CLI takes it as a positional argument (or standard input).
    #[cfg_attr(feature = "clap", arg(skip))]
    pub prompt: String,
    /// A short name; defaults to the prompt's first line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            help = "A short name [default: the prompt's first line; a schedule's task: the schedule's name]"
        )
    )]
    pub name: Option<String>,
    /// Defaults to `mock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", arg(long, help = "The provider [default: mock]"))]
    pub provider: Option<String>,
    /// Defaults to the provider's default model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            help = "The model [default: the provider's]; for mock, directives such as `sleep=500,stream=4`"
        )
    )]
    pub model: Option<String>,
    /// Start at this time (RFC 3339) instead of now.
    // The CLI's `--at`/`--in` fill it, counting `--in` from the moment of sending.
    // `scheduled_for`: its name in requests and export files written before the rename.
    #[serde(
        default,
        alias = "scheduled_for",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "clap", arg(skip))]
    pub start_at: Option<DateTime<Utc>>,
    /// Attempts before the task fails (1..=20, default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 20))]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "N",
            allow_negative_numbers = true,
            value_parser = crate::flags::max_attempts,
            help = "Attempts before the task fails (1..=20) [default: 3]"
        )
    )]
    pub max_attempts: Option<u32>,
    /// Time limit of one attempt in milliseconds (up to 86400000, default 600000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 86_400_000))]
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "timeout",
            value_name = "DURATION",
            value_parser = crate::flags::timeout_ms,
            help = "Time limit of one attempt (up to 24h) [default: 10m]"
        )
    )]
    pub timeout_ms: Option<u64>,
    /// A system prompt (at most 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(long, value_name = "TEXT", help = "A system prompt sent with the task")
    )]
    pub system: Option<String>,
    /// Sampling temperature, 0 to 2; the provider's default when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 0, maximum = 2))]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "F",
            allow_negative_numbers = true,
            value_parser = crate::flags::temperature,
            help = "Sampling temperature (0 to 2) [default: the provider's]"
        )
    )]
    pub temperature: Option<f64>,
    /// Most completion tokens per attempt; the provider's default when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1))]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "N",
            allow_negative_numbers = true,
            value_parser = crate::flags::max_tokens,
            help = "Most completion tokens per attempt [default: the provider's]"
        )
    )]
    pub max_tokens: Option<u32>,
    /// At most 16 tags of 1 to 32 letters, digits, `-`, `_` or `.`; stored
    /// lowercased, duplicates dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "tag",
            value_name = "TAG",
            value_parser = normalize_tag,
            help = "A tag to find the task by (repeat for more): letters, digits, '-', '_', '.'"
        )
    )]
    pub tags: Vec<String>,
    /// Where the answer goes when the task completes: a file, a webhook.
    #[serde(default, skip_serializing_if = "crate::delivery::Deliver::is_empty")]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub deliver: crate::delivery::Deliver,
    /// A JSON Schema (an object, at most 64 KiB) every answer must match; an
    /// answer that does not is retried with the errors shown to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<Object>))]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "FILE",
            value_parser = crate::flags::output_schema,
            help = "A JSON Schema file every answer must match (the parsed answer is output_json)"
        )
    )]
    pub output_schema: Option<serde_json::Value>,
    /// Other providers (and models) to try, in order, when the task's own fails
    /// (at most 8; see docs/fallbacks.md for which error moves on when).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "fallback",
            value_name = "PROVIDER[:MODEL]",
            value_parser = crate::flags::target,
            help = "A provider (and model) to try when the previous one fails (repeat for more, in order)"
        )
    )]
    pub fallbacks: Vec<Target>,
    /// Failed attempts (transient, incomplete, timed out) on one target before
    /// the next fallback is tried (1..=20, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(minimum = 1, maximum = 20))]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "N",
            allow_negative_numbers = true,
            value_parser = crate::flags::fallback_after,
            help = "Failed attempts on one target before the next fallback (1..=20) [default: 1]"
        )
    )]
    pub fallback_after: Option<u32>,
    /// Batch mode: send the task in a provider batch (OpenAI's Batch API,
    /// Anthropic's Message Batches) at half the price, by a deadline
    /// (`within_ms` from now, or an RFC 3339 `deadline`); what is unfinished
    /// then runs live. See docs/batch.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "clap", command(flatten))]
    pub batch: Option<crate::batch::BatchRequest>,
}

impl NewTask {
    pub fn new(prompt: impl Into<String>) -> Self {
        NewTask {
            prompt: prompt.into(),
            ..NewTask::default()
        }
    }

    /// The checks that need no engine: sizes, ranges, the start time's bound.
    /// The engine runs them on every new task, and a client (the CLI) runs them
    /// before sending, because some values (a NaN temperature) cannot travel
    /// in JSON and would arrive as something else.
    pub fn check(&self) -> Result<(), TaskError> {
        validate_prompt(&self.prompt)?;
        if let Some(name) = &self.name {
            validate_name(name)?;
        }
        if let Some(n) = self.max_attempts {
            validate_max_attempts(n)?;
        }
        if let Some(ms) = self.timeout_ms {
            validate_timeout(Duration::from_millis(ms))?;
        }
        normalize_tags(&self.tags)?;
        check_fallbacks(&self.fallbacks, self.fallback_after)?;
        let system = self.system.as_deref().filter(|s| !s.trim().is_empty());
        validate_generation(system, self.temperature, self.max_tokens)?;
        if let Some(at) = self.start_at {
            validate_start_at(at)?;
        }
        // What only a schedule's task may use is checked by the engine, which
        // knows where the task is saved.
        self.deliver.check(true)?;
        if let Some(schema) = &self.output_schema {
            crate::structured::check_schema(schema)?;
        }
        if let Some(batch) = &self.batch {
            batch.check()?;
        }
        Ok(())
    }
}

/// What needs no engine: at most [`MAX_FALLBACKS`] well-formed targets, and
/// `fallback_after` in range. Whether each provider exists is the engine's check.
pub(crate) fn check_fallbacks(
    fallbacks: &[Target],
    fallback_after: Option<u32>,
) -> Result<(), TaskError> {
    if fallbacks.len() > MAX_FALLBACKS {
        return Err(TaskError::invalid(
            "fallbacks",
            format!(
                "a task has at most {MAX_FALLBACKS} fallbacks, got {}",
                fallbacks.len()
            ),
        ));
    }
    for t in fallbacks {
        // The same rules as a `--fallback` flag: a name, and no empty model.
        let again: Target = t.to_string().parse()?;
        if again.provider != t.provider {
            return Err(TaskError::invalid(
                "fallbacks",
                format!(
                    "the fallback provider '{}' is not a provider name",
                    t.provider
                ),
            ));
        }
    }
    if let Some(n) = fallback_after {
        if !MAX_ATTEMPTS_RANGE.contains(&n) {
            return Err(fallback_after_out_of_range(n));
        }
    }
    Ok(())
}

pub(crate) fn fallback_after_out_of_range(got: impl fmt::Display) -> TaskError {
    TaskError::invalid(
        "fallback_after",
        format!(
            "fallback_after must be between {} and {}, got {got}",
            MAX_ATTEMPTS_RANGE.start(),
            MAX_ATTEMPTS_RANGE.end()
        ),
    )
}

/// The latest start time accepted: the end of year 9999, the last one RFC 3339
/// (the API's and the export file's time format) can write.
pub(crate) fn max_start_at() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(253_402_300_799, 0).expect("a valid time")
}

pub(crate) fn validate_start_at(at: DateTime<Utc>) -> Result<(), TaskError> {
    if at > max_start_at() {
        return Err(TaskError::invalid(
            "start_at",
            format!(
                "the start time is too far in the future ({}); the latest is the end of year 9999",
                at.format("year %Y")
            ),
        ));
    }
    Ok(())
}

/// A child task chained onto `parent`: its prompt is the instruction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainRequest {
    pub parent: TaskId,
    pub task: NewTask,
}

/// Checks the fields every task must satisfy; shared by create, chain and import.
pub(crate) fn validate_prompt(prompt: &str) -> Result<(), TaskError> {
    if prompt.trim().is_empty() {
        return Err(TaskError::invalid("prompt", "the prompt is empty"));
    }
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(TaskError::invalid(
            "prompt",
            format!(
                "the prompt is {} bytes, over the limit of {MAX_PROMPT_BYTES} bytes (1 MiB)",
                prompt.len()
            ),
        ));
    }
    Ok(())
}

/// The generation options of a new task: system prompt, temperature, max_tokens.
pub(crate) fn validate_generation(
    system: Option<&str>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
) -> Result<(), TaskError> {
    if let Some(system) = system {
        if system.len() > MAX_PROMPT_BYTES {
            return Err(TaskError::invalid(
                "system",
                format!("the system prompt is {} bytes, over the limit of {MAX_PROMPT_BYTES} bytes (1 MiB)", system.len()),
            ));
        }
    }
    if let Some(t) = temperature {
        if !t.is_finite() || !TEMPERATURE_RANGE.contains(&t) {
            return Err(TaskError::invalid(
                "temperature",
                format!("the temperature must be between 0 and 2, got {t}"),
            ));
        }
    }
    if let Some(n) = max_tokens {
        if !(1..=MAX_TOKENS_LIMIT).contains(&n) {
            return Err(max_tokens_out_of_range(n));
        }
    }
    Ok(())
}

pub(crate) fn validate_max_attempts(n: u32) -> Result<(), TaskError> {
    if MAX_ATTEMPTS_RANGE.contains(&n) {
        Ok(())
    } else {
        Err(max_attempts_out_of_range(n))
    }
}

/// `got` is whatever was given: a number outside `u32` (a CLI flag) too.
pub(crate) fn max_attempts_out_of_range(got: impl fmt::Display) -> TaskError {
    TaskError::invalid(
        "max_attempts",
        format!(
            "max_attempts must be between {} and {}, got {got}",
            MAX_ATTEMPTS_RANGE.start(),
            MAX_ATTEMPTS_RANGE.end()
        ),
    )
}

pub(crate) fn max_tokens_out_of_range(got: impl fmt::Display) -> TaskError {
    TaskError::invalid(
        "max_tokens",
        format!("max_tokens must be between 1 and {MAX_TOKENS_LIMIT}, got {got}"),
    )
}

pub(crate) fn validate_timeout(timeout: Duration) -> Result<(), TaskError> {
    if timeout.is_zero() {
        Err(TaskError::invalid(
            "timeout_ms",
            "the timeout must be longer than zero",
        ))
    } else if timeout > MAX_TIMEOUT {
        Err(TaskError::invalid(
            "timeout_ms",
            format!(
                "the timeout must be at most 24 hours, got {}s",
                timeout.as_secs()
            ),
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn validate_name(name: &str) -> Result<(), TaskError> {
    if name.trim().is_empty() {
        return Err(TaskError::invalid("name", "the name is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(TaskError::invalid(
            "name",
            format!("the name is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Tags as stored: each trimmed and lowercased (so `Ops` and `ops` are one
/// tag), duplicates dropped, first-seen order kept. A tag has 1 to
/// [`MAX_TAG_CHARS`] ASCII letters, digits, `-`, `_` or `.`, so it is safe in a
/// URL query and a shell word; a task has at most [`MAX_TAGS`].
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, TaskError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for raw in tags {
        let tag = raw.trim().to_ascii_lowercase();
        if tag.is_empty() {
            return Err(TaskError::invalid("tags", "a tag is empty"));
        }
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(TaskError::invalid(
                "tags",
                format!("the tag '{tag}' is longer than {MAX_TAG_CHARS} characters"),
            ));
        }
        if let Some(bad) = tag
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(TaskError::invalid(
                "tags",
                format!(
                    "the tag '{}' has '{bad}'; a tag holds only letters, digits, '-', '_' and '.'",
                    raw.trim()
                ),
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(TaskError::invalid(
            "tags",
            format!("a task has at most {MAX_TAGS} tags, got {}", out.len()),
        ));
    }
    Ok(out)
}

/// One tag in its stored form: what a `--tag` flag or a list's filter holds.
/// How many a task may have is checked on the whole task.
pub fn normalize_tag(text: &str) -> Result<String, TaskError> {
    Ok(normalize_tags(&[text.to_string()])?.remove(0))
}

/// Tags already stored (an import, a template) must be in their stored form.
pub(crate) fn validate_stored_tags(tags: &[String]) -> Result<(), TaskError> {
    if normalize_tags(tags)? != tags {
        return Err(TaskError::invalid(
            "tags",
            "the tags are not lowercase and unique",
        ));
    }
    Ok(())
}

/// A duration in milliseconds, as people write it: `1500ms`, `30s`.
pub(crate) fn format_ms(ms: u64) -> String {
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A default name: the prompt's first line, shortened.
pub(crate) fn default_name(prompt: &str) -> String {
    let first = prompt.trim().lines().next().unwrap_or("task").trim();
    let mut name: String = first.chars().take(60).collect();
    if first.chars().count() > 60 {
        name.push('…');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation_and_parse_back() {
        let a = TaskId::new();
        let b = TaskId::new();
        assert!(a.as_u128() < b.as_u128());
        assert_eq!(a.to_string().parse::<TaskId>().unwrap(), a);
        assert_eq!(TaskId::from_u128(a.as_u128()), a);
        assert!("nope".parse::<TaskId>().is_err());
    }

    #[test]
    fn validation_refuses_each_bad_field_with_a_sentence() {
        assert!(validate_prompt("  \n ").is_err());
        assert!(validate_prompt(&"x".repeat(MAX_PROMPT_BYTES + 1)).is_err());
        assert!(validate_prompt(&"x".repeat(MAX_PROMPT_BYTES)).is_ok());
        assert!(validate_max_attempts(0).is_err());
        assert!(validate_max_attempts(21).is_err());
        assert!(validate_max_attempts(20).is_ok());
        assert!(validate_timeout(Duration::ZERO).is_err());
        assert!(validate_timeout(MAX_TIMEOUT + Duration::from_secs(1)).is_err());
        assert!(validate_timeout(MAX_TIMEOUT).is_ok());
        let err = validate_max_attempts(0).unwrap_err().to_string();
        assert!(err.contains("between 1 and 20"), "{err}");
    }

    #[test]
    fn a_record_from_before_finish_reasons_and_estimates_loads_and_saves_unchanged() {
        let old = serde_json::json!({
            "id": "0190d7a4-0000-7000-8000-000000000001", "name": "n", "prompt": "p",
            "status": "completed", "scheduled_for": null, "created_at": "2026-12-01T08:00:00Z",
            "started_at": null, "finished_at": null, "output": "o", "error": null,
            "parent_task_id": null, "llm_provider": "mock", "llm_model": "echo",
            "latency_ms": null, "attempts": 1, "max_attempts": 3, "timeout_ms": 1000,
            "cancel_reason": null,
            "history": [{"number": 1, "started_at": "2026-12-01T08:00:00Z",
                "finished_at": "2026-12-01T08:00:01Z", "outcome": "completed", "error": null,
                "prompt_tokens": 3}],
            "system": null, "temperature": null, "max_tokens": null, "prompt_tokens": 3,
            "completion_tokens": null, "cost_usd": null, "failure": null,
        });
        let task: Task = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(
            (task.finish_reason.as_deref(), task.usage_estimated),
            (None, false)
        );
        let attempt = &task.history[0];
        assert_eq!(
            (
                &attempt.finish_reason,
                attempt.usage_estimated,
                &attempt.partial_output
            ),
            (&None, false, &None)
        );
        // Unchanged but for `scheduled_for`, written under its new name.
        let mut saved = old;
        let start = saved
            .as_object_mut()
            .unwrap()
            .remove("scheduled_for")
            .unwrap();
        saved["start_at"] = start;
        assert_eq!(serde_json::to_value(&task).unwrap(), saved);
    }

    #[test]
    fn a_record_or_request_with_the_old_scheduled_for_reads_its_start_time() {
        let at = "2026-12-24T18:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let now = Utc::now();
        let fresh = Task::fresh("n".into(), "p".into(), "mock".into(), "echo".into(), now);
        let mut record = serde_json::to_value(fresh).unwrap();
        let fields = record.as_object_mut().unwrap();
        fields.remove("start_at");
        fields.insert("scheduled_for".into(), serde_json::json!(at));
        let task: Task = serde_json::from_value(record).unwrap();
        assert_eq!(task.start_at, Some(at));
        let written = serde_json::to_value(&task).unwrap();
        assert_eq!(written["start_at"], serde_json::json!(at));
        assert!(
            written.get("scheduled_for").is_none(),
            "the new name is written"
        );

        let new: NewTask =
            serde_json::from_value(serde_json::json!({"prompt": "p", "scheduled_for": at}))
                .unwrap();
        assert_eq!(new.start_at, Some(at));
    }

    #[test]
    fn tags_are_case_folded_deduplicated_and_refused_with_a_sentence() {
        let tags = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            normalize_tags(&tags(&[" Ops", "weekly", "OPS", "v1.2_x-y"])).unwrap(),
            tags(&["ops", "weekly", "v1.2_x-y"])
        );
        for (bad, says) in [
            (tags(&[""]), "empty"),
            (tags(&["has space"]), "has ' '"),
            (tags(&["é"]), "only letters"),
            (tags(&[&"a".repeat(MAX_TAG_CHARS + 1)]), "longer than 32"),
        ] {
            let err = normalize_tags(&bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        let err = normalize_tags(&many).unwrap_err().to_string();
        assert!(err.contains("at most 16 tags"), "{err}");
        // Seventeen spellings of one tag are one tag.
        let same: Vec<String> = (0..=MAX_TAGS).map(|_| "Same".to_string()).collect();
        assert_eq!(normalize_tags(&same).unwrap(), tags(&["same"]));
    }

    #[test]
    fn one_tag_is_stored_lowercased_or_refused_with_the_tag_rule() {
        assert_eq!(normalize_tag(" Ops ").unwrap(), "ops");
        let err = normalize_tag("no spaces").unwrap_err().to_string();
        assert!(err.contains("only letters, digits"), "{err}");
        assert_eq!(normalize_tag("").unwrap_err().to_string(), "a tag is empty");
    }

    #[test]
    fn a_fallback_target_splits_at_the_first_colon_and_names_a_provider() {
        let t: Target = "ollama:llama3:8b".parse().unwrap();
        assert_eq!(
            (t.provider.as_str(), t.model.as_deref()),
            ("ollama", Some("llama3:8b"))
        );
        assert_eq!(t.to_string(), "ollama:llama3:8b");
        let t: Target = " local ".parse().unwrap();
        assert_eq!((t.provider.as_str(), t.model), ("local", None));
        for (bad, says) in [
            (":m", "does not start with a provider name"),
            ("", "does not start with a provider name"),
            ("a b:m", "does not start with a provider name"),
            ("p:", "empty model"),
        ] {
            let err = bad.parse::<Target>().unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
            assert!(matches!(
                err,
                TaskError::Invalid {
                    field: "fallbacks",
                    ..
                }
            ));
        }
        let many: Vec<Target> = (0..=MAX_FALLBACKS)
            .map(|i| format!("p:m{i}").parse().unwrap())
            .collect();
        let err = check_fallbacks(&many, None).unwrap_err().to_string();
        assert!(err.contains("at most 8 fallbacks"), "{err}");
        assert!(check_fallbacks(&many[..MAX_FALLBACKS], Some(20)).is_ok());
        assert!(check_fallbacks(&[], Some(0)).is_err());
    }

    #[test]
    fn default_name_is_the_shortened_first_line() {
        assert_eq!(default_name("  Hello world\nmore"), "Hello world");
        assert_eq!(default_name(&"a".repeat(70)).chars().count(), 61);
    }
}

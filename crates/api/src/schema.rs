//! OpenAPI schemas of the engine's types, which do not depend on utoipa.
//!
//! These structs are never built: they only describe what the engine's serde
//! output looks like. A test serialises real engine values and checks that every
//! key is here and every always-present key is required, so the mirrors cannot
//! drift from the engine unnoticed.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

/// A task as stored, exported and shown (`baton show --json`).
#[derive(ToSchema)]
#[schema(as = Task)]
pub(crate) struct TaskDoc {
    #[schema(format = Uuid)]
    id: String,
    name: String,
    /// The prompt as given (for a chained task: its instruction).
    prompt: String,
    /// For a chained task, the prompt actually sent once the parent's output is
    /// bound. Absent otherwise.
    #[schema(required = false)]
    effective_prompt: Option<String>,
    status: TaskStatusDoc,
    scheduled_for: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    output: Option<String>,
    error: Option<String>,
    #[schema(format = Uuid)]
    parent_task_id: Option<String>,
    llm_provider: String,
    llm_model: String,
    latency_ms: Option<u64>,
    attempts: u32,
    max_attempts: u32,
    timeout_ms: u64,
    cancel_reason: Option<String>,
    history: Vec<AttemptDoc>,
    /// The system prompt, if any.
    system: Option<String>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    /// Tokens over every attempt, as the provider reported them (or Baton
    /// counted them: `usage_estimated`).
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    /// What those tokens cost, from the provider's price table.
    cost_usd: Option<f64>,
    /// The last provider error.
    failure: Option<FailureDoc>,
    /// Why the last answer stopped: `stop`, `length` (at `max_tokens`),
    /// `content_filter`, `tool_calls`, or the provider's own value (Anthropic's
    /// `stop_reason` mapped onto these). Absent when no answer said.
    #[schema(required = false)]
    finish_reason: Option<String>,
    /// True when some of the token totals were counted by Baton because the
    /// provider reported none. Absent when false.
    #[schema(required = false)]
    usage_estimated: bool,
}

/// A provider error as recorded on a task and its attempt.
#[derive(ToSchema)]
#[schema(as = Failure)]
pub(crate) struct FailureDoc {
    class: ErrorClassDoc,
    /// The HTTP status, when the provider answered with one.
    status: Option<u16>,
    /// The provider's own message (keys redacted).
    message: Option<String>,
}

/// Why a provider refused or failed a call.
#[derive(ToSchema)]
#[schema(as = ErrorClass)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorClassDoc {
    RateLimited,
    Transient,
    Auth,
    InvalidRequest,
    /// The server ended the answer before finishing (no finish reason): retried.
    Incomplete,
}

/// Where a task is in its life (docs/state-machine.md).
#[derive(ToSchema)]
#[schema(as = TaskStatus)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TaskStatusDoc {
    Waiting,
    Scheduled,
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

/// One attempt in a task's history.
#[derive(ToSchema)]
#[schema(as = Attempt)]
pub(crate) struct AttemptDoc {
    number: u32,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    outcome: Option<AttemptOutcomeDoc>,
    error: Option<String>,
    #[schema(required = false)]
    failure: Option<FailureDoc>,
    #[schema(required = false)]
    prompt_tokens: Option<u64>,
    #[schema(required = false)]
    completion_tokens: Option<u64>,
    /// From the start of the attempt to its first output chunk.
    #[schema(required = false)]
    ttft_ms: Option<u64>,
    /// From the start of the attempt to its outcome.
    #[schema(required = false)]
    latency_ms: Option<u64>,
    /// Why the answer stopped, as the provider said.
    #[schema(required = false)]
    finish_reason: Option<String>,
    /// True when the tokens were counted by Baton. Absent when false.
    #[schema(required = false)]
    usage_estimated: bool,
    /// What an answer the server ended before finishing (class `incomplete`) had streamed.
    #[schema(required = false)]
    partial_output: Option<String>,
}

/// How one attempt ended.
#[derive(ToSchema)]
#[schema(as = AttemptOutcome)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AttemptOutcomeDoc {
    Completed,
    Retrying,
    Failed,
    TimedOut,
    Cancelled,
    Interrupted,
}

/// Why a queued task is held back by its provider's limits.
#[derive(ToSchema)]
#[schema(as = HoldReason)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HoldReasonDoc {
    RateLimit,
    Concurrency,
    RequestsPerMinute,
    TokensPerMinute,
}

/// The export file (docs/export-format.md); `POST /import` takes the same shape.
#[derive(ToSchema)]
#[schema(as = ExportFile)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportFileDoc {
    format_version: u64,
    exported_at: DateTime<Utc>,
    tasks: Vec<TaskDoc>,
    /// Since format_version 2.
    #[schema(required = false)]
    schedules: Vec<ScheduleDoc>,
}

/// What happens to runs that fell due while the engine was not running.
#[derive(ToSchema)]
#[schema(as = MissedPolicy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MissedPolicyDoc {
    Skip,
    Once,
    All,
}

/// What a fire does while the schedule's previous run is still active.
#[derive(ToSchema)]
#[schema(as = OverlapPolicy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OverlapPolicyDoc {
    Skip,
    Queue,
    Cancel,
}

/// Why runs were skipped.
#[derive(ToSchema)]
#[schema(as = SkipReason)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SkipReasonDoc {
    Missed,
    TooLate,
    CatchUpLimit,
    Overlap,
}

/// A recurring schedule, as stored, exported and shown (`baton schedule list --json`).
#[derive(ToSchema)]
#[schema(as = Schedule)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScheduleDoc {
    #[schema(format = Uuid)]
    id: String,
    name: String,
    /// Five fields (minute first), or six with seconds first.
    cron: String,
    /// An IANA zone; the cron fields are read in it.
    timezone: String,
    missed: MissedPolicyDoc,
    /// Missed runs older than this are skipped whatever the policy; null: no limit.
    max_lateness_ms: Option<u64>,
    overlap: OverlapPolicyDoc,
    /// False while paused.
    enabled: bool,
    template: TaskTemplateDoc,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// When the latest run was created.
    last_fired_at: Option<DateTime<Utc>>,
    /// The next fire time; null while paused.
    next_fire_at: Option<DateTime<Utc>>,
    /// Runs created so far.
    runs: u64,
    /// The tasks of the latest fire.
    #[schema(value_type = Vec<String>)]
    active_run: Vec<String>,
    /// Fire times waiting for the active run to end (`overlap: queue`).
    pending: Vec<DateTime<Utc>>,
    /// The most recent groups of skipped runs, oldest first.
    skipped: Vec<SkippedRunsDoc>,
    /// Every run ever skipped.
    skipped_total: u64,
}

/// The task each fire of a schedule creates.
#[derive(ToSchema)]
#[schema(as = TaskTemplate)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskTemplateDoc {
    /// The task's name; the schedule's name when null.
    name: Option<String>,
    prompt: String,
    provider: String,
    model: String,
    max_attempts: u32,
    timeout_ms: u64,
    system: Option<String>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    follow_ups: Vec<String>,
}

/// A group of consecutive fire times skipped for one reason.
#[derive(ToSchema)]
#[schema(as = SkippedRuns)]
pub(crate) struct SkippedRunsDoc {
    reason: SkipReasonDoc,
    count: u64,
    /// The first and last skipped fire times.
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    /// e.g. "3 runs skipped while Baton was closed or asleep (missed: skip)".
    message: String,
}

/// A configured provider (`baton provider list --json`): everything but its key,
/// which lives in the OS keychain or an environment variable.
#[derive(ToSchema)]
#[schema(as = ProviderSettings)]
pub(crate) struct ProviderSettingsDoc {
    /// Letters, digits, '-', '_' and '.'; tasks name it with `provider`.
    name: String,
    kind: ProviderKindDoc,
    /// e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`,
    /// `https://api.anthropic.com`; empty for `mock`.
    base_url: String,
    /// The model a task gets when it names none.
    model: Option<String>,
    /// Sent with every request (e.g. OpenRouter's `HTTP-Referer`).
    headers: std::collections::BTreeMap<String, String>,
    limits: LimitsDoc,
    key: KeyRefDoc,
    prices: Option<PricesDoc>,
    /// Longest silence while waiting for a response or its next chunk; null: 120000.
    idle_timeout_ms: Option<u64>,
    /// The concurrency in force now, when Baton lowered it because the provider
    /// kept interrupting answers while several were in flight. Absent otherwise.
    #[schema(required = false)]
    lowered_concurrency: Option<LoweredConcurrencyDoc>,
}

/// A provider's lowered concurrency, in force until `until`.
#[derive(ToSchema)]
#[schema(as = LoweredConcurrency)]
pub(crate) struct LoweredConcurrencyDoc {
    /// Requests in flight at once, for now.
    max_concurrency: u32,
    /// When the settings' own limit applies again, unless answers are interrupted meanwhile.
    until: DateTime<Utc>,
}

/// Which wire protocol a provider speaks.
#[derive(ToSchema)]
#[schema(as = ProviderKind)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ProviderKindDoc {
    /// `POST {base_url}/chat/completions`: OpenAI, Ollama, LM Studio, llama.cpp,
    /// vLLM, LiteLLM, OpenRouter, Groq.
    OpenaiCompatible,
    /// `POST {base_url}/v1/messages`: Anthropic's Messages API.
    Anthropic,
    /// The deterministic mock, under another name.
    Mock,
}

/// A provider's limits; null is unlimited.
#[derive(ToSchema)]
#[schema(as = Limits)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsDoc {
    /// Requests in flight at once.
    #[schema(minimum = 1)]
    max_concurrency: Option<u32>,
    /// Requests started in any 60 s.
    #[schema(minimum = 1)]
    rpm: Option<u32>,
    /// Tokens (prompt estimate + max_tokens, reconciled with the reported usage) in any 60 s.
    #[schema(minimum = 1)]
    tpm: Option<u64>,
}

/// Where a provider's API key comes from; never the key itself.
#[derive(ToSchema)]
#[schema(as = KeyRef)]
#[serde(tag = "source", rename_all = "snake_case")]
#[serde(deny_unknown_fields)]
pub(crate) enum KeyRefDoc {
    /// No key (a local server).
    None,
    /// Read from this environment variable of the engine's process at each request.
    Env { var: String },
    /// In the OS keychain, under service `baton` and the provider's name.
    Keychain,
}

/// US dollars per million tokens.
#[derive(ToSchema)]
#[schema(as = Prices)]
#[serde(deny_unknown_fields)]
pub(crate) struct PricesDoc {
    #[schema(minimum = 0)]
    input_per_mtok: f64,
    #[schema(minimum = 0)]
    output_per_mtok: f64,
}

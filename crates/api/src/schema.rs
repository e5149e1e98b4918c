//! OpenAPI schemas of the engine's types that do not derive one yet (the task,
//! its attempts and a schedule's template do, behind the engine's `utoipa`
//! feature).
//!
//! These structs are never built: they only describe what the engine's serde
//! output looks like. A test serialises real engine values and checks that every
//! key is here and every always-present key is required, so the mirrors cannot
//! drift from the engine unnoticed.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

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
    tasks: Vec<baton_engine::Task>,
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
    template: baton_engine::TaskTemplate,
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

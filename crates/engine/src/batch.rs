//! Batch mode's types: what a caller asks for ([`BatchRequest`]) and what a
//! task keeps ([`BatchState`]). The loop that sends batches is `batcher`;
//! the design is docs/batch.md.

use crate::error::TaskError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a batch costs against the same tokens sent live: OpenAI's Batch API
/// and Anthropic's Message Batches both charge half.
pub const BATCH_PRICE_FACTOR: f64 = 0.5;

/// The longest a batch task may wait: a provider batch ends within 24 hours,
/// and a deadline further out would only delay the live fallback.
pub const MAX_BATCH_WITHIN_MS: u64 = 7 * 24 * 3600 * 1000;

/// "Cheaper, by a deadline": exactly one of `within_ms` (from when the task is
/// created; the only form a schedule's task takes) or `deadline`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct BatchRequest {
    /// The deadline, in milliseconds after the task is created (1 second to 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_ms: Option<u64>,
    /// The deadline as a time (RFC 3339); it must be ahead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
}

/// The shortest `within_ms`: one second (tests use seconds; a real batch
/// rarely ends in minutes, so a short deadline simply runs live).
const MIN_BATCH_WITHIN_MS: u64 = 1000;

impl BatchRequest {
    /// A deadline this long after the task is created.
    pub fn within(d: std::time::Duration) -> BatchRequest {
        BatchRequest {
            within_ms: Some(d.as_millis() as u64),
            deadline: None,
        }
    }

    /// What needs no clock: one form, in range.
    pub(crate) fn check(&self) -> Result<(), TaskError> {
        match (self.within_ms, self.deadline) {
            (Some(_), Some(_)) => Err(TaskError::invalid(
                "batch",
                "batch takes within_ms or deadline, not both",
            )),
            (None, None) => Err(TaskError::invalid(
                "batch",
                "batch needs a deadline: within_ms (from now) or deadline (a time)",
            )),
            (Some(ms), None) if !(MIN_BATCH_WITHIN_MS..=MAX_BATCH_WITHIN_MS).contains(&ms) => {
                Err(TaskError::invalid(
                    "batch.within_ms",
                    format!(
                        "batch.within_ms must be between 1000 (1 second) and {MAX_BATCH_WITHIN_MS} (7 days), got {ms}"
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The absolute deadline of a task created `now`; refused when it is not
    /// ahead (or too far ahead).
    pub(crate) fn deadline_at(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, TaskError> {
        self.check()?;
        if let Some(ms) = self.within_ms {
            return Ok(now + chrono::Duration::milliseconds(ms as i64));
        }
        let at = self.deadline.unwrap_or(now);
        if at <= now {
            return Err(TaskError::invalid(
                "batch.deadline",
                format!(
                    "batch.deadline {} is in the past; give a time ahead, or within_ms",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ));
        }
        if at > now + chrono::Duration::milliseconds(MAX_BATCH_WITHIN_MS as i64) {
            return Err(TaskError::invalid(
                "batch.deadline",
                "batch.deadline is more than 7 days ahead",
            ));
        }
        Ok(at)
    }

    /// A schedule's task is created at each fire: only a relative deadline means
    /// the same thing every time.
    pub(crate) fn check_for_schedule(&self) -> Result<(), TaskError> {
        if self.deadline.is_some() {
            return Err(TaskError::invalid(
                "batch.deadline",
                "a schedule's task takes batch.within_ms (a deadline counted from each fire), not batch.deadline",
            ));
        }
        self.check()
    }
}

/// `--deadline D`: a duration from now (`24h`, `90m`) or an RFC 3339 time.
#[cfg(feature = "clap")]
pub(crate) fn parse_deadline(text: &str) -> Result<BatchRequest, TaskError> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(BatchRequest {
            within_ms: None,
            deadline: Some(at.with_timezone(&Utc)),
        });
    }
    let within = humantime::parse_duration(text).map_err(|_| {
        TaskError::invalid(
            "batch.deadline",
            format!(
                "--deadline '{text}' is neither a duration (24h, 90m) nor an RFC 3339 time (2026-12-05T08:00:00Z)"
            ),
        )
    })?;
    let request = BatchRequest::within(within);
    request.check()?;
    Ok(request)
}

/// The default deadline of `--batch`: a provider batch's own window.
#[cfg(feature = "clap")]
const DEFAULT_BATCH_WITHIN: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

// `--batch [--deadline D]`, written by hand: the flags do not mirror the JSON
// fields one to one (a switch and one value that is either form).
#[cfg(feature = "clap")]
impl clap::FromArgMatches for BatchRequest {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut request = BatchRequest::default();
        request.update_from_arg_matches(m)?;
        Ok(request)
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        let deadline = m.get_one::<BatchRequest>("batch_deadline").cloned();
        if !m.get_flag("batch") {
            if deadline.is_some() {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "--deadline is the deadline of batch mode (batch.deadline): add --batch\n",
                ));
            }
            return Ok(());
        }
        *self = deadline.unwrap_or_else(|| BatchRequest::within(DEFAULT_BATCH_WITHIN));
        Ok(())
    }
}

#[cfg(feature = "clap")]
impl clap::Args for BatchRequest {
    fn group_id() -> Option<clap::Id> {
        Some(clap::Id::from("BatchRequest"))
    }

    fn augment_args(cmd: clap::Command) -> clap::Command {
        use clap::{Arg, ArgAction, ArgGroup};
        cmd.group(
            ArgGroup::new("BatchRequest")
                .multiple(true)
                .args(["batch", "batch_deadline"]),
        )
        .arg(
            Arg::new("batch")
                .long("batch")
                .action(ArgAction::SetTrue)
                .help("Batch mode: send in a provider batch at half the price; what is unfinished at the deadline runs live"),
        )
        .arg(
            Arg::new("batch_deadline")
                .long("deadline")
                .value_name("D")
                .value_parser(parse_deadline)
                .help("Batch mode's deadline: a duration (24h, 90m) or an RFC 3339 time [default: 24h]"),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// A batch task's deadline, and the provider batch its current attempt is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct BatchState {
    /// After this the task is no longer sent in a batch: it runs live.
    pub deadline: DateTime<Utc>,
    /// The batch of the attempt numbered `claim_no`, while it is (or was) in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_batch: Option<InBatch>,
}

/// Which batch an attempt was sent in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct InBatch {
    /// The engine's id of the batch (sent as the provider batch's metadata).
    pub id: String,
    /// The attempt (its number in the history) the batch carries.
    pub claim_no: u32,
    /// The provider's id, once it accepted the batch; `None` while submitting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_batch_id: Option<String>,
}

impl BatchState {
    /// The provider batch that owns the running attempt `claim_no`, if any: such
    /// an attempt is not orphaned by a restart, its batch's results will come.
    pub(crate) fn owner(&self, claim_no: usize) -> Option<&str> {
        self.in_batch
            .as_ref()
            .filter(|b| b.claim_no as usize == claim_no)
            .and_then(|b| b.provider_batch_id.as_deref())
    }
}

/// `"<task id without dashes><claim number>"`: Anthropic's custom_id allows
/// `^[a-zA-Z0-9_-]{1,64}$`, and OpenAI's takes anything. The claim number
/// fences a result: one for an attempt that is no longer current changes nothing.
pub(crate) fn custom_id(task: crate::task::TaskId, claim_no: u32) -> String {
    format!("{}_{claim_no}", task.to_string().replace('-', ""))
}

/// The task and claim a custom_id names.
pub(crate) fn parse_custom_id(id: &str) -> Option<(crate::task::TaskId, u32)> {
    let (hex, claim) = id.split_once('_')?;
    let uuid = uuid::Uuid::parse_str(hex).ok()?;
    Some((uuid.to_string().parse().ok()?, claim.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_id_fits_anthropics_pattern_and_reads_back() {
        let id = crate::task::TaskId::new();
        let c = custom_id(id, 12);
        assert!(c.len() <= 64);
        assert!(c
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'));
        assert_eq!(parse_custom_id(&c), Some((id, 12)));
    }

    #[test]
    fn a_deadline_in_the_past_is_refused_naming_the_field() {
        let now = Utc::now();
        let past = BatchRequest {
            within_ms: None,
            deadline: Some(now - chrono::Duration::minutes(1)),
        };
        let e = past.deadline_at(now).unwrap_err();
        assert!(e.to_string().contains("batch.deadline"), "{e}");
        assert!(e.to_string().contains("in the past"), "{e}");
        let e = BatchRequest::default().check().unwrap_err();
        assert!(e.to_string().contains("batch needs a deadline"), "{e}");
        let e = BatchRequest {
            within_ms: Some(60_000),
            deadline: Some(now + chrono::Duration::hours(1)),
        }
        .check()
        .unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
    }
}

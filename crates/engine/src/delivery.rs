//! Deliveries: where a task's answer goes when it completes (a file, a webhook),
//! recorded in the transaction that completes the task (an outbox) and sent
//! after the commit by the deliverer (`deliverer`). docs/deliveries.md.

use crate::error::TaskError;
use crate::prompt;
use crate::task::{Task, TaskId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

crate::task::uuid_id!(
    /// A delivery's id: a UUIDv7, so deliveries sort by creation.
    DeliveryId,
    "delivery",
    "delivery"
);

/// Attempts at a webhook before it is given up (the last error is kept).
pub const MAX_DELIVERY_ATTEMPTS: u32 = 12;
/// The first wait before a webhook is tried again, doubled each time up to
/// [`MAX_DELIVERY_DELAY`]: twelve attempts span about 20 minutes.
pub(crate) const FIRST_DELIVERY_DELAY: Duration = Duration::from_secs(1);
pub(crate) const MAX_DELIVERY_DELAY: Duration = Duration::from_secs(300);

/// Where a task's answer goes when it completes. Set on a task or a schedule's
/// task (each run's last task delivers: its follow-ups' final answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Deliver {
    /// Write the answer to this file: an absolute path (the CLI makes a relative
    /// one absolute) whose file part may use `{{date}}`, `{{time}}`, `{{now}}`
    /// and `{{schedule.name}}`; the file stays inside the folder named before the
    /// first variable. Written whole (a temporary file, then renamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "to-file",
            value_name = "PATH",
            help = "Write the answer to this file; {{date}}, {{time}}, {{schedule.name}} allowed after the folder"
        )
    )]
    pub to_file: Option<String>,
    /// POST the result as JSON to this http(s) URL, retried with backoff on
    /// timeouts, connection errors, 429 and 5xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "URL",
            help = "POST the result as JSON to this http(s) URL"
        )
    )]
    pub webhook: Option<String>,
    /// The environment variable holding the webhook's HMAC-SHA256 secret (the
    /// secret itself is never stored); without one the POST is not signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "VAR",
            requires = "webhook",
            help = "The environment variable holding the webhook's signing secret"
        )
    )]
    pub webhook_secret_env: Option<String>,
    /// The webhook's HMAC-SHA256 secret is in the OS keychain of the machine
    /// running the engine, under the webhook's URL ([`crate::Engine::store_webhook_secret`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "clap", arg(skip))]
    pub webhook_secret_keychain: bool,
    /// A schedule's task: deliver only when the answer differs from the one
    /// last delivered (otherwise the delivery is recorded as skipped).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            help = "A schedule's task: deliver only when the answer changed since the last delivery"
        )
    )]
    pub only_if_changed: bool,
    /// Show a desktop notification with the answer's first lines when it
    /// completes, even when notifications are off in the app's Settings (where
    /// the desktop app runs the engine; a headless engine shows none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            help = "Show a desktop notification with the answer's first lines (where the desktop app runs the engine)"
        )
    )]
    pub notify_result: bool,
}

impl Deliver {
    pub fn is_empty(&self) -> bool {
        self.to_file.is_none()
            && self.webhook.is_none()
            && !self.only_if_changed
            && !self.notify_result
    }

    /// The checks that need no engine. `scheduled`: a schedule's task, which
    /// may name `{{schedule.name}}` and use `only_if_changed`.
    pub(crate) fn check(&self, scheduled: bool) -> Result<(), TaskError> {
        if let Some(path) = &self.to_file {
            check_path(path, scheduled)?;
        }
        if let Some(url) = &self.webhook {
            check_url(url)?;
        }
        if let Some(var) = &self.webhook_secret_env {
            if self.webhook.is_none() {
                return Err(TaskError::invalid(
                    "webhook_secret_env",
                    "a webhook secret needs a webhook to sign",
                ));
            }
            check_env_name(var)?;
        }
        if self.webhook_secret_keychain {
            if self.webhook.is_none() {
                return Err(TaskError::invalid(
                    "webhook_secret_keychain",
                    "a webhook secret needs a webhook to sign",
                ));
            }
            if self.webhook_secret_env.is_some() {
                return Err(TaskError::invalid(
                    "webhook_secret_keychain",
                    "the webhook's secret comes from the keychain or from an environment variable, not both",
                ));
            }
        }
        if self.only_if_changed && !scheduled {
            return Err(TaskError::invalid(
                "only_if_changed",
                "only a schedule's task has a previous answer to compare with",
            ));
        }
        if self.only_if_changed && self.to_file.is_none() && self.webhook.is_none() {
            return Err(TaskError::invalid(
                "only_if_changed",
                "only_if_changed needs a delivery (a file or a webhook) to skip",
            ));
        }
        Ok(())
    }
}

/// A path template: absolute, a file name at the end, no `..`, and variables
/// only where they cannot climb out of the folder before the first one.
fn check_path(template: &str, scheduled: bool) -> Result<(), TaskError> {
    let bad = |msg: String| TaskError::invalid("to_file", msg);
    if template.trim().is_empty() {
        return Err(bad("the file path is empty".into()));
    }
    if template.contains('\0') {
        return Err(bad("the file path contains a NUL character".into()));
    }
    let path = Path::new(template);
    if !path.is_absolute() {
        return Err(bad(format!(
            "the file path '{template}' is not absolute; write the whole path"
        )));
    }
    if template.ends_with('/') || template.ends_with(std::path::MAIN_SEPARATOR) {
        return Err(bad(format!(
            "the file path '{template}' names a folder; end it with a file name"
        )));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(bad(format!(
            "the file path '{template}' climbs out of its folder with '..'"
        )));
    }
    prompt::check_path(template, scheduled).map_err(bad)?;
    Ok(())
}

/// The folder a path template's file must stay inside: everything before the
/// component holding the first variable.
pub fn template_folder(template: &str) -> PathBuf {
    let fixed = template.split("{{").next().unwrap_or(template);
    if fixed.ends_with('/') || fixed.ends_with(std::path::MAIN_SEPARATOR) {
        // The variable starts a component of its own: the folder is all before it.
        return PathBuf::from(fixed);
    }
    // The component holding the variable (or the file name) is not the folder.
    Path::new(fixed)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn check_url(url: &str) -> Result<(), TaskError> {
    let bad = |msg: String| TaskError::invalid("webhook", msg);
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| bad(format!("the webhook '{url}' is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "the webhook '{url}' is not an http(s) URL (its scheme is '{}')",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad(format!("the webhook '{url}' has no host")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // A password in the URL would be stored and exported: the secret goes
        // in an environment variable instead.
        return Err(bad(
            "the webhook URL carries a user name or password; sign with --webhook-secret-env instead"
                .into(),
        ));
    }
    Ok(())
}

fn check_env_name(var: &str) -> Result<(), TaskError> {
    let ok = !var.is_empty()
        && !var.starts_with(|c: char| c.is_ascii_digit())
        && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(TaskError::invalid(
            "webhook_secret_env",
            format!(
                "'{var}' is not an environment variable name (letters, digits and '_', not starting with a digit)"
            ),
        ))
    }
}

/// Where one delivery goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum DeliveryTarget {
    /// The file, its variables bound when the task completed.
    File { path: String },
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_env: Option<String>,
        /// The secret is in the OS keychain under the URL.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        secret_keychain: bool,
    },
}

impl DeliveryTarget {
    /// For the log: a webhook by its host only (a URL's path or query may
    /// carry a token, and logs hold no secret).
    pub(crate) fn for_log(&self) -> String {
        match self {
            DeliveryTarget::File { path } => format!("file {path}"),
            DeliveryTarget::Webhook { url, .. } => {
                let host = reqwest::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                format!("webhook to {host}")
            }
        }
    }

    /// "file /home/me/reports/2026-01-01.md", "webhook https://example.com/hook".
    pub fn describe(&self) -> String {
        match self {
            DeliveryTarget::File { path } => format!("file {path}"),
            DeliveryTarget::Webhook { url, .. } => format!("webhook {url}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum DeliveryStatus {
    /// Waiting to be sent (again, after `next_at`).
    Pending,
    Sent,
    /// Given up: `error` says why.
    Failed,
    /// Not sent: the answer was the same as the last one delivered.
    Skipped,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
        }
    }
}

/// One delivery of one completed attempt of a task, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: DeliveryId,
    pub task_id: TaskId,
    /// Which completion of the task: the number of its attempt that completed.
    /// With the task id it makes the idempotency key. Read also as `run`, its
    /// name in records written before the rename.
    #[serde(alias = "run")]
    pub attempt: u32,
    pub target: DeliveryTarget,
    pub status: DeliveryStatus,
    /// Tries so far (a resend starts again from 0).
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// While pending: not before this.
    pub next_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The last try's error (kept after a later success is not: cleared), or
    /// why it was skipped.
    pub error: Option<String>,
}

impl Delivery {
    /// The same on every try of this delivery, and on a resend: a receiver
    /// drops repeats by it.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.task_id, self.attempt)
    }
}

/// The keychain account of a webhook's secret: the URL, so every task posting
/// to one receiver signs with its one secret.
pub(crate) fn secret_account(url: &str) -> String {
    format!("webhook:{}", url.trim())
}

/// The wait before try `attempts + 1` after `attempts` failed ones.
pub(crate) fn retry_delay(attempts: u32) -> Duration {
    let doubled = FIRST_DELIVERY_DELAY.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    doubled.min(MAX_DELIVERY_DELAY)
}

/// The deliveries a task's completion records: its file with the variables
/// bound in the task's zone at `now`, and its webhook. `unchanged`: the answer
/// equals the last one delivered and the task asked to skip such a delivery.
pub(crate) fn plan(
    task: &Task,
    schedule_name: Option<&str>,
    unchanged: bool,
    now: DateTime<Utc>,
) -> Vec<Delivery> {
    let d = &task.deliver;
    let attempt = task
        .history
        .last()
        .map(|a| a.number)
        .unwrap_or(task.attempts);
    let mut targets = Vec::new();
    if let Some(template) = &d.to_file {
        let zone = task
            .timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(chrono_tz::UTC);
        let values = prompt::Values {
            schedule_name,
            ..prompt::Values::at(now, zone)
        };
        targets.push(DeliveryTarget::File {
            path: prompt::bind_path(template, &values),
        });
    }
    if let Some(url) = &d.webhook {
        targets.push(DeliveryTarget::Webhook {
            url: url.trim().to_string(),
            secret_env: d.webhook_secret_env.clone(),
            secret_keychain: d.webhook_secret_keychain,
        });
    }
    targets
        .into_iter()
        .map(|target| Delivery {
            id: DeliveryId::new(),
            task_id: task.id,
            attempt,
            target,
            status: if unchanged {
                DeliveryStatus::Skipped
            } else {
                DeliveryStatus::Pending
            },
            attempts: 0,
            created_at: now,
            next_at: (!unchanged).then_some(now),
            sent_at: None,
            error: unchanged.then(|| "the answer is the same as the last one delivered".into()),
        })
        .collect()
}

/// A short fingerprint of an answer, kept on its schedule to tell whether the
/// next one changed (`only_if_changed`).
pub(crate) fn fingerprint(output: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(output.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_stored_with_its_attempt_as_run_reads_and_is_written_as_attempt() {
        let old = serde_json::json!({
            "id": "0190d7a4-0000-7000-8000-0000000000d1",
            "task_id": "0190d7a4-0000-7000-8000-000000000001",
            "run": 2,
            "target": {"kind": "file", "path": "/tmp/out.md"},
            "status": "sent", "attempts": 1, "created_at": "2026-12-01T08:00:00Z",
            "next_at": null, "sent_at": "2026-12-01T08:00:01Z", "error": null,
        });
        let d: Delivery = serde_json::from_slice(&serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(d.attempt, 2);
        assert_eq!(
            d.idempotency_key(),
            "0190d7a4-0000-7000-8000-000000000001:2"
        );
        let written = serde_json::to_value(&d).unwrap();
        assert_eq!(written["attempt"], 2);
        assert!(written.get("run").is_none(), "the new name is written");
    }

    #[test]
    fn paths_must_be_absolute_files_that_stay_in_their_folder() {
        let err = |p: &str| check_path(p, true).unwrap_err().to_string();
        assert!(
            err("reports/x.md").contains("not absolute"),
            "{}",
            err("reports/x.md")
        );
        assert!(err("/r/../etc/x").contains("'..'"));
        assert!(err("/r/out/").contains("names a folder"));
        assert!(err("/r/{{nope}}.md").contains("unknown variable {{nope}}"));
        assert!(err("/r/{{last_output}}.md").contains("cannot be used in a file path"));
        assert!(check_path("/r/{{schedule.name}}.md", false)
            .unwrap_err()
            .to_string()
            .contains("only a schedule's tasks"));
        check_path("/r/{{schedule.name}}/{{date}} {{time}}.md", true).unwrap();
        assert_eq!(
            template_folder("/r/{{schedule.name}}/{{date}}.md"),
            PathBuf::from("/r/")
        );
        assert_eq!(template_folder("/r/daily-{{date}}.md"), PathBuf::from("/r"));
        assert_eq!(template_folder("/r/fixed.md"), PathBuf::from("/r"));
    }

    #[test]
    fn webhooks_must_be_http_urls_and_secrets_variable_names() {
        let d = |url: &str| Deliver {
            webhook: Some(url.into()),
            ..Deliver::default()
        };
        let e = d("ftp://example.com/x").check(false).unwrap_err();
        assert!(
            matches!(
                e,
                TaskError::Invalid {
                    field: "webhook",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("not an http(s) URL"), "{e}");
        assert!(d("not a url").check(false).is_err());
        assert!(d("https://user:pw@example.com/").check(false).is_err());
        d("https://example.com/hook").check(false).unwrap();
        let e = Deliver {
            webhook_secret_env: Some("1BAD-NAME".into()),
            ..d("http://127.0.0.1:9/x")
        }
        .check(false)
        .unwrap_err();
        assert!(
            matches!(
                e,
                TaskError::Invalid {
                    field: "webhook_secret_env",
                    ..
                }
            ),
            "{e}"
        );
        let e = Deliver {
            only_if_changed: true,
            ..d("http://127.0.0.1:9/x")
        }
        .check(false)
        .unwrap_err();
        assert!(
            matches!(
                e,
                TaskError::Invalid {
                    field: "only_if_changed",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=MAX_DELIVERY_ATTEMPTS)
            .map(|n| retry_delay(n).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }
}

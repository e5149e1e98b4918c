//! The deliverer: sends pending deliveries after the commit that recorded
//! them, and reports each try to the writer (`outbox::tried`). It reads the
//! outbox, so whatever was pending when the engine stopped (a crash, a
//! `kill -9`) is sent when it starts again: a receiver may see a delivery
//! twice, always with the same idempotency key, never zero times.

use crate::delivery::{template_folder, Delivery, DeliveryId, DeliveryTarget};
use crate::engine::Inner;
use crate::error::TaskError;
use crate::outbox::Tried;
use crate::provider::keys;
use crate::provider::{ApiKey, KeyError, KeyRef};
use crate::storage::Storage;
use crate::task::Task;
use hmac::{Hmac, Mac};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Deliveries in flight at once.
const IN_FLIGHT: usize = 16;
/// The longest sleep between looks at the outbox (a wall-clock jump is
/// noticed within it, as the scheduler's).
const MAX_SLEEP: Duration = Duration::from_secs(30);
/// How long one webhook POST may take, and to connect.
const POST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The header carrying `sha256=` and the hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "x-baton-signature";
/// The header carrying the delivery's idempotency key (task id and attempt).
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

pub(crate) async fn serve(inner: Arc<Inner>) {
    let client = client();
    let mut in_flight: HashSet<DeliveryId> = HashSet::new();
    let mut sends: JoinSet<DeliveryId> = JoinSet::new();
    let stop = inner.stop_intake.clone();
    tracing::debug!("deliverer started");
    loop {
        while let Some(done) = sends.try_join_next() {
            if let Ok(id) = done {
                in_flight.remove(&id);
            }
        }
        let now = inner.clock.now();
        let due = match inner.store() {
            Ok(store) => {
                tokio::task::spawn_blocking(move || store.deliveries_due(now, IN_FLIGHT * 4))
                    .await
                    .unwrap_or_else(|e| Err(TaskError::Storage(e.to_string())))
            }
            Err(e) => Err(e),
        };
        let (due, next) = match due {
            Ok(found) => found,
            Err(TaskError::ShuttingDown) => break,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the pending deliveries");
                (Vec::new(), Some(now + chrono::Duration::seconds(5)))
            }
        };
        for d in due {
            if in_flight.len() >= IN_FLIGHT || in_flight.contains(&d.id) {
                continue;
            }
            in_flight.insert(d.id);
            let (inner, client) = (inner.clone(), client.clone());
            sends.spawn(async move {
                let (id, attempt) = (d.id, d.attempts + 1);
                let outcome = send(&inner, &client, &d).await;
                match &outcome {
                    Tried::Sent => {
                        tracing::info!(delivery = %id, task = %d.task_id, attempt, to = %d.target.for_log(), "delivered")
                    }
                    Tried::Retry { error, .. } | Tried::Failed { error } => {
                        tracing::info!(delivery = %id, task = %d.task_id, attempt, %error, "delivery not sent")
                    }
                }
                if let Err(e) = inner.writer.delivery_tried(id, attempt, outcome).await {
                    tracing::warn!(delivery = %id, error = %e, "could not record a delivery's try");
                }
                id
            });
        }
        let wait = next
            .map(|at| (at - inner.clock.now()).to_std().unwrap_or_default())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = inner.shared.wake_deliverer.notified() => {}
            Some(Ok(id)) = sends.join_next(), if !sends.is_empty() => { in_flight.remove(&id); }
            _ = tokio::time::sleep(wait), if in_flight.len() < IN_FLIGHT || sends.is_empty() => {}
        }
    }
    // Sends in flight are dropped: their deliveries stay pending and go out
    // again at the next start, with the same idempotency key.
    sends.abort_all();
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(POST_TIMEOUT)
        // A redirected POST would become a GET elsewhere: refused instead.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "Baton/",
            env!("CARGO_PKG_VERSION"),
            " (deliveries)"
        ))
        .build()
        .expect("a TLS client with the ring provider")
}

/// One try of one delivery.
async fn send(inner: &Arc<Inner>, client: &reqwest::Client, d: &Delivery) -> Tried {
    let task_id = d.task_id;
    let task = match inner.store() {
        Ok(store) => tokio::task::spawn_blocking(move || store.get(task_id))
            .await
            .unwrap_or_else(|e| Err(TaskError::Storage(e.to_string()))),
        Err(e) => Err(e),
    };
    let task = match task {
        Ok(Some(task)) => task,
        Ok(None) => {
            return Tried::Failed {
                error: format!("its task {task_id} is no longer stored"),
            }
        }
        Err(e) => {
            return Tried::Retry {
                error: format!("could not read its task: {e}"),
                after: None,
            }
        }
    };
    match &d.target {
        DeliveryTarget::File { path } => write_file(&task, path, d.id).await,
        DeliveryTarget::Webhook {
            url,
            secret_env,
            secret_keychain,
        } => {
            let schedule = match task.schedule_id {
                Some(id) => inner
                    .store()
                    .ok()
                    .and_then(|store| store.schedule(id).ok().flatten()),
                None => None,
            };
            let body = payload(&task, d, schedule.as_ref().map(|s| s.name.as_str()));
            let secret = match secret(url, secret_env.as_deref(), *secret_keychain).await {
                Ok(secret) => secret,
                Err(error) => return Tried::Failed { error },
            };
            post(client, url, secret.as_ref(), d, body).await
        }
    }
}

/// What a webhook receives: the same bytes on every try of one delivery.
#[derive(Serialize)]
struct Payload<'a> {
    task_id: String,
    name: &'a str,
    status: &'a str,
    output: Option<&'a str>,
    /// The parsed answer of a task with an output schema; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    output_json: Option<&'a serde_json::Value>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    cost_usd: Option<f64>,
    /// The number of the attempt that completed the task (with `task_id`, the
    /// idempotency key).
    attempt: u32,
    /// `attempt` under its name before the rename, for receivers written then.
    #[serde(rename = "run")]
    attempt_as_run: u32,
    idempotency_key: String,
    schedule: Option<ScheduleRef<'a>>,
    finished_at: Option<String>,
}

#[derive(Serialize)]
struct ScheduleRef<'a> {
    id: String,
    name: &'a str,
}

fn payload(task: &Task, d: &Delivery, schedule_name: Option<&str>) -> Vec<u8> {
    let body = Payload {
        task_id: task.id.to_string(),
        name: &task.name,
        status: task.status.as_str(),
        output: task.output.as_deref(),
        output_json: task.output_json.as_ref(),
        prompt_tokens: task.prompt_tokens,
        completion_tokens: task.completion_tokens,
        cost_usd: task.cost_usd.map(|c| c.0),
        attempt: d.attempt,
        attempt_as_run: d.attempt,
        idempotency_key: d.idempotency_key(),
        schedule: task.schedule_id.map(|id| ScheduleRef {
            id: id.to_string(),
            name: schedule_name.unwrap_or(""),
        }),
        finished_at: task.finished_at.map(|t| t.to_rfc3339()),
    };
    serde_json::to_vec(&body).expect("a payload of strings and numbers")
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The webhook's secret, read at each try (never stored by Baton): from the
/// environment variable, or from the keychain. `Err`: why nothing can be
/// signed, a sentence without the secret (nothing unsigned is sent then).
async fn secret(url: &str, env: Option<&str>, keychain: bool) -> Result<Option<ApiKey>, String> {
    if let Some(var) = env {
        return std::env::var(var)
            .ok()
            .and_then(ApiKey::new)
            .map(Some)
            .ok_or_else(|| format!(
                "the environment variable {var} that holds the webhook's secret is not set for Baton; set it and send again"
            ));
    }
    if !keychain {
        return Ok(None);
    }
    let account = crate::delivery::secret_account(url);
    let found = tokio::task::spawn_blocking(move || keys::resolve(&account, &KeyRef::Keychain))
        .await
        .map_err(|e| e.to_string())?;
    match found {
        Ok(Some(secret)) => Ok(Some(secret)),
        Ok(None) | Err(KeyError::NotInKeychain(_)) => Err(
            "the OS keychain holds no secret for this webhook; enter it again where the task was made, and send again".into(),
        ),
        Err(KeyError::NoKeychain(why)) => Err(format!(
            "no OS keychain is available here to read the webhook's secret from ({why})"
        )),
        Err(e) => Err(format!("the webhook's secret could not be read: {e}")),
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&ApiKey>,
    d: &Delivery,
    body: Vec<u8>,
) -> Tried {
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, d.idempotency_key());
    if let Some(secret) = secret {
        request = request.header(
            SIGNATURE_HEADER,
            signature(secret.expose().as_bytes(), &body),
        );
    }
    let response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            let what = if e.is_timeout() {
                "the receiver did not answer in time".to_string()
            } else if e.is_connect() {
                "could not connect to the receiver".to_string()
            } else {
                format!("the request failed: {}", without_url(&e))
            };
            return Tried::Retry {
                error: what,
                after: None,
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        return Tried::Sent;
    }
    let after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = response.text().await.unwrap_or_default();
    let text: String = text.trim().chars().take(200).collect();
    let error = if text.is_empty() {
        format!("the receiver answered {status}")
    } else {
        format!("the receiver answered {status}: {text}")
    };
    if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 408 {
        Tried::Retry { error, after }
    } else if status.is_redirection() {
        Tried::Failed {
            error: format!("{error} (deliveries do not follow redirects: give the final URL)"),
        }
    } else {
        Tried::Failed { error }
    }
}

/// A reqwest error's text without the URL it carries (which may hold a token).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "the webhook");
    }
    text
}

/// Writes the answer whole: a temporary file beside the target, synced, then
/// renamed over it, so a reader (or a crash) never sees half a file.
async fn write_file(task: &Task, path: &str, id: DeliveryId) -> Tried {
    let template = task.deliver.to_file.clone().unwrap_or_default();
    let path = path.to_string();
    let output = task.output.clone().unwrap_or_default();
    let written = tokio::task::spawn_blocking(move || {
        let folder = template_folder(&template);
        write_whole(
            Path::new(&path),
            &folder,
            output.as_bytes(),
            &id.to_string(),
        )
    })
    .await;
    match written {
        Ok(Ok(())) => Tried::Sent,
        Ok(Err(error)) => Tried::Failed { error },
        Err(e) => Tried::Retry {
            error: e.to_string(),
            after: None,
        },
    }
}

/// `tag` names the temporary file: the same on every try of one delivery, so a
/// try cut short by a crash leaves nothing behind once the next one succeeds.
fn write_whole(path: &Path, folder: &Path, bytes: &[u8], tag: &str) -> Result<(), String> {
    use std::io::Write;
    // The template was checked when saved and values were made harmless when
    // bound; this is the last word before anything is written.
    if !path.starts_with(folder)
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(format!(
            "{} is outside the folder {}; nothing was written",
            path.display(),
            folder.display()
        ));
    }
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no folder", path.display()))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))?;
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} has no file name", path.display()))?;
    let tmp = dir.join(format!(".{}.{tag}.baton-tmp", name.to_string_lossy()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    // The rename is durable once the folder is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_sha256_of_the_body_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_file_is_written_whole_and_never_outside_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("reports");
        let target = folder.join("daily/2026-01-01.md");
        // A try cut short by a crash left its temporary file; the next one replaces it.
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(folder.join("daily/.2026-01-01.md.d1.baton-tmp"), b"hal").unwrap();
        write_whole(&target, &folder, b"hello", "d1").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
        write_whole(&target, &folder, b"again", "d2").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"again");
        let leftovers: Vec<_> = std::fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
        let e = write_whole(&dir.path().join("elsewhere.md"), &folder, b"x", "d3").unwrap_err();
        assert!(e.contains("outside the folder"), "{e}");
        assert!(!dir.path().join("elsewhere.md").exists());
    }
}

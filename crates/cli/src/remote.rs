//! The client of a running engine's HTTP API (crates/api). Every command but
//! `run` uses it when `<data-dir>/api.json` names a live server.

use crate::error::CliError;
use baton_api::wire::{
    CancelTask, CancelledTask, ChainTask, ErrorBody, Health, ImportSummary, ProviderModels,
    ProviderRequest, ProviderTestResult, RetryTask, ScheduleFire, ScheduleRequest, Secret,
    StreamEvent, TestProvider,
};
use baton_api::{Discovery, SseMessage, SseParser};
use baton_engine::{
    Detection, ExportFile, IdempotencyKey, ListQuery, NewSchedule, NewTask, ProviderSettings,
    Schedule, ScheduleId, Task, TaskId,
};
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

/// How long finding out whether a listed server answers may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Remote {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Remote {
    /// The engine serving `data_dir`, if one is running and answers. A stale
    /// `api.json` (its process is gone, or nothing listens at its URL) is `None`.
    pub async fn discover(data_dir: &Path) -> Result<Option<Remote>, CliError> {
        let Some(found) = Discovery::find(data_dir) else {
            return Ok(None);
        };
        found.check(data_dir).map_err(|detail| CliError::File {
            action: "trust the discovery file",
            path: data_dir.join(baton_api::DISCOVERY_FILE),
            detail: format!("{detail}; remove it if no engine of yours is running"),
        })?;
        let token = found.token().map_err(|e| CliError::File {
            action: "read the API token from",
            path: found.token_file.clone(),
            detail: e.to_string(),
        })?;
        let remote = Remote::new(found.url, token)?;
        match remote
            .health_within(remote.get("/health").timeout(PROBE_TIMEOUT))
            .await
        {
            Ok(_) => {
                tracing::debug!(url = %remote.url, "using the running engine's API");
                Ok(Some(remote))
            }
            Err(CliError::Unreachable { detail, .. }) => {
                tracing::debug!(url = %remote.url, "ignoring api.json: {detail}");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn new(url: String, token: String) -> Result<Remote, CliError> {
        // reqwest is built with rustls and no default crypto provider in this
        // workspace; building a client needs one installed even for plain HTTP.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(PROBE_TIMEOUT)
            .build()
            .map_err(|e| CliError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Remote { http, url, token })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.request(reqwest::Method::POST, path)
    }

    async fn respond(&self, request: RequestBuilder) -> Result<Response, CliError> {
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        self.check(response).await
    }

    /// The response if it is a success, else its error.
    async fn check(&self, response: Response) -> Result<Response, CliError> {
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => CliError::Api {
                status: status.as_u16(),
                code: body.code,
                message: body.message,
            },
            Err(_) => CliError::Api {
                status: status.as_u16(),
                code: format!("http_{}", status.as_u16()),
                message: format!("the engine's API answered {status}: {}", text.trim()),
            },
        })
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, CliError> {
        self.respond(request)
            .await?
            .json()
            .await
            .map_err(|e| self.unreachable(e))
    }

    fn unreachable(&self, e: reqwest::Error) -> CliError {
        CliError::Unreachable {
            url: self.url.clone(),
            detail: e.to_string(),
        }
    }

    /// The engine's health, also while it cannot write (503 with the same body).
    pub async fn health(&self) -> Result<Health, CliError> {
        self.health_within(self.get("/health")).await
    }

    async fn health_within(&self, request: RequestBuilder) -> Result<Health, CliError> {
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            let health: Health = response.json().await.map_err(|e| self.unreachable(e))?;
            if let Some(message) = &health.message {
                tracing::warn!("the engine cannot write its database: {message}");
            }
            return Ok(health);
        }
        self.check(response)
            .await?
            .json()
            .await
            .map_err(|e| self.unreachable(e))
    }

    pub async fn submit(
        &self,
        new: NewTask,
        key: Option<IdempotencyKey>,
    ) -> Result<Task, CliError> {
        let request = keyed(self.post("/tasks"), key.as_ref());
        self.send(request.json(&new)).await
    }

    pub async fn chain(
        &self,
        parent: TaskId,
        new: NewTask,
        key: Option<IdempotencyKey>,
    ) -> Result<Task, CliError> {
        let path = format!("/tasks/{parent}/chain");
        let request = keyed(self.post(&path), key.as_ref());
        self.send(request.json(&ChainTask(new))).await
    }

    pub async fn cancel(
        &self,
        id: TaskId,
        reason: Option<String>,
    ) -> Result<CancelledTask, CliError> {
        let path = format!("/tasks/{id}/cancel");
        self.send(self.post(&path).json(&CancelTask { reason }))
            .await
    }

    pub async fn retry(&self, id: TaskId, max_attempts: Option<u32>) -> Result<Task, CliError> {
        let path = format!("/tasks/{id}/retry");
        self.send(self.post(&path).json(&RetryTask { max_attempts }))
            .await
    }

    pub async fn get_task(&self, id: TaskId) -> Result<Task, CliError> {
        self.send(self.get(&format!("/tasks/{id}"))).await
    }

    /// Up to `query.limit` tasks, newest first, fetched a page at a time.
    pub async fn list(&self, query: ListQuery) -> Result<Vec<Task>, CliError> {
        let mut tasks = Vec::new();
        let mut cursor = query.before;
        while tasks.len() < query.limit {
            let page = (query.limit - tasks.len()).min(baton_api::MAX_PAGE);
            // The filter is the query's own parameters; the page is the client's.
            let mut request = self
                .get("/tasks")
                .query(&query.filter)
                .query(&[("limit", page)]);
            if let Some(cursor) = cursor {
                request = request.query(&[("cursor", cursor)]);
            }
            let response = self.respond(request).await?;
            let next = response
                .headers()
                .get(baton_api::NEXT_CURSOR)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<TaskId>().ok());
            let got: Vec<Task> = response.json().await.map_err(|e| self.unreachable(e))?;
            tasks.extend(got);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(tasks)
    }

    pub async fn export(&self) -> Result<ExportFile, CliError> {
        self.send(self.get("/export")).await
    }

    pub async fn import(&self, text: String) -> Result<ImportSummary, CliError> {
        let request = self
            .post("/import")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(text);
        self.send(request).await
    }

    pub async fn add_schedule(&self, new: NewSchedule) -> Result<Schedule, CliError> {
        self.send(self.post("/schedules").json(&ScheduleRequest::from(new)))
            .await
    }

    /// The schedule with this name (any case) or id.
    pub async fn find_schedule(&self, key: &str) -> Result<Schedule, CliError> {
        let path = format!("/schedules/{}", path_segment(key.trim()));
        self.send(self.get(&path)).await
    }

    pub async fn update_schedule(
        &self,
        id: ScheduleId,
        new: NewSchedule,
    ) -> Result<Schedule, CliError> {
        let request = self
            .request(reqwest::Method::PUT, &format!("/schedules/{id}"))
            .json(&ScheduleRequest::from(new));
        self.send(request).await
    }

    pub async fn remove_schedule(&self, id: ScheduleId) -> Result<Schedule, CliError> {
        let path = format!("/schedules/{id}");
        self.send(self.request(reqwest::Method::DELETE, &path))
            .await
    }

    /// `pause`, `resume` or `run` on one schedule.
    pub async fn schedule_action<T: DeserializeOwned>(
        &self,
        id: ScheduleId,
        action: &str,
    ) -> Result<T, CliError> {
        self.send(self.post(&format!("/schedules/{id}/{action}")))
            .await
    }

    pub async fn fire_schedule_now(&self, id: ScheduleId) -> Result<ScheduleFire, CliError> {
        self.schedule_action(id, "run").await
    }

    pub async fn schedules(&self) -> Result<Vec<Schedule>, CliError> {
        self.send(self.get("/schedules")).await
    }

    pub async fn schedule_tasks(
        &self,
        id: ScheduleId,
        limit: usize,
    ) -> Result<Vec<Task>, CliError> {
        let limit = limit.clamp(1, baton_api::MAX_PAGE);
        self.send(self.get(&format!("/schedules/{id}/tasks?limit={limit}")))
            .await
    }

    /// The configured providers, and the names of the built-in ones.
    pub async fn providers(&self) -> Result<(Vec<ProviderSettings>, Vec<String>), CliError> {
        let response = self.respond(self.get("/providers")).await?;
        let builtin = response
            .headers()
            .get(baton_api::BUILTIN_PROVIDERS)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let configured = response.json().await.map_err(|e| self.unreachable(e))?;
        Ok((configured, builtin))
    }

    /// Adds or replaces a provider; `api_key` goes to the engine's OS keychain.
    pub async fn save_provider(
        &self,
        settings: ProviderSettings,
        api_key: Option<Secret>,
    ) -> Result<ProviderSettings, CliError> {
        let path = format!("/providers/{}", path_segment(settings.name.trim()));
        let request = self
            .request(reqwest::Method::PUT, &path)
            .json(&ProviderRequest::new(settings, api_key));
        self.send(request).await
    }

    pub async fn remove_provider(&self, name: &str) -> Result<ProviderSettings, CliError> {
        let path = format!("/providers/{}", path_segment(name.trim()));
        self.send(self.request(reqwest::Method::DELETE, &path))
            .await
    }

    pub async fn test_provider(
        &self,
        name: &str,
        model: Option<String>,
    ) -> Result<ProviderTestResult, CliError> {
        let path = format!("/providers/{}/test", path_segment(name.trim()));
        self.send(self.post(&path).json(&TestProvider { model }))
            .await
    }

    pub async fn provider_models(&self, name: &str) -> Result<Vec<String>, CliError> {
        let path = format!("/providers/{}/models", path_segment(name.trim()));
        let listed: ProviderModels = self.send(self.get(&path)).await?;
        Ok(listed.models)
    }

    pub async fn deliveries(
        &self,
        task: Option<TaskId>,
        limit: usize,
    ) -> Result<Vec<baton_engine::Delivery>, CliError> {
        let path = match task {
            Some(id) => format!("/tasks/{id}/deliveries"),
            None => format!("/deliveries?limit={}", limit.clamp(1, baton_api::MAX_PAGE)),
        };
        self.send(self.get(&path)).await
    }

    pub async fn resend_delivery(
        &self,
        id: baton_engine::DeliveryId,
    ) -> Result<baton_engine::Delivery, CliError> {
        self.send(self.post(&format!("/deliveries/{id}/resend")))
            .await
    }

    pub async fn budgets(&self) -> Result<Vec<baton_engine::Budget>, CliError> {
        self.send(self.get("/budgets")).await
    }

    pub async fn set_budget(
        &self,
        new: baton_engine::NewBudget,
    ) -> Result<baton_engine::Budget, CliError> {
        self.send(self.post("/budgets").json(&new)).await
    }

    pub async fn remove_budget(&self, name: &str) -> Result<baton_engine::Budget, CliError> {
        let path = format!("/budgets/{}", path_segment(name.trim()));
        self.send(self.request(reqwest::Method::DELETE, &path))
            .await
    }

    pub async fn map(&self, new: baton_engine::NewMap) -> Result<baton_engine::Group, CliError> {
        self.send(self.post("/groups").json(&new)).await
    }

    pub async fn groups(&self) -> Result<Vec<baton_engine::Group>, CliError> {
        self.send(self.get("/groups")).await
    }

    pub async fn find_group(&self, key: &str) -> Result<baton_engine::Group, CliError> {
        let path = format!("/groups/{}", path_segment(key.trim()));
        self.send(self.get(&path)).await
    }

    pub async fn group_tasks(
        &self,
        id: baton_engine::GroupId,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Task>, CliError> {
        // The API answers at most 1000 rows a page: ask page by page.
        let mut out = Vec::new();
        while out.len() < limit {
            let want = (limit - out.len()).min(1000);
            let path = format!(
                "/groups/{id}/tasks?offset={}&limit={want}",
                offset + out.len()
            );
            let page: Vec<Task> = self.send(self.get(&path)).await?;
            let done = page.len() < want;
            out.extend(page);
            if done {
                break;
            }
        }
        Ok(out)
    }

    pub async fn cancel_group(
        &self,
        id: baton_engine::GroupId,
    ) -> Result<baton_engine::Group, CliError> {
        self.send(self.post(&format!("/groups/{id}/cancel"))).await
    }

    pub async fn retry_group(
        &self,
        id: baton_engine::GroupId,
    ) -> Result<baton_engine::Group, CliError> {
        self.send(self.post(&format!("/groups/{id}/retry"))).await
    }

    pub async fn export_group(
        &self,
        id: baton_engine::GroupId,
        format: baton_engine::ResultFormat,
    ) -> Result<Vec<u8>, CliError> {
        let format = match format {
            baton_engine::ResultFormat::Csv => "csv",
            baton_engine::ResultFormat::Jsonl => "jsonl",
        };
        let path = format!("/groups/{id}/export?format={format}");
        let response = self.respond(self.get(&path)).await?;
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        Ok(bytes.to_vec())
    }

    /// What the engine found on its loopback; adds nothing.
    pub async fn detect_local_servers(&self) -> Result<Detection, CliError> {
        self.send(self.get("/local-servers")).await
    }

    pub async fn add_local_server(&self, name: &str) -> Result<ProviderSettings, CliError> {
        let path = format!("/local-servers/{}", path_segment(name.trim()));
        self.send(self.post(&path)).await
    }

    /// Subscribes to the live events. Once this returns, the server has
    /// registered the subscription: nothing that happens later is missed.
    pub async fn events(&self) -> Result<EventStream, CliError> {
        let response = self.respond(self.get("/events")).await?;
        Ok(EventStream {
            url: self.url.clone(),
            body: response.bytes_stream().boxed(),
            parser: SseParser::new(),
            queue: VecDeque::new(),
        })
    }
}

/// `request` with an `Idempotency-Key` header when there is a key.
fn keyed(request: RequestBuilder, key: Option<&IdempotencyKey>) -> RequestBuilder {
    match key {
        Some(key) => request.header(baton_api::IDEMPOTENCY_KEY, key.as_str()),
        None => request,
    }
}

/// `text` as one URL path segment: every byte but the unreserved ones
/// percent-encoded, so a schedule or provider name with spaces or slashes stays
/// one segment.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// What the event stream delivers.
pub enum StreamItem {
    /// A task event, parsed, and its JSON as sent.
    Event(Box<StreamEvent>, String),
    /// A task event of a kind this CLI does not know: its JSON as sent.
    Unknown(String),
    /// Events were missed; the JSON notice as sent.
    Resync(String),
    /// The server is stopping; the stream ends.
    Shutdown,
}

pub struct EventStream {
    url: String,
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: SseParser,
    queue: VecDeque<SseMessage>,
}

impl EventStream {
    /// The next item; `None` when the connection closed without a shutdown notice.
    pub async fn next(&mut self) -> Result<Option<StreamItem>, CliError> {
        loop {
            if let Some(message) = self.queue.pop_front() {
                return Ok(Some(match message.event.as_str() {
                    "resync" => StreamItem::Resync(message.data),
                    "shutdown" => StreamItem::Shutdown,
                    _ => match serde_json::from_str::<StreamEvent>(&message.data) {
                        Ok(event) => StreamItem::Event(Box::new(event), message.data),
                        Err(_) => StreamItem::Unknown(message.data),
                    },
                }));
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.queue.extend(self.parser.feed(&bytes)),
                Some(Err(e)) => {
                    return Err(CliError::Unreachable {
                        url: self.url.clone(),
                        detail: e.to_string(),
                    })
                }
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_name_becomes_one_path_segment() {
        assert_eq!(super::path_segment("daily"), "daily");
        assert_eq!(super::path_segment("a b/c?é"), "a%20b%2Fc%3F%C3%A9");
    }
}

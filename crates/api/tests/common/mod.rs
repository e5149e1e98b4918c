//! A real engine on a temporary redb file, a real server on 127.0.0.1:0 and a
//! real HTTP client. Waits are on events, each bounded by a deadline.

#![allow(dead_code)] // each test file uses a different part

use baton_api::{ApiOptions, ApiServer, RunningApi, SseMessage, SseParser};
use baton_engine::{Engine, EngineConfig};
use futures::StreamExt;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;

/// Generous: the machine may be busy building.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Api {
    pub engine: Engine,
    pub api: RunningApi,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

impl Api {
    pub async fn start() -> Api {
        Api::start_with(|_| {}).await
    }

    pub async fn start_with(configure: impl FnOnce(&mut ApiOptions)) -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let engine = Engine::open(EngineConfig::new(dir.path().join("baton.redb")))
            .await
            .expect("open the engine");
        engine.start().await;
        let mut options = ApiOptions::new(dir.path());
        configure(&mut options);
        let api = ApiServer::start(engine.clone(), options)
            .await
            .expect("start the API");
        Api {
            engine,
            api,
            http: client(),
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.url())
    }

    /// A request with the right token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.api.token())
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// `POST /tasks`, which must answer 201; returns the task.
    pub async fn submit(&self, body: Value) -> Value {
        let response = self.post("/tasks").json(&body).send().await.unwrap();
        expect_json(response, StatusCode::CREATED).await
    }

    pub async fn task(&self, id: &str) -> Value {
        expect_json(
            self.get(&format!("/tasks/{id}")).send().await.unwrap(),
            StatusCode::OK,
        )
        .await
    }

    /// Subscribes to `/events`, optionally resuming after an id.
    pub async fn events(&self, last_event_id: Option<&str>) -> Events {
        let mut request = self.get("/events");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        Events::new(response)
    }

    pub async fn stop(self) {
        self.api.shutdown().await;
        self.engine.shutdown().await;
    }
}

/// Checks the status and returns the JSON body.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Checks an error answer: its status, a stable code and a message.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    let body = expect_json(response, status).await;
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// An SSE stream read event by event.
pub struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: SseParser,
    queue: VecDeque<SseMessage>,
}

impl Events {
    pub fn new(response: Response) -> Events {
        Events {
            body: response.bytes_stream().boxed(),
            parser: SseParser::new(),
            queue: VecDeque::new(),
        }
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<SseMessage> {
        loop {
            if let Some(message) = self.queue.pop_front() {
                return Some(message);
            }
            let chunk = tokio::time::timeout(DEADLINE, self.body.next())
                .await
                .expect("an event within the deadline")?;
            self.queue
                .extend(self.parser.feed(&chunk.expect("stream bytes")));
        }
    }

    /// The next task event (not a resync or shutdown), as JSON with its id.
    pub async fn next_task_event(&mut self) -> (u64, Value) {
        loop {
            let message = self.next().await.expect("the stream goes on");
            if message.event == "message" {
                let id = message.id.expect("task events have ids").parse().unwrap();
                return (id, serde_json::from_str(&message.data).unwrap());
            }
        }
    }

    /// Reads task events until `task_id` reaches status `to`; returns them all.
    pub async fn until_status(&mut self, task_id: &str, to: &str) -> Vec<(u64, Value)> {
        let mut seen = Vec::new();
        loop {
            let (id, event) = self.next_task_event().await;
            let done = event["task_id"] == task_id && event["type"] == "state" && event["to"] == to;
            seen.push((id, event));
            if done {
                return seen;
            }
        }
    }
}

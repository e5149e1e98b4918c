//! A webhook receiver for delivery tests: it records every POST (its
//! idempotency key, signature header and body) and answers with a status the
//! test chooses (refusing for a while, then accepting).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// One POST as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub idempotency_key: Option<String>,
    pub signature: Option<String>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

struct Shared {
    received: Mutex<Vec<Received>>,
    /// Answer this status until the instant, then 200.
    refuse: Mutex<Option<(u16, Instant)>>,
    count: watch::Sender<usize>,
}

pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// A receiver that accepts everything (200).
    pub async fn start() -> WebhookReceiver {
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            refuse: Mutex::new(None),
            count: watch::Sender::new(0),
        });
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook receiver");
        let addr = listener.local_addr().expect("an address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answers `status` to everything for `period` from now, then 200.
    pub fn refuse_for(&self, status: u16, period: Duration) {
        *self.shared.refuse.lock().unwrap() = Some((status, Instant::now() + period));
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (on requests, not on a timer) until `done` holds for what was
    /// received; panics after `within`.
    pub async fn wait_until(&self, within: Duration, done: impl Fn(&[Received]) -> bool) {
        let mut count = self.shared.count.subscribe();
        let waited = tokio::time::timeout(within, async {
            loop {
                if done(&self.received()) {
                    return;
                }
                if count.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        if waited.is_err() {
            panic!(
                "the webhook receiver did not see what was expected within {within:?} ({} requests)",
                self.received().len()
            );
        }
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = match *shared.refuse.lock().unwrap() {
        Some((status, until)) if Instant::now() < until => status,
        _ => 200,
    };
    shared.received.lock().unwrap().push(Received {
        idempotency_key: header("idempotency-key"),
        signature: header("x-baton-signature"),
        body: body.to_vec(),
        status,
    });
    shared.count.send_modify(|n| *n += 1);
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

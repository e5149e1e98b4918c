//! Starting and stopping the server from any host (`baton run`, the desktop app).

use crate::discovery::Discovery;
use crate::error::ApiError;
use crate::events::EventLog;
use crate::guard::Guard;
use crate::routes::{self, AppState, Limits};
use baton_engine::Engine;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Request bodies above this are refused (413), except on `POST /import`. A 1 MiB
/// prompt needs at most 6 MiB as JSON (`\u0000` escapes).
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;
/// The limit of `POST /import`, whose body is a whole export file.
pub const DEFAULT_IMPORT_LIMIT: usize = 256 * 1024 * 1024;
/// Events kept for `Last-Event-ID` resumes (also bounded to 64 MiB).
pub const DEFAULT_REPLAY_EVENTS: usize = 10_000;
/// How long a shutdown waits for requests in flight before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How to run the API.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Holds `api-token` and `api.json`; usually the database's directory.
    pub data_dir: PathBuf,
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Write `<data_dir>/api.json` so the CLI finds the server.
    pub write_discovery: bool,
    pub body_limit: usize,
    pub import_limit: usize,
    pub replay_events: usize,
}

impl ApiOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> ApiOptions {
        ApiOptions {
            data_dir: data_dir.into(),
            port: 0,
            write_discovery: true,
            body_limit: DEFAULT_BODY_LIMIT,
            import_limit: DEFAULT_IMPORT_LIMIT,
            replay_events: DEFAULT_REPLAY_EVENTS,
        }
    }
}

/// Starts the API server.
pub struct ApiServer;

impl ApiServer {
    /// Makes the token (first start only), subscribes to the engine's events,
    /// listens on 127.0.0.1, and then writes `api.json`. The engine may be
    /// started before or after.
    pub async fn start(engine: Engine, options: ApiOptions) -> Result<RunningApi, ApiError> {
        let dir = &options.data_dir;
        baton_engine::create_private_dir(dir).map_err(|source| ApiError::DataDir {
            path: dir.clone(),
            source,
        })?;
        // api.json names the token file for processes started elsewhere: absolute.
        let dir = &std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
        let (token, token_file) = crate::token::load_or_create(dir)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, options.port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ApiError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ApiError::Bind { addr, source })?;

        let stop = CancellationToken::new();
        let (events, pump) =
            EventLog::start(engine.subscribe(), options.replay_events, stop.clone());
        let state = AppState {
            engine,
            events,
            stop: stop.clone(),
        };
        let guard = Arc::new(Guard::new(token.clone(), addr.port()));
        let limits = Limits {
            body: options.body_limit,
            import: options.import_limit,
        };
        let app = routes::router(state, guard, limits)
            .into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn({
            let stop = stop.clone();
            async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!("the API server stopped: {e}");
                }
            }
        });

        let url = format!("http://{addr}");
        let mut running = RunningApi {
            url: url.clone(),
            addr,
            token,
            token_file: token_file.clone(),
            discovery: None,
            stop,
            tasks: Mutex::new(Some((server, pump))),
        };
        if options.write_discovery {
            let discovery = Discovery {
                pid: std::process::id(),
                url,
                token_file,
            };
            match discovery.write(dir) {
                Ok(path) => running.discovery = Some((discovery, path)),
                Err(source) => {
                    running.shutdown().await;
                    return Err(ApiError::Discovery {
                        path: dir.join(crate::discovery::DISCOVERY_FILE),
                        source,
                    });
                }
            }
        }
        tracing::info!(url = %running.url, "API listening");
        Ok(running)
    }
}

/// A listening server. Stop it with [`RunningApi::shutdown`]; dropping it stops
/// it too, without waiting.
pub struct RunningApi {
    url: String,
    addr: SocketAddr,
    token: String,
    token_file: PathBuf,
    discovery: Option<(Discovery, PathBuf)>,
    stop: CancellationToken,
    tasks: Mutex<Option<(JoinHandle<()>, JoinHandle<()>)>>,
}

impl RunningApi {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The bearer token requests must carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    /// Removes `api.json`, ends the event streams (each gets a `shutdown` event),
    /// lets requests in flight finish for a few seconds, and closes the port.
    /// Safe to call twice or from several places.
    pub async fn shutdown(&self) {
        self.remove_discovery();
        self.stop.cancel();
        let tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some((server, pump)) = tasks else { return };
        let abort = server.abort_handle();
        if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
            tracing::warn!("API requests still running after the grace period: dropping them");
            abort.abort();
        }
        let _ = pump.await;
        tracing::info!("API stopped");
    }

    fn remove_discovery(&self) {
        if let Some((discovery, path)) = &self.discovery {
            discovery.remove_if_mine(path);
        }
    }
}

impl Drop for RunningApi {
    fn drop(&mut self) {
        self.remove_discovery();
        self.stop.cancel();
    }
}

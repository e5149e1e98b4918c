//! Who may talk to the API: checked on every request, before routing.
//!
//! 1. The peer must be a loopback address (403 `forbidden_peer`). The server
//!    only listens on 127.0.0.1; this is the second lock on the same door.
//! 2. The `Host` header must name the loopback address and the server's port
//!    (`127.0.0.1:PORT` or `localhost:PORT`), and so must an absolute-form
//!    request target; else 421 `bad_host` (two Host headers: 400
//!    `duplicate_host`). A web page whose own domain was re-pointed at
//!    127.0.0.1 (DNS rebinding) sends its domain as the Host. 421 Misdirected Request is the status for "this server
//!    does not answer for that authority".
//! 3. `Authorization: Bearer <token>` must carry the token (401 `unauthorized`).
//!
//! No CORS header is ever sent, so a browser shows no cross-origin page any
//! answer, and a preflight (which carries no token) is refused.

use crate::error::HttpError;
use crate::token;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) struct Guard {
    token: String,
    /// Lower-case `host:port` values accepted in the Host header.
    hosts: Vec<String>,
}

impl Guard {
    pub fn new(token: String, port: u16) -> Guard {
        Guard {
            token,
            hosts: vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        }
    }
}

pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    match refusal(&guard, &request) {
        Some(refused) => refused.into_response(),
        None => next.run(request).await,
    }
}

fn refusal(guard: &Guard, request: &Request) -> Option<HttpError> {
    // Absent only when the router is served without connect info: refuse then too.
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if !peer.is_some_and(|p| p.ip().is_loopback()) {
        return Some(HttpError::new(
            StatusCode::FORBIDDEN,
            "forbidden_peer",
            "only this machine (a loopback address) may use the API",
        ));
    }
    if let Some(refused) = host_refusal(guard, request) {
        return Some(refused);
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        Some(t) if token::same(t.as_bytes(), guard.token.as_bytes()) => None,
        Some(_) => Some(HttpError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is wrong; it is in the file named by api.json's token_file",
        )),
        None => Some(HttpError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the API token as Authorization: Bearer <token>; it is in the data directory's api-token file",
        )),
    }
}

/// The authority the request names must be this server's. A request whose
/// target is in absolute form (`GET http://host/path`) names it there, and
/// HTTP/1.1 says a server uses that and ignores `Host`; otherwise the one
/// `Host` header does. Two Host headers are a malformed request (400): a
/// proxy and this server could each read a different one.
fn host_refusal(guard: &Guard, request: &Request) -> Option<HttpError> {
    let mut headers = request.headers().get_all(header::HOST).iter();
    let first = headers.next();
    if headers.next().is_some() {
        return Some(HttpError::new(
            StatusCode::BAD_REQUEST,
            "duplicate_host",
            "the request has more than one Host header",
        ));
    }
    let named = match request.uri().authority() {
        Some(authority) => Some(authority.as_str().to_ascii_lowercase()),
        None => first
            .and_then(|h| h.to_str().ok())
            .map(|h| h.trim().to_ascii_lowercase()),
    };
    if named.is_some_and(|h| guard.hosts.contains(&h)) {
        return None;
    }
    Some(HttpError::new(
        StatusCode::MISDIRECTED_REQUEST,
        "bad_host",
        format!(
            "the Host header (and an absolute request target) must be {} (or {})",
            guard.hosts[0], guard.hosts[1]
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn answer(peer: &str) -> StatusCode {
        let guard = Arc::new(Guard::new("t".into(), 8080));
        let app = Router::new()
            .route("/health", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(guard, check));
        let mut request = Request::builder()
            .uri("/health")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::AUTHORIZATION, "Bearer t")
            .body(Body::empty())
            .unwrap();
        if !peer.is_empty() {
            let addr: SocketAddr = peer.parse().unwrap();
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        app.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn only_loopback_peers_are_served() {
        assert_eq!(answer("127.0.0.1:5000").await, StatusCode::OK);
        assert_eq!(answer("[::1]:5000").await, StatusCode::OK);
        assert_eq!(answer("192.168.1.20:5000").await, StatusCode::FORBIDDEN);
        assert_eq!(answer("[2001:db8::1]:5000").await, StatusCode::FORBIDDEN);
        assert_eq!(
            answer("").await,
            StatusCode::FORBIDDEN,
            "unknown peer: refused"
        );
    }
}

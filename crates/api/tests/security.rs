//! Who may use the API: a token, the loopback Host, no CORS; the discovery file.

mod common;

use baton_api::{Discovery, DISCOVERY_FILE};
use common::{expect_error, expect_json, Api};
use reqwest::{Method, StatusCode};
use serde_json::json;

const ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("POST", "/tasks"),
    ("GET", "/tasks"),
    ("GET", "/tasks/01890a5d-ac96-774b-bcce-b302099a8057"),
    ("POST", "/tasks/01890a5d-ac96-774b-bcce-b302099a8057/chain"),
    ("POST", "/tasks/01890a5d-ac96-774b-bcce-b302099a8057/retry"),
    ("POST", "/tasks/01890a5d-ac96-774b-bcce-b302099a8057/cancel"),
    ("GET", "/events"),
    ("GET", "/export"),
    ("POST", "/import"),
    ("GET", "/openapi.json"),
    ("GET", "/no-such-endpoint"),
];

#[tokio::test]
async fn every_endpoint_refuses_a_missing_or_wrong_token_with_401() {
    let api = Api::start().await;
    for (method, path) in ENDPOINTS {
        let method: Method = method.parse().unwrap();
        let none = api
            .http
            .request(method.clone(), api.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"baton\"");
        expect_error(none, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let wrong = api
            .http
            .request(method.clone(), api.url(path))
            .bearer_auth(format!("{}0", api.api.token()))
            .send()
            .await
            .unwrap();
        expect_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let basic = api
            .http
            .request(method, api.url(path))
            .header("authorization", format!("Basic {}", api.api.token()))
            .send()
            .await
            .unwrap();
        expect_error(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let tasks = expect_json(api.get("/tasks").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(tasks, json!([]), "nothing was created");
    api.stop().await;
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_with_421_even_with_the_token() {
    let api = Api::start().await;
    let port = api.api.port();
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        format!("127.0.0.2:{port}"),
    ] {
        let response = api
            .get("/health")
            .header("host", &host)
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::MISDIRECTED_REQUEST, "bad_host").await;
    }
    let localhost = api
        .get("/health")
        .header("host", format!("LocalHost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        localhost.status(),
        StatusCode::OK,
        "localhost:PORT is loopback too"
    );
    api.stop().await;
}

#[tokio::test]
async fn no_cors_grant_is_ever_sent() {
    let api = Api::start().await;
    let preflight = api
        .http
        .request(Method::OPTIONS, api.url("/tasks"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::UNAUTHORIZED);
    let with_token = api
        .get("/tasks")
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    for response in [&preflight, &with_token] {
        assert!(
            !response
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-")),
            "{:?}",
            response.headers()
        );
    }
    api.stop().await;
}

#[tokio::test]
async fn the_server_listens_on_loopback_and_is_found_through_api_json_until_it_stops() {
    let api = Api::start().await;
    assert!(api.api.addr().ip().is_loopback());
    let found = Discovery::find(api.dir.path()).expect("api.json names this server");
    assert_eq!(found.pid, std::process::id());
    assert_eq!(found.url, api.api.url());
    assert_eq!(found.token().unwrap(), api.api.token());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&found.token_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the token is readable by its owner only"
        );
    }
    let path = api.dir.path().join(DISCOVERY_FILE);
    api.api.shutdown().await;
    assert!(!path.exists(), "a clean shutdown removes api.json");
    api.api.shutdown().await; // twice is fine
    api.engine.shutdown().await;
}

#[tokio::test]
async fn a_second_start_keeps_the_token() {
    let first = Api::start().await;
    let token = first.api.token().to_string();
    first.api.shutdown().await;
    let again = baton_api::ApiServer::start(
        first.engine.clone(),
        baton_api::ApiOptions::new(first.dir.path()),
    )
    .await
    .unwrap();
    assert_eq!(again.token(), token);
    again.shutdown().await;
    first.engine.shutdown().await;
}

/// Sends `request` as raw bytes (reqwest cannot send two Host headers or an
/// absolute-form target) and returns the status code and the body.
async fn raw(api: &Api, request: String) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(api.api.addr())
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    (status, answer)
}

#[tokio::test]
async fn two_host_headers_are_refused_with_400_and_an_absolute_target_must_name_this_server() {
    let api = Api::start().await;
    let port = api.api.port();
    let token = api.api.token().to_string();
    let ask = |target: &str, hosts: &[String]| {
        let mut text = format!("GET {target} HTTP/1.1\r\n");
        for host in hosts {
            text.push_str(&format!("Host: {host}\r\n"));
        }
        text.push_str(&format!(
            "Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ));
        text
    };
    let mine = format!("127.0.0.1:{port}");
    let (status, body) = raw(&api, ask("/health", &[mine.clone(), "evil.example".into()])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("duplicate_host"), "{body}");
    let (status, body) = raw(&api, ask("/health", &["evil.example".into(), mine.clone()])).await;
    assert_eq!(status, 400, "{body}");

    let (status, body) = raw(
        &api,
        ask("http://evil.example/health", std::slice::from_ref(&mine)),
    )
    .await;
    assert_eq!(status, 421, "{body}");
    assert!(body.contains("bad_host"), "{body}");
    let (status, body) = raw(
        &api,
        ask(
            &format!("http://{mine}/health"),
            std::slice::from_ref(&mine),
        ),
    )
    .await;
    assert_eq!(
        status, 200,
        "an absolute target naming this server is fine: {body}"
    );
    api.stop().await;
}

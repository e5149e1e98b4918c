//! Local model servers on loopback, found through their model-list endpoints:
//! Ollama (11434, `GET /api/tags`), LM Studio (1234), llama.cpp's server
//! (8080), Jan (1337) and vLLM (8000), the last four `GET /v1/models` in
//! OpenAI's list format. Every port is asked at once, each with a short
//! deadline, so a detection takes at most [`ANSWER_WITHIN`].
//!
//! Detecting changes nothing: a found server becomes a provider only when the
//! user adds it ([`crate::Engine::add_local_server`]).

use super::http::models::{ollama_names, openai_ids, read_capped};
use super::settings::{ProviderKind, ProviderSettings};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A closed port refuses at once; this only bounds a port that drops packets.
const CONNECT_WITHIN: Duration = Duration::from_millis(400);
/// The longest a port may take to answer its whole model list.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_millis(1500);
/// A model list is small; a port sending more is cut off here (then it is
/// not JSON, so not recognised).
const MAX_BODY: usize = 1024 * 1024;

/// Which local server a port belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum LocalServerKind {
    Ollama,
    LmStudio,
    LlamaCpp,
    Jan,
    Vllm,
}

impl LocalServerKind {
    /// In the order they are looked at and listed.
    pub const ALL: [LocalServerKind; 5] = [
        LocalServerKind::Ollama,
        LocalServerKind::LmStudio,
        LocalServerKind::LlamaCpp,
        LocalServerKind::Jan,
        LocalServerKind::Vllm,
    ];

    /// The port the server listens on unless told otherwise.
    pub fn port(self) -> u16 {
        match self {
            LocalServerKind::Ollama => 11434,
            LocalServerKind::LmStudio => 1234,
            LocalServerKind::LlamaCpp => 8080,
            LocalServerKind::Jan => 1337,
            LocalServerKind::Vllm => 8000,
        }
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            LocalServerKind::Ollama => "Ollama",
            LocalServerKind::LmStudio => "LM Studio",
            LocalServerKind::LlamaCpp => "llama.cpp server",
            LocalServerKind::Jan => "Jan",
            LocalServerKind::Vllm => "vLLM",
        }
    }

    /// The provider name a found server is offered under (before making it unique).
    pub fn slug(self) -> &'static str {
        match self {
            LocalServerKind::Ollama => "ollama",
            LocalServerKind::LmStudio => "lm-studio",
            LocalServerKind::LlamaCpp => "llama-cpp",
            LocalServerKind::Jan => "jan",
            LocalServerKind::Vllm => "vllm",
        }
    }

    /// Where its model list is; each in its own format.
    fn list_path(self) -> &'static str {
        match self {
            LocalServerKind::Ollama => "/api/tags",
            _ => "/v1/models",
        }
    }

    fn models(self, doc: &serde_json::Value) -> Option<Vec<String>> {
        match self {
            LocalServerKind::Ollama => ollama_names(doc),
            _ => openai_ids(doc),
        }
    }
}

/// A server that answered with its model list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct LocalServer {
    pub kind: LocalServerKind,
    /// "Ollama", "LM Studio", "llama.cpp server", "Jan", "vLLM".
    pub label: String,
    /// The provider name it is added under: the kind's (`ollama`, `lm-studio`,
    /// `llama-cpp`, `jan`, `vllm`), with `-2`, `-3`… when a provider has that
    /// name already; or, when it is configured already, that provider's name.
    pub name: String,
    /// Its OpenAI-compatible base URL, as a provider's settings take it
    /// (`http://127.0.0.1:11434/v1`).
    pub base_url: String,
    /// The models it lists, in its order (the first becomes the default model).
    pub models: Vec<String>,
    /// The configured provider that already points at this server.
    #[serde(default)]
    pub configured_as: Option<String>,
}

impl LocalServer {
    /// The provider it is added as: OpenAI-compatible, no key, its first model
    /// as the default.
    pub fn settings(&self) -> ProviderSettings {
        let mut s = ProviderSettings::new(
            self.name.clone(),
            ProviderKind::OpenaiCompatible,
            self.base_url.clone(),
        );
        s.model = self.models.first().cloned();
        s
    }
}

/// A port that answered, but not with the model list its server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Unrecognised {
    /// The server that port usually belongs to.
    pub kind: LocalServerKind,
    /// The URL asked.
    pub url: String,
    /// What it did instead, in a few words ("answered HTTP 404").
    pub reason: String,
}

/// What a look at the local ports found. Nothing was added.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Detection {
    /// The servers that answered with their model list, in the order looked at.
    pub found: Vec<LocalServer>,
    /// Ports that answered otherwise (something else listens there, or the
    /// server is too slow or broken).
    pub unrecognised: Vec<Unrecognised>,
    /// Every URL asked, in order.
    pub looked_at: Vec<String>,
}

/// A port to look at, and whose server it would be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub kind: LocalServerKind,
    pub port: u16,
}

/// The five servers on their usual ports.
pub(crate) fn usual_ports() -> Vec<Candidate> {
    LocalServerKind::ALL
        .iter()
        .map(|&kind| Candidate {
            kind,
            port: kind.port(),
        })
        .collect()
}

/// What one port said.
enum Answer {
    /// Nothing listens (connection refused).
    Nobody,
    Models(Vec<String>),
    Other(String),
}

/// Asks every candidate at once; `configured` makes the names unique and
/// marks servers already added.
pub(crate) async fn detect(candidates: &[Candidate], configured: &[ProviderSettings]) -> Detection {
    let urls: Vec<String> = candidates
        .iter()
        .map(|c| format!("http://127.0.0.1:{}{}", c.port, c.kind.list_path()))
        .collect();
    let answers: Vec<Answer> = match client() {
        Ok(client) => {
            let asks = candidates.iter().zip(&urls);
            futures::future::join_all(asks.map(|(c, url)| ask(&client, c.kind, url))).await
        }
        Err(e) => candidates
            .iter()
            .map(|_| Answer::Other(e.clone()))
            .collect(),
    };
    let mut taken: Vec<String> = configured.iter().map(|s| s.name.clone()).collect();
    let mut detection = Detection {
        looked_at: urls.clone(),
        ..Detection::default()
    };
    for ((candidate, url), answer) in candidates.iter().zip(urls).zip(answers) {
        let kind = candidate.kind;
        match answer {
            Answer::Nobody => {}
            Answer::Other(reason) => {
                tracing::debug!(%url, %reason, "not a {}", kind.label());
                detection
                    .unrecognised
                    .push(Unrecognised { kind, url, reason });
            }
            Answer::Models(models) => {
                let configured_as = configured
                    .iter()
                    .find(|s| points_at(s, candidate.port))
                    .map(|s| s.name.clone());
                let name = match &configured_as {
                    Some(name) => name.clone(),
                    None => unique(kind.slug(), &taken),
                };
                taken.push(name.clone());
                detection.found.push(LocalServer {
                    kind,
                    label: kind.label().to_string(),
                    name,
                    base_url: format!("http://127.0.0.1:{}/v1", candidate.port),
                    models,
                    configured_as,
                });
            }
        }
    }
    detection
}

fn client() -> Result<reqwest::Client, String> {
    // reqwest is built without a default crypto provider; an error only means
    // one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        // Loopback only: a proxy from the environment must not see these requests.
        .no_proxy()
        .connect_timeout(CONNECT_WITHIN)
        .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

async fn ask(client: &reqwest::Client, kind: LocalServerKind, url: &str) -> Answer {
    let asked = async {
        let response = client.get(url).send().await?;
        let status = response.status();
        let body = read_capped(response, MAX_BODY).await?;
        Ok::<_, reqwest::Error>((status, body))
    };
    match tokio::time::timeout(ANSWER_WITHIN, asked).await {
        Err(_) => Answer::Other(format!(
            "did not answer within {} s",
            ANSWER_WITHIN.as_secs_f64()
        )),
        Ok(Err(e)) if e.is_connect() => Answer::Nobody,
        Ok(Err(e)) => Answer::Other(format!("the connection failed ({})", short(&e))),
        Ok(Ok((status, _))) if !status.is_success() => {
            Answer::Other(format!("answered HTTP {}", status.as_u16()))
        }
        Ok(Ok((_, body))) => {
            let models = serde_json::from_slice(&body)
                .ok()
                .and_then(|doc| kind.models(&doc));
            match models {
                Some(models) => Answer::Models(models),
                None => Answer::Other("answered, but not with a model list".into()),
            }
        }
    }
}

fn short(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

/// Whether a configured provider's base URL is this loopback port.
fn points_at(settings: &ProviderSettings, port: u16) -> bool {
    let Ok(url) = reqwest::Url::parse(&settings.base_url) else {
        return false;
    };
    let loopback = url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    settings.kind == ProviderKind::OpenaiCompatible
        && loopback
        && url.port_or_known_default() == Some(port)
}

/// `base`, or `base-2`, `base-3`… whichever no provider has.
fn unique(base: &str, taken: &[String]) -> String {
    let free = |name: &str| !taken.iter().any(|t| t == name);
    if free(base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| free(name))
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, EngineConfig, ProviderConfigError};
    use fake_llm::{FakeServer, ListFormat, Reply};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn port(server: &FakeServer) -> u16 {
        server.url().rsplit(':').next().unwrap().parse().unwrap()
    }

    async fn listing(format: ListFormat, models: &[&str]) -> FakeServer {
        let server = FakeServer::start(Reply::text(&["ok"])).await;
        server.set_models(format, models);
        server
    }

    /// A port that answers every connection with `reply` (raw bytes, once the
    /// request's head has arrived), or never answers when it is `None`.
    async fn raw(reply: Option<&'static [u8]>) -> (u16, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut head = [0u8; 4096];
                let _ = conn.read(&mut head).await;
                match reply {
                    Some(bytes) => {
                        let _ = conn.write_all(bytes).await;
                        let _ = conn.shutdown().await;
                    }
                    None => held.push(conn),
                }
            }
        });
        (port, task)
    }

    #[tokio::test]
    async fn each_server_is_found_through_its_own_model_list_format() {
        let cases = [
            (
                LocalServerKind::Ollama,
                ListFormat::Ollama,
                vec!["llama3.2:latest", "qwen2.5:7b"],
            ),
            (
                LocalServerKind::LmStudio,
                ListFormat::LmStudio,
                vec!["qwen2.5-7b-instruct"],
            ),
            (
                LocalServerKind::LlamaCpp,
                ListFormat::LlamaCpp,
                vec!["Llama-3.2-3B-Q4_K_M.gguf"],
            ),
            (
                LocalServerKind::Jan,
                ListFormat::Jan,
                vec!["llama3.2-3b-instruct", "mistral-7b"],
            ),
            (
                LocalServerKind::Vllm,
                ListFormat::Vllm,
                vec!["meta-llama/Llama-3.1-8B-Instruct"],
            ),
        ];
        let mut servers = Vec::new();
        for (kind, format, models) in &cases {
            servers.push((*kind, listing(*format, models).await));
        }
        let candidates: Vec<Candidate> = servers
            .iter()
            .map(|(kind, s)| Candidate {
                kind: *kind,
                port: port(s),
            })
            .collect();

        let detection = detect(&candidates, &[]).await;

        assert_eq!(detection.unrecognised, []);
        assert_eq!(detection.found.len(), 5, "{detection:?}");
        for ((kind, _, models), found) in cases.iter().zip(&detection.found) {
            let (_, server) = servers.iter().find(|(k, _)| k == kind).unwrap();
            assert_eq!(found.kind, *kind);
            assert_eq!(found.name, kind.slug());
            assert_eq!(found.label, kind.label());
            assert_eq!(
                found.base_url,
                format!("http://127.0.0.1:{}/v1", port(server))
            );
            assert_eq!(&found.models, models);
            assert_eq!(found.configured_as, None);
            // Each was asked at its own server's endpoint.
            let asked: Vec<String> = server.list_requests().into_iter().map(|r| r.uri).collect();
            assert_eq!(asked, [kind.list_path()], "{kind:?}");
        }
        assert_eq!(detection.looked_at.len(), 5);
        assert!(detection.looked_at[0].ends_with("/api/tags"));
    }

    #[tokio::test]
    async fn a_port_answering_garbage_slowly_or_with_an_error_is_reported_and_never_found() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let (not_json, _a) = raw(Some(
            b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nnot json!",
        ))
        .await;
        let (other_json, _b) = raw(Some(
            b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}",
        ))
        .await;
        let (not_http, _c) = raw(Some(b"\x00\xffSSH-2.0-garbage\r\n\r\n")).await;
        let (silent, _d) = raw(None).await;
        let unlisted = FakeServer::start(Reply::text(&["ok"])).await;
        let candidates = [
            Candidate {
                kind: LocalServerKind::Ollama,
                port: closed_port,
            },
            Candidate {
                kind: LocalServerKind::LmStudio,
                port: not_json,
            },
            Candidate {
                kind: LocalServerKind::Ollama,
                port: other_json,
            },
            Candidate {
                kind: LocalServerKind::Jan,
                port: not_http,
            },
            Candidate {
                kind: LocalServerKind::Vllm,
                port: silent,
            },
            Candidate {
                kind: LocalServerKind::LlamaCpp,
                port: port(&unlisted),
            },
        ];

        let started = std::time::Instant::now();
        let detection = detect(&candidates, &[]).await;

        // Asked at once: the silent port's deadline bounds the whole look.
        assert!(
            started.elapsed() < ANSWER_WITHIN * 2,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(detection.found, []);
        assert_eq!(detection.looked_at.len(), 6);
        let reasons: Vec<(u16, &str)> = detection
            .unrecognised
            .iter()
            .map(|u| {
                (
                    u.url
                        .split(':')
                        .nth(2)
                        .unwrap()
                        .split('/')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap(),
                    u.reason.as_str(),
                )
            })
            .collect();
        let reason = |port: u16| reasons.iter().find(|(p, _)| *p == port).map(|(_, r)| *r);
        assert_eq!(reason(closed_port), None, "a closed port is just absent");
        assert_eq!(
            reason(not_json),
            Some("answered, but not with a model list")
        );
        assert_eq!(
            reason(other_json),
            Some("answered, but not with a model list")
        );
        assert!(
            reason(not_http)
                .unwrap()
                .starts_with("the connection failed"),
            "{reasons:?}"
        );
        assert_eq!(reason(silent), Some("did not answer within 1.5 s"));
        assert_eq!(reason(port(&unlisted)), Some("answered HTTP 404"));
    }

    #[tokio::test]
    async fn names_are_unique_and_a_server_added_already_is_named_as_its_provider() {
        let first = listing(ListFormat::Ollama, &["a"]).await;
        let second = listing(ListFormat::Ollama, &["b"]).await;
        let candidates = [
            Candidate {
                kind: LocalServerKind::Ollama,
                port: port(&first),
            },
            Candidate {
                kind: LocalServerKind::Ollama,
                port: port(&second),
            },
        ];
        let remote = ProviderSettings::new(
            "ollama",
            ProviderKind::OpenaiCompatible,
            "http://gpu-box:11434/v1",
        );
        let mine = ProviderSettings::new(
            "mine",
            ProviderKind::OpenaiCompatible,
            format!("http://localhost:{}/v1", port(&second)),
        );

        let detection = detect(&candidates, &[remote, mine]).await;

        let named: Vec<(&str, Option<&str>)> = detection
            .found
            .iter()
            .map(|s| (s.name.as_str(), s.configured_as.as_deref()))
            .collect();
        assert_eq!(named, [("ollama-2", None), ("mine", Some("mine"))]);
    }

    #[tokio::test]
    async fn nothing_is_added_until_asked_and_adding_saves_an_openai_compatible_provider() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(EngineConfig::new(dir.path().join("b.redb")))
            .await
            .unwrap();
        let server = listing(ListFormat::Vllm, &["qwen", "llama"]).await;
        let candidates = [Candidate {
            kind: LocalServerKind::Vllm,
            port: port(&server),
        }];

        let detection = engine.detect_on(&candidates).await;
        assert_eq!(detection.found.len(), 1);
        assert_eq!(engine.provider_settings(), [], "detecting adds nothing");

        let err = engine
            .add_local_server_on(&candidates, "ollama")
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderConfigError::NotDetected { .. }),
            "{err:?}"
        );
        assert_eq!(err.code(), "not_detected");
        assert_eq!(
            err.to_string(),
            "no local server to add as 'ollama' answered on 127.0.0.1 (found: vllm)"
        );
        assert_eq!(engine.provider_settings(), []);

        let saved = engine
            .add_local_server_on(&candidates, " vllm ")
            .await
            .unwrap();
        assert_eq!(saved.name, "vllm");
        assert_eq!(saved.kind, ProviderKind::OpenaiCompatible);
        assert_eq!(
            saved.base_url,
            format!("http://127.0.0.1:{}/v1", port(&server))
        );
        assert_eq!(saved.model.as_deref(), Some("qwen"));
        assert_eq!(saved.key, super::super::KeyRef::None);
        assert_eq!(engine.provider_settings(), [saved]);

        let again = engine
            .add_local_server_on(&candidates, "vllm")
            .await
            .unwrap_err();
        assert!(
            again.to_string().contains("is provider 'vllm' already"),
            "{again}"
        );
        let found = &engine.detect_on(&candidates).await.found[0];
        assert_eq!(found.configured_as.as_deref(), Some("vllm"));
        // The provider lists the same models through its OpenAI-compatible base.
        assert_eq!(
            engine.provider_models("vllm").await.unwrap(),
            ["qwen", "llama"]
        );

        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let nobody = engine
            .add_local_server_on(
                &[Candidate {
                    kind: LocalServerKind::Jan,
                    port: closed_port,
                }],
                "jan",
            )
            .await
            .unwrap_err();
        assert_eq!(
            nobody.to_string(),
            "no local server to add as 'jan' answered on 127.0.0.1 (none did; is the server running?)"
        );
        engine.shutdown().await;
    }
}

//! Errors: [`ApiError`] when the server cannot start, and [`HttpError`], the
//! `{"code", "message"}` answer every refused request gets.

use crate::wire::{BadRecord, ErrorBody};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_engine::{ImportError, KeyError, ProviderConfigError, TaskError};
use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Starting the API server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use the API token file {}: {detail}", path.display())]
    Token { path: PathBuf, detail: String },
    #[error("cannot listen on {addr}: {source}; choose another port or let Baton pick one")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write the discovery file {}: {source}", path.display())]
    Discovery {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::DataDir { .. } => "api_data_dir",
            ApiError::Token { .. } => "api_token",
            ApiError::Bind { .. } => "api_bind",
            ApiError::Discovery { .. } => "api_discovery",
        }
    }
}

/// A refused request: its status and the JSON body.
#[derive(Debug, Clone)]
pub struct HttpError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl HttpError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        HttpError {
            status,
            body: ErrorBody {
                code: code.to_string(),
                message: message.into(),
                field: None,
                records: None,
            },
        }
    }

    /// 422 `invalid_input`, naming the request field at fault.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message);
        e.body.field = Some(field.into());
        e
    }

    pub fn malformed_json(message: impl Into<String>) -> Self {
        HttpError::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        HttpError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn body_too_large(limit: usize) -> Self {
        HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"baton\""),
            );
        }
        response
    }
}

/// The engine's field names are the API's, but for the idempotency key, sent
/// as a header.
fn api_field(engine_field: &str) -> Cow<'static, str> {
    match engine_field {
        "idempotency_key" => crate::IDEMPOTENCY_KEY.into(),
        other => other.to_string().into(),
    }
}

impl From<TaskError> for HttpError {
    fn from(e: TaskError) -> Self {
        let message = e.to_string();
        match e {
            TaskError::Invalid { field, .. } => HttpError::invalid(api_field(field), message),
            TaskError::NotFound(_)
            | TaskError::ScheduleNotFound(_)
            | TaskError::DeliveryNotFound(_)
            | TaskError::BudgetNotFound(_)
            | TaskError::GroupNotFound(_) => HttpError::not_found(message),
            TaskError::Conflict { .. } => {
                HttpError::new(StatusCode::CONFLICT, "invalid_state", message)
            }
            TaskError::ShuttingDown => {
                HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
            // Most often a full disk: the engine resumes by itself once it can write.
            TaskError::Storage(_) => {
                HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", message)
            }
            TaskError::IdempotencyKeyReused(_) => {
                let mut e = HttpError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    message,
                );
                e.body.field = Some(crate::IDEMPOTENCY_KEY.into());
                e
            }
            _ => HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

impl From<ImportError> for HttpError {
    fn from(e: ImportError) -> Self {
        let message = e.to_string();
        match e {
            ImportError::NotJson(_) => HttpError::malformed_json(message),
            ImportError::FutureVersion { .. } | ImportError::WrongShape(_) => {
                HttpError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), message)
            }
            ImportError::BadRecords(records) => {
                let mut err = HttpError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "import_bad_records",
                    message,
                );
                err.body.records = Some(records.iter().map(BadRecord::from).collect());
                err
            }
            ImportError::Task(e) => e.into(),
            _ => HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

impl From<ProviderConfigError> for HttpError {
    fn from(e: ProviderConfigError) -> Self {
        let message = e.to_string();
        let code = e.code();
        match e {
            ProviderConfigError::Invalid { field, .. } => HttpError::invalid(field, message),
            ProviderConfigError::NotFound(_) => HttpError::not_found(message),
            ProviderConfigError::NotDetected { .. } => {
                HttpError::new(StatusCode::NOT_FOUND, code, message)
            }
            ProviderConfigError::Key(key) => {
                // The engine's machine has no keychain, or its key is not where
                // the settings say: not the request's fault.
                let status = match key {
                    KeyError::NoKeychain(_) => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::CONFLICT,
                };
                let mut err = HttpError::new(status, code, message);
                err.body.field = Some("key".into());
                err
            }
            // The provider answered the test with an error (its message is
            // already redacted by the engine).
            ProviderConfigError::Call(_) => HttpError::new(StatusCode::BAD_GATEWAY, code, message),
            ProviderConfigError::Task(e) => e.into(),
            _ => HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

impl HttpError {
    /// The same answer with every trace of `secret` taken out of its message:
    /// the whole text, and any 8 or more of its first or last characters (some
    /// servers echo a key half-masked, "sk-abc…xyz").
    pub(crate) fn redacted(mut self, secret: Option<&str>) -> Self {
        if let Some(secret) = secret {
            self.body.message = redact(&self.body.message, secret);
        }
        self
    }
}

pub(crate) fn redact(text: &str, secret: &str) -> String {
    let chars: Vec<char> = secret.trim().chars().collect();
    let n = chars.len();
    if n == 0 {
        return text.to_string();
    }
    let mut out = text.replace(secret.trim(), "[redacted]");
    for len in (8..n).rev() {
        for piece in [&chars[..len], &chars[n - len..]] {
            let piece: String = piece.iter().collect();
            if out.contains(&piece) {
                out = out.replace(&piece, "[redacted]");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_takes_out_the_secret_and_long_pieces_of_it() {
        let key = "sk-proj-abcdefghijklmnop";
        assert_eq!(
            super::redact(&format!("bad key {key}."), key),
            "bad key [redacted]."
        );
        let clean = super::redact("bad key sk-proj-abcd…mnop or abcdefghijklmnop", key);
        assert!(
            !clean.contains("sk-proj-abcd") && !clean.contains("ghijklmnop"),
            "{clean}"
        );
        assert_eq!(super::redact("nothing", key), "nothing");
        assert_eq!(super::redact("x", ""), "x");
    }
}

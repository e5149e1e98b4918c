//! Errors: [`ApiError`] when the server cannot start, and [`HttpError`], the
//! `{"code", "message"}` answer every refused request gets.

use crate::wire::{BadRecord, ErrorBody};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_engine::{ImportError, TaskError};
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

/// The engine's field names are the CLI's; the API names one of them differently.
fn api_field(engine_field: &str) -> Cow<'static, str> {
    match engine_field {
        "timeout" => "timeout_s".into(),
        other => other.to_string().into(),
    }
}

impl From<TaskError> for HttpError {
    fn from(e: TaskError) -> Self {
        let message = e.to_string();
        match e {
            TaskError::Invalid { field, .. } => HttpError::invalid(api_field(field), message),
            TaskError::NotFound(_) | TaskError::ScheduleNotFound(_) => {
                HttpError::not_found(message)
            }
            TaskError::Conflict { .. } => {
                HttpError::new(StatusCode::CONFLICT, "invalid_state", message)
            }
            TaskError::ShuttingDown => {
                HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
            TaskError::Storage(_) => {
                HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", message)
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

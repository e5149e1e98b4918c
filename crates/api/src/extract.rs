//! Request bodies and ids, refused with the API's error contract instead of
//! axum's plain-text rejections.
//!
//! - a body over the limit → 413 `body_too_large`
//! - a body that is not `application/json` → 415 `unsupported_media_type`
//! - text that is not JSON → 400 `malformed_json`
//! - JSON of the wrong shape (a missing field, a string for a number, a field
//!   the body does not have) → 422 `invalid_input`, with `field` set to the
//!   path of the bad value
//! - a query parameter of the wrong form → 422 `invalid_input` naming it

use crate::error::HttpError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use baton_engine::TaskId;
use serde::de::DeserializeOwned;

/// A JSON body that must be present.
pub(crate) struct JsonBody<T>(pub T);

/// A JSON body that may be left out (no bytes at all): then `T::default()`.
pub(crate) struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, HttpError> {
        let bytes = json_bytes(req, state, false).await?;
        parse(&bytes).map(JsonBody)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, HttpError> {
        let bytes = json_bytes(req, state, true).await?;
        if bytes.is_empty() {
            return Ok(JsonOrEmpty(T::default()));
        }
        parse(&bytes).map(JsonOrEmpty)
    }
}

/// The body's bytes, within the route's limit, checked to be declared JSON.
pub(crate) async fn json_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
    may_be_empty: bool,
) -> Result<Bytes, HttpError> {
    let declared_json = is_json(req.headers());
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map(|l| l.0)
        .unwrap_or_default();
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            HttpError::body_too_large(limit)
        } else {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("cannot read the request body: {}", rejection.body_text()),
            )
        }
    })?;
    if bytes.is_empty() && may_be_empty {
        return Ok(bytes);
    }
    if !declared_json {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with the header Content-Type: application/json",
        ));
    }
    Ok(bytes)
}

/// The limit in force on a route, for the 413 message (axum does not say it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses JSON, telling malformed text (400) from a wrong shape (422).
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, HttpError> {
    // Every body is an object; serde would otherwise read an array as a struct's
    // fields in order.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map_err(|e| HttpError::malformed_json(format!("the body is not valid JSON: {e}")))?;
        return Err(HttpError::invalid("body", "the body must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let text = inner.to_string();
                let position = format!(" at line {} column {}", inner.line(), inner.column());
                let text = text.strip_suffix(&position).unwrap_or(&text);
                // serde names a missing field only in its message.
                let missing = text
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.strip_suffix('`'));
                // A misspelt field is refused, not dropped (`deny_unknown_fields`).
                let unknown = text
                    .strip_prefix("unknown field `")
                    .and_then(|rest| rest.split_once('`'))
                    .map(|(name, _)| name);
                if let Some(name) = unknown {
                    let field = match path.as_str() {
                        "." => name.to_string(),
                        p if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
                        p => format!("{p}.{name}"),
                    };
                    return HttpError::invalid(field.clone(), format!("{field}: {text}"));
                }
                match (path.as_str(), missing) {
                    (_, Some(field)) => HttpError::invalid(field, format!("{field} is required")),
                    (".", None) => HttpError::invalid("body", format!("the body is wrong: {text}")),
                    (field, None) => HttpError::invalid(field, format!("{field}: {text}")),
                }
            }
            _ => HttpError::malformed_json(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    // Trailing text after the value is malformed too.
    de.end()
        .map_err(|e| HttpError::malformed_json(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// A query string's parameters as `T` (unknown ones are left for others): a
/// bad value is 422 naming its parameter, with the sentence `T`'s parser gave.
pub(crate) fn query<T: DeserializeOwned>(raw: &str) -> Result<T, HttpError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        match field.as_str() {
            "." | "?" => HttpError::invalid("query", message),
            _ => HttpError::invalid(field, message),
        }
    })
}

/// A task id from the path: malformed is 422, like any invalid field.
pub(crate) fn task_id(text: &str) -> Result<TaskId, HttpError> {
    text.parse::<TaskId>().map_err(HttpError::from)
}

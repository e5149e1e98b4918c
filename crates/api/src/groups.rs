//! The group routes (`map`): create from rows, list, show, the rows' tasks in
//! input order, cancel, retry, and the results as CSV or JSON Lines.

use crate::error::HttpError;
use crate::extract::JsonBody;
use crate::routes::AppState;
use crate::wire::ErrorBody;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_engine::{Group, NewMap, ResultFormat, Task};
use serde::Deserialize;

/// Most row tasks in one page of `GET /groups/{key}/tasks`.
const MAX_PAGE: usize = 1000;

/// `POST /groups`
#[utoipa::path(post, path = "/groups", tag = "groups",
    request_body = baton_engine::NewMap,
    responses(
        (status = 201, description = "created: the group, its row tasks (queued) and its join (waiting), in one transaction", body = baton_engine::Group),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "nothing created: an empty input, a ragged CSV row, a prompt naming a column the input lacks, a name in use, an invalid task field (the row or field is named)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn map_rows(
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewMap>,
) -> Result<(StatusCode, Json<Group>), HttpError> {
    Ok((StatusCode::CREATED, Json(state.engine.map(new).await?)))
}

/// `GET /groups`
#[utoipa::path(get, path = "/groups", tag = "groups",
    responses(
        (status = 200, description = "every group, oldest first, with its progress", body = Vec<baton_engine::Group>),
        (status = 401, description = "no or wrong token", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_groups(
    State(state): State<AppState>,
) -> Result<Json<Vec<Group>>, HttpError> {
    Ok(Json(state.engine.groups().await?))
}

/// `GET /groups/{key}`
#[utoipa::path(get, path = "/groups/{key}", tag = "groups",
    params(("key" = String, Path, description = "the group's name (any case) or id")),
    responses(
        (status = 200, description = "the group with its progress", body = baton_engine::Group),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no group has this name or id", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get_group(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Group>, HttpError> {
    Ok(Json(state.engine.find_group(&key).await?))
}

/// Which page of a group's rows.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    /// Rows skipped from the first (input order).
    #[serde(default)]
    offset: usize,
    /// Rows in the page (at most 1000, default 100).
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

/// `GET /groups/{key}/tasks`
#[utoipa::path(get, path = "/groups/{key}/tasks", tag = "groups",
    params(("key" = String, Path, description = "the group's name (any case) or id"), Page),
    responses(
        (status = 200, description = "a page of the group's row tasks, in input order", body = Vec<baton_engine::Task>),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no group has this name or id", body = ErrorBody),
        (status = 422, description = "a limit above 1000", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn group_tasks(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Task>>, HttpError> {
    if page.limit > MAX_PAGE {
        return Err(baton_engine::TaskError::Invalid {
            field: "limit",
            message: format!("a page has at most {MAX_PAGE} rows, got {}", page.limit),
        }
        .into());
    }
    let group = state.engine.find_group(&key).await?;
    Ok(Json(
        state
            .engine
            .group_tasks(group.id, page.offset, page.limit)
            .await?,
    ))
}

/// `POST /groups/{key}/cancel`
#[utoipa::path(post, path = "/groups/{key}/cancel", tag = "groups",
    params(("key" = String, Path, description = "the group's name (any case) or id")),
    responses(
        (status = 200, description = "every row and the join that had not finished are cancelled (the join first, so it never starts)", body = baton_engine::Group),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no group has this name or id", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn cancel_group(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Group>, HttpError> {
    let group = state.engine.find_group(&key).await?;
    Ok(Json(state.engine.cancel_group(group.id).await?))
}

/// `POST /groups/{key}/retry`
#[utoipa::path(post, path = "/groups/{key}/retry", tag = "groups",
    params(("key" = String, Path, description = "the group's name (any case) or id")),
    responses(
        (status = 200, description = "every failed or cancelled row queued again, and the join waiting for them", body = baton_engine::Group),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no group has this name or id", body = ErrorBody),
        (status = 422, description = "nothing in the group failed or was cancelled", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn retry_group(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Group>, HttpError> {
    let group = state.engine.find_group(&key).await?;
    Ok(Json(state.engine.retry_group(group.id).await?))
}

/// The results' format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportQuery {
    /// `csv` (default) or `jsonl`.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    format: Option<ResultFormat>,
}

/// `GET /groups/{key}/export`
#[utoipa::path(get, path = "/groups/{key}/export", tag = "groups",
    params(("key" = String, Path, description = "the group's name (any case) or id"), ExportQuery),
    responses(
        (status = 200, description = "the results in input order: the input's columns, then output, status, error, tokens and cost", content_type = "text/csv"),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no group has this name or id", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn export_group(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, HttpError> {
    let group = state.engine.find_group(&key).await?;
    let format = query.format.unwrap_or(ResultFormat::Csv);
    let bytes = state
        .engine
        .export_group(group.id, format, Vec::new())
        .await?;
    let content_type = match format {
        ResultFormat::Csv => "text/csv; charset=utf-8",
        ResultFormat::Jsonl => "application/x-ndjson",
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        bytes,
    )
        .into_response())
}

//! The router and the task endpoints. Each handler is one call into the engine;
//! the error contract lives in `error` and `extract`.

use crate::error::HttpError;
use crate::events::{self, EventLog};
use crate::extract::{self, BodyLimit, JsonBody, JsonOrEmpty};
use crate::guard::{self, Guard};
use crate::wire::{
    CancelTask, CancelledTask, ChainTask, ErrorBody, Health, ImportSummary, RetryTask,
    ScheduleFire, ScheduleRequest,
};
use crate::{budgets, deliveries, groups, providers};
use axum::extract::{DefaultBodyLimit, Path, Query, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use baton_engine::{
    Created, Engine, IdempotencyKey, ListQuery, NewTask, Schedule, Task, TaskFilter, TaskId,
};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use utoipa::IntoParams;

/// The most tasks one `GET /tasks` page holds.
pub const MAX_PAGE: usize = 1000;
/// A page's size when `limit` is not given (as `baton list`).
pub const DEFAULT_PAGE: usize = 50;
/// The header naming the cursor of the next page.
pub const NEXT_CURSOR: &str = "x-next-cursor";
/// The request header that makes `POST /tasks`, `/tasks/{id}/chain` and
/// `/schedules` create once.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The answer header saying a keyed create answered an earlier request's task.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

#[derive(Clone)]
pub(crate) struct AppState {
    pub engine: Engine,
    pub events: Arc<EventLog>,
    /// Ends every event stream, so a graceful shutdown is not held open by them.
    pub stop: CancellationToken,
}

pub(crate) struct Limits {
    pub body: usize,
    pub import: usize,
}

pub(crate) fn router(state: AppState, guard: Arc<Guard>, limits: Limits) -> Router {
    let import = post(import)
        .layer::<_, Infallible>(DefaultBodyLimit::max(limits.import))
        .layer::<_, Infallible>(Extension(BodyLimit(limits.import)));
    // A group's input travels in its body: it may be as large as an import.
    let map = post(groups::map_rows)
        .layer::<_, Infallible>(DefaultBodyLimit::max(limits.import))
        .layer::<_, Infallible>(Extension(BodyLimit(limits.import)));
    Router::new()
        .route("/health", get(health))
        .route("/tasks", post(create_task).get(list_tasks))
        .route("/tasks/{id}", get(get_task))
        .route("/tasks/{id}/chain", post(chain_task))
        .route("/tasks/{id}/retry", post(retry_task))
        .route("/tasks/{id}/cancel", post(cancel_task))
        .route("/schedules", post(create_schedule).get(list_schedules))
        .route(
            "/schedules/{key}",
            get(get_schedule)
                .put(update_schedule)
                .delete(remove_schedule),
        )
        .route("/schedules/{key}/pause", post(pause_schedule))
        .route("/schedules/{key}/resume", post(resume_schedule))
        .route("/schedules/{key}/run", post(fire_schedule))
        .route("/schedules/{key}/tasks", get(schedule_tasks))
        .route("/tasks/{id}/deliveries", get(deliveries::task_deliveries))
        .route("/deliveries", get(deliveries::list_deliveries))
        .route("/deliveries/{id}/resend", post(deliveries::resend_delivery))
        .route(
            "/budgets",
            get(budgets::list_budgets).post(budgets::set_budget),
        )
        .route(
            "/budgets/{name}",
            axum::routing::delete(budgets::remove_budget),
        )
        .route("/groups", map.get(groups::list_groups))
        .route("/groups/{key}", get(groups::get_group))
        .route("/groups/{key}/tasks", get(groups::group_tasks))
        .route("/groups/{key}/cancel", post(groups::cancel_group))
        .route("/groups/{key}/retry", post(groups::retry_group))
        .route("/groups/{key}/export", get(groups::export_group))
        .route("/providers", get(providers::list_providers))
        .route(
            "/providers/{name}",
            axum::routing::put(providers::save_provider).delete(providers::remove_provider),
        )
        .route("/providers/{name}/test", post(providers::test_provider))
        .route("/providers/{name}/models", get(providers::provider_models))
        // Not under /providers/: a provider may be named "detect".
        .route("/local-servers", get(providers::local_servers))
        .route("/local-servers/{name}", post(providers::add_local_server))
        .route("/events", get(events::events))
        .route("/export", get(export))
        .route("/import", import)
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.body))
        .layer(Extension(BodyLimit(limits.body)))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
        .with_state(state)
}

/// `GET /health`
#[utoipa::path(get, path = "/health", tag = "server",
    responses(
        (status = 200, description = "the server is up and its engine writes", body = Health),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 503, description = "the engine cannot write its database (`status`: `unwritable`)", body = Health),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn health(State(state): State<AppState>) -> Result<Response, HttpError> {
    let (status, code, message) = match state.engine.health() {
        baton_engine::Health::Unwritable { message, .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "unwritable", Some(message))
        }
        _ => (StatusCode::OK, "ok", None),
    };
    let body = Health {
        status: code.into(),
        message,
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        counts: state.engine.counts().await?.into(),
    };
    Ok((status, Json(body)).into_response())
}

/// `POST /tasks`
#[utoipa::path(post, path = "/tasks", tag = "tasks",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: the same key with the same body answers the task the first request created (with `Idempotent-Replayed: true`), with another body 422 `idempotency_key_reused`; keys are kept 24 hours")),
    request_body = NewTask,
    responses(
        (status = 201, description = "created; it runs now or at `start_at`", body = baton_engine::Task,
         headers(("Location" = String, description = "/tasks/{id}"))),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(new): JsonBody<NewTask>,
) -> Result<Response, HttpError> {
    match idempotency_key(&headers)? {
        Some(key) => Ok(created_once(state.engine.submit_once(new, key).await?)),
        None => Ok(created(state.engine.submit(new).await?)),
    }
}

/// The request's `Idempotency-Key`, if it has one.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, HttpError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HttpError::invalid(
            IDEMPOTENCY_KEY,
            "the request has more than one Idempotency-Key header",
        ));
    }
    let text = value.to_str().map_err(|_| {
        HttpError::invalid(
            IDEMPOTENCY_KEY,
            "the Idempotency-Key header is not visible ASCII",
        )
    })?;
    Ok(Some(IdempotencyKey::new(text)?))
}

fn created(task: Task) -> Response {
    let location = HeaderValue::from_str(&format!("/tasks/{}", task.id)).ok();
    let mut response = (StatusCode::CREATED, Json(task)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The answer to a keyed create: the first answer again, marked when replayed.
fn created_once(c: Created) -> Response {
    let mut response = created(c.task);
    if c.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// The paging of `GET /tasks`, as text: each value is parsed here so a bad one
/// is a 422 naming its field. The filter is the engine's [`TaskFilter`].
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListParams {
    limit: Option<String>,
    cursor: Option<String>,
    offset: Option<String>,
}

/// What the OpenAPI document says `GET /tasks` takes for paging.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ListParamsDoc {
    /// Tasks per page, 1..=1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only tasks older than this id: the `X-Next-Cursor` of the previous page.
    #[param(format = Uuid)]
    cursor: Option<String>,
    /// Skip this many tasks first (instead of `cursor`).
    #[param(minimum = 0)]
    offset: Option<u64>,
}

/// `GET /tasks`
#[utoipa::path(get, path = "/tasks", tag = "tasks",
    params(ListParamsDoc, TaskFilter),
    responses(
        (status = 200, description = "tasks, newest first: one JSON array, as `baton list --json`",
         body = Vec<baton_engine::Task>,
         headers(("X-Next-Cursor" = String, description = "present when there are more tasks: pass it as `cursor`"))),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 422, description = "an invalid parameter", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_tasks(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, HttpError> {
    let Query(params) = query.map_err(|e| HttpError::invalid("query", e.body_text()))?;
    let filter = extract::query::<TaskFilter>(raw.as_deref().unwrap_or_default())?;
    let limit = page_limit(params.limit.as_deref())?;
    let offset = match params.offset.as_deref() {
        None => 0,
        Some(text) => text.trim().parse::<u64>().map_err(|_| {
            HttpError::invalid(
                "offset",
                format!("offset must be a whole number from 0, got '{text}'"),
            )
        })?,
    };
    if params.cursor.is_some() && offset > 0 {
        return Err(HttpError::invalid(
            "offset",
            "give either cursor or offset, not both",
        ));
    }
    let before = params
        .cursor
        .as_deref()
        .map(|t| {
            t.parse::<TaskId>().map_err(|_| {
                HttpError::invalid("cursor", format!("cursor '{t}' is not a task id (a UUID)"))
            })
        })
        .transpose()?;
    let mut query = ListQuery {
        filter,
        before,
        limit: MAX_PAGE,
    };
    // An offset is walked page by page, so it never holds more than one page.
    let mut skip = offset;
    while skip > 0 {
        query.limit = usize::try_from(skip).unwrap_or(MAX_PAGE).min(MAX_PAGE);
        let page = state.engine.list(query.clone()).await?;
        skip -= page.len() as u64;
        match page.last() {
            Some(last) if page.len() == query.limit => query.before = Some(last.id),
            _ => return Ok(page_response(Vec::new(), None)),
        }
    }
    // One more than asked says whether a next page exists.
    query.limit = limit + 1;
    let mut tasks = state.engine.list(query).await?;
    let next = if tasks.len() > limit {
        tasks.truncate(limit);
        tasks.last().map(|t| t.id)
    } else {
        None
    };
    Ok(page_response(tasks, next))
}

fn page_response(tasks: Vec<Task>, next: Option<TaskId>) -> Response {
    let mut response = Json(tasks).into_response();
    if let Some(next) = next.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        response.headers_mut().insert(NEXT_CURSOR, next);
    }
    response
}

/// `GET /tasks/{id}`
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, format = Uuid, description = "the task's id")),
    responses(
        (status = 200, description = "the task", body = baton_engine::Task),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no task has this id", body = ErrorBody),
        (status = 422, description = "the id is not a UUID", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Task>, HttpError> {
    Ok(Json(state.engine.get(extract::task_id(&id)?).await?))
}

/// `POST /tasks/{id}/chain`
#[utoipa::path(post, path = "/tasks/{id}/chain", tag = "tasks",
    params(
        ("id" = String, Path, format = Uuid, description = "the parent's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "as for `POST /tasks`"),
    ),
    request_body = ChainTask,
    responses(
        (status = 201, description = "created: waiting for the parent, or ready if it has completed", body = baton_engine::Task,
         headers(("Location" = String, description = "/tasks/{id}"))),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no task has the parent's id", body = ErrorBody),
        (status = 409, description = "the parent has failed or was cancelled", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn chain_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, HttpError> {
    let parent = extract::task_id(&id)?;
    let new = ChainTask::from_body(body)?;
    let key = idempotency_key(&headers)?;
    // Tasks are never deleted, so a parent found now is there for the chain.
    state.engine.get(parent).await?;
    match key {
        Some(key) => Ok(created_once(
            state.engine.chain_once(parent, new, key).await?,
        )),
        None => Ok(created(state.engine.chain(parent, new).await?)),
    }
}

/// `POST /tasks/{id}/retry`
#[utoipa::path(post, path = "/tasks/{id}/retry", tag = "tasks",
    params(("id" = String, Path, format = Uuid, description = "the task's id")),
    request_body(content = Option<RetryTask>, description = "optional"),
    responses(
        (status = 200, description = "queued again (or waiting for its parent), attempts reset", body = baton_engine::Task),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no task has this id", body = ErrorBody),
        (status = 409, description = "only failed or cancelled tasks can be retried", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn retry_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<RetryTask>,
) -> Result<Json<Task>, HttpError> {
    let id = extract::task_id(&id)?;
    Ok(Json(state.engine.retry(id, body.max_attempts).await?))
}

/// `POST /tasks/{id}/cancel`
#[utoipa::path(post, path = "/tasks/{id}/cancel", tag = "tasks",
    params(("id" = String, Path, format = Uuid, description = "the task's id")),
    request_body(content = Option<CancelTask>, description = "optional"),
    responses(
        (status = 200, description = "cancelled, or already cancelled (`changed` false)", body = CancelledTask),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no task has this id", body = ErrorBody),
        (status = 409, description = "the task has completed or failed", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn cancel_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonOrEmpty(body): JsonOrEmpty<CancelTask>,
) -> Result<Json<CancelledTask>, HttpError> {
    let id = extract::task_id(&id)?;
    Ok(Json(state.engine.cancel(id, body.reason).await?.into()))
}

/// `POST /schedules`
#[utoipa::path(post, path = "/schedules", tag = "schedules",
    params(("Idempotency-Key" = Option<String>, Header, description = "as for `POST /tasks`: the same key and body answer the schedule the first request created")),
    request_body = ScheduleRequest,
    responses(
        (status = 201, description = "stored; it fires from its next fire time on", body = baton_engine::Schedule,
         headers(("Location" = String, description = "/schedules/{id}"))),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "invalid fields: the expression, zone (or one that never fires), a name already used, the task", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create_schedule(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ScheduleRequest>,
) -> Result<Response, HttpError> {
    let new = body.into_new_schedule()?;
    let (schedule, replayed) = match idempotency_key(&headers)? {
        Some(key) => state.engine.add_schedule_once(new, key).await?,
        None => (state.engine.add_schedule(new).await?, false),
    };
    let location = HeaderValue::from_str(&format!("/schedules/{}", schedule.id)).ok();
    let mut response = (StatusCode::CREATED, Json(schedule)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// `GET /schedules`
#[utoipa::path(get, path = "/schedules", tag = "schedules",
    responses(
        (status = 200, description = "every schedule, oldest first, as `baton schedule list --json`",
         body = Vec<baton_engine::Schedule>),
        (status = 401, description = "no or wrong token", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_schedules(
    State(state): State<AppState>,
) -> Result<Json<Vec<Schedule>>, HttpError> {
    Ok(Json(state.engine.schedules().await?))
}

/// `GET /schedules/{key}`
#[utoipa::path(get, path = "/schedules/{key}", tag = "schedules",
    params(("key" = String, Path, description = "the schedule's name (any case) or id")),
    responses(
        (status = 200, description = "the schedule", body = baton_engine::Schedule),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no schedule has this name or id", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn get_schedule(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Schedule>, HttpError> {
    Ok(Json(state.engine.find_schedule(&key).await?))
}

/// `PUT /schedules/{key}`
#[utoipa::path(put, path = "/schedules/{key}", tag = "schedules",
    params(("key" = String, Path, description = "the schedule's name (any case) or id")),
    request_body = ScheduleRequest,
    responses(
        (status = 200, description = "the whole definition replaced, at once; paused or enabled as before", body = baton_engine::Schedule),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no schedule has this name or id", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "invalid fields", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn update_schedule(
    State(state): State<AppState>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<ScheduleRequest>,
) -> Result<Json<Schedule>, HttpError> {
    let new = body.into_new_schedule()?;
    let id = state.engine.find_schedule(&key).await?.id;
    Ok(Json(state.engine.update_schedule(id, new).await?))
}

/// `DELETE /schedules/{key}`
#[utoipa::path(delete, path = "/schedules/{key}", tag = "schedules",
    params(("key" = String, Path, description = "the schedule's name (any case) or id")),
    responses(
        (status = 200, description = "removed (the tasks it created stay); the schedule as it was", body = baton_engine::Schedule),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no schedule has this name or id", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn remove_schedule(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Schedule>, HttpError> {
    let id = state.engine.find_schedule(&key).await?.id;
    Ok(Json(state.engine.remove_schedule(id).await?))
}

/// `POST /schedules/{key}/pause`
#[utoipa::path(post, path = "/schedules/{key}/pause", tag = "schedules",
    params(("key" = String, Path, description = "the schedule's name (any case) or id")),
    responses(
        (status = 200, description = "paused: no fire until resumed", body = baton_engine::Schedule),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no schedule has this name or id", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn pause_schedule(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Schedule>, HttpError> {
    let id = state.engine.find_schedule(&key).await?.id;
    Ok(Json(state.engine.pause_schedule(id).await?))
}

/// `POST /schedules/{key}/resume`
#[utoipa::path(post, path = "/schedules/{key}/resume", tag = "schedules",
    params(("key" = String, Path, description = "the schedule's name (any case) or id")),
    responses(
        (status = 200, description = "enabled: fires from the next fire time after now", body = baton_engine::Schedule),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no schedule has this name or id", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn resume_schedule(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Schedule>, HttpError> {
    let id = state.engine.find_schedule(&key).await?.id;
    Ok(Json(state.engine.resume_schedule(id).await?))
}

/// `POST /schedules/{key}/run`
#[utoipa::path(post, path = "/schedules/{key}/run", tag = "schedules",
    params(("key" = String, Path, description = "the schedule's name (any case) or id")),
    responses(
        (status = 200, description = "the schedule fired now (run now), whatever the overlap policy; the next fire time is unchanged", body = ScheduleFire),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no schedule has this name or id", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn fire_schedule(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<ScheduleFire>, HttpError> {
    let id = state.engine.find_schedule(&key).await?.id;
    let (schedule, tasks) = state.engine.fire_schedule_now(id).await?;
    Ok(Json(ScheduleFire { schedule, tasks }))
}

/// The query of `GET /schedules/{key}/tasks`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ScheduleTasksParams {
    /// Records to return, 1..=1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub(crate) limit: Option<String>,
}

/// `GET /schedules/{key}/tasks`
#[utoipa::path(get, path = "/schedules/{key}/tasks", tag = "schedules",
    params(("key" = String, Path, description = "the schedule's name (any case) or id"), ScheduleTasksParams),
    responses(
        (status = 200, description = "the tasks the schedule created, newest first", body = Vec<baton_engine::Task>),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no schedule has this name or id", body = ErrorBody),
        (status = 422, description = "an invalid limit", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn schedule_tasks(
    State(state): State<AppState>,
    Path(key): Path<String>,
    query: Result<Query<ScheduleTasksParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Task>>, HttpError> {
    let Query(params) = query.map_err(|e| HttpError::invalid("query", e.body_text()))?;
    let limit = page_limit(params.limit.as_deref())?;
    let id = state.engine.find_schedule(&key).await?.id;
    Ok(Json(state.engine.schedule_tasks(id, limit).await?))
}

/// `limit`: 1..=[`MAX_PAGE`], [`DEFAULT_PAGE`] when not given.
pub(crate) fn page_limit(text: Option<&str>) -> Result<usize, HttpError> {
    let Some(text) = text else {
        return Ok(DEFAULT_PAGE);
    };
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_PAGE).contains(n))
        .ok_or_else(|| {
            HttpError::invalid(
                "limit",
                format!("limit must be a whole number from 1 to {MAX_PAGE}, got '{text}'"),
            )
        })
}

/// `GET /export`
#[utoipa::path(get, path = "/export", tag = "transfer",
    responses(
        (status = 200, description = "every task and schedule, as the export file (docs/export-format.md)", body = baton_engine::ExportFile),
        (status = 401, description = "no or wrong token", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn export(State(state): State<AppState>) -> Result<Response, HttpError> {
    // Streamed as the engine reads the tasks: the whole file is never in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(4);
    let engine = state.engine.clone();
    let done = tokio::spawn(async move { engine.export_to(ChannelWriter(tx)).await });
    // An error before the first byte is still an error answer.
    let Some(first) = rx.recv().await else {
        return Err(match done.await {
            Ok(Err(e)) => e.into(),
            Ok(Ok(_)) => HttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the export was empty",
            ),
            Err(e) => HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        });
    };
    let rest = futures::stream::unfold(Some((rx, done)), |state| async move {
        let (mut rx, done) = state?;
        match rx.recv().await {
            Some(chunk) => Some((Ok(chunk), Some((rx, done)))),
            // A failure past the first byte ends the body with an error, so the
            // client sees a broken transfer rather than a short file.
            None => match done.await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some((Err(std::io::Error::other(e.to_string())), None)),
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            },
        }
    });
    let body = futures::StreamExt::chain(futures::stream::once(async { Ok(first) }), rest);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// The export's writer: each chunk goes to the response body. It runs on the
/// blocking pool, where a blocking send is allowed.
struct ChannelWriter(tokio::sync::mpsc::Sender<axum::body::Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(axum::body::Bytes::copy_from_slice(buf))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `POST /import`
#[utoipa::path(post, path = "/import", tag = "transfer",
    request_body(content = baton_engine::ExportFile, description = "an export file"),
    responses(
        (status = 200, description = "imported; ids (and schedule names) already stored were skipped", body = ImportSummary),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "not a valid export file; nothing was imported", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn import(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<ImportSummary>, HttpError> {
    let bytes = extract::json_bytes(request, &state, false).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| HttpError::malformed_json("the body is not UTF-8 text"))?;
    Ok(Json(state.engine.import(text).await?.into()))
}

/// `GET /openapi.json`
#[utoipa::path(get, path = "/openapi.json", tag = "server",
    responses(
        (status = 200, description = "this document", content_type = "application/json", body = Object),
        (status = 401, description = "no or wrong token", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::openapi_json(),
    )
}

async fn not_found() -> HttpError {
    HttpError::not_found("no such endpoint; see /openapi.json")
}

async fn method_not_allowed() -> HttpError {
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /openapi.json",
    )
}

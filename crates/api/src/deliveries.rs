//! The delivery routes: a task's deliveries, the latest ones, a resend by hand.

use crate::error::HttpError;
use crate::extract;
use crate::routes::{page_limit, AppState, ScheduleTasksParams};
use crate::wire::ErrorBody;
use axum::extract::{Path, Query, State};
use axum::Json;
use baton_engine::{Delivery, DeliveryId};

/// `GET /tasks/{id}/deliveries`
#[utoipa::path(get, path = "/tasks/{id}/deliveries", tag = "deliveries",
    params(("id" = String, Path, format = Uuid, description = "the task's id")),
    responses(
        (status = 200, description = "the task's deliveries, oldest first", body = Vec<baton_engine::Delivery>),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no task has this id", body = ErrorBody),
        (status = 422, description = "the id is not a UUID", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn task_deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Delivery>>, HttpError> {
    Ok(Json(state.engine.deliveries(extract::task_id(&id)?).await?))
}

/// `GET /deliveries`
#[utoipa::path(get, path = "/deliveries", tag = "deliveries",
    params(ScheduleTasksParams),
    responses(
        (status = 200, description = "the latest deliveries of every task, newest first", body = Vec<baton_engine::Delivery>),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 422, description = "an invalid limit", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    query: Result<Query<ScheduleTasksParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Delivery>>, HttpError> {
    let Query(params) = query.map_err(|e| HttpError::invalid("query", e.body_text()))?;
    let limit = page_limit(params.limit.as_deref())?;
    Ok(Json(state.engine.recent_deliveries(limit).await?))
}

/// `POST /deliveries/{id}/resend`
#[utoipa::path(post, path = "/deliveries/{id}/resend", tag = "deliveries",
    params(("id" = String, Path, format = Uuid, description = "the delivery's id")),
    responses(
        (status = 200, description = "the delivery, pending again (tries from zero, the same idempotency key)", body = baton_engine::Delivery),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no delivery has this id", body = ErrorBody),
        (status = 422, description = "the id is not a UUID", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn resend_delivery(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Delivery>, HttpError> {
    let id = id.parse::<DeliveryId>().map_err(HttpError::from)?;
    Ok(Json(state.engine.resend_delivery(id).await?))
}

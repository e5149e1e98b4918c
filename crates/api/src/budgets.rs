//! The budget routes: list with each cap's spending, set, remove.

use crate::error::HttpError;
use crate::extract::JsonBody;
use crate::routes::AppState;
use crate::wire::ErrorBody;
use axum::extract::{Path, State};
use axum::Json;
use baton_engine::{Budget, NewBudget};

/// `GET /budgets`
#[utoipa::path(get, path = "/budgets", tag = "budgets",
    responses(
        (status = 200, description = "every budget in name order, with what was spent and is reserved in its current period", body = Vec<baton_engine::Budget>),
        (status = 401, description = "no or wrong token", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list_budgets(
    State(state): State<AppState>,
) -> Result<Json<Vec<Budget>>, HttpError> {
    Ok(Json(state.engine.budgets().await?))
}

/// `POST /budgets`
#[utoipa::path(post, path = "/budgets", tag = "budgets",
    request_body = baton_engine::NewBudget,
    responses(
        (status = 200, description = "stored (a new budget, or the one of that name changed: the same period, unit and zone keep what was spent)", body = baton_engine::Budget),
        (status = 400, description = "malformed JSON", body = ErrorBody),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 415, description = "the body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "an invalid field: the name, an amount not above 0, a zone, provider or schedule that does not exist", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn set_budget(
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewBudget>,
) -> Result<Json<Budget>, HttpError> {
    Ok(Json(state.engine.set_budget(new).await?))
}

/// `DELETE /budgets/{name}`
#[utoipa::path(delete, path = "/budgets/{name}", tag = "budgets",
    params(("name" = String, Path, description = "the budget's name")),
    responses(
        (status = 200, description = "removed; the budget as it was. Tasks it held may start", body = baton_engine::Budget),
        (status = 401, description = "no or wrong token", body = ErrorBody),
        (status = 404, description = "no budget has this name", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn remove_budget(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Budget>, HttpError> {
    Ok(Json(state.engine.remove_budget(&name).await?))
}

//! The OpenAPI 3.1 document, served at `/openapi.json` and checked into
//! `docs/openapi.json` (a test regenerates it and fails on drift).

use crate::{budgets, deliveries, events, groups, providers, routes, wire};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Baton local API",
        description = "The HTTP API of a running Baton engine, on 127.0.0.1 only. Every request \
                       needs `Authorization: Bearer <token>` (the token is in the data directory's \
                       `api-token` file; `api.json` there names the URL and the file) and a Host \
                       header of `127.0.0.1:PORT` or `localhost:PORT`. Errors are \
                       `{\"code\", \"message\"}` with a stable code. Tasks use the field names of \
                       `baton show --json`.",
        license(name = "MIT"),
    ),
    paths(
        routes::health,
        routes::create_task,
        routes::list_tasks,
        routes::get_task,
        routes::chain_task,
        routes::retry_task,
        routes::cancel_task,
        routes::create_schedule,
        routes::list_schedules,
        routes::get_schedule,
        routes::update_schedule,
        routes::remove_schedule,
        routes::pause_schedule,
        routes::resume_schedule,
        routes::fire_schedule,
        routes::schedule_tasks,
        deliveries::task_deliveries,
        deliveries::list_deliveries,
        deliveries::resend_delivery,
        budgets::list_budgets,
        budgets::set_budget,
        budgets::remove_budget,
        groups::map_rows,
        groups::list_groups,
        groups::get_group,
        groups::group_tasks,
        groups::cancel_group,
        groups::retry_group,
        groups::export_group,
        providers::list_providers,
        providers::save_provider,
        providers::remove_provider,
        providers::test_provider,
        providers::provider_models,
        providers::local_servers,
        providers::add_local_server,
        events::events,
        routes::export,
        routes::import,
        routes::openapi,
    ),
    components(schemas(
        baton_engine::Task,
        baton_engine::TaskState,
        baton_engine::Deliver,
        baton_engine::Delivery,
        baton_engine::DeliveryTarget,
        baton_engine::DeliveryStatus,
        baton_engine::AutoPause,
        baton_engine::Attempt,
        baton_engine::AttemptOutcome,
        baton_engine::Failure,
        baton_engine::ErrorClass,
        baton_engine::NewTask,
        wire::ChainTask,
        baton_engine::ExportFile,
        baton_engine::Schedule,
        baton_engine::TaskTemplate,
        baton_engine::SkippedFires,
        baton_engine::SkipReason,
        baton_engine::MissedPolicy,
        baton_engine::OverlapPolicy,
        baton_engine::ProviderSettings,
        baton_engine::ProviderKind,
        baton_engine::Limits,
        baton_engine::LoweredConcurrency,
        baton_engine::KeyRef,
        baton_engine::Prices,
        baton_engine::HoldReason,
        baton_engine::Budget,
        baton_engine::NewBudget,
        baton_engine::BudgetUnit,
        baton_engine::BudgetPeriod,
        baton_engine::BudgetScope,
        baton_engine::Reserved,
        baton_engine::Group,
        baton_engine::GroupJoin,
        baton_engine::GroupMember,
        baton_engine::GroupStatus,
        baton_engine::JoinOn,
        baton_engine::NewMap,
        baton_engine::NewJoin,
        baton_engine::RowSource,
        baton_engine::ResultFormat,
        wire::ProviderRequest,
        wire::TestProvider,
        wire::ProviderTestResult,
        wire::ProviderModels,
        baton_engine::Detection,
        baton_engine::LocalServer,
        baton_engine::LocalServerKind,
        baton_engine::Unrecognised,
        wire::ScheduleRequest,
        wire::ScheduleFire,
        wire::StreamEvent,
        wire::StreamEventKind,
        wire::StreamNotice,
        wire::ErrorBody,
    )),
    modifiers(&Bearer),
    tags(
        (name = "tasks", description = "create, read, chain, retry and cancel tasks"),
        (name = "schedules", description = "recurring schedules: add, edit, pause, resume, remove, run now"),
        (name = "providers", description = "the LLM providers tasks can name: list, add or replace, remove, test, the models each lists; local servers found on loopback and added on request; keys are never answered"),
        (name = "budgets", description = "caps on spending in money or tokens, per day or month, overall or per provider or schedule: list with what was spent, set, remove"),
        (name = "groups", description = "one prompt over many rows (a CSV, JSON Lines or a list), with an optional join over every answer in input order: create, list, show, rows, cancel, retry, export the results"),
        (name = "events", description = "the live stream of task events"),
        (name = "transfer", description = "export and import every task and schedule"),
        (name = "server", description = "health and this document"),
    ),
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as a value.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as pretty JSON with a final newline: the text of docs/openapi.json.
pub fn openapi_json() -> String {
    let mut text = openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    text.push('\n');
    text
}

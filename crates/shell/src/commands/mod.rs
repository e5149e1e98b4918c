//! The commands the window calls, grouped by concern. Each is a thin call into
//! the engine (or the catalog) taking the [`AppState`](crate::AppState) first;
//! validation and errors come from the engine. [`for_each_command`] lists them
//! once, for the code generated from the list (the desktop's IPC handlers and
//! their TypeScript bindings).

pub mod app;
pub mod budgets;
pub mod groups;
pub mod providers;
pub mod queue;
pub mod schedules;
pub mod tasks;
pub mod transfer;

use crate::error::CommandError;
use baton_engine::TaskId;

fn parse_id(id: &str) -> Result<TaskId, CommandError> {
    id.parse::<TaskId>().map_err(CommandError::from)
}

/// Every type a command takes or answers, named as [`for_each_command`]'s
/// list names them: code generated from the list imports this module.
pub mod signature {
    pub use super::groups::{MapInput, RowsPreview};
    pub use super::schedules::{ScheduleDetail, ScheduleFire, ScheduleInput};
    pub use super::tasks::{TaskDetail, TaskInput, TaskPage};
    pub use crate::error::CommandError;
    pub use crate::follow::EngineStatus;
    pub use crate::queue::{QueueSettings, QueueStatus};
    pub use crate::settings::Settings;
    pub use baton_engine::{
        Activity, Budget, CatalogQuery, Delivery, Detection, Group, ImportReport, NewBudget,
        ProviderSettings, ProviderTest, ResultFormat, RowSource, Schedule, Task,
    };
    pub use chrono::{DateTime, Utc};
}

/// Calls `$callback!` with every command: `module::name(arg: Type, ...) ->
/// Answer;`, where the function is `commands::module::name(&AppState, args...)`
/// answering `Result<Answer, CommandError>`, and the types are those of
/// [`signature`]. Written once here, so a command added to a module and not
/// to the list is not reachable, and the list cannot name one that is not
/// there (it would not compile).
#[macro_export]
macro_rules! for_each_command {
    ($callback:ident) => {
        $callback! {
            tasks::submit_task(input: TaskInput) -> Task;
            tasks::chain_task(parent_id: String, input: TaskInput) -> Task;
            tasks::cancel_task(id: String, reason: Option<String>) -> Task;
            tasks::retry_task(id: String, max_attempts: Option<u32>) -> Task;
            tasks::get_task(id: String) -> TaskDetail;
            tasks::resend_delivery(id: String) -> Delivery;
            tasks::store_webhook_secret(url: String, secret: String) -> ();
            tasks::query_tasks(query: CatalogQuery) -> TaskPage;
            transfer::export_tasks(path: String, ids: Option<Vec<String>>) -> u32;
            transfer::import_tasks(path: String) -> ImportReport;
            transfer::save_output(id: String, path: String) -> u32;
            app::get_settings() -> Settings;
            app::update_settings(settings: Settings) -> Settings;
            app::set_paused(paused: bool) -> EngineStatus;
            app::engine_status() -> EngineStatus;
            app::activity() -> Activity;
            app::open_log_folder() -> String;
            providers::list_providers() -> Vec<ProviderSettings>;
            providers::save_provider(settings: ProviderSettings, api_key: Option<String>) -> ProviderSettings;
            providers::remove_provider(name: String) -> ProviderSettings;
            providers::test_provider(name: String, model: Option<String>) -> ProviderTest;
            providers::provider_models(name: String) -> Vec<String>;
            providers::detect_local_servers() -> Detection;
            providers::add_local_server(name: String) -> ProviderSettings;
            budgets::list_budgets() -> Vec<Budget>;
            budgets::set_budget(budget: NewBudget) -> Budget;
            budgets::remove_budget(name: String) -> Budget;
            schedules::list_schedules() -> Vec<Schedule>;
            schedules::get_schedule(id: String) -> ScheduleDetail;
            schedules::preview_schedule(cron: String, timezone: Option<String>) -> Vec<DateTime<Utc>>;
            schedules::create_schedule(input: ScheduleInput) -> Schedule;
            schedules::update_schedule(id: String, input: ScheduleInput) -> Schedule;
            schedules::pause_schedule(id: String) -> Schedule;
            schedules::resume_schedule(id: String) -> Schedule;
            schedules::remove_schedule(id: String) -> Schedule;
            schedules::fire_schedule_now(id: String) -> ScheduleFire;
            groups::map_rows(input: MapInput) -> Group;
            groups::read_rows_file(path: String) -> String;
            groups::preview_rows(source: RowSource, data: String, limit: u32) -> RowsPreview;
            groups::list_groups() -> Vec<Group>;
            groups::get_group(key: String) -> Group;
            groups::group_tasks(id: String, offset: u32, limit: u32) -> Vec<Task>;
            groups::cancel_group(id: String) -> Group;
            groups::retry_group(id: String) -> Group;
            groups::export_group(id: String, format: ResultFormat, path: String) -> u32;
            queue::shared_queue_settings() -> QueueSettings;
            queue::shared_queue_status() -> Option<QueueStatus>;
            queue::use_shared_queue(url: String, password: Option<String>, run_tasks: bool) -> QueueSettings;
            queue::use_local_database() -> QueueSettings;
        }
    };
}

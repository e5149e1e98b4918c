//! The commands the window calls, grouped by concern. Each is a thin call into
//! the engine (or the catalog) taking the [`AppState`](crate::AppState) first;
//! validation and errors come from the engine. [`for_each_command`] lists and
//! documents them once, for the code generated from the list (the desktop's
//! IPC handlers and their TypeScript bindings, `dispatch`).

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
    pub use crate::notices::OpenTarget;
    pub use crate::queue::{QueueSettings, QueueStatus};
    pub use crate::settings::Settings;
    pub use baton_engine::{
        Activity, Budget, CatalogQuery, Delivery, Detection, Group, ImportReport, NewBudget,
        ProviderSettings, ProviderTest, ResultFormat, RowSource, Schedule, Task,
    };
    pub use chrono::{DateTime, Utc};
}

/// Calls `$callback!` with every command: `/// doc` then `module::name(arg:
/// Type, ...) -> Answer;`, where the function is
/// `commands::module::name(&AppState, args...)` answering `Result<Answer,
/// CommandError>`, and the types are those of [`signature`]. Written once
/// here, so a command added to a module and not to the list is not
/// reachable, and the list cannot name one that is not there (it would not
/// compile). A command's doc is here, not on its function: it is what the
/// window's TypeScript bindings show.
#[macro_export]
macro_rules! for_each_command {
    ($callback:ident) => {
        $callback! {
            tasks::submit_task(input: TaskInput) -> Task;
            tasks::chain_task(parent_id: String, input: TaskInput) -> Task;
            tasks::cancel_task(id: String, reason: Option<String>) -> Task;
            tasks::retry_task(id: String, max_attempts: Option<u32>) -> Task;
            tasks::get_task(id: String) -> TaskDetail;
            /// Sends a delivery again (whatever became of it), with the same idempotency key.
            tasks::resend_delivery(id: String) -> Delivery;
            /// Keeps a webhook's signing secret in the OS keychain, for tasks whose
            /// `deliver` says `webhook_secret_keychain`; it never reaches the database.
            tasks::store_webhook_secret(url: String, secret: String) -> ();
            tasks::query_tasks(query: CatalogQuery) -> TaskPage;
            /// Writes all tasks, or only `ids`, to `path`. Returns how many were written.
            transfer::export_tasks(path: String, ids: Option<Vec<String>>) -> u32;
            transfer::import_tasks(path: String) -> ImportReport;
            /// Saves a task's answer (the whole text, as stored) to `path`. Returns its size in bytes.
            transfer::save_output(id: String, path: String) -> u32;
            app::get_settings() -> Settings;
            /// Applies and saves the settings; the engine's worker count changes at once.
            app::update_settings(settings: Settings) -> Settings;
            /// Paused workers finish what they run and start nothing new.
            app::set_paused(paused: bool) -> EngineStatus;
            app::engine_status() -> EngineStatus;
            app::activity() -> Activity;
            app::open_log_folder() -> String;
            /// What a click on a notification asked the window to open, if no page has
            /// taken it yet; taking it clears it. The page asks when it hears
            /// `OpenRequested` and once its list has loaded (a window made by the click).
            app::take_open_request() -> Option<OpenTarget>;
            /// Quits Baton: running attempts get their grace period, the database is
            /// closed, and the window closes with it (an installed update asks this
            /// before it restarts on the new version).
            app::quit() -> ();
            /// The configured providers (not the built-in `mock`); key sources, never keys.
            providers::list_providers() -> Vec<ProviderSettings>;
            /// Adds or replaces a provider. `api_key`, when the person typed one, goes to the
            /// OS keychain and the saved settings point there.
            providers::save_provider(settings: ProviderSettings, api_key: Option<String>) -> ProviderSettings;
            /// Removes a provider and its keychain entry; returns what was removed.
            providers::remove_provider(name: String) -> ProviderSettings;
            /// Sends one tiny request (to `model`, else the provider's default).
            providers::test_provider(name: String, model: Option<String>) -> ProviderTest;
            /// The models provider `name` lists (asked when its form opens).
            providers::provider_models(name: String) -> Vec<String>;
            /// Ollama, LM Studio, llama.cpp's server, Jan and vLLM on their usual loopback
            /// ports. Adds nothing.
            providers::detect_local_servers() -> Detection;
            /// Adds the local server found under `name` as a provider.
            providers::add_local_server(name: String) -> ProviderSettings;
            /// Every budget with its current period's spending.
            budgets::list_budgets() -> Vec<Budget>;
            /// Adds a budget, or changes the one of the same name.
            budgets::set_budget(budget: NewBudget) -> Budget;
            /// Removes a budget; the tasks it held may start.
            budgets::remove_budget(name: String) -> Budget;
            schedules::list_schedules() -> Vec<Schedule>;
            schedules::get_schedule(id: String) -> ScheduleDetail;
            /// The next fire times of `cron` read in `timezone` (UTC when empty), or the
            /// error naming the field (`cron` or `timezone`) that is wrong.
            schedules::preview_schedule(cron: String, timezone: Option<String>) -> Vec<DateTime<Utc>>;
            schedules::create_schedule(input: ScheduleInput) -> Schedule;
            schedules::update_schedule(id: String, input: ScheduleInput) -> Schedule;
            schedules::pause_schedule(id: String) -> Schedule;
            schedules::resume_schedule(id: String) -> Schedule;
            /// Deletes the schedule; the tasks it created stay.
            schedules::remove_schedule(id: String) -> Schedule;
            /// Fires the schedule at once ("Run now"), whatever the overlap policy; the
            /// next fire time stays.
            schedules::fire_schedule_now(id: String) -> ScheduleFire;
            groups::map_rows(input: MapInput) -> Group;
            /// The text of a file picked in the open dialog; a file over the input limit
            /// is refused by its size, before it is read.
            groups::read_rows_file(path: String) -> String;
            /// The columns and the first `limit` rows of `data`, or the engine's refusal
            /// of the whole input (an empty file, a ragged row…).
            groups::preview_rows(source: RowSource, data: String, limit: u32) -> RowsPreview;
            groups::list_groups() -> Vec<Group>;
            /// The group with this name (any case) or id.
            groups::get_group(key: String) -> Group;
            /// A page of the group's row tasks, in input order.
            groups::group_tasks(id: String, offset: u32, limit: u32) -> Vec<Task>;
            groups::cancel_group(id: String) -> Group;
            groups::retry_group(id: String) -> Group;
            /// Writes the group's results to `path` (through a temporary file beside it,
            /// renamed over it: never half a file). Returns the rows written.
            groups::export_group(id: String, format: ResultFormat, path: String) -> u32;
            /// The shared queue in use (the URL without a password, the switch) and
            /// whether the keychain holds its password.
            queue::shared_queue_settings() -> QueueSettings;
            /// The shared queue's name and live runners; `None` on this computer's database.
            queue::shared_queue_status() -> Option<QueueStatus>;
            /// Moves the app to the shared queue at `url` (no password in it), running
            /// tasks here or only following the queue. `password`, when typed, goes to the
            /// keychain once the database took it; empty keeps the saved one. A database
            /// that cannot be opened is one sentence (`field: "url"`) and nothing changes.
            queue::use_shared_queue(url: String, password: Option<String>, run_tasks: bool) -> QueueSettings;
            /// Moves the app back to this computer's database (the redb file).
            queue::use_local_database() -> QueueSettings;
        }
    };
}

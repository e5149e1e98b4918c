//! What a command asks of Baton, as one trait answered the same way by the
//! database this process opened ([`Engine`]) and by a running engine's HTTP API
//! ([`Remote`]). A command is written once against [`Operations`]; which of
//! the two serves it is decided once, in [`super::Backend::connect`].

use crate::error::CliError;
use crate::remote::Remote;
use baton_api::wire::{ImportSummary, ProviderTestResult, Secret};
use baton_engine::{
    ApiKey, Budget, Cancelled, Delivery, DeliveryId, Detection, Engine, ExportFile, Group, GroupId,
    IdempotencyKey, ListQuery, NewBudget, NewMap, NewSchedule, NewTask, ProviderSettings,
    ResultFormat, Schedule, ScheduleId, Task, TaskId,
};
use futures::future::BoxFuture;

/// An answer: boxed, so the trait can be used as `dyn Operations`.
pub(super) type Answer<'a, T> = BoxFuture<'a, Result<T, CliError>>;

pub(super) trait Operations: Send + Sync {
    fn submit(&self, new: NewTask, key: Option<IdempotencyKey>) -> Answer<'_, Task>;
    fn chain(&self, parent: TaskId, new: NewTask, key: Option<IdempotencyKey>) -> Answer<'_, Task>;
    fn cancel(&self, id: TaskId, reason: Option<String>) -> Answer<'_, Cancelled>;
    fn retry(&self, id: TaskId, max_attempts: Option<u32>) -> Answer<'_, Task>;
    fn get(&self, id: TaskId) -> Answer<'_, Task>;
    fn list(&self, query: ListQuery) -> Answer<'_, Vec<Task>>;
    fn export(&self) -> Answer<'_, ExportFile>;
    fn import(&self, text: String) -> Answer<'_, ImportSummary>;
    fn add_schedule(&self, new: NewSchedule) -> Answer<'_, Schedule>;
    /// The schedule with this name (any case) or id.
    fn find_schedule<'a>(&'a self, key: &'a str) -> Answer<'a, Schedule>;
    fn update_schedule(&self, id: ScheduleId, new: NewSchedule) -> Answer<'_, Schedule>;
    fn pause_schedule(&self, id: ScheduleId) -> Answer<'_, Schedule>;
    fn resume_schedule(&self, id: ScheduleId) -> Answer<'_, Schedule>;
    fn remove_schedule(&self, id: ScheduleId) -> Answer<'_, Schedule>;
    /// The run's tasks, its task first.
    fn fire_schedule_now(&self, id: ScheduleId) -> Answer<'_, Vec<Task>>;
    fn schedules(&self) -> Answer<'_, Vec<Schedule>>;
    fn schedule_tasks(&self, id: ScheduleId, limit: usize) -> Answer<'_, Vec<Task>>;
    /// The configured providers, and the names of the built-in ones.
    fn providers(&self) -> Answer<'_, (Vec<ProviderSettings>, Vec<String>)>;
    /// Adds or replaces a provider; `key` goes to the OS keychain of the
    /// machine running the engine.
    fn save_provider(
        &self,
        settings: ProviderSettings,
        key: Option<Secret>,
    ) -> Answer<'_, ProviderSettings>;
    fn remove_provider<'a>(&'a self, name: &'a str) -> Answer<'a, ProviderSettings>;
    fn test_provider<'a>(
        &'a self,
        name: &'a str,
        model: Option<String>,
    ) -> Answer<'a, ProviderTestResult>;
    /// The models a provider lists.
    fn provider_models<'a>(&'a self, name: &'a str) -> Answer<'a, Vec<String>>;
    /// The local servers on the engine's loopback; adds nothing.
    fn detect_local_servers(&self) -> Answer<'_, Detection>;
    /// Looks again and adds the server found under `name`.
    fn add_local_server<'a>(&'a self, name: &'a str) -> Answer<'a, ProviderSettings>;
    /// A task's deliveries (oldest first), or the latest `limit` of every task.
    fn deliveries(&self, task: Option<TaskId>, limit: usize) -> Answer<'_, Vec<Delivery>>;
    fn resend_delivery(&self, id: DeliveryId) -> Answer<'_, Delivery>;
    /// Every budget with its current period's spending.
    fn budgets(&self) -> Answer<'_, Vec<Budget>>;
    fn set_budget(&self, new: NewBudget) -> Answer<'_, Budget>;
    fn remove_budget<'a>(&'a self, name: &'a str) -> Answer<'a, Budget>;
    /// Creates a group: a task per row, and the join.
    fn map(&self, new: NewMap) -> Answer<'_, Group>;
    /// Every group, oldest first.
    fn groups(&self) -> Answer<'_, Vec<Group>>;
    /// The group with this name (any case) or id.
    fn find_group<'a>(&'a self, key: &'a str) -> Answer<'a, Group>;
    /// A page of a group's row tasks, in input order.
    fn group_tasks(&self, id: GroupId, offset: usize, limit: usize) -> Answer<'_, Vec<Task>>;
    fn cancel_group(&self, id: GroupId) -> Answer<'_, Group>;
    fn retry_group(&self, id: GroupId) -> Answer<'_, Group>;
    /// The results, in input order, in `format`.
    fn export_group(&self, id: GroupId, format: ResultFormat) -> Answer<'_, Vec<u8>>;
    /// Lets go of what this command opened: the database; the API holds nothing.
    fn close(&self) -> BoxFuture<'_, ()>;
}

impl Operations for Engine {
    fn submit(&self, new: NewTask, key: Option<IdempotencyKey>) -> Answer<'_, Task> {
        Box::pin(async move {
            Ok(match key {
                Some(key) => self.submit_once(new, key).await?.task,
                None => Engine::submit(self, new).await?,
            })
        })
    }

    fn chain(&self, parent: TaskId, new: NewTask, key: Option<IdempotencyKey>) -> Answer<'_, Task> {
        Box::pin(async move {
            Ok(match key {
                Some(key) => self.chain_once(parent, new, key).await?.task,
                None => Engine::chain(self, parent, new).await?,
            })
        })
    }

    fn cancel(&self, id: TaskId, reason: Option<String>) -> Answer<'_, Cancelled> {
        Box::pin(async move { Ok(Engine::cancel(self, id, reason).await?) })
    }

    fn retry(&self, id: TaskId, max_attempts: Option<u32>) -> Answer<'_, Task> {
        Box::pin(async move { Ok(Engine::retry(self, id, max_attempts).await?) })
    }

    fn get(&self, id: TaskId) -> Answer<'_, Task> {
        Box::pin(async move { Ok(Engine::get(self, id).await?) })
    }

    fn list(&self, query: ListQuery) -> Answer<'_, Vec<Task>> {
        Box::pin(async move { Ok(Engine::list(self, query).await?) })
    }

    fn export(&self) -> Answer<'_, ExportFile> {
        Box::pin(async move { Ok(Engine::export(self).await?) })
    }

    fn import(&self, text: String) -> Answer<'_, ImportSummary> {
        Box::pin(async move { Ok(Engine::import(self, &text).await?.into()) })
    }

    fn add_schedule(&self, new: NewSchedule) -> Answer<'_, Schedule> {
        Box::pin(async move { Ok(Engine::add_schedule(self, new).await?) })
    }

    fn find_schedule<'a>(&'a self, key: &'a str) -> Answer<'a, Schedule> {
        Box::pin(async move { Ok(Engine::find_schedule(self, key).await?) })
    }

    fn update_schedule(&self, id: ScheduleId, new: NewSchedule) -> Answer<'_, Schedule> {
        Box::pin(async move { Ok(Engine::update_schedule(self, id, new).await?) })
    }

    fn pause_schedule(&self, id: ScheduleId) -> Answer<'_, Schedule> {
        Box::pin(async move { Ok(Engine::pause_schedule(self, id).await?) })
    }

    fn resume_schedule(&self, id: ScheduleId) -> Answer<'_, Schedule> {
        Box::pin(async move { Ok(Engine::resume_schedule(self, id).await?) })
    }

    fn remove_schedule(&self, id: ScheduleId) -> Answer<'_, Schedule> {
        Box::pin(async move { Ok(Engine::remove_schedule(self, id).await?) })
    }

    fn fire_schedule_now(&self, id: ScheduleId) -> Answer<'_, Vec<Task>> {
        Box::pin(async move { Ok(Engine::fire_schedule_now(self, id).await?.1) })
    }

    fn schedules(&self) -> Answer<'_, Vec<Schedule>> {
        Box::pin(async move { Ok(Engine::schedules(self).await?) })
    }

    fn schedule_tasks(&self, id: ScheduleId, limit: usize) -> Answer<'_, Vec<Task>> {
        Box::pin(async move { Ok(Engine::schedule_tasks(self, id, limit).await?) })
    }

    fn providers(&self) -> Answer<'_, (Vec<ProviderSettings>, Vec<String>)> {
        Box::pin(async move {
            let configured = self.provider_settings();
            let builtin = Engine::providers(self)
                .names()
                .filter(|n| !configured.iter().any(|s| s.name == *n))
                .map(String::from)
                .collect();
            Ok((configured, builtin))
        })
    }

    fn save_provider(
        &self,
        settings: ProviderSettings,
        key: Option<Secret>,
    ) -> Answer<'_, ProviderSettings> {
        Box::pin(async move {
            let key = key.and_then(|k| ApiKey::new(k.expose()));
            Ok(Engine::save_provider(self, settings, key).await?)
        })
    }

    fn remove_provider<'a>(&'a self, name: &'a str) -> Answer<'a, ProviderSettings> {
        Box::pin(async move { Ok(Engine::remove_provider(self, name).await?) })
    }

    fn test_provider<'a>(
        &'a self,
        name: &'a str,
        model: Option<String>,
    ) -> Answer<'a, ProviderTestResult> {
        Box::pin(async move { Ok(Engine::test_provider(self, name, model).await?.into()) })
    }

    fn provider_models<'a>(&'a self, name: &'a str) -> Answer<'a, Vec<String>> {
        Box::pin(async move { Ok(Engine::provider_models(self, name).await?) })
    }

    fn detect_local_servers(&self) -> Answer<'_, Detection> {
        Box::pin(async move { Ok(Engine::detect_local_servers(self).await) })
    }

    fn add_local_server<'a>(&'a self, name: &'a str) -> Answer<'a, ProviderSettings> {
        Box::pin(async move { Ok(Engine::add_local_server(self, name).await?) })
    }

    fn deliveries(&self, task: Option<TaskId>, limit: usize) -> Answer<'_, Vec<Delivery>> {
        Box::pin(async move {
            Ok(match task {
                Some(id) => Engine::deliveries(self, id).await?,
                None => self.recent_deliveries(limit).await?,
            })
        })
    }

    fn resend_delivery(&self, id: DeliveryId) -> Answer<'_, Delivery> {
        Box::pin(async move { Ok(Engine::resend_delivery(self, id).await?) })
    }

    fn budgets(&self) -> Answer<'_, Vec<Budget>> {
        Box::pin(async move { Ok(Engine::budgets(self).await?) })
    }

    fn set_budget(&self, new: NewBudget) -> Answer<'_, Budget> {
        Box::pin(async move { Ok(Engine::set_budget(self, new).await?) })
    }

    fn remove_budget<'a>(&'a self, name: &'a str) -> Answer<'a, Budget> {
        Box::pin(async move { Ok(Engine::remove_budget(self, name).await?) })
    }

    fn map(&self, new: NewMap) -> Answer<'_, Group> {
        Box::pin(async move { Ok(Engine::map(self, new).await?) })
    }

    fn groups(&self) -> Answer<'_, Vec<Group>> {
        Box::pin(async move { Ok(Engine::groups(self).await?) })
    }

    fn find_group<'a>(&'a self, key: &'a str) -> Answer<'a, Group> {
        Box::pin(async move { Ok(Engine::find_group(self, key).await?) })
    }

    fn group_tasks(&self, id: GroupId, offset: usize, limit: usize) -> Answer<'_, Vec<Task>> {
        Box::pin(async move { Ok(Engine::group_tasks(self, id, offset, limit).await?) })
    }

    fn cancel_group(&self, id: GroupId) -> Answer<'_, Group> {
        Box::pin(async move { Ok(Engine::cancel_group(self, id).await?) })
    }

    fn retry_group(&self, id: GroupId) -> Answer<'_, Group> {
        Box::pin(async move { Ok(Engine::retry_group(self, id).await?) })
    }

    fn export_group(&self, id: GroupId, format: ResultFormat) -> Answer<'_, Vec<u8>> {
        Box::pin(async move { Ok(Engine::export_group(self, id, format, Vec::new()).await?) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.shutdown())
    }
}

impl Operations for Remote {
    fn submit(&self, new: NewTask, key: Option<IdempotencyKey>) -> Answer<'_, Task> {
        Box::pin(Remote::submit(self, new, key))
    }

    fn chain(&self, parent: TaskId, new: NewTask, key: Option<IdempotencyKey>) -> Answer<'_, Task> {
        Box::pin(Remote::chain(self, parent, new, key))
    }

    fn cancel(&self, id: TaskId, reason: Option<String>) -> Answer<'_, Cancelled> {
        Box::pin(async move {
            let c = Remote::cancel(self, id, reason).await?;
            Ok(Cancelled {
                task: c.task,
                previous: c.previous_status,
                changed: c.changed,
            })
        })
    }

    fn retry(&self, id: TaskId, max_attempts: Option<u32>) -> Answer<'_, Task> {
        Box::pin(Remote::retry(self, id, max_attempts))
    }

    fn get(&self, id: TaskId) -> Answer<'_, Task> {
        Box::pin(self.get_task(id))
    }

    fn list(&self, query: ListQuery) -> Answer<'_, Vec<Task>> {
        Box::pin(Remote::list(self, query))
    }

    fn export(&self) -> Answer<'_, ExportFile> {
        Box::pin(Remote::export(self))
    }

    fn import(&self, text: String) -> Answer<'_, ImportSummary> {
        Box::pin(Remote::import(self, text))
    }

    fn add_schedule(&self, new: NewSchedule) -> Answer<'_, Schedule> {
        Box::pin(Remote::add_schedule(self, new))
    }

    fn find_schedule<'a>(&'a self, key: &'a str) -> Answer<'a, Schedule> {
        Box::pin(Remote::find_schedule(self, key))
    }

    fn update_schedule(&self, id: ScheduleId, new: NewSchedule) -> Answer<'_, Schedule> {
        Box::pin(Remote::update_schedule(self, id, new))
    }

    fn pause_schedule(&self, id: ScheduleId) -> Answer<'_, Schedule> {
        Box::pin(self.schedule_action(id, "pause"))
    }

    fn resume_schedule(&self, id: ScheduleId) -> Answer<'_, Schedule> {
        Box::pin(self.schedule_action(id, "resume"))
    }

    fn remove_schedule(&self, id: ScheduleId) -> Answer<'_, Schedule> {
        Box::pin(Remote::remove_schedule(self, id))
    }

    fn fire_schedule_now(&self, id: ScheduleId) -> Answer<'_, Vec<Task>> {
        Box::pin(async move { Ok(Remote::fire_schedule_now(self, id).await?.tasks) })
    }

    fn schedules(&self) -> Answer<'_, Vec<Schedule>> {
        Box::pin(Remote::schedules(self))
    }

    fn schedule_tasks(&self, id: ScheduleId, limit: usize) -> Answer<'_, Vec<Task>> {
        Box::pin(Remote::schedule_tasks(self, id, limit))
    }

    fn providers(&self) -> Answer<'_, (Vec<ProviderSettings>, Vec<String>)> {
        Box::pin(Remote::providers(self))
    }

    fn save_provider(
        &self,
        settings: ProviderSettings,
        key: Option<Secret>,
    ) -> Answer<'_, ProviderSettings> {
        Box::pin(Remote::save_provider(self, settings, key))
    }

    fn remove_provider<'a>(&'a self, name: &'a str) -> Answer<'a, ProviderSettings> {
        Box::pin(Remote::remove_provider(self, name))
    }

    fn test_provider<'a>(
        &'a self,
        name: &'a str,
        model: Option<String>,
    ) -> Answer<'a, ProviderTestResult> {
        Box::pin(Remote::test_provider(self, name, model))
    }

    fn provider_models<'a>(&'a self, name: &'a str) -> Answer<'a, Vec<String>> {
        Box::pin(Remote::provider_models(self, name))
    }

    fn detect_local_servers(&self) -> Answer<'_, Detection> {
        Box::pin(Remote::detect_local_servers(self))
    }

    fn add_local_server<'a>(&'a self, name: &'a str) -> Answer<'a, ProviderSettings> {
        Box::pin(Remote::add_local_server(self, name))
    }

    fn deliveries(&self, task: Option<TaskId>, limit: usize) -> Answer<'_, Vec<Delivery>> {
        Box::pin(Remote::deliveries(self, task, limit))
    }

    fn resend_delivery(&self, id: DeliveryId) -> Answer<'_, Delivery> {
        Box::pin(Remote::resend_delivery(self, id))
    }

    fn budgets(&self) -> Answer<'_, Vec<Budget>> {
        Box::pin(Remote::budgets(self))
    }

    fn set_budget(&self, new: NewBudget) -> Answer<'_, Budget> {
        Box::pin(Remote::set_budget(self, new))
    }

    fn remove_budget<'a>(&'a self, name: &'a str) -> Answer<'a, Budget> {
        Box::pin(Remote::remove_budget(self, name))
    }

    fn map(&self, new: NewMap) -> Answer<'_, Group> {
        Box::pin(Remote::map(self, new))
    }

    fn groups(&self) -> Answer<'_, Vec<Group>> {
        Box::pin(Remote::groups(self))
    }

    fn find_group<'a>(&'a self, key: &'a str) -> Answer<'a, Group> {
        Box::pin(Remote::find_group(self, key))
    }

    fn group_tasks(&self, id: GroupId, offset: usize, limit: usize) -> Answer<'_, Vec<Task>> {
        Box::pin(Remote::group_tasks(self, id, offset, limit))
    }

    fn cancel_group(&self, id: GroupId) -> Answer<'_, Group> {
        Box::pin(Remote::cancel_group(self, id))
    }

    fn retry_group(&self, id: GroupId) -> Answer<'_, Group> {
        Box::pin(Remote::retry_group(self, id))
    }

    fn export_group(&self, id: GroupId, format: ResultFormat) -> Answer<'_, Vec<u8>> {
        Box::pin(Remote::export_group(self, id, format))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

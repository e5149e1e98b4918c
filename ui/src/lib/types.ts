// Short names for the generated binding types the UI reads (the `_Serialize` side is what the
// app sends to the window).
import type {
  Activity_Serialize,
  Attempt_Serialize,
  BatchRequest_Deserialize,
  Budget_Serialize,
  NewBudget_Deserialize,
  CommandError_Serialize,
  Delivery_Serialize,
  DeliveryStatus,
  Detection_Serialize,
  Event_Serialize,
  Group_Serialize,
  GroupStatus,
  JoinOn,
  MapInput_Deserialize,
  ResultFormat,
  RowSource,
  RowsPreview,
  KeyRef,
  LocalServer_Serialize,
  LoweredConcurrency,
  MissedPolicy,
  OverlapPolicy,
  ScheduleEvent_Serialize,
  ScheduleInput_Deserialize,
  Schedule_Serialize,
  SkipReason,
  SkippedFires,
  ProviderKind,
  ProviderSettings_Deserialize,
  ProviderSettings_Serialize,
  ProviderTest_Serialize,
  QueueSettings_Serialize,
  QueueStatus,
  Settings_Serialize,
  StatusChanged,
  StatusCounts,
  TaskInput_Deserialize,
  TaskState,
  Target_Deserialize,
  TaskSummary_Serialize,
  Task_Serialize,
  UpdateStatus_Serialize,
} from "../bindings";

export type Task = Task_Serialize;
export type Budget = Budget_Serialize;
/** What the budget form sends. */
export type NewBudget = NewBudget_Deserialize;
export type Delivery = Delivery_Serialize;
export type { DeliveryStatus };
export type TaskSummary = TaskSummary_Serialize;
export type Attempt = Attempt_Serialize;
/** A fallback target as a form sends it (`model` null: the provider's default). */
export type Target = Target_Deserialize;
/** Batch mode as a form sends it. */
export type BatchRequest = BatchRequest_Deserialize;
export type CommandError = CommandError_Serialize;
export type TaskEvent = Event_Serialize;
export type Activity = Activity_Serialize;
export type Settings = Settings_Serialize;
export type TaskInput = TaskInput_Deserialize;
export type Group = Group_Serialize;
/** What the map form sends. */
export type MapInput = MapInput_Deserialize;
export type { GroupStatus, JoinOn, ResultFormat, RowSource, RowsPreview };
export type ProviderSettings = ProviderSettings_Serialize;
/** What the settings form sends. */
export type ProviderInput = ProviderSettings_Deserialize;
export type Schedule = Schedule_Serialize;
export type ScheduleEvent = ScheduleEvent_Serialize;
export type ScheduleInput = ScheduleInput_Deserialize;
export type { MissedPolicy, OverlapPolicy, SkipReason, SkippedFires };
export type ProviderTest = ProviderTest_Serialize;
/** What "Find local servers" found; nothing was added. */
export type Detection = Detection_Serialize;
export type LocalServer = LocalServer_Serialize;
export type UpdateStatus = UpdateStatus_Serialize;
export type { KeyRef, LoweredConcurrency, ProviderKind };
export type { StatusChanged, StatusCounts, TaskState };
/** Settings → Shared queue (never the password) and what the top bar names. */
export type QueueSettings = QueueSettings_Serialize;
export type { QueueStatus };

export type Result<T> = { status: "ok"; data: T } | { status: "error"; error: CommandError };

/** In the order a task usually moves through them. */
export const STATES: readonly TaskState[] = [
  "waiting",
  "scheduled",
  "queued",
  "running",
  "completed",
  "failed",
  "cancelled",
];

/** The engine's `is_cancellable`: anything not finished. */
export function canCancel(status: TaskState): boolean {
  return status === "waiting" || status === "scheduled" || status === "queued" || status === "running";
}

export function canRetry(status: TaskState): boolean {
  return status === "failed" || status === "cancelled";
}

/** The engine refuses to chain onto a failed or cancelled parent. */
export function canChain(status: TaskState): boolean {
  return status !== "failed" && status !== "cancelled";
}

export function summaryOf(task: Task, children: number): TaskSummary {
  return {
    id: task.id,
    name: task.name,
    status: task.status,
    llm_provider: task.llm_provider,
    llm_model: task.llm_model,
    start_at: task.start_at,
    created_at: task.created_at,
    finished_at: task.finished_at,
    attempts: task.attempts,
    max_attempts: task.max_attempts,
    parent_task_id: task.parent_task_id,
    children,
    latency_ms: task.latency_ms,
    tags: task.tags ?? [],
  };
}

// Engine events into the stores. Listeners are registered before the first query (interest
// before looking), so no change between the two is missed.
import { events } from "../bindings";
import { budgets } from "./budgets.svelte";
import { detail } from "./detail.svelte";
import { engine } from "./engine.svelte";
import { groups } from "./groups.svelte";
import { takeOpenRequest } from "./open";
import { appendOutput, dropStream } from "./output.svelte";
import { providers } from "./providers.svelte";
import { schedules } from "./schedules.svelte";
import { toast } from "./toasts.svelte";
import { list } from "./tasks.svelte";
import { updates } from "./updates.svelte";
import type { TaskEvent } from "./types";

function onTaskEvent(ev: TaskEvent): void {
  if (ev.type === "output") {
    appendOutput(ev.task_id, ev.attempt, ev.index, ev.chunk);
    return;
  }
  // A task held back by its provider's limit or a budget stays queued: the detail says why.
  if (ev.type === "held") {
    detail.applyHeld(ev.task_id, ev.message);
    return;
  }
  // The provider's concurrency was lowered: its settings show the limit in force.
  if (ev.type === "concurrency_lowered") {
    if (providers.loaded) void providers.load();
    return;
  }
  // A budget reached 80% of its cap (the desktop also notifies).
  if (ev.type === "budget_warning") {
    budgets.changed();
    return;
  }
  // The task moved on to a fallback target; the state event that follows carries it. Refused
  // credentials are worth saying at once: the switch hides them otherwise.
  if (ev.type === "fallback") {
    if (ev.warning) toast(ev.message, "error");
    return;
  }
  // A delivery of the task was recorded, tried, sent, given up or resent.
  if (ev.type === "delivery") {
    detail.applyDelivery(ev.delivery);
    return;
  }
  list.applyTask(ev.task);
  detail.applyTask(ev.task);
  schedules.applyTask(ev.task);
  groups.applyTask(ev.task);
  if (ev.to === "completed" || ev.to === "failed" || ev.to === "cancelled") dropStream(ev.task_id);
  // An attempt that ends settles what it reserved against the budgets.
  if (ev.from === "running") budgets.changed();
  engine.refreshActivity();
}

/** Everything shown, fetched again (the subscription fell behind, or at start). */
export function reloadAll(): void {
  list.refresh();
  void detail.reload();
  void engine.loadStatus();
  engine.refreshActivity();
  void schedules.load();
  void groups.load();
}

export async function subscribe(): Promise<() => void> {
  const stops = await Promise.all([
    events.taskEvent.listen((e) => onTaskEvent(e.payload)),
    events.statusChanged.listen((e) => {
      engine.status = e.payload;
    }),
    events.resync.listen(() => reloadAll()),
    events.scheduleChanged.listen((e) => schedules.applyEvent(e.payload)),
    events.updateStatus.listen((e) => updates.apply(e.payload)),
    events.openRequested.listen(() => void takeOpenRequest()),
  ]);
  return () => stops.forEach((stop) => stop());
}

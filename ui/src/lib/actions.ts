// What the buttons do: task commands with optimistic updates, export and import.
import { open, save } from "@tauri-apps/plugin-dialog";
import { call, commands } from "./api";
import { detail } from "./detail.svelte";
import { list } from "./tasks.svelte";
import { toast } from "./toasts.svelte";
import { ui } from "./ui.svelte";
import type { Task } from "./types";

/** A command's answer is the task as it now is; show it without waiting for the event. */
/** A task as a command's reply returned it; `before` is `detail.stamp(id)` taken
 * before the command was sent (0, the default, for a task the command created). */
export function taskChanged(task: Task, before = 0): void {
  list.applyTask(task);
  detail.applyReply(task, before);
}

export async function cancelTask(id: string, reason: string | null): Promise<boolean> {
  const before = detail.stamp(id);
  const task = await list.optimistic(
    id,
    { status: "cancelled", cancel_reason: reason ?? "cancelled by user" },
    () => call(commands.cancelTask(id, reason)),
    "Could not cancel",
  );
  if (task) taskChanged(task, before);
  return task !== null;
}

export async function retryTask(id: string): Promise<boolean> {
  const before = detail.stamp(id);
  const task = await list.optimistic(
    id,
    { status: "queued", attempts: 0, error: null, cancel_reason: null, finished_at: null },
    () => call(commands.retryTask(id, null)),
    "Could not retry",
  );
  if (task) taskChanged(task, before);
  return task !== null;
}

const JSON_FILTER = [{ name: "JSON", extensions: ["json"] }];

/** The path picked in a native dialog; null when cancelled, or when the dialog failed (said). */
async function pick(dialog: () => Promise<string | null>, kind: "save" | "file"): Promise<string | null> {
  try {
    return await dialog();
  } catch (e) {
    toast(`Could not open the ${kind} dialog: ${String(e)}`, "error");
    return null;
  }
}

export async function exportTasks(ids: string[] | null): Promise<void> {
  const path = await pick(
    () =>
      save({
        title: ids ? `Export ${ids.length} selected tasks` : "Export all tasks",
        defaultPath: "baton-tasks.json",
        filters: JSON_FILTER,
      }),
    "save",
  );
  if (!path) return;
  const result = await call(commands.exportTasks(path, ids));
  if (result.status === "error") {
    toast(`Export failed: ${result.error.message}`, "error");
    return;
  }
  const n = result.data;
  toast(`Exported ${n} task${n === 1 ? "" : "s"} to ${path}`);
}

export async function importTasks(): Promise<void> {
  const path = await pick(() => open({ title: "Import tasks", multiple: false, directory: false, filters: JSON_FILTER }), "file");
  if (!path) return;
  const result = await call(commands.importTasks(path));
  if (result.status === "error") {
    const { message, records } = result.error;
    if (records.length > 0) ui.importProblems = { message, records };
    else toast(`Import failed: ${message}`, "error");
    return;
  }
  const { imported, skipped_existing, groups_imported } = result.data;
  const skipped = skipped_existing.length;
  toast(
    `Imported ${imported} task${imported === 1 ? "" : "s"}` +
      (groups_imported > 0 ? ` and ${groups_imported} group${groups_imported === 1 ? "" : "s"}` : "") +
      (skipped > 0 ? `; ${skipped} already here, left as they were` : ""),
  );
  list.refresh();
}

/** Saves a task's whole answer to a file the person picks. */
export async function saveOutput(id: string, name: string): Promise<void> {
  const base = name.replace(/[^\p{L}\p{N} ._-]+/gu, "").trim() || "answer";
  const path = await pick(
    () => save({ title: "Save the answer", defaultPath: `${base}.md`, filters: [{ name: "Markdown", extensions: ["md", "txt"] }] }),
    "save",
  );
  if (!path) return;
  const result = await call(commands.saveOutput(id, path));
  if (result.status === "error") toast(`Could not save the answer: ${result.error.message}`, "error");
  else toast(`Saved the answer to ${path}`);
}

/** Puts `text` on the clipboard; says so, or why not. */
export async function copyText(text: string, what = "Copied"): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    toast(what);
  } catch (e) {
    toast(`Could not copy: ${String(e)}`, "error");
  }
}

// What a click on a desktop notification opens: a task's detail, the list, a schedule. The shell
// keeps the request until the page takes it, which the page does when it hears `open-requested`
// and once at start (a window made by the click had no page to hear it), each time after the
// list's first answer; so a request is handled once, with the list in place.
import type { OpenTarget } from "../bindings";
import { call, commands } from "./api";
import { detail } from "./detail.svelte";
import { schedules } from "./schedules.svelte";
import { list } from "./tasks.svelte";
import { toast } from "./toasts.svelte";
import { ui } from "./ui.svelte";

let queue: Promise<void> = Promise.resolve();

/** Takes the shell's request, if there is one, and opens what it names; one at a time. */
export function takeOpenRequest(): Promise<void> {
  queue = queue
    .then(async () => {
      await list.firstAnswer;
      const taken = await commands.takeOpenRequest();
      if (taken.status === "ok" && taken.data) await open(taken.data);
    })
    // No shell to ask (IPC failed): nothing to open.
    .catch(() => {});
  return queue;
}

async function open(target: OpenTarget): Promise<void> {
  switch (target.kind) {
    case "task": {
      const found = await call(commands.getTask(target.id));
      if (found.status === "error") return gone("task", found.error);
      ui.view = "tasks";
      await detail.open(target.id);
      return;
    }
    case "list":
      ui.view = "tasks";
      detail.close();
      return;
    case "schedule": {
      const found = await call(commands.getSchedule(target.id));
      if (found.status === "error") return gone("schedule", found.error);
      ui.view = "schedules";
      await schedules.select(target.id);
      return;
    }
    case "window":
      return;
  }
}

/** The notification named something that is no longer there: said quietly. */
function gone(what: string, error: { code: string; message: string }): void {
  if (error.code === "not_found") toast(`That ${what} is no longer there.`);
  else toast(`Could not open the ${what}: ${error.message}`, "error");
}

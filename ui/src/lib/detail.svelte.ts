// The task shown in the detail panel, with its children. State events replace it in place.
import { call, commands } from "./api";
import type { Task } from "./types";

class Detail {
  id: string | null = $state(null);
  task: Task | null = $state.raw(null);
  children: Task[] = $state.raw([]);
  /** The parent of a chained task, for the link back to it. */
  parent: Task | null = $state.raw(null);
  phase: "idle" | "loading" | "ready" | "error" = $state("idle");
  error = $state("");
  #token = 0;

  async open(id: string): Promise<void> {
    if (this.id === id && this.phase === "ready") return;
    this.id = id;
    this.phase = "loading";
    await this.#load(id);
  }

  close(): void {
    this.#token++;
    this.id = null;
    this.task = null;
    this.children = [];
    this.parent = null;
    this.phase = "idle";
  }

  async reload(): Promise<void> {
    if (this.id) await this.#load(this.id);
  }

  applyTask(task: Task): void {
    if (task.id === this.id) {
      this.task = task;
    } else if (task.id === this.parent?.id) {
      this.parent = task;
    } else if (this.id !== null && task.parent_task_id === this.id) {
      const i = this.children.findIndex((c) => c.id === task.id);
      const children = this.children.slice();
      if (i < 0) children.push(task);
      else children[i] = task;
      this.children = children;
    }
  }

  async #load(id: string): Promise<void> {
    const token = ++this.#token;
    const result = await call(commands.getTask(id));
    if (token !== this.#token) return;
    if (result.status === "error") {
      this.phase = "error";
      this.error = result.error.message;
      this.task = null;
      return;
    }
    const { task, children } = result.data;
    this.task = task;
    this.children = children;
    this.phase = "ready";
    if (this.parent?.id !== task.parent_task_id) this.parent = null;
    if (task.parent_task_id) {
      const parent = await call(commands.getTask(task.parent_task_id));
      if (token === this.#token && parent.status === "ok") this.parent = parent.data.task;
    }
  }
}

export const detail = new Detail();

// The task shown in the detail panel, with its children. State events replace it in place.
import { call, commands } from "./api";
import type { Delivery, Task } from "./types";

class Detail {
  id: string | null = $state(null);
  task: Task | null = $state.raw(null);
  children: Task[] = $state.raw([]);
  /** Where the task's answers went (files, webhooks), oldest first. */
  deliveries: Delivery[] = $state.raw([]);
  /** The parent of a chained task, for the link back to it. */
  parent: Task | null = $state.raw(null);
  /** Why the shown task, queued, is not started: its last `held` event (a provider's limit, a budget). */
  held: string | null = $state(null);
  phase: "idle" | "loading" | "ready" | "error" = $state("idle");
  error = $state("");
  #token = 0;
  /** When an event last changed each task, on a counter: a command's reply is a
   * snapshot older than any event that arrived after the command was sent, so it
   * must not overwrite what that event showed. */
  #stamps = new Map<string, number>();
  #clock = 0;
  /** The last `held` message of each queued task, until it moves on. */
  #held = new Map<string, string>();
  /** The same for deliveries: an event about one outranks a reply taken before it. */
  #deliveryStamps = new Map<string, number>();

  /** The event stamp of `id` now; pass it back to `applyReply`. */
  stamp(id: string): number {
    return this.#stamps.get(id) ?? 0;
  }

  async open(id: string): Promise<void> {
    if (this.id === id && this.phase === "ready") return;
    this.id = id;
    this.held = this.#held.get(id) ?? null;
    this.phase = "loading";
    await this.#load(id);
  }

  close(): void {
    this.#token++;
    this.id = null;
    this.task = null;
    this.children = [];
    this.deliveries = [];
    this.parent = null;
    this.held = null;
    this.phase = "idle";
  }

  /** A delivery event (or a resend's reply): replaces it in place, or adds it. */
  applyDelivery(d: Delivery): void {
    this.#deliveryStamps.set(d.id, ++this.#clock);
    if (d.task_id !== this.id) return;
    const i = this.deliveries.findIndex((x) => x.id === d.id);
    const next = this.deliveries.slice();
    if (i < 0) next.push(d);
    else next[i] = d;
    this.deliveries = next;
  }

  async reload(): Promise<void> {
    if (this.id) await this.#load(this.id);
  }

  /** A `held` event: the task stays queued, for the reason its message gives. */
  applyHeld(taskId: string, message: string): void {
    // Bounded: a long hold of many tasks keeps the newest reasons.
    if (this.#held.size >= 4096 && !this.#held.has(taskId)) this.#held.clear();
    this.#held.set(taskId, message);
    if (taskId === this.id) this.held = message;
  }

  /** A state event: always the newest news of its task. */
  applyTask(task: Task): void {
    this.#stamps.set(task.id, ++this.#clock);
    if (task.status !== "queued") {
      this.#held.delete(task.id);
      if (task.id === this.id) this.held = null;
    }
    this.#show(task);
  }

  /** A command's reply, taken when the task's stamp was `before` (0 for a task
   * created by that command): shown only if no event has arrived since. */
  applyReply(task: Task, before: number): void {
    if (this.stamp(task.id) === before) this.#show(task);
  }

  #show(task: Task): void {
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

  /** A reply's deliveries, with those an event changed (or added) after `sent` as the event had them. */
  #newer(id: string, reply: Delivery[], sent: number): Delivery[] {
    const seen = this.deliveries.filter((d) => d.task_id === id);
    const fresh = (d: Delivery) => (this.#deliveryStamps.get(d.id) ?? 0) > sent;
    const out = reply.map((d) => seen.find((x) => x.id === d.id && fresh(x)) ?? d);
    for (const x of seen) if (fresh(x) && !out.some((d) => d.id === x.id)) out.push(x);
    return out;
  }

  async #load(id: string): Promise<void> {
    const token = ++this.#token;
    const before = this.stamp(id);
    const sent = this.#clock;
    const result = await call(commands.getTask(id));
    if (token !== this.#token) return;
    if (result.status === "error") {
      this.phase = "error";
      this.error = result.error.message;
      this.task = null;
      return;
    }
    const { children, deliveries } = result.data;
    // An event that arrived while the request was out is newer than its reply.
    const task = this.stamp(id) === before || !this.task ? result.data.task : this.task;
    this.task = task;
    this.children = children;
    this.deliveries = this.#newer(id, deliveries, sent);
    this.phase = "ready";
    if (this.parent?.id !== task.parent_task_id) this.parent = null;
    if (task.parent_task_id) {
      const parent = await call(commands.getTask(task.parent_task_id));
      if (token === this.#token && parent.status === "ok") this.parent = parent.data.task;
    }
  }
}

export const detail = new Detail();

// The task list: filters, per-status counts and the rows of the current window, fetched in
// blocks as the list scrolls. The list never holds every task: only blocks near what is shown.
import { SvelteMap, SvelteSet } from "svelte/reactivity";
import type { ChainFilter, StartFilter } from "../bindings";
import { call, commands } from "./api";
import { coalesced } from "./coalesce";
import { toast } from "./toasts.svelte";
import { summaryOf, type StatusCounts, type Task, type TaskState, type TaskSummary } from "./types";

/** Rows per query; a window of the list is a few blocks. */
export const BLOCK = 100;
/** Blocks kept beyond the visible ones before the farthest are dropped. */
const KEEP_BLOCKS = 12;

export interface Filters {
  status: TaskState | "";
  start: StartFilter | "";
  chain: ChainFilter | "";
  search: string;
  /** One tag; any case. */
  tag: string;
  /** One group's rows and join, by the group's id. */
  group: string;
}

class TaskList {
  filters: Filters = $state({ status: "", start: "", chain: "", search: "", tag: "", group: "" });
  total = $state(0);
  counts: StatusCounts | null = $state(null);
  /** `loading` only until the first answer; later reloads keep showing the old rows. */
  phase: "loading" | "ready" | "error" = $state("loading");
  error = $state("");
  /** A query for new filters is on its way. */
  busy = $state(false);
  /** Changes when the filters do, so the view scrolls back to the top. */
  generation = $state(0);
  /** Checked rows, for "export selected". Kept across filter changes. */
  selected = new SvelteSet<string>();
  /** Optimistic changes shown on top of the rows until their command answers. */
  overrides = new SvelteMap<string, Partial<Task>>();

  #blocks = new SvelteMap<number, TaskSummary[]>();
  #blockOf = new Map<string, number>();
  #inflight = new Set<number>();
  #visible = { first: 0, last: 0 };
  /** Answers can overtake each other; only the newest sets counts and total. */
  #sent = 0;
  #applied = 0;
  /** The first answer after a filter change replaces every block. */
  #clearOnNext = false;
  /** Nothing is fetched before the app has subscribed to events and asked for the first window. */
  #started = false;
  #answered: () => void = () => {};
  /** Settles at the list's first answer, rows or an error. */
  readonly firstAnswer: Promise<void> = new Promise((resolve) => (this.#answered = resolve));

  get hasFilters(): boolean {
    const f = this.filters;
    return f.status !== "" || f.start !== "" || f.chain !== "" || f.search.trim() !== "" || f.tag.trim() !== "" || f.group !== "";
  }

  rowAt(index: number): TaskSummary | undefined {
    const row = this.#blocks.get(Math.floor(index / BLOCK))?.[index % BLOCK];
    if (!row) return undefined;
    const patch = this.overrides.get(row.id);
    return patch ? { ...row, ...patch } : row;
  }

  /** Shows rows `first..=last` (overscan included); fetches the blocks that are missing. */
  setVisible(first: number, last: number): void {
    this.#visible = { first, last };
    if (!this.#started) return;
    const from = Math.floor(first / BLOCK);
    const to = Math.floor(Math.max(first, last) / BLOCK);
    let start: number | null = null;
    for (let b = from; b <= to + 1; b++) {
      const missing = b <= to && !this.#blocks.has(b) && !this.#inflight.has(b);
      if (missing && start === null) start = b;
      if (!missing && start !== null) {
        void this.#fetch(start, b - 1);
        start = null;
      }
    }
    this.#evict(from, to);
  }

  setFilters(change: Partial<Filters>): void {
    Object.assign(this.filters, change);
    this.#started = true;
    this.generation++;
    this.#inflight.clear();
    this.#clearOnNext = true;
    this.busy = true;
    this.#visible = { first: 0, last: Math.max(0, this.#visible.last - this.#visible.first) };
    void this.#fetch(0, Math.floor(this.#visible.last / BLOCK));
  }

  clearFilters(): void {
    this.setFilters({ status: "", start: "", chain: "", search: "", tag: "", group: "" });
  }

  /** Fetches the visible window again; bursts of calls make one query per frame. */
  refresh: () => void = coalesced(async () => {
    const from = Math.floor(this.#visible.first / BLOCK);
    const to = Math.floor(Math.max(this.#visible.first, this.#visible.last) / BLOCK);
    for (const b of [...this.#blocks.keys()]) if (b < from || b > to) this.#drop(b);
    await this.#fetch(from, to);
  });

  /** A task changed (an event or a command's answer): update its row where it is shown. */
  applyTask(task: Task): void {
    const b = this.#blockOf.get(task.id);
    const rows = b === undefined ? undefined : this.#blocks.get(b);
    if (b !== undefined && rows) {
      const i = rows.findIndex((r) => r.id === task.id);
      const old = rows[i];
      if (old) {
        const copy = rows.slice();
        copy[i] = summaryOf(task, old.children);
        this.#blocks.set(b, copy);
      }
    }
    this.refresh();
  }

  /** Shows `patch` on the task at once, runs `command`, and takes the patch back after. */
  async optimistic<T>(
    id: string,
    patch: Partial<Task>,
    command: () => Promise<{ status: "ok"; data: T } | { status: "error"; error: { message: string } }>,
    failure: string,
  ): Promise<T | null> {
    this.overrides.set(id, patch);
    const result = await command();
    this.overrides.delete(id);
    if (result.status === "error") {
      toast(`${failure}: ${result.error.message}`, "error");
      return null;
    }
    return result.data;
  }

  async #fetch(from: number, to: number): Promise<void> {
    const generation = this.generation;
    for (let b = from; b <= to; b++) this.#inflight.add(b);
    const seq = ++this.#sent;
    const f = this.filters;
    const result = await call(
      commands.queryTasks({
        status: f.status || null,
        start: f.start || null,
        chain: f.chain || null,
        search: f.search.trim() || null,
        tag: f.tag.trim() || null,
        group: f.group || null,
        offset: from * BLOCK,
        limit: (to - from + 1) * BLOCK,
      }),
    );
    if (generation !== this.generation) return;
    for (let b = from; b <= to; b++) this.#inflight.delete(b);
    this.#answered();
    if (result.status === "error") {
      this.busy = false;
      if (this.phase !== "ready") {
        this.phase = "error";
        this.error = result.error.message;
      } else {
        toast(`Could not load tasks: ${result.error.message}`, "error");
      }
      return;
    }
    if (seq === 1) performance.mark("baton:first-page");
    const { page, counts } = result.data;
    if (this.#clearOnNext) {
      this.#clearOnNext = false;
      for (const b of [...this.#blocks.keys()]) this.#drop(b);
    }
    if (seq > this.#applied) {
      this.#applied = seq;
      this.counts = counts;
      this.total = page.total;
    }
    for (let b = from; b <= to; b++) {
      const rows = page.rows.slice((b - from) * BLOCK, (b - from + 1) * BLOCK);
      this.#drop(b);
      if (rows.length > 0) {
        this.#blocks.set(b, rows);
        for (const r of rows) this.#blockOf.set(r.id, b);
      }
    }
    this.phase = "ready";
    this.busy = false;
  }

  #drop(b: number): void {
    const rows = this.#blocks.get(b);
    if (!rows) return;
    for (const r of rows) if (this.#blockOf.get(r.id) === b) this.#blockOf.delete(r.id);
    this.#blocks.delete(b);
  }

  #evict(from: number, to: number): void {
    if (this.#blocks.size <= to - from + 1 + KEEP_BLOCKS) return;
    const far = [...this.#blocks.keys()]
      .filter((b) => b < from || b > to)
      .sort((a, b) => Math.abs(b - from) - Math.abs(a - from));
    for (const b of far.slice(0, this.#blocks.size - (to - from + 1) - KEEP_BLOCKS)) this.#drop(b);
  }

  /** Tries the first load again after it failed. */
  reload(): void {
    this.phase = "loading";
    this.setFilters({});
  }
}

export const list = new TaskList();

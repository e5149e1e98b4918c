// Groups (`map`): the list, the one shown in detail and a page of its rows. Task state events
// name their group (`task.group.group_id`); a group's record is fetched again at most once per
// REFETCH_MS however many of its rows change, so a 100,000-row group does not flood the window.
import { call, commands } from "./api";
import type { Group, Task } from "./types";

/** Rows one page of the detail shows. */
export const ROWS_PAGE = 100;
/** At most one fetch of a changed group's record per this many ms. */
export const REFETCH_MS = 250;

const byCreated = (a: Group, b: Group) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

class Groups {
  list: Group[] = $state.raw([]);
  loaded = $state(false);
  error = $state("");
  /** The group shown in detail. */
  selected: string | null = $state(null);
  /** The page of its rows shown (input order), from `offset`. */
  rows: Task[] = $state.raw([]);
  offset = $state(0);

  readonly current = $derived(this.list.find((g) => g.id === this.selected) ?? null);

  /** Groups with changed rows, fetched again when the timer fires. */
  #dirty = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Rows of the shown page changed by events, applied at the same pace. */
  #rowUpdates = new Map<string, Task>();

  async load(): Promise<void> {
    const result = await call(commands.listGroups());
    if (result.status === "ok") {
      this.list = result.data;
      this.error = "";
      if (this.selected && !this.list.some((g) => g.id === this.selected)) this.selected = null;
      const last = this.list[this.list.length - 1];
      if (!this.selected && last) void this.select(last.id);
      else if (this.selected) void this.loadRows();
    } else {
      this.error = result.error.message;
    }
    this.loaded = true;
  }

  async select(id: string, offset = 0): Promise<void> {
    if (this.selected !== id) this.rows = [];
    this.selected = id;
    this.offset = offset;
    await this.loadRows();
  }

  async loadRows(): Promise<void> {
    const id = this.selected;
    const offset = this.offset;
    if (!id) return;
    const result = await call(commands.groupTasks(id, offset, ROWS_PAGE));
    if (this.selected !== id || this.offset !== offset) return;
    if (result.status === "ok") this.rows = result.data;
  }

  page(delta: number): void {
    const total = this.current?.total ?? 0;
    const next = Math.max(0, Math.min(this.offset + delta * ROWS_PAGE, Math.max(0, total - 1)));
    if (this.selected && next !== this.offset) void this.select(this.selected, next - (next % ROWS_PAGE));
  }

  /** A command's answer or a fetch: replaces the group with that id, or adds it. */
  saved(g: Group): void {
    const i = this.list.findIndex((x) => x.id === g.id);
    if (i >= 0) this.list = this.list.map((x) => (x.id === g.id ? g : x));
    else this.list = [...this.list, g].sort(byCreated);
  }

  /** A task changed: when it belongs to a group, that group is fetched again soon. */
  applyTask(task: Task): void {
    const member = task.group;
    if (!member) return;
    this.#dirty.add(member.group_id);
    if (member.group_id === this.selected && member.row != null) {
      const index = member.row - 1 - this.offset;
      if (index >= 0 && index < ROWS_PAGE) this.#rowUpdates.set(task.id, task);
    }
    this.#timer ??= setTimeout(() => void this.#flush(), REFETCH_MS);
  }

  async #flush(): Promise<void> {
    const ids = [...this.#dirty];
    this.#dirty.clear();
    if (this.#rowUpdates.size > 0) {
      const updates = this.#rowUpdates;
      this.#rowUpdates = new Map();
      this.rows = this.rows.map((t) => updates.get(t.id) ?? t);
    }
    await Promise.all(
      ids.map(async (id) => {
        const result = await call(commands.getGroup(id));
        if (result.status === "ok") this.saved(result.data);
      }),
    );
    // Changes that arrived while fetching wait for the next window, not for the next event.
    this.#timer = this.#dirty.size > 0 || this.#rowUpdates.size > 0 ? setTimeout(() => void this.#flush(), REFETCH_MS) : null;
  }
}

export const groups = new Groups();

/** Rows that have not ended yet. */
export function pending(g: Group): number {
  return Math.max(0, g.total - g.completed - g.failed - g.cancelled);
}

export function canRetryGroup(g: Group): boolean {
  return g.failed + g.cancelled > 0 || g.join?.status === "failed" || g.join?.status === "cancelled";
}

export function canCancelGroup(g: Group): boolean {
  return g.status === "running";
}

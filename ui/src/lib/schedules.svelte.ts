// Recurring schedules: the list, the one shown in detail (with the tasks it created), and how
// to say a cron expression and a fire time to a person. `schedule-changed` events keep both
// current; task events keep the detail's history current.
import { call, commands } from "./api";
import type { Schedule, ScheduleEvent, Task } from "./types";

const byCreated = (a: Schedule, b: Schedule) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

class Schedules {
  list: Schedule[] = $state.raw([]);
  loaded = $state(false);
  error = $state("");
  /** The schedule shown in detail. */
  selected: string | null = $state(null);
  /** Its tasks, newest first. */
  tasks: Task[] = $state.raw([]);

  readonly current = $derived(this.list.find((s) => s.id === this.selected) ?? null);

  async load(): Promise<void> {
    const result = await call(commands.listSchedules());
    if (result.status === "ok") {
      this.list = result.data;
      this.error = "";
      if (this.selected && !this.list.some((s) => s.id === this.selected)) this.selected = null;
      const first = this.list[0];
      if (!this.selected && first) void this.select(first.id);
      else if (this.selected) void this.loadTasks(this.selected);
    } else {
      this.error = result.error.message;
    }
    this.loaded = true;
  }

  async select(id: string): Promise<void> {
    this.selected = id;
    this.tasks = [];
    await this.loadTasks(id);
  }

  async loadTasks(id: string): Promise<void> {
    const result = await call(commands.getSchedule(id));
    if (this.selected !== id || result.status !== "ok") return;
    this.tasks = result.data.tasks;
    this.saved(result.data.schedule);
  }

  /** A command's answer or an event: replaces the schedule with that id, or adds it. */
  saved(s: Schedule): void {
    this.list = [...this.list.filter((x) => x.id !== s.id), s].sort(byCreated);
  }

  removed(id: string): void {
    this.list = this.list.filter((s) => s.id !== id);
    if (this.selected === id) {
      this.selected = this.list[0]?.id ?? null;
      this.tasks = [];
      if (this.selected) void this.loadTasks(this.selected);
    }
  }

  applyEvent(ev: ScheduleEvent): void {
    if (ev.schedule) {
      const known = this.list.some((s) => s.id === ev.schedule_id);
      this.saved(ev.schedule);
      if (!known && !this.selected) void this.select(ev.schedule_id);
    } else this.removed(ev.schedule_id);
  }

  /** A task changed: update the detail's history when it is one of the shown schedule's. */
  applyTask(task: Task): void {
    if (!this.selected || task.schedule_id !== this.selected) return;
    const i = this.tasks.findIndex((t) => t.id === task.id);
    if (i >= 0) this.tasks = this.tasks.map((t) => (t.id === task.id ? task : t));
    else this.tasks = [task, ...this.tasks];
  }
}

export const schedules = new Schedules();

/** This computer's zone, the form's default. */
export function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Every zone the browser knows, for the zone field's suggestions. */
export function knownZones(): string[] {
  try {
    return (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}

/** A fire time as read in the schedule's zone, e.g. "Mon 2 Mar, 09:00 CET". */
export function inZone(iso: string | null | undefined, zone: string): string {
  if (!iso) return "—";
  const options: Intl.DateTimeFormatOptions = {
    weekday: "short",
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  };
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: zone }).format(new Date(iso));
  } catch {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone: "UTC" }).format(new Date(iso));
  }
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const num = /^\d+$/;
const pad = (n: string) => n.padStart(2, "0");

function days(field: string): string | null {
  const name = (d: string) => (num.test(d) ? DAYS[Number(d) % 7] : null);
  const range = /^(\d)-(\d)$/.exec(field);
  if (range) return `${name(range[1] ?? "")}–${name(range[2] ?? "")}`;
  const names = field.split(",").map(name);
  return names.every((n) => n) ? names.join(", ") : null;
}

/** A few common expressions in words ("Mon–Fri at 09:00"); others as written. */
export function describeCron(expr: string): string {
  const fields = expr.trim().split(/\s+/);
  const [min = "", hour = "", dom = "", month = "", dow = ""] = fields.length === 6 ? fields.slice(1) : fields;
  if (fields.length < 5 || fields.length > 6 || (fields.length === 6 && fields[0] !== "0")) return expr.trim();
  const every = /^\*\/(\d+)$/;
  const step = (f: string) => every.exec(f)?.[1] ?? "";
  if (dom !== "*" || month !== "*") return expr.trim();
  if (num.test(min) && num.test(hour)) {
    const at = `at ${pad(hour)}:${pad(min)}`;
    if (dow === "*") return `Every day ${at}`;
    const d = days(dow);
    return d ? `${d} ${at}` : expr.trim();
  }
  if (dow !== "*") return expr.trim();
  if (min === "*" && hour === "*") return "Every minute";
  if (every.test(min) && hour === "*") return `Every ${step(min)} minutes`;
  if (num.test(min) && hour === "*") return `Every hour at :${pad(min)}`;
  if (num.test(min) && every.test(hour)) return `Every ${step(hour)} hours at :${pad(min)}`;
  return expr.trim();
}

// The fake's schedules: the engine's checks for the cases the tests use (field counts, numbers
// out of range, an unknown zone, an expression that never fires, a taken name), fire times
// found by stepping through local hours in the zone, and fire now ("Run now") creating a task linked by
// `schedule_id`. Every change is sent as a `schedule-changed` event, as the engine does.
import type {
  ScheduleInput_Deserialize as ScheduleInput,
  Schedule_Serialize as Schedule,
  SkipReason,
} from "../../src/bindings";
import { commandError, type Model, type Task } from "./model";

const invalid = (field: string, message: string) => commandError("invalid_input", message, field);
const HOUR = 3_600_000;

/** The values one cron field allows, or the reason it is wrong. */
function values(field: string, min: number, max: number): Set<number> | string {
  const out = new Set<number>();
  for (const part of field.split(",")) {
    const m = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(part);
    if (!m) return `'${part}' is not a cron value`;
    const step = m[2] ? Number(m[2]) : 1;
    let lo = min;
    let hi = max;
    if (m[1] !== "*") {
      const [a = "", b] = (m[1] ?? "").split("-");
      lo = Number(a);
      hi = b === undefined ? (m[2] ? max : lo) : Number(b);
    }
    if (lo < min || hi > max || lo > hi || step < 1) return `${part} is out of range ${min}-${max}`;
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

function zoneOk(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone === "UTC" || zone.includes("/");
  } catch {
    return false;
  }
}

/** `upcoming_fires`: the next `n` fire times of `expr` in `zone` after `after` (ms). */
export function upcomingFires(expr: string, zone: string, after: number, n: number): string[] {
  const tz = zone.trim() || "UTC";
  if (!zoneOk(tz)) {
    throw invalid("timezone", `'${tz}' is not a known IANA time zone (e.g. Europe/Paris, America/New_York, UTC)`);
  }
  const e = expr.trim();
  if (!e) throw invalid("cron", "the cron expression is empty");
  const fields = e.split(/\s+/);
  if (fields.length < 5 || fields.length > 6) {
    throw invalid(
      "cron",
      `the cron expression '${e}' has ${fields.length} fields; it needs 5 (minute hour day month weekday) or 6 (seconds first)`,
    );
  }
  const f = fields.length === 6 ? fields.slice(1) : fields;
  const sets = [values(f[0]!, 0, 59), values(f[1]!, 0, 23), values(f[2]!, 1, 31), values(f[3]!, 1, 12), values(f[4]!, 0, 7)];
  for (const s of sets) if (typeof s === "string") throw invalid("cron", `the cron expression '${e}' is invalid: ${s}`);
  const [mins, hours, doms, months, dows] = sets as Set<number>[];
  if (dows!.has(7)) dows!.add(0);
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: tz,
    hourCycle: "h23",
    year: "numeric",
    month: "numeric",
    day: "numeric",
    weekday: "short",
    hour: "numeric",
    minute: "numeric",
  });
  const local = (ms: number) => {
    const p = Object.fromEntries(parts.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
    const dow = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(p.weekday ?? "");
    return { month: Number(p.month), day: Number(p.day), dow, hour: Number(p.hour), minute: Number(p.minute) };
  };
  const minuteList = [...mins!].sort((a, b) => a - b);
  const out: string[] = [];
  // The start of the local hour `after` falls in, then hour by hour for a year.
  let hour = Math.floor(after / 60_000) * 60_000 - local(after).minute * 60_000;
  for (let i = 0; i < 24 * 400 && out.length < n; i++, hour += HOUR) {
    const t = local(hour);
    const dayOk = (f[2] === "*" || doms!.has(t.day)) && (f[4] === "*" || dows!.has(t.dow));
    if (!months!.has(t.month) || !dayOk || !hours!.has(t.hour)) continue;
    for (const m of minuteList) {
      const at = hour + m * 60_000;
      if (at > after && out.length < n) out.push(new Date(at).toISOString());
    }
  }
  if (out.length === 0) throw invalid("cron", `the cron expression '${e}' never fires (no date matches it)`);
  return out;
}

export class FakeSchedules {
  list = new Map<string, Schedule>();
  /** Sends a `schedule-changed` event. */
  emit: (id: string, schedule: Schedule | null) => void = () => {};

  constructor(private model: Model) {}

  #build(input: ScheduleInput, old: Schedule | null): Schedule {
    const name = input.name.trim();
    if (!name) throw invalid("name", "the schedule's name is empty");
    for (const s of this.list.values()) {
      if (s.name.toLowerCase() === name.toLowerCase() && s.id !== old?.id) {
        throw invalid("name", `a schedule named '${name}' already exists; choose another name`);
      }
    }
    const timezone = input.timezone?.trim() || "UTC";
    const now = this.model.now();
    const [next] = upcomingFires(input.cron, timezone, now, 1);
    // The task's own checks (prompt, provider, model, limits), without storing it.
    const task = this.model.build(
      {
        prompt: input.task.prompt,
        provider: input.task.provider ?? null,
        model: input.task.model ?? null,
        max_attempts: input.task.max_attempts ?? null,
        timeout_ms: input.task.timeout_ms ?? null,
        tags: input.task.tags ?? [],
        output_schema: input.task.output_schema ?? null,
        fallbacks: input.task.fallbacks ?? [],
      } as never,
      null,
    );
    const pauseAfter = input.pause_after_failures ?? 5;
    if (!Number.isInteger(pauseAfter) || pauseAfter < 0 || pauseAfter > 1000) {
      throw invalid(
        "pause_after_failures",
        `pause_after_failures is ${pauseAfter}; it must be between 0 (never pause) and 1000`,
      );
    }
    const at = new Date(now).toISOString();
    const enabled = old ? old.enabled : input.enabled ?? true;
    return {
      id: old?.id ?? this.model.newId(now),
      name,
      cron: input.cron.trim().split(/\s+/).join(" "),
      timezone,
      missed: input.missed ?? "once",
      max_lateness_ms: input.max_lateness_minutes != null ? input.max_lateness_minutes * 60_000 : null,
      overlap: input.overlap ?? "skip",
      enabled,
      template: {
        name: null,
        prompt: task.prompt,
        provider: task.llm_provider,
        model: task.llm_model,
        max_attempts: task.max_attempts,
        timeout_ms: task.timeout_ms,
        system: null,
        temperature: null,
        max_tokens: null,
        follow_ups: (input.follow_ups ?? []).filter((f) => f.trim()),
        ...(task.tags?.length ? { tags: task.tags } : {}),
        ...(task.fallbacks?.length ? { fallbacks: task.fallbacks } : {}),
        ...(input.task.deliver ? { deliver: input.task.deliver as never } : {}),
        ...(task.output_schema != null ? { output_schema: task.output_schema } : {}),
      },
      created_at: old?.created_at ?? at,
      updated_at: at,
      last_fired_at: old?.last_fired_at ?? null,
      next_fire_at: enabled ? (next ?? null) : null,
      fires: old?.fires ?? 0,
      active_fire: old?.active_fire ?? [],
      pending: [],
      skipped: old?.skipped ?? [],
      skipped_total: old?.skipped_total ?? 0,
      pause_after_failures: pauseAfter,
      failures_in_a_row: old?.failures_in_a_row ?? 0,
    };
  }

  #save(s: Schedule): Schedule {
    this.list.set(s.id, s);
    this.emit(s.id, structuredClone(s));
    return s;
  }

  require(id: string): Schedule {
    const s = this.list.get(id);
    if (!s) throw commandError("not_found", `no schedule '${id}'`);
    return s;
  }

  byName(name: string): Schedule {
    for (const s of this.list.values()) if (s.name === name) return s;
    throw new Error(`no schedule named ${name}`);
  }

  all(): Schedule[] {
    return [...this.list.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  preview(cron: string, timezone: string | null): string[] {
    return upcomingFires(cron, timezone ?? "UTC", this.model.now(), 5);
  }

  create(input: ScheduleInput): Schedule {
    return this.#save(this.#build(input, null));
  }

  update(id: string, input: ScheduleInput): Schedule {
    return this.#save(this.#build(input, this.require(id)));
  }

  setEnabled(id: string, enabled: boolean): Schedule {
    const s = structuredClone(this.require(id));
    s.enabled = enabled;
    if (enabled) {
      // Resuming starts the count of failed fires again.
      s.failures_in_a_row = 0;
      delete s.auto_paused;
    }
    s.next_fire_at = enabled ? (upcomingFires(s.cron, s.timezone, this.model.now(), 1)[0] ?? null) : null;
    s.updated_at = new Date(this.model.now()).toISOString();
    return this.#save(s);
  }

  remove(id: string): Schedule {
    const s = this.require(id);
    this.list.delete(id);
    this.emit(id, null);
    return s;
  }

  detail(id: string): { schedule: Schedule; tasks: Task[] } {
    const schedule = this.require(id);
    const tasks = [...this.model.tasks.values()].filter((t) => t.schedule_id === id).reverse();
    return { schedule, tasks };
  }

  /** Run now: the template's task (and its follow-ups, chained), linked to the schedule. */
  fireNow(id: string): { schedule: Schedule; tasks: Task[] } {
    const s = structuredClone(this.require(id));
    const t = s.template;
    const base = { provider: t.provider, model: t.model, max_attempts: t.max_attempts, timeout_ms: t.timeout_ms, tags: t.tags ?? [], fallbacks: t.fallbacks ?? [] };
    const first = this.model.build({ ...base, name: s.name, prompt: t.prompt } as never, null);
    first.schedule_id = id;
    const tasks = [this.model.save(null, first)];
    for (const f of t.follow_ups) {
      const parent = tasks[tasks.length - 1]!;
      const next = this.model.build({ ...base, prompt: f } as never, parent);
      next.schedule_id = id;
      next.status = "waiting";
      tasks.push(this.model.save(null, next));
    }
    s.fires += 1;
    s.last_fired_at = new Date(this.model.now()).toISOString();
    s.active_fire = tasks.map((x) => x.id);
    return { schedule: this.#save(s), tasks };
  }

  /** Records `count` skipped fires, as the engine does after the app was closed. */
  /** The engine paused the schedule after its limit of failed fires in a row. */
  autoPause(name: string): Schedule {
    const s = structuredClone(this.byName(name));
    const n = s.pause_after_failures;
    s.enabled = false;
    s.next_fire_at = null;
    s.failures_in_a_row = n;
    s.auto_paused = {
      at: new Date(this.model.now()).toISOString(),
      failures: n,
      task_id: s.active_fire[0] ?? this.model.newId(this.model.now()),
      message: `paused after ${n} failed runs in a row; the last: the provider refused the request`,
    };
    return this.#save(s);
  }

  skip(name: string, count: number, reason: SkipReason = "missed"): Schedule {
    const s = structuredClone(this.byName(name));
    const now = this.model.now();
    const runs = count === 1 ? "1 run" : `${count} runs`;
    const why =
      reason === "overlap"
        ? "skipped because the previous run was still active (overlap: skip)"
        : `skipped while Baton was closed or asleep (missed: ${s.missed})`;
    s.skipped.push({
      reason,
      count,
      first: new Date(now - count * 86_400_000).toISOString(),
      last: new Date(now - 86_400_000).toISOString(),
      recorded_at: new Date(now).toISOString(),
      message: `${runs} ${why}`,
    });
    s.skipped_total += count;
    return this.#save(s);
  }
}

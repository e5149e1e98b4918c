// A small in-memory model of the engine behind the Tauri commands, for the UI tests and the
// screenshots: the same validation messages and fields, the same transitions (create, chain,
// cancel, retry, run, complete, fail), the same list query. It is not the engine: no
// scheduler or workers run by themselves; tests move tasks with the controls in backend.ts.
import type {
  Activity_Serialize as Activity,
  CatalogQuery_Deserialize as CatalogQuery,
  CommandError_Serialize as CommandError,
  Delivery_Serialize as Delivery,
  Event_Serialize as TaskEvent,
  ImportReport,
  ProviderSettings_Serialize as ProviderSettings,
  RecordProblem_Serialize as RecordProblem,
  StatusCounts,
  TaskInput_Deserialize as TaskInput,
  TaskPage_Serialize as TaskPage,
  TaskState,
  TaskSummary_Serialize as TaskSummary,
  Task_Serialize as Task,
} from "../../src/bindings";

export type { Task, TaskEvent };

const STATES: TaskState[] = ["waiting", "scheduled", "queued", "running", "completed", "failed", "cancelled"];
const PLACEHOLDER = "{{parent.output}}";
const MOCK_MODEL = /^(echo|fatal|panic|sleep=\d+|fail=\d+|stream=\d+|badjson=\d+)$/;

export class Failure {
  constructor(public error: CommandError) {}
}

export function commandError(code: string, message: string, field: string | null = null): Failure {
  return new Failure({ code, message, field, records: [] });
}

const invalid = (field: string, message: string) => commandError("invalid_input", message, field);

function hex(n: number, width: number): string {
  return Math.floor(n).toString(16).padStart(width, "0").slice(-width);
}

/** What a completion reports besides its output (the engine's attempt measurements). */
export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  cost_usd?: number;
  usage_estimated?: boolean;
  finish_reason?: string;
}

export class Model {
  /** Ids in creation order (UUIDv7 order), oldest first. */
  order: string[] = [];
  tasks = new Map<string, Task>();
  children = new Map<string, number>();
  search = new Map<string, string>();
  /** Next output chunk index per task (for the running attempt). */
  chunks = new Map<string, number>();
  /** The configured providers (see providers.ts), by name. */
  providers = new Map<string, ProviderSettings>();
  now: () => number = () => Date.now();
  emit: (event: TaskEvent) => void = () => {};
  /** What the current attempt of each task has streamed (the engine keeps it as `output`). */
  #streamed = new Map<string, string>();
  #seq = 0;
  #lastMs = 0;
  #rand = 0x2545f491;

  /** A UUIDv7-shaped id whose text sorts by `ms` (strictly increasing). */
  newId(ms: number): string {
    const t = Math.max(ms, this.#lastMs + 1);
    this.#lastMs = t;
    const r = () => (this.#rand = (Math.imul(this.#rand, 1103515245) + 12345) >>> 0);
    const h = hex(t, 12);
    return `${h.slice(0, 8)}-${h.slice(8)}-7${hex(r(), 3)}-${hex(8 + (r() % 4), 1)}${hex(r(), 3)}-${hex(r(), 6)}${hex(r(), 6)}`;
  }

  // ---- storage -------------------------------------------------------------------------

  insert(task: Task): void {
    if (!this.tasks.has(task.id)) {
      // Ids arrive in order when created here; imported ones may not.
      const last = this.order[this.order.length - 1];
      if (last === undefined || last < task.id) this.order.push(task.id);
      else {
        this.order.push(task.id);
        this.order.sort();
      }
      if (task.parent_task_id) {
        this.children.set(task.parent_task_id, (this.children.get(task.parent_task_id) ?? 0) + 1);
      }
    }
    this.tasks.set(task.id, task);
    this.search.set(task.id, `${task.name} ${task.id} ${task.prompt.slice(0, 240)}`.toLowerCase());
  }

  require(id: string): Task {
    const task = this.tasks.get(id);
    if (!task) throw commandError("not_found", `no task has the id ${id}`);
    return task;
  }

  /** Stores `task` and tells the window, as the engine's writer and event forwarder do. */
  save(from: TaskState | null, task: Task): Task {
    this.insert(task);
    this.emit({
      seq: ++this.#seq,
      at: new Date(this.now()).toISOString(),
      task_id: task.id,
      type: "state",
      from,
      to: task.status,
      task: structuredClone(task),
    });
    return task;
  }

  output(id: string, chunk: string): void {
    const task = this.require(id);
    const index = this.chunks.get(id) ?? 0;
    this.chunks.set(id, index + 1);
    this.#streamed.set(id, (index === 0 ? "" : this.#streamed.get(id) ?? "") + chunk);
    this.emit({
      seq: ++this.#seq,
      at: new Date(this.now()).toISOString(),
      task_id: id,
      type: "output",
      attempt: task.attempts,
      index,
      chunk,
    });
  }

  // ---- commands ------------------------------------------------------------------------

  build(input: TaskInput, parent: Task | null): Task {
    const now = this.now();
    const atText = input.start_at?.trim() ? input.start_at.trim() : null;
    let scheduled: number | null = null;
    if (atText && input.start_in_minutes != null) {
      throw invalid("start_at", "choose either a date and time or a delay, not both");
    }
    if (atText) {
      scheduled = Date.parse(atText);
      if (Number.isNaN(scheduled)) throw invalid("start_at", `'${atText}' is not a date and time`);
    } else if (input.start_in_minutes != null) {
      scheduled = now + input.start_in_minutes * 60_000;
    }
    if (!input.prompt.trim()) throw invalid("prompt", "the prompt is empty");
    const provider = input.provider?.trim() || "mock";
    const configured = provider === "mock" ? null : this.providers.get(provider);
    if (configured === undefined) {
      const known = ["mock", ...this.providers.keys()].join(", ");
      throw invalid("provider", `unknown provider '${provider}' (known: ${known})`);
    }
    const model = input.model?.trim() || configured?.model || "echo";
    for (const d of configured ? [] : model.split(",").map((s) => s.trim()).filter(Boolean)) {
      if (!MOCK_MODEL.test(d)) {
        throw invalid(
          "model",
          `unknown mock directive '${d}' (expected echo, sleep=MS, fail=N, fatal, stream=K, badjson=N or panic)`,
        );
      }
    }
    const maxAttempts = input.max_attempts ?? 3;
    if (maxAttempts < 1 || maxAttempts > 20) {
      throw invalid("max_attempts", `max_attempts must be between 1 and 20, got ${maxAttempts}`);
    }
    const timeoutMs = input.timeout_ms ?? 600_000;
    if (timeoutMs === 0) throw invalid("timeout_ms", "the timeout must be longer than zero");
    if (timeoutMs > 86_400_000) {
      throw invalid("timeout_ms", `the timeout must be at most 24 hours, got ${timeoutMs / 1000}s`);
    }
    // The engine's tag rules: case-folded, unique, a chained task also carries its parent's.
    const tags: string[] = [];
    for (const raw of [...(parent?.tags ?? []), ...(input.tags ?? [])]) {
      const tag = raw.trim().toLowerCase();
      if (!/^[a-z0-9._-]{1,32}$/.test(tag)) {
        throw invalid("tags", `the tag '${raw.trim()}' has a character a tag cannot hold`);
      }
      if (!tags.includes(tag)) tags.push(tag);
    }
    if (tags.length > 16) throw invalid("tags", `a task has at most 16 tags, got ${tags.length}`);
    // The engine compiles the schema; here, the part a form cannot check: known types.
    const schema = input.output_schema ?? null;
    if (schema !== null) {
      const type = (schema as { type?: unknown }).type;
      const known = ["object", "array", "string", "number", "integer", "boolean", "null"];
      if (typeof type === "string" && !known.includes(type)) {
        throw invalid(
          "output_schema",
          `the output schema is not a valid JSON Schema: "${type}" is not valid under any of the schemas listed in the 'anyOf' keyword`,
        );
      }
    }
    // The engine's fallback rules: each provider known, its model resolved, no target twice.
    const fallbacks: { provider: string; model: string }[] = [];
    for (const t of input.fallbacks ?? []) {
      const p = t.provider.trim();
      const settings = p === "mock" ? null : this.providers.get(p);
      if (settings === undefined) {
        throw invalid("fallbacks", `the fallback '${p}' names an unknown provider '${p}'`);
      }
      const m = t.model?.trim() || settings?.model || "echo";
      const seen = [{ provider, model }, ...fallbacks];
      if (seen.some((s) => s.provider === p && s.model === m)) {
        throw invalid("fallbacks", `the fallback '${p}:${m}' is already one of the task's targets`);
      }
      fallbacks.push({ provider: p, model: m });
    }
    let name: string;
    if (input.name != null && input.name.trim() !== "") {
      if ([...input.name].length > 200) throw invalid("name", "the name is longer than 200 characters");
      name = input.name.trim();
    } else {
      const first = input.prompt.trim().split("\n")[0]?.trim() ?? "task";
      name = first.length > 60 ? `${first.slice(0, 60)}…` : first;
    }
    const id = this.newId(now);
    const startAt = scheduled === null ? null : new Date(scheduled).toISOString();
    return {
      id,
      name,
      prompt: input.prompt,
      status: scheduled !== null && scheduled > now ? "scheduled" : "queued",
      start_at: startAt,
      created_at: new Date(now).toISOString(),
      started_at: null,
      finished_at: null,
      output: null,
      error: null,
      parent_task_id: parent?.id ?? null,
      llm_provider: provider,
      llm_model: model,
      latency_ms: null,
      attempts: 0,
      max_attempts: maxAttempts,
      timeout_ms: timeoutMs,
      ...(tags.length > 0 ? { tags } : {}),
      ...(schema !== null ? { output_schema: schema } : {}),
      ...(fallbacks.length > 0 ? { fallbacks } : {}),
      cancel_reason: null,
      history: [],
      system: null,
      temperature: null,
      max_tokens: null,
      prompt_tokens: null,
      completion_tokens: null,
      cost_usd: null,
      failure: null,
    };
  }

  submit(input: TaskInput): Task {
    return this.save(null, this.build(input, null));
  }

  chain(parentId: string, input: TaskInput): Task {
    const parent = this.tasks.get(parentId);
    if (!parent) throw invalid("parent_task_id", `cannot chain onto ${parentId}: no task has that id`);
    if (parent.status === "failed" || parent.status === "cancelled") {
      throw commandError(
        "invalid_state",
        `task ${parent.id} is ${parent.status}: a task cannot be chained onto a failed or cancelled parent`,
      );
    }
    const task = this.build(input, parent);
    if (parent.status === "completed") task.effective_prompt = bind(task.prompt, parent.output ?? "");
    else task.status = "waiting";
    return this.save(null, task);
  }

  cancel(id: string, reason: string | null): Task {
    const old = this.require(id);
    if (old.status === "cancelled") return old;
    if (!["waiting", "scheduled", "queued", "running"].includes(old.status)) {
      throw commandError(
        "invalid_state",
        `task ${id} is ${old.status}: only scheduled, queued, waiting or running tasks can be cancelled; nothing changed`,
      );
    }
    const task = structuredClone(old);
    task.status = "cancelled";
    task.cancel_reason = reason ?? "cancelled by user";
    task.finished_at = new Date(this.now()).toISOString();
    if (old.status === "running") this.#closeAttempt(task, "cancelled", null);
    this.save(old.status, task);
    this.#cascade(task);
    return task;
  }

  retry(id: string, maxAttempts: number | null): Task {
    const old = this.require(id);
    if (old.status !== "failed" && old.status !== "cancelled") {
      throw commandError("invalid_state", `task ${id} is ${old.status}: only failed or cancelled tasks can be retried`);
    }
    const task = structuredClone(old);
    const parent = old.parent_task_id ? this.require(old.parent_task_id) : null;
    if (parent?.status === "completed") {
      task.effective_prompt = bind(task.prompt, parent.output ?? "");
      task.status = "queued";
    } else if (parent && (parent.status === "failed" || parent.status === "cancelled")) {
      throw commandError(
        "invalid_state",
        `task ${id} is ${old.status}: its parent ${parent.id} is ${parent.status}; retry the parent first`,
      );
    } else {
      task.status = parent ? "waiting" : "queued";
    }
    if (maxAttempts != null) task.max_attempts = maxAttempts;
    Object.assign(task, {
      attempts: 0,
      output: null,
      error: null,
      cancel_reason: null,
      started_at: null,
      finished_at: null,
      latency_ms: null,
    });
    return this.save(old.status, task);
  }

  /** Each task's deliveries, oldest first. */
  deliveries = new Map<string, Delivery[]>();

  detail(id: string): { task: Task; children: Task[]; deliveries: Delivery[] } {
    const task = this.require(id);
    const children = this.order.map((i) => this.tasks.get(i)!).filter((t) => t.parent_task_id === id);
    return { task, children, deliveries: structuredClone(this.deliveries.get(id) ?? []) };
  }

  /** Records or changes a delivery of a task, as the engine's outbox does, with its event. */
  putDelivery(d: Delivery): Delivery {
    const list = this.deliveries.get(d.task_id) ?? [];
    const i = list.findIndex((x) => x.id === d.id);
    if (i < 0) list.push(d);
    else list[i] = d;
    this.deliveries.set(d.task_id, list);
    this.emit({ seq: 0, at: new Date(this.now()).toISOString(), task_id: d.task_id, type: "delivery", delivery: structuredClone(d) } as never);
    return structuredClone(d);
  }

  resendDelivery(id: string): Delivery {
    for (const list of this.deliveries.values()) {
      const d = list.find((x) => x.id === id);
      if (d) {
        return this.putDelivery({ ...d, status: "pending", attempts: 0, error: null, next_at: new Date(this.now()).toISOString() });
      }
    }
    throw commandError("not_found", `no delivery has the id ${id}`);
  }

  summary(task: Task): TaskSummary {
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
      children: this.children.get(task.id) ?? 0,
      latency_ms: task.latency_ms,
      tags: task.tags ?? [],
    };
  }

  counts(): StatusCounts {
    const counts = Object.fromEntries(STATES.map((s) => [s, 0])) as StatusCounts;
    for (const t of this.tasks.values()) counts[t.status]++;
    return counts;
  }

  query(q: CatalogQuery): TaskPage {
    const needle = q.search?.trim().toLowerCase() || null;
    const rows: TaskSummary[] = [];
    let total = 0;
    for (let i = this.order.length - 1; i >= 0; i--) {
      const id = this.order[i]!;
      const t = this.tasks.get(id)!;
      if (q.status && t.status !== q.status) continue;
      if (q.start === "immediate" && t.start_at !== null) continue;
      if (q.start === "scheduled" && t.start_at === null) continue;
      if (q.chain === "roots" && t.parent_task_id !== null) continue;
      if (q.chain === "with_children" && !this.children.get(id)) continue;
      if (needle && !this.search.get(id)!.includes(needle)) continue;
      if (q.tag?.trim() && !(t.tags ?? []).includes(q.tag.trim().toLowerCase())) continue;
      if (q.group && t.group?.group_id !== q.group) continue;
      if (total >= q.offset && rows.length < q.limit) rows.push(this.summary(t));
      total++;
    }
    return { page: { total, rows }, counts: this.counts() };
  }

  activity(): Activity {
    const now = this.now();
    const midnight = new Date(now);
    midnight.setHours(0, 0, 0, 0);
    const perMinute = new Array<number>(30).fill(0);
    let completed = 0;
    let failed = 0;
    let retries = 0;
    let tokens = 0;
    let cost = 0;
    const latencies: number[] = [];
    for (const t of this.tasks.values()) {
      if (!t.finished_at) continue;
      const done = Date.parse(t.finished_at);
      const ago = Math.floor((now - done) / 60_000);
      if (ago >= 0 && ago < 30) perMinute[29 - ago]!++;
      if (done < midnight.getTime()) continue;
      if (t.status === "completed") {
        completed++;
        if (t.latency_ms != null) latencies.push(t.latency_ms);
      } else if (t.status === "failed") failed++;
      retries += Math.max(0, t.attempts - 1);
      tokens += (t.prompt_tokens ?? 0) + (t.completion_tokens ?? 0);
      cost += t.cost_usd ?? 0;
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => (latencies.length ? latencies[Math.round((latencies.length - 1) * p)]! : null);
    return {
      finished_per_minute: perMinute,
      completed_today: completed,
      failed_today: failed,
      success_rate: completed + failed > 0 ? completed / (completed + failed) : null,
      latency_p50_ms: pct(0.5),
      latency_p95_ms: pct(0.95),
      retries_today: retries,
      tokens_today: tokens,
      cost_today_usd: cost,
    };
  }

  exportFile(ids: string[] | null): { text: string; count: number } {
    const keep = ids ? new Set(ids) : null;
    const tasks = this.order.map((id) => this.tasks.get(id)!).filter((t) => !keep || keep.has(t.id));
    const file = { format_version: 1, exported_at: new Date(this.now()).toISOString(), tasks };
    return { text: JSON.stringify(file, null, 2), count: tasks.length };
  }

  importFile(text: string): ImportReport {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw commandError("import_not_json", `the import file is not valid JSON: ${String(e)}`);
    }
    const file = value as { format_version?: unknown; tasks?: unknown };
    if (typeof file !== "object" || file === null) {
      throw commandError("import_wrong_shape", "the import file is not a Baton export: the top level is not an object");
    }
    if (typeof file.format_version !== "number" || file.format_version < 1) {
      throw commandError("import_wrong_shape", "the import file is not a Baton export: format_version is missing or not a whole number");
    }
    if (file.format_version > 1) {
      throw commandError("import_future_version", `the import file has format_version ${file.format_version}; this Baton reads versions up to 1`);
    }
    if (!Array.isArray(file.tasks)) {
      throw commandError("import_wrong_shape", "the import file is not a Baton export: tasks is missing or not a list");
    }
    const bad: RecordProblem[] = [];
    const good: Task[] = [];
    const seen = new Set<string>();
    file.tasks.forEach((record: Partial<Task>, index: number) => {
      const id = typeof record?.id === "string" && /^[0-9a-f-]{36}$/.test(record.id) ? record.id : null;
      const problem = checkRecord(record) ?? (id && seen.has(id) ? "the id appears twice in the file" : null);
      if (problem) bad.push({ index, id, message: problem });
      else {
        seen.add(id!);
        good.push(record as Task);
      }
    });
    if (bad.length > 0) {
      const all = bad.map((b) => `record ${b.index}${b.id ? ` (${b.id})` : ""}: ${b.message}`).join("; ");
      throw new Failure({
        code: "import_bad_records",
        message: `${bad.length} record(s) are invalid, nothing was imported: ${all}`,
        field: null,
        records: bad,
      });
    }
    const skipped: string[] = [];
    let imported = 0;
    for (const task of good) {
      if (this.tasks.has(task.id)) {
        skipped.push(task.id);
        continue;
      }
      // As after a crash: what was running is queued again.
      if (task.status === "running") task.status = "queued";
      this.save(null, task);
      imported++;
    }
    return { imported, skipped_existing: skipped, schedules_imported: 0, skipped_schedules: [], groups_imported: 0, skipped_groups: [] };
  }

  // ---- what the workers and the scheduler would do -------------------------------------

  start(id: string): Task {
    const old = this.require(id);
    const task = structuredClone(old);
    const now = new Date(this.now()).toISOString();
    task.status = "running";
    task.attempts++;
    task.started_at ??= now;
    // As the engine: each attempt records the target it goes to (the task's own, or a fallback).
    const i = task.target_index ?? 0;
    const target = i === 0 ? { provider: task.llm_provider, model: task.llm_model } : task.fallbacks?.[i - 1];
    task.history.push({
      number: task.attempts,
      started_at: now,
      finished_at: null,
      outcome: null,
      error: null,
      provider: target?.provider,
      model: target?.model,
    });
    this.chunks.set(id, 0);
    return this.save(old.status, task);
  }

  complete(
    id: string,
    output: string,
    usage?: Usage,
  ): Task {
    const old = this.require(id);
    const task = structuredClone(old);
    task.status = "completed";
    task.output = output;
    // As the engine: a task with an output schema completes only with its answer parsed.
    if (task.output_schema != null) task.output_json = JSON.parse(output);
    // As the engine: why the answer stopped, and whether Baton counted the tokens.
    const { finish_reason = "stop", usage_estimated = false, ...counts } = usage ?? {};
    Object.assign(task, counts);
    task.finish_reason = finish_reason;
    if (usage_estimated) task.usage_estimated = true;
    task.finished_at = new Date(this.now()).toISOString();
    task.latency_ms = task.started_at ? this.now() - Date.parse(task.started_at) : 0;
    this.#closeAttempt(task, "completed", null);
    const attempt = task.history[task.history.length - 1];
    if (attempt) {
      attempt.finish_reason = finish_reason;
      if (usage_estimated) attempt.usage_estimated = true;
    }
    this.save(old.status, task);
    for (const child of this.detail(id).children) {
      if (child.status !== "waiting") continue;
      const released = structuredClone(child);
      released.effective_prompt = bind(child.prompt, output);
      released.status = "queued";
      this.save("waiting", released);
    }
    return task;
  }

  /** `incomplete`: the server ended the answer before finishing; its partial output stays on the attempt. */
  fail(id: string, error: string, retry: boolean, incomplete = false): Task {
    const old = this.require(id);
    const task = structuredClone(old);
    const again = retry && task.attempts < task.max_attempts;
    this.#closeAttempt(task, again ? "retrying" : "failed", error);
    task.error = error;
    if (incomplete) {
      task.failure = { class: "incomplete", status: null, message: null };
      const attempt = task.history[task.history.length - 1];
      if (attempt) {
        attempt.failure = task.failure;
        const partial = this.#streamed.get(id);
        if (partial) attempt.partial_output = partial;
      }
    }
    // A retryable failure moves on to the next fallback at once, as with `fallback_after` 1.
    const next = (task.target_index ?? 0) + 1;
    if (again && next <= (task.fallbacks?.length ?? 0)) {
      task.target_index = next;
      task.status = "queued";
    } else if (again) {
      task.status = "scheduled";
      task.start_at = new Date(this.now() + 2000 * 2 ** task.attempts).toISOString();
    } else {
      task.status = "failed";
      task.finished_at = new Date(this.now()).toISOString();
    }
    this.save(old.status, task);
    if (!again) this.#cascade(task);
    return task;
  }

  #closeAttempt(task: Task, outcome: Task["history"][number]["outcome"], error: string | null): void {
    const last = task.history[task.history.length - 1];
    if (last && last.finished_at === null) {
      last.finished_at = new Date(this.now()).toISOString();
      last.outcome = outcome;
      last.error = error;
    }
  }

  /** A failed or cancelled parent cancels its waiting children. */
  #cascade(parent: Task): void {
    for (const child of this.detail(parent.id).children) {
      if (child.status !== "waiting") continue;
      const c = structuredClone(child);
      c.status = "cancelled";
      c.cancel_reason = `parent ${parent.id} ${parent.status}`;
      c.finished_at = new Date(this.now()).toISOString();
      this.save("waiting", c);
      this.#cascade(c);
    }
  }
}

function bind(instruction: string, output: string): string {
  return instruction.includes(PLACEHOLDER) ? instruction.split(PLACEHOLDER).join(output) : `${output}\n\n${instruction}`;
}

function checkRecord(r: Partial<Task>): string | null {
  if (typeof r !== "object" || r === null) return "the record is not an object";
  if (typeof r.id !== "string" || !/^[0-9a-f-]{36}$/.test(r.id)) return "id: not a task id (a UUID)";
  if (typeof r.status !== "string" || !STATES.includes(r.status)) return `unknown status '${String(r.status)}'`;
  if (typeof r.prompt !== "string" || !r.prompt.trim()) return "the prompt is empty";
  if (typeof r.name !== "string" || !r.name.trim()) return "the name is empty";
  if (typeof r.max_attempts !== "number" || r.max_attempts < 1 || r.max_attempts > 20) {
    return `max_attempts must be between 1 and 20, got ${String(r.max_attempts)}`;
  }
  if (typeof r.attempts === "number" && r.attempts > r.max_attempts) {
    return `attempts (${r.attempts}) is more than max_attempts (${r.max_attempts})`;
  }
  if (r.parent_task_id === r.id) return "the task names itself as its parent";
  return null;
}

// Groups (`map`) in the fake backend: the engine's refusals for the cases the tests use (an empty
// input, a ragged CSV row, a JSON line that is not an object, a prompt naming a missing column,
// a taken name), one task per row carrying `group`, the group's counts read from its rows, and
// cancel / retry / export over the rows. Row tasks move with the model's own controls, so their
// state events reach the window as the engine's do.
import type {
  Group_Serialize as Group,
  GroupStatus,
  JoinOn,
  MapInput_Deserialize as MapInput,
  ResultFormat,
  RowSource,
  RowsPreview,
} from "../../src/bindings";
import { commandError, type Model, type Task } from "./model";

const invalid = (field: string, message: string) => commandError("invalid_input", message, field);
type Row = Record<string, unknown>;

/** The engine's row parsing, for the shapes the tests use. */
export function parseRows(source: RowSource, data: string): { columns: string[]; rows: Row[] } {
  const lines = data.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines.length === 0) throw invalid("data", "the input has no rows");
  if (source === "lines") return { columns: ["item"], rows: lines.map((item) => ({ item })) };
  if (source === "jsonl") {
    const rows: Row[] = [];
    const columns: string[] = [];
    lines.forEach((line, i) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        throw invalid("data", `line ${i + 1} is not JSON`);
      }
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw invalid("data", `line ${i + 1} is not a JSON object`);
      }
      for (const k of Object.keys(value)) if (!columns.includes(k)) columns.push(k);
      rows.push(value as Row);
    });
    return { columns, rows };
  }
  const [head = "", ...body] = lines;
  const columns = head.split(",").map((c) => c.trim());
  if (body.length === 0) throw invalid("data", "the CSV has a header and no rows");
  const rows = body.map((line, i) => {
    const cells = line.split(",");
    if (cells.length !== columns.length) {
      throw invalid("data", `row ${i + 1} (line ${i + 2}) has ${cells.length} fields; the header has ${columns.length}`);
    }
    return Object.fromEntries(columns.map((c, j) => [c, cells[j]?.trim() ?? ""]));
  });
  return { columns, rows };
}

function bind(template: string, row: Row): string {
  return template.replace(/\{\{\s*(?:row\.([^}\s]+)|item)\s*\}\}/g, (_, col: string | undefined) => {
    const v = col === undefined ? row.item : row[col];
    return typeof v === "string" ? v : JSON.stringify(v ?? "");
  });
}

interface Stored {
  group: Group;
  rows: string[];
  joinOn: JoinOn | null;
}

export class FakeGroups {
  readonly byId = new Map<string, Stored>();

  constructor(private readonly model: Model) {}

  preview(source: RowSource, data: string, limit: number): RowsPreview {
    const { columns, rows } = parseRows(source, data);
    return { columns, rows: rows.slice(0, Math.min(limit, 50)) as RowsPreview["rows"] };
  }

  map(input: MapInput): Group {
    const name = input.name.trim();
    if (!name) throw invalid("name", "the group's name is empty");
    if ([...this.byId.values()].some((s) => s.group.name.toLowerCase() === name.toLowerCase())) {
      throw invalid("name", `a group named '${name}' exists`);
    }
    const { columns, rows } = parseRows(input.source, input.data);
    const template = input.task.prompt;
    if (!template.trim()) throw invalid("prompt", "the prompt is empty");
    for (const m of template.matchAll(/\{\{\s*row\.([^}\s]+)\s*\}\}/g)) {
      const col = m[1] ?? "";
      if (!columns.includes(col)) {
        throw invalid("prompt", `the prompt names the column '${col}', which the input lacks (columns: ${columns.join(", ")})`);
      }
    }
    const join = input.join && input.join.instruction.trim() ? input.join : null;
    if (join && !join.instruction.includes("{{items}}")) {
      throw invalid("join", "the join's instruction does not contain {{items}}");
    }
    // Checked as a task's (provider, attempts…) before anything is stored.
    const base = this.model.build({ ...input.task, prompt: "row", name }, null);
    const id = this.model.newId(this.model.now());
    const ids: string[] = [];
    rows.forEach((values, i) => {
      const t: Task = {
        ...structuredClone(base),
        id: this.model.newId(this.model.now()),
        name: `${name} #${i + 1}`,
        prompt: bind(template, values),
        group: { group_id: id, row: i + 1, values: values as never },
      };
      ids.push(t.id);
      this.model.save(null, t);
    });
    const group: Group = {
      id,
      name,
      created_at: new Date(this.model.now()).toISOString(),
      columns,
      prompt: template,
      total: rows.length,
      completed: 0,
      failed: 0,
      cancelled: 0,
      status: "running",
    };
    if (join) {
      const t: Task = {
        ...structuredClone(base),
        id: this.model.newId(this.model.now()),
        name: `${name} · join`,
        prompt: join.instruction,
        status: "waiting",
        group: { group_id: id },
      };
      this.model.save(null, t);
      group.join = { task_id: t.id, on: join.on ?? "all", status: "waiting" };
    }
    this.byId.set(id, { group, rows: ids, joinOn: join ? join.on ?? "all" : null });
    return this.get(id);
  }

  #stored(key: string): Stored {
    const s = this.byId.get(key) ?? [...this.byId.values()].find((x) => x.group.name.toLowerCase() === key.trim().toLowerCase());
    if (!s) throw commandError("not_found", `no group is named or has the id '${key}'`);
    return s;
  }

  /** The record with its counts read from the rows, as the engine keeps them. */
  get(key: string): Group {
    const s = this.#stored(key);
    const g = s.group;
    g.completed = g.failed = g.cancelled = 0;
    for (const id of s.rows) {
      const st = this.model.require(id).status;
      if (st === "completed") g.completed++;
      else if (st === "failed") g.failed++;
      else if (st === "cancelled") g.cancelled++;
    }
    if (g.join) g.join.status = this.model.require(g.join.task_id).status;
    const ended = g.completed + g.failed + g.cancelled === g.total;
    const joinDone = !g.join || ["completed", "failed", "cancelled"].includes(g.join.status);
    let status: GroupStatus = "running";
    if (ended && joinDone) {
      if (g.cancelled_at) status = "cancelled";
      else status = (g.join ? g.join.status === "completed" : g.completed === g.total) ? "completed" : "failed";
    }
    g.status = status;
    return g;
  }

  all(): Group[] {
    return [...this.byId.keys()].map((id) => this.get(id));
  }

  tasks(id: string, offset: number, limit: number): Task[] {
    return this.#stored(id).rows.slice(offset, offset + Math.min(limit, 500)).map((t) => this.model.require(t));
  }

  cancel(id: string): Group {
    const s = this.#stored(id);
    s.group.cancelled_at = new Date(this.model.now()).toISOString();
    const reason = `group '${s.group.name}' was cancelled`;
    for (const t of [...(s.group.join ? [s.group.join.task_id] : []), ...s.rows]) {
      if (["waiting", "scheduled", "queued", "running"].includes(this.model.require(t).status)) this.model.cancel(t, reason);
    }
    return this.get(id);
  }

  retry(id: string): Group {
    const s = this.#stored(id);
    const g = this.get(id);
    const joinEnded = g.join?.status === "failed" || g.join?.status === "cancelled";
    if (g.failed + g.cancelled === 0 && !joinEnded) {
      throw invalid("group", `group '${g.name}' has no failed or cancelled task to retry`);
    }
    delete s.group.cancelled_at;
    for (const t of s.rows) {
      const st = this.model.require(t).status;
      if (st === "failed" || st === "cancelled") this.model.retry(t, null);
    }
    if (g.join && joinEnded) {
      const old = this.model.require(g.join.task_id);
      this.model.save(old.status, { ...structuredClone(old), status: "waiting", cancel_reason: null, finished_at: null });
    }
    return this.get(id);
  }

  /** The export's text (input columns, then output and status) and its row count. */
  export(id: string, format: ResultFormat): { text: string; count: number } {
    const s = this.#stored(id);
    const rows = s.rows.map((t) => this.model.require(t));
    const cols = s.group.columns;
    const lines =
      format === "jsonl"
        ? rows.map((t) => JSON.stringify({ ...(t.group?.values ?? {}), output: t.output, status: t.status }))
        : [
            [...cols, "output", "status"].join(","),
            ...rows.map((t) => [...cols.map((c) => String(t.group?.values?.[c] ?? "")), t.output ?? "", t.status].join(",")),
          ];
    return { text: lines.join("\n") + "\n", count: rows.length };
  }

  /** The first `n` rows not yet ended run and complete (or fail), as workers would. */
  finishRows(key: string, n: number, outcome: "completed" | "failed" = "completed"): number {
    const s = this.#stored(key);
    let done = 0;
    for (const id of s.rows) {
      if (done >= n) break;
      const old = this.model.require(id);
      if (!["queued", "scheduled"].includes(old.status)) continue;
      const now = new Date(this.model.now()).toISOString();
      // Straight to the end (one state event per row), without the model's per-task scans.
      const task = { ...structuredClone(old), status: outcome, attempts: 1, started_at: now, finished_at: now, latency_ms: 5 };
      if (outcome === "completed") task.output = `answer ${old.group?.row}`;
      else task.error = "the provider refused the request";
      this.model.save(old.status, task);
      done++;
    }
    this.#decideJoin(s);
    return done;
  }

  /** Every row ended: the join is queued or cancelled by its policy (the engine's "waits for N parents"). */
  #decideJoin(s: Stored): void {
    const g = this.get(s.group.id);
    if (!g.join || g.join.status !== "waiting" || g.completed + g.failed + g.cancelled < g.total) return;
    const runs = s.joinOn === "completed" ? g.completed > 0 : g.completed === g.total;
    const old = this.model.require(g.join.task_id);
    this.model.save("waiting", { ...structuredClone(old), status: runs ? "queued" : "cancelled" });
  }
}

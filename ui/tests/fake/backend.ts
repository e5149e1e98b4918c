// The fake backend, built into one script that a test injects before the app boots: it installs
// Tauri's `mockIPC` (events mocked too) over the in-memory model, and exposes `window.__fake`
// for tests to move tasks, stream output, inspect calls and make the next call fail or wait.
//
// Configure it by setting `window.__FAKE_CONFIG__` (see `Config`) in an earlier init script.
import { emit } from "@tauri-apps/api/event";
import { mockIPC } from "@tauri-apps/api/mocks";
import type {
  CommandError_Serialize as CommandError,
  Health,
  OpenTarget,
  ProviderSettings_Serialize as ProviderSettings,
  StatusChanged,
  UpdateStatus_Serialize as UpdateStatus,
} from "../../src/bindings";
import { Failure, Model, commandError, type Task, type Usage } from "./model";
import { FakeBudgets } from "./budgets";
import { FakeProviders, type LocalSetup } from "./providers";
import { FakeGroups } from "./groups";
import { FakeSchedules } from "./schedules";
import { seedBulk, seedDemo } from "./seed";

interface Config {
  seed?: "demo" | "none";
  bulk?: number;
  /** Configured providers at the start. */
  providers?: ProviderSettings[];
  /** What each provider lists as its models, by provider name. */
  providerModels?: Record<string, string[]>;
  /** The local servers detection finds (Ollama, LM Studio…). */
  localServers?: LocalSetup[];
  /** Commands whose first call fails, as if the engine refused it. */
  failFirst?: { cmd: string; code: string; message: string }[];
  /** What the release feed offers: a version and whether its bundle's signature verifies. */
  feed?: { version: string; signed: boolean } | null;
  /** A click on the notification of the task with this name made the window (the shell keeps
   * the request until the page takes it). */
  openTask?: string;
  /** Commands whose calls wait from the start until `release(cmd)`. */
  hold?: string[];
  /** The shared queue the app is on at the start (none: this computer's database). */
  sharedQueue?: { url: string; run_tasks: boolean; password_saved: boolean; runners: number };
  /** Hosts whose database cannot be reached. */
  unreachableHosts?: string[];
}

interface Call {
  cmd: string;
  args: Record<string, unknown>;
}

const config: Config = (window as unknown as { __FAKE_CONFIG__?: Config }).__FAKE_CONFIG__ ?? {};
const model = new Model();
if (config.seed !== "none") seedDemo(model);
if (config.bulk) seedBulk(model, config.bulk);
for (const p of config.providers ?? []) model.providers.set(p.name, p);
const providers = new FakeProviders(model, structuredClone(config.providerModels ?? {}), config.localServers ?? []);
const schedules = new FakeSchedules(model);
const budgets = new FakeBudgets(model);
const groups = new FakeGroups(model);

const settings = { workers: 4, notifications: true, start_at_login: false, api_enabled: false, check_updates: true };

// The shared queue: the choice (no password: the fake keychain below holds those), live runners.
const sharedQueue = {
  url: config.sharedQueue?.url ?? (null as string | null),
  run_tasks: config.sharedQueue?.run_tasks ?? true,
  runners: config.sharedQueue?.runners ?? 0,
};
const keychain = new Map<string, string>();
if (config.sharedQueue?.password_saved) keychain.set(config.sharedQueue.url, "saved-before");
const queueName = (url: string) => url.replace(/^postgres(ql)?:\/\//, "");
function queueSettings() {
  return { url: sharedQueue.url, run_tasks: sharedQueue.run_tasks, password_saved: sharedQueue.url !== null && keychain.has(sharedQueue.url) };
}
function useSharedQueue(url: string, password: string | null, runTasks: boolean) {
  const trimmed = url.trim();
  if (!/^postgres(ql)?:\/\/[^/@:]+@[^/]+/.test(trimmed)) {
    throw commandError("invalid_input", "The URL must be a PostgreSQL URL such as postgres://baton@db.example:5432/baton.", "url");
  }
  const host = trimmed.split("@")[1]?.split(/[:/]/)[0] ?? "";
  if ((config.unreachableHosts ?? []).includes(host)) {
    throw commandError(
      "database_unavailable",
      `Baton could not open the shared queue ${queueName(trimmed)}: cannot open the shared queue's database: cannot reach the database: Connection refused (os error 111)`,
      "url",
    );
  }
  if (password) keychain.set(trimmed, password);
  Object.assign(sharedQueue, { url: trimmed, run_tasks: runTasks, runners: (config.sharedQueue?.runners ?? 0) + (runTasks ? 1 : 0) });
  send("resync", { missed: 0 });
  return queueSettings();
}
let paused = false;
let health: Health = { status: "ok" };
const calls: Call[] = [];
const files = new Map<string, string>();
const dialog: { save: string | null; open: string | null } = {
  save: "/home/me/baton-tasks.json",
  open: "/home/me/baton-tasks.json",
};
const failures = new Map<string, CommandError>();
const holds = new Map<string, { gate: Promise<void>; release: () => void; reply?: boolean }>();
for (const f of config.failFirst ?? []) failures.set(f.cmd, { code: f.code, message: f.message, field: null, records: [] });

// What the last click on a notification asked the window to open, until the page takes it.
let openRequest: OpenTarget | null = config.openTask ? { kind: "task", id: byName(config.openTask).id } : null;

// The updater: the running version, what the feed offers, and the status the window was told.
const CURRENT = "0.1.0";
let feed = config.feed ?? null;
let update: UpdateStatus = { state: "idle", current: CURRENT };
function setUpdate(next: UpdateStatus): UpdateStatus {
  update = next;
  send("update-status", next);
  return next;
}

function status(): StatusChanged {
  return { paused, workers: settings.workers, running: model.counts().running, health };
}

function send(event: string, payload: unknown): void {
  // After the command's answer, as a real event would most often arrive.
  setTimeout(() => void emit(event, payload), 0);
}

model.emit = (event) => {
  send("task-event", event);
  if (event.type === "state" && (event.from === "running" || event.to === "running")) send("status-changed", status());
};

schedules.emit = (id, schedule) =>
  send("schedule-changed", { at: new Date(model.now()).toISOString(), schedule_id: id, schedule });

type Args = Record<string, unknown>;
const str = (a: Args, k: string) => a[k] as string;

const handlers: Record<string, (a: Args) => unknown> = {
  submit_task: (a) => model.submit(a.input as never),
  chain_task: (a) => model.chain(str(a, "parentId"), a.input as never),
  cancel_task: (a) => model.cancel(str(a, "id"), (a.reason as string | null) ?? null),
  retry_task: (a) => model.retry(str(a, "id"), (a.maxAttempts as number | null) ?? null),
  get_task: (a) => model.detail(str(a, "id")),
  resend_delivery: (a) => model.resendDelivery(str(a, "id")),
  // The keychain is the machine's: the fake only records the call (callsOf).
  store_webhook_secret: () => null,
  query_tasks: (a) => model.query(a.query as never),
  export_tasks: (a) => {
    const { text, count } = model.exportFile((a.ids as string[] | null) ?? null);
    files.set(str(a, "path"), text);
    return count;
  },
  import_tasks: (a) => {
    const path = str(a, "path");
    const text = files.get(path);
    if (text === undefined) throw commandError("import_unreadable", `cannot read ${path}: No such file or directory (os error 2)`);
    return model.importFile(text);
  },
  get_settings: () => ({ ...settings }),
  update_settings: (a) => {
    const next = a.settings as typeof settings;
    if (!(next.workers >= 1 && next.workers <= 1024)) {
      throw commandError("invalid_input", `workers must be between 1 and 1024, got ${next.workers}`, "workers");
    }
    Object.assign(settings, next);
    send("status-changed", status());
    return { ...settings };
  },
  set_paused: (a) => {
    paused = a.paused as boolean;
    const s = status();
    send("status-changed", s);
    return s;
  },
  engine_status: () => status(),
  shared_queue_settings: () => queueSettings(),
  shared_queue_status: () =>
    sharedQueue.url === null ? null : { name: queueName(sharedQueue.url), runners: sharedQueue.runners, runs_tasks_here: sharedQueue.run_tasks },
  use_shared_queue: (a) => useSharedQueue(str(a, "url"), (a.password as string | null) ?? null, a.runTasks as boolean),
  use_local_database: () => {
    Object.assign(sharedQueue, { url: null, run_tasks: true, runners: 0 });
    send("resync", { missed: 0 });
    return queueSettings();
  },
  activity: () => model.activity(),
  list_providers: () => providers.list(),
  save_provider: (a) => providers.save(a.settings as never, (a.apiKey as string | null) ?? null),
  remove_provider: (a) => providers.remove(str(a, "name")),
  test_provider: (a) => providers.test(str(a, "name"), (a.model as string | null) ?? null),
  provider_models: (a) => providers.models(str(a, "name")),
  detect_local_servers: () => providers.detect(),
  add_local_server: (a) => providers.addLocal(str(a, "name")),
  list_budgets: () => budgets.list(),
  set_budget: (a) => budgets.set(a.budget as never),
  remove_budget: (a) => budgets.remove(str(a, "name")),
  list_schedules: () => schedules.all(),
  get_schedule: (a) => schedules.detail(str(a, "id")),
  preview_schedule: (a) => schedules.preview(str(a, "cron"), (a.timezone as string | null) ?? null),
  create_schedule: (a) => schedules.create(a.input as never),
  update_schedule: (a) => schedules.update(str(a, "id"), a.input as never),
  pause_schedule: (a) => schedules.setEnabled(str(a, "id"), false),
  resume_schedule: (a) => schedules.setEnabled(str(a, "id"), true),
  remove_schedule: (a) => schedules.remove(str(a, "id")),
  fire_schedule_now: (a) => schedules.fireNow(str(a, "id")),
  map_rows: (a) => groups.map(a.input as never),
  read_rows_file: (a) => {
    const path = str(a, "path");
    const text = files.get(path);
    if (text === undefined) throw commandError("file_unreadable", `cannot read ${path}: No such file or directory (os error 2)`);
    return text;
  },
  preview_rows: (a) => groups.preview(a.source as never, str(a, "data"), a.limit as number),
  list_groups: () => groups.all(),
  get_group: (a) => groups.get(str(a, "key")),
  group_tasks: (a) => groups.tasks(str(a, "id"), a.offset as number, a.limit as number),
  cancel_group: (a) => groups.cancel(str(a, "id")),
  retry_group: (a) => groups.retry(str(a, "id")),
  export_group: (a) => {
    const { text, count } = groups.export(str(a, "id"), a.format as never);
    files.set(str(a, "path"), text);
    return count;
  },
  open_log_folder: () => "/home/me/.local/share/dev.baton.desktop/logs",
  update_status: () => update,
  take_open_request: () => {
    const taken = openRequest;
    openRequest = null;
    return taken;
  },
  check_for_update: () =>
    setUpdate(
      feed && feed.version > CURRENT
        ? { state: "available", current: CURRENT, version: feed.version, notes: null }
        : { state: "up_to_date", current: CURRENT },
    ),
  install_update: () => {
    if (update.state !== "available") throw commandError("no_update", "there is no update to install; check for updates first");
    const version = update.version;
    if (!feed?.signed) {
      return setUpdate({
        state: "failed",
        current: CURRENT,
        message: `The update to ${version} was not installed: its signature does not verify against Baton's release key. Baton ${CURRENT} keeps running.`,
      });
    }
    return setUpdate({ state: "restarting", current: CURRENT, version });
  },
  save_output: (a) => {
    const task = model.detail(str(a, "id")).task;
    if (task.output === null) throw commandError("no_output", `task ${task.id} has no answer to save yet`);
    files.set(str(a, "path"), task.output);
    return task.output.length;
  },
  "plugin:opener|open_url": () => null,
  "plugin:dialog|save": () => dialog.save,
  "plugin:dialog|open": () => dialog.open,
};

mockIPC(
  async (cmd, payload) => {
    const args = (payload ?? {}) as Args;
    calls.push({ cmd, args: structuredClone(args) });
    const hold = holds.get(cmd);
    if (hold && !hold.reply) await hold.gate;
    const failure = failures.get(cmd);
    if (failure) {
      failures.delete(cmd);
      throw failure;
    }
    const handler = handlers[cmd];
    if (!handler) throw commandError("unknown_command", `the fake backend has no command ${cmd}`).error;
    try {
      // A copy, as IPC would serialise it: the UI must not share objects with the model.
      const reply = structuredClone(handler(args));
      // Answered as things stood, delivered later: events may overtake it.
      if (hold?.reply) await hold.gate;
      return reply;
    } catch (e) {
      if (e instanceof Failure) throw e.error;
      throw e;
    }
  },
  { shouldMockEvents: true },
);

/** Finds a task by exact name (tests know names, not ids). */
function byName(name: string): Task {
  for (const t of model.tasks.values()) if (t.name === name) return t;
  throw new Error(`no task named ${name}`);
}

const fake = {
  model,
  calls,
  files,
  dialog,
  settings,
  byName: (name: string) => structuredClone(byName(name)),
  idOf: (name: string) => byName(name).id,
  callsOf: (cmd: string) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
  /** The next call of `cmd` fails with `error`. */
  failNext(cmd: string, code: string, message: string, field: string | null = null): void {
    failures.set(cmd, { code, message, field, records: [] });
  },
  /** The engine can (`ok`) or cannot write its database (a full disk); the window is told. */
  setHealth(next: Health): void {
    health = next;
    send("status-changed", status());
  },
  /** Calls of `cmd` wait until `release(cmd)`. */
  hold(cmd: string): void {
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    holds.set(cmd, { gate, release });
  },
  /** Calls of `cmd` are answered as things stand now, but the answer waits until `release(cmd)`. */
  holdReply(cmd: string): void {
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    holds.set(cmd, { gate, release, reply: true });
  },
  release(cmd: string): void {
    holds.get(cmd)?.release();
    holds.delete(cmd);
  },
  start: (name: string) => model.start(byName(name).id),
  output: (name: string, chunk: string) => model.output(byName(name).id, chunk),
  complete: (name: string, output: string, usage?: Usage) => model.complete(byName(name).id, output, usage),
  /** A delivery of the task named `name` recorded or changed by the engine (an event). */
  deliver: (name: string, d: { id: string; status: "pending" | "sent" | "failed" | "skipped"; attempts?: number; error?: string | null; file?: string; webhook?: string }) => {
    const at = new Date(model.now()).toISOString();
    return model.putDelivery({
      id: d.id,
      task_id: byName(name).id,
      attempt: 1,
      target: d.file ? { kind: "file", path: d.file } : { kind: "webhook", url: d.webhook ?? "https://example.com/hook" },
      status: d.status,
      attempts: d.attempts ?? 0,
      created_at: at,
      next_at: d.status === "pending" ? at : null,
      sent_at: d.status === "sent" ? at : null,
      error: d.error ?? null,
    });
  },
  fail: (name: string, error: string, retry = false, incomplete = false) =>
    model.fail(byName(name).id, error, retry, incomplete),
  /** The engine lowered `provider`'s concurrency after an interrupted answer of task `name`. */
  lowerConcurrency: (provider: string, maxConcurrency: number, name: string) => {
    const p = model.providers.get(provider);
    if (!p) throw new Error(`no provider named ${provider}`);
    const wait = 300_000;
    p.lowered_concurrency = {
      max_concurrency: maxConcurrency,
      until: new Date(model.now() + wait).toISOString(),
    };
    model.emit({
      seq: 0,
      at: new Date(model.now()).toISOString(),
      task_id: byName(name).id,
      type: "concurrency_lowered",
      provider,
      max_concurrency: maxConcurrency,
      wait_ms: wait,
      message: `provider '${provider}' interrupted answers while several were in flight: at most ${maxConcurrency} at once for 300 s`,
    });
  },
  resync: () => send("resync", { missed: 3 }),
  /** Runners joined or left the shared queue (the top bar asks every few seconds). */
  setRunners: (n: number) => (sharedQueue.runners = n),
  /** A click on a notification that names `target`: the shell keeps it and tells the page. */
  clickNotification: (target: OpenTarget) => {
    openRequest = target;
    send("open-requested", null);
  },
  /** The local servers detection finds from now on. */
  setLocalServers: (servers: LocalSetup[]) => (providers.local = servers),
  /** The app found an update by itself (its check at start). */
  offerUpdate: (version: string, signed: boolean) => {
    feed = { version, signed };
    setUpdate({ state: "available", current: CURRENT, version, notes: null });
  },
  schedule: (name: string) => structuredClone(schedules.byName(name)),
  /** Records skipped runs on the schedule named `name` (as after the app was closed). */
  skipRuns: (name: string, count: number, reason?: "missed" | "too_late" | "catch_up_limit" | "overlap") =>
    schedules.skip(name, count, reason),
  /** The engine settled `amount` against budget `budget` for the task named `task`. */
  spend: (budget: string, amount: number, task: string) => budgets.spend(budget, amount, byName(task).id),
  /** The schedule named `name` paused itself after failed runs in a row. */
  autoPause: (name: string) => schedules.autoPause(name),
  group: (name: string) => structuredClone(groups.get(name)),
  /** The first `n` unfinished rows of group `name` end (completed, or failed), one event each. */
  finishRows: (name: string, n: number, outcome?: "completed" | "failed") => groups.finishRows(name, n, outcome),
};

(window as unknown as { __fake: typeof fake }).__fake = fake;
for (const cmd of config.hold ?? []) fake.hold(cmd);


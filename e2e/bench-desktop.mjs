// Desktop benchmarks (not a test): run by scripts/bench-desktop.sh under Xvfb + a session bus.
//
//   node e2e/bench-desktop.mjs memory   <app> <data-dir>            idle RSS/PSS of every Baton process (the window,
//                                                                   the runner, their children): window open, closed
//                                                                   (the runner alone), reopened; Show -> rows
//   node e2e/bench-desktop.mjs tray     <app> <data-dir>            the same open/closed without WebDriver
//   node e2e/bench-desktop.mjs hidden   <app> <data-dir>            the runner started as at login, never shown
//   node e2e/bench-desktop.mjs coldstart <app> <data-dir>[,<baseline-dir>] <runs>   launch -> first task row
//   node e2e/bench-desktop.mjs latency  <app> <data-dir> 0 <cli>    engine change -> status badge
//
// Prints one JSON object on stdout. The app runs under tauri-driver like in the e2e tests
// (harness.mjs), but through an `exec` wrapper that records the launch time (system clock,
// ns) right before the app's binary is executed, and any binary may be given. The window starts
// the runner (baton-tray, beside <app>) when none serves the data directory.

import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { remote } from "webdriverio";
import { activate, closeWindow, trayItems, trayMenu, waitForWindow, webProcesses, windowProcesses } from "./desktop.mjs";
import { ROOT, alive, runnerOf, waitFor } from "./harness.mjs";

const DRIVER = join(ROOT, ".tools/bin/tauri-driver");
const ROW = '[data-testid="task-row"]';
const log = (...a) => console.error("bench:", ...a);

const WRAPPER = `#!/bin/sh
echo $$ > "$BENCH_RUN/app.pid"
date +%s%N > "$BENCH_RUN/launch.ns"
exec "$BENCH_APP" "$@"
`;

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

const accepts = (port) =>
  new Promise((r) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.end(), r(true)));
    s.once("error", () => r(false));
  });

let current;
process.on("exit", () => current?.kill("SIGKILL"));
for (const sig of ["SIGINT", "SIGTERM"]) process.once(sig, () => process.exit(130));

async function launch(app, dataDir) {
  const runDir = mkdtempSync(join(tmpdir(), "baton-bench-run-"));
  const wrapper = join(runDir, "baton-desktop");
  writeFileSync(wrapper, WRAPPER, { mode: 0o755 });
  const [port, nativePort] = [await freePort(), await freePort()];
  const out = openSync(join(runDir, "driver.log"), "a");
  const driver = spawn(DRIVER, ["--port", port, "--native-port", nativePort, "--native-driver", "/usr/bin/WebKitWebDriver"], {
    detached: true,
    stdio: ["ignore", out, out],
    env: { ...process.env, BATON_DATA_DIR: dataDir, BENCH_APP: app, BENCH_RUN: runDir, XDG_CONFIG_HOME: join(runDir, "config") },
  });
  closeSync(out);
  const read = (f) => (existsSync(join(runDir, f)) ? readFileSync(join(runDir, f), "utf8").trim() : "");
  const h = {
    runDir,
    driver,
    pid: undefined,
    kill(sig) {
      for (const p of [-driver.pid, h.pid]) {
        try {
          if (p) process.kill(p, sig);
        } catch {}
      }
    },
    async close() {
      // Quit the runner first, the way a user's Quit (or the session ending) does: ending
      // the WebDriver session first would kill it, and the next start would repair its
      // files. The window closes with it.
      const runner = await runnerOf(dataDir, 2_000).catch(() => undefined);
      for (const pid of [runner, h.pid]) {
        if (pid && alive(pid)) {
          process.kill(pid, process.env.BENCH_QUIT_SIGNAL ?? "SIGTERM");
          await waitFor(() => !alive(pid), { timeout: 10_000 }).catch(() => log(`process ${pid} did not quit on SIGTERM`));
        }
      }
      await Promise.race([h.browser?.deleteSession().catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
      h.kill("SIGTERM");
      await waitFor(() => !alive(driver.pid) && !(h.pid && alive(h.pid)), { timeout: 8_000 }).catch(() => h.kill("SIGKILL"));
      await waitFor(() => !(h.pid && alive(h.pid)), { timeout: 5_000 }).catch(() => {});
      current = undefined;
      rmSync(runDir, { recursive: true, force: true });
    },
  };
  current = h;
  await waitFor(async () => (await accepts(port)) && (await accepts(nativePort)), { timeout: 15_000, message: "drivers" });
  h.browser = await remote({
    hostname: "127.0.0.1",
    port,
    logLevel: "error",
    connectionRetryTimeout: 60_000,
    connectionRetryCount: 0,
    capabilities: { "tauri:options": { application: wrapper } },
  });
  h.sessionAtMs = Date.now();
  h.pid = await waitFor(() => Number(read("app.pid")) || undefined, { message: "app pid" });
  h.launchMs = Number(BigInt(read("launch.ns")) / 1000n) / 1000; // ms since epoch, µs resolution
  return h;
}

// ---- /proc ------------------------------------------------------------------------------

function procInfo(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return { pid: Number(pid), ppid, comm };
  } catch {
    return undefined;
  }
}

function descendants(root) {
  const all = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(procInfo).filter(Boolean);
  const out = [procInfo(root)];
  for (let i = 0; i < out.length; i++) out.push(...all.filter((p) => p.ppid === out[i].pid));
  return out.filter(Boolean);
}

function memOf(pid) {
  const kb = (text, key) => Number(text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN);
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    let pss = NaN;
    try {
      pss = kb(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"), "Pss");
    } catch {}
    return { rss_kb: kb(status, "VmRSS"), pss_kb: pss };
  } catch {
    return { rss_kb: NaN, pss_kb: NaN };
  }
}

// Every process under the given roots (the window, the runner), each once.
const snapshot = (...roots) => {
  const seen = new Set();
  return roots
    .flatMap((root) => descendants(root))
    .filter((p) => !seen.has(p.pid) && seen.add(p.pid))
    .map((p) => ({ ...p, ...memOf(p.pid) }));
};
const sum = (list, k) => list.reduce((a, p) => a + (Number.isFinite(p[k]) ? p[k] : 0), 0);

// ---- helpers ------------------------------------------------------------------------------

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : null;
};
const stats = (xs) => ({
  n: xs.length,
  min: xs.length ? Math.min(...xs) : null,
  p50: pct(xs, 50),
  p95: pct(xs, 95),
  p99: pct(xs, 99),
  max: xs.length ? Math.max(...xs) : null,
});
const r1 = (x) => (x == null ? x : Math.round(x * 10) / 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// In the page: records, per task id, when each status text was first seen on its row's badge
// (DOM time, in a MutationObserver callback) and the next animation frame after it (≈ paint).
function installObserver() {
  if (window.__bench) return;
  const now = () => performance.timeOrigin + performance.now();
  const b = (window.__bench = { dom: {}, frame: {}, firstRow: null, pending: [], raf: 0 });
  const scan = () => {
    const t = now();
    const rows = document.querySelectorAll('[data-testid="task-row"]');
    if (rows.length && b.firstRow === null) b.firstRow = t;
    for (const row of rows) {
      const id = row.getAttribute("data-task-id");
      const s = row.querySelector('[data-testid="status-badge"]')?.textContent?.trim();
      const m = (b.dom[id] ??= {});
      if (s && m[s] === undefined) {
        m[s] = t;
        b.pending.push(`${id} ${s}`);
      }
    }
    if (b.pending.length && !b.raf) {
      b.raf = requestAnimationFrame(() => {
        const tp = now();
        for (const k of b.pending) b.frame[k] = tp;
        b.pending = [];
        b.raf = 0;
      });
    }
  };
  new MutationObserver(scan).observe(document.documentElement, { subtree: true, childList: true, characterData: true, attributes: true });
  scan();
}

// ---- modes --------------------------------------------------------------------------------

// Settled: total RSS within 1% over 5 one-second samples (at most 60 s); returns the wait in s.
async function settle(...roots) {
  const from = Date.now();
  const totals = [];
  while (Date.now() - from < 60_000) {
    await sleep(1000);
    totals.push(sum(snapshot(...roots), "rss_kb"));
    const last = totals.slice(-5);
    if (last.length === 5 && Math.max(...last) - Math.min(...last) < 0.01 * Math.max(...last)) break;
  }
  return (Date.now() - from) / 1000;
}

const usage = (procs, settle_s) => ({
  settle_s,
  processes: procs,
  total_rss_kb: sum(procs, "rss_kb"),
  total_pss_kb: sum(procs, "pss_kb"),
});

// The first rows of a page under WebDriver: ms since epoch (a MutationObserver's time, or the
// first look's when they were already there).
async function firstRowsAt(h) {
  const first = await h.browser.execute((sel) => (document.querySelector(sel) ? Date.now() : null), ROW);
  if (first) return first;
  await h.browser.execute(installObserver);
  return waitFor(() => h.browser.execute(() => window.__bench.firstRow), { timeout: 60_000, interval: 20, message: "a row" });
}

// Idle memory of every Baton process with the window open; then the window closed (its
// process ends: the runner alone holds the engine); then the tray's Show, timed until the
// window it starts is on screen; then a window's first rows timed from its launch, as Show's
// window does the same work (the runner starts it with one spawn), and the memory again.
async function memory(app, dataDir) {
  const h = await launch(app, dataDir);
  try {
    await waitFor(() => h.browser.execute((s) => !!document.querySelector(s), ROW), { timeout: 60_000, interval: 200, message: "a row" });
    const count = await h.browser.execute(() => document.querySelector('[data-testid="count-all"]')?.textContent?.trim());
    const runner = await runnerOf(dataDir);
    const open = usage(snapshot(h.pid, runner), await settle(h.pid, runner));
    log("window open", open.total_rss_kb, "kB RSS");

    await closeWindow(h.pid);
    await waitFor(() => !alive(h.pid), { timeout: 15_000, message: "the window's process to end" });
    const closed = usage(snapshot(runner), await settle(runner));
    log("window closed", closed.total_rss_kb, "kB RSS");

    // The tray's menu is found first, so the timing below holds only the click.
    const menu = await trayMenu(runner);
    const show = (await trayItems(menu)).find((i) => i.label === "Show Baton");
    const clickedAt = Date.now();
    await activate(menu, show);
    const shown = await waitFor(() => windowProcesses(runner)[0], { interval: 5, message: "Show to start a window" });
    const startedAt = Date.now();
    await waitForWindow(shown, "shown", 30_000);
    const mappedAt = Date.now();
    await closeWindow(shown);
    await waitFor(() => !alive(shown), { timeout: 15_000, message: "the shown window to end" });

    const again = await launch(app, dataDir);
    try {
      const rowsAt = await firstRowsAt(again);
      const marks = await again.browser.execute(() => ({
        origin: performance.timeOrigin,
        marks: Object.fromEntries(performance.getEntriesByType("mark").map((m) => [m.name.replace("baton:", ""), m.startTime])),
      }));
      const reopen_steps = { page_origin: r1(marks.origin - again.launchMs) };
      for (const [k, v] of Object.entries(marks.marks)) reopen_steps[k] = r1(marks.origin + v - again.launchMs);
      const reopened = usage(snapshot(again.pid, runner), await settle(again.pid, runner));
      return {
        app,
        count_all: count,
        window_open: open,
        window_closed: closed,
        show_click_to_window_process_ms: startedAt - clickedAt,
        show_click_to_window_mapped_ms: mappedAt - clickedAt,
        launch_to_rows_ms: r1(rowsAt - again.launchMs),
        reopen_steps,
        reopened,
      };
    } finally {
      await again.close();
    }
  } finally {
    await h.close();
  }
}

// Starts the runner without WebDriver, as a user's login does (`--hidden`, its own config
// directory), calls `body({ pid, lines })` (`lines()`: the log lines since the start), then
// quits it with SIGTERM (its windows close with it).
async function unattended(app, dataDir, body) {
  const before = logSizes(dataDir);
  const config = mkdtempSync(join(tmpdir(), "baton-bench-config-"));
  const child = spawn(join(dirname(app), "baton-tray"), ["--hidden"], {
    stdio: "ignore",
    env: { ...process.env, BATON_DATA_DIR: dataDir, XDG_CONFIG_HOME: config },
  });
  const exited = new Promise((r) => child.on("exit", r));
  current = { kill: (sig) => child.kill(sig) };
  try {
    return await body({ pid: child.pid, lines: () => logSince(dataDir, before) });
  } finally {
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(15_000)]);
    current = undefined;
    rmSync(config, { recursive: true, force: true });
  }
}

// The same without WebDriver, as a user runs the app: the runner started as at login, its
// tray's Show, the window closed, Show again. No page access, so "open" means the page has
// loaded and the catalog holds every task (the log), then memory has settled; "shown" is the
// X window mapped.
async function tray(app, dataDir) {
  return unattended(app, dataDir, async ({ pid, lines }) => {
    const seen = (text, n = 1) => lines().filter((line) => text.test(line)).length >= n;
    await waitFor(() => seen(/task list loaded/), { timeout: 60_000, message: "the catalog loaded" });
    const menu = await trayMenu(pid);
    const show = (await trayItems(menu)).find((i) => i.label === "Show Baton");
    await activate(menu, show);
    const window = await waitFor(() => windowProcesses(pid)[0], { message: "Show to start a window" });
    await waitFor(() => seen(/page load.*event=Finished/), { timeout: 60_000, message: "the page loaded" });
    const open = usage(snapshot(pid), await settle(pid));
    log("tray: window open", open.total_rss_kb, "kB RSS");
    await closeWindow(window);
    await waitFor(() => !alive(window) && webProcesses(pid).length === 0, { timeout: 15_000, message: "the window and its webview to end" });
    const closed = usage(snapshot(pid), await settle(pid));
    log("tray: window closed", closed.total_rss_kb, "kB RSS");
    const clickedAt = Date.now();
    await activate(menu, show);
    const again = await waitFor(() => windowProcesses(pid)[0], { interval: 5, message: "Show to start a window" });
    await waitForWindow(again, "shown", 30_000);
    const mappedAt = Date.now();
    await waitFor(() => seen(/page load.*event=Finished/, 2), { timeout: 30_000, message: "the new page loaded" });
    const loadedAt = Date.now();
    return { app, window_open: open, window_closed: closed, show_to_window_mapped_ms: mappedAt - clickedAt, show_to_page_loaded_ms: loadedAt - clickedAt };
  });
}

// The runner started in the tray (`--hidden`, as start at login does) and never shown: no
// window was ever made; once the catalog holds every task, this is its floor.
async function hidden(app, dataDir) {
  return unattended(app, dataDir, async ({ pid, lines }) => {
    await waitFor(() => lines().some((line) => /task list loaded/.test(line)), { timeout: 60_000, message: "the catalog loaded" });
    await trayMenu(pid); // the tray icon is up
    const idle = usage(snapshot(pid), await settle(pid));
    log("hidden: never shown", idle.total_rss_kb, "kB RSS");
    return { app, never_shown: idle };
  });
}

// The app's log (data dir/logs) marks its start-up milestones; each line begins with an
// RFC 3339 UTC time with µs. Returns the lines written since `from` (bytes per file).
const logDir = (dataDir) => join(dataDir, "logs");
function logSizes(dataDir) {
  const dir = logDir(dataDir);
  if (!existsSync(dir)) return {};
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).length]));
}
function logSince(dataDir, from) {
  const dir = logDir(dataDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => readFileSync(join(dir, f)).subarray(from[f] ?? 0).toString("utf8").split("\n"));
}
const MILESTONES = {
  main: /starting Baton's window/,
  runner: /starting Baton's runner/,
  engine: /engine started/,
  window: /window started/,
  page_started: /page load.*event=Started/,
  page_finished: /page load.*event=Finished/,
  task_list_loaded: /task list loaded/,
};
// ms after launch of each milestone's first line.
function milestones(lines, launchMs) {
  const out = {};
  for (const line of lines) {
    const at = line.match(/^(\S+?)(\.\d+)?Z\s/);
    if (!at) continue;
    const ms = Date.parse(`${at[1]}Z`) + Number(`0${at[2] ?? ""}`) * 1000;
    for (const [k, text] of Object.entries(MILESTONES)) if (out[k] === undefined && text.test(line)) out[k] = r1(ms - launchMs);
  }
  return out;
}

// One cold start: launch -> the first task row, with the app's and the page's milestones.
async function coldstartOnce(app, dataDir, run) {
  const before = logSizes(dataDir);
  const h = await launch(app, dataDir);
  let r;
  try {
    const first = await h.browser.execute((s) => ({ row: !!document.querySelector(s), now: Date.now(), origin: performance.timeOrigin }), ROW);
    let upperBound = false;
    let rowAt;
    if (first.row) {
      upperBound = true; // already rendered when the first WebDriver call ran
      rowAt = first.now;
    } else {
      await h.browser.execute(installObserver);
      rowAt = await waitFor(() => h.browser.execute(() => window.__bench.firstRow), { timeout: 60_000, interval: 20, message: "a row" });
    }
    // Navigation timing, relative to the page's time origin.
    const nav = await h.browser.execute(() => {
      const n = performance.getEntriesByType("navigation")[0]?.toJSON() ?? {};
      // The UI's own marks (baton:script, baton:subscribed, baton:first-page).
      const marks = Object.fromEntries(performance.getEntriesByType("mark").map((m) => [m.name.replace("baton:", ""), m.startTime]));
      return { response_end: n.responseEnd, dom_content_loaded: n.domContentLoadedEventEnd, load: n.loadEventEnd, ...marks };
    });
    const origin = first.origin - h.launchMs;
    r = {
      run,
      launch_to_row_ms: r1(rowAt - h.launchMs),
      upper_bound: upperBound,
      launch_to_page_origin_ms: r1(origin),
      launch_to_session_ms: r1(h.sessionAtMs - h.launchMs),
      page: Object.fromEntries(Object.entries(nav).map(([k, v]) => [k, v ? r1(origin + v) : null])),
    };
  } finally {
    await h.close();
  }
  r.app = milestones(logSince(dataDir, before), h.launchMs);
  log("coldstart", dataDir, JSON.stringify(r));
  return r;
}

// `dataDirs`: one directory, or "MEASURED,BASELINE": then the two alternate run by run (so
// both see the same machine load) and the result has the ratio of their medians.
async function coldstart(app, dataDirs, runs) {
  const dirs = dataDirs.split(",");
  const out = dirs.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, dir] of dirs.entries()) out[k].push(await coldstartOnce(app, dir, i + 1));
  }
  const median = (rs) => pct(rs.map((r) => r.launch_to_row_ms), 50);
  const result = { app, runs: out[0], median_launch_to_row_ms: median(out[0]) };
  if (dirs.length === 2) {
    result.baseline = { data_dir: dirs[1], runs: out[1], median_launch_to_row_ms: median(out[1]) };
    result.ratio_to_baseline = Math.round((median(out[0]) / median(out[1])) * 100) / 100;
  }
  return result;
}

// The data directory holds tasks scheduled a few seconds ahead (scripts/bench-desktop.sh makes
// them), so the engine alone moves them scheduled -> queued -> running -> completed while the
// window is open; nothing drives the UI during the measurement. Afterwards the engine's own
// timestamps (started_at, finished_at) are read back with the CLI's export.
async function latency(app, dataDir, _n, cli) {
  const h = await launch(app, dataDir);
  let seen, viewport;
  try {
    await waitFor(() => h.browser.execute((s) => !!document.querySelector(s), ROW), { timeout: 60_000, message: "a row" });
    // A tall window, so the virtualized list renders every row (Xvfb's screen is made tall
    // too); LATENCY_HEIGHT=800 measures an ordinary window instead, and only the rows it shows.
    const height = Number(process.env.LATENCY_HEIGHT ?? 15000);
    await h.browser.setWindowSize(1280, height).catch((e) => log(`setWindowSize: ${e.message}`));
    await h.browser.execute(installObserver);
    viewport = await h.browser.execute((s) => ({ h: innerHeight, rows: document.querySelectorAll(s).length }), ROW);
    log("viewport", JSON.stringify(viewport));
    await waitFor(
      () => h.browser.execute(() => document.querySelector('[data-testid="count-completed"]')?.textContent?.match(/\d+/)?.[0] === String(document.querySelector('[data-testid="count-all"]')?.textContent?.match(/\d+/)?.[0])),
      { timeout: 120_000, interval: 500, message: "every task completed" },
    ).catch((e) => log(e.message));
    await sleep(300);
    seen = await h.browser.execute(() => ({ dom: window.__bench.dom, frame: window.__bench.frame }));
  } finally {
    await h.close();
  }
  const file = join(tmpdir(), `baton-bench-export-${process.pid}.json`);
  // The app may still be closing its database for a moment after its window went away.
  const exportOnce = () =>
    new Promise((res) => spawn(cli, ["--data-dir", dataDir, "export", "--out", file], { stdio: "ignore" }).on("exit", (c) => res(c === 0)));
  await waitFor(exportOnce, { timeout: 30_000, interval: 500, message: "baton export (the app still holds the database)" });
  const tasks = JSON.parse(readFileSync(file, "utf8")).tasks;
  rmSync(file, { force: true });
  // RFC 3339 with ns -> ms since epoch with sub-ms fraction.
  const ms = (s) => (s ? Date.parse(s) + Number(`0.${(s.match(/\.\d{3}(\d*)Z$/)?.[1] ?? "") || "0"}`) : null);
  const d = { running: [], completed: [], completed_frame: [] };
  const missing = { running: 0, completed: 0 };
  for (const task of tasks) {
    const dom = seen.dom[task.id] ?? {};
    if (dom.running !== undefined && task.started_at) d.running.push(dom.running - ms(task.started_at));
    else missing.running++;
    if (dom.completed !== undefined && task.finished_at) {
      d.completed.push(dom.completed - ms(task.finished_at));
      const f = seen.frame[`${task.id} completed`];
      if (f !== undefined) d.completed_frame.push(f - ms(task.finished_at));
    } else missing.completed++;
  }
  const res = { app, tasks: tasks.length, viewport, missing };
  for (const [k, xs] of Object.entries(d)) res[k] = Object.fromEntries(Object.entries(stats(xs)).map(([a, b]) => [a, r1(b)]));
  return res;
}

const [mode, app, dataDir, arg, cli] = process.argv.slice(2);
const fn = { memory, tray, hidden, coldstart, latency }[mode];
if (!fn) {
  console.error("usage: node e2e/bench-desktop.mjs memory|tray|hidden|coldstart|latency <app> <data-dir> [runs] [baton-cli]");
  process.exit(2);
}
const result = await fn(app, dataDir, Number(arg || 5), cli);
console.log(JSON.stringify(result, null, 2));
process.exit(0);

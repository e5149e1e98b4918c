// Starts the real desktop app under tauri-driver for one test and takes it all down again.
//
// Each launch gets its own run directory (driver log, the wrapper's pid and exit files) and,
// unless the test passes one, a fresh data directory (BATON_DATA_DIR) inside it. The app is
// started through a small wrapper script so the test knows its pid and, after it exits, its
// exit status: WebKitWebDriver is the app's parent and would otherwise swallow both.

import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { join, resolve } from "node:path";
import { remote } from "webdriverio";

export const ROOT = resolve(import.meta.dirname, "..");
export const APP = join(ROOT, "target/debug/baton-desktop");
/** The runner (engine, tray, notifications) the window starts, beside it. */
export const RUNNER = join(ROOT, "target/debug/baton-tray");
const DRIVER = join(ROOT, ".tools/bin/tauri-driver");
const NATIVE_DRIVER = "/usr/bin/WebKitWebDriver";

// Waits for the app's window and first page; a cold WebKit start on 2 cores takes a few seconds.
const SESSION_TIMEOUT_MS = 30_000;

const WRAPPER = `#!/bin/sh
# Runs the app, recording its pid and, once it exits, its exit status.
"$BATON_E2E_APP" "$@" &
app=$!
echo "$app" > "$BATON_E2E_RUN/app.pid"
trap 'kill -TERM "$app" 2>/dev/null' TERM INT HUP
while :; do
  wait "$app"
  code=$?
  # A trapped signal interrupts wait; the app is then still alive (or a zombie) and is
  # waited for again, so the status written is the app's own.
  kill -0 "$app" 2>/dev/null || break
done
echo "$code" > "$BATON_E2E_RUN/app.exit"
`;

/** Launched apps and started runners not yet closed, so a crashing test file still takes them down. */
const live = new Set();
const liveRunners = new Set();
process.on("exit", () => {
  for (const app of live) app.killNow();
  for (const runner of liveRunners) {
    try {
      process.kill(runner.pid, "SIGKILL");
    } catch {}
  }
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => process.exit(130));
}

/** Polls `check` until it returns a truthy value (which is returned) or `timeout` ms pass. */
export async function waitFor(check, { timeout = 10_000, interval = 100, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${message} (last: ${last})`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

function accepts(port) {
  return new Promise((r) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.end();
      r(true);
    });
    socket.once("error", () => r(false));
  });
}

/** State and process group of `pid` from /proc, or undefined once it has gone. */
function procStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After "(comm)": state, ppid, pgrp, ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state, pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live process (a zombie counts as gone). */
export function alive(pid) {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== "Z";
}

/** Whether any live process is left in process group `pgid`. */
function groupAlive(pgid) {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .some((pid) => {
      const stat = procStat(pid);
      return stat !== undefined && stat.pgrp === pgid && stat.state !== "Z";
    });
}

/** A temporary directory removed when the test ends (kept when E2E_KEEP is set). */
export function tempDir(t, prefix = "baton-e2e-") {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => {
    if (!process.env.E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/**
 * Starts tauri-driver and a WebDriver session on the app. `dataDir`: reuse a data directory
 * (the caller owns it); otherwise a fresh one is made and removed on close. `app`: another
 * binary (an installed package's); `env`: more environment for the app.
 */
export async function launch({ dataDir, app: binary = APP, env = {} } = {}) {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: build it with scripts/e2e.sh`);
  const runDir = mkdtempSync(join(tmpdir(), "baton-e2e-run-"));
  dataDir ??= join(runDir, "data");
  const wrapper = join(runDir, "baton-desktop");
  writeFileSync(wrapper, WRAPPER, { mode: 0o755 });

  const [port, nativePort] = [await freePort(), await freePort()];
  const log = openSync(join(runDir, "driver.log"), "a");
  // Its own process group, so close() can end the driver, WebKitWebDriver, the wrapper and
  // the app together by the group's id.
  const driver = spawn(DRIVER, ["--port", port, "--native-port", nativePort, "--native-driver", NATIVE_DRIVER], {
    detached: true,
    stdio: ["ignore", log, log],
    env: {
      ...process.env,
      BATON_DATA_DIR: dataDir,
      ...env,
      BATON_E2E_APP: binary,
      BATON_E2E_RUN: runDir,
      // No "start at login" or notification surprises from a developer's own settings.
      XDG_CONFIG_HOME: join(runDir, "config"),
    },
  });
  closeSync(log);

  const app = new App({ runDir, dataDir, driver });
  live.add(app);
  try {
    // tauri-driver listens before the WebKitWebDriver it started does; a session request in
    // between fails, so wait for both.
    await waitFor(async () => (await accepts(port)) && (await accepts(nativePort)), {
      message: `tauri-driver on port ${port} and WebKitWebDriver on port ${nativePort}`,
    });
    app.browser = await remote({
      hostname: "127.0.0.1",
      port,
      // "warn" would report every stale element webdriverio retries: rows re-render on events.
      logLevel: "error",
      connectionRetryTimeout: SESSION_TIMEOUT_MS,
      connectionRetryCount: 0,
      waitforTimeout: 10_000,
      capabilities: { "tauri:options": { application: wrapper } },
    });
    app.pid = await waitFor(() => app.readNumber("app.pid"), { message: "the app's pid" });
  } catch (error) {
    await app.dump();
    await app.close();
    throw error;
  }
  return app;
}

/**
 * A test with its own app on a fresh data directory: `body(app, t)`. The app is closed
 * whatever happens; on failure the driver's and the app's logs are printed first.
 */
export function appTest(name, body, { timeout = 60_000 } = {}) {
  test(name, { timeout }, async (t) => {
    const app = await launch();
    try {
      await body(app, t);
    } catch (error) {
      await app.dump(name);
      throw error;
    } finally {
      await app.close();
    }
  });
}

/** The pid of the runner serving `dataDir`, from its lock file, once it is alive. */
export function runnerOf(dataDir, timeout = 15_000) {
  return waitFor(
    () => {
      try {
        const pid = Number(readFileSync(join(dataDir, "runner.lock"), "utf8").trim());
        return pid && alive(pid) ? pid : undefined;
      } catch {
        return undefined;
      }
    },
    { timeout, message: `a runner serving ${dataDir}` },
  );
}

/**
 * Starts the runner on `dataDir` as start at login does (`--hidden`: no window), in its own
 * process group; `stop()` sends SIGTERM and resolves to its exit status.
 */
export function startRunner({ dataDir, env = {} }) {
  const child = spawn(RUNNER, ["--hidden"], {
    detached: true,
    env: { ...process.env, BATON_DATA_DIR: dataDir, XDG_CONFIG_HOME: join(dataDir, "config"), ...env },
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
  const runner = {
    pid: child.pid,
    exited,
    async stop() {
      try {
        process.kill(child.pid, "SIGTERM");
      } catch {}
      return exited;
    },
  };
  liveRunners.add(runner);
  exited.then(() => liveRunners.delete(runner));
  return runner;
}

/** Where a failing test leaves its screenshot and page (target/ is ignored by git). */
export const ARTIFACTS = join(ROOT, "target/e2e-failures");

export class App {
  /** @type {import("webdriverio").Browser} */
  browser;
  pid;
  #closed = false;

  constructor({ runDir, dataDir, driver }) {
    this.runDir = runDir;
    this.dataDir = dataDir;
    this.driver = driver;
  }

  readNumber(file) {
    try {
      const text = readFileSync(join(this.runDir, file), "utf8").trim();
      return text === "" ? undefined : Number(text);
    } catch {
      return undefined;
    }
  }

  /** The app's exit status once it has exited, else undefined. */
  exitCode() {
    return this.readNumber("app.exit");
  }

  /** Waits for the app to exit and returns its exit status. */
  waitForExit(timeout = 20_000) {
    return waitFor(() => this.exitCode() !== undefined, { timeout, message: "the app to exit" }).then(() =>
      this.exitCode(),
    );
  }

  /** The runner's pid, which it writes in its lock file (the window started it). */
  runnerPid(timeout = 15_000) {
    return runnerOf(this.dataDir, timeout);
  }

  /** The app's own log files (<data dir>/logs), concatenated. */
  appLog() {
    const dir = join(this.dataDir, "logs");
    if (!existsSync(dir)) return "";
    return readdirSync(dir)
      .sort()
      .map((f) => readFileSync(join(dir, f), "utf8"))
      .join("");
  }

  /**
   * For a failing test: prints the driver's and the app's logs and, given the test's name,
   * saves a screenshot and the page's HTML under ARTIFACTS.
   */
  async dump(name) {
    if (name && this.browser) {
      const base = join(ARTIFACTS, name.replace(/[^a-z0-9]+/gi, "-").slice(0, 80));
      mkdirSync(ARTIFACTS, { recursive: true });
      const html = await this.browser.execute(() => document.documentElement.outerHTML).catch((e) => `${e}`);
      writeFileSync(`${base}.html`, html);
      await this.browser.saveScreenshot(`${base}.png`).catch(() => {});
      console.error(`e2e: page and screenshot in ${base}.{html,png}`);
    }
    const tail = (text, n = 80) => text.split("\n").slice(-n).join("\n");
    const driverLog = existsSync(join(this.runDir, "driver.log")) ? readFileSync(join(this.runDir, "driver.log"), "utf8") : "";
    console.error(`--- tauri-driver, WebKitWebDriver and app stderr (${this.runDir}) ---\n${tail(driverLog)}`);
    console.error(`--- app log (${this.dataDir}/logs) ---\n${tail(this.appLog())}`);
  }

  /** Synchronous last resort (process exit): kill the whole group at once. */
  killNow() {
    for (const pid of [-this.driver.pid, this.pid]) {
      try {
        if (pid) process.kill(pid, "SIGKILL");
      } catch {}
    }
  }

  /**
   * Ends the session, the driver and the app (gracefully, then by force), and removes the
   * run directory. Safe to call twice and after the app has exited on its own.
   */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    if (this.browser) {
      // Bounded: after the app quit on its own the driver may take long to notice.
      let timer;
      const bound = new Promise((r) => (timer = setTimeout(r, 10_000)));
      await Promise.race([this.browser.deleteSession().catch(() => {}), bound]);
      clearTimeout(timer);
    }
    try {
      process.kill(-this.driver.pid, "SIGTERM");
    } catch {}
    // The group holds the driver, WebKitWebDriver, the wrapper, the app and its WebKit
    // helper processes; the app is checked by pid as well in case it left the group.
    const stopped = async () => !groupAlive(this.driver.pid) && !(this.pid && alive(this.pid));
    try {
      await waitFor(stopped, { timeout: 5_000, message: "the driver and the app to stop" });
    } catch {
      this.killNow();
      await waitFor(stopped, { timeout: 5_000, message: "the driver and the app to die" }).catch((e) =>
        console.error(`e2e: ${e.message}`),
      );
    }
    live.delete(this);
    if (!process.env.E2E_KEEP) rmSync(this.runDir, { recursive: true, force: true });
  }
}

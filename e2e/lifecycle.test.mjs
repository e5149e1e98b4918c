// The app's life outside its window: closing the window destroys it and its webview while the
// engine keeps working; the tray (driven over D-Bus, as a panel does) makes it again and quits.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { attachToWindow, clickTray, closeWindow, trayMenu, waitForWindow, webProcesses, windowState } from "./desktop.mjs";
import { alive, APP, appTest, launch, tempDir, waitFor } from "./harness.mjs";
import { createTask, rows, waitForApp, waitForRow } from "./ui.mjs";

/** The engine's log line for a task's attempt that ended in `status`. */
function finished(log, id, status) {
  // Span fields can carry terminal colour codes even in the file; they are not part of the text.
  const plain = log.replace(/\x1b\[[0-9;]*m/g, "");
  return plain.split("\n").some((line) => line.includes(`task_id=${id}`) && line.includes("attempt finished") && line.includes(`status=${status}`));
}

appTest("closing the window destroys it and its webview, the engine keeps working, and the tray's Show makes it again", async (app) => {
  const { browser, pid } = app;
  await waitForApp(browser);
  await waitForWindow(pid, "shown");
  assert.notEqual(webProcesses(pid).length, 0, "no WebKit web process found while the window is open");

  // Long enough to still be running when the window closes, even on a loaded machine
  // (1.5 s was seen to finish before the row was first read, once, in CI).
  await createTask(browser, { name: "e2e background", prompt: "work while closed", model: "sleep=5000" });
  const row = await waitForRow(browser, "e2e background");
  assert.notEqual(row.status, "completed", "the task finished before the window was closed");

  // A real close request, as from a title bar (WebDriver's close-window does not reach
  // Tauri's CloseRequested: it only closes the page).
  await closeWindow(pid);
  assert.ok(alive(pid), "the app exited when its window was closed");
  await waitFor(() => webProcesses(pid).length === 0, { timeout: 10_000, message: "the webview's process to exit" });

  // Evidence from outside the window: the engine's own log says the attempt completed.
  await waitFor(() => finished(app.appLog(), row.id, "completed"), { timeout: 15_000, message: "the engine to log the task completed" });
  assert.equal(await windowState(pid), "missing", "a window came back by itself");

  await clickTray(pid, "Show Baton");
  await waitForWindow(pid, "shown");
  // A new page, which loaded the list from the engine as at first start.
  await attachToWindow(browser);
  await waitForRow(browser, "e2e background", "completed");
  assert.ok(alive(pid), "the app exited");
});

/** redb's header flag "recovery required": set while the file is open for writing, cleared on a clean close. */
function recoveryRequired(dbPath) {
  const fd = openSync(dbPath, "r");
  try {
    const header = Buffer.alloc(10);
    readSync(fd, header, 0, 10, 0);
    assert.equal(header.subarray(0, 4).toString(), "redb", `${dbPath} is not a redb file`);
    // Byte 9 is redb's "god byte"; bit 1 is RECOVERY_REQUIRED (redb 4, header.rs).
    return (header[9] & 0b10) !== 0;
  } finally {
    closeSync(fd);
  }
}

test("Quit in the tray exits 0 with the database closed, and the next start finds the tasks", { timeout: 90_000 }, async (t) => {
  const dataDir = tempDir(t);

  const first = await launch({ dataDir });
  try {
    await waitForApp(first.browser);
    await createTask(first.browser, { name: "e2e kept", prompt: "remember me", model: "echo" });
    await waitForRow(first.browser, "e2e kept", "completed");

    await clickTray(first.pid, "Quit");
    assert.equal(await first.waitForExit(), 0, "exit status of the app after Quit");
  } catch (error) {
    await first.dump("quit first run");
    throw error;
  } finally {
    await first.close();
  }
  // Read before the next start reopens (and, if needed, repairs) the file.
  const dirty = recoveryRequired(join(dataDir, "baton.redb"));

  const second = await launch({ dataDir });
  try {
    await waitForApp(second.browser);
    const row = await waitForRow(second.browser, "e2e kept", "completed");
    assert.equal((await rows(second.browser)).length, 1);
    assert.ok(!second.appLog().includes("recovered a task interrupted"), "the engine recovered interrupted tasks");
    assert.ok(row.id);
  } catch (error) {
    await second.dump("quit second run");
    throw error;
  } finally {
    await second.close();
  }

  assert.equal(dirty, false, "baton.redb was left marked 'recovery required': the app exited without closing the database");
});

test("SIGTERM quits like Quit: a running task is requeued and the database is closed", { timeout: 90_000 }, async (t) => {
  const dataDir = tempDir(t);

  const first = await launch({ dataDir });
  try {
    await waitForApp(first.browser);
    await createTask(first.browser, { name: "e2e term", prompt: "long", model: "sleep=60000" });
    await waitForRow(first.browser, "e2e term", "running");

    process.kill(first.pid, "SIGTERM");
    assert.equal(await first.waitForExit(), 0, "exit status of the app after SIGTERM");
  } catch (error) {
    await first.dump("sigterm first run");
    throw error;
  } finally {
    await first.close();
  }
  const dirty = recoveryRequired(join(dataDir, "baton.redb"));

  const second = await launch({ dataDir });
  try {
    await waitForApp(second.browser);
    // The interrupted attempt was handed back at shutdown, not found by crash recovery.
    await waitForRow(second.browser, "e2e term", "running");
    assert.ok(!second.appLog().includes("recovered a task interrupted"), "the engine recovered interrupted tasks");
  } catch (error) {
    await second.dump("sigterm second run");
    throw error;
  } finally {
    await second.close();
  }

  assert.equal(dirty, false, "baton.redb was left marked 'recovery required': SIGTERM stopped the app without closing the database");
});

test("started with --hidden (as at login), the app runs in the tray with no window or webview until Show", { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t);
  // No WebDriver: its session needs a page from the start. The binary itself, as the
  // autostart entry runs it.
  const app = spawn(APP, ["--hidden"], {
    env: { ...process.env, BATON_DATA_DIR: dataDir, XDG_CONFIG_HOME: join(dataDir, "config") },
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => app.on("exit", (code) => resolve(code)));
  try {
    // The tray is up and the engine has started, and still no window.
    await trayMenu(app.pid);
    const log = () => readdirSync(join(dataDir, "logs")).map((f) => readFileSync(join(dataDir, "logs", f), "utf8")).join("");
    await waitFor(() => log().includes("engine started"), { message: "the engine to start" });
    assert.equal(await windowState(app.pid), "missing", "a window was made at start");
    assert.deepEqual(webProcesses(app.pid), [], "a webview was made at start");

    await clickTray(app.pid, "Show Baton");
    await waitForWindow(app.pid, "shown");
    await waitFor(() => webProcesses(app.pid).length > 0, { message: "the webview's process" });
  } finally {
    app.kill("SIGTERM");
    assert.equal(await exited, 0, "exit status after SIGTERM");
  }
});

appTest("a second launch shows the running app's window and exits", async (app) => {
  const { browser, pid } = app;
  await waitForApp(browser);
  await closeWindow(pid);

  // As a person would: the same binary again, on the same display and session bus.
  const second = spawn(APP, [], {
    env: { ...process.env, BATON_DATA_DIR: app.dataDir, XDG_CONFIG_HOME: join(app.runDir, "config") },
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => second.on("exit", (code, signal) => resolve({ code, signal })));
  const outcome = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve(null), 20_000))]);
  if (outcome === null) second.kill("SIGKILL");
  assert.deepEqual(outcome, { code: 0, signal: null }, "the second launch did not hand over and exit");

  await waitForWindow(pid, "shown");
  assert.ok(alive(pid), "the first instance exited");
});

test("a database Baton cannot open still gets a window that says why, and the file is left alone", { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t);
  const foreign = "these bytes are not a Baton database\n";
  writeFileSync(join(dataDir, "baton.redb"), foreign);

  const app = await launch({ dataDir });
  try {
    const shown = await waitFor(
      () => app.browser.execute(() => document.querySelector('[data-testid="error-state"]')?.textContent),
      { timeout: 20_000, message: "the list's error state" },
    );
    assert.match(shown, /Baton could not open its database: .*baton\.redb is not a Baton database/);
    const engine = await waitFor(
      () => app.browser.execute(() => document.querySelector('[data-testid="engine-unavailable"]')?.textContent),
      { message: "the top bar to say the engine is unavailable" },
    );
    assert.equal(engine.trim(), "Engine unavailable");
    assert.ok(alive(app.pid), "the app exited instead of showing the error");
  } catch (error) {
    await app.dump("foreign database");
    throw error;
  } finally {
    await app.close();
  }
  assert.equal(readFileSync(join(dataDir, "baton.redb"), "utf8"), foreign, "the foreign file was changed");
});

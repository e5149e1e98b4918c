// A finished task's desktop notification carries the first lines of its answer, and a click on
// it (the server's ActionInvoked "default") opens that task in the window, also after the window
// was closed to the tray. The runner sends them and hears the clicks. The notification server is a stand-in on a private session bus
// (notifications.py), which the app gets as its DBUS_SESSION_BUS_ADDRESS.

import assert from "node:assert/strict";
import { test } from "node:test";
import { closeWindow, waitForWindow, windowProcesses } from "./desktop.mjs";
import { launch, waitFor } from "./harness.mjs";
import { notificationServer } from "./notifications.mjs";
import { createTask, waitForApp, waitForRow } from "./ui.mjs";

/** Waits until the detail shows the task with id `id` (its own content, not the previous
 * task's while the new one loads), selected in the list. */
async function waitForDetailOf(browser, id, timeout = 15_000) {
  let seen;
  try {
    await browser.waitUntil(
      async () => {
        seen = await browser.execute(() => ({
          selected: document.querySelector('[data-testid="task-row"][aria-selected="true"]')?.getAttribute("data-task-id") ?? null,
          shown: document.querySelector('[data-testid="task-detail"]')?.getAttribute("data-task-id") ?? null,
          prompt: document.querySelector('[data-testid="task-detail"] [data-testid="detail-prompt"]')?.textContent ?? null,
        }));
        return seen.selected === id && seen.shown === id && seen.prompt !== null;
      },
      { timeout },
    );
  } catch (error) {
    throw new Error(`the detail never showed task ${id} (last seen: ${JSON.stringify(seen)}): ${error.message}`);
  }
  return seen;
}

const ENTER = "\uE007";

const NAME = "a click on a finished task's notification opens that task, also after the window was closed to the tray";

test(NAME, { timeout: 120_000 }, async (t) => {
  const server = await notificationServer(t);
  const app = await launch({ env: { DBUS_SESSION_BUS_ADDRESS: server.address } });
  try {
    const { browser, pid } = app;
    await waitForApp(browser);

    // Lines typed with the Enter key (WebDriver's U+E007): WebKit's driver drops a "\n".
    const prompt = ["first line", "second line", "third line", "fourth line"].join(ENTER);
    await createTask(browser, { name: "e2e notified", prompt, model: "echo" });
    const notified = await waitForRow(browser, "e2e notified", "completed");
    const shown = await server.notified((n) => n.summary === "Task completed: e2e notified");
    assert.equal(shown.body, "echo: first line\nsecond line\nthird line…", "the body is the answer's first lines");
    assert.ok(shown.actions.includes("default"), `no default action, so no click is reported: ${JSON.stringify(shown.actions)}`);

    // Creating a task opens its detail: with another one shown, only the click can open the first.
    await createTask(browser, { name: "e2e other", prompt: "something else", model: "echo" });
    const other = await waitForRow(browser, "e2e other", "completed");
    await waitForDetailOf(browser, other.id);

    await server.invoke(shown.id, "default");
    const detail = await waitForDetailOf(browser, notified.id);
    assert.match(detail.prompt, /first line/);

    // Closed to the tray: the click starts a window, and its new page takes the request (the
    // runner logs that it handed it over; what the page does with it is checked above).
    const runner = await app.runnerPid();
    await createTask(browser, { name: "e2e while closed", prompt: "done in the tray", model: "sleep=3000" });
    const closed = await waitForRow(browser, "e2e while closed");
    await closeWindow(pid);
    assert.equal(await app.waitForExit(), 0, "exit status of the closed window's process");
    const later = await server.notified((n) => n.summary === "Task completed: e2e while closed", 20_000);
    assert.equal(later.body, "echo: done in the tray");
    await server.invoke(later.id, "default");
    const started = await waitFor(() => windowProcesses(runner)[0], { message: "the click to start a window" });
    await waitForWindow(started, "shown");
    await waitFor(() => app.appLog().split("\n").some((l) => l.includes("a page took the open request") && l.includes(closed.id)), {
      timeout: 20_000,
      message: "the new window's page to take the click's request",
    });
  } catch (error) {
    await app.dump(NAME);
    throw error;
  } finally {
    await app.close();
  }
});

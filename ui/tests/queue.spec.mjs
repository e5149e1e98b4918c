// Settings → Shared queue: the URL is checked with one sentence, a typed password is sent once
// and only ever shown as "saved", the "run tasks on this computer" switch, an unreachable
// database leaves the app where it was, and the top bar names the queue and its live runners.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, until, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const URL = "postgres://baton@db.example:5432/baton";
const PASSWORD = "pg-secret-DO-NOT-SHOW-42";

async function openQueueTab(page) {
  await page.getByRole("button", { name: "Settings" }).click();
  await byTestId(page, "settings-tab-queue").click();
  const form = byTestId(page, "queue-settings");
  await form.waitFor();
  return form;
}

describe("shared queue settings", () => {
  it("says in one sentence that a URL is not PostgreSQL's and sends nothing", async () => {
    const page = await app.open();
    const form = await openQueueTab(page);
    await form.locator('[name="queue-url"]').fill("db.example:5432/baton");
    await form.locator('[name="queue-password"]').fill(PASSWORD);
    await byTestId(page, "queue-save").click();
    await hasText(byTestId(page, "error-url"), "The URL must be a PostgreSQL URL such as postgres://baton@db.example:5432/baton.");
    assert.deepEqual(await callsOf(page, "use_shared_queue", 0), []);
    // What only the engine can tell (no user in the URL) comes back next to the field too.
    await form.locator('[name="queue-url"]').fill("postgres://db.example/baton");
    await fake(page, "failNext", "use_shared_queue", "invalid_input", "The URL must name a user and a host, as in postgres://baton@db.example:5432/baton.", "url");
    await byTestId(page, "queue-save").click();
    await hasText(byTestId(page, "error-url"), /^The URL must name a user and a host/);
    assert.equal(await byTestId(page, "queue-name").count(), 0);
  });

  it("sends a typed password once, then shows it only as saved, and the top bar names the queue", async () => {
    const page = await app.open();
    const form = await openQueueTab(page);
    await hasText(byTestId(page, "queue-current"), "This app uses this computer's database.");
    await form.locator('[name="queue-url"]').fill(URL);
    await form.locator('[name="queue-password"]').fill(PASSWORD);
    await byTestId(page, "queue-save").click();
    await byTestId(page, "queue-password-saved").waitFor();

    const [args] = await callsOf(page, "use_shared_queue");
    assert.deepEqual(args, { url: URL, password: PASSWORD, runTasks: true });
    // The field is emptied and the page holds the password nowhere.
    assert.equal(await form.locator('[name="queue-password"]').inputValue(), "");
    assert.ok(!(await page.content()).includes(PASSWORD));
    await hasText(byTestId(page, "queue-name"), "Shared queue: baton@db.example:5432/baton · 1 runner");
    await hasText(byTestId(page, "queue-current"), "This app uses the shared queue at baton@db.example:5432/baton.");

    // Saving again with the field empty keeps the saved password (none is sent).
    await byTestId(page, "queue-save").click();
    const [, again] = await callsOf(page, "use_shared_queue", 2);
    assert.equal(again.password, null);
    // A new URL needs its own password: "saved" no longer shows.
    await form.locator('[name="queue-url"]').fill("postgres://baton@other.example/baton");
    assert.equal(await byTestId(page, "queue-password-saved").count(), 0);
  });

  it("opens with the password of the saved queue shown as saved, never as text", async () => {
    const page = await app.open({ config: { sharedQueue: { url: URL, run_tasks: false, password_saved: true, runners: 2 } } });
    await hasText(byTestId(page, "queue-name"), "Shared queue: baton@db.example:5432/baton · 2 runners");
    const form = await openQueueTab(page);
    assert.equal(await form.locator('[name="queue-url"]').inputValue(), URL);
    assert.equal(await form.locator('[name="queue-password"]').inputValue(), "");
    await byTestId(page, "queue-password-saved").waitFor();
    assert.equal(await form.locator('[name="queue-run-tasks"]').isChecked(), false);
  });

  it("sends the run-tasks switch as set, and follows a queue without running its tasks", async () => {
    const page = await app.open({ config: { sharedQueue: { url: URL, run_tasks: true, password_saved: true, runners: 3 } } });
    const form = await openQueueTab(page);
    assert.equal(await form.locator('[name="queue-run-tasks"]').isChecked(), true);
    await form.locator('[name="queue-run-tasks"]').uncheck();
    await byTestId(page, "queue-save").click();
    const [args] = await callsOf(page, "use_shared_queue");
    assert.deepEqual(args, { url: URL, password: null, runTasks: false });
    // The three runners elsewhere; this computer is not one of them.
    await hasText(byTestId(page, "queue-name"), "Shared queue: baton@db.example:5432/baton · 3 runners");
    await hasText(byTestId(page, "queue-mode"), "This computer follows the queue; runners elsewhere run it");
  });

  it("keeps the app where it was when the database cannot be reached", async () => {
    const page = await app.open({ config: { unreachableHosts: ["db.example"] } });
    const form = await openQueueTab(page);
    await form.locator('[name="queue-url"]').fill(URL);
    await form.locator('[name="queue-password"]').fill(PASSWORD);
    await byTestId(page, "queue-save").click();
    await hasText(byTestId(page, "error-url"), /^Baton could not open the shared queue baton@db\.example:5432\/baton: /);
    assert.ok(!(await byTestId(page, "error-url").textContent()).includes(PASSWORD));
    await hasText(byTestId(page, "queue-current"), "This app uses this computer's database.");
    assert.equal(await byTestId(page, "queue-name").count(), 0);
    assert.equal(await byTestId(page, "queue-local").isDisabled(), true);
  });

  it("goes back to this computer's database and reloads what is shown", async () => {
    const page = await app.open({ config: { sharedQueue: { url: URL, run_tasks: true, password_saved: true, runners: 1 } } });
    await byTestId(page, "queue-name").waitFor();
    await openQueueTab(page);
    const queries = (await callsOf(page, "query_tasks", 0)).length;
    await byTestId(page, "queue-local").click();
    await hasText(byTestId(page, "queue-current"), "This app uses this computer's database.");
    await until(page, () => !document.querySelector('[data-testid="queue-name"]'));
    // The list asked the engine again (another database, other tasks).
    await until(page, (n) => window.__fake.callsOf("query_tasks").length > n, queries);
    assert.equal(await byTestId(page, "queue-password-saved").count(), 0);
  });
});

describe("the top bar on a shared queue", () => {
  it("names the queue and follows its live runners as they come and go", async () => {
    const page = await app.open({
      clock: "2026-12-05T10:00:00Z",
      config: { sharedQueue: { url: URL, run_tasks: true, password_saved: false, runners: 3 } },
    });
    const name = byTestId(page, "queue-name");
    await hasText(name, "Shared queue: baton@db.example:5432/baton · 3 runners");
    await fake(page, "setRunners", 1);
    await page.clock.fastForward(5_000);
    await hasText(name, "Shared queue: baton@db.example:5432/baton · 1 runner");
    await fake(page, "setRunners", 4);
    await page.clock.fastForward(5_000);
    await hasText(name, "Shared queue: baton@db.example:5432/baton · 4 runners");
  });

  it("shows nothing new on this computer's database and asks for no runners", async () => {
    const page = await app.open({ clock: "2026-12-05T10:00:00Z" });
    await callsOf(page, "shared_queue_status");
    await page.clock.fastForward(15_000);
    assert.equal(await byTestId(page, "queue-name").count(), 0);
    assert.equal((await callsOf(page, "shared_queue_status", 0)).length, 1);
  });
});

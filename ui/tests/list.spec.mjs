// The task list: counts, filters, search, live row updates, states, and virtualization.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, listStatuses, row, until, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const rowNames = (page) => page.$$eval('[data-testid="task-row"] .name .text', (els) => els.map((e) => e.textContent));

describe("task list", () => {
  it("shows a count per status that matches the engine's", async () => {
    const page = await app.open();
    await byTestId(page, "task-row").first().waitFor();
    const counts = await page.evaluate(() => window.__fake.model.counts());
    for (const [status, n] of Object.entries(counts)) await hasText(byTestId(page, `count-${status}`), String(n));
    assert.equal(await byTestId(page, "task-row").count(), 19);
  });

  it("filters by status, start time and chain", async () => {
    const page = await app.open();
    await byTestId(page, "task-row").first().waitFor();

    await byTestId(page, "filter-status").selectOption("failed");
    await until(page, () => document.querySelectorAll('[data-testid="task-row"]').length === 2);
    assert.deepEqual(await listStatuses(page), ["failed", "failed"]);

    await byTestId(page, "filter-status").selectOption("");
    await byTestId(page, "filter-start").selectOption("scheduled");
    await until(page, () => document.querySelectorAll('[data-testid="task-row"]').length === 2);
    assert.deepEqual(await rowNames(page), ["Nightly FAQ refresh", "Weekly metrics digest"]);

    await byTestId(page, "filter-start").selectOption("");
    await byTestId(page, "filter-chain").selectOption("with_children");
    await until(page, () => document.querySelectorAll('[data-testid="task-row"]').length === 2);
    assert.deepEqual(await rowNames(page), ["Outline the migration plan", "Summarise Q3 incident reports"]);

    await byTestId(page, "filter-chain").selectOption("roots");
    await until(page, () => document.querySelectorAll('[data-testid="task-row"]').length === 17);
    const roots = await rowNames(page);
    assert.ok(!roots.includes("Bullet points for the board") && !roots.includes("Post the summary to #ops"));

    const [last] = (await fake(page, "callsOf", "query_tasks")).slice(-1);
    assert.equal(last.query.chain, "roots");
    assert.equal(last.query.start, null);
  });

  it("searches after / focuses the search box, and shows an empty state when nothing matches", async () => {
    const page = await app.open();
    await byTestId(page, "task-row").first().waitFor();
    await page.locator("body").click({ position: { x: 5, y: 400 } });
    await page.keyboard.press("/");
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "search");
    await page.keyboard.type("INVOICE");
    await until(page, () => document.querySelectorAll('[data-testid="task-row"]').length === 1);
    assert.deepEqual(await rowNames(page), ["Extract invoice fields"]);

    await byTestId(page, "search").fill("no such thing anywhere");
    await byTestId(page, "empty-state").waitFor();
    await hasText(byTestId(page, "empty-state").locator("h3"), "No tasks match");
    await byTestId(page, "empty-state").getByRole("button", { name: "Clear filters" }).click();
    await until(page, () => document.querySelectorAll('[data-testid="task-row"]').length === 19);
    assert.equal(await byTestId(page, "search").inputValue(), "");
  });

  it("updates a row and the counts in place when a state event arrives", async () => {
    const page = await app.open();
    await hasText(row(page, "Name ideas for the CLI").getByTestId("status-badge"), "queued");
    await hasText(byTestId(page, "count-running"), "2");
    await fake(page, "start", "Name ideas for the CLI");
    await hasText(row(page, "Name ideas for the CLI").getByTestId("status-badge"), "running");
    await hasText(byTestId(page, "count-running"), "3");
    await hasText(byTestId(page, "count-queued"), "3");
    // Still one row for it: the update happened in place.
    assert.equal(await row(page, "Name ideas for the CLI").count(), 1);
  });

  it("reloads what it shows on resync", async () => {
    const page = await app.open();
    await byTestId(page, "task-row").first().waitFor();
    // A change the window never heard of, as when its subscription fell behind.
    await page.evaluate(() => {
      const m = window.__fake.model;
      m.insert(m.build({ name: "Missed while lagging", prompt: "p" }, null));
    });
    await fake(page, "resync");
    await row(page, "Missed while lagging").waitFor();
  });

  it("shows an error state with a retry when the first load fails", async () => {
    const page = await app.open({
      config: { failFirst: [{ cmd: "query_tasks", code: "storage", message: "the database is locked" }] },
    });
    await byTestId(page, "error-state").waitFor();
    await hasText(byTestId(page, "error-state"), /the database is locked/);
    await byTestId(page, "error-state").getByRole("button", { name: "Try again" }).click();
    await byTestId(page, "task-row").first().waitFor();
  });

  it("says the engine is unavailable, and why, when its database could not be opened", async () => {
    const why = "Baton could not open its database: /data/baton.redb is not a Baton database";
    const page = await app.open({
      config: {
        failFirst: [
          { cmd: "query_tasks", code: "engine_unavailable", message: why },
          { cmd: "engine_status", code: "engine_unavailable", message: why },
        ],
      },
    });
    await hasText(byTestId(page, "error-state"), /is not a Baton database/);
    await byTestId(page, "engine-unavailable").waitFor();
    assert.equal(await byTestId(page, "engine-unavailable").getAttribute("title"), why);
    assert.ok(await byTestId(page, "pause-toggle").isDisabled(), "pause is offered without an engine");
  });

  it("says in the top bar while the engine cannot write its database, and when it can again", async () => {
    const page = await app.open();
    await byTestId(page, "task-row").first().waitFor();
    const message = "No space left on device (os error 28)";
    await page.evaluate(
      (message) => window.__fake.setHealth({ status: "unwritable", since: new Date().toISOString(), message }),
      message,
    );
    await hasText(byTestId(page, "engine-unwritable"), /Cannot save: No space left on device/);
    assert.equal(await byTestId(page, "engine-unwritable").getAttribute("title"), message);
    await page.evaluate(() => window.__fake.setHealth({ status: "ok" }));
    await byTestId(page, "engine-unwritable").waitFor({ state: "detached" });
    await hasText(byTestId(page, "pause-toggle"), /Pause/);
  });

  it("shows an empty state with no tasks at all", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await byTestId(page, "empty-state").waitFor();
    await hasText(byTestId(page, "empty-state").locator("h3"), "No tasks yet");
  });

  it("keeps only a window of rows in the DOM for 100,000 tasks", async () => {
    const page = await app.open({ config: { seed: "none", bulk: 100_000 } });
    await hasText(byTestId(page, "count-all"), "100,000");
    await row(page, "Task 100000").waitFor();
    const domRows = () => page.locator('[data-testid="task-list"] .rows > .row').count();
    assert.ok((await domRows()) < 60, `rows in the DOM at the top: ${await domRows()}`);

    // Jump to the end: the oldest task is there, and the DOM holds about a screenful.
    await byTestId(page, "task-list").evaluate((el) => (el.scrollTop = el.scrollHeight));
    await row(page, "Task 1").waitFor();
    assert.ok((await domRows()) < 60);

    // Scroll through the middle in steps, as a wheel would.
    for (let i = 1; i <= 10; i++) {
      await byTestId(page, "task-list").evaluate((el, k) => (el.scrollTop = (el.scrollHeight * k) / 11), i);
    }
    const middle = 100_000 - Math.round((100_000 * 10) / 11);
    await until(
      page,
      (n) => [...document.querySelectorAll('[data-testid="task-row"] .name .text')].some((e) => Math.abs(Number(e.textContent.slice(5)) - n) < 40),
      middle,
    );
    assert.ok((await domRows()) < 60);

    // Never more than a few blocks of rows per query.
    const queries = await callsOf(page, "query_tasks");
    assert.ok(queries.every((q) => q.query.limit <= 500), `limits: ${queries.map((q) => q.query.limit)}`);
  });
});

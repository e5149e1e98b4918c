// Schedules: the form previews the next five fire times as the expression is typed, a bad
// expression is refused next to its field, and pause / resume / run now / skipped runs reach
// the list through the engine's events.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const scheduleRow = (page, name) => page.locator(`[data-testid="schedule-row"][data-schedule="${name}"]`);

/** Opens the Schedules view and the new-schedule form. */
async function openForm(page) {
  await byTestId(page, "view-schedules").click();
  await byTestId(page, "schedules").waitFor();
  await byTestId(page, "schedule-add").click();
  const form = byTestId(page, "schedule-form");
  await form.waitFor();
  return form;
}

const previewItems = (page) => byTestId(page, "schedule-preview").locator("li");

async function createStandup(page) {
  const form = await openForm(page);
  await form.locator('[name="schedule-name"]').fill("standup");
  await form.locator('[name="cron"]').fill("0 9 * * *");
  await form.locator('[name="timezone"]').fill("UTC");
  await form.locator('[name="prompt"]').fill("Summarise yesterday");
  await form.locator('[name="follow-ups"]').fill("Shorten it");
  await hasText(previewItems(page), /09:00/);
  await byTestId(page, "schedule-submit").click();
  await byTestId(page, "schedule-form").waitFor({ state: "detached" });
  const row = scheduleRow(page, "standup");
  await row.waitFor();
  return row;
}

describe("schedules", () => {
  it("shows the next five fire times and follows the expression as it changes", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const form = await openForm(page);
    assert.equal(await form.locator('[name="timezone"]').inputValue(), "Europe/Berlin", "the OS zone by default");
    await form.locator('[name="timezone"]').fill("UTC");
    await form.locator('[name="cron"]').fill("0 9 * * *");
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll('[data-testid="schedule-preview"] li')];
      return items.length === 5 && items.every((li) => li.textContent.includes("09:00"));
    });
    await form.locator('[name="cron"]').fill("30 18 * * *");
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll('[data-testid="schedule-preview"] li')];
      return items.length === 5 && items.every((li) => li.textContent.includes("18:30"));
    });
    await hasText(byTestId(page, "schedule-preview").locator(".label"), /Every day at 18:30 · next runs in UTC/);
    // Typing is debounced: not one preview per keystroke.
    const previews = await callsOf(page, "preview_schedule");
    assert.ok(previews.length < "0 9 * * *30 18 * * *".length, `${previews.length} previews`);

    await form.locator('[name="schedule-name"]').fill("evening");
    await form.locator('[name="prompt"]').fill("Wrap up the day");
    await byTestId(page, "schedule-submit").click();
    const row = scheduleRow(page, "evening");
    await row.waitFor();
    await hasText(row.getByTestId("schedule-when"), "Every day at 18:30");
    await hasText(row.getByTestId("schedule-next"), /^Next: .*18:30/);
    const [args] = await callsOf(page, "create_schedule");
    assert.equal(args.input.cron, "30 18 * * *");
    assert.equal(args.input.timezone, "UTC");
  });

  it("refuses an invalid expression or zone next to its field and creates nothing", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const form = await openForm(page);
    await form.locator('[name="schedule-name"]').fill("broken");
    await form.locator('[name="prompt"]').fill("p");
    await form.locator('[name="cron"]').fill("61 9 * * *");
    await hasText(byTestId(page, "error-cron"), /the cron expression '61 9 \* \* \*' is invalid/);
    assert.equal(await previewItems(page).count(), 0);
    await form.locator('[name="cron"]').fill("0 9 * *");
    await hasText(byTestId(page, "error-cron"), /has 4 fields; it needs 5/);
    await byTestId(page, "schedule-submit").click();
    await hasText(byTestId(page, "error-cron"), /has 4 fields/);
    await form.locator('[name="cron"]').fill("0 9 * * *");
    await form.locator('[name="timezone"]').fill("Mars/Olympus");
    await hasText(byTestId(page, "error-timezone"), /'Mars\/Olympus' is not a known IANA time zone/);
    await byTestId(page, "error-cron").waitFor({ state: "detached" });
    await byTestId(page, "schedule-submit").click();
    assert.equal((await fake(page, "callsOf", "create_schedule")).length, 0, "nothing was sent");
    assert.ok(await form.isVisible());

    // The engine's own refusal (a taken name) goes next to the name.
    await form.locator('[name="timezone"]').fill("Europe/Paris");
    await hasText(previewItems(page), /09:00/);
    await byTestId(page, "schedule-submit").click();
    await scheduleRow(page, "broken").waitFor();
    await byTestId(page, "schedule-add").click();
    const again = byTestId(page, "schedule-form");
    await again.locator('[name="schedule-name"]').fill("Broken");
    await again.locator('[name="prompt"]').fill("p");
    await byTestId(page, "schedule-submit").click();
    await hasText(byTestId(page, "error-name"), /a schedule named 'Broken' already exists/);
    assert.equal(await page.getByTestId("schedule-row").count(), 1);
  });

  it("pause, resume and run now update the row and the history through events", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const row = await createStandup(page);
    await hasText(row.getByTestId("schedule-state"), "active");
    await byTestId(page, "schedule-pause").click();
    await hasText(row.getByTestId("schedule-state"), "paused");
    await hasText(row.getByTestId("schedule-next"), "Paused");
    await byTestId(page, "schedule-resume").click();
    await hasText(row.getByTestId("schedule-state"), "active");
    await hasText(row.getByTestId("schedule-next"), /^Next: .*09:00/);

    await byTestId(page, "schedule-history-empty").waitFor();
    await byTestId(page, "schedule-run-now").click();
    await hasText(row.getByTestId("schedule-fires"), "1 run");
    const history = byTestId(page, "schedule-detail").getByTestId("schedule-task");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="schedule-task"]').length === 2);
    const task = await fake(page, "byName", "standup");
    assert.equal(task.schedule_id, (await fake(page, "schedule", "standup")).id);

    // A change made elsewhere (a fire, the CLI) arrives as an event and updates the row.
    await page.evaluate(() => window.__fake.start("standup"));
    await hasText(history.filter({ hasText: "standup" }).getByTestId("status-badge"), "running");
    await history.filter({ hasText: "standup" }).click();
    await byTestId(page, "task-detail").waitFor();
    await hasText(byTestId(page, "detail-status"), /running/);
  });

  it("shows the skipped runs with their message and count", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const row = await createStandup(page);
    await fake(page, "skipRuns", "standup", 3);
    await hasText(row.getByTestId("schedule-skipped"), "· 3 runs skipped");
    await hasText(byTestId(page, "skip-group"), /3 runs skipped while Baton was closed or asleep \(missed: once\)/);
    await fake(page, "skipRuns", "standup", 1, "overlap");
    await hasText(row.getByTestId("schedule-skipped"), "· 4 runs skipped");
    assert.equal(await byTestId(page, "skip-group").count(), 2);
  });

  it("takes a failure limit, refuses a bad one by its field, and shows why a schedule paused itself", async () => {
    const page = await app.open({ config: { seed: "none" } });
    let form = await openForm(page);
    await form.locator('[name="schedule-name"]').fill("flaky");
    await form.locator('[name="cron"]').fill("0 * * * *");
    await form.locator('[name="prompt"]').fill("Report for {{date}}");
    await form.locator('[name="pause-after-failures"]').fill("-1");
    await byTestId(page, "schedule-submit").click();
    await hasText(byTestId(page, "error-pause_after_failures"), "A whole number from 0 (never pause) to 1000.");
    assert.equal((await fake(page, "callsOf", "create_schedule")).length, 0, "nothing was sent");
    await form.locator('[name="pause-after-failures"]').fill("3");
    await byTestId(page, "schedule-submit").click();
    await byTestId(page, "schedule-form").waitFor({ state: "detached" });
    const sent = await callsOf(page, "create_schedule");
    assert.equal(sent.at(-1).input.pause_after_failures, 3);
    await hasText(byTestId(page, "schedule-pause-after"), "after 3 failed runs in a row");

    // The engine pauses it: the row, the detail and the history line follow the event.
    const row = scheduleRow(page, "flaky");
    await fake(page, "autoPause", "flaky");
    await hasText(row.getByTestId("schedule-state"), "paused");
    await hasText(byTestId(page, "schedule-auto-paused"), /paused after 3 failed runs in a row; the last: the provider refused/);
    await hasText(byTestId(page, "schedule-pause-after"), "after 3 failed runs in a row (3 so far)");
    await byTestId(page, "schedule-resume").click();
    await hasText(row.getByTestId("schedule-state"), "active");
    await byTestId(page, "schedule-auto-paused").waitFor({ state: "detached" });

    // Editing shows the stored limit.
    await byTestId(page, "schedule-edit").click();
    form = byTestId(page, "schedule-form");
    assert.equal(await form.locator('[name="pause-after-failures"]').inputValue(), "3");
  });

  it("deletes a schedule only after a confirm, keeping its tasks", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const row = await createStandup(page);
    await byTestId(page, "schedule-run-now").click();
    await hasText(row.getByTestId("schedule-fires"), "1 run");
    await byTestId(page, "schedule-delete").click();
    assert.equal((await fake(page, "callsOf", "remove_schedule")).length, 0);
    await byTestId(page, "schedule-delete-confirm").click();
    await row.waitFor({ state: "detached" });
    await byTestId(page, "schedules-empty").waitFor();
    assert.equal((await fake(page, "byName", "standup")).schedule_id !== null, true, "the task stays");
  });
});

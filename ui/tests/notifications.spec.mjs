// A click on a desktop notification: the shell keeps what it names and says `open-requested`;
// the page takes the request and opens the task (or the list, for a burst's summary), also when
// the click made the window and the page has only just started.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, row, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

/** Creates a schedule named `name` through the form (the Schedules view must be shown). */
async function addSchedule(page, name) {
  await byTestId(page, "schedule-add").click();
  const form = byTestId(page, "schedule-form");
  await form.locator('[name="schedule-name"]').fill(name);
  await form.locator('[name="cron"]').fill("0 9 * * *");
  await form.locator('[name="timezone"]').fill("UTC");
  await form.locator('[name="prompt"]').fill(`Run ${name}`);
  await byTestId(page, "schedule-submit").click();
  await form.waitFor({ state: "detached" });
}

describe("notification clicks", () => {
  it("a click on a task's notification selects that task and opens its detail", async () => {
    const page = await app.open();
    await byTestId(page, "view-schedules").click();
    await byTestId(page, "schedules").waitFor();

    const id = await fake(page, "idOf", "Draft onboarding email");
    await fake(page, "clickNotification", { kind: "task", id });
    await hasText(byTestId(page, "detail-prompt"), "Write a friendly onboarding email for new workspace members. Under 150 words.");
    assert.equal(await byTestId(page, "view-tasks").getAttribute("aria-selected"), "true");
    assert.equal(await row(page, "Draft onboarding email").getAttribute("aria-selected"), "true");
    assert.equal((await callsOf(page, "take_open_request")).length, 2, "taken at start (nothing) and on the click");
  });

  it("a window made by a click opens the task once its list has loaded", async () => {
    const page = await app.open({ config: { openTask: "Translate release notes to German", hold: ["query_tasks"] } });
    await callsOf(page, "query_tasks");
    // The list has not answered: the request waits in the shell.
    await byTestId(page, "loading").waitFor();
    assert.equal((await fake(page, "callsOf", "take_open_request")).length, 0);

    await fake(page, "release", "query_tasks");
    await hasText(byTestId(page, "detail-prompt"), "Translate the release notes for 2.4 into German. Keep product names in English.");
    assert.equal(await row(page, "Translate release notes to German").getAttribute("aria-selected"), "true");
    assert.equal((await fake(page, "callsOf", "take_open_request")).length, 1);
  });

  it("a click naming a task that is gone says so quietly and opens nothing", async () => {
    const page = await app.open();
    await fake(page, "clickNotification", { kind: "task", id: "0190a0b0-0000-7000-8000-000000000999" });
    const toast = byTestId(page, "toast");
    await hasText(toast, "That task is no longer there.");
    assert.equal(await toast.getAttribute("role"), "status", "a quiet toast, not an alert");
    assert.equal(await byTestId(page, "task-detail").count(), 0);
  });

  it("a click on a paused schedule's notification shows that schedule; one that is gone says so quietly", async () => {
    const page = await app.open();
    await byTestId(page, "view-schedules").click();
    await addSchedule(page, "nightly");
    await addSchedule(page, "weekly");
    await hasText(byTestId(page, "schedule-detail").locator("h2"), "weekly");
    await byTestId(page, "view-tasks").click();

    const { id } = await fake(page, "schedule", "nightly");
    await fake(page, "clickNotification", { kind: "schedule", id });
    await hasText(byTestId(page, "schedule-detail").locator("h2"), "nightly");
    assert.equal(await byTestId(page, "view-schedules").getAttribute("aria-selected"), "true");

    await fake(page, "clickNotification", { kind: "schedule", id: "0190a0b0-0000-7000-8000-000000000999" });
    await hasText(byTestId(page, "toast"), "That schedule is no longer there.");
    await hasText(byTestId(page, "schedule-detail").locator("h2"), "nightly");
  });

  it("a click on a burst's summary shows the list, not a task", async () => {
    const page = await app.open();
    await row(page, "Draft onboarding email").click();
    await byTestId(page, "task-detail").waitFor();
    await byTestId(page, "view-schedules").click();
    await byTestId(page, "schedules").waitFor();

    await fake(page, "clickNotification", { kind: "list" });
    await byTestId(page, "task-list").waitFor();
    assert.equal(await byTestId(page, "view-tasks").getAttribute("aria-selected"), "true");
    assert.equal(await byTestId(page, "task-detail").count(), 0, "no task is opened");
  });
});

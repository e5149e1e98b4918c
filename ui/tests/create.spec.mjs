// Creating tasks: the form, its client-side checks, the engine's field errors, scheduling.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, row, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

describe("create form", () => {
  it("opens with n, takes focus in the prompt, and closes with Escape", async () => {
    const page = await app.open();
    await page.keyboard.press("n");
    const form = byTestId(page, "create-form");
    await form.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("name")), "prompt");
    await page.keyboard.press("Escape");
    await form.waitFor({ state: "detached" });
  });

  it("refuses an empty prompt next to the prompt field without calling the engine", async () => {
    const page = await app.open();
    await byTestId(page, "new-task").click();
    await page.locator('[name="max-attempts"]').fill("50");
    await byTestId(page, "create-submit").click();
    await hasText(byTestId(page, "error-prompt"), "Write a prompt.");
    await hasText(byTestId(page, "error-max_attempts"), "Between 1 and 20 attempts.");
    assert.deepEqual(await fake(page, "callsOf", "submit_task"), []);
    // Editing the field clears its message.
    await page.locator('[name="prompt"]').fill("Hello");
    await byTestId(page, "error-prompt").waitFor({ state: "detached" });
  });

  it("shows the engine's message next to the field the engine names", async () => {
    const page = await app.open();
    await byTestId(page, "new-task").click();
    await page.locator('[name="prompt"]').fill("Say hi");
    await page.locator('[name="model"]').fill("bogus");
    await byTestId(page, "create-submit").click();
    await hasText(byTestId(page, "error-model"), /unknown mock directive 'bogus'/);
    await byTestId(page, "create-form").waitFor();
    assert.equal(await page.locator('[name="model"]').getAttribute("aria-invalid"), "true");
  });

  it("creates a task that appears at the top of the list and opens in the detail", async () => {
    const page = await app.open();
    await byTestId(page, "new-task").click();
    await page.locator('[name="name"]').fill("Fresh task");
    await page.locator('[name="prompt"]').fill("Write a haiku about queues");
    await byTestId(page, "create-submit").click();
    await byTestId(page, "create-form").waitFor({ state: "detached" });

    const [args] = await callsOf(page, "submit_task");
    assert.deepEqual(args.input, {
      name: "Fresh task",
      prompt: "Write a haiku about queues",
      provider: "mock",
      model: null,
      start_at: null,
      start_in_minutes: null,
      max_attempts: 3,
      timeout_ms: 600_000,
      tags: [],
      fallbacks: [],
      deliver: {
        to_file: null,
        webhook: null,
        webhook_secret_env: null,
        webhook_secret_keychain: false,
        only_if_changed: false,
        notify_result: false,
      },
      output_schema: null,
      batch: null,
    });
    await hasText(byTestId(page, "task-row").first().locator(".name .text"), "Fresh task");
    await hasText(row(page, "Fresh task").getByTestId("status-badge"), "queued");
    await hasText(byTestId(page, "task-detail").locator("h2"), "Fresh task");
    await hasText(byTestId(page, "toast"), /Created “Fresh task”/);
  });

  it("schedules a task in N minutes and at a date and time", async () => {
    const page = await app.open();
    await byTestId(page, "new-task").click();
    await page.locator('[name="prompt"]').fill("Later, please");
    await page.locator('[name="name"]').fill("In fifteen");
    await page.locator('[name="start-in"]').fill("15");
    assert.equal(await page.locator('[name="start-mode"][value="in"]').isChecked(), true);
    await byTestId(page, "create-submit").click();
    const [args] = await callsOf(page, "submit_task");
    assert.equal(args.input.start_in_minutes, 15);
    assert.equal(args.input.start_at, null);
    await hasText(row(page, "In fifteen").getByTestId("status-badge"), "scheduled");

    await byTestId(page, "new-task").click();
    await page.locator('[name="prompt"]').fill("At a time");
    await page.locator('[name="start-mode"][value="at"]').check();
    await page.locator('[name="start-at"]').fill("2020-01-01T09:00");
    await byTestId(page, "create-submit").click();
    await hasText(byTestId(page, "error-start_at"), /passed/);
    await page.locator('[name="start-at"]').fill("2999-01-01T09:00");
    await byTestId(page, "create-submit").click();
    const calls = await callsOf(page, "submit_task", 2);
    // The page runs in Europe/Berlin (harness.mjs): 09:00 there in January is 08:00 UTC.
    assert.equal(calls[1].input.start_at, "2999-01-01T08:00:00.000Z");
    assert.equal(calls[1].input.start_in_minutes, null);
  });
});

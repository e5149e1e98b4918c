// Fallbacks: the create and schedule forms send provider/model targets in order; the detail's
// attempt history says which target each attempt went to; an unknown provider is the engine's
// sentence next to the field, and nothing is created.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const LOCAL = {
  name: "local",
  kind: "openai-compatible",
  base_url: "http://127.0.0.1:11434/v1",
  model: "llama3.2",
  headers: {},
  limits: { max_concurrency: null, rpm: null, tpm: null },
  key: { source: "none" },
  prices: null,
  idle_timeout_ms: null,
};

describe("fallbacks", () => {
  it("sends the fallbacks in order and shows each attempt's target in the detail", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await byTestId(page, "task-row").first().waitFor();
    await byTestId(page, "new-task").click();
    const form = byTestId(page, "create-form");
    await form.locator('[name="name"]').fill("Falls back");
    await form.locator('[name="prompt"]').fill("Summarise the minutes");
    await byTestId(page, "add-fallback").click();
    await byTestId(page, "add-fallback").click();
    const providers = form.locator('[name="fallback-provider"]');
    const models = form.locator('[name="fallback-model"]');
    await providers.nth(0).selectOption("local");
    await providers.nth(1).selectOption("mock");
    await models.nth(1).fill("sleep=10");
    // The placeholder is the chosen provider's default model.
    assert.equal(await models.nth(0).getAttribute("placeholder"), "llama3.2");
    await byTestId(page, "create-submit").click();
    await form.waitFor({ state: "detached" });

    const [args] = await callsOf(page, "submit_task");
    assert.deepEqual(args.input.fallbacks, [
      { provider: "local", model: null },
      { provider: "mock", model: "sleep=10" },
    ]);

    // The first attempt fails on the task's own target; the next goes to the first fallback.
    await fake(page, "start", "Falls back");
    await fake(page, "fail", "Falls back", "provider 'mock' failed (HTTP 503)", true);
    await fake(page, "start", "Falls back");
    await fake(page, "complete", "Falls back", "done");
    const detail = byTestId(page, "task-detail");
    await hasText(detail.locator("h2"), "Falls back");
    const targets = detail.getByTestId("attempt-target");
    await hasText(targets.nth(1), "on local:llama3.2");
    assert.deepEqual(await targets.allTextContents(), ["on mock:echo", "on local:llama3.2"]);
    await hasText(detail.getByTestId("detail-fallbacks"), "local / llama3.2, mock / sleep=10");
  });

  it("a schedule's form sends its fallbacks and the schedule keeps them", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await byTestId(page, "view-schedules").click();
    await byTestId(page, "schedules").waitFor();
    await byTestId(page, "schedule-add").click();
    const form = byTestId(page, "schedule-form");
    await form.locator('[name="schedule-name"]').fill("nightly");
    await form.locator('[name="cron"]').fill("0 3 * * *");
    await form.locator('[name="prompt"]').fill("Report");
    await byTestId(page, "add-fallback").click();
    await form.locator('[name="fallback-provider"]').selectOption("local");
    await form.locator('[name="fallback-model"]').fill("qwen3");
    await byTestId(page, "schedule-submit").click();
    await form.waitFor({ state: "detached" });
    const [args] = await callsOf(page, "create_schedule");
    assert.deepEqual(args.input.task.fallbacks, [{ provider: "local", model: "qwen3" }]);
    const saved = await page.evaluate(() => window.__fake.schedule("nightly"));
    assert.deepEqual(saved.template.fallbacks, [{ provider: "local", model: "qwen3" }]);
  });

  it("an unknown fallback provider is the engine's sentence next to the field and nothing is created", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await byTestId(page, "task-row").first().waitFor();
    await byTestId(page, "new-task").click();
    const form = byTestId(page, "create-form");
    await form.locator('[name="prompt"]').fill("p");
    await byTestId(page, "add-fallback").click();
    await form.locator('[name="fallback-provider"]').selectOption("local");
    // Removed from the settings after the form opened.
    await page.evaluate(() => window.__fake.model.providers.delete("local"));
    const before = await page.evaluate(() => window.__fake.model.tasks.size);
    await byTestId(page, "create-submit").click();
    await hasText(form.getByTestId("error-fallbacks"), "the fallback 'local' names an unknown provider 'local'");
    assert.equal(await page.evaluate(() => window.__fake.model.tasks.size), before);
  });
});

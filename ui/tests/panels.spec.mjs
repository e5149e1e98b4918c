// The activity panel, settings and pause/resume.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, until, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

describe("activity, settings and pause", () => {
  it("shows the activity figures and follows state events without polling", async () => {
    // Midday: "today" holds every seeded finish whatever the hour the suite runs at.
    const page = await app.open({ clock: "2026-11-27T12:00:00Z" });
    const panel = byTestId(page, "activity");
    await hasText(panel.locator(".stats div").first(), /Success\s*77\.8%/);
    await hasText(panel.locator(".today"), /7 completed · 2 failed/);
    await page.locator("rect").first().waitFor({ state: "attached" });
    assert.equal(await panel.locator("svg rect").count(), 30);

    const before = (await fake(page, "callsOf", "activity")).length;
    await fake(page, "complete", "Customer interview synthesis", "themes");
    await hasText(panel.locator(".today"), /8 completed · 2 failed/);
    const afterEvent = (await fake(page, "callsOf", "activity")).length;
    assert.ok(afterEvent > before);
    // No event, no call: a second look later finds the same number of calls.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.equal((await fake(page, "callsOf", "activity")).length, afterEvent);
  });

  it("moves the activity chart along as minutes pass, without asking the engine again", async () => {
    const page = await app.open({ clock: "2026-11-27T10:00:00Z" });
    const panel = byTestId(page, "activity");
    await panel.locator("svg rect").first().waitFor({ state: "attached" });
    // "N finished K min ago" (or "this minute") for each minute that has finished tasks.
    const busyMinutes = () =>
      panel.locator("svg rect:not(.zero) title").evaluateAll((ts) => ts.map((t) => t.textContent));
    const before = await busyMinutes();
    assert.ok(before.length > 0, "the seed has tasks finished in the last 30 minutes");
    const ago = (title) => (title.endsWith("this minute") ? 0 : Number(title.match(/(\d+) min ago/)[1]));
    const calls = (await fake(page, "callsOf", "activity")).length;

    await page.clock.fastForward("03:00");
    const expected = before.map((t) => `${t.split(" finished ")[0]} finished ${ago(t) + 3} min ago`).filter((t) => ago(t) < 30);
    await until(
      page,
      (want) =>
        JSON.stringify([...document.querySelectorAll('[data-testid="activity"] svg rect:not(.zero) title')].map((t) => t.textContent)) === want,
      JSON.stringify(expected),
    ).catch(async (e) => assert.fail(`${e.message}; bars ${JSON.stringify(await busyMinutes())}, expected ${JSON.stringify(expected)}`));
    assert.equal((await fake(page, "callsOf", "activity")).length, calls, "the chart asked the engine again");
  });

  it("shows today's tokens and cost, adding a finished task's usage", async () => {
    const page = await app.open({ clock: "2026-11-27T12:00:00Z" });
    const panel = byTestId(page, "activity");
    await hasText(panel.getByTestId("activity-tokens"), "0 tokens");
    await hasText(panel.getByTestId("activity-cost"), "$0.00");
    const usage = { prompt_tokens: 1200, completion_tokens: 34, cost_usd: 0.00123 };
    await fake(page, "complete", "Customer interview synthesis", "themes", usage);
    await hasText(panel.getByTestId("activity-tokens"), "1,234 tokens");
    await hasText(panel.getByTestId("activity-cost"), "$0.0012");
    await fake(page, "complete", "Outline the migration plan", "plan", { prompt_tokens: 800, completion_tokens: 966, cost_usd: 0.04 });
    await hasText(panel.getByTestId("activity-tokens"), "3,000 tokens");
    await hasText(panel.getByTestId("activity-cost"), "$0.04");
  });

  it("opens the log folder", async () => {
    const page = await app.open();
    await byTestId(page, "open-logs").click();
    await callsOf(page, "open_log_folder");
  });

  it("saves settings, refusing a bad worker count next to the field", async () => {
    const page = await app.open();
    await page.getByRole("button", { name: "Settings" }).click();
    const panel = byTestId(page, "settings");
    await panel.waitFor();
    assert.equal(await panel.locator('[name="workers"]').inputValue(), "4");
    assert.equal(await panel.locator('[name="notifications"]').isChecked(), true);
    assert.equal(await panel.locator('[name="start-at-login"]').isChecked(), false);
    assert.equal(await panel.locator('[name="api-enabled"]').isChecked(), false);

    await panel.locator('[name="workers"]').fill("0");
    await byTestId(page, "settings-save").click();
    await hasText(byTestId(page, "error-workers"), /Between 1 and 1024/);
    assert.equal((await fake(page, "callsOf", "update_settings")).length, 0);

    await panel.locator('[name="workers"]').fill("8");
    await panel.locator('[name="start-at-login"]').check();
    await panel.locator('[name="notifications"]').uncheck();
    await panel.locator('[name="api-enabled"]').check();
    assert.equal(await panel.locator('[name="check-updates"]').isChecked(), true);
    await panel.locator('[name="check-updates"]').uncheck();
    await byTestId(page, "settings-save").click();
    await panel.waitFor({ state: "detached" });
    const [args] = await callsOf(page, "update_settings");
    assert.deepEqual(args.settings, { workers: 8, notifications: false, start_at_login: true, api_enabled: true, check_updates: false });
    await hasText(page.locator(".engine"), /of 8 workers busy/);
  });

  it("pauses and resumes the workers", async () => {
    const page = await app.open();
    const toggle = byTestId(page, "pause-toggle");
    await hasText(toggle, "Pause");
    await toggle.click();
    await hasText(toggle, "Resume");
    await hasText(page.locator(".engine"), /Paused/);
    const [args] = await callsOf(page, "set_paused");
    assert.deepEqual(args, { paused: true });
    await toggle.click();
    await hasText(toggle, "Pause");
    assert.deepEqual((await callsOf(page, "set_paused", 2))[1], { paused: false });
  });
});

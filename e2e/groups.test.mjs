// Groups in the real app: a pasted list mapped on the mock provider runs one task per line in
// the engine inside the app, its join runs on their answers, and the Groups view follows it all
// through events.

import assert from "node:assert/strict";
import { appTest } from "./harness.mjs";
import { click, markPage, pageWasReloaded, tid, waitForApp, waitForDetailText } from "./ui.mjs";

/** What the Groups view's detail shows: status, progress text and the join's state. */
function groupDetail(browser) {
  return browser.execute(() => {
    const d = document.querySelector('[data-testid="group-detail"]');
    return {
      status: d?.getAttribute("data-status") ?? null,
      done: d?.querySelector('[data-testid="group-done"]')?.textContent?.trim() ?? null,
      join: d?.querySelector('[data-testid="group-join-status"]')?.textContent?.trim() ?? null,
      rows: [...(d?.querySelectorAll('[data-testid="group-task"] [data-testid="status-badge"]') ?? [])].map((b) => b.textContent.trim()),
    };
  });
}

appTest("a list of three lines mapped on the mock provider completes with its join, seen through events", async ({ browser }) => {
  await waitForApp(browser);
  await markPage(browser);

  await click(browser, tid("new-map"));
  const form = await browser.$(tid("map-form"));
  await form.waitForDisplayed();
  await (await form.$('[name="group-name"]')).setValue("e2e words");
  // Pasted at once, as a paste would (typed newlines are key presses to WebDriver).
  await browser.execute(() => {
    const box = document.querySelector('[name="rows-data"]');
    box.value = "alpha\nbeta\ngamma";
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await (await browser.$(tid("map-preview"))).waitForDisplayed({ timeoutMsg: "the preview never showed" });
  assert.equal((await browser.$$(tid("map-preview-row"))).length, 3);
  await (await form.$('[name="prompt"]')).setValue("Say {{item}}");
  await (await form.$('[name="model"]')).setValue("echo");
  await (await form.$('[name="join"]')).setValue("All of it: {{items}}");
  await click(browser, tid("map-submit"));
  await form.waitForDisplayed({ reverse: true, timeoutMsg: "the map form stayed open (refused?)" });

  let seen;
  await browser.waitUntil(
    async () => {
      seen = await groupDetail(browser);
      return seen.status === "completed";
    },
    { timeout: 20_000, timeoutMsg: "the group never completed" },
  );
  assert.deepEqual(seen, { status: "completed", done: "3 / 3 done", join: "completed", rows: ["completed", "completed", "completed"] });
  assert.equal(await pageWasReloaded(browser), false, "the page was reloaded");

  // A row opens as an ordinary task, its prompt bound to its line.
  await click(browser, `${tid("group-task")}[data-row="2"]`);
  await (await browser.$(tid("task-detail"))).waitForDisplayed();
  await waitForDetailText(browser, "detail-output", (text) => text.includes("echo: Say beta"));
});

// Live updates in the detail: output streaming as text, state events, the attempts timeline.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, fake, hasText, row, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

describe("live detail", () => {
  it("streams output into the detail as text, never as HTML", async () => {
    const page = await app.open();
    await row(page, "Outline the migration plan").click();
    await hasText(byTestId(page, "detail-status"), "running");
    const output = byTestId(page, "detail-output");
    assert.equal(await output.textContent(), "");

    await fake(page, "output", "Outline the migration plan", "Step 1: <b>freeze</b> writes\n");
    await hasText(output, "Step 1: <b>freeze</b> writes");
    await fake(page, "output", "Outline the migration plan", "Step 2: <img src=x onerror=alert(1)> copy");
    await hasText(output, /Step 2: <img src=x onerror=alert\(1\)> copy$/);
    assert.equal(await output.locator("b, img").count(), 0);
    assert.equal(
      await output.textContent(),
      "Step 1: <b>freeze</b> writes\nStep 2: <img src=x onerror=alert(1)> copy",
    );
  });

  it("keeps output that streamed before the detail was opened", async () => {
    const page = await app.open();
    await row(page, "Customer interview synthesis").waitFor();
    await fake(page, "output", "Customer interview synthesis", "Theme one. ");
    await fake(page, "output", "Customer interview synthesis", "Theme two.");
    await row(page, "Customer interview synthesis").click();
    await hasText(byTestId(page, "detail-output"), "Theme one. Theme two.");
  });

  it("follows the shown task through running and completion, and its timeline", async () => {
    const page = await app.open();
    await row(page, "Sentiment of app store reviews").click();
    await hasText(byTestId(page, "detail-status"), "queued");
    await hasText(byTestId(page, "attempts-timeline"), /No attempt has started yet/);

    await fake(page, "start", "Sentiment of app store reviews");
    await hasText(byTestId(page, "detail-status"), "running");
    await hasText(byTestId(page, "attempts-timeline").locator("li"), /Attempt 1\s*running/);
    await fake(page, "output", "Sentiment of app store reviews", "partial…");
    await hasText(byTestId(page, "detail-output"), "partial…");

    await fake(page, "fail", "Sentiment of app store reviews", "provider error: 503", true);
    await hasText(byTestId(page, "detail-status"), "scheduled");
    await hasText(byTestId(page, "attempts-timeline").locator("li").first(), /Attempt 1\s*failed, retrying/);
    await hasText(byTestId(page, "attempts-timeline").locator("li").first(), /provider error: 503/);

    await fake(page, "start", "Sentiment of app store reviews");
    await fake(page, "output", "Sentiment of app store reviews", "0.8 positive");
    await hasText(byTestId(page, "detail-output"), "0.8 positive");
    const usage = { prompt_tokens: 1200, completion_tokens: 34, cost_usd: 0.00123 };
    await fake(page, "complete", "Sentiment of app store reviews", "0.8 positive overall", usage);
    await hasText(byTestId(page, "detail-status"), "completed");
    await hasText(byTestId(page, "detail-tokens"), "1200 in · 34 out");
    await hasText(byTestId(page, "detail-cost"), "$0.0012");
    await hasText(byTestId(page, "detail-output"), "0.8 positive overall");
    await hasText(byTestId(page, "attempts-timeline").locator("li").nth(1), /Attempt 2\s*completed/);
    await hasText(row(page, "Sentiment of app store reviews").getByTestId("status-badge"), "completed");
  });

  it("keeps an interrupted answer on its attempt, says why the answer stopped and marks counted tokens", async () => {
    const page = await app.open();
    await row(page, "Proofread the pricing page").click();
    await fake(page, "start", "Proofread the pricing page");
    await fake(page, "output", "Proofread the pricing page", "1. Fix");
    await fake(page, "fail", "Proofread the pricing page", "provider 'local' ended the answer before finishing", true, true);
    const first = byTestId(page, "attempts-timeline").locator("li").first();
    await hasText(first, /Attempt 1\s*failed, retrying/);
    await hasText(first.getByTestId("attempt-partial-output"), /Partial answer \(6 characters\)/);

    await fake(page, "start", "Proofread the pricing page");
    const usage = { prompt_tokens: 15, completion_tokens: 24, cost_usd: 0, usage_estimated: true, finish_reason: "length" };
    await fake(page, "complete", "Proofread the pricing page", "1. Fix the typo in", usage);
    await hasText(byTestId(page, "detail-status"), "completed");
    await hasText(byTestId(page, "detail-tokens"), "≈15 in · ≈24 out");
    await hasText(byTestId(page, "detail-finish-reason"), "stopped at the 24-token limit");
    await hasText(byTestId(page, "attempts-timeline").locator("li").nth(1).getByTestId("attempt-finish-reason"), "stopped at the 24-token limit");
  });

  it("shows reported token counts without the estimate mark", async () => {
    const page = await app.open();
    await row(page, "Name ideas for the CLI").click();
    await fake(page, "start", "Name ideas for the CLI");
    await fake(page, "complete", "Name ideas for the CLI", "baton", { prompt_tokens: 9, completion_tokens: 1, cost_usd: 0 });
    await hasText(byTestId(page, "detail-tokens"), "9 in · 1 out");
    await hasText(byTestId(page, "detail-finish-reason"), "finished");
  });

  it("releases a waiting child when its parent completes", async () => {
    const page = await app.open();
    await row(page, "Outline the migration plan").click();
    await hasText(byTestId(page, "detail-children"), /waiting\s*Post the summary to #ops/);
    await fake(page, "complete", "Outline the migration plan", "1. Freeze. 2. Copy. 3. Switch.");
    await hasText(byTestId(page, "detail-children"), /queued\s*Post the summary to #ops/);
    await byTestId(page, "detail-children").getByRole("button", { name: /Post the summary/ }).click();
    await hasText(byTestId(page, "detail-prompt"), "Rewrite for Slack, friendly tone: 1. Freeze. 2. Copy. 3. Switch.");
  });
});

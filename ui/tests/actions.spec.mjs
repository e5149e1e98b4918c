// Cancel, retry and chain, from the rows and from the detail; optimistic updates and their
// reversal.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, row, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const detailTitle = (page) => byTestId(page, "task-detail").locator("h2");

describe("task actions", () => {
  it("cancels the shown task with a reason", async () => {
    const page = await app.open();
    await row(page, "Name ideas for the CLI").click();
    await hasText(detailTitle(page), "Name ideas for the CLI");
    await byTestId(page, "cancel-button").click();
    await byTestId(page, "cancel-reason").fill("not needed any more");
    await byTestId(page, "cancel-confirm").click();

    await hasText(byTestId(page, "detail-status"), "cancelled");
    await hasText(row(page, "Name ideas for the CLI").getByTestId("status-badge"), "cancelled");
    await hasText(byTestId(page, "task-detail").locator("dd").last(), "not needed any more");
    const [args] = await callsOf(page, "cancel_task");
    assert.deepEqual(args, { id: await fake(page, "idOf", "Name ideas for the CLI"), reason: "not needed any more" });
    // Cancelled: no cancel any more, retry instead.
    await byTestId(page, "cancel-button").waitFor({ state: "detached" });
    await byTestId(page, "retry-button").waitFor();
    assert.equal(await row(page, "Name ideas for the CLI").getByTestId("row-cancel").count(), 0);
  });

  it("shows a cancel at once and reverts it with a toast when the engine refuses", async () => {
    const page = await app.open();
    const target = row(page, "Proofread the pricing page");
    await hasText(target.getByTestId("status-badge"), "queued");
    await fake(page, "hold", "cancel_task");
    await fake(page, "failNext", "cancel_task", "invalid_state", "task is running: it started meanwhile");
    await target.getByTestId("row-cancel").click();

    // The command has not answered yet, and the row already says cancelled.
    await hasText(target.getByTestId("status-badge"), "cancelled");
    assert.equal((await fake(page, "byName", "Proofread the pricing page")).status, "queued");

    await fake(page, "release", "cancel_task");
    await hasText(target.getByTestId("status-badge"), "queued");
    await hasText(byTestId(page, "toast"), /Could not cancel: task is running: it started meanwhile/);
  });

  it("retries a failed task from its row", async () => {
    const page = await app.open();
    const target = row(page, "Review PR #482 for security issues");
    await target.getByTestId("row-retry").click();
    await hasText(target.getByTestId("status-badge"), "queued");
    await target.getByTestId("row-retry").waitFor({ state: "detached" });
    await target.getByTestId("row-cancel").waitFor();
    const [args] = await callsOf(page, "retry_task");
    assert.deepEqual(args, { id: await fake(page, "idOf", "Review PR #482 for security issues"), maxAttempts: null });
  });

  it("retries from the detail, which drops the old error", async () => {
    const page = await app.open();
    await row(page, "Classify support tickets (batch 14)").click();
    await hasText(byTestId(page, "detail-error"), /429 Too Many Requests/);
    await hasText(byTestId(page, "attempts-timeline").locator("li"), /Attempt 3\s*failed/);
    await byTestId(page, "retry-button").click();
    await hasText(byTestId(page, "detail-status"), "queued");
    await byTestId(page, "detail-error").waitFor({ state: "detached" });
  });

  it("chains onto a completed task: the child shows, bound to the parent's output, and links back", async () => {
    const page = await app.open();
    await row(page, "Extract invoice fields").click();
    await hasText(detailTitle(page), "Extract invoice fields");
    await byTestId(page, "chain-button").click();
    const form = byTestId(page, "create-form");
    await hasText(form.locator(".chain-note strong"), "Extract invoice fields");
    await form.locator('[name="name"]').fill("Check invoice totals");
    await form.locator('[name="prompt"]').fill("Check that the totals add up: {{parent.output}}");
    await byTestId(page, "create-submit").click();
    await form.waitFor({ state: "detached" });

    const [args] = await callsOf(page, "chain_task");
    assert.equal(args.parentId, await fake(page, "idOf", "Extract invoice fields"));
    assert.equal(args.input.prompt, "Check that the totals add up: {{parent.output}}");

    const child = byTestId(page, "detail-children").getByRole("button", { name: /Check invoice totals/ });
    await child.waitFor();
    await row(page, "Check invoice totals").waitFor();
    await hasText(row(page, "Extract invoice fields").locator(".kids"), "1");

    await child.click();
    await hasText(detailTitle(page), "Check invoice totals");
    await hasText(byTestId(page, "detail-prompt"), /Check that the totals add up: \{\s*"vendor": "Nordlicht GmbH"/);
    await hasText(byTestId(page, "detail-parent"), /Extract invoice fields/);
    await byTestId(page, "detail-parent").click();
    await hasText(detailTitle(page), "Extract invoice fields");
  });

  it("chains a scheduled task onto a running one; it waits for its parent", async () => {
    const page = await app.open();
    await row(page, "Customer interview synthesis").click();
    await byTestId(page, "chain-button").click();
    await page.locator('[name="prompt"]').fill("Turn the themes into a slide outline");
    await page.locator('[name="name"]').fill("Slides from themes");
    await page.locator('[name="start-in"]').fill("30");
    await byTestId(page, "create-submit").click();
    const [args] = await callsOf(page, "chain_task");
    assert.equal(args.input.start_in_minutes, 30);
    await hasText(row(page, "Slides from themes").getByTestId("status-badge"), "waiting");
    await hasText(byTestId(page, "detail-children"), /waiting\s*Slides from themes/);
  });

  it("closes the detail with Escape", async () => {
    const page = await app.open();
    await row(page, "Draft onboarding email").click();
    await byTestId(page, "task-detail").waitFor();
    await page.keyboard.press("Escape");
    await byTestId(page, "task-detail").waitFor({ state: "detached" });
  });
});

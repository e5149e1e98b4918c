// Deliveries: the create and schedule forms take a file path and a webhook (checked before
// sending), and a task's detail shows its deliveries live from the engine's events, with
// "Send again" for one that was sent, failed or skipped.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

describe("deliveries", () => {
  it("refuses a webhook that is not http(s) and a relative path by their fields, then sends both", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await byTestId(page, "new-task").click();
    await page.locator('[name="prompt"]').fill("Daily numbers for {{date}}");
    await page.locator('[data-testid="deliver-fields"] summary').click();
    await page.locator('[name="to-file"]').fill("reports/{{date}}.md");
    await page.locator('[name="webhook"]').fill("ftp://example.com/x");
    await page.locator('[name="webhook-secret-env"]').fill("9LIVES");
    await byTestId(page, "create-submit").click();
    await hasText(byTestId(page, "error-to_file"), "Write the whole path, from the root.");
    await hasText(byTestId(page, "error-webhook"), "An http:// or https:// address.");
    await hasText(byTestId(page, "error-webhook_secret_env"), "Letters, digits and '_', not starting with a digit.");
    assert.deepEqual(await fake(page, "callsOf", "submit_task"), [], "nothing was sent");

    await page.locator('[name="to-file"]').fill("/home/me/reports/{{date}}.md");
    await page.locator('[name="webhook"]').fill("https://example.com/hook");
    await page.locator('[name="webhook-secret-env"]').fill("HOOK_SECRET");
    await byTestId(page, "create-submit").click();
    await byTestId(page, "create-form").waitFor({ state: "detached" });
    const [args] = await callsOf(page, "submit_task");
    assert.deepEqual(args.input.deliver, {
      to_file: "/home/me/reports/{{date}}.md",
      webhook: "https://example.com/hook",
      webhook_secret_env: "HOOK_SECRET",
      webhook_secret_keychain: false,
      only_if_changed: false,
      notify_result: false,
    });
  });

  it("keeps a typed webhook secret in the keychain, never with the task, and shows the keychain's refusal", async () => {
    const page = await app.open({
      config: {
        seed: "none",
        failFirst: [{ cmd: "store_webhook_secret", code: "invalid_input", message: "no OS keychain is available here (no Secret Service); keep the secret in an environment variable and name it instead" }],
      },
    });
    await byTestId(page, "new-task").click();
    await page.locator('[name="prompt"]').fill("Signed");
    await page.locator('[data-testid="deliver-fields"] summary').click();
    await page.locator('[name="webhook"]').fill("https://example.com/hook");
    await page.locator('[name="webhook-secret"]').fill("s3cr3t-value");
    await byTestId(page, "create-submit").click();
    await hasText(byTestId(page, "error-webhook_secret"), /no OS keychain is available here/);
    assert.deepEqual(await fake(page, "callsOf", "submit_task"), [], "nothing saved without its secret");

    await byTestId(page, "create-submit").click();
    await byTestId(page, "create-form").waitFor({ state: "detached" });
    const stored = await callsOf(page, "store_webhook_secret", 2);
    assert.deepEqual(stored.at(-1), { url: "https://example.com/hook", secret: "s3cr3t-value" });
    const [args] = await callsOf(page, "submit_task");
    assert.equal(args.input.deliver.webhook_secret_keychain, true);
    assert.equal(args.input.deliver.webhook_secret_env, null);
    assert.ok(!JSON.stringify(args).includes("s3cr3t-value"), "the secret never travels with the task");
  });

  it("shows a task's deliveries as the engine reports them and sends a failed one again", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await byTestId(page, "new-task").click();
    await page.locator('[name="name"]').fill("Report");
    await page.locator('[name="prompt"]').fill("Numbers");
    await byTestId(page, "create-submit").click();
    await hasText(byTestId(page, "task-detail").locator("h2"), "Report");
    await byTestId(page, "deliveries").waitFor({ state: "detached" });

    const id = "01900000-0000-7000-8000-00000000d001";
    await fake(page, "deliver", "Report", { id, status: "pending", file: "/home/me/reports/2026-01-01.md" });
    const item = byTestId(page, "delivery");
    await hasText(item.getByTestId("delivery-state"), "pending");
    await fake(page, "deliver", "Report", { id, status: "pending", attempts: 2, error: "the receiver answered 503", file: "/home/me/reports/2026-01-01.md" });
    await hasText(item.getByTestId("delivery-state"), "retrying (2 tries)");
    await fake(page, "deliver", "Report", { id, status: "failed", attempts: 12, error: "gave up after 12 tries; the last: the receiver answered 503", file: "/home/me/reports/2026-01-01.md" });
    await hasText(item.getByTestId("delivery-state"), "failed after 12 tries");
    await hasText(item.getByTestId("delivery-error"), /gave up after 12 tries/);
    assert.equal(await item.getAttribute("data-status"), "failed");

    await item.getByTestId("delivery-resend").click();
    const [sent] = await callsOf(page, "resend_delivery");
    assert.equal(sent.id, id);
    await hasText(item.getByTestId("delivery-state"), "pending");
    await item.getByTestId("delivery-resend").waitFor({ state: "detached" });
    assert.equal(await byTestId(page, "delivery").count(), 1, "replaced in place, not added");
  });

  it("keeps what a delivery event said when the detail's older answer arrives after it", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await byTestId(page, "new-task").click();
    await page.locator('[name="name"]').fill("Racing");
    await page.locator('[name="prompt"]').fill("x");
    await fake(page, "holdReply", "get_task");
    await byTestId(page, "create-submit").click();
    await byTestId(page, "create-form").waitFor({ state: "detached" });
    // The detail asked for the task before the engine recorded and sent the delivery.
    await callsOf(page, "get_task");
    const id = "01900000-0000-7000-8000-00000000d002";
    await fake(page, "deliver", "Racing", { id, status: "sent", attempts: 1, file: "/home/me/x.md" });
    await fake(page, "release", "get_task");
    await hasText(byTestId(page, "task-detail").locator("h2"), "Racing");
    await hasText(byTestId(page, "delivery-state"), /^sent/);
  });

  it("offers only-if-changed in the schedule form and keeps what a schedule delivers when edited", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await byTestId(page, "view-schedules").click();
    await byTestId(page, "schedule-add").click();
    const form = byTestId(page, "schedule-form");
    await form.locator('[name="schedule-name"]').fill("digest");
    await form.locator('[name="prompt"]').fill("What changed since {{last_output}}?");
    await form.locator('[data-testid="deliver-fields"] summary').click();
    await form.locator('[name="webhook"]').fill("https://example.com/digest");
    await form.locator('[name="only-if-changed"]').check();
    await byTestId(page, "schedule-submit").click();
    await byTestId(page, "schedule-form").waitFor({ state: "detached" });
    const [args] = await callsOf(page, "create_schedule");
    assert.deepEqual(args.input.task.deliver, {
      to_file: null,
      webhook: "https://example.com/digest",
      webhook_secret_env: null,
      webhook_secret_keychain: false,
      only_if_changed: true,
      notify_result: false,
    });
  });
});

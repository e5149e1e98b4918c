// Tags: typed in the create and schedule forms, shown as chips on rows and in the detail, and a
// filter of the list. The limits the forms check come from the engine through the bindings.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, hasText, row, until, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const rowCount = (page) => page.evaluate(() => document.querySelectorAll('[data-testid="task-row"]').length);

async function createTagged(page, name, tags) {
  await byTestId(page, "new-task").click();
  await page.locator('[name="name"]').fill(name);
  await page.locator('[name="prompt"]').fill(`${name} prompt`);
  await page.locator('[name="tags"]').fill(tags);
  await byTestId(page, "create-submit").click();
  await byTestId(page, "create-form").waitFor({ state: "detached" });
}

describe("tags", () => {
  it("sends the typed tags, shows them as chips, and filters the list by one", async () => {
    const page = await app.open();
    await byTestId(page, "task-row").first().waitFor();
    const all = await rowCount(page);
    await createTagged(page, "Tagged one", "Ops, weekly");
    await createTagged(page, "Tagged two", "ops");

    const calls = await callsOf(page, "submit_task", 2);
    assert.deepEqual(calls[0].input.tags, ["Ops", "weekly"]);
    await hasText(row(page, "Tagged one").getByTestId("tag-chip").first(), "ops");
    assert.deepEqual(await row(page, "Tagged one").getByTestId("tag-chip").allTextContents(), ["ops", "weekly"]);

    await byTestId(page, "filter-tag").fill("OPS");
    await byTestId(page, "filter-tag").press("Enter");
    await until(page, () => document.querySelectorAll('[data-testid="task-row"]').length === 2);
    const [last] = (await callsOf(page, "query_tasks", 1)).slice(-1);
    assert.equal(last.query.tag, "OPS");

    await byTestId(page, "filter-tag").fill("weekly");
    await byTestId(page, "filter-tag").press("Enter");
    await until(page, () => document.querySelectorAll('[data-testid="task-row"]').length === 1);

    await page.getByRole("button", { name: "Clear", exact: true }).click();
    await until(page, (n) => document.querySelectorAll('[data-testid="task-row"]').length === n, all + 2);
    assert.equal(await byTestId(page, "filter-tag").inputValue(), "");
  });

  it("a chip in the detail filters the list by its tag", async () => {
    const page = await app.open();
    await byTestId(page, "task-row").first().waitFor();
    await createTagged(page, "Detail tagged", "release");
    await hasText(byTestId(page, "task-detail").locator("h2"), "Detail tagged");
    await byTestId(page, "detail-tags").getByRole("button", { name: "release" }).click();
    await until(page, () => document.querySelectorAll('[data-testid="task-row"]').length === 1);
    assert.equal(await byTestId(page, "filter-tag").inputValue(), "release");
  });

  it("refuses a bad tag in the form with one sentence and sends nothing", async () => {
    const page = await app.open();
    await byTestId(page, "new-task").click();
    await page.locator('[name="prompt"]').fill("p");
    await page.locator('[name="tags"]').fill("ok café");
    await byTestId(page, "create-submit").click();
    assert.equal(await page.locator('[name="tags"]').getAttribute("aria-invalid"), "true");
    await hasText(byTestId(page, "create-form"), /“café”: a tag holds only letters, digits/);
    assert.deepEqual(await page.evaluate(() => window.__fake.callsOf("submit_task")), []);
  });
});

// Groups (`map`): the map form previews the first rows before anything is created and shows the
// engine's sentence for a refused input; the Groups view follows the rows' state events (progress
// and per-row status), cancels, retries the failed rows and exports the results in the chosen
// format to the file picked in the save dialog.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, row, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const WORDS = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date"];
const groupRow = (page, name) => page.locator(`[data-testid="group-row"][data-group="${name}"]`);
const setDialog = (page, kind, path) => page.evaluate(([k, p]) => (window.__fake.dialog[k] = p), [kind, path]);

async function openMapForm(page) {
  await byTestId(page, "new-map").click();
  const form = byTestId(page, "map-form");
  await form.waitFor();
  return form;
}

/** Creates group `name` from a pasted list through the form; returns when the Groups view shows it. */
async function mapWords(page, name = "fruit", { join } = {}) {
  const form = await openMapForm(page);
  await form.locator('[name="group-name"]').fill(name);
  await form.locator('[name="rows-data"]').fill(WORDS.join("\n"));
  await form.locator('[name="prompt"]').fill("Translate into French: {{item}}");
  if (join) await form.locator('[name="join"]').fill(join);
  await byTestId(page, "map-preview").waitFor();
  await byTestId(page, "map-submit").click();
  await form.waitFor({ state: "detached" });
  await groupRow(page, name).waitFor();
  await byTestId(page, "group-detail").waitFor();
}

describe("groups", () => {
  it("previews the first five rows of a pasted list, then creates one task per row", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const form = await openMapForm(page);
    await form.locator('[name="group-name"]').fill("fruit");
    await form.locator('[name="rows-data"]').fill(WORDS.join("\n"));
    const preview = byTestId(page, "map-preview");
    await preview.waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="map-preview-row"]').length === 5);
    assert.deepEqual(await preview.locator("th").allTextContents(), ["item"]);
    assert.deepEqual(await byTestId(page, "map-preview-row").allTextContents(), WORDS.slice(0, 5));
    await hasText(preview.locator("p"), /\{\{item\}\}/);
    assert.equal((await fake(page, "callsOf", "map_rows")).length, 0, "a preview creates nothing");
    const [asked] = await callsOf(page, "preview_rows");
    assert.equal(asked.limit, 5);

    await form.locator('[name="prompt"]').fill("Translate into French: {{item}}");
    await byTestId(page, "map-submit").click();
    await form.waitFor({ state: "detached" });
    const [call] = await callsOf(page, "map_rows");
    assert.equal(call.input.source, "lines");
    assert.equal(call.input.data, WORDS.join("\n"));
    assert.equal(call.input.task.prompt, "Translate into French: {{item}}");
    assert.equal(call.input.join, null);

    await hasText(groupRow(page, "fruit").locator('[data-testid="group-done"]'), "0 / 7 done");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="group-task"]').length === 7);
    assert.equal(await byTestId(page, "group-task").first().getAttribute("data-row"), "1");
    assert.equal((await fake(page, "byName", "fruit #3")).prompt, "Translate into French: plum");
    // The rows are ordinary tasks in the list; a row's detail leads back to its group.
    await byTestId(page, "view-tasks").click();
    await row(page, "fruit #7").click();
    await hasText(byTestId(page, "detail-group"), "fruit");
    await hasText(byTestId(page, "task-detail").locator("dd", { has: byTestId(page, "detail-group") }), /row 7/);
    await byTestId(page, "detail-group").click();
    await byTestId(page, "group-detail").waitFor();
  });

  it("shows the engine's sentence for a refused input and creates nothing", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const form = await openMapForm(page);
    await form.locator('[name="group-name"]').fill("cities");
    await form.locator('input[name="source"][value="csv"]').check();
    await form.locator('[name="rows-data"]').fill("city,question\nParis,When?\nLyon\nNice,Why?");
    const sentence = "row 2 (line 3) has 1 fields; the header has 2";
    await hasText(byTestId(page, "map-input-error"), sentence);
    assert.equal(await byTestId(page, "map-preview").count(), 0);

    // Submitted anyway: the engine refuses the same way; the form stays open, nothing is stored.
    await form.locator('[name="prompt"]').fill("Answer for {{row.city}}: {{row.question}}");
    await byTestId(page, "map-submit").click();
    await callsOf(page, "map_rows");
    await hasText(byTestId(page, "map-input-error"), sentence);
    await form.waitFor();

    // A prompt naming a column the file lacks: the sentence goes next to the prompt.
    await form.locator('[name="rows-data"]').fill("city,question\nParis,When?");
    await byTestId(page, "map-preview").waitFor();
    await form.locator('[name="prompt"]').fill("Answer for {{row.town}}");
    await byTestId(page, "map-submit").click();
    await callsOf(page, "map_rows", 2);
    await hasText(byTestId(page, "error-prompt"), /names the column 'town', which the input lacks/);
    assert.equal(await page.evaluate(() => window.__fake.model.tasks.size), 0, "no task was created");
    await page.keyboard.press("Escape");
    await form.waitFor({ state: "detached" });
    await byTestId(page, "view-groups").click();
    await byTestId(page, "groups-empty").waitFor();
  });

  it("moves the progress bar and the rows' status as their events arrive", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await mapWords(page, "fruit", { join: "Summarise: {{items}}" });
    const done = byTestId(page, "group-detail").locator('[data-testid="group-done"]');
    await hasText(done, "0 / 7 done");
    await hasText(byTestId(page, "group-join-status"), "waiting");

    await fake(page, "finishRows", "fruit", 3);
    await hasText(done, "3 / 7 done");
    const bar = byTestId(page, "group-detail").locator('[data-testid="group-progress"]');
    assert.equal(await bar.getAttribute("aria-valuenow"), "3");
    await hasText(page.locator('[data-testid="group-task"][data-row="3"] [data-testid="status-badge"]'), "completed");
    await hasText(page.locator('[data-testid="group-task"][data-row="4"] [data-testid="status-badge"]'), "queued");

    await fake(page, "finishRows", "fruit", 1, "failed");
    await hasText(done, "4 / 7 done");
    await hasText(byTestId(page, "group-detail").locator('[data-testid="group-failed"]'), "· 1 failed");
    await hasText(page.locator('[data-testid="group-task"][data-row="4"] [data-testid="status-badge"]'), "failed");

    // The last rows end: the join is decided (a row failed, policy "all": cancelled).
    await fake(page, "finishRows", "fruit", 3);
    await hasText(done, "7 / 7 done");
    await hasText(byTestId(page, "group-join-status"), "cancelled");
    await hasText(byTestId(page, "group-detail-status"), "failed");
    assert.equal(await groupRow(page, "fruit").getAttribute("data-status"), "failed");
  });

  it("cancels the unfinished rows, and retries the cancelled and failed ones", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await mapWords(page, "fruit");
    await fake(page, "finishRows", "fruit", 2);
    await fake(page, "finishRows", "fruit", 1, "failed");
    await hasText(byTestId(page, "group-detail").locator('[data-testid="group-done"]'), "3 / 7 done");

    await byTestId(page, "group-cancel").click();
    await callsOf(page, "cancel_group");
    await hasText(byTestId(page, "group-detail-status"), "cancelled");
    await hasText(byTestId(page, "group-detail").locator('[data-testid="group-cancelled"]'), "· 4 cancelled");
    await hasText(page.locator('[data-testid="group-task"][data-row="7"] [data-testid="status-badge"]'), "cancelled");
    assert.ok(await byTestId(page, "group-cancel").isDisabled(), "nothing left to cancel");
    assert.equal((await fake(page, "byName", "fruit #1")).status, "completed", "a completed row stays");

    await byTestId(page, "group-retry").click();
    await callsOf(page, "retry_group");
    await hasText(byTestId(page, "group-detail-status"), "running");
    await hasText(byTestId(page, "group-detail").locator('[data-testid="group-done"]'), "2 / 7 done");
    await hasText(page.locator('[data-testid="group-task"][data-row="3"] [data-testid="status-badge"]'), "queued");
    assert.ok(await byTestId(page, "group-retry").isDisabled(), "nothing left to retry");
    assert.ok(!(await byTestId(page, "group-cancel").isDisabled()));
  });

  it("exports the results in the chosen format to the path the save dialog returns", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await mapWords(page, "fruit");
    await fake(page, "finishRows", "fruit", 7);
    await hasText(byTestId(page, "group-detail-status"), "completed");

    await setDialog(page, "save", "/home/me/fruit.csv");
    await byTestId(page, "group-export-csv").click();
    const [csv] = await callsOf(page, "export_group");
    assert.equal(csv.format, "csv");
    assert.equal(csv.path, "/home/me/fruit.csv");
    const [dialog] = await callsOf(page, "plugin:dialog|save");
    assert.deepEqual(dialog.options.filters, [{ name: "CSV", extensions: ["csv"] }]);
    await hasText(byTestId(page, "toast"), /Exported 7 rows to \/home\/me\/fruit\.csv/);
    const text = await page.evaluate(() => window.__fake.files.get("/home/me/fruit.csv"));
    assert.equal(text.split("\n")[1], "apple,answer 1,completed");

    await setDialog(page, "save", "/home/me/fruit.jsonl");
    await byTestId(page, "group-export-jsonl").click();
    const calls = await callsOf(page, "export_group", 2);
    assert.equal(calls[1].format, "jsonl");
    assert.equal(calls[1].path, "/home/me/fruit.jsonl");

    // The dialog cancelled: nothing is exported.
    await setDialog(page, "save", null);
    await byTestId(page, "group-export-csv").click();
    await callsOf(page, "plugin:dialog|save", 3);
    assert.equal((await fake(page, "callsOf", "export_group")).length, 2);
  });

  it("filters the task list to one group's rows and join", async () => {
    const page = await app.open();
    await mapWords(page, "fruit", { join: "Summarise: {{items}}" });
    const id = (await fake(page, "group", "fruit")).id;
    await byTestId(page, "group-show-tasks").click();
    await byTestId(page, "task-list").waitFor();
    await page.waitForFunction(() => {
      const names = [...document.querySelectorAll('[data-testid="task-row"] .name .text')].map((e) => e.textContent);
      return names.length === 8 && names.every((n) => n.startsWith("fruit"));
    });
    assert.equal(await byTestId(page, "filter-group").inputValue(), id);
    const queries = await fake(page, "callsOf", "query_tasks");
    assert.equal(queries[queries.length - 1].query.group, id);
    await row(page, "fruit · join").waitFor();

    // Any group again: the demo's other tasks are back.
    await byTestId(page, "filter-group").selectOption("");
    await row(page, "Outline the migration plan").waitFor();
  });

  it("reads a file picked in the open dialog, takes its source from the extension and previews it", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await page.evaluate(() => {
      window.__fake.files.set("/home/me/cities.csv", "city,question\nParis,When?\nLyon,Where?\n");
      window.__fake.dialog.open = "/home/me/cities.csv";
    });
    const form = await openMapForm(page);
    await byTestId(page, "map-file").click();
    await hasText(byTestId(page, "map-file-chosen").locator(".mono"), "/home/me/cities.csv");
    assert.equal(await form.locator('input[name="source"][value="csv"]').isChecked(), true);
    assert.equal(await form.locator('[name="group-name"]').inputValue(), "cities", "named after the file");
    await byTestId(page, "map-preview").waitFor();
    assert.deepEqual(await byTestId(page, "map-preview").locator("th").allTextContents(), ["city", "question"]);
    assert.deepEqual(await byTestId(page, "map-preview-row").allTextContents(), ["ParisWhen?", "LyonWhere?"]);
    const [read] = await callsOf(page, "read_rows_file");
    assert.equal(read.path, "/home/me/cities.csv");

    await form.locator('[name="prompt"]').fill("Answer for {{row.city}}: {{row.question}}");
    await byTestId(page, "map-submit").click();
    await form.waitFor({ state: "detached" });
    const [call] = await callsOf(page, "map_rows");
    assert.equal(call.input.source, "csv");
    assert.equal(call.input.data, "city,question\nParis,When?\nLyon,Where?\n");
    assert.equal((await fake(page, "byName", "cities #2")).prompt, "Answer for Lyon: Where?");

    // A file the shell cannot read: its sentence, and the pasted box stays.
    await page.evaluate(() => (window.__fake.dialog.open = "/home/me/gone.csv"));
    await openMapForm(page);
    await byTestId(page, "map-file").click();
    await hasText(byTestId(page, "map-input-error"), /cannot read \/home\/me\/gone\.csv/);
    await page.locator('[name="rows-data"]').waitFor();
  });

  it("starts the rows at a later time with the create form's options, and refuses a time passed", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const form = await openMapForm(page);
    await form.locator('[name="group-name"]').fill("night");
    await form.locator('[name="rows-data"]').fill("one\ntwo");
    await form.locator('[name="prompt"]').fill("Say {{item}}");
    await form.locator('[name="start-at"]').fill("2020-01-01T03:00");
    await byTestId(page, "map-submit").click();
    await hasText(byTestId(page, "error-start_at"), /That time has passed/);
    assert.equal((await fake(page, "callsOf", "map_rows")).length, 0);

    // Six hours from now as the page's clock and zone read it.
    const { local, iso } = await page.evaluate(() => {
      const d = new Date(Date.now() + 6 * 3600_000);
      const p = (n) => String(n).padStart(2, "0");
      const text = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
      return { local: text, iso: new Date(text).toISOString() };
    });
    await form.locator('[name="start-at"]').fill(local);
    await form.locator('[name="max-attempts"]').fill("5");
    await form.locator('[name="tags"]').fill("nightly");
    await byTestId(page, "map-submit").click();
    await form.waitFor({ state: "detached" });
    const [call] = await callsOf(page, "map_rows");
    assert.equal(call.input.task.start_at, iso);
    assert.equal(call.input.task.max_attempts, 5);
    assert.deepEqual(call.input.task.tags, ["nightly"]);
    await hasText(page.locator('[data-testid="group-task"][data-row="2"] [data-testid="status-badge"]'), "scheduled");
  });

  it("marks a group batch with its deadline in hours, and refuses hours out of range before sending", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const form = await openMapForm(page);
    await form.locator('[name="group-name"]').fill("cheap");
    await form.locator('[name="rows-data"]').fill("one\ntwo");
    await form.locator('[name="prompt"]').fill("Say {{item}}");
    await byTestId(page, "batch-toggle").check();
    await byTestId(page, "batch-hours").fill("500");
    await byTestId(page, "map-submit").click();
    await hasText(byTestId(page, "error-batch"), /whole hours from 1 to 168/);
    assert.equal((await fake(page, "callsOf", "map_rows")).length, 0, "nothing sent");

    await byTestId(page, "batch-hours").fill("12");
    await byTestId(page, "map-submit").click();
    await form.waitFor({ state: "detached" });
    const [call] = await callsOf(page, "map_rows");
    assert.deepEqual(call.input.task.batch, { within_ms: 12 * 3600_000 });
  });

  it("shows a large group a page of 100 rows at a time and fetches its record a few times for many events", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const form = await openMapForm(page);
    await form.locator('[name="group-name"]').fill("many");
    await form.locator('[name="rows-data"]').fill(Array.from({ length: 250 }, (_, i) => `line ${i + 1}`).join("\n"));
    await form.locator('[name="prompt"]').fill("Say {{item}}");
    await byTestId(page, "map-preview").waitFor();
    await byTestId(page, "map-submit").click();
    await hasText(byTestId(page, "group-page"), /1–100\s+of 250/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="group-task"]').length === 100);
    assert.ok((await callsOf(page, "group_tasks")).every((c) => c.limit === 100 && c.offset === 0));

    await byTestId(page, "group-next").click();
    await hasText(byTestId(page, "group-page"), /101–200\s+of 250/);
    await page.locator('[data-testid="group-task"][data-row="101"]').waitFor();
    assert.equal(await byTestId(page, "group-task").count(), 100);

    // 150 row events: the shown rows follow, and the record is fetched a few times, not 150.
    const before = (await fake(page, "callsOf", "get_group")).length;
    await fake(page, "finishRows", "many", 150);
    await hasText(byTestId(page, "group-detail").getByTestId("group-done"), "150 / 250 done");
    await hasText(page.locator('[data-testid="group-task"][data-row="150"] [data-testid="status-badge"]'), "completed");
    await hasText(page.locator('[data-testid="group-task"][data-row="151"] [data-testid="status-badge"]'), "queued");
    const fetched = (await fake(page, "callsOf", "get_group")).length - before;
    assert.ok(fetched >= 1 && fetched <= 3, `${fetched} fetches of the group for 150 events`);

    await byTestId(page, "group-next").click();
    await hasText(byTestId(page, "group-page"), /201–250\s+of 250/);
    assert.equal(await byTestId(page, "group-task").count(), 50);
    assert.ok(await byTestId(page, "group-next").isDisabled());
    await byTestId(page, "group-prev").click();
    await byTestId(page, "group-prev").click();
    await hasText(byTestId(page, "group-page"), /1–100\s+of 250/);
  });
});

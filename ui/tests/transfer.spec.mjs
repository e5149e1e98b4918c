// Export all or selected tasks through the save dialog; import through the open dialog, with
// every bad record listed.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, row, until, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const setDialog = (page, kind, path) => page.evaluate(([k, p]) => (window.__fake.dialog[k] = p), [kind, path]);
const putFile = (page, path, content) =>
  page.evaluate(([p, c]) => window.__fake.files.set(p, c), [path, JSON.stringify(content)]);

function record(id, overrides = {}) {
  return {
    id,
    name: `Imported ${id.slice(-4)}`,
    prompt: "An imported prompt",
    status: "completed",
    start_at: null,
    created_at: "2024-05-01T10:00:00Z",
    started_at: "2024-05-01T10:00:01Z",
    finished_at: "2024-05-01T10:00:03Z",
    output: "done",
    error: null,
    parent_task_id: null,
    llm_provider: "mock",
    llm_model: "echo",
    latency_ms: 2000,
    attempts: 1,
    max_attempts: 3,
    timeout_ms: 600000,
    cancel_reason: null,
    history: [],
    ...overrides,
  };
}

describe("export and import", () => {
  it("exports the selected tasks to the path the save dialog returns", async () => {
    const page = await app.open();
    await setDialog(page, "save", "/home/me/picked.json");
    assert.equal(await byTestId(page, "export-selected").isDisabled(), true);
    await row(page, "Draft onboarding email").getByTestId("row-select").check();
    await row(page, "Extract invoice fields").getByTestId("row-select").check();
    await byTestId(page, "export-selected").click();

    const [dialog] = await callsOf(page, "plugin:dialog|save");
    assert.deepEqual(dialog.options.filters, [{ name: "JSON", extensions: ["json"] }]);
    const [args] = await callsOf(page, "export_tasks");
    assert.equal(args.path, "/home/me/picked.json");
    assert.deepEqual(args.ids.sort(), [
      await fake(page, "idOf", "Draft onboarding email"),
      await fake(page, "idOf", "Extract invoice fields"),
    ].sort());
    await hasText(byTestId(page, "toast"), "Exported 2 tasks to /home/me/picked.json");
  });

  it("exports all tasks with no id list, and nothing when the dialog is dismissed", async () => {
    const page = await app.open();
    await byTestId(page, "export-all").click();
    const [args] = await callsOf(page, "export_tasks");
    assert.equal(args.ids, null);
    await hasText(byTestId(page, "toast"), /Exported 19 tasks/);

    await setDialog(page, "save", null);
    await byTestId(page, "export-all").click();
    await callsOf(page, "plugin:dialog|save", 2);
    assert.equal((await fake(page, "callsOf", "export_tasks")).length, 1);
  });

  it("lists every bad record of an import and imports nothing", async () => {
    const page = await app.open();
    await byTestId(page, "task-row").first().waitFor();
    await putFile(page, "/home/me/bad.json", {
      format_version: 1,
      exported_at: "2024-05-01T10:00:00Z",
      tasks: [
        record("01900000-0000-7000-8000-000000000001"),
        record("01900000-0000-7000-8000-000000000002", { prompt: "  " }),
        record("01900000-0000-7000-8000-000000000003", { max_attempts: 50 }),
      ],
    });
    await setDialog(page, "open", "/home/me/bad.json");
    await byTestId(page, "import").click();

    const problems = byTestId(page, "import-errors").locator("li");
    await until(page, () => document.querySelectorAll('[data-testid="import-errors"] li').length === 2);
    await hasText(problems.nth(0), /Record 2\s*01900000-0000-7000-8000-000000000002\s*the prompt is empty/);
    await hasText(problems.nth(1), /Record 3.*max_attempts must be between 1 and 20, got 50/);
    const [args] = await callsOf(page, "import_tasks");
    assert.equal(args.path, "/home/me/bad.json");
    assert.equal(await row(page, "Imported 0001").count(), 0);

    await page.keyboard.press("Escape");
    await byTestId(page, "import-errors").waitFor({ state: "detached" });
  });

  it("imports a good file and shows its tasks; ids already here are skipped", async () => {
    const page = await app.open();
    await byTestId(page, "task-row").first().waitFor();
    const existing = await fake(page, "idOf", "Draft onboarding email");
    await putFile(page, "/home/me/good.json", {
      format_version: 1,
      exported_at: "2024-05-01T10:00:00Z",
      tasks: [
        record("01900000-0000-7000-8000-00000000000a"),
        record("01900000-0000-7000-8000-00000000000b", { status: "failed", output: null, error: "boom" }),
        record(existing, { name: "Draft onboarding email" }),
      ],
    });
    await setDialog(page, "open", "/home/me/good.json");
    await byTestId(page, "import").click();
    await hasText(byTestId(page, "toast"), "Imported 2 tasks; 1 already here, left as they were");
    await row(page, "Imported 000a").waitFor();
    await hasText(row(page, "Imported 000b").getByTestId("status-badge"), "failed");
    await hasText(byTestId(page, "count-failed"), "3");
  });

  it("reports an unreadable import file in a toast", async () => {
    const page = await app.open();
    await setDialog(page, "open", "/nowhere.json");
    await byTestId(page, "import").click();
    await hasText(byTestId(page, "toast"), /Import failed: cannot read \/nowhere\.json/);
  });
});

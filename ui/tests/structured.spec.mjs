// Structured output: the task and schedule forms take an output schema as JSON (text that is not
// a JSON object is refused in the form, a schema the engine refuses is named next to the field),
// and a task's detail shows its parsed answer.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const SCHEMA = { type: "object", required: ["summary"], properties: { summary: { type: "string" } } };

describe("output schema", () => {
  it("refuses text that is not a JSON object in the form, shows the engine's refusal, and sends a good schema", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await byTestId(page, "new-task").click();
    const form = byTestId(page, "create-form");
    await form.locator('[name="name"]').fill("Digest");
    await form.locator('[name="prompt"]').fill("Summarise the incidents");
    const field = form.locator('[name="output_schema"]');

    await field.fill('{"type": "object",');
    await byTestId(page, "create-submit").click();
    await hasText(byTestId(page, "error-output_schema"), /^This is not valid JSON: .+\.$/);
    await field.fill('["a list"]');
    await byTestId(page, "create-submit").click();
    await hasText(byTestId(page, "error-output_schema"), /A JSON Schema is a JSON object/);
    assert.equal(await field.getAttribute("aria-invalid"), "true");
    assert.deepEqual(await fake(page, "callsOf", "submit_task"), [], "nothing was sent");

    // JSON the engine does not take as a schema: its sentence, next to the field.
    await field.fill('{"type": "nonsense"}');
    await byTestId(page, "create-submit").click();
    await hasText(byTestId(page, "error-output_schema"), /not a valid JSON Schema/);
    assert.equal(await byTestId(page, "task-row").count(), 0, "nothing was stored");

    await field.fill(JSON.stringify(SCHEMA));
    await byTestId(page, "create-submit").click();
    await form.waitFor({ state: "detached" });
    const calls = await callsOf(page, "submit_task", 2);
    assert.equal(calls.length, 2, "one refused by the engine, one created");
    assert.deepEqual(calls[1].input.output_schema, SCHEMA);

    // Its detail shows the parsed answer once it completes.
    await fake(page, "start", "Digest");
    await fake(page, "complete", "Digest", '{"summary": "two outages, both fixed"}');
    const parsed = byTestId(page, "detail-output-json");
    await hasText(parsed, /"summary": "two outages, both fixed"/);
  });

  it("takes a schedule's output schema and refuses one that is not JSON", async () => {
    const page = await app.open({ config: { seed: "none" } });
    await byTestId(page, "view-schedules").click();
    await byTestId(page, "schedule-add").click();
    const form = byTestId(page, "schedule-form");
    await form.waitFor();
    await form.locator('[name="schedule-name"]').fill("digest");
    await form.locator('[name="cron"]').fill("0 9 * * *");
    await form.locator('[name="timezone"]').fill("UTC");
    await form.locator('[name="prompt"]').fill("Summarise yesterday");
    await form.locator('[name="output_schema"]').fill("{summary: string}");
    await byTestId(page, "schedule-submit").click();
    await hasText(byTestId(page, "error-output_schema"), /^This is not valid JSON/);
    assert.equal((await fake(page, "callsOf", "create_schedule")).length, 0, "nothing was sent");

    await form.locator('[name="output_schema"]').fill(JSON.stringify(SCHEMA, null, 2));
    await byTestId(page, "error-output_schema").waitFor({ state: "detached" });
    await byTestId(page, "schedule-submit").click();
    await form.waitFor({ state: "detached" });
    const [args] = await callsOf(page, "create_schedule");
    assert.deepEqual(args.input.task.output_schema, SCHEMA);
    // Editing shows the stored schema.
    await byTestId(page, "schedule-edit").click();
    const again = byTestId(page, "schedule-form");
    await again.waitFor();
    assert.deepEqual(JSON.parse(await again.locator('[name="output_schema"]').inputValue()), SCHEMA);
  });
});

// Task flows in the real app: the mock provider ("echo", "sleep=MS") runs in the engine
// inside the app, and the UI learns of every change through events.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { appTest } from "./harness.mjs";
import { click, createTask, markPage, openDetail, pageWasReloaded, tid, waitForApp, waitForDetailText, waitForRow } from "./ui.mjs";

appTest("a submitted task reaches completed in the list through events, without a reload", async ({ browser }) => {
  await waitForApp(browser);
  await markPage(browser);

  await createTask(browser, { name: "e2e echo", prompt: "hello from e2e", model: "echo" });
  const row = await waitForRow(browser, "e2e echo", "completed");

  await openDetail(browser, row.id);
  await waitForDetailText(browser, "detail-output", (text) => text.includes("echo: hello from e2e"));
  assert.equal(await pageWasReloaded(browser), false, "the page was reloaded");
});

appTest("a chained task completes with its parent's output bound into its prompt", async ({ browser }) => {
  await waitForApp(browser);
  await markPage(browser);

  await createTask(browser, { name: "e2e parent", prompt: "the parent says hi", model: "echo" });
  const parent = await waitForRow(browser, "e2e parent", "completed");
  await openDetail(browser, parent.id);
  await waitForDetailText(browser, "detail-output", (text) => text.includes("echo: the parent says hi"));

  await createTask(browser, { chain: true, name: "e2e child", prompt: "Summarise: {{parent.output}}", model: "echo" });
  const child = await waitForRow(browser, "e2e child", "completed");
  assert.notEqual(child.id, parent.id);

  await openDetail(browser, child.id);
  // The engine sent the bound prompt; the echo provider answers with what it was sent.
  await waitForDetailText(browser, "detail-output", (text) => text.includes("echo: Summarise: echo: the parent says hi"));
  await waitForDetailText(browser, "detail-prompt", (text) => text.includes("Summarise: echo: the parent says hi"));
  await (await browser.$(tid("detail-parent"))).waitForDisplayed();
  assert.equal(await pageWasReloaded(browser), false, "the page was reloaded");
});

appTest("a task's answer is delivered to a file named by its variables, shown sent in its detail", async ({ browser, dataDir }) => {
  await waitForApp(browser);
  const folder = join(dataDir, "answers");
  await createTask(browser, {
    name: "e2e delivered",
    prompt: "Notes for {{date}}",
    model: "echo",
    toFile: `${folder}/{{date}}.md`,
  });
  const row = await waitForRow(browser, "e2e delivered", "completed");
  await openDetail(browser, row.id);
  await waitForDetailText(browser, "delivery-state", (text) => text.trim().startsWith("sent"));
  // The prompt's and the path's date are the run's, in the app's zone.
  const prompt = await waitForDetailText(browser, "detail-prompt", (text) => /Notes for \d{4}-\d{2}-\d{2}/.test(text));
  const date = prompt.match(/\d{4}-\d{2}-\d{2}/)[0];
  assert.equal(readFileSync(join(folder, `${date}.md`), "utf8"), `echo: Notes for ${date}`);
  assert.deepEqual(readdirSync(folder), [`${date}.md`], "one whole file, no temporary one");
});

appTest("a running task cancelled from its detail shows cancelled", async ({ browser }) => {
  await waitForApp(browser);

  await createTask(browser, { name: "e2e sleeper", prompt: "take your time", model: "sleep=60000" });
  const row = await waitForRow(browser, "e2e sleeper", "running");
  await openDetail(browser, row.id);
  await waitForDetailText(browser, "detail-status", (text) => text.trim() === "running");

  await click(browser, tid("cancel-button"));
  const reason = await browser.$(tid("cancel-reason"));
  await reason.waitForDisplayed();
  await reason.setValue("no longer needed");
  await click(browser, tid("cancel-confirm"));

  // Well within the 60 s the task would otherwise sleep.
  await waitForRow(browser, "e2e sleeper", "cancelled", 10_000);
  await waitForDetailText(browser, "detail-status", (text) => text.trim() === "cancelled");
});

appTest("an answer holding HTML renders as inert Markdown: nothing in it runs or loads, and unsafe links are dropped", async ({ browser }) => {
  await waitForApp(browser);
  // The echo provider answers with the prompt, so the prompt is the hostile answer.
  const prompt = [
    "**bold** <script>window.__pwned = 'script'</script>",
    `<img src="x" onerror="window.__pwned = 'img'"> <iframe src="https://example.com/"></iframe>`,
    `<a href="javascript:window.__pwned = 'raw'">raw</a> [md](javascript:window.__pwned='md') [data](data:text/html,hi)`,
  ].join(" ");
  await createTask(browser, { name: "e2e hostile", prompt, model: "echo" });
  const row = await waitForRow(browser, "e2e hostile", "completed");
  await openDetail(browser, row.id);
  await waitForDetailText(browser, "detail-output", (text) => text.includes("<script>"));

  const seen = await browser.execute((sel) => {
    const out = document.querySelector(sel);
    for (const a of out.querySelectorAll("a")) a.click();
    return {
      format: out.getAttribute("data-format"),
      bold: out.querySelector("strong")?.textContent ?? null,
      active: out.querySelectorAll("script, iframe, img, object, embed, [onerror], [onclick]").length,
      hrefs: [...out.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
      pwned: window.__pwned ?? null,
    };
  }, tid("detail-output"));
  assert.deepEqual(seen, { format: "markdown", bold: "bold", active: 0, hrefs: [], pwned: null });
  await waitForApp(browser);
});

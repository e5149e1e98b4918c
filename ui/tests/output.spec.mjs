// The answer in the task detail: Markdown rendered and sanitised, links opened outside the
// window, the raw text a click away, copy and save.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, row, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const TASK = "Customer interview synthesis";

async function showAnswer(page, output) {
  await row(page, TASK).click();
  await fake(page, "complete", TASK, output);
  const out = byTestId(page, "detail-output");
  await out.and(page.locator('[data-format="markdown"]')).waitFor();
  return out;
}

const HOSTILE = [
  "# Report",
  "",
  '<script>window.__pwned = "script"</script>',
  "",
  '<img src="x" onerror="window.__pwned = \'img\'">',
  "",
  '<iframe src="https://example.com/"></iframe>',
  "",
  '<a href="javascript:window.__pwned = \'raw link\'">raw link</a> and <b onclick="window.__pwned = \'b\'">bold</b>',
  "",
  "[md link](javascript:window.__pwned='md') [data link](data:text/html,hi) ![pic](https://example.com/p.png)",
  "",
  "[the docs](https://example.com/docs)",
].join("\n");

describe("the answer", () => {
  it("renders Markdown: headings, lists, tables and code blocks with a copy button", async () => {
    const page = await app.open();
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
    const out = await showAnswer(page, "## Findings\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```sh\necho hi\n```\n");
    await hasText(out.locator("h2"), "Findings");
    assert.equal(await out.locator("li").count(), 2);
    assert.deepEqual(await out.locator("td").allTextContents(), ["1", "2"]);
    await hasText(out.locator("pre code"), "echo hi");
    await out.getByTestId("copy-code").click();
    await hasText(page.getByTestId("toast"), "Code copied");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "echo hi\n");
  });

  it("renders a long answer piece by piece into the same structure as a short one", async () => {
    const page = await app.open();
    // Long lines (of seeded random lengths) inside a list item and a code fence, each followed
    // by a blank line and a line that must stay in the same block: a cut after the blank line
    // would make a heading of the fence's "# not a heading" or end the list early.
    let seed = 7;
    const random = (n) => 1 + ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
    const section = (i) =>
      `## Part ${i}\n\nText with a [link](https://example.com/${i}).\n\n- a\n- b ${"y".repeat(random(3000))}\n\n  still item b\n\n` +
      `| k | v |\n|---|---|\n| ${i} | x |\n\n` +
      "```\ncode " + "z".repeat(random(3000)) + "\n\n# not a heading\n```\n\n";
    const count = 300;
    await row(page, TASK).click();
    await fake(page, "complete", TASK, Array.from({ length: count }, (_, i) => section(i)).join(""));
    const out = page.locator('[data-testid="detail-output"][data-format="markdown"][data-complete="true"]');
    await out.waitFor({ timeout: 30_000 });
    assert.ok((await out.locator(".piece").count()) > 10, "the answer was not split");
    const counts = await out.evaluate((el) => ({
      h1: el.querySelectorAll("h1").length,
      h2: el.querySelectorAll("h2").length,
      li: el.querySelectorAll("li").length,
      td: el.querySelectorAll("td").length,
      pre: el.querySelectorAll("pre").length,
      a: el.querySelectorAll("a").length,
    }));
    assert.deepEqual(counts, { h1: 0, h2: count, li: 2 * count, td: 2 * count, pre: count, a: count });
  });

  it("shows raw HTML as text and runs nothing: no script, handler, frame, image, or javascript: or data: link", async () => {
    const page = await app.open();
    const out = await showAnswer(page, HOSTILE);
    await hasText(out.locator("h1"), "Report");
    // The raw HTML is there to read, as text.
    const text = await out.textContent();
    for (const shown of ["<script>", "<img", "<iframe", 'onclick="window.__pwned']) assert.ok(text.includes(shown), `${shown} is not shown as text`);
    assert.equal(await out.locator("script, iframe, img, object, embed, [onerror], [onclick]").count(), 0);
    const hrefs = await out.locator("a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    assert.deepEqual(hrefs.filter((h) => h !== null), ["https://example.com/docs"]);
    // Clicking every link (the unsafe ones have no target) runs nothing and leaves the page.
    for (const link of await out.locator("a").all()) await link.click();
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.ok(page.url().startsWith("http://127.0.0.1"), "a link navigated the window");
  });

  it("opens a link in the system browser, never in the window", async () => {
    const page = await app.open();
    const out = await showAnswer(page, "See [the docs](https://example.com/docs).");
    const url = page.url();
    await out.locator("a").click();
    const [open] = await callsOf(page, "plugin:opener|open_url");
    assert.equal(open.url, "https://example.com/docs");
    assert.equal(page.url(), url);
  });

  it("switches to the raw text and back, copies all of it, and saves it to a file", async () => {
    const page = await app.open();
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
    const answer = "**bold** and `code`\n\n- item";
    await showAnswer(page, answer);
    await byTestId(page, "output-raw").click();
    const raw = page.locator('[data-testid="detail-output"][data-format="text"]');
    assert.equal(await raw.textContent(), answer);
    await byTestId(page, "output-raw").click();
    await page.locator('[data-testid="detail-output"][data-format="markdown"] strong').waitFor();

    await byTestId(page, "output-copy").click();
    await hasText(page.getByTestId("toast"), "Answer copied");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), answer);

    await byTestId(page, "output-save").click();
    const [saved] = await callsOf(page, "save_output");
    assert.equal(saved.path, "/home/me/baton-tasks.json");
    assert.equal(await page.evaluate((p) => window.__fake.files.get(p), saved.path), answer);
  });
});

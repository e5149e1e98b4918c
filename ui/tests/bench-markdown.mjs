// Benchmark (not a test; run by hand): how long the task detail takes to show a 1 MB answer
// rendered as Markdown, side by side with the same answer as raw text, in Debian's headless
// Chromium on the built UI with the fake backend. Each round completes a task with the answer
// and times, in the page, from the event to the frame after its first piece is on screen and
// to the last piece in (the answer renders piece by piece: OutputView); then switches
// Raw → Rendered (timed to the first piece) and Rendered → Raw. Medians of ROUNDS rounds.
//
//   npm run ui:build && npx vite build --config ui/tests/fake/vite.config.ts
//   node ui/tests/bench-markdown.mjs [ROUNDS]
import { launch, openApp, row, serve } from "./harness.mjs";

const rounds = Number(process.argv[2] ?? 7);
const TASK = "Customer interview synthesis";

/** About 1 MiB of the Markdown models write: headings, paragraphs with links, lists, tables, code. */
function answer() {
  const parts = [];
  for (let i = 0; parts.join("").length < 1 << 20; i++) {
    parts.push(
      `## Section ${i}\n\nA paragraph with **bold**, *emphasis*, \`code\` and [a link](https://example.com/${i}). ` +
        "It goes on for a while, as answers do, to make the paragraph a realistic length for a model's prose.\n\n" +
        `- first point ${i}\n- second point\n  - nested\n1. one\n2. two\n\n` +
        `| metric | value |\n|---|---|\n| rows | ${i} |\n| cost | $0.0${i % 10} |\n\n` +
        "```python\nfor row in rows:\n    print(row)\n```\n\n",
    );
  }
  return parts.join("");
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await serve();
const browser = await launch();
const text = answer();
const results = { first: [], complete: [], rendered: [], raw: [] };
try {
  for (let round = 0; round < rounds; round++) {
    const { page, context } = await openApp(browser, server.url);
    await row(page, TASK).click();
    await page.getByTestId("detail-output").waitFor();
    const times = await page.evaluate(
      async ([name, output]) => {
        const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        const shown = (format) =>
          new Promise((resolve) => {
            const check = () => {
              if (document.querySelector(`[data-testid="detail-output"][data-format="${format}"]`)) resolve();
              else requestAnimationFrame(check);
            };
            check();
          });
        const done = () =>
          new Promise((resolve) => {
            const check = () => {
              if (document.querySelector('[data-format="markdown"][data-complete="true"]')) resolve();
              else setTimeout(check, 1);
            };
            check();
          });
        let t = performance.now();
        window.__fake.complete(name, output);
        await shown("markdown");
        await frame();
        const first = performance.now() - t;
        await done();
        await frame();
        const complete = performance.now() - t;
        const toggle = document.querySelector('[data-testid="output-raw"]');
        t = performance.now();
        toggle.click();
        await shown("text");
        await frame();
        const raw = performance.now() - t;
        t = performance.now();
        toggle.click();
        await shown("markdown");
        await frame();
        const rendered = performance.now() - t;
        return { first, complete, raw, rendered };
      },
      [TASK, text],
    );
    for (const k of Object.keys(results)) results[k].push(times[k]);
    await context.close();
  }
} finally {
  await browser.close();
  await server.close();
}
const mib = (text.length / 1048576).toFixed(2);
const f = (ms) => `${ms.toFixed(0)} ms`;
console.log(`${mib} MiB answer, median of ${rounds} rounds (headless Chromium):`);
console.log(`  completed event → first piece rendered on screen: ${f(median(results.first))}`);
console.log(`  completed event → every piece rendered:           ${f(median(results.complete))}`);
console.log(`  Raw → Rendered switch (first piece on screen):    ${f(median(results.rendered))}`);
console.log(`  Rendered → Raw switch (the baseline):             ${f(median(results.raw))}`);
console.log(`  ratio Raw → Rendered / Rendered → Raw: ${(median(results.rendered) / median(results.raw)).toFixed(2)}`);

// Benchmark (not a test; run by hand): event → UI for a large group. In Debian's headless
// Chromium on the built UI with the fake backend, maps a prompt over ROWS pasted lines, then
// ends every row at once (one task state event each, as the engine sends them) and times, in
// the page, from the first event sent to the frame where the group's progress shows all ROWS
// done; and the longest gap between two frames meanwhile (how long the window stops
// answering, the fake's own synchronous work left out). Medians of ROUNDS rounds.
//
//   npx vite build ui && npx vite build --config ui/tests/fake/vite.config.ts
//   node ui/tests/bench-groups.mjs [ROWS] [ROUNDS]
import { launch, openApp, serve } from "./harness.mjs";

const rows = Number(process.argv[2] ?? 10_000);
const rounds = Number(process.argv[3] ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const server = await serve();
const browser = await launch();
const results = { shown: [], longestFrame: [], create: [], fake: [] };
try {
  for (let round = 0; round < rounds; round++) {
    const { page, context } = await openApp(browser, server.url, { config: { seed: "none" } });
    await page.getByTestId("new-map").click();
    const form = page.getByTestId("map-form");
    await form.locator('[name="group-name"]').fill("big");
    // Pasted at once (Playwright's `fill` types large text slowly).
    await form.locator('[name="rows-data"]').evaluate((el, n) => {
      el.value = Array.from({ length: n }, (_, i) => `item ${i + 1}`).join("\n");
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }, rows);
    await form.locator('[name="prompt"]').fill("Say {{item}}");
    await page.getByTestId("map-preview").waitFor();
    const created = Date.now();
    await page.getByTestId("map-submit").click();
    const total = rows.toLocaleString("en-GB");
    const done = page.getByTestId("group-detail").getByTestId("group-done");
    await done.filter({ hasText: `0 / ${total} done` }).waitFor({ timeout: 60_000 });
    results.create.push(Date.now() - created);
    // The creation events (one per row) have been handled before timing starts.
    await page.waitForTimeout(1000);

    const timing = await page.evaluate(
      ([n, want]) =>
        new Promise((resolve) => {
          const t0 = performance.now();
          let last = t0;
          let longest = 0;
          window.__fake.finishRows("big", n);
          // The fake's own work (saving the rows, queueing their events), not the window's.
          const fake = performance.now() - t0;
          // Frames are timed from here: the window's handling of the events, not the fake's work.
          last = performance.now();
          const frame = () => {
            const now = performance.now();
            longest = Math.max(longest, now - last);
            last = now;
            const text = document.querySelector('[data-testid="group-detail"] [data-testid="group-done"]')?.textContent ?? "";
            if (text.startsWith(want)) resolve({ shown: now - t0, longestFrame: longest, fake });
            else requestAnimationFrame(frame);
          };
          requestAnimationFrame(frame);
        }),
      [rows, `${total} / ${total} done`],
    );
    results.shown.push(timing.shown);
    results.longestFrame.push(timing.longestFrame);
    results.fake.push(timing.fake);
    await context.close();
    console.log(
      `round ${round + 1}: created in ${results.create[round]} ms; all ${total} shown ${timing.shown.toFixed(0)} ms after the first event (of which the fake's own work ${timing.fake.toFixed(0)} ms); longest frame ${timing.longestFrame.toFixed(0)} ms`,
    );
  }
} finally {
  await browser.close();
  await server.close();
}
console.log(
  `median of ${rounds}: ${rows} row events → progress shows them all in ${median(results.shown).toFixed(0)} ms (the fake's own work ${median(results.fake).toFixed(0)} ms of it); longest frame ${median(results.longestFrame).toFixed(0)} ms; create (${rows} rows, click → view) ${median(results.create)} ms`,
);

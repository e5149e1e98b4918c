// Screenshots of the real app for docs/screenshots/ (run by scripts/screenshots.sh, under
// Xvfb and a session bus). Fills a fresh data directory through the UI, then captures the
// app's X window with ImageMagick's `import`: what a user sees, not a page rendering.

import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, launch } from "./harness.mjs";
import { click, createTask, openDetail, tid, waitForApp, waitForDetailText, waitForRow } from "./ui.mjs";

const run = promisify(execFile);
const OUT = join(ROOT, "docs/screenshots");

async function shoot(app, name) {
  // Toasts are transient; wait for them to go so they do not cover the picture.
  await app.browser.waitUntil(async () => (await app.browser.$$(tid("toast"))).length === 0, {
    timeout: 20_000,
    timeoutMsg: "toasts stayed on screen",
  });
  // WebDriver returns before WebKit paints what it just typed; two frames later it has.
  await app.browser.executeAsync((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const { stdout } = await run("/usr/bin/python3", [join(ROOT, "e2e/window.py"), "id", String(app.pid), "Baton"]);
  const file = join(OUT, `desktop-${name}.png`);
  await run("import", ["-window", stdout.trim(), file]);
  console.log(`screenshots: ${file}`);
}

const app = await launch();
try {
  const { browser } = app;
  await waitForApp(browser);

  const tasks = [
    { name: "Summarise the quarterly report", prompt: "Summarise the attached quarterly report in five bullet points.", model: "stream=40,sleep=1200" },
    { name: "Translate release notes", prompt: "Translate the release notes into French.", model: "echo" },
    { name: "Draft the onboarding email", prompt: "Draft a friendly onboarding email for new users.", model: "fatal" },
    { name: "Classify support tickets", prompt: "Classify each ticket as bug, question or request.", model: "sleep=600000" },
    { name: "Weekly digest", prompt: "Write the weekly digest of merged changes.", model: "sleep=600000" },
  ];
  for (const task of tasks) await createTask(browser, task);
  await waitForRow(browser, tasks[0].name, "completed");
  await waitForRow(browser, tasks[1].name, "completed");
  await waitForRow(browser, tasks[2].name, "failed", 30_000);
  const first = await waitForRow(browser, tasks[0].name, "completed");

  await openDetail(browser, first.id);
  await createTask(browser, { chain: true, name: "Turn the summary into a tweet", prompt: "Make a tweet of: {{parent.output}}", model: "echo" });
  await waitForRow(browser, "Turn the summary into a tweet", "completed");

  // The list, with the first task's detail beside it.
  await openDetail(browser, first.id);
  await waitForDetailText(browser, "detail-output", (text) => text.length > 0);
  await shoot(app, "list");

  const chained = await waitForRow(browser, "Turn the summary into a tweet", "completed");
  await openDetail(browser, chained.id);
  await waitForDetailText(browser, "detail-output", (text) => text.includes("Make a tweet of"));
  await shoot(app, "detail");

  await click(browser, tid("new-task"));
  const form = await browser.$(tid("create-form"));
  await form.waitForDisplayed();
  await (await form.$('[name="name"]')).setValue("Review the pull request");
  await (await form.$('[name="prompt"]')).setValue("Review the diff for correctness and style; list concrete fixes.");
  await shoot(app, "create");
} catch (error) {
  await app.dump("screenshots");
  process.exitCode = 1;
  console.error(error);
} finally {
  await app.close();
}

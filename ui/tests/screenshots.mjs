// Takes the pictures in docs/screenshots/: the main views in light and dark, from the built UI
// with the fake backend and a frozen clock. Run with `npm run screenshots`.
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { byTestId, fake, hasText, launch, openApp, row, serve } from "./harness.mjs";

const out = fileURLToPath(new URL("../../docs/screenshots/", import.meta.url));
const TIME = "2025-03-14T14:30:00+01:00";

/** Configured providers for the views that show them. */
const PROVIDERS = [
  {
    name: "anthropic",
    kind: "anthropic",
    base_url: "https://api.anthropic.com",
    model: "claude-sonnet-4-5",
    headers: {},
    limits: { max_concurrency: 4, rpm: 50, tpm: 40000 },
    key: { source: "keychain" },
    prices: { input_per_mtok: 3, output_per_mtok: 15 },
    idle_timeout_ms: null,
  },
  {
    name: "ollama",
    kind: "openai-compatible",
    base_url: "http://127.0.0.1:11434/v1",
    model: "llama3.2",
    headers: {},
    limits: { max_concurrency: 1, rpm: null, tpm: null },
    key: { source: "none" },
    prices: null,
    idle_timeout_ms: null,
  },
  {
    name: "openai",
    kind: "openai-compatible",
    base_url: "https://api.openai.com/v1",
    model: "gpt-4o-mini",
    headers: {},
    limits: { max_concurrency: null, rpm: 500, tpm: null },
    key: { source: "env", var: "OPENAI_API_KEY" },
    prices: { input_per_mtok: 0.15, output_per_mtok: 0.6 },
    idle_timeout_ms: null,
  },
];

const VIEWS = {
  async list(page) {
    await row(page, "Summarise Q3 incident reports").getByTestId("row-select").check();
    await row(page, "Extract invoice fields").getByTestId("row-select").check();
    // Checking scrolled the list a little; show it from the top.
    await byTestId(page, "task-list").evaluate((el) => (el.scrollTop = 0));
  },
  async detail(page) {
    await row(page, "Outline the migration plan").click();
    await hasText(byTestId(page, "detail-status"), "running");
    const chunks = [
      "Migration plan: task store v1 → v2\n\n",
      "1. Freeze writes: pause the workers and let running attempts finish.\n",
      "2. Snapshot the database file (rollback point A).\n",
      "3. Copy tasks into the new tables in batches of 1,000; verify counts per state.\n",
      "4. Switch readers to v2 behind a flag (rollback point B).\n",
      "5. Resume the workers and watch the failure rate for 30 minutes.",
    ];
    for (const c of chunks) await fake(page, "output", "Outline the migration plan", c);
    await hasText(byTestId(page, "detail-output"), /watch the failure rate/);
  },
  async create(page) {
    await byTestId(page, "new-task").click();
    await page.locator('[name="name"]').fill("Summarise support backlog");
    await page.locator('[name="prompt"]').fill("Group this week's open support tickets by theme and suggest one fix per theme.");
    await page.locator('[name="model"]').fill("bogus");
    await page.locator('[name="run-in"]').fill("30");
    await byTestId(page, "create-submit").click();
    await byTestId(page, "error-model").waitFor();
  },
  async settings(page) {
    await row(page, "Changelog entry from commits").waitFor();
    await page.getByRole("button", { name: "Settings" }).click();
    await byTestId(page, "settings").waitFor();
  },
  async providers(page) {
    await page.getByRole("button", { name: "Settings" }).click();
    await byTestId(page, "settings-tab-providers").click();
    const row = page.locator('[data-testid="provider-row"][data-provider="ollama"]');
    await row.getByTestId("provider-test").click();
    await row.locator('[data-testid="provider-test-result"][data-outcome="ok"]').waitFor();
  },
};

const server = await serve();
const browser = await launch();
try {
  await mkdir(out, { recursive: true });
  for (const scheme of ["light", "dark"]) {
    for (const [name, show] of Object.entries(VIEWS)) {
      const { page, context, problems } = await openApp(browser, server.url, {
        colorScheme: scheme,
        time: TIME,
        config: { providers: PROVIDERS },
      });
      await byTestId(page, "task-row").first().waitFor();
      await byTestId(page, "activity").locator(".stats").waitFor();
      await show(page);
      // Let the last frame of updates land.
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      const file = path.join(out, `${name}-${scheme}.png`);
      await page.screenshot({ path: file, animations: "disabled", caret: "hide" });
      if (problems.length > 0) throw new Error(`${name} (${scheme}):\n${problems.join("\n")}`);
      console.log(`wrote ${path.relative(process.cwd(), file)}`);
      await context.close();
    }
  }
} finally {
  await browser.close();
  await server.close();
}

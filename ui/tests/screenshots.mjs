// Takes the pictures in docs/screenshots/: the main views in light and dark, from the built UI
// with the fake backend and a frozen clock. Run with `npm run screenshots`; with view names
// (`npm run screenshots -- schedules schedules-form`) it retakes only those.
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

/** Calls a backend command the way the UI does (the fake answers it and sends the events). */
const invoke = (page, cmd, args) => page.evaluate(([c, a]) => window.__TAURI_INTERNALS__.invoke(c, a), [cmd, args]);

/**
 * Three schedules with some history: "Weekday briefing" ran on Monday and this morning, with
 * the three runs between skipped while the laptop was closed; "Hourly inbox triage" is paused.
 * The clock is moved to each past fire time so the tasks and skipped runs carry real times.
 */
async function seedSchedules(page, context) {
  const at = (iso) => context.clock.setFixedTime(new Date(iso));
  const create = (input) => invoke(page, "create_schedule", { input });
  const briefing = await create({
    name: "Weekday briefing",
    cron: "0 9 * * 1-5",
    timezone: "Europe/Paris",
    missed: "skip",
    overlap: "skip",
    prompt: "Summarise yesterday's merged pull requests, open incidents and today's calendar as a short morning briefing.",
    provider: "anthropic",
    model: "claude-sonnet-4-5",
    max_attempts: 3,
    timeout_s: 120,
    follow_ups: ["Turn the briefing into a three-line Slack post for #team-platform."],
  });
  const triage = await create({
    name: "Hourly inbox triage",
    cron: "0 * * * *",
    timezone: "UTC",
    missed: "once",
    max_lateness_minutes: 30,
    overlap: "skip",
    prompt: "Sort the new support emails into bug, billing and question, and draft a reply to each question.",
    provider: "openai",
    model: "gpt-4o-mini",
    timeout_s: 60,
  });
  await create({
    name: "Friday release notes",
    cron: "0 16 * * 5",
    timezone: "America/New_York",
    missed: "once",
    overlap: "queue",
    prompt: "Write release notes for this week's merged changes, grouped by feature, fix and chore.",
    provider: "anthropic",
    model: "claude-sonnet-4-5",
  });

  /** One fire of `schedule` at `iso`: its task and follow-ups run and complete in turn. */
  async function fire(schedule, iso, outputs) {
    await at(iso);
    const fired = await invoke(page, "fire_schedule_now", { id: schedule.id });
    let ms = new Date(iso).getTime();
    for (const [i, task] of fired.tasks.entries()) {
      await at(new Date((ms += 2_000)));
      await page.evaluate((id) => window.__fake.model.start(id), task.id);
      await at(new Date((ms += 18_000 + 7_000 * i)));
      const usage = { prompt_tokens: 1840, completion_tokens: 412, cost_usd: 0.0117 };
      await page.evaluate(([id, out, u]) => window.__fake.model.complete(id, out, u), [task.id, outputs[i] ?? "Done.", usage]);
    }
  }
  const briefingOut = [
    "Morning briefing: 6 PRs merged, 1 open incident (INC-212, degraded search).",
    "6 PRs merged · INC-212 still open · design review at 14:00",
  ];
  await fire(briefing, "2025-03-10T09:00:00+01:00", briefingOut);
  // Opened again on Friday morning: Tuesday to Thursday's runs were missed and, with
  // `missed: skip`, recorded as skipped.
  await at("2025-03-14T09:00:00+01:00");
  await fake(page, "skipRuns", "Weekday briefing", 3);
  await fire(briefing, "2025-03-14T09:00:00+01:00", briefingOut);
  for (const hour of ["09", "10", "11", "12"]) {
    await fire(triage, `2025-03-14T${hour}:00:00Z`, ["12 emails: 3 bugs, 2 billing, 7 questions (replies drafted)."]);
  }
  await at("2025-03-14T12:00:00Z");
  await fake(page, "skipRuns", "Hourly inbox triage", 1, "overlap");
  await invoke(page, "pause_schedule", { id: triage.id });
  await at(TIME);
  // The activity figures were last fetched while the clock was in the past: fetch everything
  // again at TIME, as after a resync, so the sidebar is the same in every run.
  await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
  const fetched = (await fake(page, "callsOf", "activity")).length;
  await fake(page, "resync");
  await page.waitForFunction((n) => window.__fake.callsOf("activity").length > n, fetched);
}

/** Opens the Schedules view with `seedSchedules`' schedules, the first one selected. */
async function openSchedules(page, context) {
  await seedSchedules(page, context);
  await byTestId(page, "view-schedules").click();
  await byTestId(page, "schedules").waitFor();
  await page.locator('[data-testid="schedule-row"][data-schedule="Weekday briefing"]').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="schedule-task"]').length === 4);
  await hasText(byTestId(page, "skip-group"), /3 runs skipped while Baton was closed or asleep/);
  await page.locator('[data-testid="schedule-row"][data-schedule="Hourly inbox triage"][data-enabled="false"]').waitFor();
}

/** Questions about cities, as a spreadsheet exported to CSV. */
const CITY_ROWS = [
  "city,question",
  "Lisbon,Best month to visit?",
  "Kyoto,Which temples need a booking?",
  "Oslo,How expensive is public transport?",
  "Cape Town,Is it safe to hike Table Mountain alone?",
  "Montreal,Which neighbourhood for a first visit?",
  "Hanoi,What should I eat first?",
  "Lima,How many days for the city?",
  "Tbilisi,Do I need cash?",
  "Valparaíso,Funiculars worth riding?",
  "Reykjavik,Northern lights odds in March?",
].join("\n");
const CITY_PROMPT = "You are a travel editor. For {{row.city}}, answer in two sentences: {{row.question}}";

/** Fills the map form with `CITY_ROWS` and waits for its preview. */
async function fillMap(page) {
  await byTestId(page, "new-map").click();
  const form = byTestId(page, "map-form");
  await form.locator('[name="group-name"]').fill("City guide answers");
  await form.locator('input[name="source"][value="csv"]').check();
  await form.locator('[name="rows-data"]').fill(CITY_ROWS);
  await form.locator('[name="prompt"]').fill(CITY_PROMPT);
  await form.locator('[name="join"]').fill("Turn these answers into a one-page guide, a heading per city:\n{{items}}");
  await byTestId(page, "map-preview").waitFor();
  return form;
}

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
    await page.locator('[name="start-in"]').fill("30");
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
  async groups(page) {
    await fillMap(page);
    await byTestId(page, "map-submit").click();
    await byTestId(page, "group-detail").waitFor();
    await fake(page, "finishRows", "City guide answers", 6);
    await fake(page, "finishRows", "City guide answers", 1, "failed");
    await hasText(byTestId(page, "group-detail").getByTestId("group-done"), "7 / 10 done");
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="group-task"][data-row="7"] [data-testid="status-badge"]')?.textContent === "failed",
    );
  },
  async "groups-form"(page) {
    const form = await fillMap(page);
    // The preview, not the last field typed in.
    await form.evaluate((el) => (el.scrollTop = 0));
  },
  async schedules(page, context) {
    await openSchedules(page, context);
  },
  async "schedules-form"(page, context) {
    await openSchedules(page, context);
    await byTestId(page, "schedule-add").click();
    const form = byTestId(page, "schedule-form");
    await form.locator('[name="schedule-name"]').fill("Nightly dependency audit");
    await form.locator('[name="cron"]').fill("30 2 * * 1-5");
    await form
      .locator('[name="prompt"]')
      .fill("List the dependencies with new security advisories since yesterday and say which services use them.");
    await form.locator('[name="follow-ups"]').fill("Open one issue per affected service.");
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll('[data-testid="schedule-preview"] li')];
      return items.length === 5 && items.every((li) => li.textContent.includes("02:30"));
    });
  },
};

/** View names on the command line: take only those. */
const only = process.argv.slice(2);
for (const name of only) if (!(name in VIEWS)) throw new Error(`no view ${name} (known: ${Object.keys(VIEWS).join(", ")})`);

const server = await serve();
const browser = await launch();
try {
  await mkdir(out, { recursive: true });
  for (const scheme of ["light", "dark"]) {
    for (const [name, show] of Object.entries(VIEWS)) {
      if (only.length > 0 && !only.includes(name)) continue;
      const { page, context, problems } = await openApp(browser, server.url, {
        colorScheme: scheme,
        time: TIME,
        config: { providers: PROVIDERS },
      });
      await byTestId(page, "task-row").first().waitFor();
      await byTestId(page, "activity").locator(".stats").waitFor();
      await show(page, context);
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

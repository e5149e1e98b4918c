// Runs the built UI (ui/dist) in Debian's headless Chromium with the fake backend injected
// before the app boots. The pages are served from 127.0.0.1 with the app's real CSP, so a
// CSP violation (an inline script, say) fails the test that caused it.
import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const dist = path.join(repo, "ui/dist");
// BATON_UI_TESTS_OUT (as for the build) keeps worktrees that share node_modules apart.
const fakeBackend = path.join(
  process.env.BATON_UI_TESTS_OUT || path.join(repo, "node_modules/.cache/baton-ui-tests"),
  "fake-backend.js",
);
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
};

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** The CSP from tauri.conf.json, so the test page is held to what the app is. */
async function appCsp() {
  const conf = JSON.parse(await readFile(path.join(repo, "tauri.conf.json"), "utf8"));
  return conf.app.security.csp;
}

/** Serves ui/dist on a free port of 127.0.0.1. */
export async function serve() {
  const csp = await appCsp();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const rel = url.pathname === "/" ? "index.html" : decodeURIComponent(url.pathname).replace(/^\/+/, "");
    const file = path.normalize(path.join(dist, rel));
    if (!file.startsWith(dist)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
        "content-security-policy": csp,
        "cache-control": "no-store",
      });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(r)) };
}

export async function launch() {
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/**
 * Opens the app with the fake backend. `config` goes to the fake (`seed`, `bulk`, `failFirst`).
 * Returns the page and the list of page errors and CSP violations seen so far.
 */
export async function openApp(browser, url, { config = {}, colorScheme = "light", viewport, time, clock } = {}) {
  const context = await browser.newContext({
    colorScheme,
    viewport: viewport ?? { width: 1280, height: 800 },
    deviceScaleFactor: 1,
    reducedMotion: "reduce",
    locale: "en-GB",
    timezoneId: "Europe/Berlin",
  });
  // A frozen wall clock (timers still run) for pictures that do not change from run to run.
  if (time) await context.clock.setFixedTime(new Date(time));
  // A clock the test moves itself (page.clock.fastForward), timers included.
  if (clock) await context.clock.install({ time: new Date(clock) });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || /Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript((c) => {
    window.__FAKE_CONFIG__ = c;
  }, config);
  await page.addInitScript({ path: fakeBackend });
  await page.goto(url);
  await page.getByTestId("task-list").waitFor();
  return { page, context, problems };
}

export const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

/** The list row of the task named `name`. */
export function row(page, name) {
  return page.getByTestId("task-row").filter({ has: page.locator(".name .text", { hasText: new RegExp(`^${escape(name)}$`) }) });
}

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Calls `window.__fake[method](...args)` in the page and returns its (serialisable) result. */
export function fake(page, method, ...args) {
  return page.evaluate(([m, a]) => {
    const result = window.__fake[m](...a);
    return result === undefined ? null : JSON.parse(JSON.stringify(result));
  }, [method, args]);
}

/** Waits until `fn` (run in the page) returns something truthy, and returns it. */
export async function until(page, fn, arg, timeout = 10_000) {
  const handle = await page.waitForFunction(fn, arg, { timeout });
  return handle.jsonValue();
}

/** Texts of all visible status badges in the list. */
export function listStatuses(page) {
  return page.$$eval('[data-testid="task-row"] [data-testid="status-badge"]', (els) => els.map((e) => e.textContent));
}

/**
 * Registers hooks for a spec file: one server and browser for the file, a fresh page per test
 * (`await app.open(options)`), and after each test a check that the page logged no error and
 * broke no CSP rule.
 */
export function useApp({ before, after, afterEach }) {
  const env = { server: null, browser: null, opened: null };
  before(async () => {
    env.server = await serve();
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.close();
  });
  afterEach(async () => {
    const opened = env.opened;
    env.opened = null;
    if (!opened) return;
    await opened.context.close();
    if (opened.problems.length > 0) throw new Error(`the page reported:\n${opened.problems.join("\n")}`);
  });
  return {
    async open(options) {
      env.opened = await openApp(env.browser, env.server.url, options);
      return env.opened.page;
    },
  };
}

/** Waits until `locator` (its first match) shows exactly `text` (or matches a RegExp). */
export async function hasText(locator, text, timeout = 10_000) {
  const re = text instanceof RegExp ? text : new RegExp(`^\\s*${escape(text)}\\s*$`);
  try {
    await locator.filter({ hasText: re }).first().waitFor({ timeout });
  } catch {
    const shown = await locator.allTextContents().catch(() => []);
    throw new Error(`expected ${locator} to show ${re}; it shows ${JSON.stringify(shown)}`);
  }
}

/** Waits until the fake has received `n` calls of `cmd` and returns their arguments. */
export async function callsOf(page, cmd, n = 1) {
  await page.waitForFunction(([c, k]) => window.__fake.callsOf(c).length >= k, [cmd, n]);
  return fake(page, "callsOf", cmd);
}

// The installed app updating itself from a signed feed on a local server, driven like a person
// would: scripts/update-test.sh builds two .deb packages of Baton (the running version and a
// newer one) carrying a throwaway public key, signs the newer one with that key and with
// another, installs the older one with dpkg, then runs this file. Not in e2e/*.test.mjs: it
// needs those packages and installs one on the machine.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createReadStream, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import http from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { clickTray } from "./desktop.mjs";
import { alive, launch, waitFor } from "./harness.mjs";
import { click, tid, waitForApp } from "./ui.mjs";

const WORK = process.env.BATON_UPDATE_WORK;
const FROM = process.env.BATON_UPDATE_FROM;
const TO = process.env.BATON_UPDATE_TO;
if (!WORK || !FROM || !TO) throw new Error("run this through scripts/update-test.sh");
const INSTALLED = "/usr/bin/baton-desktop";
const NEWER = join(WORK, `Baton_${TO}_amd64.deb`);
const GOOD_SIGNATURE = readFileSync(`${NEWER}.sig`, "utf8").trim();
const BAD_SIGNATURE = readFileSync(join(WORK, "other-key.deb.sig"), "utf8").trim();

/** The version of the baton package dpkg has installed. */
function installedVersion() {
  return execFileSync("dpkg-query", ["-W", "-f=${Version}", "baton"], { encoding: "utf8" });
}

/** Live processes running the installed binary (dpkg replacing it leaves "(deleted)" on old ones). */
function installedProcesses() {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/exe`).startsWith(INSTALLED) && alive(pid);
      } catch {
        return false;
      }
    });
}

// The feed: what latest.json says now, and every path asked for.
let feed = null;
const requests = [];
const server = http.createServer((req, res) => {
  requests.push(req.url);
  if (req.url === "/latest.json" && feed) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(feed));
  } else if (req.url === "/baton.deb") {
    res.writeHead(200, { "content-type": "application/vnd.debian.binary-package" });
    createReadStream(NEWER).pipe(res);
  } else {
    res.writeHead(404).end();
  }
});
let base;
before(async () => {
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

/** A release announced the way tauri-action writes latest.json, for the .deb installer. */
function release(version, signature) {
  return {
    version,
    notes: `Baton ${version}`,
    pub_date: new Date().toISOString(),
    platforms: { "linux-x86_64-deb": { signature, url: `${base}/baton.deb` } },
  };
}

const bannerText = (browser) => browser.execute((sel) => document.querySelector(sel)?.textContent?.trim() ?? "", tid("update-text"));

async function waitForBanner(browser, text, timeout = 30_000) {
  let last;
  await browser.waitUntil(async () => (last = await bannerText(browser)) === text, {
    timeout,
    timeoutMsg: `the update banner never said "${text}" (it said "${last}")`,
  });
}

/**
 * Runs `body` with the installed app, started while the feed announces `announced`;
 * `settings` are written to its data directory first.
 */
async function withApp(name, announced, body, settings) {
  feed = announced;
  let dataDir;
  if (settings) {
    dataDir = mkdtempSync(join(tmpdir(), "baton-update-data-"));
    writeFileSync(join(dataDir, "settings.json"), JSON.stringify(settings));
  }
  const app = await launch({ app: INSTALLED, dataDir, env: { BATON_UPDATE_URL: `${base}/latest.json` } });
  try {
    await body(app);
  } catch (error) {
    await app.dump(name);
    throw error;
  } finally {
    await app.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

test("with the start check turned off, the app asks the feed nothing until the tray asks", { timeout: 120_000 }, () =>
  withApp(
    "update check off",
    release(TO, GOOD_SIGNATURE),
    async (app) => {
      const { browser } = app;
      await waitForApp(browser);
      await waitFor(() => app.appLog().includes("not checking for updates at start"), {
        timeout: 30_000,
        message: "the app to pass over the check at start",
      });
      assert.deepEqual(requests, [], "the feed was asked at start");
      await clickTray(await app.runnerPid(), "Check for updates…");
      await waitForBanner(browser, `Baton ${TO} is available (you have ${FROM}).`);
      assert.deepEqual(requests, ["/latest.json"]);
      requests.length = 0;
    },
    { workers: 4, notifications: true, start_at_login: false, api_enabled: false, check_updates: false },
  ),
);

test("a bundle whose signature does not verify is refused in one sentence, the app keeps running the old version, and an older version is never offered", { timeout: 120_000 }, () =>
  withApp("update refused", release(TO, BAD_SIGNATURE), async (app) => {
    const { browser, pid } = app;
    await waitForApp(browser);
    // Found by the check at start; nothing is installed until the click.
    await waitForBanner(browser, `Baton ${TO} is available (you have ${FROM}).`);
    assert.ok(!requests.includes("/baton.deb"), "the bundle was fetched before anyone asked");

    await click(browser, tid("update-install"));
    await waitForBanner(
      browser,
      `The update to ${TO} was not installed: its signature does not verify against Baton's release key. Baton ${FROM} keeps running.`,
    );
    assert.ok(requests.includes("/baton.deb"), "the refusal came before the bundle was even read");
    assert.equal(installedVersion(), FROM);
    assert.ok(alive(pid), "the app stopped after refusing the update");
    assert.equal(await browser.$(tid("update-install")).isExisting(), false, "the refused update is still offered");

    // A feed announcing an older version, validly signed: asked from the tray, nothing is offered.
    feed = release("0.0.1", GOOD_SIGNATURE);
    const fetched = requests.length;
    await click(browser, tid("update-later"));
    await clickTray(await app.runnerPid(), "Check for updates…");
    await waitForBanner(browser, `Baton ${FROM} is the latest version.`);
    assert.deepEqual(requests.slice(fetched), ["/latest.json"], "an older bundle was downloaded");
    assert.equal(installedVersion(), FROM);
  }),
);

test("a bundle signed with the release key installs when asked, and the app restarts on the new version", { timeout: 180_000 }, () =>
  withApp("update installed", release(TO, GOOD_SIGNATURE), async (app) => {
    const { browser, pid } = app;
    await waitForApp(browser);
    await waitForBanner(browser, `Baton ${TO} is available (you have ${FROM}).`);
    await click(browser, tid("update-install"));

    // Installed through dpkg (the updater asks pkexec or sudo), then the engine closes and
    // the app starts again from the same path.
    const outcome = await waitFor(
      async () => {
        if (app.exitCode() !== undefined) return "exited";
        const text = await bannerText(browser).catch(() => "");
        return text.startsWith("The update") ? text : false;
      },
      { timeout: 120_000, message: "the app to install the update and exit" },
    );
    assert.equal(outcome, "exited", "the update was not installed");
    assert.equal(app.exitCode(), 0, "the old version did not exit cleanly");
    assert.equal(installedVersion(), TO);
    const restarted = await waitFor(() => installedProcesses().find((p) => p !== pid), {
      timeout: 30_000,
      message: "the app to start again",
    });
    // The new process logs its version, then opens the database the old one closed.
    const log = () => app.appLog().replace(/\x1b\[[0-9;]*m/g, "");
    await waitFor(() => log().includes(`app version version=${TO}`), {
      timeout: 30_000,
      message: `the restarted app to log version ${TO}`,
    });
    await waitFor(() => log().split(`version=${TO}`).slice(1).join("").includes("engine started"), {
      timeout: 30_000,
      message: "the restarted app's engine to start",
    });
    assert.ok(!log().includes("the engine did not start"), "an engine failed to start");

    // The restarted app quits like any other on SIGTERM.
    process.kill(restarted, "SIGTERM");
    await waitFor(() => !alive(restarted), { timeout: 30_000, message: "the restarted app to quit" });
  }),
);

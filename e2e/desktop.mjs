// What the desktop around the app does: the X server's view of the window (window.py) and
// the runner's tray menu, driven over the session bus the way a StatusNotifier host (a panel)
// does.

import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor } from "./harness.mjs";

const run = promisify(execFile);
const WINDOW_PY = join(import.meta.dirname, "window.py");
const TITLE = "Baton";

/** "shown", "hidden" or "missing" (no window: closed, or not made yet). */
export async function windowState(pid) {
  const { stdout } = await run("/usr/bin/python3", [WINDOW_PY, "state", String(pid), TITLE]);
  return stdout.trim();
}

export async function waitForWindow(pid, state, timeout = 10_000) {
  let last;
  await waitFor(async () => (last = await windowState(pid)) === state, { timeout, message: `the window to be ${state}` }).catch((e) => {
    throw new Error(`${e.message}; it was ${last}`);
  });
}

/** Sends WM_DELETE_WINDOW, as a window manager's close button does. */
export async function requestClose(pid) {
  await run("/usr/bin/python3", [WINDOW_PY, "close", String(pid), TITLE]);
}

/**
 * Asks the window to close and waits until it is gone (closing ends the window's process and
 * its webview; the runner stays in the tray). One CI run saw the window stay after the first request
 * (cause not found; GTK drops a delete event while another widget holds a grab): as a person
 * would click again, this asks once more, and says so on stderr. A window that never goes
 * still fails.
 */
export async function closeWindow(pid) {
  await requestClose(pid);
  await waitForWindow(pid, "missing", 3_000).catch(async (e) => {
    console.error(`e2e: ${e.message}; asking again`);
    await requestClose(pid);
    await waitForWindow(pid, "missing");
  });
}

/** The live processes descended from `pid` whose comm starts with `prefix`, by walking /proc. */
function descendants(pid, prefix) {
  const parentOf = (p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      return undefined;
    }
  };
  const commOf = (p) => {
    try {
      return readFileSync(`/proc/${p}/comm`, "utf8").trim();
    } catch {
      return "";
    }
  };
  const all = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number);
  const family = [pid];
  for (let i = 0; i < family.length; i++) family.push(...all.filter((p) => parentOf(p) === family[i]));
  const live = (p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
      return false;
    }
  };
  return family.filter((p) => p !== pid && commOf(p).startsWith(prefix) && live(p));
}

/** The app's WebKit web processes (the page's renderer) under `pid`. */
export function webProcesses(pid) {
  // comm is cut at 15 characters: "WebKitWebProces".
  return descendants(pid, "WebKitWebProces");
}

/** The window processes the runner `pid` started (Show, a notification's click). */
export function windowProcesses(pid) {
  return descendants(pid, "baton-desktop");
}

// Some of the app's connections never answer (gdbus would wait 25 s), hence the timeouts.
async function gdbus(dest, path, method, ...args) {
  const { stdout } = await run(
    "gdbus",
    // "--" so an argument such as -1 is not read as an option.
    ["call", "--session", "--timeout", "5", "--dest", dest, "--object-path", path, "--method", method, "--", ...args],
    { timeout: 10_000 },
  );
  return stdout.trim();
}

/** The app's unique bus names (it may hold several connections). */
async function busNamesOf(pid) {
  const list = await gdbus("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames");
  const names = [...list.matchAll(/'(:[0-9.]+)'/g)].map((m) => m[1]);
  const owned = [];
  for (const name of names) {
    const reply = await gdbus(
      "org.freedesktop.DBus",
      "/org/freedesktop/DBus",
      "org.freedesktop.DBus.GetConnectionUnixProcessID",
      name,
    ).catch(() => "");
    if (reply.match(/uint32 (\d+)/)?.[1] === String(pid)) owned.push(name);
  }
  return owned;
}

/** The menu a StatusNotifierItem at `name` names in its `Menu` property, as a panel reads it. */
async function menuOf(name) {
  const reply = await gdbus(
    name,
    "/StatusNotifierItem",
    "org.freedesktop.DBus.Properties.Get",
    "org.kde.StatusNotifierItem",
    "Menu",
  );
  const path = reply.match(/objectpath '([^']+)'/)?.[1];
  if (!path) throw new Error(`no menu on ${name}: ${reply}`);
  return { name, path };
}

const menus = new Map();

/**
 * The tray's menu: the bus name and path of the com.canonical.dbusmenu object the runner's
 * StatusNotifierItem (ksni, at /StatusNotifierItem) names as its menu.
 */
export async function trayMenu(pid, timeout = 15_000) {
  if (menus.has(pid)) return menus.get(pid);
  const menu = await waitFor(
    async () => {
      // All at once, and the first find wins: one of the app's connections never answers.
      const searches = (await busNamesOf(pid)).map(menuOf);
      return Promise.any(searches).catch(() => undefined);
    },
    { timeout, message: `a dbusmenu exported by process ${pid}` },
  );
  menus.set(pid, menu);
  return menu;
}

/** The menu's items: [{ id, label }]. */
export async function trayItems(menu) {
  const layout = await gdbus(menu.name, menu.path, "com.canonical.dbusmenu.GetLayout", "0", "-1", "[]");
  return [...layout.matchAll(/\((\d+), \{([^}]*)\}/g)]
    .map(([, id, props]) => ({ id: Number(id), label: props.match(/'label': <'([^']*)'>/)?.[1] }))
    .filter((item) => item.label !== undefined);
}

/** Clicks the item labelled `label`, as a panel does when the user picks it. */
export async function clickTray(pid, label) {
  const menu = await trayMenu(pid);
  const items = await trayItems(menu);
  const item = items.find((i) => i.label === label);
  if (!item) throw new Error(`no tray item '${label}' (items: ${items.map((i) => i.label).join(", ")})`);
  await activate(menu, item);
}

/** Sends a click on `item` of `menu` (from trayMenu and trayItems). */
export async function activate(menu, item) {
  const now = String(Math.floor(Date.now() / 1000));
  await gdbus(menu.name, menu.path, "com.canonical.dbusmenu.Event", String(item.id), "clicked", "<int32 0>", now);
}

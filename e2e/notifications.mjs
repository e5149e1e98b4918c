// A notification server for a test: a private session bus (Debian's dbus-daemon) with the
// stand-in server of notifications.py on it. Give the app `address` as its
// DBUS_SESSION_BUS_ADDRESS; `notified` waits for a Notify call, `invoke` clicks it.

import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { createInterface } from "node:readline";

const SERVER_PY = join(import.meta.dirname, "notifications.py");

/** The first line `stream` prints, or a rejection after `timeout` ms. */
function firstLine(stream, what, timeout = 10_000) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stream });
    const timer = setTimeout(() => reject(new Error(`${what} printed nothing in ${timeout} ms`)), timeout);
    lines.once("line", (line) => {
      clearTimeout(timer);
      lines.close();
      resolve(line.trim());
    });
  });
}

/**
 * Starts a private session bus and a notification server on it, both stopped when the test
 * `t` ends. Returns { address, notifications, notified(match, timeout), invoke(id, action) }.
 */
export async function notificationServer(t) {
  const children = [];
  t.after(() => {
    for (const child of children.reverse()) if (child.exitCode === null) child.kill("SIGTERM");
  });

  // stderr ignored: it warns that it cannot raise its fd limit when not run as a service.
  const bus = spawn("dbus-daemon", ["--session", "--nofork", "--print-address=1"], { stdio: ["ignore", "pipe", "ignore"] });
  children.push(bus);
  const address = await firstLine(bus.stdout, "dbus-daemon");

  const server = spawn("/usr/bin/python3", [SERVER_PY], {
    env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address },
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.push(server);
  const events = new EventEmitter();
  /** Every Notify call so far, in order. */
  const notifications = [];
  createInterface({ input: server.stdout }).on("line", (line) => {
    const event = JSON.parse(line);
    if (event.notify) notifications.push(event.notify);
    events.emit("event", event);
  });
  const exited = new Promise((resolve) => server.once("exit", (code) => resolve(code)));

  /** Resolves with the first event (past or future, for Notify) that `match` accepts. */
  function next(match, what, timeout) {
    return new Promise((resolve, reject) => {
      const done = (value) => {
        clearTimeout(timer);
        events.off("event", onEvent);
        resolve(value);
      };
      const onEvent = (event) => match(event) && done(event);
      const timer = setTimeout(() => {
        events.off("event", onEvent);
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; the server got ${JSON.stringify(notifications)}`));
      }, timeout);
      events.on("event", onEvent);
      exited.then((code) => reject(new Error(`the notification server exited (${code}) while waiting for ${what}`)));
    });
  }

  await next((e) => e.ready, "the notification server to own its name", 10_000);

  return {
    address,
    notifications,
    /** The first notification `match` accepts, once the app has sent it. */
    async notified(match, timeout = 15_000) {
      const sent = notifications.find(match);
      if (sent) return sent;
      return (await next((e) => e.notify && match(e.notify), "a matching notification", timeout)).notify;
    },
    /** What the server does when notification `id` is clicked (`default`) or its `action` is. */
    async invoke(id, action = "default") {
      const command = `invoke ${id} ${action}`;
      const done = next((e) => e.done === command, command, 5_000);
      server.stdin.write(`${command}\n`);
      await done;
    },
  };
}

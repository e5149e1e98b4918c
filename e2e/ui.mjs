// The UI as a user drives it, through the data-testid contract in docs/ui-testids.md.
// Every wait is on a condition in the page; nothing sleeps for a fixed time.

export const tid = (id) => `[data-testid="${id}"]`;

/**
 * browser.waitUntil, but a timeout's message is built when it happens, so it can say what
 * was last seen (waitUntil's own timeoutMsg is fixed before the first try).
 */
async function until(browser, check, timeout, describe) {
  try {
    await browser.waitUntil(check, { timeout });
  } catch (error) {
    if (error?.code !== "WAIT_UNTIL_TIMEOUT") throw error;
    throw new Error(`timed out after ${timeout} ms: ${describe()}`);
  }
}

/** Waits for the app's first screen: the task list in one of its states. */
export async function waitForApp(browser, timeout = 20_000) {
  await browser.waitUntil(
    () =>
      browser.execute(
        () => !!document.querySelector('[data-testid="task-list"], [data-testid="empty-state"], [data-testid="error-state"]'),
      ),
    { timeout, timeoutMsg: "the task list never appeared" },
  );
}

/**
 * Marks the page so a later `pageWasReloaded` can tell whether it was reloaded in between:
 * what changed on screen in between came through events.
 */
export async function markPage(browser) {
  await browser.execute(() => {
    window.__e2eMark = true;
  });
}

export async function pageWasReloaded(browser) {
  return !(await browser.execute(() => window.__e2eMark === true));
}

/** Every rendered row: { id, text, status } (read in one go, so nothing goes stale). */
export function rows(browser) {
  return browser.execute(() =>
    [...document.querySelectorAll('[data-testid="task-row"]')].map((row) => ({
      id: row.getAttribute("data-task-id"),
      text: row.textContent,
      status: row.querySelector('[data-testid="status-badge"]')?.textContent?.trim(),
    })),
  );
}

/**
 * The row of the task named `name`, once it shows `status` (any status when omitted). The
 * contract gives rows no name testid, so a row is found by its text: use distinct names.
 */
export async function waitForRow(browser, name, status, timeout = 15_000) {
  let seen;
  await until(
    browser,
    async () => {
      seen = (await rows(browser)).find((r) => r.text.includes(name));
      return seen && (status === undefined || seen.status === status);
    },
    timeout,
    () => `task "${name}" never showed ${status ?? "up"} in the list (last seen: ${JSON.stringify(seen)})`,
  );
  return seen;
}

/** Clicks `selector` once it can be clicked (not covered by a closing dialog, say). */
export async function click(browser, selector) {
  const element = await browser.$(selector);
  await element.waitForClickable({ timeoutMsg: `${selector} never became clickable` });
  await element.click();
}

async function fill(form, field, value) {
  if (value === undefined) return;
  const input = await form.$(`[name="${field}"]`);
  await input.setValue(value);
}

/**
 * Fills and submits the create form. It opens from "new task", or from the detail's
 * "chain" button when `chain` is set (the detail must show the parent).
 */
export async function createTask(browser, { name, prompt, model, chain = false, toFile }) {
  await click(browser, tid(chain ? "chain-button" : "new-task"));
  const form = await browser.$(tid("create-form"));
  await form.waitForDisplayed();
  await fill(form, "name", name);
  await fill(form, "prompt", prompt);
  await fill(form, "model", model);
  if (toFile !== undefined) {
    await click(browser, `${tid("deliver-fields")} summary`);
    await fill(form, "to-file", toFile);
  }
  await click(browser, tid("create-submit"));
  await form.waitForDisplayed({ reverse: true, timeoutMsg: "the create form stayed open (refused?)" });
}

/** Opens the detail of the task in row `id` and waits until it shows that task. */
export async function openDetail(browser, id) {
  await click(browser, `${tid("task-row")}[data-task-id="${id}"]`);
  await (await browser.$(tid("task-detail"))).waitForDisplayed();
  await (await browser.$(tid("detail-status"))).waitForDisplayed();
}

/** Waits until the detail's `part` (a testid) has text matching `test`, and returns it. */
export async function waitForDetailText(browser, part, test, timeout = 10_000) {
  let seen;
  await until(
    browser,
    async () => {
      seen = await browser.execute(
        (sel, status) => ({
          text: document.querySelector(sel)?.textContent ?? null,
          status: document.querySelector(status)?.textContent?.trim() ?? null,
        }),
        tid(part),
        tid("detail-status"),
      );
      return seen.text !== null && test(seen.text);
    },
    timeout,
    () => `the detail's ${part} never matched (last seen: ${JSON.stringify(seen)})`,
  );
  return seen.text;
}

// Budgets in Settings: a refused field is shown under it with nothing stored; a saved budget is
// listed with its spending against the cap, which follows the engine's events (a warning at 80%);
// Edit fills the form with the budget; Remove asks first.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, row, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

async function openBudgets(page) {
  await page.getByRole("button", { name: "Settings" }).click();
  await byTestId(page, "settings-tab-budgets").click();
  const tab = byTestId(page, "budgets");
  await tab.waitFor();
  return tab;
}

describe("budgets", () => {
  it("shows why a queued task waits until it moves on", async () => {
    const page = await app.open({});
    const name = "Name ideas for the CLI";
    await row(page, name).click();
    await hasText(byTestId(page, "detail-status"), "queued");
    const message = "waiting for budget 'nightly': the daily cap of $2.00 resets at 00:00 Europe/Paris";
    await page.evaluate(
      ([n, m]) =>
        window.__fake.model.emit({
          seq: 0,
          at: new Date().toISOString(),
          task_id: window.__fake.idOf(n),
          type: "held",
          provider: "mock",
          reason: "budget",
          wait_ms: 60000,
          message: m,
        }),
      [name, message],
    );
    await hasText(byTestId(page, "detail-held"), message);
    await fake(page, "start", name);
    await hasText(byTestId(page, "detail-status"), "running");
    assert.equal(await byTestId(page, "detail-held").count(), 0, "a started task no longer waits");
  });


  it("refuses a cap of zero and an unknown zone by their fields, then lists the saved budget", async () => {
    const page = await app.open({ config: { seed: "none" } });
    const tab = await openBudgets(page);
    await byTestId(tab, "budgets-empty").waitFor();
    await tab.locator('[name="name"]').fill("nightly");
    await tab.locator('[name="amount"]').fill("0");
    await byTestId(tab, "budget-save").click();
    await hasText(byTestId(tab, "error-amount"), "a budget's amount must be more than 0, not 0");
    await tab.locator('[name="amount"]').fill("0.5");
    await tab.locator('[name="timezone"]').fill("Mars/Olympus");
    await byTestId(tab, "budget-save").click();
    await hasText(byTestId(tab, "error-timezone"), /'Mars\/Olympus' is not a known IANA time zone/);
    assert.equal((await fake(page, "callsOf", "set_budget")).length, 2, "both were sent and refused");
    assert.equal(await byTestId(tab, "budget-row").count(), 0, "nothing refused is listed");

    await tab.locator('[name="timezone"]').fill("Europe/Paris");
    await byTestId(tab, "budget-save").click();
    const row = byTestId(tab, "budget-row");
    await hasText(byTestId(row, "budget-spent"), /^\s*\$0\.00 of \$0\.50 spent · resets .* \(Europe\/Paris\)\s*$/);
    const calls = await callsOf(page, "set_budget", 3);
    assert.deepEqual(calls.at(-1).budget, {
      name: "nightly",
      period: "daily",
      amount: 0.5,
      unit: "usd",
      timezone: "Europe/Paris",
    });
  });

  it("follows the spending from the engine's events and removes a budget after asking", async () => {
    const page = await app.open({});
    const tab = await openBudgets(page);
    await tab.locator('[name="name"]').fill("tokens");
    await tab.locator('[name="amount"]').fill("1000");
    await tab.locator('[name="unit"]').selectOption("tokens");
    await tab.locator('[name="period"]').selectOption("monthly");
    await tab.locator('[name="counts"]').selectOption("provider:mock");
    await byTestId(tab, "budget-save").click();
    const row = byTestId(tab, "budget-row");
    await hasText(byTestId(row, "budget-spent"), /^\s*0 tokens of 1,000 tokens spent/);
    await hasText(row, /monthly · provider mock/);

    // The engine settles 850 tokens: the warning event reloads the list.
    await page.evaluate(() => {
      const [first] = window.__fake.model.tasks.values();
      window.__fake.spend("tokens", 850, first.name);
    });
    await hasText(byTestId(row, "budget-spent"), /^\s*850 tokens of 1,000 tokens spent/);
    assert.equal(await row.locator(".meter.warn").count(), 1, "the meter shows the warning");

    await byTestId(row, "budget-edit").click();
    assert.equal(await tab.locator('[name="amount"]').inputValue(), "1000");
    assert.equal(await tab.locator('[name="counts"]').inputValue(), "provider:mock");

    await byTestId(row, "budget-remove").click();
    await byTestId(row, "budget-remove-confirm").click();
    await byTestId(tab, "budgets-empty").waitFor();
    assert.deepEqual(await callsOf(page, "remove_budget"), [{ name: "tokens" }]);
  });
});

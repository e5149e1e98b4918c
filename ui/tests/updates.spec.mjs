// The update banner and Settings' check: an update is offered and installed only on a click;
// a refused bundle is said in one sentence and nothing else happens.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

describe("updates", () => {
  it("offers an update found at start and installs it only when asked", async () => {
    const page = await app.open();
    await fake(page, "offerUpdate", "0.2.0", true);
    const banner = byTestId(page, "update-banner");
    await hasText(byTestId(page, "update-text"), "Baton 0.2.0 is available (you have 0.1.0).");
    assert.equal((await fake(page, "callsOf", "install_update")).length, 0, "nothing installs on its own");

    await byTestId(page, "update-install").click();
    await callsOf(page, "install_update");
    await hasText(byTestId(page, "update-text"), "Baton 0.2.0 is installed. Restarting…");
    assert.equal(await banner.getAttribute("role"), "status");
  });

  it("puts off an offer with Later, for that version only", async () => {
    const page = await app.open();
    await fake(page, "offerUpdate", "0.2.0", true);
    await byTestId(page, "update-later").click();
    await byTestId(page, "update-banner").waitFor({ state: "detached" });
    await fake(page, "offerUpdate", "0.3.0", true);
    await hasText(byTestId(page, "update-text"), "Baton 0.3.0 is available (you have 0.1.0).");
  });

  it("says why a bundle whose signature does not verify was refused, and offers it no more", async () => {
    const page = await app.open();
    await fake(page, "offerUpdate", "0.2.0", false);
    await byTestId(page, "update-install").click();
    await hasText(
      byTestId(page, "update-text"),
      "The update to 0.2.0 was not installed: its signature does not verify against Baton's release key. Baton 0.1.0 keeps running.",
    );
    assert.equal(await byTestId(page, "update-banner").getAttribute("role"), "alert");
    assert.equal(await byTestId(page, "update-install").count(), 0);
  });

  it("checks from Settings and says when Baton is up to date", async () => {
    const page = await app.open();
    await page.getByRole("button", { name: "Settings" }).click();
    await hasText(byTestId(page, "app-version"), "Baton 0.1.0");
    await byTestId(page, "check-updates").click();
    await callsOf(page, "check_for_update");
    await hasText(byTestId(page, "update-text"), "Baton 0.1.0 is the latest version.");
  });
});

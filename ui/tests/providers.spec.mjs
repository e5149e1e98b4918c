// Provider settings: add, edit, remove and test a provider; keys go one way only; the engine's
// field errors show next to the field; the create form offers the configured providers; local
// servers are found and added only on a click; the model field offers the provider's models.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { byTestId, callsOf, fake, hasText, until, useApp } from "./harness.mjs";

const app = useApp({ before, after, afterEach });

const LOCAL = {
  name: "local",
  kind: "openai-compatible",
  base_url: "http://127.0.0.1:11434/v1",
  model: "llama3.2",
  headers: { "X-Title": "Baton" },
  limits: { max_concurrency: 1, rpm: null, tpm: null },
  key: { source: "keychain" },
  prices: null,
  idle_timeout_ms: 30000,
};

/** Opens the settings on the Providers tab. */
async function openProviders(page) {
  await page.getByRole("button", { name: "Settings" }).click();
  await byTestId(page, "settings-tab-providers").click();
  const tab = byTestId(page, "providers");
  await tab.waitFor();
  return tab;
}

const OLLAMA = {
  kind: "ollama",
  label: "Ollama",
  name: "ollama",
  base_url: "http://127.0.0.1:11434/v1",
  models: ["llama3.2:latest", "qwen2.5:7b", "phi4:latest", "gemma3:4b"],
};
const VLLM = {
  kind: "vllm",
  label: "vLLM",
  name: "vllm",
  base_url: "http://127.0.0.1:8000/v1",
  models: ["meta-llama/Llama-3.1-8B-Instruct"],
};

const providerRow = (page, name) => page.locator(`[data-testid="provider-row"][data-provider="${name}"]`);

describe("provider settings", () => {
  it("adds a provider whose typed key is sent once and never shown again", async () => {
    const page = await app.open();
    const tab = await openProviders(page);
    await byTestId(page, "providers-empty").waitFor();
    await byTestId(page, "provider-add").click();
    const form = byTestId(page, "provider-form");
    await form.locator('[name="provider-name"]').fill("openai");
    await form.locator('[name="base-url"]').fill("https://api.openai.com/v1");
    await form.locator('[name="default-model"]').fill("gpt-4o-mini");
    await form.locator('[name="key-source"][value="keychain"]').check();
    const key = "sk-test-DO-NOT-SHOW-1234567890";
    await form.locator('[name="api-key"]').fill(key);
    await form.locator('[name="rpm"]').fill("500");
    await form.locator('[name="price-input"]').fill("0.15");
    await form.locator('[name="price-output"]').fill("0.6");
    await byTestId(page, "provider-save").click();

    const row = providerRow(page, "openai");
    await row.waitFor();
    const [args] = await callsOf(page, "save_provider");
    assert.equal(args.apiKey, key);
    assert.deepEqual(args.settings, {
      headers: {},
      idle_timeout_ms: null,
      name: "openai",
      kind: "openai-compatible",
      base_url: "https://api.openai.com/v1",
      model: "gpt-4o-mini",
      key: { source: "keychain" },
      limits: { max_concurrency: null, rpm: 500, tpm: null },
      prices: { input_per_mtok: 0.15, output_per_mtok: 0.6 },
      context_windows: {},
    });
    await hasText(row.locator(".kind"), "OpenAI-compatible");
    await hasText(row.getByTestId("provider-base-url"), "https://api.openai.com/v1");
    await hasText(row.getByTestId("provider-key"), "in the OS keychain");
    await hasText(row, /500 req\/min/);
    assert.equal(await tab.getByTestId("provider-form").count(), 0);
    assert.ok(!(await page.content()).includes(key), "the key is not left in the page");
  });

  it("edits a provider, switching to a key from an environment variable and keeping what the form does not show", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await openProviders(page);
    await hasText(providerRow(page, "local").getByTestId("provider-key"), "in the OS keychain");
    await providerRow(page, "local").getByTestId("provider-edit").click();
    const form = byTestId(page, "provider-form");
    assert.equal(await form.locator('[name="provider-name"]').getAttribute("readonly"), "");
    assert.equal(await form.locator('[name="base-url"]').inputValue(), LOCAL.base_url);
    assert.equal(await form.locator('[name="api-key"]').inputValue(), "", "a stored key is never shown");
    await form.locator('[name="key-source"][value="env"]').check();
    await form.locator('[name="key-env"]').fill("OLLAMA_API_KEY");
    await form.locator('[name="max-concurrency"]').fill("4");
    await byTestId(page, "provider-save").click();

    await hasText(providerRow(page, "local").getByTestId("provider-key"), "from $OLLAMA_API_KEY");
    const [args] = await callsOf(page, "save_provider");
    assert.equal(args.apiKey, null);
    assert.deepEqual(args.settings.key, { source: "env", var: "OLLAMA_API_KEY" });
    assert.deepEqual(args.settings.limits, { max_concurrency: 4, rpm: null, tpm: null });
    assert.deepEqual(args.settings.headers, LOCAL.headers);
    assert.equal(args.settings.idle_timeout_ms, LOCAL.idle_timeout_ms);
  });

  it("takes context windows as MODEL=TOKENS lines, naming a wrong line, and shows them again on edit", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await openProviders(page);
    await providerRow(page, "local").getByTestId("provider-edit").click();
    const form = byTestId(page, "provider-form");
    await form.locator('[name="context-windows"]').fill("llama3.1:8b=131072\nqwen2.5");
    await byTestId(page, "provider-save").click();
    await hasText(byTestId(form, "error-context_windows"), "Line 2: write MODEL=TOKENS, the tokens a whole number above 0.");
    assert.deepEqual(await fake(page, "callsOf", "save_provider"), [], "nothing sent");
    await form.locator('[name="context-windows"]').fill("llama3.1:8b=131072\nqwen2.5:7b = 32768\n");
    await byTestId(page, "provider-save").click();
    const [args] = await callsOf(page, "save_provider");
    assert.deepEqual(args.settings.context_windows, { "llama3.1:8b": 131072, "qwen2.5:7b": 32768 });
    await byTestId(page, "provider-form").waitFor({ state: "detached" });
    await providerRow(page, "local").getByTestId("provider-edit").click();
    assert.equal(await byTestId(page, "provider-form").locator('[name="context-windows"]').inputValue(), "llama3.1:8b=131072\nqwen2.5:7b=32768");
  });

  it("keeps a stored key when an edit leaves the key empty", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await openProviders(page);
    await providerRow(page, "local").getByTestId("provider-edit").click();
    await byTestId(page, "provider-form").locator('[name="default-model"]').fill("qwen3");
    await byTestId(page, "provider-save").click();
    const [args] = await callsOf(page, "save_provider");
    assert.equal(args.apiKey, null);
    assert.deepEqual(args.settings.key, { source: "keychain" });
    await hasText(providerRow(page, "local").getByTestId("provider-key"), "in the OS keychain");
  });

  it("shows validation messages next to the field that is wrong, the form's and the engine's", async () => {
    const page = await app.open();
    await openProviders(page);
    await byTestId(page, "provider-add").click();
    const form = byTestId(page, "provider-form");
    await form.locator('[name="provider-name"]').fill("has space");
    await form.locator('[name="key-source"][value="env"]').check();
    await form.locator('[name="rpm"]').fill("0");
    await byTestId(page, "provider-save").click();
    await hasText(form.getByTestId("error-name"), /letters, digits/);
    await hasText(form.getByTestId("error-base_url"), /http:\/\/ or https:\/\//);
    await hasText(form.getByTestId("error-key"), /environment variable/);
    await hasText(form.getByTestId("error-limits"), /1 or more/);
    assert.deepEqual(await fake(page, "callsOf", "save_provider"), []);

    await form.locator('[name="provider-name"]').fill("lan");
    await form.getByTestId("error-name").waitFor({ state: "detached" });
    await form.locator('[name="key-source"][value="none"]').check();
    await form.locator('[name="rpm"]').fill("");
    // Looks like a URL to the form; the engine cannot parse it.
    await form.locator('[name="base-url"]').fill("http://[::1");
    await byTestId(page, "provider-save").click();
    await hasText(form.getByTestId("error-base_url"), /the base URL 'http:\/\/\[::1' is not a URL/);
    assert.equal(await form.locator('[name="base-url"]').getAttribute("aria-invalid"), "true");
    assert.equal((await fake(page, "callsOf", "save_provider")).length, 1);

    // The keychain's refusal goes next to the key.
    await form.locator('[name="base-url"]').fill("http://192.168.1.20:8080/v1");
    await form.locator('[name="key-source"][value="keychain"]').check();
    await form.locator('[name="api-key"]').fill("sk-lan-123456789");
    await fake(page, "failNext", "save_provider", "keychain_unavailable", "no OS keychain is available here", "key");
    await byTestId(page, "provider-save").click();
    await hasText(form.getByTestId("error-key"), /no OS keychain is available here/);
    await byTestId(page, "provider-cancel").click();
    await byTestId(page, "providers-empty").waitFor();
  });

  it("removes a provider only after the removal is confirmed", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await openProviders(page);
    const row = providerRow(page, "local");
    await row.getByTestId("provider-remove").click();
    await byTestId(page, "provider-remove-confirm").waitFor();
    await row.getByRole("button", { name: "Keep" }).click();
    await byTestId(page, "provider-remove-confirm").waitFor({ state: "detached" });
    assert.deepEqual(await fake(page, "callsOf", "remove_provider"), []);

    await row.getByTestId("provider-remove").click();
    await byTestId(page, "provider-remove-confirm").click();
    await row.waitFor({ state: "detached" });
    await byTestId(page, "providers-empty").waitFor();
    assert.deepEqual(await callsOf(page, "remove_provider"), [{ name: "local" }]);
    await hasText(byTestId(page, "toast"), /Removed provider “local”/);
  });

  it("tests a provider, showing latency, model and tokens, or the provider's error", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await openProviders(page);
    const row = providerRow(page, "local");
    const result = row.getByTestId("provider-test-result");
    await fake(page, "hold", "test_provider");
    await row.getByTestId("provider-test").click();
    await page.locator('[data-testid="provider-test-result"][data-outcome="running"]').waitFor();
    assert.equal(await row.getByTestId("provider-test").isDisabled(), true);
    await fake(page, "release", "test_provider");
    await page.locator('[data-testid="provider-test-result"][data-outcome="ok"]').waitFor();
    await hasText(result, /Answered in 412 ms · llama3\.2 · 14 in \/ 1 out tokens/);
    assert.deepEqual(await callsOf(page, "test_provider"), [{ name: "local", model: null }]);

    const refusal = "provider 'local' refused the key (HTTP 401): check the key";
    await fake(page, "failNext", "test_provider", "provider_auth", refusal);
    await row.getByTestId("provider-test").click();
    await page.locator('[data-testid="provider-test-result"][data-outcome="error"]').waitFor();
    await hasText(result, refusal);
  });

  it("offers the configured providers in the create form, with their default model", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await byTestId(page, "new-task").click();
    const select = page.locator('[name="provider"]');
    await select.locator('option[value="local"]').waitFor({ state: "attached" });
    assert.equal(await select.inputValue(), "mock");
    await select.selectOption("local");
    assert.equal(await page.locator('[name="model"]').getAttribute("placeholder"), "llama3.2");
    await page.locator('[name="prompt"]').fill("Hello from a local model");
    await byTestId(page, "create-submit").click();
    await byTestId(page, "create-form").waitFor({ state: "detached" });
    const [args] = await callsOf(page, "submit_task");
    assert.equal(args.input.provider, "local");
    await hasText(byTestId(page, "task-detail"), /local \/ llama3\.2/);
  });

  it("shows a lowered concurrency while it is in force", async () => {
    const page = await app.open({ config: { providers: [{ ...LOCAL, limits: { max_concurrency: null, rpm: null, tpm: null } }] } });
    await openProviders(page);
    const row = providerRow(page, "local");
    await row.waitFor();
    assert.equal(await row.getByTestId("provider-lowered-concurrency").count(), 0);
    await fake(page, "lowerConcurrency", "local", 2, "Name ideas for the CLI");
    await hasText(row.getByTestId("provider-lowered-concurrency"), /^2 at once until .*kept interrupting answers/);
  });

  it("finds local servers and adds one only when its Add is clicked", async () => {
    const page = await app.open({ config: { localServers: [OLLAMA, VLLM] } });
    await openProviders(page);
    await byTestId(page, "providers-empty").waitFor();
    await fake(page, "hold", "detect_local_servers");
    await byTestId(page, "local-servers-find").click();
    await hasText(byTestId(page, "local-servers-find"), "Looking…");
    assert.equal(await byTestId(page, "local-servers-find").isDisabled(), true);
    await fake(page, "release", "detect_local_servers");

    const ollama = page.locator('[data-testid="local-server"][data-name="ollama"]');
    const vllm = page.locator('[data-testid="local-server"][data-name="vllm"]');
    await hasText(ollama.getByTestId("local-server-models"), "4 models: llama3.2:latest, qwen2.5:7b, phi4:latest, …");
    await hasText(ollama, /Ollama\s*http:\/\/127\.0\.0\.1:11434\/v1/);
    await hasText(vllm.getByTestId("local-server-models"), "meta-llama/Llama-3.1-8B-Instruct");
    // Found is not added.
    assert.deepEqual(await fake(page, "callsOf", "add_local_server"), []);
    assert.equal(await page.getByTestId("provider-row").count(), 0);
    await byTestId(page, "providers-empty").waitFor();

    await vllm.getByTestId("local-server-add").click();
    const row = providerRow(page, "vllm");
    await row.waitFor();
    assert.deepEqual(await callsOf(page, "add_local_server"), [{ name: "vllm" }]);
    await hasText(row.getByTestId("provider-base-url"), "http://127.0.0.1:8000/v1");
    await hasText(row.getByTestId("provider-key"), "none");
    await hasText(vllm.getByTestId("local-server-added"), "Added as vllm");
    await hasText(byTestId(page, "toast"), /Added provider “vllm”/);
    assert.equal(await page.getByTestId("provider-row").count(), 1, "only the one clicked");
    assert.equal(await ollama.getByTestId("local-server-add").count(), 1);

    // Looking again shows it as added; the engine's refusal shows in the row.
    await byTestId(page, "local-servers-find").click();
    await hasText(vllm.getByTestId("local-server-added"), "Added as vllm");
    await fake(page, "failNext", "add_local_server", "not_detected", "no local server to add as 'ollama' answered on 127.0.0.1 (found: vllm)");
    await ollama.getByTestId("local-server-add").click();
    await hasText(ollama.getByRole("alert"), /no local server to add as 'ollama'/);
    assert.equal(await page.getByTestId("provider-row").count(), 1);
  });

  it("says where it looked when no local server answers", async () => {
    const page = await app.open();
    await openProviders(page);
    await byTestId(page, "local-servers-find").click();
    await hasText(byTestId(page, "local-servers-none"), /No local server answered on 127\.0\.0\.1 \(looked at Ollama :11434, .*vLLM :8000\)/);
    assert.equal(await page.getByTestId("local-server").count(), 0);
  });

  it("offers the models the provider lists in the model field, and still takes any text", async () => {
    const page = await app.open({
      config: { providers: [LOCAL], providerModels: { local: ["llama3.2", "qwen3:8b", "mistral-small"] } },
    });
    await openProviders(page);
    await providerRow(page, "local").getByTestId("provider-edit").click();
    const form = byTestId(page, "provider-form");
    assert.deepEqual(await callsOf(page, "provider_models"), [{ name: "local" }]);
    await until(page, () => document.querySelectorAll('[data-testid="provider-models"] option').length === 3);
    const offered = await form.locator('[data-testid="provider-models"] option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(offered, ["llama3.2", "qwen3:8b", "mistral-small"]);
    const input = form.locator('[name="default-model"]');
    assert.equal(await input.getAttribute("list"), "provider-models");
    assert.equal(await form.getByTestId("provider-models-hint").count(), 0);
    await input.fill("my-own-finetune");
    await byTestId(page, "provider-save").click();
    const [args] = await callsOf(page, "save_provider");
    assert.equal(args.settings.model, "my-own-finetune");
  });

  it("keeps the model field usable when the provider cannot be asked for its models", async () => {
    const page = await app.open({ config: { providers: [LOCAL] } });
    await fake(page, "failNext", "provider_models", "provider_unavailable", "cannot connect to provider 'local'");
    await openProviders(page);
    await providerRow(page, "local").getByTestId("provider-edit").click();
    const form = byTestId(page, "provider-form");
    await hasText(form.getByTestId("provider-models-hint"), /Could not ask “local” for its models \(cannot connect to provider 'local'\); type one\./);
    assert.equal(await form.locator('[role="alert"]').count(), 0, "a hint, not an error");
    await form.locator('[name="default-model"]').fill("qwen3");
    await byTestId(page, "provider-save").click();
    await form.waitFor({ state: "detached" });
    const [args] = await callsOf(page, "save_provider");
    assert.equal(args.settings.model, "qwen3");
  });
});

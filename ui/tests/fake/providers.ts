// The fake's provider settings: the engine's checks (same fields, same messages) over the
// model's provider map, and a test request that answers at once. A key sent with a save is
// dropped, as the engine hands it to the keychain; the settings then say "keychain".
import type {
  ProviderSettings_Deserialize as ProviderInput,
  ProviderSettings_Serialize as ProviderSettings,
  ProviderTest,
} from "../../src/bindings";
import { commandError, type Model } from "./model";

const invalid = (field: string, message: string) => commandError("invalid_input", message, field);

/** `ProviderSettings::normalise`, in the order the engine checks. */
function normalise(input: ProviderInput): ProviderSettings {
  const s: ProviderSettings = {
    name: input.name.trim(),
    kind: input.kind,
    base_url: (input.base_url ?? "").trim().replace(/\/+$/, ""),
    model: input.model?.trim() || null,
    headers: input.headers ?? {},
    limits: {
      max_concurrency: input.limits?.max_concurrency ?? null,
      rpm: input.limits?.rpm ?? null,
      tpm: input.limits?.tpm ?? null,
    },
    key: input.key ?? { source: "none" },
    prices: input.prices ?? null,
    idle_timeout_ms: input.idle_timeout_ms ?? null,
  };
  if (!s.name || [...s.name].length > 64) throw invalid("name", "a provider name has 1 to 64 characters");
  if (!/^[A-Za-z0-9._-]+$/.test(s.name)) {
    throw invalid("name", `the provider name '${s.name}' may only hold letters, digits, '-', '_' and '.'`);
  }
  if (s.kind !== "mock") {
    let url: URL;
    try {
      url = new URL(s.base_url);
    } catch {
      throw invalid("base_url", `the base URL '${s.base_url}' is not a URL (invalid URL)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw invalid("base_url", `the base URL '${s.base_url}' must start with http:// or https://`);
    }
  }
  for (const [what, n] of [["max_concurrency", s.limits.max_concurrency], ["rpm", s.limits.rpm], ["tpm", s.limits.tpm]] as const) {
    if (n === 0) throw invalid("limits", `${what} must be at least 1 (leave it out for no limit)`);
  }
  if (s.key.source === "env") {
    const v = s.key.var.trim();
    if (!v || v.includes("=")) throw invalid("key", `'${v}' is not an environment variable name`);
    s.key = { source: "env", var: v };
  }
  const ok = (x: number | null) => x !== null && Number.isFinite(x) && x >= 0;
  if (s.prices && !(ok(s.prices.input_per_mtok) && ok(s.prices.output_per_mtok))) {
    throw invalid("prices", "prices must be zero or more dollars per million tokens");
  }
  return s;
}

export class FakeProviders {
  constructor(private model: Model) {}

  list(): ProviderSettings[] {
    return [...this.model.providers.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  save(input: ProviderInput, apiKey: string | null): ProviderSettings {
    const s = normalise(input);
    if (s.name === "mock") throw invalid("name", `'mock' is a built-in provider; choose another name`);
    if (apiKey !== null) {
      if (!apiKey.trim()) throw invalid("key", "the API key is empty");
      s.key = { source: "keychain" };
    }
    this.model.providers.set(s.name, s);
    return s;
  }

  remove(name: string): ProviderSettings {
    const s = this.model.providers.get(name);
    if (!s) throw commandError("not_found", `no provider is named '${name}'`);
    this.model.providers.delete(name);
    return s;
  }

  test(name: string, model: string | null): ProviderTest {
    const s = this.model.providers.get(name);
    if (!s) throw commandError("not_found", `no provider is named '${name}'`);
    return {
      provider: name,
      model: model?.trim() || s.model || "default-model",
      latency_ms: 412,
      ttft_ms: 180,
      prompt_tokens: 14,
      completion_tokens: 1,
      output: "pong",
    };
  }
}

// The fake's provider settings: the engine's checks (same fields, same messages) over the
// model's provider map, and a test request that answers at once. A key sent with a save is
// dropped, as the engine hands it to the keychain; the settings then say "keychain".
// Each provider lists the models a test configured for it; the local servers "found" are the
// ones a test configured, named and marked against the configured providers as the engine does.
import type {
  Detection_Serialize as Detection,
  LocalServer_Serialize as LocalServer,
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
    // As the engine stores them: absent when there are none.
    ...(input.context_windows && Object.keys(input.context_windows).length > 0
      ? { context_windows: input.context_windows }
      : {}),
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

/** The URLs the engine asks, in its order. */
const LOOKED_AT = [
  "http://127.0.0.1:11434/api/tags",
  "http://127.0.0.1:1234/v1/models",
  "http://127.0.0.1:8080/v1/models",
  "http://127.0.0.1:1337/v1/models",
  "http://127.0.0.1:8000/v1/models",
];

/** A server on this machine, as a test sets it up: its `name` is the kind's (`ollama`). */
export type LocalSetup = Omit<LocalServer, "configured_as">;

export class FakeProviders {
  constructor(
    private model: Model,
    /** What each provider lists, by name. */
    private modelLists: Record<string, string[]> = {},
    /** The servers listening on this machine. */
    public local: LocalSetup[] = [],
  ) {}

  models(name: string): string[] {
    if (name !== "mock" && !this.model.providers.has(name)) throw commandError("not_found", `no provider is named '${name}'`);
    return this.modelLists[name] ?? [];
  }

  /** `detect::detect`: names unique against the configured providers, or theirs when configured. */
  detect(): Detection {
    const configured = [...this.model.providers.values()];
    const taken = configured.map((p) => p.name);
    const found = this.local.map((server) => {
      const port = new URL(server.base_url).port;
      const owner = configured.find((p) => p.kind === "openai-compatible" && /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])/.test(p.base_url) && new URL(p.base_url).port === port);
      let name = owner?.name ?? server.name;
      for (let n = 2; !owner && taken.includes(name); n++) name = `${server.name}-${n}`;
      taken.push(name);
      return { ...server, name, models: [...server.models], configured_as: owner?.name ?? null };
    });
    return { found, unrecognised: [], looked_at: [...LOOKED_AT] };
  }

  addLocal(name: string): ProviderSettings {
    const found = this.detect().found;
    const server = found.find((s) => s.name === name.trim());
    if (!server) {
      const what = found.length ? `found: ${found.map((s) => s.name).join(", ")}` : "none did; is the server running?";
      throw commandError("not_detected", `no local server to add as '${name.trim()}' answered on 127.0.0.1 (${what})`);
    }
    if (server.configured_as) {
      throw invalid("name", `the ${server.label} at ${server.base_url} is provider '${server.configured_as}' already`);
    }
    const s: ProviderSettings = {
      name: server.name,
      kind: "openai-compatible",
      base_url: server.base_url,
      model: server.models[0] ?? null,
      headers: {},
      limits: { max_concurrency: null, rpm: null, tpm: null },
      key: { source: "none" },
      prices: null,
      idle_timeout_ms: null,
    };
    this.model.providers.set(s.name, s);
    this.modelLists[s.name] = [...server.models];
    return s;
  }

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

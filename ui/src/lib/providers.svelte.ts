// The configured providers (never their keys), for the settings and the create form's choice.
import { listProviders } from "./api";
import type { ProviderSettings } from "./types";

const byName = (a: ProviderSettings, b: ProviderSettings) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

class Providers {
  list: ProviderSettings[] = $state.raw([]);
  loaded = $state(false);
  error = $state("");

  async load(): Promise<void> {
    const result = await listProviders();
    if (result.status === "ok") {
      this.list = result.data;
      this.error = "";
    } else {
      this.error = result.error.message;
    }
    this.loaded = true;
  }

  /** A save's answer: replaces the provider of that name, or adds it. */
  saved(settings: ProviderSettings): void {
    this.list = [...this.list.filter((p) => p.name !== settings.name), settings].sort(byName);
  }

  removed(name: string): void {
    this.list = this.list.filter((p) => p.name !== name);
  }
}

export const providers = new Providers();

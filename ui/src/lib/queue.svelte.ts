// The shared queue: what Settings → Shared queue shows (the URL, the switch, whether a password
// is saved: never the password) and the queue the top bar names with its live runners.
import { call, commands } from "./api";
import { reloadAll } from "./events";
import { providers } from "./providers.svelte";
import { budgets } from "./budgets.svelte";
import { engine } from "./engine.svelte";
import type { CommandError, QueueSettings, QueueStatus, Result } from "./types";

/** How often the top bar asks for the live runners: they come and go without an event. */
export const RUNNERS_EVERY_MS = 5_000;

class Queue {
  settings: QueueSettings | null = $state(null);
  status: QueueStatus | null = $state(null);
  #timer: ReturnType<typeof setInterval> | undefined;

  async load(): Promise<void> {
    const result = await call(commands.sharedQueueSettings());
    if (result.status === "ok") this.settings = result.data;
    await this.loadStatus();
  }

  /** The queue's name and runners; polled while the app is on a shared queue. */
  async loadStatus(): Promise<void> {
    const result = await call(commands.sharedQueueStatus());
    if (result.status === "ok") this.status = result.data;
    this.#poll(this.settings?.url != null);
  }

  #poll(on: boolean): void {
    if (on && this.#timer === undefined) {
      this.#timer = setInterval(() => void this.loadStatus(), RUNNERS_EVERY_MS);
    } else if (!on && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  stop(): void {
    this.#poll(false);
  }

  /** Moves the app to the shared queue at `url`; on success everything shown is reloaded. */
  async useShared(url: string, password: string | null, runTasks: boolean): Promise<Result<QueueSettings>> {
    return this.#switched(await call(commands.useSharedQueue(url, password, runTasks)));
  }

  /** Back to this computer's database. */
  async useLocal(): Promise<Result<QueueSettings>> {
    return this.#switched(await call(commands.useLocalDatabase()));
  }

  async #switched(result: Result<QueueSettings>): Promise<Result<QueueSettings>> {
    if (result.status === "ok") {
      this.settings = result.data;
      // Another database: its tasks, schedules, groups, providers and budgets.
      reloadAll();
      void engine.loadSettings();
      void providers.load();
      budgets.changed();
      await this.loadStatus();
    }
    return result;
  }
}

export const queue = new Queue();

/** The sentence the engine gives for a URL that is not PostgreSQL's, checked before sending. */
export const NOT_POSTGRES = "The URL must be a PostgreSQL URL such as postgres://baton@db.example:5432/baton.";

export function checkUrl(url: string): string | null {
  const trimmed = url.trim();
  return /^postgres(ql)?:\/\/\S+$/.test(trimmed) ? null : NOT_POSTGRES;
}

export type { CommandError };

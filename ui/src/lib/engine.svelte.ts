// Engine-wide state: pause and workers (from `engine_status` and `status-changed`), the saved
// settings and the activity figures.
import { call, commands, getActivity, getSettings } from "./api";
import { coalesced } from "./coalesce";
import { toast } from "./toasts.svelte";
import type { Activity, Settings, StatusChanged } from "./types";

class EngineState {
  status: StatusChanged | null = $state(null);
  settings: Settings | null = $state(null);
  activity: Activity | null = $state.raw(null);
  activityError = $state("");
  /** Why the engine's status could not be read (say, its database could not be opened). */
  statusError = $state("");

  async loadStatus(): Promise<void> {
    const result = await call(commands.engineStatus());
    if (result.status === "ok") {
      this.status = result.data;
      this.statusError = "";
    } else {
      this.statusError = result.error.message;
    }
  }

  async loadSettings(): Promise<void> {
    const result = await getSettings();
    if (result.status === "ok") this.settings = result.data;
  }

  /** The wall clock the activity chart reads; `tick` moves it (App, every 15 s). */
  now = $state(Date.now());
  /** When `activity` was computed by the engine. */
  #activityAt = $state(0);

  /**
   * Tasks finished per minute over the last 30 minutes, oldest first, as of `now`: the
   * engine's figures moved left by the minutes passed since they were computed. So the
   * chart's time axis moves while nothing happens, without asking the engine again.
   */
  get perMinute(): number[] {
    const buckets = this.activity?.finished_per_minute ?? [];
    const passed = Math.floor((this.now - this.#activityAt) / 60_000);
    const gone = Math.min(buckets.length, Math.max(0, passed));
    return gone === 0 ? buckets : [...buckets.slice(gone), ...new Array<number>(gone).fill(0)];
  }

  /** Moves the chart's clock; on a new local day, "today" is asked for again. */
  tick(): void {
    const before = new Date(this.now).toDateString();
    this.now = Date.now();
    if (this.activity && new Date(this.now).toDateString() !== before) this.refreshActivity();
  }

  /** Activity follows state events; bursts make one call a frame. */
  refreshActivity: () => void = coalesced(async () => {
    const result = await getActivity();
    if (result.status === "ok") {
      this.now = this.#activityAt = Date.now();
      this.activity = result.data;
      this.activityError = "";
    } else {
      this.activityError = result.error.message;
    }
  });

  /** Flips pause at once; the answer (or `status-changed`) has the last word. */
  async setPaused(paused: boolean): Promise<void> {
    const before = this.status;
    if (before) this.status = { ...before, paused };
    const result = await call(commands.setPaused(paused));
    if (result.status === "ok") {
      this.status = result.data;
    } else {
      this.status = before;
      toast(`Could not ${paused ? "pause" : "resume"}: ${result.error.message}`, "error");
    }
  }
}

export const engine = new EngineState();

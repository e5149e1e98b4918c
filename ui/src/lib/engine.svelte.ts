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

  /** Activity follows state events; bursts make one call a frame. */
  refreshActivity: () => void = coalesced(async () => {
    const result = await getActivity();
    if (result.status === "ok") {
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

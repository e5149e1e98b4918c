// The app's update check, as the Rust side reports it (the `update-status` event and the
// commands' answers). Installing is only ever started from here, by a click.
import { call, commands } from "./api";
import type { UpdateStatus } from "./types";

class UpdateState {
  status: UpdateStatus | null = $state(null);
  /** The version whose offer was put off with "Later": not offered again this session. */
  laterFor: string | null = $state(null);
  /** A check or install failed before reaching the app (IPC itself). */
  error: string | null = $state(null);

  apply(status: UpdateStatus): void {
    this.status = status;
    this.error = null;
  }

  async load(): Promise<void> {
    try {
      this.apply(await commands.updateStatus());
    } catch {
      // No updater in this build: nothing to show.
    }
  }

  async check(): Promise<void> {
    this.laterFor = null;
    const result = await call(commands.checkForUpdate());
    if (result.status === "ok") this.apply(result.data);
    else this.error = result.error.message;
  }

  async install(): Promise<void> {
    const result = await call(commands.installUpdate());
    if (result.status === "ok") this.apply(result.data);
    else this.error = result.error.message;
  }

  later(): void {
    const s = this.status;
    if (s?.state === "available") this.laterFor = s.version;
    else if (s) this.status = { state: "idle", current: s.current };
    this.error = null;
  }

  /** What the banner shows, if anything. */
  get shown(): UpdateStatus | null {
    const s = this.status;
    if (!s || s.state === "idle") return null;
    if (s.state === "available" && s.version === this.laterFor) return null;
    return s;
  }
}

export const updates = new UpdateState();

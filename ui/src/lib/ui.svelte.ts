// Which panels and dialogs are open. Escape closes the topmost.
import type { RecordProblem_Serialize } from "../bindings";
import type { Schedule, Task } from "./types";

class Ui {
  /** The create form; `parent` set when chaining onto it. */
  create: { parent: Task | null } | null = $state(null);
  settingsOpen = $state(false);
  /** What the main area shows. */
  view: "tasks" | "schedules" | "groups" = $state("tasks");
  /** The map form (a group: one prompt over many rows). */
  mapForm = $state(false);
  /** The schedule form; `schedule` set when editing it. */
  scheduleForm: { schedule: Schedule | null } | null = $state(null);
  importProblems: { message: string; records: RecordProblem_Serialize[] } | null = $state(null);
  /** The detail's "cancel with a reason" prompt. */
  cancelPrompt = $state(false);
  searchInput: HTMLInputElement | null = null;

  openCreate(parent: Task | null = null): void {
    this.settingsOpen = false;
    this.create = { parent };
  }

  openMap(): void {
    this.settingsOpen = false;
    this.mapForm = true;
  }

  focusSearch(): void {
    this.searchInput?.focus();
    this.searchInput?.select();
  }

  /** Closes the topmost thing open; false when nothing was. */
  closeTop(): boolean {
    if (this.create) this.create = null;
    else if (this.mapForm) this.mapForm = false;
    else if (this.scheduleForm) this.scheduleForm = null;
    else if (this.settingsOpen) this.settingsOpen = false;
    else if (this.importProblems) this.importProblems = null;
    else if (this.cancelPrompt) this.cancelPrompt = false;
    else return false;
    return true;
  }
}

export const ui = new Ui();

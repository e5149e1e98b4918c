// The budgets with what was spent against each, for the settings. Loaded when the Budgets tab
// opens; after that, an ended task (which settles what it reserved) or a budget warning reloads
// them, at most every half second.
import { call, commands } from "./api";
import type { Budget } from "./types";

const SETTLE_MS = 500;

class Budgets {
  list: Budget[] = $state.raw([]);
  loaded = $state(false);
  error = $state("");
  #timer: ReturnType<typeof setTimeout> | null = null;

  async load(): Promise<void> {
    const result = await call(commands.listBudgets());
    if (result.status === "ok") {
      this.list = result.data;
      this.error = "";
    } else {
      this.error = result.error.message;
    }
    this.loaded = true;
  }

  /** Spending may have moved: reload soon, if anything shows the budgets. */
  changed(): void {
    if (!this.loaded || this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.load();
    }, SETTLE_MS);
  }

  saved(budget: Budget): void {
    this.list = [...this.list.filter((b) => b.name !== budget.name), budget].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  removed(name: string): void {
    this.list = this.list.filter((b) => b.name !== name);
  }
}

export const budgets = new Budgets();

// Budgets in the fake backend: the engine's checks on a budget's fields (the same refusals, by
// field), its spending moved by tests, and the warning event at 80% of a cap.
import type { Budget_Serialize as Budget, NewBudget_Deserialize as NewBudget } from "../../src/bindings";
import { commandError, type Model } from "./model";

const NAME = /^[\p{L}\p{N}._-]{1,64}$/u;

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export class FakeBudgets {
  readonly byName = new Map<string, Budget>();

  constructor(private readonly model: Model) {}

  list(): Budget[] {
    return [...this.byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  set(input: NewBudget): Budget {
    const name = input.name.trim();
    if (!NAME.test(name))
      throw commandError("invalid_input", "a budget's name must be 1 to 64 letters, digits, '-', '_' or '.'", "name");
    if (!((input.amount ?? 0) > 0))
      throw commandError("invalid_input", `a budget's amount must be more than 0, not ${input.amount}`, "amount");
    const zone = input.timezone?.trim() || "UTC";
    if (!validZone(zone))
      throw commandError("invalid_input", `'${zone}' is not a known IANA time zone (e.g. Europe/Paris, America/New_York, UTC)`, "timezone");
    if (input.provider && !this.model.providers.has(input.provider) && input.provider !== "mock")
      throw commandError("invalid_input", `no provider is named '${input.provider}' (known: mock, ${[...this.model.providers.keys()].join(", ")})`, "provider");
    const now = new Date(this.model.now());
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), input.period === "daily" ? now.getUTCDate() : 1));
    const resets = new Date(start);
    if (input.period === "daily") resets.setUTCDate(resets.getUTCDate() + 1);
    else resets.setUTCMonth(resets.getUTCMonth() + 1);
    const old = this.byName.get(name);
    const budget: Budget = {
      name,
      period: input.period,
      amount: input.amount,
      unit: input.unit,
      scope: input.provider
        ? { kind: "provider", provider: input.provider }
        : input.schedule
          ? { kind: "schedule", schedule_id: "01900000-0000-7000-8000-000000000000", schedule: input.schedule }
          : { kind: "all" },
      timezone: zone,
      created_at: old?.created_at ?? now.toISOString(),
      period_start: start.toISOString(),
      resets_at: resets.toISOString(),
      spent: old?.spent ?? 0,
      reserved: 0,
      warned: old?.warned ?? false,
    };
    this.byName.set(name, budget);
    return budget;
  }

  remove(name: string): Budget {
    const b = this.byName.get(name);
    if (!b) throw commandError("not_found", `no budget is named '${name}'`);
    this.byName.delete(name);
    return b;
  }

  /** The engine settled `amount` of task `taskId`'s attempt against the budget: at 80% it warns. */
  spend(name: string, amount: number, taskId: string): void {
    const b = this.byName.get(name);
    if (!b) throw new Error(`no budget named ${name}`);
    const spent = (b.spent ?? 0) + amount;
    const cap = b.amount ?? 0;
    b.spent = spent;
    if (!b.warned && spent >= 0.8 * cap) {
      b.warned = true;
      this.model.emit({
        seq: 0,
        at: new Date(this.model.now()).toISOString(),
        task_id: taskId,
        type: "budget_warning",
        budget: name,
        spent: b.spent,
        amount: b.amount,
        unit: b.unit,
        message: `budget '${name}' has used $${spent.toFixed(2)} of its ${b.period} cap of $${cap.toFixed(2)}`,
      });
    }
  }
}

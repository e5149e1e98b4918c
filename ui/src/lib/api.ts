// One error path for every command: the generated wrappers return `{status: "error"}` for a
// CommandError but throw when IPC itself fails; callers here only ever see a Result.
import { commands } from "../bindings";
import type { Activity, CommandError, ProviderSettings, Result, Settings } from "./types";

function ipcError(e: unknown): CommandError {
  const message = e instanceof Error ? e.message : String(e);
  return { code: "ipc", message, field: null, records: [] };
}

export async function call<T>(pending: Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await pending;
  } catch (e) {
    return { status: "error", error: ipcError(e) };
  }
}

export const getSettings = (): Promise<Result<Settings>> => call(commands.getSettings());
export const getActivity = (): Promise<Result<Activity>> => call(commands.activity());
export const listProviders = (): Promise<Result<ProviderSettings[]>> => call(commands.listProviders());
export { commands };

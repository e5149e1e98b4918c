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

/** For the commands generated without a typed error. */
async function plain<T>(pending: Promise<T>): Promise<Result<T>> {
  try {
    return { status: "ok", data: await pending };
  } catch (e) {
    return { status: "error", error: isCommandError(e) ? e : ipcError(e) };
  }
}

function isCommandError(e: unknown): e is CommandError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export const getSettings = (): Promise<Result<Settings>> => plain(commands.getSettings());
export const getActivity = (): Promise<Result<Activity>> => call(commands.activity());
export const listProviders = (): Promise<Result<ProviderSettings[]>> => call(commands.listProviders());
export { commands };

// Times and durations as the list and the detail show them, in the person's time zone.

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const timeSecFmt = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const numberFmt = new Intl.NumberFormat();

/** Why an answer stopped, in words: "stopped at the 24-token limit" for `length`. */
export function finishReason(reason: string, maxTokens: number | null | undefined): string {
  switch (reason) {
    case "stop":
      return "finished";
    case "length":
      return maxTokens != null ? `stopped at the ${formatCount(maxTokens)}-token limit` : "stopped at the token limit";
    case "content_filter":
      return "stopped by the content filter";
    case "tool_calls":
      return "stopped to call a tool";
    default:
      return reason;
  }
}

export function formatCount(n: number): string {
  return numberFmt.format(n);
}

function sameDay(a: Date, b: Date): boolean {
  return a.toDateString() === b.toDateString();
}

/** "14:30" today, "Mar 3, 14:30" on another day. */
export function shortDateTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return sameDay(d, new Date(now)) ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export function fullDateTime(iso: string | null | undefined): string {
  return iso ? fullFmt.format(new Date(iso)) : "—";
}

export function clockTime(iso: string | null | undefined): string {
  return iso ? timeSecFmt.format(new Date(iso)) : "—";
}

/** Compact age: "now", "42s", "5m", "3h", "12d". */
export function age(iso: string, now: number = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 5) return "now";
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** "850 ms", "2.4 s", "3m 05s". */
export function duration(ms: number | null | undefined): string {
  if (ms == null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  if (m < 60) return s === 0 ? `${m} min` : `${m}m ${String(s).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return m % 60 === 0 ? `${h} h` : `${h}h ${String(m % 60).padStart(2, "0")}m`;
}

export function between(start: string | null | undefined, end: string | null | undefined): number | null {
  if (!start || !end) return null;
  return Date.parse(end) - Date.parse(start);
}

/** US dollars: "$0.00", "$0.0042" for fractions of a cent, "$12.34". */
export function usd(amount: number): string {
  if (amount === 0) return "$0.00";
  if (amount < 0.01) return `$${amount.toFixed(4)}`;
  return `$${amount.toFixed(2)}`;
}

export function percent(rate: number | null | undefined): string {
  return rate == null ? "—" : `${Math.round(rate * 1000) / 10}%`;
}

/** The value a `datetime-local` input shows for `date`, in local time. */
export function localInputValue(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

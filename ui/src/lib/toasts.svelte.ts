// Transient messages in the corner. Errors stay longer than confirmations.

export interface Toast {
  id: number;
  kind: "info" | "error";
  text: string;
}

let next = 1;
export const toasts: Toast[] = $state([]);

export function dismiss(id: number): void {
  const i = toasts.findIndex((t) => t.id === id);
  if (i >= 0) toasts.splice(i, 1);
}

export function toast(text: string, kind: Toast["kind"] = "info"): void {
  const id = next++;
  toasts.push({ id, kind, text });
  // Never more than a handful on screen.
  if (toasts.length > 4) toasts.splice(0, toasts.length - 4);
  setTimeout(() => dismiss(id), kind === "error" ? 8000 : 4000);
}

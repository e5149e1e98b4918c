// Output chunks of running attempts, kept from app start so a detail opened mid-stream shows
// what came before. Chunks are joined in `index` order; the view re-renders at most once a
// frame however fast they arrive.

interface Stream {
  attempt: number;
  /** The index the next appended chunk must have. */
  next: number;
  text: string;
  /** Chunks that arrived ahead of a missing one. */
  early: Map<number, string>;
}

const streams = new Map<string, Stream>();
/** Bumped (once a frame at most) when any stream grew; views read it to re-render. */
export const outputClock = $state({ tick: 0 });
let frame = false;

function changed(): void {
  if (frame) return;
  frame = true;
  requestAnimationFrame(() => {
    frame = false;
    outputClock.tick++;
  });
}

export function appendOutput(taskId: string, attempt: number, index: number, chunk: string): void {
  let s = streams.get(taskId);
  if (!s || attempt > s.attempt) {
    s = { attempt, next: 0, text: "", early: new Map() };
    streams.set(taskId, s);
  } else if (attempt < s.attempt || index < s.next) {
    return; // a late chunk of an older attempt, or a duplicate
  }
  if (index !== s.next) {
    s.early.set(index, chunk);
    return;
  }
  s.text += chunk;
  s.next++;
  for (let c = s.early.get(s.next); c !== undefined; c = s.early.get(s.next)) {
    s.early.delete(s.next);
    s.text += c;
    s.next++;
  }
  changed();
}

/** The streamed text of `attempt`, or null when none arrived. */
export function streamedText(taskId: string, attempt: number): string | null {
  const s = streams.get(taskId);
  return s && s.attempt === attempt ? s.text : null;
}

/** Once a task finishes its own `output` is the whole answer. */
export function dropStream(taskId: string): void {
  if (streams.delete(taskId)) changed();
}

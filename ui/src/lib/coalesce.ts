/**
 * Wraps an async refresh so that any burst of triggers runs it once on the next animation frame,
 * and never twice at the same time: a trigger while it runs queues exactly one more run. A busy
 * engine can send thousands of events a second; the window asks for fresh rows at most once a
 * frame.
 */
export function coalesced(task: () => Promise<void>): () => void {
  let scheduled = false;
  let running = false;
  let again = false;

  const run = async (): Promise<void> => {
    scheduled = false;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await task();
    } finally {
      running = false;
      if (again) {
        again = false;
        trigger();
      }
    }
  };

  function trigger(): void {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => void run());
  }

  return trigger;
}

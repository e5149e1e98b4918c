// Task sets the fake starts with: a realistic demo (tests and screenshots) and a bulk set of
// any size (virtualization). Deterministic for a given `now`.
import type { Model, Task } from "./model";
import type { TaskState } from "../../src/bindings";

const MIN = 60_000;

interface Spec {
  name: string;
  prompt: string;
  status: TaskState;
  /** Minutes before now that it was created. */
  ago: number;
  model?: string;
  output?: string;
  error?: string;
  attempts?: number;
  maxAttempts?: number;
  /** Minutes from now it is due (scheduled tasks). */
  dueIn?: number;
  latency?: number;
  parent?: string;
  reason?: string;
  maxTokens?: number;
}

const DEMO: Spec[] = [
  { name: "Summarise Q3 incident reports", prompt: "Summarise the attached Q3 incident reports into five bullet points for the weekly review.", status: "completed", ago: 29, output: "• Two outages, both in the EU region, total 47 minutes.\n• Root causes: a certificate expiry and a bad config push.\n• Paging worked; mean time to acknowledge was 3 minutes.\n• Follow-ups: automate cert renewal, add config canaries.\n• No customer data was affected.", latency: 2340 },
  { name: "Translate release notes to German", prompt: "Translate the release notes for 2.4 into German. Keep product names in English.", status: "completed", ago: 27, output: "Versionshinweise 2.4\n\nNeu: Aufgaben können jetzt verkettet werden …", latency: 1810 },
  { name: "Draft onboarding email", prompt: "Write a friendly onboarding email for new workspace members. Under 150 words.", status: "completed", ago: 25, output: "Welcome aboard! Here is how to get started in your first week…", latency: 960 },
  { name: "Classify support tickets (batch 14)", prompt: "Classify each ticket as billing, bug, feature request or other. Answer as CSV.", status: "failed", ago: 23, model: "fail=3", error: "provider error: 429 Too Many Requests (rate limited); giving up after 3 attempts", attempts: 3, maxAttempts: 3 },
  { name: "Extract invoice fields", prompt: "Extract vendor, date, total and VAT from the invoice text below as JSON.", status: "completed", ago: 21, output: "{\n  \"vendor\": \"Nordlicht GmbH\",\n  \"date\": \"2024-09-30\",\n  \"total\": 1249.00,\n  \"vat\": 199.42\n}", latency: 1420, attempts: 2 },
  { name: "Bullet points for the board", prompt: "Turn this summary into three bullet points for the board: {{parent.output}}", status: "completed", ago: 19, parent: "Summarise Q3 incident reports", output: "1. Two short EU outages (47 min total), no data affected.\n2. Causes understood; fixes scheduled.\n3. On-call response met targets.", latency: 1130 },
  { name: "Write unit test ideas for the parser", prompt: "List edge cases worth testing in a CSV parser.", status: "cancelled", ago: 17, reason: "superseded by a newer request" },
  { name: "Generate alt text for product photos", prompt: "Write concise alt text for each of the 12 product photos described below.", status: "completed", ago: 15, output: "1. A matte black water bottle on a wooden desk…", latency: 3120 },
  { name: "Review PR #482 for security issues", prompt: "Review the diff below for injection, auth and secrets issues. Be specific.", status: "failed", ago: 13, error: "attempt timed out after 120s", attempts: 2, maxAttempts: 2 },
  { name: "Changelog entry from commits", prompt: "Write a changelog entry from these commit messages.", status: "completed", ago: 11, output: "### Fixed\n- Export keeps the order of chained tasks.\n- Import lists every bad record.", latency: 780 },
  { name: "Weekly metrics digest", prompt: "Write the weekly metrics digest from the numbers below.", status: "scheduled", ago: 10, dueIn: 45 },
  { name: "Nightly FAQ refresh", prompt: "Refresh the FAQ answers from the latest docs.", status: "scheduled", ago: 9, dueIn: 9 * 60 },
  { name: "Post the summary to #ops", prompt: "Rewrite for Slack, friendly tone: {{parent.output}}", status: "waiting", ago: 7, parent: "Outline the migration plan" },
  { name: "Outline the migration plan", prompt: "Outline a step-by-step plan to migrate the task store to the new schema, with rollback points.", status: "running", ago: 8, model: "stream=40", output: "" },
  { name: "Customer interview synthesis", prompt: "Synthesise the five interview transcripts into themes with quotes.", status: "running", ago: 6, model: "sleep=8000" },
  { name: "Name ideas for the CLI", prompt: "Suggest ten short names for a task-runner CLI.", status: "queued", ago: 4 },
  { name: "Proofread the pricing page", prompt: "Proofread the pricing page copy; list changes only.", status: "queued", ago: 3, maxTokens: 24 },
  { name: "Sentiment of app store reviews", prompt: "Score each review from -1 to 1 and give one-line reasons.", status: "queued", ago: 2 },
  { name: "Explain the retry backoff to support", prompt: "Explain in plain words how retries and backoff work, for the support team.", status: "queued", ago: 1 },
];

/** Loads the demo set: every state, chains, retries, output and errors. */
export function seedDemo(model: Model): void {
  const now = model.now();
  const byName = new Map<string, Task>();
  const specs = [...DEMO].sort((a, b) => b.ago - a.ago);
  for (const s of specs) {
    const created = now - s.ago * MIN;
    const parent = s.parent ? byName.get(s.parent) ?? null : null;
    const attempts = s.attempts ?? (["completed", "failed", "running"].includes(s.status) ? 1 : 0);
    const started = created + 4000;
    const history: Task["history"] = [];
    for (let n = 1; n <= attempts; n++) {
      const at = started + (n - 1) * 20_000;
      const last = n === attempts;
      const running = last && s.status === "running";
      history.push({
        number: n,
        started_at: new Date(at).toISOString(),
        finished_at: running ? null : new Date(at + (last ? s.latency ?? 9000 : 6000)).toISOString(),
        outcome: running ? null : last ? (s.status === "failed" && s.error?.includes("timed out") ? "timed_out" : s.status === "failed" ? "failed" : "completed") : "retrying",
        error: last ? (s.status === "failed" ? s.error ?? null : null) : "provider error: 429 Too Many Requests (rate limited)",
      });
    }
    const finished = ["completed", "failed", "cancelled"].includes(s.status)
      ? new Date(Math.min(now - 30_000, started + (attempts - 1) * 20_000 + (s.latency ?? 9000))).toISOString()
      : null;
    const task: Task = {
      id: model.newId(created),
      name: s.name,
      prompt: s.prompt,
      status: s.status,
      start_at: s.dueIn !== undefined ? new Date(now + s.dueIn * MIN).toISOString() : null,
      created_at: new Date(created).toISOString(),
      started_at: attempts > 0 ? new Date(started).toISOString() : null,
      finished_at: finished,
      output: s.status === "completed" ? s.output ?? "" : null,
      error: s.error ?? null,
      parent_task_id: parent?.id ?? null,
      llm_provider: "mock",
      llm_model: s.model ?? "echo",
      latency_ms: s.status === "completed" ? s.latency ?? 1000 : null,
      attempts,
      max_attempts: s.maxAttempts ?? 3,
      timeout_ms: 600_000,
      cancel_reason: s.reason ?? null,
      history,
      system: null,
      temperature: null,
      max_tokens: s.maxTokens ?? null,
      prompt_tokens: null,
      completion_tokens: null,
      cost_usd: null,
      failure: null,
    };
    if (parent?.status === "completed") task.effective_prompt = task.prompt.replace("{{parent.output}}", parent.output ?? "");
    model.insert(task);
    byName.set(s.name, task);
  }
}

const BULK_STATES: TaskState[] = ["completed", "completed", "completed", "failed", "queued", "scheduled", "cancelled", "completed"];

/** `n` plain tasks named "Task 1" (oldest) to "Task n", a minute apart at most. */
export function seedBulk(model: Model, n: number): void {
  const now = model.now();
  for (let i = 1; i <= n; i++) {
    const status = BULK_STATES[i % BULK_STATES.length]!;
    const created = now - (n - i + 1) * 1000;
    const done = status === "completed" || status === "failed" || status === "cancelled";
    model.insert({
      id: model.newId(created),
      name: `Task ${i}`,
      prompt: `Bulk prompt number ${i}`,
      status,
      start_at: status === "scheduled" ? new Date(now + i * MIN).toISOString() : null,
      created_at: new Date(created).toISOString(),
      started_at: done ? new Date(created + 100).toISOString() : null,
      finished_at: done ? new Date(created + 600).toISOString() : null,
      output: status === "completed" ? `answer ${i}` : null,
      error: status === "failed" ? "provider error" : null,
      parent_task_id: null,
      llm_provider: "mock",
      llm_model: "echo",
      latency_ms: status === "completed" ? 500 : null,
      attempts: done ? 1 : 0,
      max_attempts: 3,
      timeout_ms: 600_000,
      cancel_reason: status === "cancelled" ? "cancelled by user" : null,
      history: [],
      system: null,
      temperature: null,
      max_tokens: null,
      prompt_tokens: null,
      completion_tokens: null,
      cost_usd: null,
      failure: null,
    });
  }
}

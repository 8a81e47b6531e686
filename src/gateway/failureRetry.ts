/**
 * The seed's failure procedure (section 3.5), pure: detect a failure by a probe with a timeout, then
 * retry with its schedule — at most 5 attempts, the n-th after `min(n × 1 s, 5 s)` — jittered (equal
 * jitter: half the step fixed, half random, so the schedule keeps its shape but retries of many
 * callers spread out), and never past an overall deadline. Clock, sleep and randomness are parameters.
 */

/** The seed's schedule. */
export const SEED_RETRY = { maxAttempts: 5, stepMs: 1000, capMs: 5000 } as const;

/** The wait before retry `n` (1-based): `min(n × step, cap)` with equal jitter. */
export function seedRetryDelay(n: number, random: () => number): number {
  const step = Math.min(n * SEED_RETRY.stepMs, SEED_RETRY.capMs);
  return step / 2 + random() * (step / 2);
}

/** One attempt's result as the procedure records it. */
export interface FailureAttempt {
  /** 0 is the probe, 1…5 the retries. */
  attempt: number;
  ok: boolean;
  elapsedMs: number;
  delayMs?: number;
  code?: string;
  message?: string;
}

/** What the procedure answers. */
export interface FailureOutcome {
  status: "success" | "failure";
  response?: unknown;
  attempts: FailureAttempt[];
}

/** Inputs of {@link runFailureProcedure}. */
export interface FailureProcedureOptions {
  /** Makes one attempt with a time budget (ms); resolves with the reply or rejects. */
  attempt(timeoutMs: number): Promise<unknown>;
  probeTimeoutMs: number;
  deadlineMs: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
}

/** Runs probe and retries; never rejects. */
export async function runFailureProcedure(o: FailureProcedureOptions): Promise<FailureOutcome> {
  const start = o.now();
  const deadline = start + o.deadlineMs;
  const attempts: FailureAttempt[] = [];
  const once = async (n: number, delayMs: number | undefined): Promise<FailureOutcome | undefined> => {
    const t0 = o.now();
    const budget = Math.max(1, Math.min(o.probeTimeoutMs, deadline - t0));
    try {
      const response = await o.attempt(budget);
      attempts.push({ attempt: n, ok: true, elapsedMs: o.now() - t0, ...(delayMs !== undefined ? { delayMs } : {}) });
      return { status: "success", response, attempts };
    } catch (err) {
      const code = typeof (err as { code?: unknown }).code === "string" ? (err as { code: string }).code : "INTERNAL";
      attempts.push({
        attempt: n,
        ok: false,
        elapsedMs: o.now() - t0,
        ...(delayMs !== undefined ? { delayMs } : {}),
        code,
        message: (err instanceof Error ? err.message : String(err)).slice(0, 300),
      });
      return undefined;
    }
  };
  const probed = await once(0, undefined);
  if (probed) return probed;
  for (let n = 1; n <= SEED_RETRY.maxAttempts; n++) {
    const delay = seedRetryDelay(n, o.random);
    // A retry that could not even start before the deadline is not made.
    if (o.now() + delay >= deadline) break;
    await o.sleep(delay);
    const done = await once(n, delay);
    if (done) return done;
  }
  return { status: "failure", attempts };
}

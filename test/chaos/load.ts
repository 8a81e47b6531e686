/**
 * Steady load for the chaos scenarios: a fixed number of workers, each calling in a closed loop with
 * a short pause, so the load stays steady on a 2-core machine and the processes under test still get
 * CPU for their heartbeats. Counts every call, keeps the first errors, and where each reply came from.
 */
import type { Client } from "../../src/client/index.js";

/** Options of {@link startLoad}. */
export interface LoadOptions {
  service?: string;
  /** Endpoint answering with the instance id (the agent-process fixture's `whoami`). */
  endpoint?: string;
  /** Concurrent callers (default 8). */
  concurrency?: number;
  /** Pause of each caller between two calls, in ms (default 2). */
  pauseMs?: number;
  /** Whole-call budget, in ms (default 10 000). */
  deadlineMs?: number;
}

/** What the load saw. */
export interface LoadReport {
  calls: number;
  succeeded: number;
  failed: number;
  /** The first few failures, as `Name: message`. */
  errors: string[];
  /** Replies per instance id. */
  byInstance: Map<string, number>;
  /** Longest time between two consecutive successful replies, in ms. */
  longestGapMs: number;
  durationMs: number;
}

/** A running load. */
export interface Load {
  /** Counters so far. */
  readonly report: LoadReport;
  /** Epoch ms of the last successful reply. */
  readonly lastSuccessAt: number;
  /** Resolves once `n` more calls succeeded than when it was called. */
  successes(n: number, timeoutMs?: number): Promise<void>;
  /** Stops the callers, waits for the calls in flight, and returns the report. */
  stop(): Promise<LoadReport>;
}

/** Starts calling `service.endpoint` with idempotent calls until `stop()`. */
export function startLoad(client: Client, opts: LoadOptions = {}): Load {
  const service = opts.service ?? "echo";
  const endpoint = opts.endpoint ?? "whoami";
  const pauseMs = opts.pauseMs ?? 2;
  const started = Date.now();
  const report: LoadReport = { calls: 0, succeeded: 0, failed: 0, errors: [], byInstance: new Map(), longestGapMs: 0, durationMs: 0 };
  let running = true;
  let lastSuccessAt = Date.now();
  const waiters: Array<{ target: number; resolve: () => void }> = [];
  const worker = async (w: number) => {
    let i = 0;
    while (running) {
      report.calls++;
      try {
        const id = await client.call<string>(service, endpoint, { w, i: i++ }, { idempotent: true, deadlineMs: opts.deadlineMs ?? 10_000 });
        report.succeeded++;
        report.byInstance.set(id, (report.byInstance.get(id) ?? 0) + 1);
        const now = Date.now();
        report.longestGapMs = Math.max(report.longestGapMs, now - lastSuccessAt);
        lastSuccessAt = now;
        for (let k = waiters.length - 1; k >= 0; k--) {
          if (report.succeeded >= waiters[k]!.target) waiters.splice(k, 1)[0]!.resolve();
        }
      } catch (e) {
        report.failed++;
        const err = e as Error;
        if (report.errors.length < 10) report.errors.push(`${err.name}: ${err.message}`);
      }
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const workers = Array.from({ length: opts.concurrency ?? 8 }, (_, w) => worker(w));
  return {
    report,
    get lastSuccessAt() {
      return lastSuccessAt;
    },
    successes: (n, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`load: ${n} more successful calls did not happen within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          target: report.succeeded + n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
    stop: async () => {
      running = false;
      await Promise.all(workers);
      report.durationMs = Date.now() - started;
      return report;
    },
  };
}

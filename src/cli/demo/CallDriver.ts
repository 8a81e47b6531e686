/**
 * The demo's call driver: `concurrency` callers, each pacing itself so that together they make
 * about `rate` balanced calls per second, counting successes, failures and latencies.
 */
import type { Client } from "../../client/index.js";
import { LatencyWindow } from "./LatencyWindow.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Options of {@link CallDriver}. */
export interface CallDriverOptions {
  service: string;
  endpoint: string;
  rate: number;
  concurrency: number;
  /** Called on each failed call with its `CODE: message`. */
  onFailure: (text: string) => void;
}

/** See the module comment. `start()` begins the callers; `stop()` waits for the calls in flight. */
export class CallDriver {
  calls = 0;
  failed = 0;
  lastError: string | undefined;
  /** Latencies of the last 5 s. */
  readonly latencies = new LatencyWindow(5000);
  /** When the callers started. */
  startedAt = 0;
  private driving = false;
  private seq = 0;
  private workers: Array<Promise<void>> = [];

  constructor(
    private readonly client: Client,
    private readonly opts: CallDriverOptions,
  ) {}

  start(): this {
    this.startedAt = Date.now();
    this.driving = true;
    this.workers = Array.from({ length: this.opts.concurrency }, () => this.worker());
    return this;
  }

  async stop(): Promise<void> {
    this.driving = false;
    await Promise.all(this.workers);
  }

  private async worker(): Promise<void> {
    const interval = (1000 * this.opts.concurrency) / this.opts.rate;
    let next = Date.now();
    while (this.driving) {
      const t0 = performance.now();
      try {
        await this.client.call(this.opts.service, this.opts.endpoint, { n: ++this.seq }, { idempotent: true });
        this.calls++;
        this.latencies.record(Date.now(), performance.now() - t0);
      } catch (err) {
        this.failed++;
        this.lastError = `${(err as { code?: string }).code ?? "ERROR"}: ${(err as Error).message}`;
        this.opts.onFailure(this.lastError);
      }
      next += interval;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      else next = Date.now();
    }
  }
}

/**
 * Counts refused input and logs it at most once per burst, so a flood of garbage costs a counter
 * increment per message, not a log line per message.
 */
import type { Logger } from "pino";

/** Options for {@link InvalidInputLog}. */
export interface InvalidInputLogOptions {
  /** Quiet period: after a warning, further ones are folded into a count until this much time passes. */
  burstMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

/** Per-subject-kind counters of refused messages, with burst-limited warnings. */
export class InvalidInputLog {
  private readonly counts = new Map<string, number>();
  private readonly lastWarnAt = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();
  private readonly burstMs: number;
  private readonly now: () => number;

  constructor(
    private readonly log: Pick<Logger, "warn">,
    opts: InvalidInputLogOptions = {},
  ) {
    this.burstMs = opts.burstMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Records one refused message of `kind` (e.g. `heartbeat`); warns unless a warning for it is recent. */
  record(kind: string, error: string, subject?: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    const now = this.now();
    const last = this.lastWarnAt.get(kind);
    if (last !== undefined && now - last < this.burstMs) {
      this.suppressed.set(kind, (this.suppressed.get(kind) ?? 0) + 1);
      return;
    }
    const folded = this.suppressed.get(kind) ?? 0;
    this.suppressed.set(kind, 0);
    this.lastWarnAt.set(kind, now);
    this.log.warn({ kind, subject, error, suppressedSinceLastWarning: folded }, `refused invalid ${kind} message`);
  }

  /** Refused messages per kind since start. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** Total refused messages since start. */
  get total(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }
}

/**
 * Calls per second and latency quantiles over a sliding window, for the demo's live view.
 * Pure: times are passed in.
 */

/** Rates and quantiles over the window. */
export interface WindowStats {
  /** Completed calls per second over the window. */
  rate: number;
  /** Latency quantiles in ms; null without samples. */
  p50: number | null;
  p99: number | null;
  /** Samples in the window. */
  samples: number;
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Keeps (time, latency) samples of the last `windowMs`. */
export class LatencyWindow {
  private times: number[] = [];
  private values: number[] = [];
  private head = 0;

  constructor(private readonly windowMs = 5000) {}

  /** Records one completed call. */
  record(at: number, latencyMs: number): void {
    this.times.push(at);
    this.values.push(latencyMs);
  }

  /** Stats of the samples within the window ending at `now`. */
  stats(now: number, startedAt = 0): WindowStats {
    const from = now - this.windowMs;
    while (this.head < this.times.length && this.times[this.head]! < from) this.head++;
    if (this.head > 4096 && this.head > this.times.length / 2) {
      this.times = this.times.slice(this.head);
      this.values = this.values.slice(this.head);
      this.head = 0;
    }
    const window = this.values.slice(this.head).sort((a, b) => a - b);
    // Early on, the window is not full yet: divide by the time actually covered.
    const span = Math.max(1, Math.min(this.windowMs, now - Math.max(startedAt, from)));
    return { rate: (window.length * 1000) / span, p50: quantile(window, 0.5), p99: quantile(window, 0.99), samples: window.length };
  }
}

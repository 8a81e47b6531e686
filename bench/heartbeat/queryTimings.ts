/**
 * The coordinator's own time to answer registry queries, kept by the benchmark through the
 * coordinator's `onQueryAnswered` hook: the last 1024 answers, wall and CPU time.
 */
import type { QueryTiming } from "../../src/coordinator/index.js";

/** Percentiles of the last answers, ms. */
export interface QueryTimingSummary {
  answered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  p50CpuMs: number;
  p99CpuMs: number;
}

/** A ring of the last 1024 query timings. */
export class QueryTimings {
  private readonly wall = new Float64Array(1024);
  private readonly cpu = new Float64Array(1024);
  private answered = 0;

  /** Pass as `onQueryAnswered`. */
  readonly record = (t: QueryTiming): void => {
    const slot = this.answered++ % this.wall.length;
    this.wall[slot] = t.wallMs;
    this.cpu[slot] = t.cpuMs;
  };

  /** Percentiles over the last `last` answers (at most 1024). */
  summary(last = this.wall.length): QueryTimingSummary {
    const size = this.wall.length;
    const n = Math.min(this.answered, size, Math.max(0, Math.floor(last)));
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let k = 1; k <= n; k++) {
      const slot = (this.answered - k) % size;
      wall.push(this.wall[slot]!);
      cpu.push(this.cpu[slot]!);
    }
    wall.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    const at = (xs: number[], q: number) => (n === 0 ? 0 : xs[Math.min(n - 1, Math.floor(q * n))]!);
    return {
      answered: this.answered,
      p50Ms: at(wall, 0.5),
      p99Ms: at(wall, 0.99),
      maxMs: n === 0 ? 0 : wall[n - 1]!,
      p50CpuMs: at(cpu, 0.5),
      p99CpuMs: at(cpu, 0.99),
    };
  }
}

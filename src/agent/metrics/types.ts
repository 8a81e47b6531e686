/** Public types of an agent's metrics. */
import type { Counter, Gauge, Histogram } from "prom-client";

/** Options of a user counter, gauge or histogram. */
export interface UserMetricOptions {
  /** Description (shown as HELP by collectors' `/metrics`). */
  help?: string;
  /** Label names this metric's series are split by. */
  labelNames?: readonly string[];
}

/** Options of a user histogram. */
export interface UserHistogramOptions extends UserMetricOptions {
  /** Bucket upper bounds, ascending (default: the latency buckets, in ms). */
  buckets?: readonly number[];
}

/**
 * The metrics API of an agent (`agent.metrics`). Per-endpoint requests, errors and latency are
 * recorded automatically; these create user metrics, which are prom-client metric objects held by
 * the agent, published with every snapshot.
 */
export interface AgentMetricsApi {
  /** A counter (only goes up): `inc()`, `inc(5)`, `inc({ queue: "a" }, 2)`. Same name again returns the same counter. */
  counter(name: string, opts?: UserMetricOptions): Counter<string>;
  /** A gauge (any value): `set(v)`, `inc()`, `dec()`, with optional labels first. */
  gauge(name: string, opts?: UserMetricOptions): Gauge<string>;
  /** A histogram: `observe(v)` or `observe({ label: "x" }, v)`; bucket counts are published cumulatively. */
  histogram(name: string, opts?: UserHistogramOptions): Histogram<string>;
}

/** Built-in latency bucket upper bounds, in milliseconds: sub-millisecond NATS calls up to 30 s. */
export const DEFAULT_LATENCY_BUCKETS_MS: readonly number[] = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000];

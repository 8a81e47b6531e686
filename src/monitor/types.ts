/** Public types of the monitor: compiled alert rules, series values, collector options. */
import type { AlertEvent, Event, Logger, MonitorSnapshot, NatsSource } from "../protocol/index.js";

/** Comparison of a metric value with a rule's threshold. */
export type ComparisonOp = ">" | ">=" | "<" | "<=" | "==" | "!=";

/** Metrics computed from the endpoint counters and latency histograms every agent publishes. */
export const ENDPOINT_METRICS: ReadonlySet<string> = new Set(["error_rate", "request_rate", "latency_p50", "latency_p95", "latency_p99"]);
/** Metric names with a built-in meaning; anything else names a user metric. */
export const BUILTIN_METRICS: ReadonlySet<string> = new Set([...ENDPOINT_METRICS, "instance_down"]);
/** Labels Switchboard sets on every alert; rule labels cannot override them. */
export const IDENTIFYING_LABELS: ReadonlySet<string> = new Set(["alertname", "service", "severity", "instance", "endpoint"]);

/** An alert rule after validation, with durations in milliseconds and defaults filled in. */
export interface CompiledRule {
  /** Rule name, the alert's `alertname` label. */
  name: string;
  /** A service, or `*` for each service separately. */
  service: string;
  /** `error_rate`, `request_rate`, `latency_p50|p95|p99`, `instance_down`, or a user metric name. */
  metric: string;
  op: ComparisonOp;
  threshold: number;
  /** How long the condition must hold before firing. */
  forMs: number;
  /** Window of rates and quantiles. */
  windowMs: number;
  severity: string;
  /** One alert per service or per instance. */
  by: "service" | "instance";
  /** Only this endpoint (endpoint metrics). */
  endpoint?: string;
  /** Only user-metric series with these labels. */
  match?: Record<string, string>;
  /** How user gauges combine across series and instances. */
  aggregate: "sum" | "max" | "min" | "avg";
  /** Quantile of a user histogram. */
  quantile: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** One series of a rule at one evaluation step: its identifying labels and current value. */
export interface SeriesValue {
  /** `service`, and `instance` (per-instance rules) — the labels that tell series of one rule apart. */
  readonly labels: Readonly<Record<string, string>>;
  /** The metric's value; undefined when there is no data (no requests in the window, no such metric). */
  readonly value: number | undefined;
}

/** An alert being tracked by the evaluator: pending (condition holds, `for` not yet over) or firing. */
export interface TrackedAlert {
  fingerprint: string;
  rule: CompiledRule;
  state: "pending" | "firing";
  labels: Record<string, string>;
  value: number | undefined;
  activeAt: number;
  startsAt?: number;
}

/** A firing alert remembered across a collector restart (its last firing event, kept in a KV bucket). */
export type RestoredAlert = AlertEvent & { status: "firing" };

/** Options of {@link createCollector}. */
export type CollectorOptions = NatsSource & {
  /** Subject prefix (default `sb`). */
  prefix?: string;
  /** Collector id, shown in alert events and query replies (default `collector-<random>`). */
  id?: string;
  /** Alert rules: compiled rules, or the path of a JSON/YAML rules file. Default none. */
  rules?: CompiledRule[] | string;
  /** Evaluation step in ms (default 500). Steps are aligned to the clock so all collectors step together. */
  evaluationIntervalMs?: number;
  /**
   * How long after a step's end the step is evaluated (default 200 ms), so metric snapshots stamped
   * before it have arrived at every collector; this is what makes replicas agree on alert start times.
   */
  evaluationDelayMs?: number;
  /** An instance is stale (left out of aggregates) after this many missed metric intervals (default 3). */
  staleIntervals?: number;
  /** HTTP port for `GET /metrics` (Prometheus text). 0 picks a free port; undefined serves no HTTP. */
  httpPort?: number;
  /** HTTP listen address (default 0.0.0.0). */
  httpHost?: string;
  /** Largest metrics snapshot accepted, in bytes (default 1 MiB). */
  maxMetricsBytes?: number;
  /** Alert stream settings (created if missing). */
  stream?: AlertStreamOptions;
  /** Remember firing alerts in a KV bucket so a restarted collector resolves them (default true). */
  persistAlerts?: boolean;
  /** Query the registry for instances already down at start (default true; skipped when no coordinator answers). */
  registrySnapshotOnStart?: boolean;
  /** Logger (default pino `collector`). */
  logger?: Logger;
  /** Clock (tests). */
  now?: () => number;
};

/** Settings of the JetStream stream that captures alert events. */
export interface AlertStreamOptions {
  /** Stream name (default `<prefix with . as _>_alerts`). */
  name?: string;
  /** Duplicate window for `Nats-Msg-Id` de-duplication (default 10 minutes). */
  duplicateWindowMs?: number;
  /** How long alert events are kept (default 7 days). */
  maxAgeMs?: number;
  /** Replicas in a clustered JetStream (default 1); the collector's alert-state KV bucket gets as many. */
  replicas?: number;
  /** File (default) or memory storage. */
  storage?: "file" | "memory";
}

/** A running collector. */
export interface Collector {
  readonly id: string;
  /** `http://host:port` of the metrics endpoint, when serving HTTP. */
  readonly url: string | undefined;
  /** HTTP port, when serving HTTP. */
  readonly port: number | undefined;
  /** The rules evaluated. */
  readonly rules: readonly CompiledRule[];
  /** Subscribes, starts evaluating and serving; resolves to the collector. */
  start(): Promise<this>;
  /** Stops everything; flushes alert events still waiting for JetStream (up to `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
  /** Aggregated metrics and active alerts, as the query subject answers them. */
  snapshot(opts?: { service?: string; windowMs?: number; instances?: boolean }): MonitorSnapshot;
  /** Prometheus text exposition, as `GET /metrics` serves it. */
  metricsText(): Promise<string>;
  /** Observes every alert transition this collector produced (before it is acknowledged by JetStream). */
  readonly onAlert: Event<AlertEvent>;
  /** Counters: snapshots ingested, refused input per kind, alert events published/duplicate/pending. */
  stats(): CollectorStats;
}

/** Collector counters. */
export interface CollectorStats {
  received: number;
  invalid: Record<string, number>;
  alertsPublished: number;
  alertsDuplicate: number;
  alertsPendingPublish: number;
  evaluations: number;
}

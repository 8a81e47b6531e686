/**
 * An agent's metrics: per endpoint a request count, an error count (by code) and a latency
 * histogram, recorded on every request, plus user counters, gauges and histograms; turned into a
 * `metrics` snapshot on demand.
 *
 * Histograms are prom-client's (bucket search, sum and count kept by a well-used library rather
 * than by hand), one unlabelled histogram per endpoint: on the call path an unlabelled observe
 * costs about a third of a labelled one. Request and error counts are plain integers.
 */
import { Counter, Gauge, Histogram, type MetricObjectWithValues, type MetricValueWithName } from "prom-client";
import type { CounterSample, EndpointMetrics, GaugeSample, HistogramSample, MetricsSnapshot } from "../../protocol/index.js";
import { DEFAULT_LATENCY_BUCKETS_MS, type AgentMetricsApi, type UserHistogramOptions, type UserMetricOptions } from "./types.js";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]{0,127}$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
/** Limits of the `metrics` schema; series beyond them are left out of snapshots. */
const MAX_SERIES = { counters: 1024, gauges: 1024, histograms: 256 } as const;
const MAX_LABEL_VALUE = 256;

interface EndpointRecord {
  requests: number;
  errors: number;
  errorsByCode: Map<string, number>;
  latency: Histogram;
}

function cleanLabels(labels: Record<string, string | number> | undefined): Record<string, string> | undefined {
  if (!labels) return undefined;
  // Null prototype: a label named __proto__ is stored as a label, not as the object's prototype.
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let n = 0;
  for (const [k, v] of Object.entries(labels)) {
    if (k === "le" || !LABEL_NAME.test(k) || n >= 16) continue;
    out[k] = String(v).slice(0, MAX_LABEL_VALUE);
    n++;
  }
  return n > 0 ? out : undefined;
}

/** See the module comment. */
export class AgentMetrics implements AgentMetricsApi {
  /**
   * User metrics by name. A Map, not a prom-client Registry: the registry indexes a plain object, so a
   * metric named `constructor` or `toString` would collide with Object.prototype.
   */
  private readonly user = new Map<string, Counter<string> | Gauge<string> | Histogram<string>>();
  private readonly endpoints = new Map<string, EndpointRecord>();
  private readonly buckets: number[];

  constructor(opts: { latencyBucketsMs?: readonly number[] } = {}) {
    this.buckets = [...(opts.latencyBucketsMs ?? DEFAULT_LATENCY_BUCKETS_MS)];
  }

  /** Makes an endpoint appear (with zeros) before its first request. */
  ensureEndpoint(endpoint: string): void {
    this.endpointRecord(endpoint);
  }

  private endpointRecord(endpoint: string): EndpointRecord {
    let r = this.endpoints.get(endpoint);
    if (!r) {
      // Not registered anywhere: read through get() when a snapshot is built.
      r = { requests: 0, errors: 0, errorsByCode: new Map(), latency: new Histogram({ name: "sb_request_duration_ms", help: "latency", buckets: this.buckets, registers: [] }) };
      this.endpoints.set(endpoint, r);
    }
    return r;
  }

  /** Records one handled request (the agent's `onRequest` observer). */
  record(o: { endpoint: string; durationMs: number; error?: string }): void {
    const r = this.endpointRecord(o.endpoint);
    r.requests++;
    if (Number.isFinite(o.durationMs) && o.durationMs >= 0) r.latency.observe(o.durationMs);
    else r.latency.observe(0);
    if (o.error !== undefined) {
      r.errors++;
      const code = ERROR_CODE.test(o.error) ? o.error : "OTHER";
      if (r.errorsByCode.has(code) || r.errorsByCode.size < 32) r.errorsByCode.set(code, (r.errorsByCode.get(code) ?? 0) + 1);
    }
  }

  private checkName(name: string, kind: string): void {
    if (!METRIC_NAME.test(name)) throw new RangeError(`invalid ${kind} name ${JSON.stringify(name)}: use a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)`);
    if (name.startsWith("sb_")) throw new RangeError(`metric names starting with sb_ are reserved for Switchboard (${name})`);
  }

  private existing<T>(name: string, type: new (...a: never[]) => T, kind: string): T | undefined {
    const m = this.user.get(name);
    if (!m) return undefined;
    if (m instanceof type) return m;
    throw new Error(`metric ${name} already exists with another type than ${kind}`);
  }

  private added<T extends Counter<string> | Gauge<string> | Histogram<string>>(m: T): T {
    this.user.set((m as unknown as { name: string }).name, m);
    return m;
  }

  counter(name: string, opts: UserMetricOptions = {}): Counter<string> {
    this.checkName(name, "counter");
    return (
      this.existing(name, Counter, "counter") ??
      this.added(new Counter({ name, help: opts.help ?? name, labelNames: [...(opts.labelNames ?? [])], registers: [] }))
    );
  }

  gauge(name: string, opts: UserMetricOptions = {}): Gauge<string> {
    this.checkName(name, "gauge");
    return this.existing(name, Gauge, "gauge") ?? this.added(new Gauge({ name, help: opts.help ?? name, labelNames: [...(opts.labelNames ?? [])], registers: [] }));
  }

  histogram(name: string, opts: UserHistogramOptions = {}): Histogram<string> {
    this.checkName(name, "histogram");
    return (
      this.existing(name, Histogram, "histogram") ??
      this.added(
        new Histogram({
          name,
          help: opts.help ?? name,
          labelNames: [...(opts.labelNames ?? [])],
          buckets: [...(opts.buckets ?? this.buckets)],
          registers: [],
        }),
      )
    );
  }

  /** Builds a snapshot body (everything cumulative since the instance started). */
  async snapshot(head: Pick<MetricsSnapshot, "service" | "id" | "seq" | "sentAt" | "startedAt" | "intervalMs">): Promise<MetricsSnapshot> {
    const endpoints: EndpointMetrics[] = [];
    for (const [endpoint, r] of this.endpoints) {
      if (endpoints.length >= 256) break;
      const h = histogramFrom((await r.latency.get()) as MetricObjectWithValues<MetricValueWithName<string>>, "sb_request_duration_ms")[0];
      const ep: EndpointMetrics = {
        endpoint,
        requests: r.requests,
        errors: r.errors,
        latencyMs: h ? { bounds: h.bounds, counts: h.counts, sum: h.sum, count: h.count } : { bounds: this.buckets, counts: this.buckets.map(() => 0), sum: 0, count: 0 },
      };
      if (r.errorsByCode.size > 0) ep.errorsByCode = Object.fromEntries(r.errorsByCode);
      endpoints.push(ep);
    }
    const snap: MetricsSnapshot = { v: 1, ...head, endpoints };
    const counters: CounterSample[] = [];
    const gauges: GaugeSample[] = [];
    const histograms: HistogramSample[] = [];
    for (const m of this.user.values()) {
      const metric = (await m.get()) as MetricObjectWithValues<MetricValueWithName<string>>;
      const type = String(metric.type);
      const help = metric.help && metric.help !== metric.name ? metric.help.slice(0, 512) : undefined;
      if (type === "counter" || type === "gauge") {
        const list = type === "counter" ? counters : gauges;
        for (const v of metric.values) {
          if (list.length >= MAX_SERIES[type === "counter" ? "counters" : "gauges"] || !Number.isFinite(v.value)) continue;
          if (type === "counter" && v.value < 0) continue;
          const s: CounterSample = { name: metric.name, value: v.value };
          const labels = cleanLabels(v.labels as Record<string, string>);
          if (labels) s.labels = labels;
          if (help) s.help = help;
          list.push(s);
        }
      } else if (type === "histogram") {
        for (const h of histogramFrom(metric, metric.name)) {
          if (histograms.length >= MAX_SERIES.histograms) break;
          const s: HistogramSample = { name: metric.name, ...h };
          if (help) s.help = help;
          histograms.push(s);
        }
      }
    }
    if (counters.length) snap.counters = counters;
    if (gauges.length) snap.gauges = gauges;
    if (histograms.length) snap.histograms = histograms;
    return snap;
  }
}

/** prom-client's histogram values (`_bucket{le}`, `_sum`, `_count` per label set) as cumulative bucket arrays. */
function histogramFrom(
  metric: MetricObjectWithValues<MetricValueWithName<string>>,
  name: string,
): Array<{ bounds: number[]; counts: number[]; sum: number; count: number; labels?: Record<string, string> }> {
  const series = new Map<string, { bounds: number[]; counts: number[]; sum: number; count: number; labels?: Record<string, string> }>();
  for (const v of metric.values) {
    const { le, ...rest } = v.labels as Record<string, string | number>;
    const key = JSON.stringify(Object.entries(rest).sort());
    let s = series.get(key);
    if (!s) {
      s = { bounds: [], counts: [], sum: 0, count: 0 };
      const labels = cleanLabels(rest);
      if (labels) s.labels = labels;
      series.set(key, s);
    }
    if (v.metricName === `${name}_bucket`) {
      if (le !== "+Inf" && Number.isFinite(Number(le))) {
        s.bounds.push(Number(le));
        s.counts.push(v.value);
      }
    } else if (v.metricName === `${name}_sum`) s.sum = Number.isFinite(v.value) ? v.value : 0;
    else if (v.metricName === `${name}_count`) s.count = v.value;
  }
  return [...series.values()].filter((s) => s.bounds.length > 0);
}

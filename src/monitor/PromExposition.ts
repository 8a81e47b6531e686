/**
 * Prometheus text exposition of what a collector holds. The families change with the data (user
 * metrics come and go with instances), so each scrape builds a fresh prom-client registry of
 * read-only metric objects over the current values and lets prom-client format it: escaping and
 * the text format are prom-client's, not ours.
 *
 * Metric and label names come from the wire, so nothing here indexes a plain object with them: families
 * are a Map, label sets have a null prototype, and the registry keeps its families in a list (prom-client's
 * own index is a plain object, where a metric named `constructor` is "already registered").
 */
import { Registry, type Metric } from "prom-client";
import type { MetricStore } from "./MetricStore.js";
import type { TrackedAlert } from "./types.js";

type MetricType = "counter" | "gauge" | "histogram";
interface Value {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/** A read-only metric family prom-client's registry can format. */
class Family {
  readonly values: Value[] = [];
  readonly aggregator = "sum";
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
  ) {}
  async get() {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values };
  }
  reset(): void {}
}

/** Collector-level counters shown beside the aggregated metrics. */
export interface CollectorCounters {
  received: number;
  duplicates: number;
  invalid: Record<string, number>;
  alertsPublished: number;
  alertsDuplicate: number;
  alertsPendingPublish: number;
  evaluations: number;
}

const RESERVED_LABELS = new Set(["service", "instance", "le"]);

/**
 * `base` plus a snapshot's labels. A user label named like ours keeps its value under
 * `exported_<name>`, as Prometheus does; so does one starting with `__` (reserved by Prometheus).
 */
function userLabels(base: Record<string, string>, labels: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out = Object.assign(Object.create(null) as Record<string, string>, base);
  if (labels) for (const [k, v] of Object.entries(labels)) out[RESERVED_LABELS.has(k) || k.startsWith("__") ? `exported_${k}` : k] = v;
  return out;
}

/** A prom-client registry that keeps its families in a list (see the module comment). */
class FamilyRegistry extends Registry {
  private readonly families: Metric[] = [];
  override registerMetric(metric: Metric): void {
    this.families.push(metric);
  }
  override getMetricsAsArray(): never[] {
    return this.families as never[];
  }
}

function pushHistogram(f: Family, labels: Record<string, string>, h: { bounds: readonly number[]; counts: readonly number[]; sum: number; count: number }): void {
  for (let i = 0; i < h.bounds.length; i++) f.values.push({ metricName: `${f.name}_bucket`, labels: { ...labels, le: h.bounds[i]! }, value: h.counts[i]! });
  f.values.push({ metricName: `${f.name}_bucket`, labels: { ...labels, le: "+Inf" }, value: h.count });
  f.values.push({ metricName: `${f.name}_sum`, labels, value: h.sum });
  f.values.push({ metricName: `${f.name}_count`, labels, value: h.count });
}

/** Renders the exposition at `now`. */
export async function renderExposition(store: MetricStore, alerts: readonly TrackedAlert[], counters: CollectorCounters, now: number): Promise<{ text: string; contentType: string }> {
  const families = new Map<string, Family>();
  const family = (name: string, help: string, type: MetricType): Family | undefined => {
    const f = families.get(name);
    if (f) return f.type === type ? f : undefined; // a user metric reported with two types: keep the first
    const created = new Family(name, help, type);
    families.set(name, created);
    return created;
  };
  const requests = family("sb_requests_total", "Requests handled, per service, instance and endpoint (cumulative since the instance started).", "counter")!;
  const errors = family("sb_errors_total", "Requests answered with an error.", "counter")!;
  const byCode = family("sb_errors_by_code_total", "Errors by error code.", "counter")!;
  const latency = family("sb_request_duration_ms", "Request handling time in milliseconds.", "histogram")!;
  const instances = family("sb_instances", "Instances sending metrics, per service.", "gauge")!;
  const perService = new Map<string, number>();

  for (const { inst, latest } of store.liveAt(now)) {
    perService.set(inst.service, (perService.get(inst.service) ?? 0) + 1);
    const base = { service: inst.service, instance: inst.id };
    for (const ep of latest.endpoints) {
      const labels = { ...base, endpoint: ep.endpoint };
      requests.values.push({ labels, value: ep.requests });
      errors.values.push({ labels, value: ep.errors });
      for (const [code, n] of Object.entries(ep.errorsByCode ?? {})) byCode.values.push({ labels: { ...labels, code }, value: n });
      pushHistogram(latency, labels, ep.latencyMs);
    }
    for (const [name, list] of latest.counters) {
      if (name.startsWith("sb_")) continue;
      const f = family(name, list[0]?.help ?? name, "counter");
      if (f) for (const c of list) f.values.push({ labels: userLabels(base, c.labels), value: c.value });
    }
    for (const [name, list] of latest.gauges) {
      if (name.startsWith("sb_")) continue;
      const f = family(name, list[0]?.help ?? name, "gauge");
      if (f) for (const g of list) f.values.push({ labels: userLabels(base, g.labels), value: g.value });
    }
    for (const [name, list] of latest.histograms) {
      if (name.startsWith("sb_")) continue;
      const f = family(name, list[0]?.help ?? name, "histogram");
      if (f) for (const h of list) pushHistogram(f, userLabels(base, h.labels), h);
    }
  }
  for (const [service, n] of perService) instances.values.push({ labels: { service }, value: n });

  const alertFamily = family("sb_alerts", "Active alerts (1 per pending or firing alert), like Prometheus's ALERTS.", "gauge")!;
  for (const a of alerts) alertFamily.values.push({ labels: { ...a.labels, alertstate: a.state }, value: 1 });

  const c = (name: string, help: string, type: MetricType, value: number, labels: Record<string, string> = {}) => {
    const f = family(name, help, type);
    f?.values.push({ labels, value });
  };
  c("sb_collector_snapshots_total", "Metric snapshots ingested.", "counter", counters.received);
  c("sb_collector_snapshots_duplicate_total", "Metric snapshots ignored as replays (seq not above the last).", "counter", counters.duplicates);
  const invalid = family("sb_collector_invalid_total", "Refused messages per kind (metrics, registry-event, monitor-query).", "counter")!;
  for (const [kind, n] of Object.entries(counters.invalid)) invalid.values.push({ labels: { kind }, value: n });
  c("sb_collector_alert_events_total", "Alert transitions stored in the alert stream by this collector.", "counter", counters.alertsPublished);
  c("sb_collector_alert_events_duplicate_total", "Alert transitions the stream already had from another collector.", "counter", counters.alertsDuplicate);
  c("sb_collector_alert_events_pending", "Alert transitions waiting for JetStream.", "gauge", counters.alertsPendingPublish);
  c("sb_collector_evaluations_total", "Rule evaluation steps run.", "counter", counters.evaluations);

  const registry = new FamilyRegistry();
  for (const f of families.values()) registry.registerMetric(f as unknown as Metric);
  return { text: await registry.metrics(), contentType: registry.contentType };
}

/** The reply to a monitor query: per service, endpoint and instance traffic, and the active alerts. */
import type { ActiveAlert, MonitorSnapshot, ServiceStats, TrafficStats } from "../protocol/index.js";
import { histogramQuantile } from "./histogram.js";
import { MetricStore } from "./MetricStore.js";
import type { TrackedAlert } from "./types.js";

function round(v: number | undefined, digits = 3): number | null {
  if (v === undefined || !Number.isFinite(v)) return null;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function stats(store: MetricStore, members: ReturnType<MetricStore["liveAt"]>, t: number, windowMs: number, endpoint?: string): TrafficStats {
  const tr = store.trafficOf(members, t, windowMs, endpoint);
  let requests = 0;
  let errors = 0;
  for (const m of members) {
    const tot = MetricStore.totals(m.latest, endpoint);
    requests += tot.requests;
    errors += tot.errors;
  }
  return {
    requests,
    errors,
    requestRate: round(tr.requestRate),
    errorRate: round(tr.errorRate, 5),
    latencyP50: round(histogramQuantile(0.5, tr.latency)),
    latencyP95: round(histogramQuantile(0.95, tr.latency)),
    latencyP99: round(histogramQuantile(0.99, tr.latency)),
  };
}

/** Builds the snapshot at time `t`. */
export function buildMonitorSnapshot(
  store: MetricStore,
  alerts: readonly TrackedAlert[],
  head: { collector: string; received: number; invalid: Record<string, number> },
  t: number,
  opts: { service?: string; windowMs?: number; instances?: boolean } = {},
): MonitorSnapshot {
  const windowMs = opts.windowMs ?? 60_000;
  const byService = new Map<string, ReturnType<MetricStore["liveAt"]>>();
  for (const m of store.liveAt(t, opts.service)) {
    const list = byService.get(m.inst.service);
    if (list) list.push(m);
    else byService.set(m.inst.service, [m]);
  }
  const services: ServiceStats[] = [];
  for (const [service, members] of [...byService].sort(([a], [b]) => a.localeCompare(b))) {
    const endpoints = new Set<string>();
    for (const m of members) for (const ep of m.latest.endpoints) endpoints.add(ep.endpoint);
    const s: ServiceStats = {
      service,
      instanceCount: members.length,
      total: stats(store, members, t, windowMs),
      endpoints: [...endpoints].sort().map((endpoint) => ({ endpoint, stats: stats(store, members, t, windowMs, endpoint) })),
    };
    if (opts.instances) {
      s.instances = members
        .map((m) => ({ id: m.inst.id, lastSeen: m.latest.t, stats: stats(store, [m], t, windowMs) }))
        .sort((a, b) => a.id.localeCompare(b.id));
    }
    services.push(s);
  }
  const active: ActiveAlert[] = alerts
    .filter((a) => opts.service === undefined || a.labels.service === opts.service)
    .map((a) => {
      const out: ActiveAlert = {
        fingerprint: a.fingerprint,
        rule: a.rule.name,
        service: a.labels.service!,
        severity: a.rule.severity,
        state: a.state,
        value: round(a.value, 6),
        labels: a.labels,
        activeAt: a.activeAt,
      };
      if (a.labels.instance !== undefined) out.instance = a.labels.instance;
      if (a.startsAt !== undefined) out.startsAt = a.startsAt;
      return out;
    });
  return { v: 1, collector: head.collector, at: t, windowMs, received: head.received, invalid: head.invalid, services, alerts: active };
}

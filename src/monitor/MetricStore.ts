/**
 * The collector's memory of metric snapshots, per instance, for a bounded time, and the arithmetic
 * that turns it into rule values at a given time: rates and error ratios from counter differences
 * over a window, quantiles from histogram differences, gauges from the latest value. Pure: every
 * answer depends only on the snapshots held and the time asked about (snapshot times are the
 * agents' `sentAt`, not arrival times, so collectors holding the same snapshots agree).
 */
import type { CounterSample, EndpointMetrics, GaugeSample, HistogramSample, MetricsSnapshot } from "../protocol/index.js";
import { HistogramSum, histogramDelta, histogramQuantile, isWellFormedHistogram, type CumulativeHistogram } from "./histogram.js";
import type { CompiledRule, SeriesValue } from "./types.js";

/** One snapshot as stored: lookups by endpoint and by user-metric name. */
export interface Sample {
  /** The agent's `sentAt`. */
  readonly t: number;
  readonly seq: number;
  /** The snapshot's own endpoint list (a handful of entries: a Map per sample would cost more than it saves). */
  readonly endpoints: readonly EndpointMetrics[];
  readonly counters: ReadonlyMap<string, readonly CounterSample[]>;
  readonly gauges: ReadonlyMap<string, readonly GaugeSample[]>;
  readonly histograms: ReadonlyMap<string, readonly HistogramSample[]>;
}

/** Everything held about one instance. */
export interface InstanceSeries {
  readonly service: string;
  readonly id: string;
  readonly startedAt: number;
  intervalMs: number;
  /** Ordered by `t`; the first may be a synthetic all-zero sample at `startedAt`. */
  readonly samples: Sample[];
  lastSeq: number;
  /** Wall-clock arrival of the newest snapshot (for forgetting dead instances). */
  lastReceivedAt: number;
}

/** Result of {@link MetricStore.ingest}. */
export type IngestResult = "ok" | "duplicate" | "malformed";

/** Differences of one instance's endpoint counters over a window. */
export interface EndpointDelta {
  requests: number;
  errors: number;
  latency: CumulativeHistogram | undefined;
  /** Milliseconds between the two samples compared. */
  spanMs: number;
}

/** Options of {@link MetricStore}. */
export interface MetricStoreOptions {
  /** Samples older than this (relative to an instance's newest) are dropped. */
  retentionMs: number;
  /** An instance whose newest sample at time t is older than `staleIntervals × intervalMs + staleSlackMs` is left out. */
  staleIntervals: number;
  staleSlackMs: number;
  /**
   * Samples closer together than this (or than half the instance's interval, if smaller) replace
   * each other instead of accumulating: cumulative counters lose nothing by it, and an instance
   * publishing faster than it should cannot grow the collector's memory without bound.
   */
  minSpacingMs?: number;
  /**
   * Samples older than this (relative to an instance's newest) only serve as bases of long windows;
   * they are thinned to one per `coarseSpacingMs`, which bounds the samples held per instance
   * whatever the window and the publish rate. Default: no thinning.
   */
  fineHorizonMs?: number;
  coarseSpacingMs?: number;
}

const EMPTY: ReadonlyMap<string, never[]> = new Map();

function groupByName<T extends { name: string }>(items: readonly T[] | undefined): ReadonlyMap<string, T[]> {
  if (!items || items.length === 0) return EMPTY;
  const m = new Map<string, T[]>();
  for (const item of items) {
    const list = m.get(item.name);
    if (list) list.push(item);
    else m.set(item.name, [item]);
  }
  return m;
}

function labelsMatch(labels: Readonly<Record<string, string>> | undefined, match: Readonly<Record<string, string>> | undefined): boolean {
  if (!match) return true;
  for (const [k, v] of Object.entries(match)) if (((labels && Object.hasOwn(labels, k) ? labels[k] : undefined) ?? "") !== v) return false;
  return true;
}

function labelKey(labels: Readonly<Record<string, string>> | undefined): string {
  if (!labels) return "";
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

/** An endpoint of a sample by name. */
function findEndpoint(sample: Sample, name: string): EndpointMetrics | undefined {
  for (const ep of sample.endpoints) if (ep.endpoint === name) return ep;
  return undefined;
}

/** Index of the last sample with `t ≤ at`, or -1. */
function lastAtOrBefore(samples: readonly Sample[], at: number): number {
  let lo = 0;
  let hi = samples.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (samples[mid]!.t <= at) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** See the module comment. */
export class MetricStore {
  private readonly instances = new Map<string, InstanceSeries>();
  private readonly layouts = new Map<string, readonly number[]>();

  constructor(private readonly opts: MetricStoreOptions) {}

  /** Stores a schema-valid snapshot. Refuses malformed histograms, duplicate endpoints and replays. */
  ingest(snap: MetricsSnapshot, receivedAt: number): IngestResult {
    const names = new Set<string>();
    for (const ep of snap.endpoints) {
      if (names.has(ep.endpoint) || !isWellFormedHistogram(ep.latencyMs)) return "malformed";
      names.add(ep.endpoint);
      // Every instance sends the same bucket bounds: hold one copy of each layout, not one per sample.
      (ep.latencyMs as { bounds: number[] }).bounds = this.intern(ep.latencyMs.bounds);
    }
    for (const h of snap.histograms ?? []) if (!isWellFormedHistogram(h)) return "malformed";
    const key = `${snap.service}\u0000${snap.id}`;
    let inst = this.instances.get(key);
    if (inst && snap.seq <= inst.lastSeq) return "duplicate";
    if (!inst) {
      inst = { service: snap.service, id: snap.id, startedAt: snap.startedAt, intervalMs: snap.intervalMs, samples: [], lastSeq: 0, lastReceivedAt: receivedAt };
      // The first snapshot of an instance counts everything since it started: an all-zero sample at
      // its start makes that first interval usable for rates instead of waiting for a second one.
      if (snap.seq === 1 && snap.startedAt <= snap.sentAt) {
        inst.samples.push({ t: snap.startedAt, seq: 0, endpoints: [], counters: EMPTY, gauges: EMPTY, histograms: EMPTY });
      }
      this.instances.set(key, inst);
    }
    inst.lastSeq = snap.seq;
    inst.intervalMs = snap.intervalMs;
    inst.lastReceivedAt = receivedAt;
    const sample: Sample = {
      t: snap.sentAt,
      seq: snap.seq,
      endpoints: snap.endpoints,
      counters: groupByName(snap.counters),
      gauges: groupByName(snap.gauges),
      histograms: groupByName(snap.histograms),
    };
    // Keep time order even if an agent's clock stepped back.
    let i = inst.samples.length;
    while (i > 0 && inst.samples[i - 1]!.t > sample.t) i--;
    const prev = inst.samples[i - 1];
    const spacing = Math.min(this.opts.minSpacingMs ?? 0, inst.intervalMs / 2);
    // Replace the newest sample while it and this one lie within `spacing` of the one before them.
    if (i === inst.samples.length && i >= 2 && prev!.seq > 0 && sample.t - inst.samples[i - 2]!.t < spacing) {
      inst.samples[i - 1] = sample;
    } else {
      inst.samples.splice(i, 0, sample);
    }
    const newest = inst.samples[inst.samples.length - 1]!.t;
    this.thinOld(inst.samples, newest);
    const cutoff = newest - this.opts.retentionMs;
    // Keep one sample at or before the cutoff: it is the base of a full window.
    let drop = 0;
    while (drop + 1 < inst.samples.length && inst.samples[drop + 1]!.t <= cutoff) drop++;
    if (drop > 0) inst.samples.splice(0, drop);
    return "ok";
  }

  private intern(bounds: readonly number[]): number[] {
    const key = bounds.join(",");
    const known = this.layouts.get(key);
    if (known) return known as number[];
    if (this.layouts.size < 1024) this.layouts.set(key, bounds);
    return bounds as number[];
  }

  /**
   * Keeps samples older than the fine horizon at least `coarseSpacingMs` apart. Incremental: only
   * samples that just crossed the horizon are looked at, the older ones were thinned before.
   */
  private thinOld(samples: Sample[], newest: number): void {
    const { fineHorizonMs, coarseSpacingMs } = this.opts;
    if (fineHorizonMs === undefined || !coarseSpacingMs) return;
    let i = lastAtOrBefore(samples, newest - fineHorizonMs);
    while (i >= 2) {
      if (samples[i]!.t - samples[i - 2]!.t < coarseSpacingMs) {
        samples.splice(i - 1, 1);
        i--;
      } else break;
    }
  }

  /** Forgets instances nothing arrived from for `olderThanMs` (wall clock). */
  gc(now: number, olderThanMs: number): void {
    for (const [key, inst] of this.instances) if (now - inst.lastReceivedAt > olderThanMs) this.instances.delete(key);
  }

  /** Number of instances held. */
  get size(): number {
    return this.instances.size;
  }

  /** Instances live at `t`: with a sample at or before `t` that is not stale. Optionally of one service. */
  liveAt(t: number, service?: string): Array<{ inst: InstanceSeries; latest: Sample; latestIndex: number }> {
    const out: Array<{ inst: InstanceSeries; latest: Sample; latestIndex: number }> = [];
    for (const inst of this.instances.values()) {
      if (service !== undefined && inst.service !== service) continue;
      const i = lastAtOrBefore(inst.samples, t);
      if (i < 0) continue;
      const latest = inst.samples[i]!;
      if (latest.seq === 0) continue; // only the synthetic start sample
      if (t - latest.t > this.opts.staleIntervals * inst.intervalMs + this.opts.staleSlackMs) continue;
      out.push({ inst, latest, latestIndex: i });
    }
    return out;
  }

  /** Services with at least one live instance at `t`. */
  servicesAt(t: number): string[] {
    const s = new Set<string>();
    for (const { inst } of this.liveAt(t)) s.add(inst.service);
    return [...s].sort();
  }

  /** The sample a window ending at `latestIndex` starts from: the last at or before `t − windowMs`, else the oldest held. */
  private baseOf(inst: InstanceSeries, latestIndex: number, t: number, windowMs: number): Sample | undefined {
    const i = lastAtOrBefore(inst.samples, t - windowMs);
    const base = inst.samples[i >= 0 ? i : 0];
    return base && base !== inst.samples[latestIndex] && base.t < inst.samples[latestIndex]!.t ? base : undefined;
  }

  /** Endpoint counter differences of one instance over the window ending at `t` (one endpoint, or all). */
  endpointDelta(inst: InstanceSeries, latestIndex: number, t: number, windowMs: number, endpoint?: string): EndpointDelta | undefined {
    const latest = inst.samples[latestIndex]!;
    const base = this.baseOf(inst, latestIndex, t, windowMs);
    if (!base) return undefined;
    const d: EndpointDelta = { requests: 0, errors: 0, latency: undefined, spanMs: latest.t - base.t };
    const sum = new HistogramSum();
    for (const now of latest.endpoints) {
      if (endpoint !== undefined && now.endpoint !== endpoint) continue;
      const before = findEndpoint(base, now.endpoint);
      const reset = before !== undefined && now.requests < before.requests;
      d.requests += reset || !before ? now.requests : now.requests - before.requests;
      d.errors += reset || !before ? now.errors : Math.max(0, now.errors - before.errors);
      sum.add(histogramDelta(now.latencyMs, reset ? undefined : before?.latencyMs));
    }
    d.latency = sum.result();
    return d;
  }

  /** Cumulative totals of one instance's endpoints in its newest sample at `t`. */
  static totals(sample: Sample, endpoint?: string): { requests: number; errors: number } {
    let requests = 0;
    let errors = 0;
    for (const ep of sample.endpoints) {
      if (endpoint !== undefined && ep.endpoint !== endpoint) continue;
      requests += ep.requests;
      errors += ep.errors;
    }
    return { requests, errors };
  }

  /** Values of `rule`'s series at step `t` (instance_down is not computed here: it comes from registry events). */
  seriesFor(rule: CompiledRule, t: number): SeriesValue[] {
    const live = this.liveAt(t, rule.service === "*" ? undefined : rule.service);
    const groups = new Map<string, { labels: Record<string, string>; members: typeof live }>();
    for (const entry of live) {
      const labels: Record<string, string> =
        rule.by === "instance" ? { service: entry.inst.service, instance: entry.inst.id } : { service: entry.inst.service };
      const key = rule.by === "instance" ? `${entry.inst.service}\u0000${entry.inst.id}` : entry.inst.service;
      const g = groups.get(key);
      if (g) g.members.push(entry);
      else groups.set(key, { labels, members: [entry] });
    }
    const out: SeriesValue[] = [];
    for (const g of groups.values()) out.push({ labels: g.labels, value: this.valueOf(rule, t, g.members) });
    return out;
  }

  private valueOf(rule: CompiledRule, t: number, members: ReturnType<MetricStore["liveAt"]>): number | undefined {
    switch (rule.metric) {
      case "error_rate":
      case "request_rate":
      case "latency_p50":
      case "latency_p95":
      case "latency_p99": {
        const stats = this.trafficOf(members, t, rule.windowMs, rule.endpoint);
        if (rule.metric === "error_rate") return stats.errorRate;
        if (rule.metric === "request_rate") return stats.requestRate;
        return histogramQuantile(rule.metric === "latency_p50" ? 0.5 : rule.metric === "latency_p95" ? 0.95 : 0.99, stats.latency);
      }
      default:
        return this.userValueOf(rule, t, members);
    }
  }

  /** Rates, error ratio and merged latency histogram of a set of live instances over a window. */
  trafficOf(
    members: ReturnType<MetricStore["liveAt"]>,
    t: number,
    windowMs: number,
    endpoint?: string,
  ): { requestRate: number | undefined; errorRate: number | undefined; latency: CumulativeHistogram | undefined; requests: number; errors: number } {
    let rate: number | undefined;
    let requests = 0;
    let errors = 0;
    const sum = new HistogramSum();
    for (const { inst, latestIndex } of members) {
      const d = this.endpointDelta(inst, latestIndex, t, windowMs, endpoint);
      if (!d || d.spanMs <= 0) continue;
      rate = (rate ?? 0) + (d.requests * 1000) / d.spanMs;
      requests += d.requests;
      errors += d.errors;
      if (d.latency) sum.add(d.latency);
    }
    return { requestRate: rate, errorRate: requests > 0 ? errors / requests : undefined, latency: sum.result(), requests, errors };
  }

  private userValueOf(rule: CompiledRule, t: number, members: ReturnType<MetricStore["liveAt"]>): number | undefined {
    const values: number[] = [];
    let counterRate: number | undefined;
    const hist = new HistogramSum();
    let kind: "gauge" | "counter" | "histogram" | undefined;
    for (const { inst, latest, latestIndex } of members) {
      const gauges = latest.gauges.get(rule.metric);
      if (gauges && kind !== "counter" && kind !== "histogram") {
        kind = "gauge";
        for (const g of gauges) if (labelsMatch(g.labels, rule.match)) values.push(g.value);
        continue;
      }
      const counters = latest.counters.get(rule.metric);
      if (counters && kind !== "gauge" && kind !== "histogram") {
        kind = "counter";
        const base = this.baseOf(inst, latestIndex, t, rule.windowMs);
        if (!base) continue;
        const span = latest.t - base.t;
        const before = new Map((base.counters.get(rule.metric) ?? []).map((c) => [labelKey(c.labels), c.value]));
        for (const c of counters) {
          if (!labelsMatch(c.labels, rule.match)) continue;
          const prev = before.get(labelKey(c.labels));
          const delta = prev === undefined || c.value < prev ? c.value : c.value - prev;
          counterRate = (counterRate ?? 0) + (delta * 1000) / span;
        }
        continue;
      }
      const histograms = latest.histograms.get(rule.metric);
      if (histograms && kind !== "gauge" && kind !== "counter") {
        kind = "histogram";
        const base = this.baseOf(inst, latestIndex, t, rule.windowMs);
        if (!base) continue;
        const before = new Map((base.histograms.get(rule.metric) ?? []).map((h) => [labelKey(h.labels), h]));
        for (const h of histograms) if (labelsMatch(h.labels, rule.match)) hist.add(histogramDelta(h, before.get(labelKey(h.labels))));
      }
    }
    if (kind === "counter") return counterRate;
    if (kind === "histogram") return histogramQuantile(rule.quantile, hist.result());
    if (values.length === 0) return undefined;
    switch (rule.aggregate) {
      case "sum":
        return values.reduce((a, b) => a + b, 0);
      case "max":
        return Math.max(...values);
      case "min":
        return Math.min(...values);
      case "avg":
        return values.reduce((a, b) => a + b, 0) / values.length;
    }
  }
}

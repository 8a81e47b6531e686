import { describe, expect, it } from "vitest";
import { parseAlertRules } from "../../src/monitor/AlertRules.js";
import { alertFingerprint } from "../../src/monitor/fingerprint.js";
import { histogramDelta, histogramQuantile } from "../../src/monitor/histogram.js";
import { InstanceDownTracker } from "../../src/monitor/InstanceDownTracker.js";
import { MetricStore } from "../../src/monitor/MetricStore.js";
import { RuleEvaluator, compare } from "../../src/monitor/RuleEvaluator.js";
import { validatorFor, type MetricsSnapshot } from "../../src/protocol/index.js";
import type { CompiledRule, RestoredAlert } from "../../src/monitor/types.js";

function rule(yaml: string): CompiledRule {
  return parseAlertRules(`rules:\n  - ${yaml}`)[0]!;
}

const errorRate = rule(`{name: HighErrors, service: api, metric: error_rate, op: ">", threshold: 0.5, for: 3s, severity: critical, labels: {team: core}, annotations: {summary: "{{ $labels.service }} at {{ $value }} > {{ $threshold }}"}}`);

describe("rule evaluation (pure, fake time)", () => {
  it("goes pending → firing after `for` → resolved, emitting each transition exactly once", () => {
    const ev = new RuleEvaluator({ generator: "c1" });
    const at = (t: number, value: number | undefined) => ev.evaluate(errorRate, t, [{ labels: { service: "api" }, value }]);
    expect(at(1000, 0.1)).toEqual([]);
    expect(at(2000, 0.9)).toEqual([]); // pending since 2000
    expect(ev.active()[0]).toMatchObject({ state: "pending", activeAt: 2000 });
    expect(at(4000, 0.9)).toEqual([]); // 2 s < 3 s
    const fired = at(5000, 0.8);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatchObject({
      status: "firing",
      rule: "HighErrors",
      service: "api",
      severity: "critical",
      value: 0.8,
      activeAt: 2000,
      startsAt: 5000,
      generator: "c1",
      labels: { alertname: "HighErrors", service: "api", severity: "critical", team: "core" },
      annotations: { summary: "api at 0.8 > 0.5" },
    });
    expect(fired[0]!.endsAt).toBeUndefined();
    expect(validatorFor("alert")(fired[0])).toBe(true);
    expect(at(6000, 0.95)).toEqual([]); // still firing: nothing new
    const resolved = at(7000, 0.2);
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({ status: "resolved", fingerprint: fired[0]!.fingerprint, startsAt: 5000, endsAt: 7000, value: 0.2 });
    expect(validatorFor("alert")(resolved[0])).toBe(true);
    expect(at(8000, 0.2)).toEqual([]);
    expect(ev.active()).toEqual([]);
  });

  it("a condition that stops holding while pending never fires", () => {
    const ev = new RuleEvaluator();
    const s = (v: number) => [{ labels: { service: "api" }, value: v }];
    expect(ev.evaluate(errorRate, 0, s(0.9))).toEqual([]);
    expect(ev.evaluate(errorRate, 2000, s(0.1))).toEqual([]);
    expect(ev.evaluate(errorRate, 3000, s(0.9))).toEqual([]); // pending again from 3000
    expect(ev.evaluate(errorRate, 5500, s(0.9))).toEqual([]);
    expect(ev.evaluate(errorRate, 6000, s(0.9))[0]).toMatchObject({ activeAt: 3000, startsAt: 6000 });
  });

  it("for: 0 fires at once; no data never fires; a vanished series resolves with null", () => {
    const r = rule(`{name: Busy, service: "*", metric: request_rate, op: ">=", threshold: 10, severity: warning}`);
    const ev = new RuleEvaluator();
    expect(ev.evaluate(r, 0, [{ labels: { service: "a" }, value: undefined }])).toEqual([]);
    const fired = ev.evaluate(r, 1000, [
      { labels: { service: "a" }, value: 10 },
      { labels: { service: "b" }, value: 3 },
    ]);
    expect(fired.map((e) => [e.status, e.service])).toEqual([["firing", "a"]]);
    const gone = ev.evaluate(r, 2000, [{ labels: { service: "b" }, value: 3 }]);
    expect(gone).toMatchObject([{ status: "resolved", service: "a", value: null, endsAt: 2000 }]);
  });

  it("fingerprints are stable, order-independent and differ per identifying label", () => {
    const a = alertFingerprint({ alertname: "X", service: "api", severity: "critical" });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(alertFingerprint({ severity: "critical", service: "api", alertname: "X" })).toBe(a);
    expect(alertFingerprint({ alertname: "X", service: "web", severity: "critical" })).not.toBe(a);
    expect(alertFingerprint({ alertname: "X", service: "api", severity: "warning" })).not.toBe(a);
    // Two evaluators (two collectors) give the same fingerprint and start for the same inputs.
    const e1 = new RuleEvaluator({ generator: "c1" });
    const e2 = new RuleEvaluator({ generator: "c2" });
    for (const t of [0, 1000, 2000, 3000]) {
      const r1 = e1.evaluate(errorRate, t, [{ labels: { service: "api" }, value: 1 }]);
      const r2 = e2.evaluate(errorRate, t, [{ labels: { service: "api" }, value: 1 }]);
      expect(r1.map((e) => [e.fingerprint, e.status, e.startsAt])).toEqual(r2.map((e) => [e.fingerprint, e.status, e.startsAt]));
    }
  });

  it("compares with every operator and treats NaN and undefined as no data", () => {
    expect(compare(1, ">", 0)).toBe(true);
    expect(compare(0, ">=", 0)).toBe(true);
    expect(compare(0, "<", 1)).toBe(true);
    expect(compare(1, "<=", 1)).toBe(true);
    expect(compare(1, "==", 1)).toBe(true);
    expect(compare(1, "!=", 2)).toBe(true);
    expect(compare(undefined, "!=", 2)).toBe(false);
    expect(compare(Number.NaN, "!=", 2)).toBe(false);
  });

  it("continues a restored firing alert silently, and resolves it when data says so or the grace ends", () => {
    const ev1 = new RuleEvaluator();
    let fired: ReturnType<RuleEvaluator["evaluate"]> = [];
    for (const t of [0, 1000, 2000, 3000]) fired = ev1.evaluate(errorRate, t, [{ labels: { service: "api" }, value: 1 }]);
    const restored = fired[0] as RestoredAlert;
    // A restarted collector: no data yet within the grace, then data that still holds → silence.
    const ev2 = new RuleEvaluator();
    ev2.restore([restored], 10_000);
    expect(ev2.evaluate(errorRate, 5000, [])).toEqual([]);
    expect(ev2.expireRestored(5000)).toEqual([]);
    expect(ev2.evaluate(errorRate, 6000, [{ labels: { service: "api" }, value: 1 }])).toEqual([]);
    expect(ev2.active()[0]).toMatchObject({ state: "firing", startsAt: 3000 });
    expect(ev2.evaluate(errorRate, 7000, [{ labels: { service: "api" }, value: 0 }])).toMatchObject([{ status: "resolved", startsAt: 3000, endsAt: 7000 }]);
    // Data that no longer holds → resolved with the original start.
    const ev3 = new RuleEvaluator();
    ev3.restore([restored], 10_000);
    expect(ev3.evaluate(errorRate, 5000, [{ labels: { service: "api" }, value: 0 }])).toMatchObject([{ status: "resolved", startsAt: 3000 }]);
    // Never seen again → resolved once the grace is over.
    const ev4 = new RuleEvaluator();
    ev4.restore([restored], 10_000);
    expect(ev4.evaluate(errorRate, 11_000, [])).toEqual([]);
    expect(ev4.expireRestored(11_000)).toMatchObject([{ status: "resolved", fingerprint: restored.fingerprint, startsAt: 3000, endsAt: 11_000, value: null }]);
    expect(ev4.expireRestored(12_000)).toEqual([]);
  });
});

describe("histograms", () => {
  const h = { bounds: [10, 20, 50, 100], counts: [50, 80, 95, 99], sum: 2000, count: 100 };
  it("interpolates quantiles as histogram_quantile does", () => {
    expect(histogramQuantile(0.5, h)).toBeCloseTo(10);
    expect(histogramQuantile(0.25, h)).toBeCloseTo(5);
    expect(histogramQuantile(0.65, h)).toBeCloseTo(15);
    expect(histogramQuantile(0.95, h)).toBeCloseTo(50);
    expect(histogramQuantile(0.995, h)).toBe(100); // in +Inf: the highest finite bound
    expect(histogramQuantile(0.5, { ...h, counts: [0, 0, 0, 0], count: 0 })).toBeUndefined();
  });
  it("subtracts bucket by bucket and treats a decrease as a reset", () => {
    const later = { bounds: [10, 20], counts: [5, 9], sum: 100, count: 10 };
    expect(histogramDelta(later, { bounds: [10, 20], counts: [2, 3], sum: 30, count: 4 })).toEqual({ bounds: [10, 20], counts: [3, 6], sum: 70, count: 6 });
    expect(histogramDelta(later, { bounds: [10, 20], counts: [20, 30], sum: 300, count: 40 })).toBe(later);
  });
});

function snap(over: Partial<MetricsSnapshot> & { seq: number; sentAt: number }, endpoints: Array<[string, number, number, number[]]>): MetricsSnapshot {
  return {
    v: 1,
    service: "api",
    id: "i1",
    startedAt: 0,
    intervalMs: 1000,
    ...over,
    endpoints: endpoints.map(([endpoint, requests, errors, counts]) => ({
      endpoint,
      requests,
      errors,
      latencyMs: { bounds: [10, 100], counts, sum: 0, count: requests },
    })),
  };
}

describe("metric store", () => {
  const store = () => new MetricStore({ retentionMs: 10_000, staleIntervals: 3, staleSlackMs: 0 });

  it("computes error rate, request rate and latency over the window from cumulative counters", () => {
    const s = store();
    expect(s.ingest(snap({ seq: 1, sentAt: 1000 }, [["get", 10, 0, [10, 10]]]), 0)).toBe("ok");
    expect(s.ingest(snap({ seq: 2, sentAt: 2000 }, [["get", 30, 10, [20, 30]]]), 0)).toBe("ok");
    expect(s.ingest(snap({ seq: 3, sentAt: 3000 }, [["get", 50, 30, [20, 50]]]), 0)).toBe("ok");
    const r = (yaml: string) => rule(`{name: R, service: api, severity: x, ${yaml.includes("window") ? "" : "window: 1s, "}${yaml}}`);
    // Window (2000, 3000]: 20 requests, 20 errors, all slow.
    expect(s.seriesFor(r(`metric: error_rate, op: ">", threshold: 0`), 3000)).toEqual([{ labels: { service: "api" }, value: 1 }]);
    expect(s.seriesFor(r(`metric: request_rate, op: ">", threshold: 0`), 3000)[0]!.value).toBeCloseTo(20);
    expect(s.seriesFor(r(`metric: latency_p50, op: ">", threshold: 0`), 3000)[0]!.value).toBeCloseTo(55);
    // At 1500 only the first snapshot counts, from the synthetic zero at startedAt: 10 requests in 1 s.
    expect(s.seriesFor(r(`metric: request_rate, op: ">", threshold: 0, window: 5s`), 1500)[0]!.value).toBeCloseTo(10);
    // Per instance labels, and staleness: nothing after 3 missed intervals.
    expect(s.seriesFor(r(`metric: error_rate, op: ">", threshold: 0, by: instance`), 3000)[0]!.labels).toEqual({ service: "api", instance: "i1" });
    expect(s.seriesFor(r(`metric: error_rate, op: ">", threshold: 0`), 6001)).toEqual([]);
    // Replays and malformed histograms are refused.
    expect(s.ingest(snap({ seq: 3, sentAt: 3000 }, [["get", 50, 30, [20, 50]]]), 0)).toBe("duplicate");
    expect(s.ingest(snap({ seq: 4, sentAt: 4000 }, [["get", 50, 30, [60, 50]]]), 0)).toBe("malformed");
  });

  it("adds instances of a service and reads user gauges, counters and histograms", () => {
    const s = store();
    const user = (id: string, seq: number, sentAt: number, queue: number, jobs: number): MetricsSnapshot => ({
      ...snap({ id, seq, sentAt }, [["get", seq * 10, id === "i2" ? seq * 10 : 0, [seq * 10, seq * 10]]]),
      gauges: [{ name: "queue_depth", value: queue, labels: { q: "a" } }, { name: "queue_depth", value: 1, labels: { q: "b" } }],
      counters: [{ name: "jobs_total", value: jobs }],
      histograms: [{ name: "job_ms", bounds: [1, 2], counts: [jobs, jobs], sum: jobs, count: jobs }],
    });
    s.ingest(user("i1", 1, 1000, 5, 10), 0);
    s.ingest(user("i1", 2, 2000, 7, 20), 0);
    s.ingest(user("i2", 1, 1000, 3, 0), 0);
    s.ingest(user("i2", 2, 2000, 4, 10), 0);
    const r = (yaml: string) => rule(`{name: R, service: api, severity: x, window: 1s, op: ">", threshold: 0, ${yaml}}`);
    expect(s.seriesFor(r("metric: error_rate"), 2000)[0]!.value).toBeCloseTo(0.5);
    expect(s.seriesFor(r("metric: queue_depth"), 2000)[0]!.value).toBe(7 + 1 + 4 + 1);
    expect(s.seriesFor(r("metric: queue_depth, aggregate: max"), 2000)[0]!.value).toBe(7);
    expect(s.seriesFor(r("metric: queue_depth, match: {q: a}, aggregate: avg"), 2000)[0]!.value).toBe(5.5);
    expect(s.seriesFor(r("metric: jobs_total"), 2000)[0]!.value).toBeCloseTo(20);
    expect(s.seriesFor(r("metric: job_ms, quantile: 0.5"), 2000)[0]!.value).toBeCloseTo(0.5);
    expect(s.seriesFor(r("metric: no_such_metric"), 2000)[0]!.value).toBeUndefined();
    expect(s.servicesAt(2000)).toEqual(["api"]);
  });
});

describe("instance down tracker", () => {
  const view = (id: string, state: "up" | "down" | "removed") => ({
    type: state,
    at: 0,
    instance: { instance: { id, service: "api", version: "1", endpoints: [], heartbeatMs: 100, startedAt: 0 }, state, since: 0, lastSeen: 0, seq: 0, inFlight: 0, status: "ok" as const },
  });
  it("reads the state at any time from the event timeline", () => {
    const t = new InstanceDownTracker();
    t.apply({ ...view("a", "up"), at: 100 });
    t.apply({ ...view("a", "down"), at: 500 });
    t.apply({ ...view("a", "up"), at: 900 });
    t.apply({ ...view("b", "down"), at: 300 });
    t.apply({ ...view("b", "removed"), at: 700 });
    expect(t.seriesAt(400, "api")).toEqual([
      { labels: { service: "api", instance: "a" }, value: 0 },
      { labels: { service: "api", instance: "b" }, value: 1 },
    ]);
    expect(t.seriesAt(600, "*")).toEqual([
      { labels: { service: "api", instance: "a" }, value: 1 },
      { labels: { service: "api", instance: "b" }, value: 1 },
    ]);
    expect(t.seriesAt(1000, "api")).toEqual([{ labels: { service: "api", instance: "a" }, value: 0 }]);
    expect(t.seriesAt(1000, "web")).toEqual([]);
  });

  it("moves changes that arrive after their time was evaluated to the next steps, in order, once", () => {
    const t = new InstanceDownTracker(500);
    t.apply({ ...view("b", "up"), at: 100 });
    t.evaluatedUpTo(5000);
    // A new leader replays a fall that happened while nobody led: down at 3000, removed at 4000.
    t.apply({ ...view("b", "down"), at: 3000 });
    t.apply({ ...view("b", "removed"), at: 4000 });
    // The same replay from a second coordinator changes nothing.
    t.apply({ ...view("b", "down"), at: 3000 });
    t.apply({ ...view("b", "removed"), at: 4000 });
    expect(t.stateAt("b", 5000)).toBe("up");
    expect(t.seriesAt(5500, "api")).toEqual([{ labels: { service: "api", instance: "b" }, value: 1 }]);
    expect(t.seriesAt(6000, "api")).toEqual([]);
    // Without the move, both changes would sit in the evaluated past and no step would ever see "down".
    const rule = { name: "InstanceDown", service: "*", metric: "instance_down", op: ">=", threshold: 1, forMs: 0, severity: "critical", labels: {}, annotations: {}, windowMs: 60_000 } as unknown as CompiledRule;
    const ev = new RuleEvaluator();
    expect(ev.evaluate(rule, 5000, t.seriesAt(5000, "*"))).toEqual([]);
    expect(ev.evaluate(rule, 5500, t.seriesAt(5500, "*")).map((e) => [e.status, e.startsAt])).toEqual([["firing", 5500]]);
    expect(ev.evaluate(rule, 6000, t.seriesAt(6000, "*")).map((e) => e.status)).toEqual(["resolved"]);
  });
});

describe("metric store memory bound", () => {
  it("thins samples that arrive faster than the minimum spacing, without losing counts", () => {
    const s = new MetricStore({ retentionMs: 10_000, staleIntervals: 3, staleSlackMs: 0, minSpacingMs: 250 });
    for (let i = 1; i <= 100; i++) s.ingest(snap({ seq: i, sentAt: 1000 + i * 10, intervalMs: 1000 }, [["get", i * 10, 0, [i * 10, i * 10]]]), 0);
    const [live] = s.liveAt(2000);
    expect(live!.inst.samples.length).toBeLessThanOrEqual(12); // 1 s of samples every 10 ms, kept about every 250 ms
    expect(live!.latest).toMatchObject({ seq: 100, t: 2000 });
    const rate = rule(`{name: R, service: api, severity: x, metric: request_rate, op: ">", threshold: 0, window: 5s}`);
    expect(s.seriesFor(rate, 2000)[0]!.value).toBeCloseTo(500); // 1000 requests since the start at t=0: 500/s
  });
});

describe("metric store long windows", () => {
  it("keeps about one sample per coarse spacing beyond the fine horizon, and long-window rates stay right", () => {
    const s = new MetricStore({ retentionMs: 61_000, staleIntervals: 3, staleSlackMs: 0, minSpacingMs: 250, fineHorizonMs: 3000, coarseSpacingMs: 2000 });
    // 10 requests per snapshot, one snapshot every 100 ms for 2 minutes.
    for (let i = 1; i <= 1200; i++) s.ingest(snap({ seq: i, sentAt: i * 100, intervalMs: 100 }, [["get", i * 10, 0, [i * 10, i * 10]]]), 0);
    const [live] = s.liveAt(120_000);
    expect(live!.inst.samples.length).toBeLessThanOrEqual(3000 / 50 + 61_000 / 2000 + 4);
    const r = (w: string) => rule(`{name: R, service: api, severity: x, metric: request_rate, op: ">", threshold: 0, window: ${w}}`);
    expect(s.seriesFor(r("1m"), 120_000)[0]!.value).toBeCloseTo(100, 0);
    expect(s.seriesFor(r("1s"), 120_000)[0]!.value).toBeCloseTo(100, 0);
  });
});

import { describe, expect, it } from "vitest";
import { AgentMetrics } from "../../src/agent/metrics/index.js";
import { validatorFor } from "../../src/protocol/index.js";
import { MetricStore } from "../../src/monitor/MetricStore.js";
import { histogramQuantile } from "../../src/monitor/histogram.js";

const head = { service: "api", id: "i1", seq: 1, sentAt: 2000, startedAt: 1000, intervalMs: 1000 };

describe("agent metrics recorder", () => {
  it("records requests, errors by code and latency per endpoint into a schema-valid snapshot", async () => {
    const m = new AgentMetrics();
    m.ensureEndpoint("idle");
    for (let i = 0; i < 100; i++) m.record({ endpoint: "get", durationMs: i < 90 ? 3 : 700 });
    m.record({ endpoint: "get", durationMs: 1, error: "INTERNAL" });
    m.record({ endpoint: "get", durationMs: 1, error: "OVERLOADED" });
    m.record({ endpoint: "get", durationMs: 1, error: "not a code" });
    const snap = await m.snapshot(head);
    expect(validatorFor("metrics")(snap)).toBe(true);
    const get = snap.endpoints.find((e) => e.endpoint === "get")!;
    expect(get).toMatchObject({ requests: 103, errors: 3, errorsByCode: { INTERNAL: 1, OVERLOADED: 1, OTHER: 1 } });
    expect(get.latencyMs.count).toBe(103);
    expect(get.latencyMs.counts[get.latencyMs.counts.length - 1]).toBe(103);
    expect(histogramQuantile(0.5, get.latencyMs)).toBeGreaterThan(2);
    expect(histogramQuantile(0.5, get.latencyMs)).toBeLessThanOrEqual(5);
    expect(histogramQuantile(0.99, get.latencyMs)).toBeGreaterThan(500);
    expect(snap.endpoints.find((e) => e.endpoint === "idle")).toMatchObject({ requests: 0, errors: 0 });
  });

  it("publishes user counters, gauges and histograms with labels, and refuses reserved or clashing names", async () => {
    const m = new AgentMetrics();
    const jobs = m.counter("jobs_total", { help: "Jobs done", labelNames: ["queue"] });
    jobs.inc({ queue: "a" }, 2);
    jobs.inc({ queue: "b" });
    expect(m.counter("jobs_total")).toBe(jobs);
    m.gauge("queue_depth").set(7);
    m.gauge("weird").set(Number.NaN); // non-finite values are left out, not sent as null
    m.histogram("job_ms", { buckets: [1, 10, 100] }).observe(5);
    const snap = await m.snapshot(head);
    expect(validatorFor("metrics")(snap)).toBe(true);
    expect(snap.counters).toEqual([
      { name: "jobs_total", value: 2, labels: { queue: "a" }, help: "Jobs done" },
      { name: "jobs_total", value: 1, labels: { queue: "b" }, help: "Jobs done" },
    ]);
    expect(snap.gauges).toEqual([{ name: "queue_depth", value: 7 }]);
    expect(snap.histograms).toEqual([{ name: "job_ms", bounds: [1, 10, 100], counts: [0, 1, 1], sum: 5, count: 1 }]);
    expect(() => m.gauge("jobs_total")).toThrow(/another type/);
    expect(() => m.counter("sb_requests_total")).toThrow(/reserved/);
    expect(() => m.counter("bad name")).toThrow(/invalid counter name/);
  });

  it("a collector's store reads what the recorder produced", async () => {
    const m = new AgentMetrics();
    const store = new MetricStore({ retentionMs: 60_000, staleIntervals: 3, staleSlackMs: 0 });
    for (let i = 0; i < 10; i++) m.record({ endpoint: "get", durationMs: 2 });
    expect(store.ingest(await m.snapshot({ ...head, seq: 1, sentAt: 2000 }), 0)).toBe("ok");
    for (let i = 0; i < 10; i++) m.record({ endpoint: "get", durationMs: 2, error: "INTERNAL" });
    expect(store.ingest(await m.snapshot({ ...head, seq: 2, sentAt: 3000 }), 0)).toBe("ok");
    const [live] = store.liveAt(3000);
    const t = store.trafficOf([live!], 3000, 1000);
    expect(t.errorRate).toBe(1);
    expect(t.requestRate).toBeCloseTo(10);
  });
});

/**
 * Metrics fan-out: agents publish snapshots, every collector aggregates them, serves Prometheus
 * text at GET /metrics and answers monitor queries; garbage on the metrics subjects is refused and
 * counted. Real nats-server, real agents.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterEach, describe, expect, it } from "vitest";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createCollector, monitorQuerySubject, type Collector } from "../../src/monitor/index.js";
import { Subjects, decodeJson, encodeJson, readErrorReply, validatorFor, type MonitorSnapshot } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

describe("metrics fan-out and the collector", () => {
  const cleanup = new CleanupStack();
  afterEach(async () => {
    await cleanup.run();
  });

  async function setup(): Promise<{ srv: NatsServer; nc: NatsConnection; prefix: string; subjects: Subjects }> {
    const srv = await startNatsServer();
    cleanup.push(() => srv.dispose());
    const nc = await connect({ servers: srv.url });
    cleanup.push(() => nc.close());
    const prefix = uniquePrefix();
    return { srv, nc, prefix, subjects: new Subjects(prefix) };
  }

  async function agentWith(url: string, prefix: string, service: string, behaviour: { fail: boolean }): Promise<Agent> {
    const agent = createAgent({ service, servers: url, prefix, heartbeatMs: 100, metricsIntervalMs: 100 });
    agent.endpoint("work", async (payload) => {
      if (behaviour.fail) throw new Error("failing on purpose");
      return payload;
    });
    const jobs = agent.metrics.counter("jobs_total", { help: "Jobs done", labelNames: ["queue"] });
    jobs.inc({ queue: 'a"b\\c\nd' }, 3);
    agent.metrics.gauge("queue_depth", { help: "Waiting jobs" }).set(42);
    await agent.start();
    cleanup.push(() => agent.stop());
    return agent;
  }

  it("every collector aggregates every instance; GET /metrics is valid Prometheus text; queries answer current values", async () => {
    const { srv, nc, prefix, subjects } = await setup();
    const c1 = createCollector({ servers: srv.url, prefix, httpPort: 0, httpHost: "127.0.0.1", id: "c1" });
    const c2 = createCollector({ servers: srv.url, prefix, id: "c2" });
    await c1.start();
    await c2.start();
    cleanup.push(() => c1.stop(), () => c2.stop());
    const behaviour = { fail: false };
    const a1 = await agentWith(srv.url, prefix, "api", behaviour);
    const a2 = await agentWith(srv.url, prefix, "api", behaviour);
    for (let i = 0; i < 20; i++) await nc.request(subjects.instance("api", a1.id, "work"), encodeJson({ i }));
    for (let i = 0; i < 10; i++) await nc.request(subjects.instance("api", a2.id, "work"), encodeJson({ i }));
    behaviour.fail = true;
    for (let i = 0; i < 10; i++) await nc.request(subjects.instance("api", a2.id, "work"), encodeJson({ i }));

    for (const c of [c1, c2]) {
      const snap = await waitFor(
        () => {
          const s = c.snapshot({ instances: true });
          return s.services[0]?.total.requests === 40 && s.services[0].total.errors === 10 ? s : undefined;
        },
        { what: `collector ${c.id} to see 40 requests and 10 errors` },
      );
      expect(validatorFor("monitor-snapshot")(snap)).toBe(true);
      const api = snap.services[0]!;
      expect(api).toMatchObject({ service: "api", instanceCount: 2 });
      expect(api.total.errorRate).toBeCloseTo(0.25);
      expect(api.total.latencyP50).not.toBeNull();
      expect(api.endpoints.map((e) => e.endpoint)).toEqual(["work"]);
      expect(api.instances!.map((i) => i.id).sort()).toEqual([a1.id, a2.id].sort());
      expect(api.instances!.find((i) => i.id === a2.id)!.stats).toMatchObject({ requests: 20, errors: 10 });
    }

    // Prometheus text: parses, and carries the per-instance counters, histograms and user metrics.
    const res = await fetch(`${c1.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const families = parsePrometheusTextFormat(text);
    const byName = new Map(families.map((f) => [f.name, f]));
    const requests = byName.get("sb_requests_total")!;
    expect(requests.type).toBe("COUNTER");
    expect(requests.metrics.map((m) => [m.labels!.instance, m.value]).sort()).toEqual(
      [
        [a1.id, "20"],
        [a2.id, "20"],
      ].sort(),
    );
    const errors = byName.get("sb_errors_by_code_total")!;
    expect(errors.metrics).toEqual([{ labels: { service: "api", instance: a2.id, endpoint: "work", code: "INTERNAL" }, value: "10" }]);
    const latency = byName.get("sb_request_duration_ms")!;
    expect(latency.type).toBe("HISTOGRAM");
    // The parser folds labelled histograms into one bucket map, so check the series lines themselves.
    for (const id of [a1.id, a2.id]) {
      const labels = `service="api",instance="${id}",endpoint="work"`;
      expect(text).toContain(`sb_request_duration_ms_count{${labels}} 20\n`);
      expect(text).toContain(`sb_request_duration_ms_bucket{${labels},le="+Inf"} 20\n`);
      expect(text).toMatch(new RegExp(`sb_request_duration_ms_sum\\{${labels}\\} [0-9.e-]+\\n`));
    }
    // User metrics, with a label value that needs escaping.
    expect(byName.get("jobs_total")!.metrics.map((m) => m.labels!.queue)).toEqual(['a"b\\c\nd', 'a"b\\c\nd']);
    expect(byName.get("queue_depth")!.metrics.map((m) => m.value)).toEqual(["42", "42"]);
    expect(byName.get("sb_instances")!.metrics).toEqual([{ labels: { service: "api" }, value: "2" }]);
    expect((await fetch(`${c1.url}/nope`)).status).toBe(404);

    // The query subject answers with the same view (one collector of the queue group answers).
    const reply = await nc.request(monitorQuerySubject(subjects), encodeJson({ v: 1, service: "api", windowMs: 60_000 }));
    const answered = decodeJson(reply.data) as MonitorSnapshot;
    expect(validatorFor("monitor-snapshot")(answered)).toBe(true);
    expect(answered.services[0]!.total).toMatchObject({ requests: 40, errors: 10 });
    const bad = await nc.request(monitorQuerySubject(subjects), encodeJson({ v: 1, service: "no such.service" }));
    expect(readErrorReply(bad)).toMatchObject({ code: "BAD_REQUEST" });
    const notJson = await nc.request(monitorQuerySubject(subjects), new TextEncoder().encode("{"));
    expect(readErrorReply(notJson)).toMatchObject({ code: "BAD_REQUEST" });
  });

  it("drops and counts garbage on the metrics subjects without crashing or corrupting the aggregate", async () => {
    const { srv, nc, prefix, subjects } = await setup();
    const c = createCollector({ servers: srv.url, prefix, httpPort: 0, httpHost: "127.0.0.1", maxMetricsBytes: 64 * 1024 });
    await c.start();
    cleanup.push(() => c.stop());
    const good = {
      v: 1,
      service: "api",
      id: "i1",
      seq: 1,
      sentAt: Date.now(),
      startedAt: Date.now() - 1000,
      intervalMs: 100,
      endpoints: [{ endpoint: "get", requests: 5, errors: 1, latencyMs: { bounds: [1, 10], counts: [2, 5], sum: 9, count: 5 } }],
    };
    const garbage: Array<[string, Uint8Array]> = [
      [subjects.metrics("api", "i1"), new TextEncoder().encode("not json")],
      [subjects.metrics("api", "i1"), encodeJson({ v: 1, hello: "world" })],
      [subjects.metrics("api", "i1"), encodeJson({ ...good, v: 2 })],
      [subjects.metrics("api", "i1"), new Uint8Array(100 * 1024).fill(32)],
      [subjects.metrics("api", "i1"), encodeJson({ ...good, service: "other" })], // body disagrees with subject
      [subjects.metrics("api", "i2"), encodeJson(good)], // id disagrees with subject
      [subjects.metrics("api", "i1"), encodeJson({ ...good, endpoints: [{ ...good.endpoints[0], latencyMs: { bounds: [10, 1], counts: [2, 5], sum: 9, count: 5 } }] })],
      [subjects.metrics("api", "i1"), encodeJson({ ...good, endpoints: [{ ...good.endpoints[0], requests: -1 }] })],
      [`${prefix}.metrics.api`, encodeJson(good)], // not captured by the subscription (wrong shape): simply unseen
      [subjects.registryEvents, encodeJson({ v: 1, type: "down" })],
      [subjects.registryEvents, new Uint8Array([0xff, 0xfe])],
    ];
    for (const [subject, data] of garbage) nc.publish(subject, data);
    for (let i = 0; i < 1000; i++) nc.publish(subjects.metrics("flood", `x${i % 10}`), encodeJson({ v: 1, junk: i }));
    nc.publish(subjects.metrics("api", "i1"), encodeJson(good));
    await nc.flush();
    const stats = await waitFor(() => {
      const s = c.stats();
      return s.received === 1 && (s.invalid.metrics ?? 0) === 1008 && (s.invalid["registry-event"] ?? 0) === 2 ? s : undefined;
    }, { what: "invalid messages counted" });
    expect(stats.received).toBe(1);
    const snap = c.snapshot();
    expect(snap.services.map((s) => s.service)).toEqual(["api"]);
    expect(snap.services[0]!.total).toMatchObject({ requests: 5, errors: 1 });
    // The refused-input counters are exposed too, and the text still parses.
    const families = parsePrometheusTextFormat(await (await fetch(`${c.url}/metrics`)).text());
    const invalid = families.find((f) => f.name === "sb_collector_invalid_total")!;
    expect(invalid.metrics).toEqual(
      expect.arrayContaining([
        { labels: { kind: "metrics" }, value: "1008" },
        { labels: { kind: "registry-event" }, value: "2" },
      ]),
    );
  });
});

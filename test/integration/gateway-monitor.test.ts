/**
 * The seed's monitoring and failure routes against real parts: POST /metrics values in a real
 * collector's Prometheus exposition, firing a rule; POST /alerts mailed exactly once by a real
 * notifier on the SMTP test server and resolved; POST /failures against a real HTTP service process.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { createCollector, type Collector } from "../../src/monitor/index.js";
import { createMailNotifier, type MailNotifier } from "../../src/notify/index.js";
import type { AlertEvent } from "../../src/protocol/index.js";
import { writeRules } from "../helpers/alerting.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startFixture, type FixtureProcess } from "../helpers/processes.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";

describe("gateway monitoring and failure routes", () => {
  let server: NatsServer;
  let smtp: TestSmtpServer;
  let coordinator: Coordinator;
  let collector: Collector;
  let notifier: MailNotifier;
  let gateway: Gateway;
  let service: FixtureProcess;
  let address: string;
  let instanceId: string;
  const alerts: AlertEvent[] = [];
  const prefix = uniquePrefix();

  const post = (path: string, body: unknown) =>
    fetch(gateway.url + path, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

  beforeAll(async () => {
    server = await startNatsServer();
    smtp = await startSmtpServer();
    coordinator = await createCoordinator({ servers: server.url, prefix }).start();
    collector = createCollector({
      servers: server.url,
      prefix,
      httpPort: 0,
      httpHost: "127.0.0.1",
      evaluationIntervalMs: 100,
      evaluationDelayMs: 100,
      rules: writeRules(`
rules:
  - { name: QueueDeep, service: billing, metric: queue_depth, op: ">", threshold: 10, severity: warning }
`),
    });
    collector.onAlert((e) => alerts.push(e));
    await collector.start();
    notifier = createMailNotifier({
      servers: server.url,
      prefix,
      smtp: { host: smtp.host, port: smtp.port, secure: false, from: "switchboard@example.com" },
      to: "oncall@example.com",
      groupWaitMs: 100,
      groupIntervalMs: 200,
    });
    await notifier.start();
    gateway = await createGateway({ servers: server.url, prefix, port: 0, timeoutMs: 5000 }).start();
    service = await startFixture("http-service.ts", { NAME: "billing-1" });
    address = `http://127.0.0.1:${service.ready}`;
    const r = await post("/register", { serviceName: "billing", serviceAddress: address, endpoints: ["invoice", "fail"] });
    expect(r.status).toBe(200);
    instanceId = r.headers.get("sb-instance-id")!;
  });

  afterAll(async () => {
    await service?.kill();
    await gateway?.stop();
    await notifier?.stop();
    await collector?.stop();
    await coordinator?.stop();
    await smtp?.dispose();
    await server?.dispose();
  });

  it("POST /metrics: the values appear in the collector's exposition, labelled by service and instance, and fire a rule", async () => {
    const r = await post("/metrics", {
      serviceName: "billing",
      serviceAddress: address,
      intervalMs: 5000,
      metrics: [
        { name: "queue_depth", type: "gauge", value: 42, help: "Jobs waiting" },
        { name: "invoices_total", type: "counter", value: 7, labels: { kind: "pdf" } },
        { name: "render_seconds", type: "histogram", bounds: [0.1, 1], counts: [3, 5], sum: 2.5, count: 6 },
      ],
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toStrictEqual({ status: "success" });
    const text = await waitFor(async () => {
      const t = await (await fetch(`${collector.url}/metrics`)).text();
      return t.includes("queue_depth{") ? t : undefined;
    }, { what: "queue_depth in the exposition" });
    const line = (name: string) => text.split("\n").find((l) => l.startsWith(`${name}{`))!;
    expect(line("queue_depth")).toMatch(new RegExp(`service="billing"`));
    expect(line("queue_depth")).toMatch(new RegExp(`instance="${instanceId}"`));
    expect(line("queue_depth")).toMatch(/ 42$/);
    expect(line("invoices_total")).toMatch(/kind="pdf"/);
    expect(line("invoices_total")).toMatch(/ 7$/);
    expect(text).toMatch(/render_seconds_count\{[^}]*\} 6/);
    const fired = await waitFor(() => alerts.find((a) => a.rule === "QueueDeep" && a.status === "firing"), { what: "QueueDeep firing" });
    expect(fired).toMatchObject({ service: "billing", metric: "queue_depth", value: 42 });
  });

  it("POST /metrics refuses unregistered instances and malformed metrics with a reason", async () => {
    const unknown = await post("/metrics", { serviceName: "billing", serviceAddress: "http://127.0.0.1:1", metrics: [] });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: "NOT_FOUND", message: expect.stringMatching(/register it first/) });
    const cases: Array<[unknown, RegExp]> = [
      [{ serviceName: "billing", serviceAddress: address, metrics: [{ name: "h", type: "histogram", bounds: [1] }] }, /needs bounds, counts, sum and count/],
      [{ serviceName: "billing", serviceAddress: address, metrics: [{ name: "c", type: "counter" }] }, /needs a value/],
      [{ serviceName: "billing", serviceAddress: address, metrics: [{ name: "c", type: "counter", value: -1 }] }, /metrics: .*counters/],
      [{ serviceName: "billing", serviceAddress: address, metrics: [{ name: "bad name", type: "gauge", value: 1 }] }, /must match pattern/],
      [{ serviceName: "billing", metrics: [] }, /exactly one of serviceAddress/],
    ];
    for (const [body, reason] of cases) {
      const r = await post("/metrics", body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(((await r.json()) as { message: string }).message).toMatch(reason);
    }
    // Prototype-named label keys are ordinary labels; a "__proto__" key is refused by the JSON parser with a reason.
    const withLabels = (labels: string) =>
      fetch(gateway.url + "/metrics", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: `{"serviceName":"billing","serviceAddress":"${address}","metrics":[{"name":"proto_gauge","type":"gauge","value":1,"labels":${labels}}]}`,
      });
    const poisoned = await withLabels(`{"__proto__":{"polluted":"yes"}}`);
    expect(poisoned.status).toBe(400);
    expect(await poisoned.json()).toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/prototype/i) });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const proto = await withLabels(`{"constructor":"x","toString":"z","hasOwnProperty":"h"}`);
    expect(proto.status).toBe(200);
    await waitFor(async () => (await (await fetch(`${collector.url}/metrics`)).text()).includes("proto_gauge{"), { what: "proto_gauge exposed" });
    expect((await fetch(`${collector.url}/metrics`)).status).toBe(200);
  });

  it("POST /alerts with the seed's body: exactly one mail (raised twice), resolve closes it", async () => {
    const before = smtp.mails.length;
    const body = {
      alert: { name: "DiskFull", service: "billing", severity: "critical", summary: "disk 97% full", labels: { volume: "data" } },
      email: ["ops@example.com"],
    };
    for (let i = 0; i < 2; i++) {
      const r = await post("/alerts", body);
      expect(r.status).toBe(200);
      expect(await r.json()).toStrictEqual({ status: "success" });
    }
    const mails = await smtp.waitForMails(before + 1, { where: (m) => m.parsed.subject?.includes("DiskFull") ?? false, timeoutMs: 10_000 });
    const firing = mails.filter((m) => m.parsed.subject?.includes("DiskFull"));
    expect(firing[0]!.parsed.subject).toBe("[FIRING] DiskFull: billing (critical)");
    expect(firing[0]!.parsed.text).toContain("disk 97% full");
    await sleep(1000);
    expect(smtp.mails.filter((m) => m.parsed.subject?.includes("DiskFull"))).toHaveLength(1);

    const resolved = await post("/alerts", { ...body, resolve: true });
    expect(resolved.status).toBe(200);
    const all = await smtp.waitForMails(2, { where: (m) => m.parsed.subject?.includes("DiskFull") ?? false, timeoutMs: 10_000 });
    expect(all.filter((m) => m.parsed.subject?.includes("DiskFull")).map((m) => m.parsed.subject)).toEqual([
      "[FIRING] DiskFull: billing (critical)",
      "[RESOLVED] DiskFull: billing (critical)",
    ]);
    const again = await post("/alerts", { ...body, resolve: true });
    expect(again.status).toBe(404);
    const bad = await post("/alerts", { alert: { name: "x y", service: "billing" } });
    expect(bad.status).toBe(400);
    const badMail = await post("/alerts", { alert: { name: "X", service: "billing" }, email: ["a@b.example\r\nBcc: x@evil.example"] });
    expect(badMail.status).toBe(400);
  });

  it("POST /failures: success on the probe; a failing endpoint is retried on the seed's schedule within the deadline", async () => {
    const ok = await post("/failures", { service: "billing", endpoint: "invoice", request: { n: 1 } });
    expect(ok.status).toBe(200);
    const okBody = (await ok.json()) as { status: string; response: unknown; attempts: Array<{ attempt: number; ok: boolean }> };
    expect(okBody.status).toBe("success");
    expect(okBody.response).toStrictEqual({ instance: "billing-1", got: { n: 1 } });
    expect(okBody.attempts.map((a) => [a.attempt, a.ok])).toEqual([[0, true]]);

    const started = Date.now();
    const failed = await post("/failures", { service: "billing", endpoint: "fail", deadlineMs: 4000 });
    const took = Date.now() - started;
    expect(failed.status).toBe(502);
    const body = (await failed.json()) as { status: string; attempts: Array<{ attempt: number; ok: boolean; delayMs?: number; code?: string }> };
    expect(body.status).toBe("failure");
    expect(body.attempts[0]).toMatchObject({ attempt: 0, ok: false, code: "BAD_GATEWAY" });
    expect(body.attempts.length).toBeGreaterThanOrEqual(2);
    body.attempts.slice(1).forEach((a, i) => {
      const step = Math.min((i + 1) * 1000, 5000);
      expect(a.attempt).toBe(i + 1);
      expect(a.delayMs!).toBeGreaterThanOrEqual(step / 2);
      expect(a.delayMs!).toBeLessThanOrEqual(step);
    });
    expect(took).toBeLessThan(4000 + 1500);
    const unknown = await post("/failures", { service: "no-such", endpoint: "x", deadlineMs: 1500 });
    expect(unknown.status).toBe(502);
    expect(((await unknown.json()) as { attempts: Array<{ code: string }> }).attempts[0]!.code).toBe("NOT_FOUND");
  });
});

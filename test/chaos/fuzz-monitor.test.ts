/**
 * Property-based fuzzing of the monitoring side: the collector's subjects (metrics, registry events,
 * monitor query) and the notifier's (alert events through the JetStream alert stream, alert acks).
 * Mutated real messages, misaddressed ones, random bytes, oversized bodies and a flood of 10 000 bad
 * messages: requests get replies (BAD_REQUEST when bad), events are dropped and counted, nothing
 * crashes, memory stays bounded, real metrics are still ingested — and not a single mail is sent.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createCollector, monitorQuerySubject, type Collector } from "../../src/monitor/index.js";
import { createMailNotifier, type MailNotifier } from "../../src/notify/index.js";
import { Subjects, connectNats, decodeMessage, encodeJson, readErrorReply, type MetricsSnapshot } from "../../src/protocol/index.js";
import { writeRules } from "../helpers/alerting.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { mutation, protocolExamples } from "./mutations.js";

const examples = protocolExamples();

describe("fuzzing the collector's and the notifier's subjects", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let smtp: TestSmtpServer;
  let collector: Collector;
  let notifier: MailNotifier;
  let agent: Agent;
  const prefix = uniquePrefix();
  const s = new Subjects(prefix);
  let realSnapshot: MetricsSnapshot;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url });
    smtp = await startSmtpServer();
    collector = createCollector({
      servers: server.url,
      prefix,
      // Below the server's max_payload, so an oversized snapshot can reach it and be refused.
      maxMetricsBytes: 256 * 1024,
      evaluationIntervalMs: 100,
      evaluationDelayMs: 100,
      rules: writeRules(`
rules:
  - { name: Errors, service: "*", metric: error_rate, op: ">", threshold: 0, window: 1s, severity: critical }
  - { name: InstanceDown, service: "*", metric: instance_down, severity: critical }
`),
    });
    await collector.start();
    notifier = createMailNotifier({
      servers: server.url,
      prefix,
      smtp: { host: smtp.host, port: smtp.port, secure: false, from: "switchboard@example.com" },
      to: "oncall@example.com",
      groupWaitMs: 50,
      groupIntervalMs: 100,
    });
    await notifier.start();
    agent = createAgent({ service: "orders", servers: server.url, prefix, heartbeatMs: 200, metricsIntervalMs: 100 });
    agent.endpoint("work", (p) => p);
    await agent.start();
    // A real snapshot of the real instance: the seed the metrics mutations start from.
    realSnapshot = await new Promise<MetricsSnapshot>((resolve) => {
      nc.subscribe(s.metrics("orders", agent.id), {
        max: 1,
        callback: (_e, m) => resolve(decodeMessage("metrics", m.data).ok ? (m.json() as MetricsSnapshot) : (examples.get("metrics") as MetricsSnapshot)),
      });
    });
    await waitFor(() => collector.stats().received > 0, { what: "real metrics at the collector" });
  });
  afterAll(async () => {
    await agent?.stop();
    await notifier?.stop();
    await collector?.stop();
    await nc?.close();
    await smtp?.dispose();
    await server?.dispose();
  });

  const invalid = (kind: string) => collector.stats().invalid[kind] ?? 0;
  const notifierInvalid = () => notifier.stats().invalid.alert ?? 0;

  it("metrics: mutated snapshots of a real instance, misaddressed or broken, are dropped and counted", async () => {
    const before = invalid("metrics");
    const subjects = fc.constantFrom(s.metrics("orders", agent.id), s.metrics("orders", "ghost"), s.metrics("billing", agent.id));
    let sent = 0;
    fc.assert(
      fc.property(subjects, fc.oneof(mutation(realSnapshot), fc.uint8Array({ maxLength: 300 })), (subject, body) => {
        const d = decodeMessage("metrics", body, 1 << 20);
        // A valid snapshot on its own subject is data, not an attack: leave it out.
        if (d.ok && subject === s.metrics(d.value.service, d.value.id)) return;
        nc.publish(subject, body);
        sent++;
      }),
      { numRuns: 500 },
    );
    await nc.flush();
    await waitFor(() => invalid("metrics") - before === sent, { what: `${sent} refused metrics counted (now ${invalid("metrics") - before})` });
    expect(sent).toBeGreaterThan(300);
  });

  it("registry events: bad ones are dropped and counted by the collector", async () => {
    const before = invalid("registry-event");
    let sent = 0;
    fc.assert(
      fc.property(fc.oneof(mutation(examples.get("registry-event")), fc.uint8Array({ maxLength: 200 })), (body) => {
        if (decodeMessage("registry-event", body).ok) return;
        nc.publish(s.registryEvents, body);
        sent++;
      }),
      { numRuns: 300 },
    );
    await nc.flush();
    await waitFor(() => invalid("registry-event") - before === sent, { what: `${sent} refused registry events counted` });
  });

  it("monitor query and alert acks: every request gets an answer, BAD_REQUEST when bad", async () => {
    const cases = [
      { subject: monitorQuerySubject(s), kind: "monitor-query", seed: examples.get("monitor-query") },
      { subject: s.alertAck, kind: "alert-ack", seed: examples.get("alert-ack") },
    ] as const;
    for (const c of cases) {
      await fc.assert(
        fc.asyncProperty(fc.oneof(mutation(c.seed), fc.uint8Array({ maxLength: 100 })), async (body) => {
          const d = decodeMessage(c.kind, body);
          // A valid ack with a deadline in the past is refused on its merits, also BAD_REQUEST.
          const reply: Msg = await nc.request(c.subject, body, { timeout: 2000 });
          const err = readErrorReply(reply);
          if (!d.ok) expect(err?.code, c.kind).toBe("BAD_REQUEST");
          else if (err) expect(err.code).toBe("BAD_REQUEST");
          else expect(decodeMessage(c.kind === "monitor-query" ? "monitor-snapshot" : "alert-ack-reply", reply.data, 1 << 20)).toMatchObject({ ok: true });
        }),
        { numRuns: 150 },
      );
    }
  });

  it("alert events: garbage, mutated and misaddressed alerts in the stream are dropped and counted, never mailed", async () => {
    const before = notifierInvalid();
    const seed = examples.get("alert") as { severity: string; service: string };
    const subjects = fc.constantFrom(s.alert(seed.severity, seed.service), s.alert("info", seed.service), s.alert(seed.severity, "billing"));
    let sent = 0;
    const bodies: Array<[string, Uint8Array]> = [];
    fc.assert(
      fc.property(subjects, fc.oneof(mutation(seed), fc.uint8Array({ maxLength: 200 })), (subject, body) => {
        const d = decodeMessage("alert", body, 256 * 1024);
        if (d.ok && subject === s.alert(d.value.severity, d.value.service)) return; // a real alert: it would be mailed, rightly
        bodies.push([subject, body]);
      }),
      { numRuns: 300 },
    );
    for (const [subject, body] of bodies) nc.publish(subject, body);
    sent = bodies.length;
    await nc.flush();
    await waitFor(() => notifierInvalid() - before === sent, { timeoutMs: 15_000, what: `${sent} refused alerts counted (now ${notifierInvalid() - before})` });
    await sleep(300);
    expect(smtp.mails).toEqual([]);
  });

  it("a flood of 10 000 bad messages: requests answered, events counted, real metrics still ingested, nothing mailed, memory bounded", async () => {
    const replies: Msg[] = [];
    const inbox = `_INBOX.monfuzz.${prefix}`;
    const sub = nc.subscribe(inbox, { callback: (_e, m) => void replies.push(m) });
    await nc.flush();
    const before = { metrics: invalid("metrics"), events: invalid("registry-event"), alerts: notifierInvalid(), received: collector.stats().received };
    const rss = process.memoryUsage().rss;
    const counts = { metrics: 0, events: 0, alerts: 0, requests: 0 };
    for (let i = 0; i < 10_000; i++) {
      const junk = encodeJson({ v: 1, junk: i, pad: "y".repeat(i % 300) });
      switch (i % 5) {
        case 0:
          nc.publish(s.metrics("orders", agent.id), junk);
          counts.metrics++;
          break;
        case 1:
          nc.publish(s.registryEvents, junk);
          counts.events++;
          break;
        case 2:
          nc.publish(s.alert("critical", "orders"), junk);
          counts.alerts++;
          break;
        case 3:
          nc.publish(monitorQuerySubject(s), junk, { reply: inbox });
          counts.requests++;
          break;
        default:
          nc.publish(s.alertAck, junk, { reply: inbox });
          counts.requests++;
      }
    }
    // Oversized.
    nc.publish(s.metrics("orders", agent.id), new Uint8Array(300 * 1024).fill(0x20));
    counts.metrics++;
    await nc.flush();
    await waitFor(() => replies.length === counts.requests, { timeoutMs: 20_000, what: `${counts.requests} replies` });
    expect(replies.every((m) => readErrorReply(m)?.code === "BAD_REQUEST")).toBe(true);
    await waitFor(() => invalid("metrics") - before.metrics === counts.metrics, { timeoutMs: 20_000, what: "metrics counted" });
    await waitFor(() => invalid("registry-event") - before.events === counts.events, { timeoutMs: 20_000, what: "events counted" });
    await waitFor(() => notifierInvalid() - before.alerts === counts.alerts, { timeoutMs: 30_000, what: `alerts counted (now ${notifierInvalid() - before.alerts})` });
    sub.unsubscribe();
    // Real metrics keep flowing and being ingested; the rules keep being evaluated; still no mail.
    const received = collector.stats().received;
    await waitFor(() => collector.stats().received > received + 2, { what: "real metrics after the flood" });
    const grownMb = (process.memoryUsage().rss - rss) / 1024 / 1024;
    await sleep(300);
    expect(smtp.mails).toEqual([]);
    expect(notifier.stats().mailsSent).toBe(0);
    expect(collector.snapshot().alerts).toEqual([]);
    expect(grownMb).toBeLessThan(200);
    console.log(
      `monitor fuzz: flood of ${counts.metrics + counts.events + counts.alerts + counts.requests} — ${counts.requests} bad requests answered BAD_REQUEST, ` +
        `collector refusals ${JSON.stringify(collector.stats().invalid)}, notifier refusals ${JSON.stringify(notifier.stats().invalid)}, ` +
        `mails sent: ${smtp.mails.length}, RSS growth ${grownMb.toFixed(1)} MB`,
    );
  }, 90_000);
});

/**
 * Attack: the requester chooses the reply subject, and the responder publishes there with its own
 * rights. Every Switchboard responder (coordinator query and registration, agent endpoints on both
 * paths, micro discovery, collector query, notifier acknowledgement) is asked to answer on the
 * leader lease's KV key, on the JetStream API that purges the registry bucket, on another instance's
 * heartbeat subject, on the system account and on its own registry events. None of them may answer:
 * each request is refused before any work is done and counted, and the lease, the registry bucket and
 * the registry are unchanged — observed on the bus by an unrestricted spy and read back from KV.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { queryRegistry } from "../../src/client/index.js";
import { createCoordinator, leaseBucketName, registryBucketName, type Coordinator } from "../../src/coordinator/index.js";
import { createCollector, monitorQuerySubject, type Collector } from "../../src/monitor/index.js";
import { createMailNotifier, type MailNotifier } from "../../src/notify/index.js";
import { REPLY_SUBJECT_KIND, Subjects, decodeMessage, encodeJson } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

describe("security: no responder answers on a subject the requester must not publish on", () => {
  let server: NatsServer;
  let smtp: TestSmtpServer;
  let nc: NatsConnection;
  let spy: NatsConnection;
  let coordinator: Coordinator;
  let collector: Collector;
  let notifier: MailNotifier;
  let orders: Agent;
  const prefix = uniquePrefix();
  const s = new Subjects(prefix);
  const victimId = "orders-victim";
  const leaderChanges: boolean[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    smtp = await startSmtpServer();
    nc = await connect({ servers: server.url });
    spy = await connect({ servers: server.url });
    coordinator = createCoordinator({ servers: server.url, prefix, leaseMs: 600 });
    coordinator.onLeadershipChange((c) => leaderChanges.push(c.leader));
    await coordinator.start();
    await waitFor(() => coordinator.isLeader, { what: "the coordinator leads" });
    collector = createCollector({ servers: server.url, prefix });
    await collector.start();
    notifier = createMailNotifier({
      servers: server.url,
      prefix,
      smtp: { host: smtp.host, port: smtp.port, secure: false, from: "switchboard@example.com" },
      to: "ops@example.com",
    });
    await notifier.start();
    orders = createAgent({ service: "orders", servers: server.url, prefix, heartbeatMs: 100, metricsIntervalMs: 0 });
    // An echo endpoint: whatever the request carries becomes the reply, the classic reflection gadget.
    orders.endpoint("echo", (p) => p);
    await orders.start();
    await waitFor(async () => (await queryRegistry(nc, s)).instances.some((v) => v.instance.id === orders.id), { what: "orders registered" });
  });
  afterAll(async () => {
    await orders?.stop();
    await notifier?.stop();
    await collector?.stop();
    await coordinator?.stop();
    await spy?.close();
    await nc?.close();
    await server?.dispose();
    await smtp?.dispose();
  });

  it("refuses every request whose reply subject is a KV key, the JetStream API, an instance event, $SYS or its own prefix", async () => {
    const leaseBucket = leaseBucketName(prefix);
    const registryBucket = registryBucketName(prefix);
    const js = (await jetstreamManager(nc)).jetstream();
    const kvm = new Kvm(js);
    const lease = await kvm.open(leaseBucket);
    const registry = await kvm.open(registryBucket);
    const keys = async () => {
      const all: string[] = [];
      for await (const k of await registry.keys()) all.push(k);
      return all.sort();
    };
    await waitFor(async () => (await keys()).some((k) => k.includes(orders.id)), { what: "orders persisted" });
    const keysBefore = await keys();
    const registryMsgsBefore = (await (await jetstreamManager(nc)).streams.info(`KV_${registryBucket}`)).state.messages;

    // The spy sees everything published where the attacks aim.
    const landed: Msg[] = [];
    const keep = (_e: Error | null, m: Msg) => void landed.push(m);
    const leaseWrites: Msg[] = [];
    spy.subscribe(`$KV.${leaseBucket}.>`, { callback: (_e, m) => void leaseWrites.push(m) });
    spy.subscribe(`$JS.API.STREAM.PURGE.>`, { callback: keep });
    spy.subscribe(`$JS.API.STREAM.DELETE.>`, { callback: keep });
    spy.subscribe(s.heartbeat("orders", victimId), { callback: keep });
    spy.subscribe(s.registryEvents, { callback: keep });
    spy.subscribe(`$SYS.>`, { callback: keep });
    await spy.flush();

    const targets = [
      `$KV.${leaseBucket}.leader`,
      `$JS.API.STREAM.PURGE.KV_${registryBucket}`,
      `$JS.API.STREAM.DELETE.KV_${registryBucket}`,
      s.heartbeat("orders", victimId),
      s.registryEvents,
      "$SYS.REQ.SERVER.PING",
    ];
    const forgedHeartbeat = { v: 1, id: victimId, service: "orders", seq: 1, sentAt: Date.now(), inFlight: 0, status: "ok" };
    const requests: Array<[string, Uint8Array, () => number]> = [
      [s.registryQuery, new Uint8Array(0), () => coordinator.stats().invalid[REPLY_SUBJECT_KIND] ?? 0],
      [s.registryRegister, encodeJson({ v: 1, serviceName: "attacker", serviceAddress: "http://evil.example" }), () => coordinator.stats().invalid[REPLY_SUBJECT_KIND] ?? 0],
      [s.instance("orders", orders.id, "echo"), encodeJson(forgedHeartbeat), () => orders.invalid.snapshot()[REPLY_SUBJECT_KIND] ?? 0],
      [s.service("orders", "echo"), encodeJson(forgedHeartbeat), () => orders.invalid.snapshot()[REPLY_SUBJECT_KIND] ?? 0],
      ["$SRV.PING.orders", new Uint8Array(0), () => orders.invalid.snapshot()[REPLY_SUBJECT_KIND] ?? 0],
      [monitorQuerySubject(s), encodeJson({ v: 1 }), () => collector.stats().invalid[REPLY_SUBJECT_KIND] ?? 0],
      [s.alertAck, encodeJson({ v: 1, fingerprint: "0123456789abcdef", by: "attacker" }), () => notifier.stats().invalid[REPLY_SUBJECT_KIND] ?? 0],
    ];
    for (const [subject, body] of requests) for (const reply of targets) nc.publish(subject, body, { reply });
    await nc.flush();

    // Every responder refused (and counted) each attack: 2 × 6 at the coordinator, 3 × 6 at the agent, 6 each at collector and notifier.
    await waitFor(() => (coordinator.stats().invalid[REPLY_SUBJECT_KIND] ?? 0) === 2 * targets.length, { what: "coordinator refusals" });
    await waitFor(() => (orders.invalid.snapshot()[REPLY_SUBJECT_KIND] ?? 0) === 3 * targets.length, { what: "agent refusals" });
    await waitFor(() => (collector.stats().invalid[REPLY_SUBJECT_KIND] ?? 0) === targets.length, { what: "collector refusals" });
    await waitFor(() => (notifier.stats().invalid[REPLY_SUBJECT_KIND] ?? 0) === targets.length, { what: "notifier refusals" });
    // The same responders still answer legitimate requests (and, answering in order, prove the attacks were handled first).
    for (const [subject, body, refused] of requests) {
      if (subject === s.registryRegister || subject === s.alertAck) continue;
      const r = await nc.request(subject, body, { timeout: 2000 });
      expect(r.data.length, subject).toBeGreaterThan(0);
      expect(refused(), subject).toBeGreaterThan(0);
    }
    await spy.flush();

    expect(landed.map((m) => m.subject)).toEqual([]);
    // Only the coordinator's own lease renewals reached the lease key: each one a valid lease of this coordinator.
    for (const m of leaseWrites) {
      const d = decodeMessage("coordinator-lease", m.data);
      expect(d.ok, new TextDecoder().decode(m.data).slice(0, 120)).toBe(true);
    }
    const held = decodeMessage("coordinator-lease", (await lease.get("leader"))!.value);
    expect(held.ok && held.value.coordinator).toBe(coordinator.id);
    expect(coordinator.isLeader).toBe(true);
    expect(leaderChanges).toEqual([true]);
    const registryMsgsAfter = (await (await jetstreamManager(nc)).streams.info(`KV_${registryBucket}`)).state.messages;
    expect(registryMsgsAfter).toBeGreaterThanOrEqual(registryMsgsBefore);
    expect(await keys()).toEqual(keysBefore);
    // Nothing registered by the refused registration, the victim never appeared.
    const snap = await queryRegistry(nc, s);
    expect(snap.instances.map((v) => [v.instance.service, v.instance.id])).toEqual([["orders", orders.id]]);
    expect(notifier.stats().acks).toBe(0);
    console.log(
      `security: ${requests.length * targets.length} requests with forbidden reply subjects refused ` +
        `(coordinator ${coordinator.stats().invalid[REPLY_SUBJECT_KIND]}, agent ${orders.replies.stats().refusedReplySubjects}); lease and registry unchanged`,
    );
  });
});

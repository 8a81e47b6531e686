/**
 * Every subject the coordinator listens on gets garbage, wrong schemas, oversized bodies, floods and
 * bodies that name another instance than their subject: requests get BAD_REQUEST replies, events are
 * dropped and counted, nothing crashes, and the registry is exactly what it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { connect, createInbox, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { createRegistryCache, queryRegistry, type RegistryCache } from "../../src/client/index.js";
import { Subjects, encodeJson, readErrorReply, type RegistrySnapshot } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

const enc = (s: string) => new TextEncoder().encode(s);

describe("coordinator under bad input", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let coordinator: Coordinator;
  let agent: Agent;
  let cache: RegistryCache;
  let prefix: string;
  let s: Subjects;
  let baseline: RegistrySnapshot;
  const replies: Msg[] = [];
  let inbox: string;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    prefix = uniquePrefix();
    s = new Subjects(prefix);
    coordinator = createCoordinator({ servers: server.url, prefix, leaseMs: 600 });
    await coordinator.start();
    // The flood below shares this process's event loop with the coordinator; a 2 s interval keeps that
    // contention (on a loaded 2-core machine) from looking like a missed heartbeat (this suite tests
    // refusals, not failure detection).
    agent = createAgent({ service: "echo", servers: server.url, prefix, heartbeatMs: 2000 });
    agent.endpoint("echo", (p) => p);
    await agent.start();
    cache = await createRegistryCache({ servers: server.url, prefix }).start();
    await waitFor(() => cache.instances("echo").length === 1, { what: "agent in cache" });
    baseline = await queryRegistry(nc, s);
    inbox = createInbox();
    nc.subscribe(inbox, {
      callback: (_e, m) => {
        replies.push(m);
      },
    });
    await nc.flush();
  });
  afterAll(async () => {
    await cache.stop();
    await agent.stop();
    await coordinator.stop();
    await nc.close();
    await server.dispose();
  });

  /** The registry still holds exactly the agent, up, with its record; nothing was published meanwhile. */
  async function intact(revision = baseline.revision) {
    const now = await queryRegistry(nc, s);
    expect(now.instances.map((v) => ({ instance: v.instance, state: v.state }))).toEqual(
      baseline.instances.map((v) => ({ instance: v.instance, state: v.state })),
    );
    expect(now.revision).toBe(revision);
    expect(cache.instances("echo").map((v) => v.instance.id)).toEqual([agent.id]);
  }

  const garbage = (): Array<[string, Uint8Array]> => {
    const id = agent.id;
    return [
      ["not json", enc("{{{ not json")],
      ["binary", new Uint8Array([0xff, 0xfe, 0x00, 0x01, 0x80])],
      ["empty", new Uint8Array(0)],
      ["json string", enc('"hello"')],
      ["json array", enc("[1,2,3]")],
      ["null", enc("null")],
      ["wrong version", encodeJson({ v: 2, id, service: "echo", seq: 1, sentAt: 1, inFlight: 0, status: "ok" })],
      ["extra property", encodeJson({ v: 1, id, service: "echo", seq: 1, sentAt: 1, inFlight: 0, status: "ok", evil: true })],
      ["bad token", encodeJson({ v: 1, id: "a.b.>", service: "echo", seq: 1, sentAt: 1, inFlight: 0, status: "ok" })],
      ["negative", encodeJson({ v: 1, id, service: "echo", seq: -1, sentAt: 1, inFlight: -5, status: "ok" })],
      ["huge number", enc(`{"v":1,"id":"${id}","service":"echo","seq":1e999,"sentAt":1,"inFlight":0,"status":"ok"}`)],
      ["oversized", enc(JSON.stringify({ v: 1, pad: "x".repeat(200 * 1024) }))],
    ];
  };

  it("events subjects (announce, heartbeat, leave, registry events): garbage is dropped and counted, the registry is intact", async () => {
    const before = coordinator.stats().invalidTotal;
    let sent = 0;
    for (const subject of [s.announce("echo", agent.id), s.heartbeat("echo", agent.id), s.leave("echo", agent.id), s.registryEvents]) {
      for (const [, body] of garbage()) {
        nc.publish(subject, body);
        sent++;
      }
    }
    await nc.flush();
    await waitFor(() => coordinator.stats().invalidTotal - before === sent, { what: "every bad message counted" });
    const st = coordinator.stats();
    for (const kind of ["announce", "heartbeat", "leave", "registry-event"]) expect(st.invalid[kind]).toBeGreaterThanOrEqual(12);
    // The cache refuses bad events too.
    await waitFor(() => cache.stats().invalid >= 12, { what: "cache counted invalid events" });
    await intact();
  });

  it("request subjects (query, register): every bad request gets a BAD_REQUEST reply with a clear message", async () => {
    replies.length = 0;
    const bodies = garbage().filter(([name]) => name !== "empty"); // an empty query is a valid "everything" query
    for (const [, body] of bodies) nc.publish(s.registryQuery, body, { reply: inbox });
    for (const [, body] of garbage()) nc.publish(s.registryRegister, body, { reply: inbox });
    const expected = bodies.length + garbage().length;
    await waitFor(() => replies.length === expected, { what: "a reply to every bad request" });
    const errors = replies.map((m) => readErrorReply(m));
    expect(errors.every((e) => e?.code === "BAD_REQUEST")).toBe(true);
    expect(replies.every((m) => m.headers?.get("Nats-Service-Error-Code") === "400")).toBe(true);
    const messages = errors.map((e) => e!.message);
    expect(messages.some((m) => /not valid JSON/.test(m))).toBe(true);
    expect(messages.some((m) => /exceeds the 65536-byte limit/.test(m))).toBe(true);
    expect(messages.some((m) => /registry-query message .*must/.test(m))).toBe(true);
    expect(messages.some((m) => /register message .*(must|unknown property)/.test(m))).toBe(true);
    // A well-formed register with a bad token in the name is refused too.
    const bad = await nc.request(s.registryRegister, encodeJson({ v: 1, serviceName: "a b", serviceAddress: "x" }), { timeout: 2000 });
    expect(readErrorReply(bad)?.message).toMatch(/serviceName/);
    await intact();
  });

  it("a flood of 10 000 bad messages on every subject: no crash, every request answered, all counted, registry intact", async () => {
    replies.length = 0;
    const before = coordinator.stats().invalidTotal;
    const n = 10_000;
    const junk = enc('{"v":1,"junk":true}');
    const subjects = [s.announce("echo", agent.id), s.heartbeat("echo", agent.id), s.leave("echo", agent.id)];
    for (let i = 0; i < n; i++) {
      for (const subject of subjects) nc.publish(subject, junk);
      nc.publish(s.registryQuery, junk, { reply: inbox });
      nc.publish(s.registryRegister, junk, { reply: inbox });
      if (i % 1000 === 999) await nc.flush();
    }
    await nc.flush();
    await waitFor(() => replies.length === 2 * n, { timeoutMs: 20_000, what: "20 000 error replies" });
    await waitFor(() => coordinator.stats().invalidTotal - before === 5 * n, { timeoutMs: 10_000, what: "50 000 refusals counted" });
    expect(replies.every((m) => readErrorReply(m)?.code === "BAD_REQUEST")).toBe(true);
    // The agent kept heartbeating through the flood and is still up.
    await intact();
  });

  it("a body naming another service or instance than its subject is refused", async () => {
    const before = coordinator.stats();
    const other = "someone-else";
    const record = { ...agent.record, id: other };
    // Announce another instance on the agent's subject, and vice versa.
    nc.publish(s.announce("echo", agent.id), encodeJson({ v: 1, instance: record }));
    nc.publish(s.announce("echo", other), encodeJson({ v: 1, instance: agent.record }));
    nc.publish(s.announce("billing", agent.id), encodeJson({ v: 1, instance: agent.record }));
    // A leave for the agent published on someone else's subject must not remove it.
    nc.publish(s.leave("echo", other), encodeJson({ v: 1, id: agent.id, service: "echo" }));
    nc.publish(s.leave("billing", agent.id), encodeJson({ v: 1, id: agent.id, service: "echo" }));
    // Heartbeats whose body names another instance (or service), or whose subject has extra tokens.
    const hb = (id: string, service: string) => encodeJson({ v: 1, id, service, seq: 1e9, sentAt: Date.now(), inFlight: 0, status: "draining" });
    nc.publish(s.heartbeat("echo", other), hb(agent.id, "echo"));
    nc.publish(s.heartbeat("billing", agent.id), hb(agent.id, "echo"));
    nc.publish(`${prefix}.heartbeat.echo.${agent.id}x`, hb(agent.id, "echo"));
    nc.publish(s.heartbeat("echox", agent.id), hb(agent.id, "echo"));
    await nc.flush();
    await waitFor(() => coordinator.stats().invalidTotal - before.invalidTotal === 9, { what: "9 refusals" });
    const after = coordinator.stats();
    expect(after.invalid.announce! - (before.invalid.announce ?? 0)).toBe(3);
    expect(after.invalid.leave! - (before.invalid.leave ?? 0)).toBe(2);
    expect(after.invalid.heartbeat! - (before.invalid.heartbeat ?? 0)).toBe(4);
    expect(coordinator.registry.get("echo", other)).toBeUndefined();
    // The refused heartbeat with seq 1e9 did not poison the agent's sequence: its own heartbeats still count.
    const beats = after.heartbeats;
    await waitFor(() => coordinator.stats().heartbeats > beats, { timeoutMs: 3000, what: "agent heartbeats accepted" });
    expect(coordinator.registry.get("echo", agent.id)?.status).toBe("ok");
    await intact();
  });

  it("property: arbitrary JSON on every subject never crashes the coordinator or changes the registry", async () => {
    replies.length = 0;
    const subjects = [s.announce("echo", agent.id), s.heartbeat("echo", agent.id), s.leave("echo", agent.id), s.registryQuery, s.registryRegister];
    let requests = 0;
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.integer({ min: 0, max: subjects.length - 1 }), async (value, k) => {
        const subject = subjects[k]!;
        const isRequest = subject === s.registryQuery || subject === s.registryRegister;
        if (isRequest) requests++;
        nc.publish(subject, encodeJson(value), isRequest ? { reply: inbox } : undefined);
      }),
      { numRuns: 400 },
    );
    await nc.flush();
    await waitFor(() => replies.length === requests, { what: "a reply to every request" });
    // Random JSON is never a valid register (it needs serviceName and serviceAddress) nor a valid leave for the agent.
    await intact();
  });
});

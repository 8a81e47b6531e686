/**
 * Property-based fuzzing of every subject the coordinator and the clients' registry caches listen on
 * (announce, heartbeat, leave, registry.query, registry.register, registry.events), with messages made
 * from valid ones that name the real instances — mutated at any depth, or sent on another instance's
 * subject — plus a flood of 10 000 bad messages. Every request gets a reply (BAD_REQUEST when bad),
 * every refused event is counted, nothing crashes, memory stays bounded, and the registry (as queried
 * and as the client routes) is exactly what it was. Instances run as child processes, so the flood in
 * this process does not delay their heartbeats.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { createClient, queryRegistry, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { Subjects, connectNats, decodeMessage, encodeJson, readErrorReply, type MessageKind, type RegistrySnapshot } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, type FixtureProcess } from "../helpers/processes.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";
import { mutation } from "./mutations.js";

type EventKind = "announce" | "heartbeat" | "leave";

describe("fuzzing the coordinator's and the registry caches' subjects", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let coordinator: Coordinator;
  let client: Client;
  let cache: RegistryCache;
  const agents: FixtureProcess[] = [];
  const prefix = uniquePrefix();
  const s = new Subjects(prefix);
  let baseline: RegistrySnapshot;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url });
    coordinator = createCoordinator({ servers: server.url, prefix, leaseMs: 600 });
    await coordinator.start();
    // A 1 s interval: this suite checks refusals, not failure detection, and "the revision did not move"
    // must not trip over a heartbeat delayed by a busy machine (suspect after 1.5 intervals).
    agents.push(...(await Promise.all([1, 2].map(() => startAgentProcess({ NATS_URL: server.url, SB_PREFIX: prefix, SB_HEARTBEAT_MS: "1000" })))));
    client = await createClient({ servers: server.url, prefix, timeoutMs: 1000 }).start();
    cache = client.registry as RegistryCache;
    await waitFor(() => cache.instances("echo").length === 2, { what: "both instances routed" });
    baseline = await queryRegistry(nc, s);
  });
  afterAll(async () => {
    await client?.stop();
    await Promise.all(agents.map((a) => a.kill()));
    await coordinator?.stop();
    await nc?.close();
    await server?.dispose();
  });

  /** The registry as it matters: who, in which state, with which record. */
  const shape = (snap: RegistrySnapshot) =>
    snap.instances.map((v) => ({ record: v.instance, state: v.state, status: v.status })).sort((a, b) => (a.record.id < b.record.id ? -1 : 1));
  async function intact(): Promise<void> {
    const now = await queryRegistry(nc, s);
    expect(shape(now)).toEqual(shape(baseline));
    expect(now.revision).toBe(baseline.revision);
    expect(cache.instances("echo").map((v) => v.instance.id).sort()).toEqual(baseline.instances.map((v) => v.instance.id).sort());
    expect(cache.currentRevision).toBe(baseline.revision);
  }

  /** Subjects an event about the first instance may arrive on: its own, another instance's, another service's, malformed. */
  const subjectsFor = (kind: EventKind) => {
    const [a, b] = baseline.instances.map((v) => v.instance.id) as [string, string];
    return fc.constantFrom(
      s.instanceEvent(kind, "echo", a),
      s.instanceEvent(kind, "echo", b),
      s.instanceEvent(kind, "billing", a),
      `${prefix}.${kind}.echo.x${a}`,
    );
  };
  /** Valid messages about the first instance, which mutations start from. */
  const seedFor = (kind: EventKind): unknown => {
    const v = baseline.instances[0]!;
    const rec = v.instance;
    if (kind === "announce") return { v: 1, instance: rec };
    if (kind === "heartbeat") return { v: 1, id: rec.id, service: rec.service, seq: 1e9, sentAt: Date.now(), inFlight: 5, status: "draining" };
    return { v: 1, id: rec.id, service: rec.service, reason: "stop" };
  };
  /** True when the coordinator must refuse `body` on `subject`: it does not decode, or it names another instance than its subject. */
  const mustRefuse = (kind: EventKind, subject: string, body: Uint8Array): boolean => {
    const d = decodeMessage(kind as MessageKind, body);
    if (!d.ok) return true;
    const where = s.parseInstanceEvent(subject);
    const v = d.value as { instance?: { service: string; id: string }; service?: string; id?: string };
    const named = kind === "announce" ? v.instance! : { service: v.service!, id: v.id! };
    return where === null || where.service !== named.service || where.instance !== named.id;
  };

  it.each(["announce", "heartbeat", "leave"] as const)("%s: mutated and misaddressed messages about a live instance are refused and counted", async (kind) => {
    const before = coordinator.invalid.total;
    let sent = 0;
    fc.assert(
      fc.property(subjectsFor(kind), mutation(seedFor(kind)), (subject, body) => {
        if (!mustRefuse(kind, subject, body)) return; // valid input about its own subject is not an attack
        nc.publish(subject, body);
        sent++;
      }),
      { numRuns: 400 },
    );
    await nc.flush();
    await waitFor(() => coordinator.invalid.total - before === sent, { what: `${sent} ${kind} refusals counted` });
    expect(sent).toBeGreaterThan(200);
    await intact();
  });

  it("registry.query and registry.register: every request gets a snapshot or a BAD_REQUEST reply", async () => {
    const examples = { query: { v: 1, service: "echo", states: ["up"] }, register: { v: 1, serviceName: "web", serviceAddress: "http://10.0.0.1:8080", ttlMs: 30_000 } };
    for (const which of ["query", "register"] as const) {
      const kind: MessageKind = which === "query" ? "registry-query" : "register";
      const subject = which === "query" ? s.registryQuery : s.registryRegister;
      await fc.assert(
        fc.asyncProperty(mutation(examples[which]), async (body) => {
          // An empty query asks for everything (handy from the nats CLI).
          const valid = decodeMessage(kind, body).ok || (which === "query" && body.length === 0);
          // A valid registration registers something: legitimate, not fuzzing material.
          if (valid && which === "register") return;
          const reply: Msg = await nc.request(subject, body, { timeout: 2000 });
          const err = readErrorReply(reply);
          if (valid) expect(err).toBeNull();
          else {
            expect(err?.code).toBe("BAD_REQUEST");
            expect(err?.message).toMatch(which === "query" ? /registry-query/ : /register/);
          }
        }),
        { numRuns: 150 },
      );
    }
    await intact();
  });

  it("registry.events: garbage and mutated events are dropped and counted by caches and coordinators", async () => {
    const view = { ...baseline.instances[0]!, state: "removed" as const };
    const seed = { v: 1, revision: baseline.revision + 1, type: "removed", at: Date.now(), coordinator: "rogue", instance: view };
    const beforeCache = cache.stats().invalid;
    const beforeCoordinator = coordinator.invalid.snapshot()["registry-event"] ?? 0;
    let sent = 0;
    fc.assert(
      fc.property(fc.oneof(mutation(seed), fc.uint8Array({ maxLength: 200 })), (body) => {
        if (decodeMessage("registry-event", body, 1 << 20).ok) return; // a valid forged event is what permissions stop
        nc.publish(s.registryEvents, body);
        sent++;
      }),
      { numRuns: 400 },
    );
    await nc.flush();
    await waitFor(() => cache.stats().invalid - beforeCache === sent, { what: `${sent} bad events counted by the cache` });
    await waitFor(() => (coordinator.invalid.snapshot()["registry-event"] ?? 0) - beforeCoordinator === sent, { what: "counted by the coordinator" });
    await intact();
  });

  it("a flood of 10 000 bad messages over every subject: all requests answered, all events counted, registry intact, memory bounded", async () => {
    const a = baseline.instances[0]!.instance.id;
    const replies: Msg[] = [];
    const inbox = `_INBOX.fuzz.${prefix}`;
    const sub = nc.subscribe(inbox, { callback: (_e, m) => void replies.push(m) });
    await nc.flush();
    const beforeCoordinator = coordinator.invalid.total;
    const beforeCache = cache.stats().invalid;
    const rss = process.memoryUsage().rss;
    let requests = 0;
    let events = 0;
    let cacheEvents = 0;
    for (let i = 0; i < 10_000; i++) {
      const junk = encodeJson({ v: 1, junk: i, pad: "x".repeat(i % 200) });
      switch (i % 6) {
        case 0:
          nc.publish(s.announce("echo", a), junk);
          events++;
          break;
        case 1:
          nc.publish(s.heartbeat("echo", a), encodeJson({ v: 1, id: "someone-else", service: "echo", seq: i, sentAt: 1, inFlight: 0, status: "ok" }));
          events++;
          break;
        case 2:
          nc.publish(s.leave("echo", a), new Uint8Array([0xff, 0xfe, i & 0xff]));
          events++;
          break;
        case 3:
          nc.publish(s.registryEvents, junk);
          events++;
          cacheEvents++;
          break;
        case 4:
          nc.publish(s.registryQuery, junk, { reply: inbox });
          requests++;
          break;
        default:
          nc.publish(s.registryRegister, junk, { reply: inbox });
          requests++;
      }
    }
    // One more: oversized.
    nc.publish(s.announce("echo", a), new Uint8Array(200 * 1024).fill(0x20));
    events++;
    await nc.flush();
    await waitFor(() => replies.length === requests, { timeoutMs: 20_000, what: `${requests} replies` });
    expect(replies.every((m) => readErrorReply(m)?.code === "BAD_REQUEST")).toBe(true);
    // Refused requests are counted too.
    await waitFor(() => coordinator.invalid.total - beforeCoordinator === events + requests, {
      timeoutMs: 20_000,
      what: `${events + requests} refusals counted (now ${coordinator.invalid.total - beforeCoordinator})`,
    });
    await waitFor(() => cache.stats().invalid - beforeCache === cacheEvents, { timeoutMs: 20_000, what: "cache counted its events" });
    sub.unsubscribe();
    const grownMb = (process.memoryUsage().rss - rss) / 1024 / 1024;
    // The instances kept heartbeating through it (they are still up, same revision) and calls work.
    await intact();
    expect(await client.call("echo", "echo", { after: "flood" })).toEqual({ after: "flood" });
    expect(coordinator.registry.size).toBe(baseline.instances.length);
    expect(grownMb).toBeLessThan(200);
    const totals = coordinator.stats();
    console.log(
      `coordinator fuzz: flood of ${requests + events} — ${requests} bad requests all answered BAD_REQUEST, ${events} bad events counted ` +
        `(refusals so far: ${JSON.stringify(totals.invalid)}), cache refusals ${cache.stats().invalid}, ` +
        `registry intact at revision ${baseline.revision}, RSS growth ${grownMb.toFixed(1)} MB`,
    );
  }, 60_000);
});

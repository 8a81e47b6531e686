/**
 * Attack: registry state from someone who is not the leader. On a real nats-server with JetStream, an
 * attacker with a plain connection publishes forged registry events (revision 2^53 and 2^53 − 1, a big
 * jump, current + 1 from a made-up coordinator, a jump in the leader's own name) and answers registry
 * queries with forged snapshots. After every attack a new instance still becomes routable and a stopped
 * one leaves routing within two heartbeat intervals — in a client that was running, in a fresh client, on
 * a follower that takes over, and after the coordinators restart — and no poisoned revision reaches KV.
 * Then: one forged heartbeat never unroutes a live instance; an announce flood is refused past the limits
 * with the specific limit and the registry stays bounded; in signed mode unsigned or foreign-signed state
 * is refused.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { createUser } from "@nats-io/nkeys";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createRegistryCache, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, leaseBucketName, registryBucketName, type Coordinator, type CoordinatorOptions } from "../../src/coordinator/index.js";
import {
  SIGNATURE_HEADER,
  SIGNER_HEADER,
  StateSigner,
  Subjects,
  decodeMessage,
  encodeJson,
  readErrorReply,
  type InstanceRecord,
  type RegistryEvent,
  type RegistrySnapshot,
} from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

/** Heartbeat interval of the agents: "two intervals" below is 2 × this. */
const HB = 400;
const ghostRecord = (id = "ghost-1"): InstanceRecord => ({ id, service: "svc", version: "6.6.6", endpoints: ["echo"], heartbeatMs: HB, startedAt: Date.now() });

let server: NatsServer;
let attacker: NatsConnection;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  server = await startNatsServer();
  attacker = await connect({ servers: server.url });
});
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f().catch(() => {});
});
afterAll(async () => {
  await attacker?.close();
  await server?.dispose();
});

async function coordinator(prefix: string, extra: Omit<CoordinatorOptions, "nats" | "servers"> = {}): Promise<Coordinator> {
  const c = createCoordinator({ leaseMs: 900, ...extra, servers: server.url, prefix } as CoordinatorOptions);
  await c.start();
  cleanup.push(() => c.stop());
  return c;
}

async function cache(prefix: string, signerPublicKeys?: string[]): Promise<RegistryCache> {
  const c = createRegistryCache({ servers: server.url, prefix, queryTimeoutMs: 1500, retryMs: 200, ...(signerPublicKeys ? { signerPublicKeys } : {}) });
  cleanup.push(() => c.stop());
  return c.start();
}

const routed = (c: RegistryCache, id: string) => c.instances("svc").some((v) => v.instance.id === id);

/**
 * The promise the attacks must not break: a new instance becomes routable in every cache, and once it
 * stops it leaves routing in every cache within two heartbeat intervals.
 */
async function stillTrue(prefix: string, caches: RegistryCache[]): Promise<void> {
  const agent: Agent = createAgent({ service: "svc", servers: server.url, prefix, heartbeatMs: HB });
  agent.endpoint("echo", (p) => p);
  await agent.start();
  cleanup.push(() => agent.stop());
  for (const c of caches) await waitFor(() => routed(c, agent.id), { timeoutMs: 8000, what: `new instance routable (cache revision ${c.currentRevision})` });
  const stopped = Date.now();
  await agent.stop();
  for (const c of caches) await waitFor(() => !routed(c, agent.id), { timeoutMs: 2 * HB, what: "stopped instance out of routing within two intervals" });
  expect(Date.now() - stopped).toBeLessThanOrEqual(2 * HB);
  for (const c of caches) expect(c.instances("svc").map((v) => v.instance.id)).not.toContain("ghost-1");
}

/** The revision saved in the registry bucket and in the lease (what a restarted coordinator continues from). */
async function storedRevisions(nc: NatsConnection, prefix: string): Promise<{ registry: number; lease: number }> {
  const kvm = new Kvm(jetstream(nc));
  const reg = await (await kvm.open(registryBucketName(prefix))).get("revision");
  const lease = await (await kvm.open(leaseBucketName(prefix))).get("leader");
  const rev = (e: typeof reg) => {
    if (!e || e.operation !== "PUT") return 0;
    const d = decodeMessage("coordinator-lease", e.value);
    return d.ok ? d.value.revision : -1;
  };
  return { registry: rev(reg), lease: rev(lease) };
}

function forgedEvent(revision: number, term: number, coordinatorId: string, type: RegistryEvent["type"] = "up"): RegistryEvent {
  const now = Date.now();
  return { v: 1, revision, term, type, at: now, coordinator: coordinatorId, instance: { instance: ghostRecord(), state: type, since: now, lastSeen: now, seq: 1, inFlight: 0, status: "ok" } };
}

/** Answers every registry query with `snapshot()` (the attacker is not in the coordinators' queue group, so both answer). */
function forgeSnapshots(prefix: string, snapshot: () => RegistrySnapshot): { answered: number } {
  const state = { answered: 0 };
  const sub = attacker.subscribe(new Subjects(prefix).registryQuery, {
    callback: (_e, m) => {
      state.answered++;
      m.respond(encodeJson(snapshot()));
    },
  });
  cleanup.push(async () => sub.unsubscribe());
  return state;
}

describe("security: registry state only from the legitimate leader", () => {
  it("forged events (2^53, 2^53 − 1, big jump, current + 1 from a fake coordinator, a jump in the leader's name) are never adopted nor persisted", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const leader = await coordinator(prefix, { id: "coord-a" });
    const follower = await coordinator(prefix, { id: "coord-b" });
    await waitFor(() => follower.leaderId === "coord-a" && follower.term === leader.term, { what: "the follower read the lease" });
    const existing = await cache(prefix);
    await stillTrue(prefix, [existing]);
    const before = leader.currentRevision;
    const term = leader.term;

    attacker.publish(s.registryEvents, new TextEncoder().encode(JSON.stringify(forgedEvent(1, term, "fake")).replace('"revision":1', `"revision":${2 ** 53}`)));
    attacker.publish(s.registryEvents, encodeJson(forgedEvent(Number.MAX_SAFE_INTEGER, term, "fake")));
    attacker.publish(s.registryEvents, encodeJson(forgedEvent(before + 1, term, "fake")));
    attacker.publish(s.registryEvents, encodeJson(forgedEvent(before + 1_000_000, term, "fake")));
    attacker.publish(s.registryEvents, encodeJson(forgedEvent(before + 1_000_000, term, "coord-a"))); // the leader's name: a jump → reload, not adoption
    attacker.publish(s.registryEvents, encodeJson(forgedEvent(Number.MAX_SAFE_INTEGER, term + 5, "fake-2"))); // a "newer term": re-read the lease, then refused
    await attacker.flush();

    await waitFor(() => follower.stats().untrustedTotal >= 5, { what: "the follower refused the forged events" });
    expect(follower.stats().invalid["registry-event"]).toBe(1); // 2^53 is refused by the schema
    await waitFor(() => existing.stats().refusedEvents >= 3 && existing.stats().gaps >= 1, { what: "the cache refused them" });
    expect(leader.currentRevision).toBeLessThan(before + 100);
    expect(follower.currentRevision).toBeLessThan(before + 100);
    expect(existing.get("svc", "ghost-1")).toBeUndefined();

    await stillTrue(prefix, [existing, await cache(prefix)]);
    // Nothing read from the bus reached KV.
    await leader.stop();
    const stored = await storedRevisions(attacker, prefix);
    expect(stored.registry).toBeGreaterThan(before);
    expect(stored.registry).toBeLessThan(before + 100);
    // The follower takes over and continues the real count; old and fresh clients follow it.
    await waitFor(() => follower.isLeader, { timeoutMs: 5000, what: "the follower took the lease" });
    expect(follower.currentRevision).toBeLessThan(before + 100);
    await stillTrue(prefix, [existing, await cache(prefix)]);
    // A restarted coordinator (the registry loaded from KV) continues from a real revision too.
    await follower.stop();
    const restarted = await coordinator(prefix, { id: "coord-c" });
    expect(restarted.currentRevision).toBeLessThan(before + 100);
    expect((await storedRevisions(attacker, prefix)).lease).toBeLessThan(before + 100);
    await stillTrue(prefix, [existing, await cache(prefix)]);
  });

  it("forged snapshot replies (a made-up coordinator, or the leader's name with revision 2^53 − 1) are skipped; fresh and running clients load the real one", async () => {
    const prefix = uniquePrefix();
    const leader = await coordinator(prefix, { id: "coord-a" });
    const existing = await cache(prefix);
    let variant = 0;
    const forged = forgeSnapshots(prefix, () => {
      const now = Date.now();
      const ghost = { instance: ghostRecord(), state: "up" as const, since: now, lastSeen: now, seq: 1, inFlight: 0, status: "ok" as const };
      const v = variant++ % 3;
      if (v === 0) return { v: 1, revision: Number.MAX_SAFE_INTEGER, coordinator: "fake", leader: true, term: leader.term, leaderId: "fake", at: now, instances: [ghost] };
      if (v === 1) return { v: 1, revision: Number.MAX_SAFE_INTEGER, coordinator: "coord-a", leader: true, term: leader.term, leaderId: "coord-a", at: now, instances: [ghost] };
      return { v: 1, revision: leader.currentRevision, coordinator: "coord-a", leader: true, term: leader.term + 1, leaderId: "coord-a", at: now, instances: [ghost] };
    });
    await attacker.flush();
    const fresh = await cache(prefix);
    // Each load asks once; the forged answer counts as refused when it arrives before the real one.
    await waitFor(
      async () => {
        await Promise.all([existing.resync(), fresh.resync()]);
        return fresh.stats().refusedSnapshots + existing.stats().refusedSnapshots >= 3;
      },
      { what: "forged snapshots of every kind refused" },
    );
    expect(forged.answered).toBeGreaterThanOrEqual(3);
    for (const c of [existing, fresh]) {
      expect(c.synced).toBe(true);
      expect(c.currentRevision).toBeLessThan(1000);
      expect(c.leader).toEqual({ id: "coord-a", term: leader.term });
      expect(c.get("svc", "ghost-1")).toBeUndefined();
    }
    await stillTrue(prefix, [existing, fresh, await cache(prefix)]);
  });

  it("one forged heartbeat (seq 2^53 − 1, or the largest in-bound jump) never unroutes an instance that keeps heartbeating", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const leader = await coordinator(prefix);
    const agent = createAgent({ service: "svc", servers: server.url, prefix, heartbeatMs: HB });
    agent.endpoint("echo", (p) => p);
    await agent.start();
    cleanup.push(() => agent.stop());
    const c = await cache(prefix);
    await waitFor(() => routed(c, agent.id), { what: "agent routable" });
    const left: string[] = [];
    c.onChange((ch) => {
      if (ch.id === agent.id && ch.type !== "up") left.push(ch.type);
    });
    const hb = (seq: number) => encodeJson({ v: 1, id: agent.id, service: "svc", seq, sentAt: Date.now(), inFlight: 999, status: "draining" });
    attacker.publish(s.heartbeat("svc", agent.id), hb(Number.MAX_SAFE_INTEGER));
    const seq = leader.registry.get("svc", agent.id)!.seq;
    attacker.publish(s.heartbeat("svc", agent.id), hb(seq + 2));
    await attacker.flush();
    const beats = leader.stats().heartbeats;
    // Six intervals of the agent's own heartbeats: accepted again, never out of routing.
    await waitFor(() => leader.stats().heartbeats >= beats + 6, { timeoutMs: 6 * HB + 3000, what: "six more real heartbeats accepted" });
    expect(left).toEqual([]);
    expect(routed(c, agent.id)).toBe(true);
    expect(leader.registry.get("svc", agent.id)).toMatchObject({ state: "up", status: "ok" });
    expect(leader.stats().staleHeartbeats).toBeGreaterThanOrEqual(1);
  });

  it("an announce flood is refused past the limits with the specific limit, and the registry stays bounded", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const leader = await coordinator(prefix, { limits: { maxInstances: 300, maxInstancesPerService: 100 } });
    const c = await cache(prefix);
    const rec = (i: number, over: Partial<InstanceRecord> = {}): InstanceRecord => ({
      id: `flood-${i}`,
      service: `svc-${i % 5}`,
      version: "1.0.0",
      endpoints: ["a"],
      heartbeatMs: 10_000,
      startedAt: Date.now(),
      ...over,
    });
    const n = 2000;
    for (let i = 0; i < n; i++) attacker.publish(s.announce(`svc-${i % 5}`, `flood-${i}`), encodeJson({ v: 1, instance: rec(i) }));
    // An hour-long interval, and 30 KB of metadata: refused whatever the room.
    attacker.publish(s.announce("svc-0", "hour"), encodeJson({ v: 1, instance: rec(0, { id: "hour", heartbeatMs: 3_600_000 }) }));
    const big = Object.fromEntries(Array.from({ length: 30 }, (_, k) => [`k${k}`, "x".repeat(1000)]));
    attacker.publish(s.announce("svc-0", "big"), encodeJson({ v: 1, instance: rec(0, { id: "big", metadata: big }) }));
    await attacker.flush();
    const capacityRefusals = () => (leader.stats().refusedByLimit.maxInstances ?? 0) + (leader.stats().refusedByLimit.maxInstancesPerService ?? 0);
    await waitFor(() => capacityRefusals() >= n - 300 && leader.stats().refusedByLimit.maxRecordBytes === 1, {
      timeoutMs: 15_000,
      what: "every announce past the limits refused",
    });
    const st = leader.stats();
    expect(leader.registry.size).toBe(300);
    expect(st.refusedByLimit.maxHeartbeatMs).toBe(1);
    expect(st.refusedByLimit.maxRecordBytes).toBe(1);
    await waitFor(() => c.size === 300, { what: "the cache holds the bounded registry" });
    // A registration past the limit gets the specific error.
    const reply = await attacker.request(s.registryRegister, encodeJson({ v: 1, serviceName: "svc-1", serviceAddress: "http://10.0.0.1:80" }), { timeout: 2000 });
    expect(readErrorReply(reply)).toMatchObject({ code: "OVERLOADED", message: expect.stringMatching(/^limit exceeded \((maxInstances|maxInstancesPerService)\): svc-1\//) });
  });

  it("signed mode: clients refuse unsigned, foreign-signed and replayed state, and follow the signing leader", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const seed = new TextDecoder().decode(createUser().getSeed());
    const leader = await coordinator(prefix, { id: "coord-a", signingSeed: seed });
    const follower = await coordinator(prefix, { id: "coord-b", signingSeed: seed });
    await waitFor(() => follower.leaderId === "coord-a", { what: "the follower read the lease" });
    const key = leader.signerPublicKey!;
    const signed = await cache(prefix, [key]);
    await stillTrue(prefix, [signed]);

    // current + 1 in the leader's own name and term: indistinguishable without signatures.
    const impersonation = encodeJson(forgedEvent(leader.currentRevision + 1, leader.term, "coord-a"));
    attacker.publish(s.registryEvents, impersonation);
    const mallory = new StateSigner(new TextDecoder().decode(createUser().getSeed()));
    attacker.publish(s.registryEvents, impersonation, { headers: mallory.sign(s.registryEvents, impersonation) });
    // A genuine signature of another body (copied headers) does not verify either.
    const h = headers();
    h.set(SIGNER_HEADER, key);
    h.set(SIGNATURE_HEADER, "A".repeat(86));
    attacker.publish(s.registryEvents, impersonation, { headers: h });
    // Forged (unsigned) snapshot answers.
    forgeSnapshots(prefix, () => ({ v: 1, revision: 1, coordinator: "coord-a", leader: true, term: leader.term, leaderId: "coord-a", at: Date.now(), instances: [] }));
    await attacker.flush();
    await waitFor(() => signed.stats().untrusted["registry-event"]! >= 3 && follower.stats().untrusted["registry-event"]! >= 3, { what: "refused by cache and follower" });
    expect(signed.get("svc", "ghost-1")).toBeUndefined();
    expect(follower.registry.get("svc", "ghost-1")).toBeUndefined();
    const fresh = await cache(prefix, [key]);
    expect(fresh.synced).toBe(true);
    await waitFor(
      async () => {
        await fresh.resync();
        return fresh.stats().refusedSnapshots >= 1;
      },
      { what: "the unsigned snapshot refused" },
    );
    expect(fresh.leader).toEqual({ id: "coord-a", term: leader.term });
    await stillTrue(prefix, [signed, fresh]);
    // A client trusting another key accepts nothing.
    const wrongKey = await cache(prefix, [mallory.publicKey]);
    expect(wrongKey.synced).toBe(false);
    expect(wrongKey.stats().refusedSnapshots).toBeGreaterThanOrEqual(1);
  });
});

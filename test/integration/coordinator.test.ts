/**
 * The coordinator on a real nats-server with real agents: discovery within one heartbeat, failure
 * detection of a SIGKILLed agent process at the configured times, graceful leave, registrations
 * without an agent, and query filters.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createCoordinator, type Coordinator, type RegistryChange, type RegistryThresholds } from "../../src/coordinator/index.js";
import { createRegistryCache, queryRegistry, RegistryQueryError, type RegistryCache } from "../../src/client/index.js";
import { Subjects, decodeMessage, encodeJson, readErrorReply, type RegistryEvent } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, type FixtureProcess } from "../helpers/processes.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

describe("coordinator with agents on a real nats-server", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const cleanup = new CleanupStack();

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterEach(async () => {
    await cleanup.run();
  });
  afterAll(async () => {
    await nc.close();
    await server.dispose();
  });

  async function coordinator(prefix: string, extra: RegistryThresholds & { leaseMs?: number } = {}): Promise<Coordinator> {
    const c = createCoordinator({ servers: server.url, prefix, leaseMs: 600, persistIntervalMs: 50, ...extra });
    await c.start();
    cleanup.push(() => c.stop());
    return c;
  }
  async function agent(prefix: string, service = "echo", heartbeatMs = 100): Promise<Agent> {
    const a = createAgent({ service, version: "2.0.0", servers: server.url, prefix, heartbeatMs, metadata: { zone: "z1" } });
    a.endpoint("echo", (p) => p).endpoint("whoami", () => a.id);
    await a.start();
    cleanup.push(() => a.stop());
    return a;
  }
  function events(prefix: string): RegistryEvent[] {
    const out: RegistryEvent[] = [];
    const sub = nc.subscribe(new Subjects(prefix).registryEvents, {
      callback: (_e, m) => {
        const d = decodeMessage("registry-event", m.data, 1 << 20);
        if (d.ok) out.push(d.value);
      },
    });
    cleanup.push(async () => sub.unsubscribe());
    return out;
  }

  it("an agent that starts is up in a registry query, with its endpoints, within one heartbeat", async () => {
    const prefix = uniquePrefix();
    const c = await coordinator(prefix);
    expect(c.isLeader).toBe(true);
    const a = await agent(prefix);
    await sleep(100);
    const snap = await queryRegistry(nc, new Subjects(prefix));
    expect(snap.coordinator).toBe(c.id);
    expect(snap.leader).toBe(true);
    expect(snap.instances).toHaveLength(1);
    expect(snap.instances[0]).toMatchObject({
      state: "up",
      status: "ok",
      instance: { id: a.id, service: "echo", version: "2.0.0", endpoints: ["echo", "whoami"], heartbeatMs: 100, metadata: { zone: "z1" } },
    });
    expect(snap.revision).toBeGreaterThanOrEqual(1);
  });

  it("a SIGKILLed agent process becomes suspect, then down, then removed at the configured times; a client cache stops listing it", async () => {
    const prefix = uniquePrefix();
    const hb = 200;
    const c = await coordinator(prefix, { suspectGrace: 0.5, downAfterIntervals: 3, removeAfterIntervals: 8 });
    const changes: Array<RegistryChange & { seenAt: number }> = [];
    c.onChange((ch) => changes.push({ ...ch, seenAt: Date.now() }));
    const cache = await createRegistryCache({ servers: server.url, prefix }).start();
    cleanup.push(() => cache.stop());
    const proc: FixtureProcess = await startAgentProcess({ NATS_URL: server.url, SB_PREFIX: prefix, SB_HEARTBEAT_MS: String(hb) });
    cleanup.push(() => proc.kill());
    const id = proc.ready;
    await waitFor(() => cache.instances("echo").some((v) => v.instance.id === id), { what: "the cache to list the agent" });
    const other = await agent(prefix, "echo", hb);
    await waitFor(() => cache.instances("echo").length === 2, { what: "both instances in the cache" });

    await proc.kill();
    const killedAt = Date.now();
    await waitFor(() => changes.some((ch) => ch.view.instance.id === id && ch.type === "removed"), { timeoutMs: 5000, what: "removal" });
    const mine = changes.filter((ch) => ch.view.instance.id === id && ch.previous !== null);
    expect(mine.map((ch) => ch.type)).toEqual(["suspect", "down", "removed"]);
    expect(mine.map((ch) => ch.reason)).toEqual(["timeout", "timeout", "timeout"]);
    // Each transition happens at its threshold after the last heartbeat, plus at most a tick (hb/10) and
    // timer lateness on a busy machine.
    const lastSeen = mine[0]!.view.lastSeen;
    const after = mine.map((ch) => ch.at - lastSeen);
    expect(after[0]).toBeGreaterThanOrEqual(1.5 * hb);
    expect(after[0]).toBeLessThan(1.5 * hb + 150);
    expect(after[1]).toBeGreaterThanOrEqual(3 * hb);
    expect(after[1]).toBeLessThan(3 * hb + 150);
    expect(after[2]).toBeGreaterThanOrEqual(8 * hb);
    expect(after[2]).toBeLessThan(8 * hb + 150);
    // The instance left routing within 1.5 intervals of the kill (plus a tick).
    expect(mine[0]!.seenAt - killedAt).toBeLessThan(1.5 * hb + 150);

    // The client cache followed: not live from "suspect" on, gone after "removed"; the other one stayed.
    await waitFor(() => cache.get("echo", id) === undefined, { what: "the cache to drop the instance" });
    expect(cache.instances("echo").map((v) => v.instance.id)).toEqual([other.id]);
    const snap = await queryRegistry(nc, new Subjects(prefix));
    expect(snap.instances.map((v) => v.instance.id)).toEqual([other.id]);
  });

  it("agent.stop() removes the instance at once and publishes the event", async () => {
    const prefix = uniquePrefix();
    const c = await coordinator(prefix);
    const seen = events(prefix);
    await nc.flush();
    const a = await agent(prefix, "echo", 250);
    await waitFor(() => seen.some((e) => e.type === "up" && e.instance.instance.id === a.id), { what: "up event" });
    const stoppedAt = Date.now();
    await a.stop();
    const removed = await waitFor(() => seen.find((e) => e.type === "removed" && e.instance.instance.id === a.id), { what: "removed event" });
    // Well before a single missed heartbeat could have been noticed.
    expect(removed.at - stoppedAt).toBeLessThan(250);
    expect(removed.coordinator).toBe(c.id);
    expect(removed.instance.state).toBe("removed");
    expect(removed.revision).toBe(seen.find((e) => e.type === "up")!.revision + 1);
    expect(c.registry.size).toBe(0);
    expect((await queryRegistry(nc, new Subjects(prefix))).instances).toEqual([]);
  });

  it("an instance it does not know heartbeats → it asks that instance alone to re-announce, and it is back", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const c = await coordinator(prefix);
    const a = await agent(prefix, "echo", 100);
    await waitFor(() => c.registry.get("echo", a.id)?.state === "up", { what: "up" });
    const syncs: unknown[] = [];
    const sub = nc.subscribe(s.sync, { callback: (_e, m) => void syncs.push(m.json()) });
    cleanup.push(async () => sub.unsubscribe());
    await nc.flush();
    await sleep(1100); // past the quiet period after the coordinator's start-up sync
    // Make the coordinator forget it (as if it had never heard the announce): a leave on its subject.
    // Forgetting and coming back can be milliseconds apart, so watch the changes rather than poll.
    const changes: RegistryChange[] = [];
    c.onChange((ch) => changes.push(ch));
    nc.publish(s.leave("echo", a.id), encodeJson({ v: 1, id: a.id, service: "echo" }));
    await waitFor(() => changes.some((ch) => ch.type === "removed" && ch.reason === "leave"), { what: "forgotten" });
    await waitFor(() => changes.some((ch) => ch.type === "up" && ch.previous === null && ch.reason === "announce"), {
      timeoutMs: 2000,
      what: "back after a targeted sync",
    });
    expect(c.registry.get("echo", a.id)?.state).toBe("up");
    expect(syncs).toContainEqual({ v: 1, coordinator: c.id, reason: "unknown-instance", service: "echo", id: a.id });
    expect(c.stats().unknownHeartbeats).toBeGreaterThanOrEqual(1);
  });

  it("registers without an agent (the seed's register): a derived id every time, kept alive by refreshes and heartbeats, expired after its TTL", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const c = await coordinator(prefix);
    const seen = events(prefix);
    await nc.flush();
    const register = async (body: unknown) => {
      const m = await nc.request(s.registryRegister, encodeJson(body), { timeout: 2000 });
      const err = readErrorReply(m);
      if (err) throw new Error(`${err.code}: ${err.message}`);
      const d = decodeMessage("register-reply", m.data);
      if (!d.ok) throw new Error(d.error);
      return d.value;
    };
    const r1 = await register({ v: 1, serviceName: "legacy", serviceAddress: "10.0.0.7:8080", ttlMs: 1000, metadata: { proto: "http" } });
    expect(r1).toMatchObject({ v: 1, status: "success", service: "legacy" });
    const r2 = await register({ v: 1, serviceName: "legacy", serviceAddress: "10.0.0.7:8080", ttlMs: 1000, metadata: { proto: "http" } });
    expect(r2.id).toBe(r1.id);
    const snap = await queryRegistry(nc, s, { service: "legacy" });
    expect(snap.instances).toHaveLength(1);
    expect(snap.instances[0]).toMatchObject({ state: "up", instance: { id: r1.id, service: "legacy", address: "10.0.0.7:8080", metadata: { proto: "http" } } });

    // Heartbeats on its subject keep it alive past its TTL.
    let lastBeat = 0;
    for (let seq = 1; seq <= 8; seq++) {
      lastBeat = Date.now();
      nc.publish(s.heartbeat("legacy", r1.id), encodeJson({ v: 1, id: r1.id, service: "legacy", seq, sentAt: lastBeat, inFlight: 0, status: "ok" }));
      await sleep(200);
    }
    expect(c.registry.get("legacy", r1.id)?.state).toBe("up");
    // Then silence: removed once the TTL has passed since the last heartbeat (which the coordinator
    // received a little after it was published), and not before.
    const gone = await waitFor(() => seen.find((e) => e.type === "removed" && e.instance.instance.id === r1.id), { timeoutMs: 3000, what: "expiry" });
    expect(gone.at - lastBeat).toBeGreaterThanOrEqual(1000);
    expect(seen.filter((e) => e.instance.instance.id === r1.id).map((e) => e.type)).toEqual(["up", "removed"]);
  });

  it("answers queries filtered by service and by state; an empty body means everything", async () => {
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const c = await coordinator(prefix);
    const a1 = await agent(prefix, "alpha");
    await agent(prefix, "beta");
    // A made-up instance that announces once and never heartbeats: suspect soon.
    const ghost = { id: "ghost-1", service: "alpha", version: "1", endpoints: [], heartbeatMs: 50, startedAt: Date.now() };
    nc.publish(s.announce("alpha", "ghost-1"), encodeJson({ v: 1, instance: ghost }));
    await waitFor(() => c.registry.get("alpha", "ghost-1")?.state === "suspect" || c.registry.get("alpha", "ghost-1")?.state === "down", {
      what: "ghost suspect",
    });
    const ids = async (q: Parameters<typeof queryRegistry>[2]) =>
      (await queryRegistry(nc, s, q)).instances.map((v) => v.instance.id).sort();
    expect(await ids({ service: "alpha", states: ["up"] })).toEqual([a1.id]);
    expect(await ids({ service: "alpha" })).toHaveLength(2);
    expect(await ids({ states: ["up"] })).toHaveLength(2);
    expect(await ids({ service: "nobody" })).toEqual([]);
    const raw = await nc.request(s.registryQuery, new Uint8Array(0), { timeout: 2000 });
    const d = decodeMessage("registry-snapshot", raw.data, 1 << 20);
    expect(d.ok && d.value.instances.length).toBe(3);
  });

  it("queryRegistry reports a missing coordinator as such", async () => {
    const prefix = uniquePrefix();
    const err = await queryRegistry(nc, new Subjects(prefix), {}, { timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryQueryError);
    expect((err as RegistryQueryError).reason).toBe("no-coordinator");
  });

  it("a coordinator without JetStream fails to start with advice, or runs alone with jetstream: false", async () => {
    const plain = await startNatsServer({ jetstream: false });
    cleanup.push(() => plain.dispose());
    const prefix = uniquePrefix();
    await expect(createCoordinator({ servers: plain.url, prefix }).start()).rejects.toThrow(/JetStream.*jetstream: false/);
    const c = createCoordinator({ servers: plain.url, prefix, jetstream: false });
    await c.start();
    cleanup.push(() => c.stop());
    expect(c.isLeader).toBe(true);
    const a = createAgent({ service: "echo", servers: plain.url, prefix, heartbeatMs: 100 });
    await a.start();
    cleanup.push(() => a.stop());
    const pnc = await connect({ servers: plain.url });
    cleanup.push(() => pnc.close());
    await waitFor(async () => (await queryRegistry(pnc, new Subjects(prefix))).instances.length === 1, { what: "registry" });
  });
});

/**
 * The coordinator survives what production does to it: its own restart (it resumes from KV), a
 * nats-server restart under everyone, and the death of the leader among two coordinators.
 */
import { afterEach, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { Kvm } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { createCoordinator, leaseBucketName, type Coordinator } from "../../src/coordinator/index.js";
import { createRegistryCache, queryRegistry } from "../../src/client/index.js";
import { Subjects, decodeMessage, encodeJson, type RegistryEvent, type RegistrySnapshot } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startFixture } from "../helpers/processes.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

describe("coordinator resilience on a real nats-server", () => {
  const cleanup = new CleanupStack();
  afterEach(async () => {
    await cleanup.run();
  });

  async function server(): Promise<NatsServer> {
    const s = await startNatsServer();
    cleanup.push(() => s.dispose());
    return s;
  }
  async function conn(url: string): Promise<NatsConnection> {
    const nc = await connect({ servers: url, reconnectTimeWait: 250, maxReconnectAttempts: -1 });
    cleanup.push(() => nc.close());
    return nc;
  }
  async function coordinator(url: string, prefix: string, id?: string): Promise<Coordinator> {
    const c = createCoordinator({ servers: url, prefix, leaseMs: 600, persistIntervalMs: 30, ...(id ? { id } : {}) });
    await c.start();
    cleanup.push(() => c.stop());
    return c;
  }
  async function agent(url: string, prefix: string, heartbeatMs = 100): Promise<Agent> {
    const a = createAgent({ service: "echo", servers: url, prefix, heartbeatMs });
    a.endpoint("echo", (p) => p);
    await a.start();
    cleanup.push(() => a.stop());
    return a;
  }
  const ids = (s: RegistrySnapshot) => s.instances.map((v) => v.instance.id).sort();

  it("a restarted coordinator answers with the previous registry at once (from KV), then converges via sync", async () => {
    const srv = await server();
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const nc = await conn(srv.url);
    const first = await coordinator(srv.url, prefix, "first");
    const [a1, a2, gone] = [await agent(srv.url, prefix), await agent(srv.url, prefix), await agent(srv.url, prefix)];
    await waitFor(() => first.registry.size === 3, { what: "3 instances" });
    const before = await queryRegistry(nc, s);
    await first.stop(); // graceful: pending writes flushed, lease released

    // While no coordinator runs: one instance leaves (unheard), a new one starts (unheard).
    await gone.stop();
    const late = await agent(srv.url, prefix);

    const second = createCoordinator({ servers: srv.url, prefix, leaseMs: 600, id: "second" });
    const startedAt = Date.now();
    await second.start();
    cleanup.push(() => second.stop());
    const atOnce = await queryRegistry(nc, s);
    expect(Date.now() - startedAt).toBeLessThan(2000);
    // The previous registry, as it was: including the instance that left meanwhile, not the new one.
    expect(ids(atOnce)).toEqual(ids(before));
    expect(atOnce.instances.every((v) => v.state === "up")).toBe(true);
    expect(atOnce.revision).toBeGreaterThanOrEqual(before.revision);
    expect(second.isLeader).toBe(true);

    // Then it converges: the new instance re-announces on sync, the departed one times out.
    await waitFor(async () => {
      const snap = await queryRegistry(nc, s, { states: ["up"] });
      return JSON.stringify(ids(snap)) === JSON.stringify([a1.id, a2.id, late.id].sort());
    }, { timeoutMs: 3000, what: "convergence" });
    await waitFor(() => second.registry.get("echo", gone.id) === undefined, { timeoutMs: 3000, what: "removal of the departed instance" });
  });

  it("nats-server restarted under agents, coordinator and cache: all reconnect, the registry is complete within two intervals", async () => {
    const srv = await server();
    const prefix = uniquePrefix();
    const hb = 250;
    const c = await coordinator(srv.url, prefix);
    const agents = [await agent(srv.url, prefix, hb), await agent(srv.url, prefix, hb), await agent(srv.url, prefix, hb)];
    const cache = await createRegistryCache({ servers: srv.url, prefix }).start();
    cleanup.push(() => cache.stop());
    await waitFor(() => cache.instances("echo").length === 3, { what: "3 live in cache" });
    const revisionBefore = c.currentRevision;

    const reconnected = new Set<string>();
    for (const [name, n] of [["coordinator", c.nc], ["cache", cache.nc], ...agents.map((a, i) => [`agent${i}`, a.nc] as const)] as const) {
      void (async () => {
        for await (const st of n.status()) if (st.type === "reconnect") reconnected.add(name);
      })();
    }
    await srv.restart();
    await waitFor(() => reconnected.size === 5, { timeoutMs: 10_000, what: "everyone to reconnect" });
    await sleep(2 * hb);
    const nc = await conn(srv.url);
    const snap = await queryRegistry(nc, new Subjects(prefix), { states: ["up"] });
    expect(ids(snap)).toEqual(agents.map((a) => a.id).sort());
    await waitFor(() => cache.instances("echo").length === 3, { timeoutMs: 2 * hb, what: "cache complete" });
    expect(c.currentRevision).toBeGreaterThanOrEqual(revisionBefore);
    // Still the leader afterwards (its lease survived or was re-acquired), and still publishing.
    await waitFor(() => c.isLeader, { timeoutMs: 2000, what: "leadership" });
    await agents[0]!.stop();
    await waitFor(() => cache.get("echo", agents[0]!.id) === undefined, { what: "cache to see the leave" });
  });

  it("an instance that dies and is removed while no coordinator leads is published with its whole fall when one leads again", async () => {
    const srv = await server();
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const nc = await conn(srv.url);
    const events: RegistryEvent[] = [];
    nc.subscribe(s.registryEvents, {
      callback: (_e, m) => {
        const d = decodeMessage("registry-event", m.data, 1 << 20);
        if (d.ok) events.push(d.value);
      },
    });
    await nc.flush();
    const c = await coordinator(srv.url, prefix);
    const victim = createAgent({ service: "echo", servers: srv.url, prefix, heartbeatMs: 100 });
    await victim.start();
    cleanup.push(() => victim.stop());
    await waitFor(() => events.some((e) => e.type === "up" && e.instance.instance.id === victim.id), { what: "up" });
    // Someone else holds the lease for a while (a JetStream election, a paused rival).
    const kv = await new Kvm(jetstream(nc)).open(leaseBucketName(prefix));
    let stealing = true;
    const thief = (async () => {
      while (stealing) {
        await kv.put("leader", encodeJson({ v: 1, coordinator: "elsewhere", revision: c.currentRevision, at: Date.now() }));
        await sleep(150);
      }
    })();
    await waitFor(() => !c.isLeader, { what: "step down" });
    // Crash: no leave. Suspect, down and removed all happen while nobody publishes.
    await victim.nc.close();
    await waitFor(() => c.registry.get("echo", victim.id) === undefined, { timeoutMs: 5000, what: "removal" });
    expect(events.filter((e) => e.instance.instance.id === victim.id).map((e) => e.type)).toEqual(["up"]);
    stealing = false;
    await thief;
    await waitFor(() => c.isLeader, { timeoutMs: 5000, what: "leadership back" });
    await waitFor(() => events.some((e) => e.type === "removed"), { what: "the replay" });
    const mine = events.filter((e) => e.instance.instance.id === victim.id);
    expect(mine.map((e) => e.type)).toEqual(["up", "suspect", "down", "removed"]);
    // Dated when each step happened, and revisions without gaps.
    const [, suspect, down, removed] = mine;
    expect(down!.at - suspect!.at).toBeGreaterThanOrEqual(140);
    expect(removed!.at).toBeGreaterThanOrEqual(down!.at);
    const revisions = events.map((e) => e.revision);
    expect(revisions).toEqual(revisions.map((_, i) => revisions[0]! + i));
  });

  it("two coordinators answer identically; when the leader is SIGKILLed the other takes over within the lease time and revisions continue", async () => {
    const srv = await server();
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const nc = await conn(srv.url);
    const events: RegistryEvent[] = [];
    nc.subscribe(s.registryEvents, {
      callback: (_e, m) => {
        const d = decodeMessage("registry-event", m.data, 1 << 20);
        if (d.ok) events.push(d.value);
      },
    });
    await nc.flush();

    const leaseMs = 600;
    const proc = await startFixture("coordinator-process.ts", {
      NATS_URL: srv.url,
      SB_PREFIX: prefix,
      SB_COORDINATOR_ID: "proc-leader",
      SB_LEASE_MS: String(leaseMs),
    });
    cleanup.push(() => proc.kill());
    await waitFor(() => /LEADER/.test(proc.output()), { what: "child to lead" });
    const follower = await coordinator(srv.url, prefix, "in-process");
    expect(follower.isLeader).toBe(false);

    const [a1, a2, a3] = [await agent(srv.url, prefix), await agent(srv.url, prefix), await agent(srv.url, prefix)];
    await a3.stop();
    await waitFor(() => events.length >= 4 && follower.registry.size === 2, { what: "events and follower state" });
    expect(events.every((e) => e.coordinator === "proc-leader")).toBe(true);

    // Both answer the same: ask until the queue group has routed a query to each.
    const answers = new Map<string, RegistrySnapshot>();
    await waitFor(async () => {
      const snap = await queryRegistry(nc, s);
      answers.set(snap.coordinator, snap);
      return answers.size === 2;
    }, { what: "an answer from each coordinator" });
    const norm = (snap: RegistrySnapshot) =>
      snap.instances.map((v) => ({ instance: v.instance, state: v.state, status: v.status })).sort((x, y) => (x.instance.id < y.instance.id ? -1 : 1));
    const fromLeader = answers.get("proc-leader")!;
    const fromFollower = answers.get("in-process")!;
    expect(norm(fromFollower)).toEqual(norm(fromLeader));
    expect(fromFollower.revision).toBe(fromLeader.revision);
    expect(fromLeader.leader).toBe(true);
    expect(fromFollower.leader).toBe(false);
    expect(ids(fromLeader)).toEqual([a1.id, a2.id].sort());

    // Crash the leader: no lease release, no last writes.
    const lastRevision = events[events.length - 1]!.revision;
    await proc.kill();
    const killedAt = Date.now();
    await waitFor(() => follower.isLeader, { timeoutMs: 5000, intervalMs: 5, what: "takeover" });
    const takeoverMs = Date.now() - killedAt;
    // Lease expiry + at most one renewal round (leaseMs/3) + scheduling slack.
    expect(takeoverMs).toBeLessThan(leaseMs + leaseMs / 3 + 400);

    await a2.stop();
    const removed = await waitFor(() => events.find((e) => e.type === "removed" && e.instance.instance.id === a2.id), { what: "event from the new leader" });
    expect(removed.coordinator).toBe("in-process");
    // Revisions continue across the change of leader: no gap, no repeat.
    const revisions = events.map((e) => e.revision);
    expect(revisions).toEqual(revisions.map((_, i) => revisions[0]! + i));
    expect(removed.revision).toBeGreaterThan(lastRevision);
    const snap = await queryRegistry(nc, s);
    expect(snap.coordinator).toBe("in-process");
    expect(snap.leader).toBe(true);
    expect(ids(snap)).toEqual([a1.id]);
  });
});

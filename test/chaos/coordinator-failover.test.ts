/**
 * Chaos: the leading coordinator is SIGKILLed (a crash: no lease release, no last writes) while an
 * instance dies at the same moment and calls keep flowing. Another coordinator takes over the events
 * within the lease time, the event revisions continue without a gap or repeat, the clients' caches
 * follow (no gap, or a resync), and no call fails. Repeated for several rounds, each with a fresh
 * coordinator process joining as the new follower.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createClient, queryRegistry, type Client, type RegistryCache } from "../../src/client/index.js";
import { Subjects, decodeMessage, type RegistryEvent } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, startFixture, type FixtureProcess } from "../helpers/processes.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";
import { startLoad } from "./load.js";

const LEASE_MS = 600;
const HEARTBEAT_MS = 100;
const ROUNDS = 3;

/** The last leadership line a coordinator process printed (it prints only changes: a process that never led printed none). */
const role = (p: FixtureProcess) => [...p.output().matchAll(/^(LEADER|FOLLOWER) \d+$/gm)].pop()?.[1] ?? "FOLLOWER";

describe("chaos: the leading coordinator is SIGKILLed", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const clients: Client[] = [];
  const prefix = uniquePrefix();
  const s = new Subjects(prefix);
  const coordinators: FixtureProcess[] = [];
  const agents: FixtureProcess[] = [];
  const dead: FixtureProcess[] = [];
  const events: Array<RegistryEvent & { receivedAt: number }> = [];
  let nextCoordinator = 1;

  const startCoordinator = async () => {
    const p = await startFixture("coordinator-process.ts", {
      NATS_URL: server.url,
      SB_PREFIX: prefix,
      SB_COORDINATOR_ID: `coord-${nextCoordinator++}`,
      SB_LEASE_MS: String(LEASE_MS),
    });
    coordinators.push(p);
    return p;
  };
  const startAgent = async () => {
    const p = await startAgentProcess({ NATS_URL: server.url, SB_PREFIX: prefix, SB_HEARTBEAT_MS: String(HEARTBEAT_MS) });
    agents.push(p);
    return p;
  };

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    nc.subscribe(s.registryEvents, {
      callback: (_e, m) => {
        const d = decodeMessage("registry-event", m.data, 1 << 20);
        if (d.ok) events.push({ ...d.value, receivedAt: Date.now() });
      },
    });
    await nc.flush();
    await startCoordinator();
    await waitFor(() => role(coordinators[0]!) === "LEADER", { what: "the first coordinator to lead" });
    await startCoordinator();
    expect(role(coordinators[1]!)).toBe("FOLLOWER");
    await Promise.all([startAgent(), startAgent(), startAgent()]);
    for (let i = 0; i < 2; i++) {
      clients.push(await createClient({ servers: server.url, prefix, timeoutMs: 250, backoff: { baseMs: 5, capMs: 50 } }).start());
    }
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all([...coordinators, ...agents, ...dead].map((p) => p.kill()));
    await nc?.close();
    await server?.dispose();
  });

  it(`${ROUNDS} leader crashes, each with an instance dying at the same moment: takeover within the lease, no event gap, no failed call`, async () => {
    const caches = clients.map((c) => c.registry as RegistryCache);
    const liveIds = () => agents.map((a) => a.ready).sort();
    const routedIds = (c: RegistryCache) => c.instances("echo").map((v) => v.instance.id).sort();
    const converged = () => caches.every((c) => JSON.stringify(routedIds(c)) === JSON.stringify(liveIds()));
    await waitFor(converged, { what: "both clients route every instance" });
    const gapsBefore = caches.map((c) => c.stats().gaps);
    const snapshotsBefore = caches.map((c) => c.stats().snapshots);

    // When each instance left a client's routing.
    const leftRoutingAt = new Map<string, number>();
    caches[0]!.onChange((c) => {
      if (c.previous === "up" && c.type !== "up" && !leftRoutingAt.has(c.id)) leftRoutingAt.set(c.id, Date.now());
    });
    const victimsLeft: number[] = [];

    const loads = clients.map((c) => startLoad(c, { concurrency: 4, pauseMs: 2 }));
    await Promise.all(loads.map((l) => l.successes(100)));
    const takeovers: number[] = [];
    const firstEvents: number[] = [];
    const convergences: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const leader = coordinators.find((p) => role(p) === "LEADER")!;
      const follower = coordinators.find((p) => p !== leader && role(p) === "FOLLOWER")!;
      expect(leader, `round ${round}: a leader`).toBeDefined();
      expect(follower, `round ${round}: a follower`).toBeDefined();
      const leaderId = /READY (\S+)/.exec(leader.output())![1]!;
      const followerId = /READY (\S+)/.exec(follower.output())![1]!;
      const victim = agents.splice(Math.floor(Math.random() * agents.length), 1)[0]!;
      const eventsBefore = events.length;

      // Crash the leader and an instance together: the instance's fall happens with nobody leading.
      const killedAt = Date.now();
      await Promise.all([leader.kill(), victim.kill()]);
      coordinators.splice(coordinators.indexOf(leader), 1);
      dead.push(leader, victim);
      await waitFor(() => role(follower) === "LEADER", { timeoutMs: 5000, intervalMs: 5, what: `round ${round}: takeover` });
      takeovers.push(Date.now() - killedAt);
      await startAgent();
      await waitFor(converged, { timeoutMs: 10_000, what: `round ${round}: both clients converge` });
      convergences.push(Date.now() - killedAt);
      const fresh = events.slice(eventsBefore);
      const fromNewLeader = fresh.filter((e) => e.coordinator === followerId);
      expect(fromNewLeader.length, `round ${round}: events from the new leader`).toBeGreaterThan(0);
      expect(fresh.filter((e) => e.coordinator === leaderId && e.receivedAt > killedAt + 50)).toEqual([]);
      firstEvents.push(fromNewLeader[0]!.receivedAt - killedAt);
      victimsLeft.push(leftRoutingAt.get(victim.ready)! - killedAt);
      // The victim's departure was published (by whoever led when it was detected).
      expect(fresh.some((e) => e.instance.instance.id === victim.ready && e.type !== "up")).toBe(true);
      // A new follower joins, so the next round again has a leader to kill.
      await startCoordinator();
      expect(role(coordinators[coordinators.length - 1]!)).toBe("FOLLOWER");
      await Promise.all(loads.map((l) => l.successes(50)));
    }
    const reports = await Promise.all(loads.map((l) => l.stop()));

    // Revisions: one sequence across every leader, no gap, no repeat.
    const revisions = events.map((e) => e.revision);
    expect(revisions).toEqual(revisions.map((_, i) => revisions[0]! + i));
    const leaders = new Set(events.map((e) => e.coordinator));
    expect(leaders.size).toBe(ROUNDS + 1);
    // Each client cache is at the last revision with the registry's content: it saw every event or resynced.
    const snap = await queryRegistry(nc, s, { states: ["up"] });
    for (const [i, c] of caches.entries()) {
      await waitFor(() => c.currentRevision === revisions[revisions.length - 1], { what: `client ${i} at the last revision` });
      expect(routedIds(c)).toEqual(snap.instances.map((v) => v.instance.id).sort());
    }
    const gaps = caches.map((c, i) => c.stats().gaps - gapsBefore[i]!);
    const resyncs = caches.map((c, i) => c.stats().snapshots - snapshotsBefore[i]!);
    const calls = reports.reduce((a, r) => a + r.calls, 0);
    const failed = reports.reduce((a, r) => a + r.failed, 0);
    console.log(
      `coordinator failover: ${ROUNDS} leader SIGKILLs (lease ${LEASE_MS} ms), takeover: ${takeovers.join(", ")} ms, ` +
        `first event from the new leader: ${firstEvents.join(", ")} ms, ` +
        `the instance killed with the leader left routing after ${victimsLeft.join(", ")} ms, clients converged: ${convergences.join(", ")} ms after the kill, ` +
        `${revisions.length} events with contiguous revisions ${revisions[0]}..${revisions[revisions.length - 1]}, ` +
        `client revision gaps: ${gaps.join("/")}, resyncs: ${resyncs.join("/")}, calls: ${calls}, failed calls: ${failed}`,
    );
    expect(reports.flatMap((r) => r.errors)).toEqual([]);
    expect(failed).toBe(0);
    // Within the lease: it expires at most LEASE_MS after the last renewal, and the follower tries every LEASE_MS/3.
    for (const t of takeovers) expect(t).toBeLessThan(LEASE_MS + LEASE_MS / 3 + 400);
  }, 90_000);
});

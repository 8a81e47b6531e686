/**
 * Chaos: instance processes SIGKILLed and restarted in a loop under a steady load of idempotent
 * calls. Zero calls may fail, and after every round the registry converges: the client's routing and
 * the coordinator's registry list exactly the live instances.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, queryRegistry, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { Subjects } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, type FixtureProcess } from "../helpers/processes.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { startLoad } from "./load.js";

const HEARTBEAT_MS = 100;
const ROUNDS = 10;
const INSTANCES = 3;

describe("chaos: instances SIGKILLed and restarted in a loop under load", () => {
  let server: NatsServer;
  let coordinator: Coordinator;
  let client: Client;
  const prefix = uniquePrefix();
  const live: FixtureProcess[] = [];
  const killed: FixtureProcess[] = [];

  const spawn = () => startAgentProcess({ NATS_URL: server.url, SB_PREFIX: prefix, SB_HEARTBEAT_MS: String(HEARTBEAT_MS) });

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: false });
    coordinator = createCoordinator({ servers: server.url, prefix, jetstream: false });
    await coordinator.start();
    live.push(...(await Promise.all(Array.from({ length: INSTANCES }, spawn))));
    client = await createClient({
      servers: server.url,
      prefix,
      // A request swallowed by a killed process times out after this, then goes elsewhere.
      timeoutMs: 250,
      backoff: { baseMs: 5, capMs: 50 },
    }).start();
  });
  afterAll(async () => {
    await client?.stop();
    await Promise.all([...live, ...killed].map((p) => p.kill()));
    await coordinator?.stop();
    await server?.dispose();
  });

  it(`${ROUNDS} kill/restart rounds: zero failed calls, routing and registry converge every round`, async () => {
    const cache = client.registry as RegistryCache;
    const routed = () => new Set(cache.instances("echo").map((v) => v.instance.id));
    const liveIds = () => new Set(live.map((p) => p.ready));
    const same = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));
    await waitFor(() => same(routed(), liveIds()), { what: "every instance routed" });

    // When each killed instance left the client's routing (its first change away from `up` after the
    // kill; on a busy machine a live instance may also turn suspect for a moment and come back).
    const killedAt = new Map<string, number>();
    const leftRoutingAt = new Map<string, number>();
    cache.onChange((c) => {
      if (killedAt.has(c.id) && c.previous === "up" && c.type !== "up" && !leftRoutingAt.has(c.id)) leftRoutingAt.set(c.id, Date.now());
    });

    const load = startLoad(client, { concurrency: 8, pauseMs: 2 });
    await load.successes(200);
    const removals: number[] = [];
    const convergences: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
      const beforeKill = load.report.succeeded;
      killedAt.set(victim.ready, Date.now());
      await victim.kill();
      killed.push(victim);
      // The replacement starts at once (a supervisor restarting the crashed service).
      const replacement = await spawn();
      live.push(replacement);
      await waitFor(() => same(routed(), liveIds()), { timeoutMs: 10_000, what: `routing to converge in round ${round + 1}` });
      convergences.push(Date.now() - killedAt.get(victim.ready)!);
      removals.push(leftRoutingAt.get(victim.ready)! - killedAt.get(victim.ready)!);
      // Steady state between rounds; the load keeps going through all of it.
      await load.successes(100);
      expect(load.report.succeeded).toBeGreaterThan(beforeKill);
    }
    const report = await load.stop();

    // The coordinator converges too: only the live instances, every killed one removed (10 intervals).
    await waitFor(
      async () => {
        const snap = await queryRegistry(client.nc, new Subjects(prefix));
        return same(new Set(snap.instances.map((v) => v.instance.id)), liveIds()) && snap.instances.every((v) => v.state === "up");
      },
      { timeoutMs: 5000, what: "the coordinator's registry to hold exactly the live instances" },
    );
    expect(same(routed(), liveIds())).toBe(true);

    const stats = client.stats();
    console.log(
      `instance churn: ${ROUNDS} SIGKILL+restart rounds, heartbeat ${HEARTBEAT_MS} ms, ${report.calls} calls, ` +
        `failed calls: ${report.failed}, retries: ${stats.retries} (no responders ${stats.noResponders}, timeouts ${stats.timeouts}), ` +
        `left routing after kill: max ${Math.max(...removals)} ms / mean ${Math.round(removals.reduce((a, b) => a + b, 0) / removals.length)} ms, ` +
        `convergence (replacement routed, victim gone): max ${Math.max(...convergences)} ms, ` +
        `longest gap between replies: ${report.longestGapMs} ms`,
    );
    expect(report.errors).toEqual([]);
    expect(report.failed).toBe(0);
    expect(stats.failed).toBe(0);
    // Every victim served calls before it died, and left routing (it was not just waited out).
    for (const v of killed) expect(report.byInstance.get(v.ready) ?? 0, `calls served by ${v.ready}`).toBeGreaterThan(0);
    expect(removals.every((ms) => Number.isFinite(ms) && ms >= 0)).toBe(true);
  }, 90_000);
});

/**
 * Graceful drain with real processes: a rolling restart of the 3 instances of a service (each one
 * SIGTERM → drain → exit, then a new one) under 500 calls/s of non-idempotent calls fails no call;
 * and `agent.drain()` takes an instance out of every client's routing as soon as the registry
 * publishes `draining`, while it still finishes the requests it holds.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAgent } from "../../src/agent/index.js";
import { createClient, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator } from "../../src/coordinator/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, type FixtureProcess } from "../helpers/processes.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
});
afterAll(async () => {
  await server?.dispose();
});
const cleanup = new CleanupStack();
afterEach(async () => {
  await cleanup.run();
});

async function coordinator(prefix: string): Promise<void> {
  const c = createCoordinator({ servers: server.url, prefix, jetstream: false });
  await c.start();
  cleanup.push(() => c.stop());
}

async function client(prefix: string): Promise<Client> {
  const c = await createClient({ servers: server.url, prefix, timeoutMs: 2000, deadlineMs: 10_000, backoff: { baseMs: 5, capMs: 50 } }).start();
  cleanup.push(() => c.stop());
  return c;
}

const upIds = (c: Client) => (c.registry as RegistryCache).instances("echo").map((v) => v.instance.id).sort();

describe("graceful drain", () => {
  it("rolling restart of 3 instance processes under 500 calls/s: 0 failed calls, non-idempotent included", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    const env = { NATS_URL: server.url, SB_PREFIX: prefix, SB_HEARTBEAT_MS: "100", SB_DELAY_MS: "5", SB_DRAIN: "1" };
    const procs: FixtureProcess[] = [];
    const spawnOne = async () => {
      const p = await startAgentProcess(env);
      procs.push(p);
      cleanup.push(() => p.kill());
      return p;
    };
    const first = await Promise.all([spawnOne(), spawnOne(), spawnOne()]);
    const c = await client(prefix);
    await waitFor(() => upIds(c).length === 3, { timeoutMs: 20_000, what: "3 instances routed" });

    // 5 calls every 10 ms (500/s), none idempotent; every outcome recorded.
    const failures: string[] = [];
    const pending = new Set<Promise<unknown>>();
    let sent = 0;
    let ok = 0;
    const byInstance = new Map<string, number>();
    const timer = setInterval(() => {
      for (let i = 0; i < 5; i++) {
        const n = sent++;
        const p = c.call("echo", "whoami", n).then(
          (id) => {
            ok++;
            byInstance.set(id as string, (byInstance.get(id as string) ?? 0) + 1);
          },
          (err: Error) => failures.push(`${err.name}: ${err.message}`),
        );
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
    }, 10);
    try {
      await sleep(500);
      for (const old of first) {
        const before = upIds(c);
        await old.stop(); // SIGTERM: the fixture drains, then exits
        const fresh = await spawnOne();
        await waitFor(() => upIds(c).includes(fresh.ready) && upIds(c).length === 3, { timeoutMs: 20_000, what: `replacement of ${old.ready} routed` });
        expect(before).toContain(old.ready);
        expect(upIds(c)).not.toContain(old.ready);
      }
      await sleep(500);
    } finally {
      clearInterval(timer);
    }
    await Promise.all([...pending]);
    expect(failures.slice(0, 5)).toEqual([]);
    expect(ok).toBe(sent);
    // The load really was there, and every generation of instances served some of it.
    expect(sent).toBeGreaterThan(1500);
    for (const p of procs) expect(byInstance.get(p.ready) ?? 0, `calls served by ${p.ready}`).toBeGreaterThan(0);
  });

  it("drain(): clients stop routing to the instance on the registry event; requests in flight finish", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const make = (id: string) => {
      const a = createAgent({ servers: server.url, prefix, service: "echo", heartbeatMs: 250, id, tags: [id] });
      a.endpoint("whoami", () => a.id);
      a.endpoint("hold", async () => {
        await gate;
        return a.id;
      });
      cleanup.push(() => a.stop());
      return a.start();
    };
    const [leaving] = await Promise.all([make("leaving"), make("staying")]);
    const c = await client(prefix);
    await waitFor(() => upIds(c).length === 2, { what: "2 instances routed" });
    const held = c.call("echo", "hold", null, { tags: ["leaving"], timeoutMs: 8000 });
    await waitFor(() => leaving.inFlight === 1, { what: "a request held by 'leaving'" });
    const drained = leaving.drain({ deadlineMs: 8000, settleMs: 100 });
    // The client drops it from routing on the draining event, before the instance leaves.
    await waitFor(() => (c.registry as RegistryCache).instances("echo").find((v) => v.instance.id === "leaving")?.status === "draining", {
      what: "the draining status in the client's registry",
    });
    for (let i = 0; i < 50; i++) expect(await c.call("echo", "whoami", null)).toBe("staying");
    release();
    expect(await held).toBe("leaving"); // finished during the drain, not cut off
    await drained;
    await waitFor(() => upIds(c).join() === "staying", { what: "'leaving' gone from the registry" });
  });
});

/**
 * Failures of real instance processes under load: a SIGKILLed instance costs retries, never a failed
 * idempotent call; with every instance gone the call fails with UnavailableError after the allowed
 * attempts and within its deadline.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UnavailableError, createClient, type CallError, type Client, type RegistryCache, type RetryEvent } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, type FixtureProcess } from "../helpers/processes.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

/** For a call expected to fail: a success is a test failure. */
function unexpected(value: unknown): never {
  throw new Error(`expected the call to fail, it returned ${JSON.stringify(value)}`);
}

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
});
afterAll(async () => {
  await server?.dispose();
});

async function setup(n: number) {
  const prefix = uniquePrefix();
  const coordinator: Coordinator = createCoordinator({ servers: server.url, prefix, jetstream: false });
  await coordinator.start();
  const procs: FixtureProcess[] = await Promise.all(
    Array.from({ length: n }, () => startAgentProcess({ NATS_URL: server.url, SB_PREFIX: prefix, SB_HEARTBEAT_MS: "100" })),
  );
  const client: Client = await createClient({
    servers: server.url,
    prefix,
    timeoutMs: 300, // requests lost inside the killed process time out after this, then are retried
    deadlineMs: 10_000,
    backoff: { baseMs: 5, capMs: 50 },
  }).start();
  await waitFor(() => (client.registry as RegistryCache).instances("echo").length === n, { what: `${n} instances routed` });
  const dispose = async () => {
    await client.stop();
    await Promise.all(procs.map((p) => p.kill()));
    await coordinator.stop();
  };
  return { prefix, coordinator, procs, client, dispose };
}

describe("instance killed under load", () => {
  it("SIGKILL one of three instance processes in the middle of 2 000 idempotent calls at concurrency 32: zero failed calls", async () => {
    const { procs, client, dispose } = await setup(3);
    try {
      const victim = procs[1]!;
      const retries: RetryEvent[] = [];
      client.onRetry((e) => retries.push(e));
      const total = 2000;
      let started = 0;
      let done = 0;
      const failures: Error[] = [];
      const perInstance = new Map<string, number>();
      let killed: Promise<void> | undefined;
      let doneAtKill = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (started < total) {
            const i = started++;
            try {
              await client.call("echo", "whoami", { i }, { idempotent: true }).then((id) => perInstance.set(id as string, (perInstance.get(id as string) ?? 0) + 1));
            } catch (e) {
              failures.push(e as Error);
            }
            done++;
            if (done === 700 && !killed) {
              doneAtKill = done;
              killed = victim.kill();
            }
          }
        }),
      );
      await killed;
      expect(doneAtKill).toBe(700);
      expect(failures.map((e) => `${e.name}: ${e.message}`)).toEqual([]);
      expect(done).toBe(total);
      // The killed instance served calls before the kill and the survivors took over after it.
      expect(perInstance.get(victim.ready)!).toBeGreaterThan(0);
      expect([...perInstance.values()].reduce((a, b) => a + b, 0)).toBe(total);
      // The kill cost retries (no responders and, for requests lost inside it, timeouts), not errors.
      expect(retries.length).toBeGreaterThan(0);
      expect(retries.every((r) => r.failed.instance === victim.ready || r.failed.instance === null)).toBe(true);
      const s = client.stats();
      expect(s.failed).toBe(0);
      expect(s.succeeded).toBe(total);
      // It leaves routing once the coordinator marks it suspect.
      await waitFor(() => !(client.registry as RegistryCache).instances("echo").some((v) => v.instance.id === victim.ready), {
        what: "the killed instance to leave routing",
      });
    } finally {
      await dispose();
    }
  });
});

describe("every instance down", () => {
  it("fails with UnavailableError after the allowed attempts, within the deadline", async () => {
    const { procs, client, dispose } = await setup(2);
    try {
      await Promise.all(procs.map((p) => p.kill()));
      const t0 = performance.now();
      const err = await client.call("echo", "echo", { x: 1 }, { maxAttempts: 4, deadlineMs: 3000, idempotent: true }).then(unexpected, (e: CallError) => e);
      const elapsed = performance.now() - t0;
      expect(err).toBeInstanceOf(UnavailableError);
      expect(err.attempts).toHaveLength(4);
      expect(err.attempts.every((a: { outcome: string }) => a.outcome === "no-responders")).toBe(true);
      expect(err.message).toMatch(/after 4 attempts/);
      expect(elapsed).toBeLessThan(3000);
      // Consecutive attempts never went to the same instance (while the registry still listed two).
      const ids = err.attempts.map((a: { instance: string | null }) => a.instance);
      for (let i = 1; i < ids.length; i++) if (ids[i] !== null) expect(ids[i]).not.toBe(ids[i - 1]);
    } finally {
      await dispose();
    }
  });
});

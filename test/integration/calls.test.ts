/**
 * Balanced calls end to end: a real nats-server, a real coordinator, real agents, and the client's
 * own registry cache. Distribution per strategy, consistent-hash stickiness, steering away from a slow
 * instance, remote errors, breakers, the retry budget, garbage replies, deadlines and late replies.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAgent, type Agent } from "../../src/agent/index.js";
import {
  BadReplyError,
  BadRequestError,
  type CallError,
  RemoteError,
  TimeoutError,
  UnavailableError,
  createClient,
  type Client,
  type ClientOptions,
  type InstanceStateChange,
  type RegistryCache,
} from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { ServiceError, connectNats, type InstanceView } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

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

/** Things a test started, stopped after it in reverse order. */
const cleanup = new CleanupStack();
afterEach(async () => {
  await cleanup.run();
});

async function coordinator(prefix: string): Promise<Coordinator> {
  const c = createCoordinator({ servers: server.url, prefix, jetstream: false });
  await c.start();
  cleanup.push(() => c.stop());
  return c;
}

/**
 * Heartbeat of the in-process agents: 250 ms, so that a test process starved of CPU for a moment
 * (the machine is shared) does not make the coordinator suspect an instance in the middle of a
 * distribution count.
 */
const HEARTBEAT_MS = 250;

/** An in-process echo agent replying `{ from: <instance id>, payload }`; `delayMs` slows its `echo` endpoint. */
async function agent(prefix: string, opts: { delayMs?: number; service?: string; setup?: (a: Agent) => void } = {}): Promise<Agent> {
  const a = createAgent({ servers: server.url, prefix, service: opts.service ?? "echo", heartbeatMs: HEARTBEAT_MS });
  a.endpoint("echo", async (payload) => {
    if (opts.delayMs) await sleep(opts.delayMs);
    return { from: a.id, payload };
  });
  opts.setup?.(a);
  await a.start();
  cleanup.push(() => a.stop());
  return a;
}

async function client(prefix: string, opts: Partial<ClientOptions> = {}): Promise<Client> {
  const c = await createClient({ servers: server.url, prefix, backoff: { baseMs: 5, capMs: 50 }, ...opts } as ClientOptions).start();
  cleanup.push(() => c.stop());
  return c;
}

async function untilRouted(c: Client, n: number, service = "echo"): Promise<void> {
  await waitFor(() => (c.registry as RegistryCache).instances(service).length === n, { timeoutMs: 20_000, what: `${n} ${service} instances in the client's registry` });
}

/** Registry changes the client sees from now on (a distribution count is only exact without any). */
function watchChanges(c: Client): string[] {
  const seen: string[] = [];
  (c.registry as RegistryCache).onChange((ch) => seen.push(`${ch.id.slice(0, 8)} ${ch.previous}→${ch.type}`));
  return seen;
}

/** Runs `total` calls with `concurrency` callers; returns the `from` counts and the errors. */
async function load(c: Client, total: number, concurrency: number, opts: Parameters<Client["call"]>[3] = {}, payload: (i: number) => unknown = (i) => i) {
  const counts = new Map<string, number>();
  const errors: Error[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        try {
          const r = (await c.call("echo", "echo", payload(i), opts as never)) as { from: string };
          counts.set(r.from, (counts.get(r.from) ?? 0) + 1);
        } catch (e) {
          errors.push(e as Error);
        }
      }
    }),
  );
  return { counts, errors };
}

describe("distribution over 3 instances (3 000 calls each)", () => {
  it("round-robin: exactly even (tolerance ±1 %)", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    const agents = await Promise.all([agent(prefix), agent(prefix), agent(prefix)]);
    const c = await client(prefix, { strategy: "round-robin" });
    await untilRouted(c, 3);
    const changes = watchChanges(c);
    const { counts, errors } = await load(c, 3000, 16);
    expect(errors).toEqual([]);
    expect(changes, "membership must not change during the count").toEqual([]);
    for (const a of agents) {
      expect(counts.get(a.id)!).toBeGreaterThanOrEqual(990);
      expect(counts.get(a.id)!).toBeLessThanOrEqual(1010);
    }
  });

  it("random: each instance within ±10 % of its third (about 4 standard deviations)", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    const agents = await Promise.all([agent(prefix), agent(prefix), agent(prefix)]);
    const c = await client(prefix, { strategy: "random" });
    await untilRouted(c, 3);
    const { counts, errors } = await load(c, 3000, 16);
    expect(errors).toEqual([]);
    for (const a of agents) {
      expect(counts.get(a.id)!).toBeGreaterThanOrEqual(900);
      expect(counts.get(a.id)!).toBeLessThanOrEqual(1100);
    }
  });

  it("weighted: shares follow the instance weights 1:2:3", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    const make = async (weight: number) => {
      const a = createAgent({ servers: server.url, prefix, service: "echo", heartbeatMs: HEARTBEAT_MS, weight });
      a.endpoint("echo", () => ({ from: a.id }));
      await a.start();
      cleanup.push(() => a.stop());
      return a;
    };
    const [a1, a2, a3] = await Promise.all([make(1), make(2), make(3)]);
    const c = await client(prefix, { strategy: "weighted" });
    await untilRouted(c, 3);
    const changes = watchChanges(c);
    const { counts, errors } = await load(c, 3000, 16);
    expect(errors).toEqual([]);
    expect(changes, "membership must not change during the count").toEqual([]);
    expect(counts.get(a1!.id)).toBe(500);
    expect(counts.get(a2!.id)).toBe(1000);
    expect(counts.get(a3!.id)).toBe(1500);
  });
});

describe("consistent hash", () => {
  it("keeps each key on one instance; a 4th instance moves between 15 % and 35 % of 1 000 keys, all to it", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    await Promise.all([agent(prefix), agent(prefix), agent(prefix)]);
    const c = await client(prefix, { strategy: "consistent-hash" });
    await untilRouted(c, 3);
    const keys = Array.from({ length: 1000 }, (_, i) => `order-${i}`);
    const owner = async () => {
      const m = new Map<string, string>();
      let i = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (i < keys.length) {
            const k = keys[i++]!;
            const r = (await c.call("echo", "echo", k, { key: k })) as { from: string };
            m.set(k, r.from);
          }
        }),
      );
      return m;
    };
    const first = await owner();
    const again = await owner();
    expect(again).toEqual(first); // stickiness
    const fourth = await agent(prefix);
    await untilRouted(c, 4);
    const after = await owner();
    const moved = keys.filter((k) => after.get(k) !== first.get(k));
    expect(moved.length).toBeGreaterThanOrEqual(150);
    expect(moved.length).toBeLessThanOrEqual(350);
    for (const k of moved) expect(after.get(k)).toBe(fourth.id);
  });
});

describe("steering away from a slow instance", () => {
  for (const strategy of ["least-response-time", "p2c-ewma"] as const) {
    it(`${strategy}: an instance 50 ms slower gets under 10 % of 1 500 calls`, async () => {
      const prefix = uniquePrefix();
      await coordinator(prefix);
      const slow = await agent(prefix, { delayMs: 50 });
      await Promise.all([agent(prefix), agent(prefix)]);
      const c = await client(prefix, { strategy });
      await untilRouted(c, 3);
      const { counts, errors } = await load(c, 1500, 8);
      expect(errors).toEqual([]);
      const share = (counts.get(slow.id) ?? 0) / 1500;
      expect(share).toBeLessThan(0.1);
    });
  }
});

describe("p2c-ewma without starvation", () => {
  it("two equal instances each get 35–65 % of 1 000 sequential calls", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    const [a] = await Promise.all([agent(prefix), agent(prefix)]);
    const c = await client(prefix, { strategy: "p2c-ewma" });
    await untilRouted(c, 2);
    const { counts, errors } = await load(c, 1000, 1);
    expect(errors).toEqual([]);
    const share = (counts.get(a!.id) ?? 0) / 1000;
    expect(share, JSON.stringify([...counts])).toBeGreaterThanOrEqual(0.35);
    expect(share, JSON.stringify([...counts])).toBeLessThanOrEqual(0.65);
  });
});

describe("errors", () => {
  it("a handler that throws: RemoteError with the callee's message, not retried; retryable ServiceError is retried", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    let plainCalls = 0;
    let retryableCalls = 0;
    await agent(prefix, {
      setup: (a) => {
        a.endpoint("boom", () => {
          plainCalls++;
          throw new Error("the disk is full");
        });
        a.endpoint("stock", () => {
          retryableCalls++;
          throw new ServiceError("OUT_OF_STOCK", "no more widgets here", true);
        });
      },
    });
    const c = await client(prefix, { maxAttempts: 3 });
    await untilRouted(c, 1);
    const err = await c.call("echo", "boom", {}, { idempotent: true }).then(unexpected, (e: CallError) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toMatchObject({ code: "INTERNAL", message: "the disk is full", retryable: false });
    expect(err.attempts).toHaveLength(1);
    expect(plainCalls).toBe(1);

    const err2 = await c.call("echo", "stock", {}).then(unexpected, (e: CallError) => e);
    expect(err2).toBeInstanceOf(RemoteError);
    expect(err2).toMatchObject({ code: "OUT_OF_STOCK", message: "no more widgets here", retryable: true });
    expect(retryableCalls).toBe(3);
  });

  it("a non-JSON request body is refused by the agent as BAD_REQUEST → BadRequestError; unknown endpoint → RemoteError NOT_FOUND", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    await agent(prefix);
    const c = await client(prefix);
    await untilRouted(c, 1);
    const nf = await c.call("echo", "nope", {}).then(unexpected, (e: CallError) => e);
    // The registry knows the instance does not serve `nope`: the call goes to the queue group, where
    // the agent subscribes only to its endpoints → no responders → UnavailableError.
    expect(nf).toBeInstanceOf(UnavailableError);
    const bad = await c.call("echo", "bad name", {}).then(unexpected, (e: CallError) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
  });

  it("garbage replies from a rogue responder give a clear BadReplyError, and the client keeps working", async () => {
    const prefix = uniquePrefix();
    const nc: NatsConnection = await connectNats({ servers: server.url });
    cleanup.push(() => nc.close());
    const rogue = nc.subscribe(`${prefix}.inst.echo.rogue.echo`, { callback: (_e, m) => void m.respond(new TextEncoder().encode("<html>500</html>")) });
    const half = nc.subscribe(`${prefix}.inst.echo.honest.echo`, { callback: (_e, m) => void m.respond(m.data) });
    const view = (id: string): InstanceView => ({
      instance: { id, service: "echo", version: "1", endpoints: ["echo"], heartbeatMs: 100, startedAt: 0 },
      state: "up",
      since: 0,
      lastSeen: 0,
      seq: 1,
      inFlight: 0,
      status: "ok",
    });
    let views = [view("rogue")];
    const c = await client(prefix, { registry: { instances: () => views } });
    await nc.flush();
    const err = await c.call("echo", "echo", { a: 1 }).then(unexpected, (e: CallError) => e);
    expect(err).toBeInstanceOf(BadReplyError);
    expect(err.message).toMatch(/reply from instance rogue is not valid JSON \(16 bytes\)/);
    expect(c.stats().badReplies).toBe(1);
    // Idempotent calls go on to an honest instance.
    views = [view("rogue"), view("honest")];
    for (let i = 0; i < 20; i++) expect(await c.call("echo", "echo", { i }, { idempotent: true, strategy: "round-robin" })).toEqual({ i });
    rogue.unsubscribe();

    // A flood on the client's reply subjects (duplicates, unknown and malformed tokens, status
    // messages, empty bodies) is dropped and counted; pending calls are unaffected.
    const flood = nc.subscribe(`${prefix}.inst.echo.flood.echo`, {
      callback: (_e, m) => {
        const base = m.reply!.slice(0, m.reply!.lastIndexOf(".") + 1);
        for (let i = 0; i < 2000; i++) {
          nc.publish(m.reply!, new TextEncoder().encode("x".repeat(1 + (i % 50))));
          nc.publish(`${base}${["ZZZ", "zzzzzzzzzzzz", "-1", (i * 7919).toString(36)][i % 4]}`, new Uint8Array(i % 3));
        }
        m.respond(new TextEncoder().encode(JSON.stringify({ ok: true })));
      },
    });
    await nc.flush();
    views = [view("flood")];
    const late0 = c.stats().lateReplies;
    const first = await c.call("echo", "echo", 1).then(unexpected, (e: CallError) => e);
    expect(first).toBeInstanceOf(BadReplyError); // the first message on the reply subject is "x": not JSON
    await waitFor(() => c.stats().lateReplies - late0 >= 3999, { what: "the flood to be dropped" });
    views = [view("honest")];
    expect(await c.call("echo", "echo", { after: "flood" })).toEqual({ after: "flood" });
    flood.unsubscribe();
    half.unsubscribe();
  });

  it("propagates the absolute deadline to the handler, and drops late replies cleanly", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    await agent(prefix, {
      setup: (a) => {
        a.endpoint("deadline", (_p, ctx) => ({ deadline: ctx.deadline, remaining: ctx.remainingMs() }));
        a.endpoint("slow", async () => {
          await sleep(150);
          return "late";
        });
      },
    });
    const c = await client(prefix);
    await untilRouted(c, 1);
    const before = Date.now();
    const r = (await c.call("echo", "deadline", null, { deadlineMs: 2000 })) as { deadline: number; remaining: number };
    expect(r.deadline).toBeGreaterThanOrEqual(before + 2000 - 5);
    expect(r.deadline).toBeLessThanOrEqual(Date.now() + 2000 + 5);
    expect(r.remaining).toBeGreaterThan(1900);

    const t0 = Date.now();
    const err = await c.call("echo", "slow", null, { timeoutMs: 50 }).then(unexpected, (e: CallError) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(Date.now() - t0).toBeLessThan(140);
    await waitFor(() => c.stats().lateReplies >= 1, { what: "the late reply to arrive and be dropped" });
    expect(await c.call("echo", "echo", 1)).toMatchObject({ payload: 1 });
  });
});

describe("circuit breaker", () => {
  it("opens after the configured failures, rejects fast while open, closes after a good half-open probe (which a waiting call takes)", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    let failing = true;
    let handled = 0;
    const a = await agent(prefix, {
      setup: (ag) =>
        ag.endpoint("flaky", () => {
          handled++;
          if (failing) throw new Error("not today");
          return "fine";
        }),
    });
    const c = await client(prefix, { breaker: { consecutiveFailures: 3, cooldownMs: 300 } });
    const changes: InstanceStateChange[] = [];
    c.onStateChange((e) => changes.push(e));
    await untilRouted(c, 1);
    for (let i = 0; i < 3; i++) await expect(c.call("echo", "flaky", i)).rejects.toBeInstanceOf(RemoteError);
    expect(c.breakerStates("echo")[a.id]).toBe("open");
    // A deadline shorter than the cool-down: nothing can be admitted in time, so the call is refused at once.
    const fast = await c.call("echo", "flaky", 4, { deadlineMs: 100 }).then(unexpected, (e: CallError) => e);
    expect(fast).toBeInstanceOf(UnavailableError);
    expect(fast.message).toMatch(/circuit open/);
    expect(fast.attempts.every((r) => r.outcome === "rejected")).toBe(true);
    expect(c.stats().rejected).toBe(1);
    expect(handled).toBe(3); // the rejected call never reached the instance
    failing = false;
    // The instance has recovered but its breaker is still open: a call with time to spare waits for the
    // cool-down, takes the half-open probe and succeeds.
    expect(await c.call("echo", "flaky", 5)).toBe("fine");
    expect(c.stats().waitedForBreaker).toBeGreaterThan(0);
    expect(c.breakerStates("echo")[a.id]).toBe("closed");
    expect(changes.map((e) => `${e.from}>${e.to}`)).toEqual(["closed>open", "open>half-open", "half-open>closed"]);
    expect(changes[0]).toMatchObject({ service: "echo", instance: a.id, reason: "consecutive-failures" });
    expect(c.stats().breakers).toMatchObject({ opened: 1, halfOpened: 1, closed: 1, open: 0 });
  });
});

describe("retry budget", () => {
  it("with every instance failing retryably, extra attempts stay within 20 % of calls plus the per-second minimum", async () => {
    const prefix = uniquePrefix();
    await coordinator(prefix);
    let handled = 0;
    const setup = (a: Agent) =>
      a.endpoint("down", () => {
        handled++;
        throw new ServiceError("UNAVAILABLE", "dependency down");
      });
    await Promise.all([agent(prefix, { setup }), agent(prefix, { setup })]);
    const c = await client(prefix, {
      retryBudget: { ratio: 0.2, minPerSecond: 5 },
      breaker: { consecutiveFailures: 0, errorRate: 0 }, // keep every call reaching an instance
      backoff: { baseMs: 1, capMs: 5 },
    });
    await untilRouted(c, 2);
    const t0 = performance.now();
    const calls = 300;
    let i = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (i < calls) {
          i++;
          await c.call("echo", "down", {}).catch(() => failed++);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    expect(failed).toBe(calls);
    const extra = handled - calls;
    expect(extra).toBeLessThanOrEqual(0.2 * calls + 5 * (seconds + 1));
    expect(extra).toBeGreaterThan(0);
    expect(c.stats().budgetExhausted).toBeGreaterThan(0);
  });
});

describe("client API", () => {
  it("callback form, fallback to the queue group without registry data, and close() ending pending calls", async () => {
    const prefix = uniquePrefix();
    // No coordinator: the registry cache stays empty and calls use sb.svc.<service>.<endpoint>.
    const a = await agent(prefix, {
      setup: (ag) =>
        ag.endpoint("hang", async () => {
          await sleep(1000);
          return "too late";
        }),
    });
    const c = await createClient({ servers: server.url, prefix }).start();
    const reply = await new Promise<unknown>((resolve, reject) => c.call("echo", "echo", { x: 1 }, (err, r) => (err ? reject(err) : resolve(r))));
    expect(reply).toEqual({ from: a.id, payload: { x: 1 } });
    const withOpts = await new Promise<unknown>((resolve, reject) =>
      c.call("echo", "echo", 2, { timeoutMs: 1000 }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    expect(withOpts).toEqual({ from: a.id, payload: 2 });
    expect(c.stats().fallbackCalls).toBe(2);
    const pending = c.call("echo", "hang", null).then(unexpected, (e: CallError) => e);
    await sleep(50);
    await c.stop();
    const err = await pending;
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toMatch(/client closed/);
    await expect(c.call("echo", "echo", 1)).rejects.toBeInstanceOf(UnavailableError);
  });
});

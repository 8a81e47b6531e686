/**
 * The call loop (routing, retries, deadline, budget, breakers) driven through a fake transport and
 * a fake clock: every delay and every attempt is deterministic and checked exactly.
 */
import { headers } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { CallExecutor, type CallDefaults } from "../../src/client/CallExecutor.js";
import { BadReplyError, BadRequestError, CallError, RemoteError, TimeoutError, UnavailableError } from "../../src/client/errors.js";
import { RetryBudget, type RetryBudgetOptions } from "../../src/client/RetryBudget.js";
import { InstanceRouter } from "../../src/client/InstanceRouter.js";
import type { PendingAttempt, ReplyMessage, Transport } from "../../src/client/Transport.js";
import type { BreakerOptions } from "../../src/client/CircuitBreaker.js";
import type { CallOptions, RegistrySource, RetryEvent } from "../../src/client/types.js";
import type { StrategyName } from "../../src/client/strategies/index.js";
import { Subjects, encodeJson, errorReply, type InstanceView } from "../../src/protocol/index.js";
import { FakeClock, seededRandom } from "../helpers/fake-time.js";

type Behaviour = "ok" | "no-responders" | "timeout" | "garbage" | { code: string; message: string; retryable?: boolean } | { value: unknown };

interface Sent {
  subject: string;
  deadline: number;
  at: number;
}

/** Answers each request after `latencyMs` (fake time) according to the behaviour of the target subject. */
class FakeTransport implements Transport {
  readonly sent: Sent[] = [];
  maxPayload: number | undefined = 1024 * 1024;
  constructor(
    private readonly clock: FakeClock,
    public behaviour: (subject: string) => Behaviour,
    private readonly latencyMs = 1,
  ) {}

  send(subject: string, data: Uint8Array, deadline: number, _codec: string | undefined, _h: unknown, pending: PendingAttempt): void {
    this.sent.push({ subject, deadline, at: this.clock.now() });
    const token = String(this.sent.length);
    pending.token = token;
    const b = this.behaviour(subject);
    let done = false;
    const expiry = this.clock.setTimeout(() => {
      if (!done && pending.token === token) {
        done = true;
        pending.onTimeout();
      }
    }, pending.expiresAt - this.clock.now());
    if (b === "timeout") return;
    this.clock.setTimeout(() => {
      if (done) return; // late reply: dropped, as the mux does
      done = true;
      this.clock.clearTimeout(expiry);
      pending.onReply(reply(b, data));
    }, b === "no-responders" ? 0 : this.latencyMs);
  }
}

function reply(b: Behaviour, request: Uint8Array): ReplyMessage {
  if (b === "ok") return { data: request };
  if (b === "no-responders") return { data: new Uint8Array(0), headers: headers(503, "No Responders") };
  if (b === "garbage") return { data: new TextEncoder().encode("<html>not json") };
  if (b === "timeout") throw new Error("a timeout has no reply");
  if ("value" in b) return { data: encodeJson(b.value) };
  return errorReply(b.code, b.message, b.retryable);
}

function view(id: string, weight = 1): InstanceView {
  return {
    instance: { id, service: "echo", version: "1.0.0", endpoints: ["echo"], heartbeatMs: 100, startedAt: 0, weight },
    state: "up",
    since: 0,
    lastSeen: 0,
    seq: 1,
    inFlight: 0,
    status: "ok",
  };
}

const staticSource = (ids: string[]): RegistrySource => {
  const views = ids.map((id) => view(id));
  return { instances: (s) => (s === "echo" ? views : []) };
};

interface Setup {
  ids?: string[];
  source?: RegistrySource;
  behaviour?: (subject: string) => Behaviour;
  strategy?: StrategyName;
  defaults?: Partial<CallDefaults>;
  budget?: RetryBudgetOptions | false;
  breaker?: BreakerOptions;
  seed?: number;
  random?: () => number;
}

function setup(s: Setup = {}) {
  const clock = new FakeClock();
  const random = s.random ?? seededRandom(s.seed ?? 42);
  const transport = new FakeTransport(clock, s.behaviour ?? (() => "ok"));
  const router = new InstanceRouter({
    source: s.source ?? staticSource(s.ids ?? ["a", "b", "c"]),
    subjects: new Subjects("sb"),
    breaker: s.breaker ?? { consecutiveFailures: 1000, errorRate: 0 },
    random,
  });
  const defaults: CallDefaults = {
    strategy: s.strategy ?? "round-robin",
    timeoutMs: 5000,
    deadlineMs: 30_000,
    maxAttempts: 5,
    backoff: { baseMs: 1000, capMs: 5000 },
    ...s.defaults,
  };
  const exec = new CallExecutor({
    router,
    transport,
    clock: { now: clock.now },
    timers: { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout },
    random,
    defaults,
    // Budget tests aside, no budget: each test controls its retries through maxAttempts.
    budget: s.budget === undefined || s.budget === false ? undefined : new RetryBudget(s.budget),
  });
  const retries: RetryEvent[] = [];
  exec.onRetry((e) => retries.push(e));
  const call = (payload: unknown = { hi: 1 }, opts?: CallOptions, service = "echo", endpoint = "echo") => {
    const out: { value?: unknown; error?: Error; settledAt?: number } = {};
    exec.execute(
      service,
      endpoint,
      payload,
      opts,
      (v) => {
        out.value = v;
        out.settledAt = clock.now();
      },
      (e) => {
        out.error = e;
        out.settledAt = clock.now();
      },
    );
    return out;
  };
  return { clock, transport, router, exec, call, retries };
}

const instOf = (subject: string) => subject.split(".")[3];

describe("call loop: all instances down", () => {
  it("fails with UnavailableError after maxAttempts, within the deadline, with the capped full-jitter delays", () => {
    // Round-robin draws no random numbers, so the seeded sequence is exactly the jitter sequence.
    const t = setup({ behaviour: () => "no-responders" });
    const start = t.clock.now();
    const out = t.call();
    t.clock.runAll();
    expect(out.error).toBeInstanceOf(UnavailableError);
    const err = out.error as UnavailableError;
    expect(err.attempts).toHaveLength(5);
    expect(err.attempts.every((a) => a.outcome === "no-responders")).toBe(true);
    expect(err.message).toMatch(/no responders.*after 5 attempts/);
    expect(t.transport.sent).toHaveLength(5);

    const expected = seededRandom(42);
    const want = [1, 2, 3, 4].map((n) => expected() * Math.min(n * 1000, 5000));
    const retryDelays = t.retries.map((r) => r.delayMs);
    expect(retryDelays).toEqual(want);
    // The attempts were sent exactly those delays apart.
    const gaps = t.transport.sent.slice(1).map((s, i) => s.at - t.transport.sent[i]!.at);
    for (let i = 0; i < 4; i++) expect(gaps[i]).toBeCloseTo(want[i]!, 3);
    expect(out.settledAt! - start).toBeLessThan(30_000);
    // Every attempt carried the call's absolute deadline.
    expect(new Set(t.transport.sent.map((s) => s.deadline))).toEqual(new Set([start + 30_000]));
  });

  it("never waits past the deadline: gives up early with the attempts that fit", () => {
    const t = setup({ behaviour: () => "no-responders", random: () => 0.99, defaults: { deadlineMs: 3000 } });
    const start = t.clock.now();
    const out = t.call();
    t.clock.runAll();
    // delays 990 and 1980 fit (2 970 < 3 000); the third (2 970) would reach the deadline.
    expect(t.transport.sent).toHaveLength(3);
    expect(out.error).toBeInstanceOf(UnavailableError);
    expect(out.error!.message).toMatch(/deadline reached/);
    expect(out.settledAt! - start).toBeLessThan(3000);
  });

  it("never sends two attempts in a row to the same instance while another is live", () => {
    const t = setup({ ids: ["a", "b"], strategy: "p2c-ewma", behaviour: () => "no-responders", defaults: { backoff: { baseMs: 1, capMs: 1 } } });
    const outs = Array.from({ length: 50 }, () => t.call());
    t.clock.runAll();
    for (const o of outs) {
      const seq = (o.error as UnavailableError).attempts.map((a) => a.instance);
      expect(seq).toHaveLength(5);
      for (let i = 1; i < seq.length; i++) expect(seq[i]).not.toBe(seq[i - 1]);
    }
  });

  it("tries every other instance before coming back to one already tried", () => {
    const t = setup({ ids: ["a", "b", "c"], strategy: "random", behaviour: () => "no-responders", defaults: { backoff: { baseMs: 1, capMs: 1 } } });
    t.call();
    t.clock.runAll();
    const seq = t.transport.sent.map((s) => instOf(s.subject));
    expect(new Set(seq.slice(0, 3)).size).toBe(3);
  });
});

describe("call loop: what is retried", () => {
  it("retries no responders on another instance and returns the reply", () => {
    const t = setup({ behaviour: (s) => (instOf(s) === "a" ? "no-responders" : "ok"), defaults: { backoff: { baseMs: 10, capMs: 10 } } });
    const out = t.call({ x: 1 });
    t.clock.runAll();
    expect(out.value).toEqual({ x: 1 });
    const seq = t.transport.sent.map((s) => instOf(s.subject));
    expect(seq).toHaveLength(2);
    expect(seq[0]).toBe("a");
    expect(seq[1]).not.toBe("a");
    expect(t.retries).toHaveLength(1);
    expect(t.retries[0]!.failed.outcome).toBe("no-responders");
  });

  it("retries OVERLOADED and UNAVAILABLE replies elsewhere", () => {
    const t = setup({
      behaviour: (s) => (instOf(s) === "a" ? { code: "OVERLOADED", message: "busy" } : instOf(s) === "b" ? { code: "UNAVAILABLE", message: "draining" } : "ok"),
      defaults: { backoff: { baseMs: 10, capMs: 10 } },
    });
    const outs = Array.from({ length: 10 }, (_, i) => t.call(i));
    t.clock.runAll();
    expect(outs.map((o) => o.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const codes = new Set(t.retries.map((r) => r.failed.code));
    expect(codes).toEqual(new Set(["OVERLOADED", "UNAVAILABLE"]));
    // Every successful attempt went to c.
    expect(t.transport.sent.length - t.retries.length).toBe(10);
  });

  it("a handler error is a RemoteError with the callee's code and message, not retried", () => {
    const t = setup({ behaviour: () => ({ code: "INTERNAL", message: "database on fire" }) });
    const out = t.call();
    t.clock.runAll();
    expect(out.error).toBeInstanceOf(RemoteError);
    expect(out.error).toMatchObject({ code: "INTERNAL", message: "database on fire", retryable: false });
    expect((out.error as RemoteError).attempts).toHaveLength(1);
    expect(t.transport.sent).toHaveLength(1);
  });

  it("an error marked retryable by the callee is retried, and reported with its own code when it persists", () => {
    const t = setup({ behaviour: () => ({ code: "OUT_OF_STOCK", message: "try another warehouse", retryable: true }), defaults: { backoff: { baseMs: 1, capMs: 1 } } });
    const out = t.call();
    t.clock.runAll();
    expect(t.transport.sent).toHaveLength(5);
    expect(out.error).toBeInstanceOf(RemoteError);
    expect(out.error).toMatchObject({ code: "OUT_OF_STOCK", retryable: true });
  });

  it("BAD_REQUEST from the callee is a BadRequestError, not retried", () => {
    const t = setup({ behaviour: () => ({ code: "BAD_REQUEST", message: "request body is not valid JSON" }) });
    const out = t.call();
    t.clock.runAll();
    expect(out.error).toBeInstanceOf(BadRequestError);
    expect(out.error!.message).toBe("request body is not valid JSON");
    expect(t.transport.sent).toHaveLength(1);
  });

  it("a timeout is not retried unless the call is idempotent", () => {
    const t = setup({ behaviour: (s) => (instOf(s) === "a" ? "timeout" : "ok"), defaults: { timeoutMs: 200, backoff: { baseMs: 10, capMs: 10 } } });
    const plain = t.call(1);
    t.clock.runAll();
    expect(plain.error).toBeInstanceOf(TimeoutError);
    expect(plain.error!.message).toMatch(/not marked idempotent/);
    expect((plain.error as TimeoutError).attempts).toEqual([expect.objectContaining({ instance: "a", outcome: "timeout", durationMs: 200 })]);

    const t2 = setup({ behaviour: (s) => (instOf(s) === "a" ? "timeout" : "ok"), defaults: { timeoutMs: 200, backoff: { baseMs: 10, capMs: 10 } } });
    const idem = t2.call(2, { idempotent: true });
    t2.clock.runAll();
    expect(idem.value).toBe(2);
    expect(t2.transport.sent.map((s) => instOf(s.subject))[0]).toBe("a");
    expect(t2.transport.sent).toHaveLength(2);
  });

  it("the attempt timeout never runs past the call's deadline", () => {
    const t = setup({ behaviour: () => "timeout", defaults: { timeoutMs: 5000, deadlineMs: 1200 } });
    const start = t.clock.now();
    const out = t.call(1, { idempotent: true, backoff: { baseMs: 10, capMs: 10 } });
    t.clock.runAll();
    expect(out.error).toBeInstanceOf(TimeoutError);
    expect(out.settledAt! - start).toBeLessThanOrEqual(1200);
  });

  it("a garbage (non-JSON) reply is a clear BadReplyError, retried only when idempotent", () => {
    const t = setup({ behaviour: (s) => (instOf(s) === "a" ? "garbage" : "ok"), defaults: { backoff: { baseMs: 1, capMs: 1 } } });
    const out = t.call(1);
    t.clock.runAll();
    expect(out.error).toBeInstanceOf(BadReplyError);
    expect(out.error!.message).toMatch(/reply from instance a is not valid JSON \(14 bytes\)/);
    const out2 = t.call(2, { idempotent: true });
    t.clock.runAll();
    expect(out2.value).toBe(2);
  });
});

describe("call loop: retry budget", () => {
  it("with every instance failing, extra attempts stay within ratio × calls + the per-second reserve", () => {
    const t = setup({ behaviour: () => "no-responders", budget: { ratio: 0.2, minPerSecond: 5 }, defaults: { backoff: { baseMs: 1, capMs: 1 } } });
    const results = [];
    for (let i = 0; i < 500; i++) results.push(t.call());
    t.clock.runAll();
    expect(results.every((r) => r.error instanceof UnavailableError)).toBe(true);
    const extra = t.transport.sent.length - 500;
    const elapsedS = 1; // everything happened within the first second of fake time
    expect(extra).toBeLessThanOrEqual(0.2 * 500 + 5 * elapsedS);
    expect(extra).toBeGreaterThanOrEqual(100); // the budget was used, not just refused
    expect(t.exec.counters.budgetExhausted).toBeGreaterThan(0);
    expect(results.some((r) => /retry budget exhausted/.test(r.error!.message))).toBe(true);
  });
});

describe("call loop: circuit breakers", () => {
  it("opens after N failures, rejects at once while open (when no cool-down ends before the deadline), and closes after a good half-open probe", () => {
    let failing = true;
    const t = setup({
      ids: ["a"],
      behaviour: () => (failing ? { code: "INTERNAL", message: "boom" } : "ok"),
      breaker: { consecutiveFailures: 3, errorRate: 0, cooldownMs: 1000 },
    });
    const changes: string[] = [];
    const b = () => t.router.breakers("echo").get("a")!;
    for (let i = 0; i < 3; i++) {
      t.call();
      t.clock.runAll();
    }
    b().onStateChange((c) => changes.push(`${c.from}>${c.to}`));
    expect(b().state).toBe("open");
    const sentBefore = t.transport.sent.length;
    const rejected = t.call(undefined, { deadlineMs: 500 }); // the cool-down (1000 ms) outlasts the deadline
    expect(rejected.error).toBeInstanceOf(UnavailableError); // synchronously: nothing was sent
    expect(rejected.error!.message).toMatch(/circuit open/);
    expect(t.transport.sent.length).toBe(sentBefore);

    t.clock.advance(1000);
    failing = false;
    const probe = t.call("probe");
    const second = t.call("second", { deadlineMs: 5 }); // while the probe is in flight, and too short to wait for it
    expect(second.error).toBeInstanceOf(UnavailableError);
    t.clock.runAll();
    expect(probe.value).toBe("probe");
    expect(b().state).toBe("closed");
    expect(changes).toEqual(["open>half-open", "half-open>closed"]);
    const after = t.call("after");
    t.clock.runAll();
    expect(after.value).toBe("after");
  });

  it("when every instance is ejected but a cool-down ends before the deadline, the call waits and takes the probe", () => {
    let failing = true;
    const t = setup({
      ids: ["a", "b"],
      behaviour: () => (failing ? "no-responders" : "ok"),
      breaker: { consecutiveFailures: 1, errorRate: 0, cooldownMs: 300 },
      defaults: { maxAttempts: 2, backoff: { baseMs: 1, capMs: 1 } },
    });
    const first = t.call("x");
    t.clock.runAll();
    expect(first.error).toBeInstanceOf(UnavailableError); // both instances failed: both breakers open
    expect(t.router.breakers("echo").get("a")!.state).toBe("open");
    const sentBefore = t.transport.sent.length;
    failing = false; // the instances are back (e.g. after a NATS outage), their breakers do not know yet
    const started = t.clock.now();
    const waiting = t.call("y", { deadlineMs: 1000 });
    expect(waiting.error).toBeUndefined(); // not refused: the cool-down ends within the deadline
    expect(t.transport.sent.length).toBe(sentBefore); // and nothing sent while open
    t.clock.runAll();
    expect(waiting.value).toBe("y");
    expect(waiting.settledAt! - started).toBeGreaterThanOrEqual(300);
    expect(waiting.settledAt! - started).toBeLessThan(400);
    expect(t.exec.counters.waitedForBreaker).toBeGreaterThan(0);
    expect(t.exec.counters.rejected).toBe(0);
  });

  it("every strategy skips an ejected instance", () => {
    for (const strategy of ["round-robin", "random", "weighted", "consistent-hash", "least-response-time", "p2c-ewma"] as const) {
      const t = setup({ strategy, behaviour: (s) => (instOf(s) === "b" ? "no-responders" : "ok"), breaker: { consecutiveFailures: 2, errorRate: 0, cooldownMs: 60_000 } });
      for (let i = 0; i < 300; i++) {
        t.call(i, { key: `k${i % 17}`, maxAttempts: 3, backoff: { baseMs: 1, capMs: 1 } });
        t.clock.advance(5);
      }
      t.clock.runAll();
      const toB = t.transport.sent.filter((s) => instOf(s.subject) === "b").length;
      expect(toB, strategy).toBeLessThanOrEqual(2);
      expect(t.exec.counters.failed, strategy).toBe(0);
    }
  });

  it("a failed probe keeps the instance ejected and the calls go elsewhere", () => {
    const t = setup({ ids: ["a", "b"], behaviour: (s) => (instOf(s) === "b" ? "no-responders" : "ok"), breaker: { consecutiveFailures: 1, errorRate: 0, cooldownMs: 100 }, defaults: { backoff: { baseMs: 1, capMs: 1 } } });
    for (let i = 0; i < 100; i++) {
      t.call(i);
      t.clock.advance(10);
    }
    t.clock.runAll();
    expect(t.exec.counters.failed).toBe(0);
    const toB = t.transport.sent.filter((s) => instOf(s.subject) === "b").length;
    // b is probed again after each cool-down (doubling), never more.
    expect(toB).toBeGreaterThan(1);
    expect(toB).toBeLessThan(6);
  });
});

describe("call loop: routing and input", () => {
  it("falls back to the queue-group subject when the registry knows no instance", () => {
    const t = setup({ source: { instances: () => [] } });
    const out = t.call(5);
    t.clock.runAll();
    expect(out.value).toBe(5);
    expect(t.transport.sent[0]!.subject).toBe("sb.svc.echo.echo");
    expect(t.exec.counters.fallbackCalls).toBe(1);
  });

  it("routes only to instances that serve the endpoint, and to up ones before suspect ones", () => {
    const v = [view("a"), view("b"), view("c")];
    v[0]!.instance.endpoints = ["other"];
    v[1]!.state = "suspect";
    const t = setup({ source: { instances: () => v } });
    for (let i = 0; i < 10; i++) t.call(i);
    t.clock.runAll();
    expect(new Set(t.transport.sent.map((s) => instOf(s.subject)))).toEqual(new Set(["c"]));
  });

  it("follows registry changes announced through onChange", () => {
    let views = [view("a")];
    const listeners: Array<(c: { service?: string }) => void> = [];
    const t = setup({
      source: {
        instances: () => views,
        onChange: (l) => {
          listeners.push(l);
          return { dispose: () => listeners.splice(listeners.indexOf(l), 1) };
        },
      },
    });
    t.call(1);
    t.clock.runAll();
    views = [view("b")];
    for (const l of listeners) l({ service: "echo" });
    t.call(2);
    t.clock.runAll();
    expect(t.transport.sent.map((s) => instOf(s.subject))).toEqual(["a", "b"]);
  });

  it("refuses invalid names and unencodable or oversized payloads with BadRequestError, sending nothing", () => {
    const t = setup();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const bad = [
      t.call(1, undefined, "no.dots"),
      t.call(circular),
      t.call(1, { strategy: "fastest" as never }),
      t.call(1, { timeoutMs: -1 }),
      t.call(1, { maxAttempts: 0 }),
      t.call(1, { backoff: { baseMs: Number.NaN } }),
    ];
    t.transport.maxPayload = 1000;
    bad.push(t.call("x".repeat(2000)));
    for (const b of bad) {
      expect(b.error).toBeInstanceOf(BadRequestError);
      expect((b.error as CallError).attempts).toEqual([]);
    }
    expect(bad[0]!.error!.message).toMatch(/invalid service/);
    expect(bad[1]!.error!.message).toMatch(/cannot be encoded as JSON/);
    expect(bad[6]!.error!.message).toMatch(/max_payload/);
    expect(t.transport.sent).toHaveLength(0);
  });

  it("consistent-hash keeps a key on one instance across calls", () => {
    const t = setup({ strategy: "consistent-hash" });
    for (let i = 0; i < 20; i++) t.call(i, { key: "customer-17" });
    t.clock.runAll();
    expect(new Set(t.transport.sent.map((s) => s.subject)).size).toBe(1);
  });

  it("close() ends calls waiting for a retry at once", () => {
    const t = setup({ behaviour: () => "no-responders" });
    const out = t.call();
    t.clock.advance(0);
    expect(t.exec.delayed.size).toBe(1);
    t.exec.close();
    expect(out.error).toBeInstanceOf(UnavailableError);
    expect(out.error!.message).toMatch(/client closed/);
    const late = t.call();
    expect(late.error).toBeInstanceOf(UnavailableError);
  });
});

import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { RegistryStateMachine } from "../../src/coordinator/index.js";
import type { InstanceRecord, InstanceView } from "../../src/protocol/index.js";

const T0 = 1_000_000;

function rec(id: string, over: Partial<InstanceRecord> = {}): InstanceRecord {
  return { id, service: "orders", version: "1.0.0", endpoints: ["get"], heartbeatMs: 100, startedAt: T0, ...over };
}

/** A machine with one instance announced at T0 (heartbeat 100 ms: suspect at +150, down at +300, removed at +1000). */
function withOne(id = "a") {
  const sm = new RegistryStateMachine();
  sm.announce(rec(id), T0);
  return sm;
}

/** Ticks every `step` ms from `from` to `to` inclusive and returns [time, type] for every change. */
function run(sm: RegistryStateMachine, from: number, to: number, step = 1) {
  const out: Array<[number, string]> = [];
  for (let t = from; t <= to; t += step) for (const c of sm.tick(t)) out.push([t - T0, c.type]);
  return out;
}

describe("RegistryStateMachine", () => {
  it("announce of a new instance → up, with the record in the view", () => {
    const sm = new RegistryStateMachine();
    const c = sm.announce(rec("a"), T0);
    expect(c).toMatchObject({ type: "up", previous: null, reason: "announce", at: T0 });
    expect(c!.view).toMatchObject({ instance: rec("a"), state: "up", since: T0, lastSeen: T0, seq: 0, status: "ok" });
    expect(sm.size).toBe(1);
    expect(sm.get("orders", "a")?.state).toBe("up");
  });

  it("up → suspect after 1.5 intervals → down after 3 → removed after 10, each once, at those times", () => {
    const sm = withOne();
    expect(run(sm, T0, T0 + 1200)).toEqual([
      [150, "suspect"],
      [300, "down"],
      [1000, "removed"],
    ]);
    expect(sm.size).toBe(0);
    expect(sm.get("orders", "a")).toBeUndefined();
  });

  it("thresholds count from the last heartbeat and scale with each instance's own interval", () => {
    const sm = new RegistryStateMachine();
    sm.announce(rec("fast", { heartbeatMs: 100 }), T0);
    sm.announce(rec("slow", { heartbeatMs: 1000 }), T0);
    expect(sm.heartbeat("orders", "fast", 1, 0, "ok", T0 + 100)).toBe("ok");
    const changes: Array<[number, string, string]> = [];
    for (let t = T0; t <= T0 + 1600; t += 10) for (const c of sm.tick(t)) changes.push([t - T0, c.view.instance.id, c.type]);
    expect(changes).toEqual([
      [250, "fast", "suspect"],
      [400, "fast", "down"],
      [1100, "fast", "removed"],
      [1500, "slow", "suspect"],
    ]);
  });

  it("custom thresholds: grace, k and retention", () => {
    const sm = new RegistryStateMachine({ suspectGrace: 0.2, downAfterIntervals: 2, removeAfterIntervals: 4 });
    sm.announce(rec("a"), T0);
    expect(run(sm, T0, T0 + 500)).toEqual([
      [120, "suspect"],
      [200, "down"],
      [400, "removed"],
    ]);
    expect(sm.thresholdsFor(1000)).toEqual({ suspectAfter: 1200, downAfter: 2000, removeAfter: 4000 });
  });

  it("refuses thresholds that are not increasing", () => {
    expect(() => new RegistryStateMachine({ suspectGrace: 2, downAfterIntervals: 3 })).toThrow(RangeError);
    expect(() => new RegistryStateMachine({ downAfterIntervals: 5, removeAfterIntervals: 5 })).toThrow(RangeError);
    expect(() => new RegistryStateMachine({ suspectGrace: -1 })).toThrow(RangeError);
  });

  it("heartbeats keep an instance up", () => {
    const sm = withOne();
    for (let i = 1; i <= 20; i++) {
      expect(sm.heartbeat("orders", "a", i, i % 3, "ok", T0 + i * 100)).toBe("ok");
      expect(sm.tick(T0 + i * 100 + 99)).toEqual([]);
    }
    expect(sm.get("orders", "a")).toMatchObject({ state: "up", seq: 20, inFlight: 20 % 3, lastSeen: T0 + 2000 });
    expect(sm.counters.heartbeats).toBe(20);
  });

  it("a heartbeat revives a suspect instance → up", () => {
    const sm = withOne();
    expect(sm.tick(T0 + 160).map((c) => c.type)).toEqual(["suspect"]);
    const c = sm.heartbeat("orders", "a", 1, 2, "ok", T0 + 170);
    expect(c).toMatchObject({ type: "up", previous: "suspect", reason: "heartbeat" });
    expect(typeof c === "object" && c.view).toMatchObject({ state: "up", since: T0 + 170, lastSeen: T0 + 170, seq: 1, inFlight: 2 });
    // The thresholds restart from the revival.
    expect(run(sm, T0 + 171, T0 + 400)).toEqual([[320, "suspect"]]);
  });

  it("a heartbeat revives a down instance → up", () => {
    const sm = withOne();
    run(sm, T0, T0 + 350);
    expect(sm.get("orders", "a")?.state).toBe("down");
    expect(sm.heartbeat("orders", "a", 7, 0, "ok", T0 + 400)).toMatchObject({ type: "up", previous: "down" });
  });

  it("out-of-order and repeated seq are counted as stale: proof of life, but load and status are not taken from them", () => {
    const sm = withOne();
    expect(sm.heartbeat("orders", "a", 5, 1, "ok", T0 + 100)).toBe("ok");
    expect(sm.heartbeat("orders", "a", 4, 9, "draining", T0 + 140)).toBe("stale");
    expect(sm.heartbeat("orders", "a", 5, 9, "draining", T0 + 140)).toBe("stale");
    expect(sm.get("orders", "a")).toMatchObject({ seq: 5, inFlight: 1, lastSeen: T0 + 140, status: "ok" });
    expect(sm.counters.stale).toBe(2);
    // The stale heartbeat at +140 proved life: suspect 150 ms after it.
    expect(run(sm, T0 + 141, T0 + 300)).toEqual([[290, "suspect"]]);
    // A stale heartbeat revives a suspect too; the next in-sequence one updates the load.
    expect(sm.heartbeat("orders", "a", 3, 0, "ok", T0 + 301)).toMatchObject({ type: "up", previous: "suspect", reason: "heartbeat" });
    expect(sm.heartbeat("orders", "a", 6, 4, "ok", T0 + 310)).toBe("ok");
    expect(sm.get("orders", "a")).toMatchObject({ seq: 6, inFlight: 4 });
  });

  it("a forged seq of 2^53 − 1 (or any jump beyond two per elapsed interval plus two) is not adopted: the real sequence goes on", () => {
    const sm = withOne();
    expect(sm.heartbeat("orders", "a", 1, 0, "ok", T0 + 100)).toBe("ok");
    expect(sm.heartbeat("orders", "a", Number.MAX_SAFE_INTEGER, 99, "draining", T0 + 101)).toBe("stale");
    expect(sm.heartbeat("orders", "a", 1 + 3 + 2, 99, "draining", T0 + 102)).toBe("stale"); // 1 elapsed ms allows +3
    for (let i = 2; i <= 20; i++) expect(sm.heartbeat("orders", "a", i, i, "ok", T0 + 100 * i)).toBe("ok");
    expect(sm.get("orders", "a")).toMatchObject({ seq: 20, inFlight: 20, status: "ok", state: "up" });
    // Lost heartbeats are not a jump: 10 intervals of silence allow 22.
    expect(sm.heartbeat("orders", "a", 40, 0, "ok", T0 + 3000)).toBe("ok");
    expect(sm.get("orders", "a")?.seq).toBe(40);
  });

  it("one forged in-bound seq never unroutes a live instance: the real heartbeats keep it up and take the sequence back", () => {
    const sm = withOne();
    const states: string[] = [];
    let seq = 0;
    for (let t = 100; t <= 2000; t += 100) {
      for (const c of sm.tick(T0 + t)) states.push(c.type);
      expect(sm.heartbeat("orders", "a", ++seq, 1, "ok", T0 + t)).not.toBe("unknown");
      // Right after the real heartbeat at +500, a forged one with the largest seq the bound allows.
      if (t === 500) expect(sm.heartbeat("orders", "a", seq + 2, 50, "draining", T0 + t + 1)).toMatchObject({ reason: "status" });
    }
    expect(states).toEqual([]); // never suspect
    expect(sm.get("orders", "a")).toMatchObject({ state: "up", status: "ok", inFlight: 1 });
  });

  it("a run of off-sequence heartbeats counting by one takes the sequence over at its second heartbeat", () => {
    const sm = withOne();
    sm.heartbeat("orders", "a", 1000, 0, "ok", T0 + 10);
    expect(sm.heartbeat("orders", "a", 1, 7, "ok", T0 + 110)).toBe("stale");
    expect(sm.heartbeat("orders", "a", 2, 8, "ok", T0 + 210)).toBe("ok");
    expect(sm.get("orders", "a")).toMatchObject({ seq: 2, inFlight: 8 });
  });

  it("a new incarnation (new startedAt) restarts the heartbeat sequence", () => {
    const sm = withOne();
    sm.heartbeat("orders", "a", 40, 0, "ok", T0 + 10);
    expect(sm.heartbeat("orders", "a", 1, 0, "ok", T0 + 20)).toBe("stale");
    sm.announce(rec("a", { startedAt: T0 + 30 }), T0 + 30);
    expect(sm.heartbeat("orders", "a", 1, 3, "ok", T0 + 40)).toBe("ok");
    expect(sm.get("orders", "a")).toMatchObject({ seq: 1, inFlight: 3 });
  });

  describe("registrations without an agent", () => {
    const reg = (over: Partial<InstanceRecord> = {}) =>
      rec("r1", { address: "10.0.0.1:8080", endpoints: [], heartbeatMs: 5000, ...over });

    it("stay up until the TTL passes, then are removed (expired), with no suspect or down on the way", () => {
      const sm = new RegistryStateMachine();
      expect(sm.register(reg(), 5000, T0)).toMatchObject({ type: "up", previous: null, reason: "register" });
      expect(sm.get("orders", "r1")).toMatchObject({ registered: true, ttlMs: 5000 });
      expect(run(sm, T0, T0 + 6000, 10)).toEqual([[5000, "removed"]]);
    });

    it("a refresh (register again) extends the TTL and keeps the first startedAt; a heartbeat refreshes too", () => {
      const sm = new RegistryStateMachine();
      sm.register(reg(), 5000, T0);
      expect(sm.register(reg({ startedAt: T0 + 4000 }), 5000, T0 + 4000)).toBeNull();
      expect(sm.get("orders", "r1")?.record.startedAt).toBe(T0);
      expect(sm.heartbeat("orders", "r1", 1, 0, "ok", T0 + 8000)).toBe("ok");
      expect(run(sm, T0, T0 + 14000, 10)).toEqual([[13000, "removed"]]);
    });

    it("a refresh with another TTL or metadata applies it", () => {
      const sm = new RegistryStateMachine();
      sm.register(reg(), 5000, T0);
      expect(sm.register(reg({ metadata: { a: "1" } }), 2000, T0 + 100)).toMatchObject({ type: "up", previous: "up" });
      expect(run(sm, T0, T0 + 3000, 10)).toEqual([[2100, "removed"]]);
    });

    it("leave deregisters at once", () => {
      const sm = new RegistryStateMachine();
      sm.register(reg(), 5000, T0);
      expect(sm.leave("orders", "r1", T0 + 1)).toMatchObject({ type: "removed", reason: "leave" });
    });
  });

  it("after a long pause every state on the way is its own change, in order", () => {
    const sm = withOne();
    expect(sm.tick(T0 + 500).map((c) => [c.previous, c.type])).toEqual([
      ["up", "suspect"],
      ["suspect", "down"],
    ]);
    expect(sm.tick(T0 + 5000).map((c) => [c.previous, c.type])).toEqual([["down", "removed"]]);
    const other = withOne("b");
    expect(other.tick(T0 + 5000).map((c) => [c.previous, c.type])).toEqual([
      ["up", "suspect"],
      ["suspect", "down"],
      ["down", "removed"],
    ]);
  });

  describe("followers reconcile with the leader", () => {
    const view = (over: Partial<InstanceView> = {}): InstanceView => ({
      instance: rec("a"),
      state: "up",
      since: T0,
      lastSeen: T0,
      seq: 3,
      inFlight: 0,
      status: "ok",
      ...over,
    });

    it("an event for an unknown instance adds it, translating the leader's lastSeen by its age", () => {
      const sm = new RegistryStateMachine();
      // Leader's clock is 1 h ahead: its event at L+50 says last seen at L; our clock says T0+10.
      const L = T0 + 3_600_000;
      const c = sm.applyLeaderEvent("suspect", view({ state: "suspect", lastSeen: L }), L + 50, T0 + 10);
      expect(c).toMatchObject({ type: "suspect", previous: null, reason: "leader" });
      expect(sm.get("orders", "a")).toMatchObject({ state: "suspect", lastSeen: T0 - 40, published: "suspect" });
      // down 300 ms after that lastSeen
      expect(run(sm, T0 + 11, T0 + 300)).toEqual([[260, "down"]]);
    });

    it("the leader's state wins; an identical event is no change; removed deletes", () => {
      const sm = withOne();
      sm.heartbeat("orders", "a", 1, 0, "ok", T0 + 100);
      expect(sm.applyLeaderEvent("up", view({ lastSeen: T0 + 100 }), T0 + 100, T0 + 101)).toBeNull();
      expect(sm.get("orders", "a")?.published).toBe("up");
      expect(sm.applyLeaderEvent("suspect", view({ state: "suspect", lastSeen: T0 + 100 }), T0 + 250, T0 + 240)).toMatchObject({
        type: "suspect",
        previous: "up",
      });
      // Our own fresher lastSeen is kept (never moved backwards).
      expect(sm.get("orders", "a")?.lastSeen).toBe(T0 + 101);
      expect(sm.applyLeaderEvent("removed", view({ state: "removed" }), T0 + 300, T0 + 300)).toMatchObject({ type: "removed" });
      expect(sm.size).toBe(0);
      expect(sm.applyLeaderEvent("removed", view({ state: "removed" }), T0 + 300, T0 + 300)).toBeNull();
    });

    it("a changed record from the leader is applied", () => {
      const sm = withOne();
      const c = sm.applyLeaderEvent("up", view({ instance: rec("a", { endpoints: ["x"] }) }), T0, T0);
      expect(c?.view.instance.endpoints).toEqual(["x"]);
    });

    it("a follower's own removals are remembered until published; a new leader replays the whole fall", () => {
      const sm = new RegistryStateMachine();
      for (const id of ["t", "l", "p", "n", "c"]) sm.announce(rec(id), T0);
      for (const id of ["t", "l", "p", "c"]) sm.markPublished("orders", id, "up"); // "n": clients never heard of it
      sm.leave("orders", "l", T0 + 10);
      // All of them time out (except "l", which left); "c" is removed by the leader's own event first.
      const ticked = run(sm, T0, T0 + 1000);
      expect(ticked.filter(([, type]) => type === "removed")).toHaveLength(4);
      expect(sm.pendingRemovals).toBe(5);
      expect(sm.applyLeaderEvent("removed", { ...sm.view({ record: rec("c") } as never), state: "removed" }, T0, T0 + 1000)).toBeNull();
      sm.markPublished("orders", "p", "removed"); // published by someone
      expect(sm.pendingRemovals).toBe(3);
      const replay = sm.unpublished(T0 + 1001).map((c) => [c.view.instance.id, c.previous, c.type, c.reason]);
      expect(replay).toEqual([
        ["l", "up", "removed", "reconcile"],
        ["t", "up", "suspect", "reconcile"],
        ["t", "suspect", "down", "reconcile"],
        ["t", "down", "removed", "reconcile"],
      ]);
      expect(sm.pendingRemovals).toBe(0);
      // Each replayed step is dated when it happened: thresholds after the last heartbeat, then the removal.
      const again = new RegistryStateMachine();
      again.announce(rec("t"), T0);
      again.markPublished("orders", "t", "up");
      run(again, T0, T0 + 1000);
      expect(again.unpublished(T0 + 5000).map((c) => [c.type, c.at - T0, c.view.since - T0])).toEqual([
        ["suspect", 150, 150],
        ["down", 300, 300],
        ["removed", 1000, 1000],
      ]);
    });

    it("unpublished removals are forgotten after a minute", () => {
      const sm = withOne();
      sm.markPublished("orders", "a", "up");
      sm.leave("orders", "a", T0);
      sm.tick(T0 + 59_999);
      expect(sm.pendingRemovals).toBe(1);
      sm.tick(T0 + 60_000);
      expect(sm.pendingRemovals).toBe(0);
      expect(sm.unpublished(T0 + 60_001)).toEqual([]);
    });

    it("unpublished() lists what clients were not told, for a new leader", () => {
      const sm = withOne("a");
      sm.announce(rec("b"), T0);
      sm.markPublished("orders", "a", "up");
      expect(sm.unpublished(T0).map((c) => [c.view.instance.id, c.previous, c.type])).toEqual([["b", null, "up"]]);
      sm.markPublished("orders", "b", "up");
      run(sm, T0, T0 + 200);
      expect(sm.unpublished(T0 + 200).map((c) => [c.view.instance.id, c.previous, c.type, c.reason])).toEqual([
        ["a", "up", "suspect", "reconcile"],
        ["b", "up", "suspect", "reconcile"],
      ]);
      // Published up, now down: both steps; published down, revived: up.
      run(sm, T0 + 201, T0 + 350);
      sm.markPublished("orders", "b", "down");
      sm.heartbeat("orders", "b", 1, 0, "ok", T0 + 351);
      expect(sm.unpublished(T0 + 352).map((c) => [c.view.instance.id, c.previous, c.type, c.view.state])).toEqual([
        ["a", "up", "suspect", "suspect"],
        ["a", "suspect", "down", "down"],
        ["b", "down", "up", "up"],
      ]);
    });
  });

  describe("restart", () => {
    it("load keeps states and gives every instance a fresh interval", () => {
      const sm = new RegistryStateMachine();
      const v = (id: string, state: InstanceView["state"]): InstanceView => ({
        instance: rec(id),
        state,
        since: 5,
        lastSeen: 5,
        seq: 99,
        inFlight: 1,
        status: "ok",
      });
      const n = sm.load(
        [{ view: v("a", "up") }, { view: v("b", "suspect") }, { view: v("c", "down") }, { view: v("d", "removed") }, { view: { ...v("r", "up"), instance: rec("r", { address: "x:1" }) }, ttlMs: 400 }],
        T0,
      );
      expect(n).toBe(4);
      expect([...sm.entries()].map((e) => [e.record.id, e.state, e.lastSeen, e.seq])).toEqual([
        ["a", "up", T0, -1],
        ["b", "suspect", T0, -1],
        ["c", "down", T0, -1],
        ["r", "up", T0, -1],
      ]);
      // After a restart the agents' sequence continues from wherever it is: any seq is accepted.
      expect(sm.heartbeat("orders", "a", 3, 0, "ok", T0 + 1)).toBe("ok");
      const changes: Array<[number, string, string]> = [];
      for (let t = T0 + 2; t <= T0 + 1001; t++) for (const c of sm.tick(t)) changes.push([t - T0, c.view.instance.id, c.type]);
      expect(changes).toEqual([
        [151, "a", "suspect"],
        [300, "b", "down"],
        [301, "a", "down"],
        [400, "r", "removed"],
        [1000, "b", "removed"],
        [1000, "c", "removed"],
        [1001, "a", "removed"],
      ]);
    });

    it("touchAll gives a fresh interval without changing states (after a disconnect)", () => {
      const sm = withOne();
      run(sm, T0, T0 + 200);
      sm.touchAll(T0 + 280);
      expect(sm.get("orders", "a")).toMatchObject({ state: "suspect", lastSeen: T0 + 280 });
      expect(run(sm, T0 + 281, T0 + 600)).toEqual([[580, "down"]]);
    });
  });

  it("queries by service and state", () => {
    const sm = new RegistryStateMachine();
    sm.announce(rec("a"), T0);
    sm.announce(rec("b", { heartbeatMs: 1000 }), T0);
    sm.announce(rec("c", { service: "billing" }), T0);
    sm.tick(T0 + 200);
    const ids = (f: Parameters<typeof sm.forEach>[0]) => {
      const out: string[] = [];
      sm.forEach(f, (e) => out.push(e.record.id));
      return out;
    };
    expect(ids({})).toEqual(["a", "b", "c"]);
    expect(ids({ service: "orders" })).toEqual(["a", "b"]);
    expect(ids({ states: ["suspect"] })).toEqual(["a", "c"]);
    expect(ids({ service: "orders", states: ["up"] })).toEqual(["b"]);
    expect(ids({ service: "nope" })).toEqual([]);
    expect([...sm.serviceNames()]).toEqual(["orders", "billing"]);
    expect(JSON.parse(sm.recordJson(sm.get("orders", "a")!))).toEqual(rec("a"));
  });

  it("scales: 20 000 instances, heartbeats and a tick stay cheap and correct", () => {
    const sm = new RegistryStateMachine();
    const n = 20_000;
    for (let i = 0; i < n; i++) sm.announce(rec(`i${i}`, { service: `s${i % 100}`, heartbeatMs: 1000 }), T0);
    for (let i = 0; i < n; i++) if (i % 2 === 0) sm.heartbeat(`s${i % 100}`, `i${i}`, 1, 0, "ok", T0 + 1000);
    const changes = sm.tick(T0 + 1600);
    expect(changes.length).toBe(n / 2);
    expect(changes.every((c) => c.type === "suspect" && Number(c.view.instance.id.slice(1)) % 2 === 1)).toBe(true);
    expect(sm.tick(T0 + 1601)).toEqual([]);
    expect(sm.size).toBe(n);
  });

  it("property: whatever the inputs, states follow the thresholds and the registry stays consistent", () => {
    type Op =
      | { k: "announce"; id: number; hb: number }
      | { k: "heartbeat"; id: number; seq: number }
      | { k: "leave"; id: number }
      | { k: "tick" };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant("announce" as const), id: fc.integer({ min: 0, max: 5 }), hb: fc.constantFrom(50, 100, 200) }),
      fc.record({ k: fc.constant("heartbeat" as const), id: fc.integer({ min: 0, max: 5 }), seq: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ k: fc.constant("leave" as const), id: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ k: fc.constant("tick" as const) }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(op, fc.integer({ min: 0, max: 400 })), { maxLength: 200 }), (ops) => {
        const sm = new RegistryStateMachine();
        let now = T0;
        const live = new Map<string, string>();
        const apply = (c: { type: string; view: InstanceView } | null) => {
          if (!c) return;
          if (c.type === "removed") live.delete(c.view.instance.id);
          else live.set(c.view.instance.id, c.type);
        };
        for (const [o, dt] of ops) {
          now += dt;
          for (const c of sm.tick(now)) apply(c);
          if (o.k === "announce") apply(sm.announce(rec(`i${o.id}`, { heartbeatMs: o.hb }), now));
          else if (o.k === "heartbeat") {
            const r = sm.heartbeat("orders", `i${o.id}`, o.seq, 0, "ok", now);
            if (typeof r === "object") apply(r);
          } else if (o.k === "leave") apply(sm.leave("orders", `i${o.id}`, now));
          for (const c of sm.tick(now)) apply(c);
          // The change stream alone reproduces the registry.
          expect(new Map([...sm.entries()].map((e) => [e.record.id, e.state]))).toEqual(live);
          for (const e of sm.entries()) {
            const t = sm.thresholdsFor(e.record.heartbeatMs);
            const age = now - e.lastSeen;
            // lastSeen only moves forward on a revival, so the state is exactly what the age says.
            expect(e.state).toBe(age >= t.downAfter ? "down" : age >= t.suspectAfter ? "suspect" : "up");
            expect(age).toBeLessThan(t.removeAfter);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

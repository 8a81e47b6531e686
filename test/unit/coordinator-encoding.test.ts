import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  RegistryStateMachine,
  encodeSnapshot,
  heartbeatFields,
  isHeartbeat,
  leaseBucketName,
  parseCanonicalHeartbeat,
  registrationId,
  registryBucketName,
} from "../../src/coordinator/index.js";
import { decodeMessage, validatorFor } from "../../src/protocol/index.js";

describe("isHeartbeat (the hand-written heartbeat check)", () => {
  const valid = { v: 1, id: "i-1", service: "orders", seq: 3, sentAt: 1700000000000, inFlight: 0, status: "ok" };
  const ajv = validatorFor("heartbeat");

  it("accepts a valid heartbeat and refuses each kind of violation", () => {
    expect(isHeartbeat(valid)).toBe(true);
    const bad: unknown[] = [
      null,
      [],
      "x",
      1,
      {},
      { ...valid, v: 2 },
      { ...valid, id: "a.b" },
      { ...valid, id: "" },
      { ...valid, id: "x".repeat(65) },
      { ...valid, service: "a b" },
      { ...valid, service: 5 },
      { ...valid, seq: -1 },
      { ...valid, seq: 1.5 },
      { ...valid, seq: "1" },
      { ...valid, sentAt: -5 },
      { ...valid, inFlight: 1e999 },
      { ...valid, status: "fine" },
      { ...valid, extra: true },
      (({ status: _s, ...rest }) => rest)(valid),
    ];
    for (const b of bad) {
      expect(isHeartbeat(b), JSON.stringify(b)).toBe(false);
      expect(ajv(b), JSON.stringify(b)).toBe(false);
    }
  });

  it("property: agrees with the compiled schema validator on arbitrary near-heartbeats", () => {
    const field = fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: -3, max: 3 }),
      fc.double(),
      fc.string({ maxLength: 70 }),
      fc.constantFrom("ok", "degraded", "draining", "svc-1", "a_b", "a.b", "*", ">", ""),
      fc.boolean(),
      fc.constant(null),
    );
    const hb = fc.record(
      {
        v: fc.oneof(fc.constant(1), field),
        id: fc.oneof(fc.constantFrom("i1", "x-Y_9"), field),
        service: fc.oneof(fc.constantFrom("orders"), field),
        seq: fc.oneof(fc.nat(), field),
        sentAt: fc.oneof(fc.nat(), field),
        inFlight: fc.oneof(fc.nat(), field),
        status: fc.oneof(fc.constantFrom("ok", "degraded", "draining"), field),
        extra: field,
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(hb, (o) => {
        // JSON round trip: what the coordinator sees is always parsed JSON.
        const parsed = JSON.parse(JSON.stringify(o)) as unknown;
        expect(isHeartbeat(parsed)).toBe(ajv(parsed));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("parseCanonicalHeartbeat (the byte-level fast path)", () => {
  const ajv = validatorFor("heartbeat");
  const buf = (s: string) => Buffer.from(s, "utf8");
  const canonical = (o: Record<string, unknown>) =>
    JSON.stringify({ v: o.v, id: o.id, service: o.service, seq: o.seq, sentAt: o.sentAt, inFlight: o.inFlight, status: o.status });

  it("reads the agent's own layout, values and byte offsets included", () => {
    const f = heartbeatFields();
    const body = buf(canonical({ v: 1, id: "i-1", service: "orders", seq: 42, sentAt: 1700000000123, inFlight: 7, status: "draining" }));
    expect(parseCanonicalHeartbeat(body, f)).toBe(true);
    expect(f).toMatchObject({ id: "i-1", service: "orders", seq: 42, sentAt: 1700000000123, inFlight: 7, status: "draining" });
    expect(body.subarray(f.idStart, f.idEnd).toString()).toBe("i-1");
    expect(body.subarray(f.serviceStart, f.serviceEnd).toString()).toBe("orders");
    // Also from a plain Uint8Array (not a Buffer).
    const plain = new Uint8Array(body);
    expect(parseCanonicalHeartbeat(plain, f)).toBe(true);
    expect(f.id).toBe("i-1");
  });

  it("declines every other shape (the general path decides those)", () => {
    const f = heartbeatFields();
    const ok = { v: 1, id: "i", service: "s", seq: 1, sentAt: 2, inFlight: 0, status: "ok" };
    for (const s of [
      JSON.stringify(ok, null, 1), // whitespace
      JSON.stringify({ id: "i", v: 1, service: "s", seq: 1, sentAt: 2, inFlight: 0, status: "ok" }), // order
      canonical({ ...ok, seq: 1.5 }),
      canonical({ ...ok, seq: -1 }),
      canonical({ ...ok, seq: 1e21 }),
      canonical({ ...ok, id: "a.b" }),
      canonical({ ...ok, id: "" }),
      canonical({ ...ok, id: "x".repeat(65) }),
      canonical({ ...ok, status: "okay" }),
      canonical({ ...ok, v: 2 }),
      canonical(ok) + " ",
      canonical(ok).replace('"seq":1', '"seq":01'),
      canonical(ok).replace('"seq":1', '"seq":1e0'),
      canonical(ok).replace('"i"', '"\\u0069"'),
      canonical(ok).slice(0, -1),
      canonical(ok).slice(0, -2) + ',"x":1}',
    ]) {
      expect(parseCanonicalHeartbeat(buf(s), f), s).toBe(false);
    }
  });

  it("property: what the fast path accepts, JSON.parse + the schema accept with the same values; valid canonical bodies are always accepted", () => {
    const f = heartbeatFields();
    const value = fc.oneof(
      fc.constantFrom(1, 0, 2, "ok", "degraded", "draining", "svc", "i-1", "a_b-C9", "a.b", "", "x".repeat(64), "x".repeat(65)),
      fc.integer({ min: -5, max: 2 ** 53 }),
      fc.double({ noNaN: true }),
      fc.string({ maxLength: 8 }),
    );
    const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
    const count = fc.integer({ min: 0, max: 999_999_999_999_999 });
    const valid = fc.record({
      v: fc.constant(1),
      id: token,
      service: token,
      seq: count,
      sentAt: count,
      inFlight: fc.integer({ min: 0, max: 1_000_000 }), // the schema's bound (larger loads are refused)
      status: fc.constantFrom("ok", "degraded", "draining"),
    });
    const obj = fc.oneof(fc.record({ v: value, id: value, service: value, seq: value, sentAt: value, inFlight: value, status: value }), valid);
    let accepted = 0;
    const mutation = fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { nil: undefined });
    fc.assert(
      fc.property(obj, mutation, (o, mut) => {
        const bytes = buf(canonical(o));
        if (mut) bytes[mut[0] % bytes.length] = mut[1];
        const fast = parseCanonicalHeartbeat(bytes, f);
        let parsed: unknown;
        let valid = false;
        try {
          parsed = JSON.parse(new TextDecoder().decode(bytes));
          valid = ajv(parsed);
        } catch {
          valid = false;
        }
        if (fast) {
          accepted++;
          expect(valid).toBe(true);
          const p = parsed as Record<string, unknown>;
          expect([f.id, f.service, f.seq, f.sentAt, f.inFlight, f.status]).toEqual([p.id, p.service, p.seq, p.sentAt, p.inFlight, p.status]);
        } else if (!mut && valid && (o.seq as number) < 1e15 && (o.sentAt as number) < 1e15 && (o.inFlight as number) < 1e15) {
          // A valid body in the canonical layout is declined only for numbers beyond 15 digits.
          expect.fail(`declined a valid canonical heartbeat: ${canonical(o)}`);
        }
      }),
      { numRuns: 20000 },
    );
    expect(accepted).toBeGreaterThan(1000);
  });
});

describe("encodeSnapshot", () => {
  function filled(n: number) {
    const sm = new RegistryStateMachine();
    for (let i = 0; i < n; i++) {
      sm.announce(
        { id: `inst-${i}`, service: `svc-${i % 7}`, version: "1.0.0", endpoints: ["a", "b"], heartbeatMs: 1000, startedAt: 1, metadata: { zone: "é—ü" } },
        1000,
      );
    }
    return sm;
  }
  const header = { revision: 42, coordinator: "c1", leader: true, term: 7, leaderId: "c1", at: 5 };

  it("fits a small registry in one valid snapshot that matches the views", () => {
    const sm = filled(20);
    sm.heartbeat("svc-0", "inst-0", 9, 3, "degraded", 1500);
    const parts = encodeSnapshot(sm, {}, header, 1024 * 1024);
    expect(parts).toHaveLength(1);
    const d = decodeMessage("registry-snapshot", parts[0]!, 10 * 1024 * 1024);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.part).toBeUndefined();
    expect(d.value).toMatchObject({ revision: 42, coordinator: "c1", leader: true, term: 7, leaderId: "c1", at: 5 });
    // Golden: the header bytes on the wire.
    expect(parts[0]!.toString().startsWith('{"v":1,"revision":42,"coordinator":"c1","leader":true,"term":7,"leaderId":"c1","at":5,"instances":[')).toBe(true);
    expect(d.value.instances).toEqual([...sm.entries()].map((e) => sm.view(e)));
  });

  it("splits a large registry into valid parts under the size limit, together holding every instance once", () => {
    const sm = filled(3000);
    const max = 64 * 1024;
    const parts = encodeSnapshot(sm, {}, header, max);
    expect(parts.length).toBeGreaterThan(5);
    const ids: string[] = [];
    parts.forEach((p, i) => {
      expect(p.length).toBeLessThanOrEqual(max);
      const d = decodeMessage("registry-snapshot", p, max);
      expect(d.ok).toBe(true);
      if (!d.ok) return;
      expect(d.value.part).toBe(i + 1);
      expect(d.value.parts).toBe(parts.length);
      ids.push(...d.value.instances.map((v) => v.instance.id));
    });
    expect(ids).toHaveLength(3000);
    expect(new Set(ids).size).toBe(3000);
  });

  it("property: writes every number (0 … 2^53−1) and name exactly as JSON.stringify would", () => {
    const big = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 2 ** 31 - 3, max: 2 ** 31 + 3 }), fc.maxSafeNat(), fc.constant(1_764_000_000_000));
    fc.assert(
      fc.property(fc.array(fc.record({ at: big, seq: big, inFlight: big, status: fc.constantFrom("ok", "degraded", "draining" as const) }), { minLength: 1, maxLength: 20 }), (rows) => {
        const sm = new RegistryStateMachine();
        rows.forEach((r, i) => {
          sm.announce({ id: `i${i}`, service: "s", version: "1", endpoints: [], heartbeatMs: 1000, startedAt: r.at, metadata: { k: "ü\"x" } }, r.at);
          sm.heartbeat("s", `i${i}`, r.seq, r.inFlight, r.status, r.at);
        });
        const body = encodeSnapshot(sm, {}, header, 1 << 20)[0]!;
        expect(JSON.parse(body.toString("utf8")).instances).toEqual([...sm.entries()].map((e) => sm.view(e)));
      }),
      { numRuns: 300 },
    );
  });

  it("filters by service and state", () => {
    const sm = filled(70);
    sm.tick(1000 + 1500);
    sm.heartbeat("svc-3", "inst-3", 1, 0, "ok", 2600);
    const one = JSON.parse(encodeSnapshot(sm, { service: "svc-3", states: ["up"] }, header, 1 << 20)[0]!.toString());
    expect(one.instances.map((v: { instance: { id: string } }) => v.instance.id)).toEqual(["inst-3"]);
    const none = JSON.parse(encodeSnapshot(sm, { service: "nope" }, header, 1 << 20)[0]!.toString());
    expect(none.instances).toEqual([]);
  });
});

describe("names", () => {
  it("derives registration ids deterministically and bucket names from the prefix", () => {
    expect(registrationId("orders", "10.0.0.1:80")).toBe(registrationId("orders", "10.0.0.1:80"));
    expect(registrationId("orders", "10.0.0.1:80")).not.toBe(registrationId("orders", "10.0.0.1:81"));
    expect(registrationId("orders", "10.0.0.1:80")).toMatch(/^[0-9a-f-]{36}$/);
    expect(registryBucketName("prod.sb")).toBe("prod_sb_registry");
    expect(leaseBucketName("sb")).toBe("sb_coordinator_lease");
  });
});

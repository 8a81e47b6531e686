import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { RegistryStateMachine, encodeSnapshot, isHeartbeat, registrationId, registryBucketName, leaseBucketName } from "../../src/coordinator/index.js";
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
  const header = { revision: 42, coordinator: "c1", leader: true, at: 5 };

  it("fits a small registry in one valid snapshot that matches the views", () => {
    const sm = filled(20);
    sm.heartbeat("svc-0", "inst-0", 9, 3, "degraded", 1500);
    const parts = encodeSnapshot(sm, {}, header, 1024 * 1024);
    expect(parts).toHaveLength(1);
    const d = decodeMessage("registry-snapshot", parts[0]!, 10 * 1024 * 1024);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.part).toBeUndefined();
    expect(d.value).toMatchObject({ revision: 42, coordinator: "c1", leader: true, at: 5 });
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

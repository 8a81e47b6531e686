/**
 * Pure logic of registry trust: which events a client cache applies (EventGate), which a coordinator
 * adopts (judgeLeaderEvent), the registry limits, the lease's term, and the signature format (golden).
 */
import { describe, expect, it } from "vitest";
import { createUser } from "@nats-io/nkeys";
import { EventGate } from "../../src/client/registry/EventGate.js";
import { DEFAULT_REGISTRY_LIMITS, MAX_REVISION_JUMP, RegistryLimits, RegistryStateMachine, judgeLeaderEvent } from "../../src/coordinator/index.js";
import { SIGNATURE_HEADER, SIGNER_HEADER, StateSigner, StateVerifier, leaseFromEntry, signedDigest, type InstanceRecord, type RegistryEvent } from "../../src/protocol/index.js";
import type { KvEntry } from "@nats-io/kv";

const T0 = 1_764_000_000_000;
const rec = (id: string, over: Partial<InstanceRecord> = {}): InstanceRecord => ({ id, service: "orders", version: "1", endpoints: ["get"], heartbeatMs: 1000, startedAt: T0, ...over });
const ev = (revision: number, over: Partial<RegistryEvent> = {}): RegistryEvent => ({
  v: 1,
  revision,
  term: 7,
  type: "up",
  at: T0 + revision,
  coordinator: "leader",
  instance: { instance: rec("a"), state: "up", since: T0, lastSeen: T0, seq: 1, inFlight: 0, status: "ok" },
  ...over,
});

describe("EventGate (client cache)", () => {
  it("before a verified snapshot, nothing is applied", () => {
    const g = new EventGate();
    expect(g.judge(ev(1))).toBe("newer-term");
    expect(g.judge(ev(1, { term: 0 }))).toBe("not-leader");
  });

  it("applies exactly the next revision of the lease's leader and term; the rest is a gap, a duplicate, a newer term or refused", () => {
    const g = new EventGate();
    g.reset("leader", 7, 10);
    expect(g.judge(ev(11))).toBe("apply");
    g.accept(ev(11));
    expect(g.revision).toBe(11);
    expect(g.judge(ev(11))).toBe("duplicate");
    expect(g.judge(ev(5))).toBe("duplicate");
    expect(g.judge(ev(13))).toBe("gap");
    expect(g.judge(ev(Number.MAX_SAFE_INTEGER))).toBe("gap");
    expect(g.judge(ev(12, { coordinator: "fake" }))).toBe("not-leader");
    expect(g.judge(ev(12, { term: 6 }))).toBe("not-leader");
    expect(g.judge(ev(12, { term: 8, coordinator: "other" }))).toBe("newer-term");
  });

  it("a duplicate revision with other content (an event injected in the leader's name) is a conflict", () => {
    const g = new EventGate();
    g.reset("leader", 7, 10);
    const forged = ev(11, { instance: { ...ev(11).instance, instance: rec("ghost") } });
    g.accept(forged);
    expect(g.judge(ev(11))).toBe("conflict");
  });
});

describe("judgeLeaderEvent (coordinator)", () => {
  const k = { self: "me", leading: false, holder: "leader", term: 7, revision: 100, leaseRevision: 90 };
  it("a follower applies the lease holder's events of its term within the revision bound", () => {
    expect(judgeLeaderEvent({ coordinator: "leader", term: 7, revision: 101 }, k)).toBe("apply");
    expect(judgeLeaderEvent({ coordinator: "leader", term: 7, revision: 100 + MAX_REVISION_JUMP }, k)).toBe("apply");
    expect(judgeLeaderEvent({ coordinator: "leader", term: 7, revision: 101 + MAX_REVISION_JUMP }, k)).toBe("revision-jump");
    expect(judgeLeaderEvent({ coordinator: "leader", term: 7, revision: Number.MAX_SAFE_INTEGER }, k)).toBe("revision-jump");
  });
  it("refuses other coordinators and older terms, re-reads the lease for newer ones, ignores its own", () => {
    expect(judgeLeaderEvent({ coordinator: "fake", term: 7, revision: 101 }, k)).toBe("not-leader");
    expect(judgeLeaderEvent({ coordinator: "leader", term: 6, revision: 101 }, k)).toBe("not-leader");
    expect(judgeLeaderEvent({ coordinator: "fake", term: 8, revision: 101 }, k)).toBe("newer-term");
    expect(judgeLeaderEvent({ coordinator: "me", term: 7, revision: 1 }, k)).toBe("own");
    expect(judgeLeaderEvent({ coordinator: "leader", term: 7, revision: 101 }, { ...k, holder: undefined })).toBe("not-leader");
    expect(judgeLeaderEvent({ coordinator: "leader", term: 7, revision: 101 }, { ...k, leading: true })).toBe("rival");
  });
});

describe("RegistryLimits", () => {
  const sm = new RegistryStateMachine();
  it("defaults are sized for 100 000 instances", () => {
    expect(DEFAULT_REGISTRY_LIMITS.maxInstances).toBeGreaterThanOrEqual(100_000);
    expect(new RegistryLimits().check(rec("a"), sm, true)).toBeNull();
  });
  it("refuses each limit with its name and a clear message", () => {
    const l = new RegistryLimits({ maxInstances: 2, maxInstancesPerService: 1, maxRecordBytes: 400, maxEndpoints: 2, maxMetadataEntries: 1, minHeartbeatMs: 100, maxHeartbeatMs: 5000 });
    const s = new RegistryStateMachine();
    expect(l.check(rec("a", { heartbeatMs: 50 }), s, true)).toEqual({ limit: "minHeartbeatMs", message: "orders/a: heartbeatMs 50 is below the minimum of 100" });
    expect(l.check(rec("a", { heartbeatMs: 3_600_000 }), s, true)?.limit).toBe("maxHeartbeatMs");
    expect(l.check(rec("a", { heartbeatMs: 3_600_000 }), s, false)).toBeNull(); // a registration's TTL is not a heartbeat
    expect(l.check(rec("a", { endpoints: ["a", "b", "c"] }), s, true)?.limit).toBe("maxEndpoints");
    expect(l.check(rec("a", { metadata: { a: "1", b: "2" } }), s, true)?.limit).toBe("maxMetadataEntries");
    expect(l.check(rec("a", { version: "x".repeat(64), tags: ["t".repeat(64), "u".repeat(64), "v".repeat(64), "w".repeat(64)] }), s, true)).toMatchObject({
      limit: "maxRecordBytes",
      message: expect.stringMatching(/^orders\/a: the record is \d+ bytes, above the limit of 400$/),
    });
    s.announce(rec("a"), T0);
    expect(l.check(rec("a"), s, true)).toBeNull(); // an update of a known instance
    expect(l.check(rec("b"), s, true)).toEqual({ limit: "maxInstancesPerService", message: "orders/b: service orders already has 1 instances (the limit)" });
    s.announce(rec("c", { service: "billing" }), T0);
    expect(l.check(rec("d", { service: "web" }), s, true)).toEqual({ limit: "maxInstances", message: "web/d: the registry already holds 2 instances (the limit)" });
  });
});

describe("lease term", () => {
  const entry = (value: object, revision: number, operation = "PUT"): KvEntry => ({ value: new TextEncoder().encode(JSON.stringify(value)), revision, operation }) as unknown as KvEntry;
  it("is the acquiring write's own KV revision, and the value's term in renewals", () => {
    expect(leaseFromEntry(entry({ v: 1, coordinator: "c1", revision: 5, at: T0 }, 41))).toEqual({ leader: "c1", term: 41, revision: 5, kvRevision: 41 });
    expect(leaseFromEntry(entry({ v: 1, coordinator: "c1", revision: 9, at: T0, term: 41 }, 44))).toEqual({ leader: "c1", term: 41, revision: 9, kvRevision: 44 });
  });
  it("a deleted lease, an invalid value or a term above the entry's revision is no lease", () => {
    expect(leaseFromEntry(entry({}, 3, "DEL"))).toBeNull();
    expect(leaseFromEntry(entry({ v: 1, coordinator: "c1", revision: 2 ** 53, at: T0 }, 3))).toBeNull();
    expect(leaseFromEntry(entry({ v: 1, coordinator: "c1", revision: 1, at: T0, term: 9 }, 3))).toBeNull();
    expect(leaseFromEntry(null)).toBeNull();
  });
});

describe("signed registry state", () => {
  // Golden values: the signature format is on the wire; a change must fail here.
  const SEED = "SUAGDTO657N2RYCDLVVNBQFAFTVDG5VSBXBQJWTIXKFHGYQVUEGAZC7ZVY";
  const PUBLIC = "UBOIBDRLXXAR4RL4N34Z65UGAJB2NDPCPCREYSKPQBC2Y4GBI6HIQDRT";
  const body = new TextEncoder().encode('{"v":1,"revision":1}');

  it("signs SHA-256(context ‖ 0 ‖ body) with ed25519, in Sb-Signer / Sb-Signature headers (golden)", () => {
    const signer = new StateSigner(SEED);
    expect(signer.publicKey).toBe(PUBLIC);
    expect(Buffer.from(signedDigest("sb.registry.events", body)).toString("hex")).toBe(
      "a1053bc65547db611ec7ba6cfe36106172e37539d3e75ecc1e3a0ba1cd667c58" // printf 'sb.registry.events\0{"v":1,"revision":1}' | sha256sum,
    );
    const h = signer.sign("sb.registry.events", body);
    expect(h.get(SIGNER_HEADER)).toBe(PUBLIC);
    // Checked against node:crypto's ed25519 with the seed's raw 32 bytes (ed25519 signatures are deterministic).
    expect(h.get(SIGNATURE_HEADER)).toBe("_u4mJ-gPJBux-jiluoNhPHvpU9bg1dTSAZ60K4wdLe6EU-0XMIlv9Sh-Tiu4sK8yU3lT7WJEBO8-SrWZzpU9BA");
  });

  it("verifies only the trusted key's signature of the same context and body", () => {
    const signer = new StateSigner(SEED);
    const v = new StateVerifier([PUBLIC]);
    const h = signer.sign("sb.registry.events", body);
    expect(v.verify("sb.registry.events", body, h)).toBeNull();
    expect(v.verify("sb.registry.events", new TextEncoder().encode('{"v":1,"revision":2}'), h)).toBe("bad signature");
    expect(v.verify("_INBOX.other", body, h)).toBe("bad signature"); // replayed to another subject
    expect(v.verify("sb.registry.events", body, undefined)).toBe("unsigned");
    const other = new StateSigner(new TextDecoder().decode(createUser().getSeed()));
    expect(v.verify("sb.registry.events", body, other.sign("sb.registry.events", body))).toBe("signed by an untrusted key");
    const forged = signer.sign("sb.registry.events", body);
    forged.set(SIGNATURE_HEADER, "A".repeat(86));
    expect(v.verify("sb.registry.events", body, forged)).toBe("bad signature");
    expect(() => new StateSigner("not a seed")).toThrow(/not a valid NKey seed/);
    expect(() => new StateVerifier(["nope"])).toThrow(/not a public NKey/);
  });
});

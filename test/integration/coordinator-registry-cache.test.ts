/**
 * The client's registry cache on a real nats-server: against a hand-driven coordinator stand-in (to
 * control revisions and timing exactly) and against the real coordinator (watch API, split snapshots).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { createAgent } from "../../src/agent/index.js";
import { createCoordinator } from "../../src/coordinator/index.js";
import { createRegistryCache, queryRegistry, type RegistryCache, type RegistryCacheChange } from "../../src/client/index.js";
import { Subjects, encodeJson, type InstanceView, type RegistryEvent, type RegistrySnapshot } from "../../src/protocol/index.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

function view(id: string, state: InstanceView["state"] = "up", service = "svc"): InstanceView {
  return {
    instance: { id, service, version: "1", endpoints: ["e"], heartbeatMs: 100, startedAt: 1 },
    state,
    since: 1,
    lastSeen: 1,
    seq: 1,
    inFlight: 0,
    status: "ok",
  };
}
function event(revision: number, id: string, type: InstanceView["state"], coordinator = "fake"): RegistryEvent {
  return { v: 1, revision, term: 0, type, at: Date.now(), coordinator, instance: view(id, type) };
}

describe("registry cache", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const cleanup = new CleanupStack();
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterEach(async () => {
    await cleanup.run();
  });
  afterAll(async () => {
    await nc.close();
    await server.dispose();
  });

  async function cache(prefix: string, extra: { retryMs?: number } = {}): Promise<RegistryCache> {
    const c = createRegistryCache({ servers: server.url, prefix, queryTimeoutMs: 1000, ...extra });
    cleanup.push(() => c.stop());
    return c.start();
  }

  /** A coordinator stand-in: answers queries with `snapshot()` after `delayMs`, counts queries. */
  function fakeCoordinator(prefix: string, snapshot: () => RegistrySnapshot, delayMs = 0) {
    const state = { queries: 0 };
    const sub = nc.subscribe(new Subjects(prefix).registryQuery, {
      callback: (_e, m: Msg) => {
        state.queries++;
        const reply = encodeJson(snapshot());
        setTimeout(() => m.respond(reply), delayMs);
      },
    });
    cleanup.push(async () => sub.unsubscribe());
    return state;
  }
  const publish = (prefix: string, ev: RegistryEvent) => nc.publish(new Subjects(prefix).registryEvents, encodeJson(ev));
  /** A snapshot of a coordinator without JetStream (term 0, its own leader): what the cache accepts when there is no lease bucket. */
  const snap = (revision: number, instances: InstanceView[], coordinator = "fake"): RegistrySnapshot => ({
    v: 1,
    revision,
    coordinator,
    leader: true,
    term: 0,
    leaderId: coordinator,
    at: Date.now(),
    instances,
  });

  it("starts without a coordinator (empty, not synced), and loads once one answers", async () => {
    const prefix = uniquePrefix();
    const c = await cache(prefix, { retryMs: 150 });
    expect(c.synced).toBe(false);
    expect(c.instances("svc")).toHaveLength(0);
    expect(c.stats().failedSyncs).toBe(1);
    fakeCoordinator(prefix, () => snap(3, [view("a"), view("b", "suspect")]));
    await nc.flush();
    await waitFor(() => c.synced, { what: "sync" });
    expect(c.currentRevision).toBe(3);
    expect(c.instances("svc").map((v) => v.instance.id)).toEqual(["a"]);
    expect(c.all("svc").map((v) => v.instance.id)).toEqual(["a", "b"]);
  });

  it("buffers events published while the snapshot is loading, and applies only those above its revision", async () => {
    const prefix = uniquePrefix();
    const fake = fakeCoordinator(prefix, () => snap(5, [view("a"), view("b")]), 300);
    await nc.flush();
    const starting = cache(prefix);
    await waitFor(() => fake.queries === 1, { what: "the query" });
    publish(prefix, event(5, "b", "removed")); // already in the snapshot's past: ignored
    publish(prefix, event(6, "c", "up"));
    publish(prefix, event(7, "a", "suspect"));
    await nc.flush();
    const c = await starting;
    expect(c.currentRevision).toBe(7);
    expect(c.all("svc").map((v) => [v.instance.id, v.state])).toEqual([
      ["a", "suspect"],
      ["b", "up"],
      ["c", "up"],
    ]);
    expect(c.instances("svc").map((v) => v.instance.id)).toEqual(["b", "c"]);
    expect(fake.queries).toBe(1);
  });

  it("reloads on a revision gap, and when another coordinator publishes (never adopting its events); ignores duplicates", async () => {
    const prefix = uniquePrefix();
    let current = snap(10, [view("a")]);
    const fake = fakeCoordinator(prefix, () => current);
    await nc.flush();
    const c = await cache(prefix);
    expect(c.currentRevision).toBe(10);
    publish(prefix, event(11, "b", "up"));
    publish(prefix, event(11, "b", "up")); // duplicate
    await waitFor(() => c.currentRevision === 11, { what: "event 11" });
    expect(fake.queries).toBe(1);

    current = snap(20, [view("a"), view("b"), view("x")]);
    publish(prefix, event(14, "b", "down")); // 12 and 13 missing
    await waitFor(() => fake.queries === 2 && c.currentRevision === 20, { what: "reload after the gap" });
    expect(c.stats().gaps).toBe(1);
    expect(c.all("svc").map((v) => [v.instance.id, v.state])).toEqual([
      ["a", "up"],
      ["b", "up"],
      ["x", "up"],
    ]);

    publish(prefix, event(21, "x", "down"));
    await waitFor(() => c.currentRevision === 21, { what: "event 21" });
    // Another coordinator starts over at 3 (its registry was lost): its event is refused, not applied, and
    // the cache reloads; the snapshot it gets now comes from that coordinator, so the cache follows it.
    current = snap(3, [view("a")], "leader-2");
    publish(prefix, event(3, "a", "down", "leader-2"));
    await waitFor(() => fake.queries === 3 && c.currentRevision === 3, { what: "reload after the reset" });
    expect(c.stats().refusedEvents).toBe(1);
    expect(c.leader).toEqual({ id: "leader-2", term: 0 });
    expect(c.all("svc").map((v) => [v.instance.id, v.state])).toEqual([["a", "up"]]);
  });

  it("watch: onChange and an async iterator see every change in order; the iterator ends on close", async () => {
    const prefix = uniquePrefix();
    fakeCoordinator(prefix, () => snap(1, [view("a")]));
    await nc.flush();
    const c = createRegistryCache({ servers: server.url, prefix });
    const seen: RegistryCacheChange[] = [];
    c.onChange((ch) => seen.push(ch));
    const it = c.changes();
    const iterated: string[] = [];
    const done = (async () => {
      for await (const ch of it) iterated.push(`${ch.id}:${ch.previous}->${ch.type}@${ch.revision}/${ch.source}`);
    })();
    await c.start();
    const before = c.instances("svc");
    expect(c.instances("svc")).toBe(before); // same array object while nothing changes
    publish(prefix, event(2, "b", "up"));
    publish(prefix, event(3, "a", "suspect"));
    publish(prefix, event(4, "a", "removed"));
    await waitFor(() => seen.length === 4, { what: "4 changes" });
    expect(c.instances("svc")).not.toBe(before);
    expect(c.instances("svc").map((v) => v.instance.id)).toEqual(["b"]);
    expect(seen.map((ch) => ch.service)).toEqual(["svc", "svc", "svc", "svc"]);
    await c.stop();
    await done;
    expect(iterated).toEqual(["a:null->up@1/snapshot", "b:null->up@2/event", "a:up->suspect@3/event", "a:suspect->removed@4/event"]);
  });

  it("breaking out of a changes() loop releases the iterator", async () => {
    const prefix = uniquePrefix();
    fakeCoordinator(prefix, () => snap(1, []));
    await nc.flush();
    const c = await cache(prefix);
    const got: string[] = [];
    const loop = (async () => {
      for await (const ch of c.changes()) {
        got.push(ch.id);
        if (got.length === 2) break;
      }
    })();
    await sleep(20);
    for (let r = 2; r <= 5; r++) publish(prefix, event(r, `i${r}`, "up"));
    await loop;
    expect(got).toEqual(["i2", "i3"]);
    await waitFor(() => c.size === 4, { what: "the rest applied" });
  });

  it("loads a registry split into several replies (server max_payload 64 KiB) from the real coordinator", async () => {
    const small = await startNatsServer({ config: "max_payload: 65536" });
    cleanup.push(() => small.dispose());
    const prefix = uniquePrefix();
    const s = new Subjects(prefix);
    const coord = createCoordinator({ servers: small.url, prefix, leaseMs: 600 });
    await coord.start();
    cleanup.push(() => coord.stop());
    const pub = await connect({ servers: small.url });
    cleanup.push(() => pub.close());
    const n = 1500;
    for (let i = 0; i < n; i++) {
      const rec = { id: `inst-${i}`, service: `svc-${i % 10}`, version: "1.0.0", endpoints: ["a", "b"], heartbeatMs: 60_000, startedAt: Date.now() };
      pub.publish(s.announce(rec.service, rec.id), encodeJson({ v: 1, instance: rec }));
    }
    await pub.flush();
    await waitFor(() => coord.registry.size === n, { what: `${n} instances` });
    expect(pub.info?.max_payload).toBe(65536);
    const whole = await queryRegistry(pub, s);
    expect(whole.instances).toHaveLength(n);
    const c = createRegistryCache({ servers: small.url, prefix, queryTimeoutMs: 10_000 }) // 1 500 instances in parts, on a loaded machine;
    cleanup.push(() => c.stop());
    await c.start();
    expect(c.size).toBe(n);
    expect(c.instances("svc-3")).toHaveLength(n / 10);
  });

  it("an agent and the real coordinator: the cache follows up and leave", async () => {
    const prefix = uniquePrefix();
    const coord = createCoordinator({ servers: server.url, prefix, leaseMs: 600 });
    await coord.start();
    cleanup.push(() => coord.stop());
    const c = await cache(prefix);
    const a = createAgent({ service: "svc", servers: server.url, prefix, heartbeatMs: 100 });
    await a.start();
    await waitFor(() => c.instances("svc").length === 1, { what: "up" });
    expect(c.currentRevision).toBe(coord.currentRevision);
    await a.stop();
    await waitFor(() => c.size === 0, { what: "leave" });
  });
});

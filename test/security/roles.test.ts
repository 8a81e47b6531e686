/**
 * The least-privilege permission set (test/chaos/permissions.ts, shown in docs/OPERATIONS.md) on a real
 * nats-server: the coordinator, the collector, an agent and a caller run under their own users with
 * private inboxes and see no permission violation; each role then tries what it must not do and the
 * server refuses it with the specific "Permissions Violation for Publish to …" error; and the issue's
 * reply-subject attacks leave the lease key and the registry bucket unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { PermissionViolationError, type NatsConnection, type Status } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createClient, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, leaseBucketName, registryBucketName, type Coordinator } from "../../src/coordinator/index.js";
import { createCollector, type Collector } from "../../src/monitor/index.js";
import { REPLY_SUBJECT_KIND, Subjects, connectNats, decodeMessage, encodeJson, type NatsSettings } from "../../src/protocol/index.js";
import { PASSWORDS, authorizationConfig, inboxPrefixFor, type ExampleUser } from "../chaos/permissions.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { waitFor } from "../helpers/wait.js";

/** The permission violations the server reports to a connection, as their messages. */
function violations(nc: NatsConnection): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status() as AsyncIterable<Status>) {
      if (s.type === "error" && s.error instanceof PermissionViolationError) seen.push(s.error.message);
    }
  })();
  return seen;
}

describe("security: least-privilege users per role", () => {
  const prefix = "sb";
  const s = new Subjects(prefix);
  const leaseBucket = leaseBucketName(prefix);
  const registryBucket = registryBucketName(prefix);
  let server: NatsServer;
  let admin: NatsConnection;
  const conns = new Map<ExampleUser, { nc: NatsConnection; refused: string[] }>();
  let coordinator: Coordinator;
  let collector: Collector;
  let orders: Agent;
  let client: Client;
  const as = (user: ExampleUser): NatsSettings => ({
    servers: server.url,
    user,
    pass: PASSWORDS[user],
    ...(user === "admin" ? {} : { inboxPrefix: inboxPrefixFor(user) }),
  });
  async function connection(user: ExampleUser): Promise<{ nc: NatsConnection; refused: string[] }> {
    const nc = await connectNats(as(user));
    const c = { nc, refused: violations(nc) };
    conns.set(user, c);
    return c;
  }

  beforeAll(async () => {
    server = await startNatsServer({ config: authorizationConfig(prefix) });
    admin = await connectNats(as("admin"));
    coordinator = createCoordinator({ nats: (await connection("coordinator")).nc, prefix, leaseMs: 600 });
    await coordinator.start();
    collector = createCollector({ nats: (await connection("collector")).nc, prefix });
    await collector.start();
    orders = createAgent({ service: "orders", nats: (await connection("orders")).nc, prefix, heartbeatMs: 100, metricsIntervalMs: 100 });
    orders.endpoint("echo", (p) => p);
    await orders.start();
    client = await createClient({ nats: (await connection("web")).nc, prefix, timeoutMs: 1000 }).start();
    await connection("notifier");
    await connection("gateway");
    await connection("billing");
  });
  afterAll(async () => {
    await client?.stop();
    await orders?.stop();
    await collector?.stop();
    await coordinator?.stop();
    for (const { nc } of conns.values()) await nc.close();
    await admin?.close();
    await server?.dispose();
  });

  it("every component works under its own user with no permission violation", async () => {
    await waitFor(() => coordinator.isLeader, { what: "the coordinator leads under its user" });
    await waitFor(() => (client.registry as RegistryCache).instances("orders").length === 1, { what: "orders routed by the web client" });
    expect(await client.call("orders", "echo", { hi: 1 })).toEqual({ hi: 1 });
    await waitFor(() => collector.snapshot().services.some((x) => x.service === "orders"), { what: "orders' metrics at the collector" });
    for (const [user, c] of conns) expect(c.refused, user).toEqual([]);
  });

  it("each role is refused what it must not do, with the specific violation", async () => {
    const forgedEvent = encodeJson({ v: 1, revision: 2 ** 53 - 1, type: "up", at: Date.now(), coordinator: "evil" });
    const attempts: Record<string, string[]> = {
      // Agents: another service's heartbeat, registry events, the lease, the registry bucket, a "reply" into $KV.
      orders: [s.heartbeat("billing", "b1"), s.registryEvents, `$KV.${leaseBucket}.leader`, `$JS.API.STREAM.PURGE.KV_${registryBucket}`, `$KV.${registryBucket}.orders.x`],
      billing: [s.heartbeat("orders", orders.id), s.sync, `$JS.API.STREAM.DELETE.KV_${registryBucket}`],
      // Callers: no instance event, no registry event, no registration, no KV write.
      web: [s.heartbeat("orders", orders.id), s.registryEvents, s.registryRegister, `$KV.${leaseBucket}.leader`, `$JS.API.STREAM.PURGE.KV_${registryBucket}`],
      gateway: [s.heartbeat("orders", orders.id), s.registryEvents, `$KV.${leaseBucket}.leader`],
      // Infrastructure: its own buckets only, and never a purge or delete; no instance events; no alerts.
      coordinator: [`$JS.API.STREAM.PURGE.KV_${registryBucket}`, `$JS.API.STREAM.DELETE.KV_${leaseBucket}`, s.heartbeat("orders", orders.id), s.alert("critical", "orders"), "$SYS.REQ.SERVER.PING"],
      collector: [s.registryEvents, `$KV.${leaseBucket}.leader`, `$JS.API.STREAM.PURGE.sb_alerts`, s.heartbeat("orders", orders.id)],
      notifier: [s.registryEvents, `$KV.${leaseBucket}.leader`, s.alert("critical", "orders"), `$JS.API.STREAM.DELETE.sb_alerts`],
    };
    for (const [user, subjects] of Object.entries(attempts)) {
      const c = conns.get(user as ExampleUser)!;
      const before = c.refused.length;
      for (const subject of subjects) c.nc.publish(subject, forgedEvent);
      await c.nc.flush();
      await waitFor(() => c.refused.length - before >= subjects.length, { what: `${user}'s refusals` });
      expect(c.refused.slice(before).sort(), user).toEqual(subjects.map((x) => `Permissions Violation for Publish to "${x}"`).sort());
    }
    // Private inboxes: a caller cannot listen to another user's replies.
    const web = conns.get("web")!;
    const before = web.refused.length;
    web.nc.subscribe(`${inboxPrefixFor("coordinator")}.>`);
    web.nc.subscribe("_INBOX.>");
    await web.nc.flush();
    await waitFor(() => web.refused.length - before >= 2, { what: "web's refused subscriptions" });
    expect(web.refused.slice(before).sort()).toEqual([`Permissions Violation for Subscription to "${inboxPrefixFor("coordinator")}.>"`, 'Permissions Violation for Subscription to "_INBOX.>"'].sort());
  });

  it("the reply-subject attacks of a caller leave the lease key and the registry bucket unchanged", async () => {
    const kvm = new Kvm(jetstream(admin));
    const lease = await kvm.open(leaseBucket);
    const registry = await kvm.open(registryBucket);
    const keys = async () => {
      const all: string[] = [];
      for await (const k of await registry.keys()) all.push(k);
      return all.sort();
    };
    const keysBefore = await keys();
    const leaseWrites: Uint8Array[] = [];
    admin.subscribe(`$KV.${leaseBucket}.>`, { callback: (_e, m) => void leaseWrites.push(m.data) });
    const purges: string[] = [];
    admin.subscribe("$JS.API.STREAM.>", { callback: (_e, m) => void (/PURGE|DELETE/.test(m.subject) && purges.push(m.subject)) });
    const forgedHeartbeats: string[] = [];
    admin.subscribe(s.heartbeat("orders", "victim"), { callback: (_e, m) => void forgedHeartbeats.push(m.subject) });
    await admin.flush();

    const web = conns.get("web")!;
    const refusedBefore = web.refused.length;
    const coordinatorRefusals = coordinator.stats().invalid[REPLY_SUBJECT_KIND] ?? 0;
    const agentRefusals = orders.invalid.snapshot()[REPLY_SUBJECT_KIND] ?? 0;
    const heartbeat = encodeJson({ v: 1, id: "victim", service: "orders", seq: 1, sentAt: Date.now(), inFlight: 0, status: "ok" });
    for (let i = 0; i < 5; i++) {
      web.nc.publish(s.registryQuery, new Uint8Array(0), { reply: `$KV.${leaseBucket}.leader` });
      web.nc.publish(s.registryQuery, new Uint8Array(0), { reply: `$JS.API.STREAM.PURGE.KV_${registryBucket}` });
      web.nc.publish(s.instance("orders", orders.id, "echo"), heartbeat, { reply: s.heartbeat("orders", "victim") });
      web.nc.publish(s.service("orders", "echo"), heartbeat, { reply: `$KV.${leaseBucket}.leader` });
    }
    await web.nc.flush();
    await waitFor(() => (coordinator.stats().invalid[REPLY_SUBJECT_KIND] ?? 0) - coordinatorRefusals === 10, { what: "the coordinator refused 10 queries" });
    await waitFor(() => (orders.invalid.snapshot()[REPLY_SUBJECT_KIND] ?? 0) - agentRefusals === 10, { what: "the agent refused 10 requests" });
    // A legitimate query and call afterwards: answered, so the attacks before them were handled.
    expect(await client.call("orders", "echo", "after")).toBe("after");
    await admin.flush();

    expect(purges).toEqual([]);
    expect(forgedHeartbeats).toEqual([]);
    for (const data of leaseWrites) expect(decodeMessage("coordinator-lease", data).ok).toBe(true);
    const held = decodeMessage("coordinator-lease", (await lease.get("leader"))!.value);
    expect(held.ok && held.value.coordinator).toBe(coordinator.id);
    expect(coordinator.isLeader).toBe(true);
    expect(await keys()).toEqual(keysBefore);
    // Publishing with a forbidden reply subject is not itself a violation: the defence is the responder's policy.
    expect(web.refused.slice(refusedBefore)).toEqual([]);
  });
});

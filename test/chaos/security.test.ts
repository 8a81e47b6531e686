/**
 * Security: a nats-server with users and subject permissions (config generated here) confines each
 * service to its own subjects, and everything works over TLS with a test CA (mutual TLS).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PermissionViolationError, connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { createClient, queryRegistry, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { Subjects, connectNats, encodeJson, readErrorReply, toConnectionOptions, type NatsSettings } from "../../src/protocol/index.js";
import { generateTestCertificates, type TestCertificates } from "../helpers/certs.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { PASSWORDS, authorizationConfig, inboxPrefixFor } from "./permissions.js";

/** Collects the permission violations the server reports to a connection. */
function violations(nc: NatsConnection): PermissionViolationError[] {
  const seen: PermissionViolationError[] = [];
  void (async () => {
    for await (const s of nc.status() as AsyncIterable<Status>) {
      if (s.type === "error" && s.error instanceof PermissionViolationError) seen.push(s.error);
    }
  })();
  return seen;
}

/** Every message an unrestricted observer sees on `<prefix>.>`. */
function record(nc: NatsConnection, subject: string): string[] {
  const subjects: string[] = [];
  nc.subscribe(subject, {
    callback: (_e, m) => {
      subjects.push(m.subject);
    },
  });
  return subjects;
}

describe("security: users and subject permissions", () => {
  const prefix = "sb";
  const s = new Subjects(prefix);
  let server: NatsServer;
  let admin: NatsConnection;
  let seen: string[];
  let orders: Agent;
  let coordinator: Coordinator;
  const as = (user: keyof typeof PASSWORDS): NatsSettings => ({
    servers: server.url,
    user,
    pass: PASSWORDS[user],
    ...(user === "admin" ? {} : { inboxPrefix: inboxPrefixFor(user) }),
  });

  beforeAll(async () => {
    server = await startNatsServer({ config: authorizationConfig(prefix) });
    admin = await connectNats(as("admin"));
    seen = record(admin, `${prefix}.>`);
    await admin.flush();
    coordinator = createCoordinator({ ...as("coordinator"), prefix, leaseMs: 600 });
    await coordinator.start();
    orders = createAgent({ service: "orders", ...as("orders"), prefix, heartbeatMs: 100, metricsIntervalMs: 100 });
    orders.endpoint("echo", (p) => p);
    await orders.start();
  });
  afterAll(async () => {
    await orders?.stop();
    await coordinator?.stop();
    await admin?.close();
    await server?.dispose();
  });

  it("a confined service announces, heartbeats, publishes metrics and serves its own subjects", async () => {
    const own = violations(orders.nc);
    await waitFor(
      () =>
        seen.includes(s.announce("orders", orders.id)) &&
        seen.includes(s.heartbeat("orders", orders.id)) &&
        seen.includes(s.metrics("orders", orders.id)),
      { what: "orders' own events" },
    );
    const web = await connectNats(as("web"));
    const webRefused = violations(web);
    // A caller under the `web` user: registry cache (query + events) and balanced calls on its inbox.
    const client: Client = await createClient({ nats: web, prefix, timeoutMs: 1000, backoff: { baseMs: 5, capMs: 20 } }).start();
    try {
      await waitFor(() => (client.registry as RegistryCache).instances("orders").length === 1, { what: "orders routed by the web client" });
      expect(await client.call("orders", "echo", { hi: 1 })).toEqual({ hi: 1 });
      expect(client.stats().fallbackCalls).toBe(0);
      const queued = await web.request(s.service("orders", "echo"), encodeJson({ hi: 2 }), { timeout: 2000 });
      expect(queued.json()).toEqual({ hi: 2 });
      expect(webRefused).toEqual([]);
      // Standard NATS tooling can still discover it.
      const ping = await web.request("$SRV.PING.orders", undefined, { timeout: 2000 }).catch((e: unknown) => e);
      // `web` may not publish on $SRV (not in its allow list): the server refuses, so no reply comes.
      expect(ping).toBeInstanceOf(Error);
      const adminPing = await admin.request("$SRV.PING.orders", undefined, { timeout: 2000 });
      expect(adminPing.json<{ id: string }>().id).toBe(orders.id);
    } finally {
      await client.stop();
      await web.close();
    }
    expect(own).toEqual([]);
    console.log(`security: orders served its own subjects with ${own.length} permission violations`);
  });

  it("the server refuses a service's announce, heartbeat, leave and metrics as another service", async () => {
    const nc = await connectNats(as("orders"));
    const refused = violations(nc);
    const before = seen.length;
    try {
      const forged = ["announce", "heartbeat", "leave", "metrics"].map((kind) => `${prefix}.${kind}.billing.forged-1`);
      const body = encodeJson({ v: 1, id: "forged-1", service: "billing", seq: 1, sentAt: Date.now(), inFlight: 0, status: "ok" });
      for (const subject of forged) nc.publish(subject, body);
      // Also outside its own service prefix: the registry, sync and registry events are not its to publish.
      const infra = [s.sync, s.registryEvents, s.registryRegister];
      for (const subject of infra) nc.publish(subject, encodeJson({ v: 1 }));
      await nc.flush();
      await waitFor(() => refused.length >= forged.length + infra.length, { what: "a permission violation per forged publish" });
      expect(refused.map((e) => [e.operation, e.subject]).sort()).toEqual(
        [...forged, ...infra].map((subj) => ["publish", subj]).sort(),
      );
      // A round trip through the observer's server connection: nothing forged got through.
      await admin.flush();
      await sleep(100);
      for (const subject of [...forged, ...infra]) expect(seen.slice(before)).not.toContain(subject);
      console.log(`security: ${refused.length} forged publishes refused by the server, 0 delivered`);
    } finally {
      await nc.close();
    }
  });

  it("a service that forges another service's name in the body on its own subjects is refused by the coordinator", async () => {
    const nc = await connectNats(as("orders"));
    const refusedByServer = violations(nc);
    const before = coordinator.stats();
    const eventsBefore = seen.filter((subj) => subj === s.registryEvents).length;
    try {
      const forgedId = "forged-2";
      const billingRecord = { id: forgedId, service: "billing", version: "1.0.0", endpoints: ["charge"], heartbeatMs: 100, startedAt: Date.now() };
      // Its own subjects (the server lets these through), bodies naming billing or another orders instance.
      nc.publish(s.announce("orders", forgedId), encodeJson({ v: 1, instance: billingRecord }));
      nc.publish(s.heartbeat("orders", forgedId), encodeJson({ v: 1, id: forgedId, service: "billing", seq: 1, sentAt: Date.now(), inFlight: 0, status: "ok" }));
      nc.publish(s.leave("orders", forgedId), encodeJson({ v: 1, id: orders.id, service: "orders", reason: "stop" }));
      nc.publish(s.heartbeat("orders", forgedId), encodeJson({ v: 1, id: orders.id, service: "orders", seq: 1e9, sentAt: Date.now(), inFlight: 0, status: "draining" }));
      await nc.flush();
      await waitFor(() => coordinator.stats().invalidTotal - before.invalidTotal === 4, { what: "4 refusals by the coordinator" });
      const after = coordinator.stats();
      expect(after.invalid.announce! - (before.invalid.announce ?? 0)).toBe(1);
      expect(after.invalid.heartbeat! - (before.invalid.heartbeat ?? 0)).toBe(2);
      expect(after.invalid.leave! - (before.invalid.leave ?? 0)).toBe(1);
      expect(refusedByServer).toEqual([]);
      // The registry: orders is still up and healthy, billing never appeared, no event was published for it.
      const snap = await queryRegistry(admin, s);
      expect(snap.instances.map((v) => [v.instance.service, v.instance.id, v.state, v.status])).toEqual([["orders", orders.id, "up", "ok"]]);
      expect(seen.filter((subj) => subj === s.registryEvents).length).toBe(eventsBefore);
      console.log(`security: coordinator refused ${after.invalidTotal - before.invalidTotal} forged bodies on the service's own subjects`);
    } finally {
      await nc.close();
    }
  });

  it("a service cannot serve another service's subjects, nor a caller publish instance events", async () => {
    const billing = await connectNats(as("orders"));
    const refused = violations(billing);
    const web = await connectNats(as("web"));
    const webRefused = violations(web);
    try {
      const stolen: string[] = [];
      const steal = (e: Error | null, m: { subject: string }) => {
        if (!e) stolen.push(m.subject);
      };
      billing.subscribe(s.service("billing", "charge"), { queue: "billing", callback: steal });
      billing.subscribe(`${prefix}.inst.billing.>`, { callback: steal });
      billing.subscribe(`${prefix}.heartbeat.>`, { callback: steal });
      await billing.flush();
      await waitFor(() => refused.length >= 3, { what: "three refused subscriptions" });
      expect(refused.map((e) => e.operation)).toEqual(["subscription", "subscription", "subscription"]);
      // Nobody serves billing: a call gets "no responders", the orders connection hears nothing.
      const call = await web.request(s.service("billing", "charge"), encodeJson({ amount: 1 }), { timeout: 1000 }).catch((e: unknown) => e);
      expect(call).toBeInstanceOf(Error);
      expect(stolen).toEqual([]);
      // A caller cannot pretend to be an instance.
      web.publish(s.heartbeat("orders", orders.id), encodeJson({ v: 1 }));
      web.publish(s.leave("orders", orders.id), encodeJson({ v: 1, id: orders.id, service: "orders", reason: "stop" }));
      await web.flush();
      await waitFor(() => webRefused.length >= 2, { what: "the caller's forged events refused" });
      expect(webRefused.every((e) => e.operation === "publish")).toBe(true);
      // The real instance keeps serving.
      const ok = await web.request(s.instance("orders", orders.id, "echo"), encodeJson("still here"), { timeout: 2000 });
      expect(ok.json()).toBe("still here");
    } finally {
      await billing.close();
      await web.close();
    }
  });

  it("an agent started as another service under a service's user is refused everywhere", async () => {
    const nc = await connectNats(as("orders"));
    const refused = violations(nc);
    const impostor = createAgent({ service: "billing", nats: nc, prefix, heartbeatMs: 100, metricsIntervalMs: 0 });
    impostor.endpoint("charge", () => "stolen");
    const before = seen.length;
    await impostor.start();
    try {
      await sleep(350);
      // Its announce and heartbeats never reach anyone; a call to billing finds no responder.
      expect(seen.slice(before).filter((subj) => subj.includes(".billing."))).toEqual([]);
      const published = new Set(refused.filter((e) => e.operation === "publish").map((e) => e.subject));
      expect(published).toContain(s.announce("billing", impostor.id));
      expect(published).toContain(s.heartbeat("billing", impostor.id));
      const subscribed = new Set(refused.filter((e) => e.operation === "subscription").map((e) => e.subject));
      expect(subscribed).toContain(`${prefix}.inst.billing.${impostor.id}.*`);
      expect(subscribed).toContain(s.service("billing", "charge"));
      expect(subscribed).toContain("$SRV.PING.billing");
      const call = await admin.request(s.instance("billing", impostor.id, "charge"), encodeJson(1), { timeout: 1000 }).catch((e: unknown) => e);
      expect(call).toBeInstanceOf(Error);
      console.log(`security: impostor agent got ${published.size} publishes and ${subscribed.size} subscriptions refused`);
    } finally {
      await impostor.stop();
      await nc.close();
    }
  });
});

describe("security: TLS with a test CA", () => {
  let certs: TestCertificates;
  let server: NatsServer;
  let agent: Agent;
  let coordinator: Coordinator;
  const prefix = "sb";
  const s = new Subjects(prefix);

  beforeAll(async () => {
    certs = generateTestCertificates();
    server = await startNatsServer({
      config: `tls {
  cert_file: "${certs.serverCert}"
  key_file: "${certs.serverKey}"
  ca_file: "${certs.caFile}"
  verify: true
  timeout: 2
}`,
    });
    agent = createAgent({
      service: "secure",
      servers: server.url,
      tls: { caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey },
      prefix,
      heartbeatMs: 100,
      metricsIntervalMs: 0,
    });
    agent.endpoint("echo", (p) => p);
    await agent.start();
    coordinator = createCoordinator({ servers: server.url, tls: tls(), prefix, leaseMs: 600 });
    await coordinator.start();
  });
  afterAll(async () => {
    await agent?.stop();
    await coordinator?.stop();
    await server?.dispose();
    certs?.dispose();
  });

  const tls = () => ({ caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey });

  it("coordinator, registry cache and balanced calls work over mutual TLS", async () => {
    const client = await createClient({ servers: server.url, tls: tls(), prefix, timeoutMs: 1000 }).start();
    try {
      expect(client.nc.info?.tls_required).toBe(true);
      await waitFor(() => (client.registry as RegistryCache).instances("secure").length === 1, { what: "routed over TLS" });
      for (let i = 0; i < 20; i++) expect(await client.call("secure", "echo", { i })).toEqual({ i });
      expect(client.stats()).toMatchObject({ succeeded: 20, failed: 0, fallbackCalls: 0 });
      expect(coordinator.isLeader).toBe(true);
      console.log("security: 20 balanced calls over mutual TLS, 0 failed");
    } finally {
      await client.stop();
    }
  });

  it("an agent and a raw caller talk over mutual TLS", async () => {
    const nc = await connectNats({ servers: server.url, tls: tls() });
    try {
      expect(nc.info?.tls_required).toBe(true);
      const hb = await new Promise<string>((resolve) => {
        const sub = nc.subscribe(s.heartbeat("secure", agent.id), { max: 1, callback: (_e, m) => resolve(m.subject) });
        void sub;
      });
      expect(hb).toBe(s.heartbeat("secure", agent.id));
      const reply = await nc.request(s.instance("secure", agent.id, "echo"), encodeJson({ over: "tls" }), { timeout: 2000 });
      expect(readErrorReply(reply)).toBeNull();
      expect(reply.json()).toEqual({ over: "tls" });
    } finally {
      await nc.close();
    }
  });

  it("refuses a client without a certificate, with an untrusted certificate, or that does not trust the server", async () => {
    const attempts: Array<[string, NatsSettings]> = [
      ["no client certificate", { tls: { caFile: certs.caFile } }],
      ["client certificate from another CA", { tls: { caFile: certs.caFile, certFile: certs.rogueClientCert, keyFile: certs.rogueClientKey } }],
      ["server not trusted", { tls: { caFile: certs.rogueCaFile, certFile: certs.clientCert, keyFile: certs.clientKey } }],
      ["plain text", {}],
    ];
    for (const [what, settings] of attempts) {
      // A 2 s connect timeout: a client certificate the server rejects after the TLS 1.3 handshake
      // otherwise leaves nats.js waiting for the server's INFO until its 20 s default.
      const outcome = await connect({ ...toConnectionOptions({ servers: server.url, ...settings }), timeout: 2000 })
        .then(async (nc) => {
          // With a rejected client certificate the handshake may complete before the server checks it.
          const r = await nc.request(s.instance("secure", agent.id, "echo"), encodeJson(1), { timeout: 1000 }).catch((e: unknown) => e);
          await nc.close();
          return r instanceof Error ? "refused" : "connected";
        })
        .catch(() => "refused");
      expect(outcome, what).toBe("refused");
    }
  });
});

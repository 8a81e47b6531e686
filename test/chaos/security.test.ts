/**
 * Security: a nats-server with users and subject permissions (config generated here) confines each
 * service to its own subjects, and everything works over TLS with a test CA (mutual TLS).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PermissionViolationError, connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import { createAgent, type Agent } from "../../src/agent/index.js";
import { Subjects, connectNats, encodeJson, readErrorReply, toConnectionOptions, type NatsSettings } from "../../src/protocol/index.js";
import { generateTestCertificates, type TestCertificates } from "../helpers/certs.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { PASSWORDS, authorizationConfig } from "./permissions.js";

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
  const as = (user: keyof typeof PASSWORDS): NatsSettings => ({ servers: server.url, user, pass: PASSWORDS[user] });

  beforeAll(async () => {
    server = await startNatsServer({ config: authorizationConfig(prefix) });
    admin = await connectNats(as("switchboard"));
    seen = record(admin, `${prefix}.>`);
    await admin.flush();
    orders = createAgent({ service: "orders", ...as("orders"), prefix, heartbeatMs: 100, metricsIntervalMs: 100 });
    orders.endpoint("echo", (p) => p);
    await orders.start();
  });
  afterAll(async () => {
    await orders?.stop();
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
    try {
      const direct = await web.request(s.instance("orders", orders.id, "echo"), encodeJson({ hi: 1 }), { timeout: 2000 });
      expect(direct.json()).toEqual({ hi: 1 });
      const queued = await web.request(s.service("orders", "echo"), encodeJson({ hi: 2 }), { timeout: 2000 });
      expect(queued.json()).toEqual({ hi: 2 });
      // Standard NATS tooling can still discover it.
      const ping = await web.request("$SRV.PING.orders", undefined, { timeout: 2000 }).catch((e: unknown) => e);
      // `web` may not publish on $SRV (not in its allow list): the server refuses, so no reply comes.
      expect(ping).toBeInstanceOf(Error);
      const adminPing = await admin.request("$SRV.PING.orders", undefined, { timeout: 2000 });
      expect(adminPing.json<{ id: string }>().id).toBe(orders.id);
    } finally {
      await web.close();
    }
    expect(own).toEqual([]);
    console.log(`security: orders served its own subjects with ${own.length} permission violations`);
  });

  it("the server refuses a service's announce, heartbeat, leave and metrics as another service", async () => {
    const nc = await connectNats(as("orders"));
    const refused = violations(nc);
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
      for (const subject of [...forged, ...infra]) expect(seen).not.toContain(subject);
      console.log(`security: ${refused.length} forged publishes refused by the server, 0 delivered`);
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
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.dispose();
    certs?.dispose();
  });

  const tls = () => ({ caFile: certs.caFile, certFile: certs.clientCert, keyFile: certs.clientKey });

  it("an agent and a caller talk over mutual TLS", async () => {
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

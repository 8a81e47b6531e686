/**
 * HTTP services as full members (issue 12), all real: nats-server with JetStream, two coordinators,
 * a collector with the instance-down rule, a mail notifier on the SMTP test server, a gateway, and
 * two plain HTTP services as child processes on loopback, registered over HTTP with health checks.
 * Calls through POST /call and through client.call over NATS (the bridge) are balanced over both;
 * a SIGKILLed service costs no idempotent call, is marked down by its health check within the
 * configured threshold and mailed; restarted, it comes back up and the alert resolves; registrations
 * survive a gateway restart and a leader change; 5xx answers are retried only for idempotent calls.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type Client } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { createGateway, type Gateway } from "../../src/gateway/index.js";
import { createCollector, type Collector } from "../../src/monitor/index.js";
import { createMailNotifier, type MailNotifier } from "../../src/notify/index.js";
import { Subjects, decodeJson, type RegistryEvent } from "../../src/protocol/index.js";
import { writeRules } from "../helpers/alerting.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startFixture, type FixtureProcess } from "../helpers/processes.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

const SERVICE = "legacy-billing";
const INTERVAL_MS = 500;
/** The coordinators' default: down after 3 intervals without a passed check. */
const DOWN_AFTER_MS = 3 * INTERVAL_MS;

describe("HTTP services registered through the gateway", () => {
  let server: NatsServer;
  let smtp: TestSmtpServer;
  let nc: NatsConnection;
  let c1: Coordinator;
  let c2: Coordinator;
  let collector: Collector;
  let notifier: MailNotifier;
  let gateway: Gateway;
  let client: Client;
  const services = new Map<string, FixtureProcess>();
  const ports = new Map<string, number>();
  const ids = new Map<string, string>();
  const events: RegistryEvent[] = [];
  const prefix = uniquePrefix();
  const subjects = new Subjects(prefix);

  const startService = async (name: string, port = 0) => {
    const p = await startFixture("http-service.ts", { NAME: name, PORT: String(port) });
    services.set(name, p);
    ports.set(name, Number(p.ready));
    return p;
  };
  const registration = (name: string) => ({
    serviceName: SERVICE,
    serviceAddress: `http://127.0.0.1:${ports.get(name)}`,
    version: "2.0.0",
    endpoints: ["invoice", "fail", "busy"],
    healthCheck: { path: "/health", intervalMs: INTERVAL_MS, timeoutMs: 450 },
  });
  const post = (path: string, body: unknown) =>
    fetch(gateway.url + path, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  const stats = async (name: string) => (await (await fetch(`http://127.0.0.1:${ports.get(name)}/stats`)).json()) as Record<string, number>;
  const upIds = () => client.registry!.instances(SERVICE).filter((v) => v.state === "up").map((v) => v.instance.id);

  beforeAll(async () => {
    server = await startNatsServer();
    smtp = await startSmtpServer();
    nc = await connect({ servers: server.url });
    nc.subscribe(subjects.registryEvents, { callback: (_e, m) => void events.push(decodeJson(m.data) as RegistryEvent) });
    const coordinatorOpts = { servers: server.url, prefix, leaseMs: 600, removeAfterIntervals: 60 };
    c1 = await createCoordinator({ ...coordinatorOpts, id: "c1" }).start();
    c2 = await createCoordinator({ ...coordinatorOpts, id: "c2" }).start();
    collector = createCollector({
      servers: server.url,
      prefix,
      evaluationIntervalMs: 100,
      evaluationDelayMs: 100,
      rules: writeRules(`
rules:
  - name: InstanceDown
    service: "*"
    metric: instance_down
    severity: warning
`),
    });
    await collector.start();
    notifier = createMailNotifier({
      servers: server.url,
      prefix,
      smtp: { host: smtp.host, port: smtp.port, secure: false, from: "switchboard@example.com" },
      to: "oncall@example.com",
      groupWaitMs: 100,
      groupIntervalMs: 200,
    });
    await notifier.start();
    gateway = await createGateway({ servers: server.url, prefix, port: 0, timeoutMs: 5000 }).start();
    client = await createClient({ servers: server.url, prefix }).start();
    await startService("a");
    await startService("b");
    for (const name of ["a", "b"]) {
      const r = await post("/register", registration(name));
      expect(r.status).toBe(200);
      expect(await r.json()).toStrictEqual({ status: "success" });
      ids.set(name, r.headers.get("sb-instance-id")!);
    }
  });

  afterAll(async () => {
    for (const p of services.values()) await p.kill();
    await client?.stop();
    await gateway?.stop();
    await notifier?.stop();
    await collector?.stop();
    await c2?.stop();
    await c1?.stop();
    await nc?.close();
    await smtp?.dispose();
    await server?.dispose();
  });

  it("balances POST /call and client.call over NATS across both HTTP instances", async () => {
    await waitFor(() => upIds().length === 2, { what: "both HTTP instances up in the client's registry" });
    const viaHttp = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await post(`/call/${SERVICE}/invoice`, { n: i });
      expect(r.status).toBe(200);
      const body = (await r.json()) as { instance: string; got: unknown };
      expect(body.got).toStrictEqual({ n: i });
      viaHttp.add(body.instance);
    }
    expect([...viaHttp].sort()).toEqual(["a", "b"]);
    const viaNats = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const reply = (await client.call(SERVICE, "invoice", { n: i })) as { instance: string; got: unknown };
      expect(reply.got).toStrictEqual({ n: i });
      viaNats.add(reply.instance);
    }
    expect([...viaNats].sort()).toEqual(["a", "b"]);
    // The seed's body shape too.
    const seed = await post("/call", { service: SERVICE, endpoint: "invoice", request: { amount: 10 } });
    expect(await seed.json()).toMatchObject({ got: { amount: 10 } });
  });

  it("maps HTTP errors to the error convention; a 5xx is retried only when the call is idempotent", async () => {
    const hits = async () => ((await stats("a"))["POST /fail"] ?? 0) + ((await stats("b"))["POST /fail"] ?? 0);
    const before = await hits();
    const once = await post(`/call/${SERVICE}/fail`, {});
    expect(once.status).toBe(502);
    expect(await once.json()).toStrictEqual({ status: "error", code: "BAD_GATEWAY", message: expect.stringContaining("HTTP 500: broken on purpose") });
    expect(await hits()).toBe(before + 1);
    const retried = await post(`/call/${SERVICE}/fail?idempotent=true&deadlineMs=3000`, {});
    expect(retried.status).toBe(502);
    // Retried on the other instance (and again, within the attempts and the retry budget).
    expect(await hits()).toBeGreaterThanOrEqual(before + 3);
    // 503 is a refusal before any work: retried on the other instance even when not idempotent, then UNAVAILABLE.
    const busyBefore = ((await stats("a"))["POST /busy"] ?? 0) + ((await stats("b"))["POST /busy"] ?? 0);
    await expect(client.call(SERVICE, "busy", {}, { deadlineMs: 5000, maxAttempts: 2 })).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(((await stats("a"))["POST /busy"] ?? 0) + ((await stats("b"))["POST /busy"] ?? 0)).toBe(busyBefore + 2);
  });

  it("SIGKILL of one instance under load: zero failed idempotent calls, down within the threshold, mailed; restarted: up and resolved", async () => {
    let calls = 0;
    const failures: unknown[] = [];
    let loading = true;
    const worker = async () => {
      while (loading) {
        try {
          await client.call(SERVICE, "invoice", { load: true }, { idempotent: true, deadlineMs: 5000, timeoutMs: 1000 });
          calls++;
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    await waitFor(() => calls >= 50, { what: "load running" });
    const victim = ids.get("a")!;
    const killedAt = Date.now();
    await services.get("a")!.kill();
    const down = await waitFor(() => events.find((e) => e.type === "down" && e.instance.instance.id === victim), { what: "victim down", timeoutMs: 10_000 });
    // The coordinator decided exactly at the configured threshold after the last passed check,
    // and that check was no older than one interval (plus its timeout) before the kill.
    expect(down.instance.since - down.instance.lastSeen).toBeGreaterThanOrEqual(DOWN_AFTER_MS);
    expect(down.instance.since - down.instance.lastSeen).toBeLessThanOrEqual(DOWN_AFTER_MS + 150);
    expect(down.instance.lastSeen).toBeGreaterThan(killedAt - INTERVAL_MS - 450);
    const callsAtDown = calls;
    await waitFor(() => calls >= callsAtDown + 50, { what: "load after the kill" });
    loading = false;
    await Promise.all(workers);
    expect(failures).toEqual([]);

    const [firing] = await smtp.waitForMails(1, { timeoutMs: 15_000 });
    expect(firing!.parsed.subject).toBe(`[FIRING] InstanceDown: ${SERVICE}/${victim} (warning)`);
    // The survivor never went down (its checks kept passing under the load).
    expect(events.filter((e) => e.type === "down" && e.instance.instance.id !== victim)).toEqual([]);

    // Same address again: the health check passes, the instance is up, the alert resolves.
    await startService("a", ports.get("a"));
    await waitFor(() => events.find((e) => e.type === "up" && e.instance.instance.id === victim && e.at > down.at), { what: "victim up again", timeoutMs: 10_000 });
    const [, resolved] = await smtp.waitForMails(2, { timeoutMs: 15_000 });
    expect(resolved!.parsed.subject).toBe(`[RESOLVED] InstanceDown: ${SERVICE}/${victim} (warning)`);
  });

  it("registrations survive a gateway restart and a leader change, and health checks continue under the new leader", async () => {
    await waitFor(() => upIds().length === 2, { what: "both up" });
    await gateway.stop();
    gateway = await createGateway({ servers: server.url, prefix, port: 0, timeoutMs: 5000 }).start();
    const listed = (await (await fetch(`${gateway.url}/query?serviceName=${SERVICE}&all=true`)).json()) as { instances: Array<{ id: string; state: string }> };
    expect(listed.instances.map((i) => i.id).sort()).toEqual([...ids.values()].sort());

    const leader = c1.isLeader ? c1 : c2;
    const follower = leader === c1 ? c2 : c1;
    const passedBefore = follower.httpCheckStats().passed;
    const changeAt = Date.now();
    await leader.stop();
    await waitFor(() => follower.isLeader, { what: "the other coordinator leads" });
    // The new leader checks both instances (none lost) and their heartbeats keep them up.
    await waitFor(() => follower.httpCheckStats().passed >= passedBefore + 6, { what: "checks by the new leader" });
    expect(follower.httpCheckStats().checking).toBe(2);
    const after = events.filter((e) => e.at > changeAt && e.instance.instance.service === SERVICE);
    expect(after.filter((e) => e.type === "down" || e.type === "removed")).toEqual([]);
    await waitFor(() => upIds().length === 2, { what: "both up under the new leader" });
    const reply = (await client.call(SERVICE, "invoice", { after: "leader change" }, { idempotent: true })) as { got: unknown };
    expect(reply.got).toStrictEqual({ after: "leader change" });
  });
});

/**
 * Chaos: the nats-server is SIGKILLed and restarted (same port, same JetStream data) under load.
 * Agents (child processes), the coordinator, the collector, the mail notifier and the client all
 * reconnect on their own; the registry is complete again within two heartbeat intervals of
 * reconnecting; calls resume; and the whole alert path works afterwards (an instance killed after
 * the restart is mailed as down).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NatsConnection } from "@nats-io/transport-node";
import { createClient, queryRegistry, type Client, type RegistryCache } from "../../src/client/index.js";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import type { Collector } from "../../src/monitor/index.js";
import { createMailNotifier, type MailNotifier } from "../../src/notify/index.js";
import { Subjects, connectNats } from "../../src/protocol/index.js";
import { transitionsOf, instanceDownCollector } from "../helpers/alerting.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, type FixtureProcess } from "../helpers/processes.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { startLoad } from "./load.js";

const HEARTBEAT_MS = 250;
const OUTAGE_MS = 1000;

/** Resolves with the time of the next `reconnect` status of a connection. */
function nextReconnect(nc: NatsConnection): Promise<number> {
  return (async () => {
    for await (const s of nc.status()) if (s.type === "reconnect") return Date.now();
    return Number.NaN;
  })();
}

describe("chaos: nats-server SIGKILLed and restarted under load", () => {
  let server: NatsServer;
  let smtp: TestSmtpServer;
  let coordinator: Coordinator;
  let collector: Collector;
  let notifier: MailNotifier;
  let client: Client;
  let observer: NatsConnection;
  const agents: FixtureProcess[] = [];
  const prefix = uniquePrefix();
  const s = new Subjects(prefix);

  beforeAll(async () => {
    server = await startNatsServer();
    smtp = await startSmtpServer();
    coordinator = createCoordinator({ servers: server.url, prefix, leaseMs: 1000 });
    await coordinator.start();
    collector = instanceDownCollector({ servers: server.url, prefix });
    await collector.start();
    notifier = createMailNotifier({
      servers: server.url,
      prefix,
      smtp: { host: smtp.host, port: smtp.port, secure: false, from: "switchboard@example.com" },
      to: "oncall@example.com",
      groupWaitMs: 100,
      groupIntervalMs: 200,
      ackWaitMs: 2000,
      retryInitialMs: 200,
      retryMaxMs: 1000,
    });
    await notifier.start();
    agents.push(
      ...(await Promise.all(
        [1, 2, 3].map(() => startAgentProcess({ NATS_URL: server.url, SB_PREFIX: prefix, SB_HEARTBEAT_MS: String(HEARTBEAT_MS) })),
      )),
    );
    client = await createClient({
      servers: server.url,
      prefix,
      timeoutMs: 250,
      backoff: { baseMs: 20, capMs: 200 },
      // Instances that reconnect a little after the client answer "no responders" meanwhile and get
      // ejected; a short cool-down lets them back in quickly (with the default 5 s, killing the one
      // instance still admitted would leave only ejected ones, and calls fail fast until the cool-down
      // ends: see docs/CHAOS.md).
      breaker: { cooldownMs: 1000 },
    }).start();
    observer = await connectNats({ servers: server.url });
  });
  afterAll(async () => {
    await client?.stop();
    await Promise.all(agents.map((a) => a.kill()));
    await notifier?.stop();
    await collector?.stop();
    await coordinator?.stop();
    await observer?.close();
    await smtp?.dispose();
    await server?.dispose();
  });

  it("everyone reconnects, the registry is complete within two heartbeat intervals, calls resume, alerts still mail", async () => {
    const cache = client.registry as RegistryCache;
    const ids = () => agents.map((a) => a.ready).sort();
    const routed = () => cache.instances("echo").map((v) => v.instance.id).sort();
    const coordinatorUp = () =>
      coordinator.snapshot({ service: "echo", states: ["up"] }).instances.map((v) => v.instance.id).sort();
    const complete = () => JSON.stringify(routed()) === JSON.stringify(ids()) && JSON.stringify(coordinatorUp()) === JSON.stringify(ids());
    await waitFor(complete, { what: "every instance routed" });
    await waitFor(() => collector.stats().received >= 3, { what: "metrics at the collector" });

    const load = startLoad(client, { concurrency: 8, pauseMs: 5, deadlineMs: 15_000 });
    await load.successes(200);
    const before = { ...load.report, received: collector.stats().received, notifierReceived: notifier.stats().received };
    const reconnects = {
      coordinator: nextReconnect(coordinator.nc),
      client: nextReconnect(client.nc),
      observer: nextReconnect(observer),
    };

    // Breakers closed again because the client itself reconnected (its failures were its own).
    const forgiven = new Set<string | null>();
    client.onStateChange((c) => {
      if (c.reason === "client-reconnected") forgiven.add(c.instance);
    });

    const killedAt = Date.now();
    await server.kill();
    await sleep(OUTAGE_MS);
    // Every attempt failed while the server was down: the client's breakers opened.
    const openedWhileDown = Object.entries(client.breakerStates("echo")).filter(([, st]) => st !== "closed").map(([id]) => id);
    await server.restart();
    const restartedAt = Date.now();
    const failedWhileDown = load.report.failed - before.failed;

    const [coordinatorBack, clientBack] = await Promise.all([reconnects.coordinator, reconnects.client, reconnects.observer]);
    expect(openedWhileDown.length).toBeGreaterThan(0);
    await waitFor(() => openedWhileDown.every((id) => forgiven.has(id)), { timeoutMs: 2000, what: "the breakers opened by the outage to be forgiven" });
    // Complete again: every live instance up at the coordinator and routed by the client.
    await waitFor(complete, { timeoutMs: 10_000, intervalMs: 5, what: "the registry to be complete again" });
    const completeAt = Date.now();
    const sinceReconnect = completeAt - Math.max(coordinatorBack, clientBack);
    // Calls resume: the load makes progress again, on every instance (every agent reconnected and serves).
    await load.successes(200, 15_000);
    const resumedAt = Date.now();
    const servedBefore = new Map(load.report.byInstance);
    await waitFor(() => ids().every((id) => (load.report.byInstance.get(id) ?? 0) > (servedBefore.get(id) ?? 0)), {
      timeoutMs: 10_000,
      what: "every instance to serve calls again",
    });
    const everyInstanceAt = Date.now();
    const failedBeforeResume = load.report.failed;
    // Collector hears metrics again; the agents (child processes) reconnected and heartbeat.
    const received = collector.stats().received;
    await waitFor(() => collector.stats().received > received + 3, { timeoutMs: 5000, what: "metrics after the restart" });
    const snap = await queryRegistry(observer, s, { states: ["up"] });
    expect(snap.instances.map((v) => v.instance.id).sort()).toEqual(ids());
    expect(coordinator.isLeader).toBe(true);

    // The alert path end to end after the restart: an instance killed now is mailed as down, once.
    const victim = agents.shift()!;
    await victim.kill();
    const [mail] = await smtp.waitForMails(1, { timeoutMs: 15_000 });
    expect(mail!.parsed.subject).toBe(`[FIRING] InstanceDown: echo/${victim.ready} (critical)`);
    const report = await load.stop();
    await sleep(500);
    expect(smtp.mails.filter((m) => transitionsOf(m).some((t) => t.includes(".firing.")))).toHaveLength(1);

    console.log(
      `nats-server restart: SIGKILL, ${OUTAGE_MS} ms down, restarted in ${restartedAt - killedAt - OUTAGE_MS} ms; ` +
        `reconnected after restart: coordinator ${coordinatorBack - restartedAt} ms, client ${clientBack - restartedAt} ms; ` +
        `registry complete ${sinceReconnect} ms after the last of them reconnected (heartbeat ${HEARTBEAT_MS} ms); ` +
        `breakers opened by the outage: ${openedWhileDown.length}, closed on the client's reconnect; calls resumed (200 more replies) ${resumedAt - restartedAt} ms after the restart; ` +
        `calls: ${report.calls}, failed calls: ${report.failed} (while the server was down: ${failedWhileDown}, ` +
        `after the restart until every instance served again: ${failedBeforeResume - before.failed - failedWhileDown}, after: ${report.failed - failedBeforeResume}), ` +
        `longest gap between replies: ${report.longestGapMs} ms; instance-down mail after the restart: ${mail!.receivedAt - restartedAt} ms after the restart`,
    );
    expect(sinceReconnect).toBeLessThanOrEqual(2 * HEARTBEAT_MS);
    // Once every instance serves again, no call fails (the instance killed afterwards costs retries, not errors).
    expect(report.failed - failedBeforeResume).toBe(0);
  }, 90_000);
});

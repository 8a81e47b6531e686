/**
 * Chaos: alert mail delivery through notifier crashes and an SMTP outage. Real alerts (instances
 * SIGKILLed → coordinator → collector → JetStream alert stream), real notifier processes, a real
 * SMTP server. The first notifier is SIGKILLed in the middle of an SMTP transaction (the server
 * withholds its answer), the SMTP server then goes down, a second notifier is SIGKILLed while it
 * retries, and a third finishes the job once SMTP is back. Every transition is mailed exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { createCoordinator, type Coordinator } from "../../src/coordinator/index.js";
import { alertStreamName, type Collector } from "../../src/monitor/index.js";
import { connectNats, type AlertEvent } from "../../src/protocol/index.js";
import { instanceDownCollector } from "../helpers/alerting.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startAgentProcess, startFixture, type FixtureProcess } from "../helpers/processes.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { startStallingSmtp, type StallingSmtp } from "./stallingSmtp.js";

const ACK_WAIT_MS = 1500;
/** SMTP outage; 30 s in the scenario, shorter here: the same retry path, in CI time. */
const SMTP_OUTAGE_MS = 4000;

const key = (a: AlertEvent) => `${a.fingerprint}.${a.status}.${a.startsAt}`;

describe("chaos: notifier killed mid-delivery, SMTP server down", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let smtp: StallingSmtp;
  let coordinator: Coordinator;
  let collector: Collector;
  const prefix = uniquePrefix();
  const procs: FixtureProcess[] = [];
  const published: AlertEvent[] = [];

  const notifier = async (id: string) => {
    const p = await startFixture("notifier-process.ts", {
      NATS_URL: server.url,
      SB_PREFIX: prefix,
      SB_NOTIFIER_ID: id,
      SMTP_HOST: smtp.host,
      SMTP_PORT: String(smtp.port),
      SMTP_FROM: "switchboard@example.com",
      SMTP_TO: "oncall@example.com",
      SB_GROUP_WAIT_MS: "100",
      SB_GROUP_INTERVAL_MS: "200",
      SB_ACK_WAIT_MS: String(ACK_WAIT_MS),
    });
    procs.push(p);
    return p;
  };

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url });
    smtp = await startStallingSmtp("stall");
    coordinator = createCoordinator({ servers: server.url, prefix, leaseMs: 600 });
    await coordinator.start();
    collector = instanceDownCollector({ servers: server.url, prefix });
    collector.onAlert((a) => published.push(a));
    await collector.start();
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await collector?.stop();
    await coordinator?.stop();
    await nc?.close();
    await smtp?.dispose();
    await server?.dispose();
  });

  it("zero lost and zero duplicate mails across two notifier crashes and an SMTP outage", async () => {
    const agents = await Promise.all(
      // One service each: separate alert groups, so separate mails.
      ["orders", "billing", "stock"].map((service) => startAgentProcess({ NATS_URL: server.url, SB_PREFIX: prefix, SB_SERVICE: service, SB_HEARTBEAT_MS: "100" })),
    );
    procs.push(...agents);
    await waitFor(() => coordinator.snapshot({ states: ["up"] }).instances.length === 3, { what: "3 instances up" });
    const jsm = await jetstreamManager(nc);
    const pending = async () => (await jsm.consumers.info(alertStreamName(prefix), "notifier")).num_ack_pending;

    // 1. Notifier A takes the first alert and is SIGKILLed while the SMTP server holds its answer.
    const a = await notifier("A");
    const stall = smtp.nextStall(15_000);
    await agents[0]!.kill();
    await stall;
    await a.kill();
    const killedMidDelivery = smtp.stalled;
    expect(smtp.accepted).toHaveLength(0);

    // 2. SMTP goes down. While it is down, the first instance is removed (resolved) and a second one dies.
    await smtp.stop();
    smtp.mode = "accept";
    const outageStartedAt = Date.now();
    await agents[1]!.kill();
    const b = await notifier("B");
    // B holds alerts (A's, redelivered after ackWait, and the new ones) and retries SMTP in vain.
    await waitFor(async () => (await pending()) >= 2, { timeoutMs: 10_000, what: "B holding alerts" });
    await sleep(1000);
    await b.kill();

    // 3. A third instance dies; notifier C starts; SMTP comes back after the outage.
    await agents[2]!.kill();
    const c = await notifier("C");
    await sleep(Math.max(0, SMTP_OUTAGE_MS - (Date.now() - outageStartedAt)));
    await smtp.start();
    const smtpBackAt = Date.now();

    // Three instances down and removed: six transitions, all of them mailed.
    await waitFor(() => published.length === 6, { timeoutMs: 15_000, what: "six alert transitions published" });
    const expected = published.map(key).sort();
    const mailed = () => smtp.accepted.flatMap((m) => m.transitions);
    await waitFor(() => expected.every((k) => mailed().includes(k)), { timeoutMs: 20_000, what: "every transition mailed" });
    // Longer than the ack wait: a redelivered transition would be mailed again by now.
    await sleep(ACK_WAIT_MS + 1000);
    await waitFor(async () => (await pending()) === 0, { timeoutMs: 5000, what: "every alert acknowledged" });

    const transitions = mailed();
    const duplicates = transitions.filter((t, i) => transitions.indexOf(t) !== i);
    const lost = expected.filter((k) => !transitions.includes(k));
    const lastMail = Math.max(...smtp.accepted.map((m) => m.acceptedAt));
    console.log(
      `alert delivery: 3 notifiers (A SIGKILLed mid-SMTP-transaction, B SIGKILLed while retrying), SMTP down ${SMTP_OUTAGE_MS} ms; ` +
        `${expected.length} transitions published, ${smtp.accepted.length} mails, lost: ${lost.length}, duplicate: ${duplicates.length}; ` +
        `stalled transactions: ${killedMidDelivery}; last mail ${lastMail - smtpBackAt} ms after SMTP came back; ` +
        `C printed ${(c.output().match(/^MAIL /gm) ?? []).length} mails, B ${(b.output().match(/^MAIL /gm) ?? []).length}`,
    );
    expect(lost).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(transitions.sort()).toEqual(expected);
    expect(new Set(smtp.accepted.map((m) => m.messageId)).size).toBe(smtp.accepted.length);
    // Nothing reached the SMTP server before it came back (A's transaction was never answered).
    expect(smtp.accepted.every((m) => m.acceptedAt >= smtpBackAt)).toBe(true);
    expect(published.filter((p) => p.status === "firing")).toHaveLength(3);
  }, 90_000);
});

/**
 * No lost and no duplicate alert mails across a notifier crash (real child process, SIGKILL), a
 * redelivery of everything, and an SMTP outage. Real nats-server, real SMTP server.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { alertStreamName, createCollector, ensureAlertStream } from "../../src/monitor/index.js";
import { createMailNotifier, type MailNotifierOptions } from "../../src/notify/index.js";
import { Subjects, decodeJson, encodeJson, type AlertAckReply } from "../../src/protocol/index.js";
import { alertEvent, allTransitions, failingService, publishAlert, traffic, transitionsOf, writeRules } from "../helpers/alerting.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startFixture, type FixtureProcess } from "../helpers/processes.js";
import { startSmtpServer } from "../helpers/smtp.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

describe("alert mail durability", () => {
  const cleanup = new CleanupStack();
  afterEach(async () => {
    await cleanup.run();
  });

  async function rig() {
    const srv = await startNatsServer();
    cleanup.push(() => srv.dispose());
    const smtp = await startSmtpServer();
    cleanup.push(() => smtp.dispose());
    const nc = await connect({ servers: srv.url });
    cleanup.push(() => nc.close());
    const prefix = uniquePrefix();
    const subjects = new Subjects(prefix);
    await ensureAlertStream(await jetstreamManager(nc), subjects);
    const js = jetstream(nc);
    const notifierOptions = (over: Partial<MailNotifierOptions> = {}): MailNotifierOptions => ({
      servers: srv.url,
      prefix,
      smtp: { host: smtp.host, port: smtp.port, secure: false, from: "switchboard@example.com" },
      to: "ops@example.com",
      groupWaitMs: 100,
      groupIntervalMs: 200,
      repeatIntervalMs: 3_600_000,
      ackWaitMs: 1500,
      retryInitialMs: 300,
      retryMaxMs: 1000,
      ...over,
    });
    return { srv, smtp, nc, js, prefix, subjects, notifierOptions };
  }

  it("a notifier killed with SIGKILL while holding alerts, restarted later: every transition mailed once, none twice", async () => {
    const r = await rig();
    const env = {
      NATS_URL: r.srv.url,
      SB_PREFIX: r.prefix,
      SMTP_HOST: r.smtp.host,
      SMTP_PORT: String(r.smtp.port),
      SMTP_FROM: "switchboard@example.com",
      SMTP_TO: "ops@example.com",
      SB_GROUP_WAIT_MS: "1500", // long enough to kill it while it holds alerts
      SB_GROUP_INTERVAL_MS: "200",
      SB_ACK_WAIT_MS: "1500",
    };
    const start = async (id: string): Promise<FixtureProcess> => {
      const p = await startFixture("notifier-process.ts", { ...env, SB_NOTIFIER_ID: id });
      cleanup.push(() => p.kill());
      return p;
    };
    const a = await start("A");
    const one = alertEvent({ rule: "One", service: "api", startsAt: 1000 });
    await publishAlert(r.js, r.subjects, one);
    await r.smtp.waitForMails(1);
    await waitFor(() => /MAIL /.test(a.output()), { what: "A reported its mail" });

    // Two more fire; A takes them and holds them (group wait); then it crashes.
    const two = alertEvent({ rule: "Two", service: "api", startsAt: 2000 });
    const three = alertEvent({ rule: "Three", service: "web", startsAt: 3000 });
    await publishAlert(r.js, r.subjects, two);
    await publishAlert(r.js, r.subjects, three);
    const jsm = await jetstreamManager(r.nc);
    await waitFor(async () => (await jsm.consumers.info(alertStreamName(r.prefix), "notifier")).num_ack_pending === 2, { what: "A holding two alerts" });
    await a.kill();
    // While no notifier runs: one resolves.
    await publishAlert(r.js, r.subjects, { ...one, status: "resolved", endsAt: 5000 });
    await sleep(300);
    expect(r.smtp.mails).toHaveLength(1);

    const b = await start("B");
    await r.smtp.waitForMails(4, { timeoutMs: 15_000 });
    await sleep(2500); // longer than ackWait: a duplicate would show up now
    const sent = allTransitions(r.smtp.mails).sort();
    expect(sent).toEqual(
      [`${one.fingerprint}.firing.1000`, `${two.fingerprint}.firing.2000`, `${three.fingerprint}.firing.3000`, `${one.fingerprint}.resolved.1000`].sort(),
    );
    expect(r.smtp.mails).toHaveLength(4);
    expect(b.output()).toMatch(/MAIL /);
    await waitFor(async () => (await jsm.consumers.info(alertStreamName(r.prefix), "notifier")).num_ack_pending === 0, { what: "everything acknowledged" });
  });

  it("transitions recorded as sent are not mailed again when the stream delivers them again", async () => {
    const r = await rig();
    const n1 = createMailNotifier(r.notifierOptions({ durable: "first" }));
    await n1.start();
    cleanup.push(() => n1.stop());
    const events = [alertEvent({ rule: "A", service: "api" }), alertEvent({ rule: "B", service: "web" })];
    for (const e of events) await publishAlert(r.js, r.subjects, e);
    await r.smtp.waitForMails(2);
    await n1.stop();
    // A consumer that never acknowledged anything gets every message again: the redelivery case, wholesale.
    const n2 = createMailNotifier(r.notifierOptions({ durable: "second" }));
    await n2.start();
    cleanup.push(() => n2.stop());
    await waitFor(() => n2.stats().skippedAlreadySent === 2, { what: "n2 skipping both" });
    await sleep(500);
    expect(r.smtp.mails).toHaveLength(2);
    expect(n2.stats().mailsSent).toBe(0);
  });

  it("a collector restarted while an alert fires does not fire it again, and still resolves it", async () => {
    const r = await rig();
    const notifier = createMailNotifier(r.notifierOptions());
    await notifier.start();
    cleanup.push(() => notifier.stop());
    const rules = writeRules(`
rules:
  - { name: Errors, service: api, metric: error_rate, op: ">", threshold: 0.5, window: 1s, severity: critical }
`);
    const collector = (id: string) => createCollector({ servers: r.srv.url, prefix: r.prefix, id, rules, evaluationIntervalMs: 100, evaluationDelayMs: 100 });
    const first = collector("first");
    await first.start();
    cleanup.push(() => first.stop());
    const behaviour = { fail: true };
    const agent = await failingService(r.srv.url, r.prefix, "api", behaviour);
    cleanup.push(() => agent.stop());
    const stop = traffic(r.nc, r.subjects, "api");
    cleanup.push(stop);
    const [firing] = await r.smtp.waitForMails(1);
    await first.stop();
    const second = collector("second");
    await second.start();
    cleanup.push(() => second.stop());
    await sleep(1500); // the restarted collector sees the alert still firing: silence
    expect(r.smtp.mails).toHaveLength(1);
    expect(second.snapshot().alerts).toMatchObject([{ state: "firing", startsAt: Number(transitionsOf(firing!)[0]!.split(".")[2]) }]);
    behaviour.fail = false;
    const [, resolved] = await r.smtp.waitForMails(2);
    expect(transitionsOf(resolved!)).toEqual([transitionsOf(firing!)[0]!.replace(".firing.", ".resolved.")]);
    await stop();
  });

  it("a restarted notifier remembers acknowledgements and keeps repeating what still fires", async () => {
    const r = await rig();
    const opts = r.notifierOptions({ repeatIntervalMs: 600 });
    const first = createMailNotifier(opts);
    await first.start();
    cleanup.push(() => first.stop());
    const acked = alertEvent({ rule: "Acked", service: "api" });
    const unacked = alertEvent({ rule: "Unacked", service: "web" });
    await publishAlert(r.js, r.subjects, acked);
    await publishAlert(r.js, r.subjects, unacked);
    await r.smtp.waitForMails(2);
    const reply = await r.nc.request(r.subjects.alertAck, encodeJson({ v: 1, fingerprint: acked.fingerprint, by: "ann" }));
    expect((decodeJson(reply.data) as AlertAckReply).known).toBe(true);
    await first.stop();
    const count = r.smtp.mails.length;

    const second = createMailNotifier(opts);
    await second.start();
    cleanup.push(() => second.stop());
    const subjectsOf = () => r.smtp.mails.slice(count).map((m) => m.parsed.subject);
    await waitFor(() => subjectsOf().filter((s) => s === "[STILL FIRING] Unacked: web (critical)").length >= 2, { what: "repeats of the unacknowledged alert" });
    expect(subjectsOf().every((s) => s === "[STILL FIRING] Unacked: web (critical)")).toBe(true);
    // The acknowledged one is still known, and its resolution is still mailed.
    await publishAlert(r.js, r.subjects, { ...acked, status: "resolved", endsAt: acked.startsAt + 5000 });
    await r.smtp.waitForMails(1, { where: (m) => m.parsed.subject === "[RESOLVED] Acked: api (critical)" });
  });

  it("SMTP down for several seconds, then back: the mail arrives once, after the outage", async () => {
    const r = await rig();
    const notifier = createMailNotifier(r.notifierOptions());
    await notifier.start();
    cleanup.push(() => notifier.stop());
    // A mail before the outage leaves an open pooled connection that the outage breaks.
    await publishAlert(r.js, r.subjects, alertEvent({ rule: "BeforeOutage", service: "api" }));
    await r.smtp.waitForMails(1);
    await r.smtp.stop();
    const ev = alertEvent({ rule: "DuringOutage", service: "api" });
    await publishAlert(r.js, r.subjects, ev);
    await sleep(3500); // several failed attempts, each retried with backoff, past ackWait (kept alive)
    expect(notifier.stats().smtpFailures).toBeGreaterThanOrEqual(3);
    const backAt = Date.now();
    await r.smtp.start();
    const [, mail] = await r.smtp.waitForMails(2, { timeoutMs: 10_000 });
    expect(mail!.receivedAt).toBeGreaterThanOrEqual(backAt);
    expect(mail!.parsed.subject).toBe("[FIRING] DuringOutage: api (critical)");
    await sleep(2000);
    expect(r.smtp.mails).toHaveLength(2);
    const info = await (await jetstreamManager(r.nc)).consumers.info(alertStreamName(r.prefix), "notifier");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0); // progress acks kept it from being redelivered during the outage
  });
});

/**
 * Alerts end to end: agents → metrics → collector(s) → alert stream → mail notifier → a real SMTP
 * server. Real nats-server, real SMTP server (smtp-server + mailparser).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { alertStreamName, createCollector, type Collector } from "../../src/monitor/index.js";
import { createMailNotifier, type MailNotifier, type MailNotifierOptions } from "../../src/notify/index.js";
import { Subjects, decodeJson, encodeJson, readErrorReply, type AlertAckReply, type AlertEvent } from "../../src/protocol/index.js";
import { alertEvent, allTransitions, failingService, kindOf, publishAlert, traffic, transitionsOf, writeRules } from "../helpers/alerting.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startSmtpServer, type TestSmtpServer } from "../helpers/smtp.js";
import { sleep, uniquePrefix, waitFor } from "../helpers/wait.js";
import { CleanupStack } from "../helpers/cleanup.js";

const RULES = `
rules:
  - name: HighErrorRate
    service: api
    metric: error_rate
    op: ">"
    threshold: 0.5
    for: 600ms
    window: 1s
    severity: critical
    labels: { team: core }
    annotations:
      summary: "{{ $labels.service }} fails {{ $value }} of its requests"
`;

describe("alert mails", () => {
  const cleanup = new CleanupStack();
  afterEach(async () => {
    await cleanup.run();
  });

  async function rig(opts: { collectors?: number; rules?: string; notifier?: Partial<MailNotifierOptions> } = {}) {
    const srv = await startNatsServer();
    cleanup.push(() => srv.dispose());
    const smtp = await startSmtpServer();
    cleanup.push(() => smtp.dispose());
    const nc = await connect({ servers: srv.url });
    cleanup.push(() => nc.close());
    const prefix = uniquePrefix();
    const subjects = new Subjects(prefix);
    const rulesFile = writeRules(opts.rules ?? RULES);
    const collectors: Collector[] = [];
    for (let i = 0; i < (opts.collectors ?? 1); i++) {
      const c = createCollector({ servers: srv.url, prefix, id: `c${i + 1}`, rules: rulesFile, evaluationIntervalMs: 100, evaluationDelayMs: 100 });
      await c.start();
      cleanup.push(() => c.stop());
      collectors.push(c);
    }
    const notifier = createMailNotifier({
      servers: srv.url,
      prefix,
      smtp: { host: smtp.host, port: smtp.port, secure: false, from: "switchboard@example.com" },
      to: "ops@example.com",
      groupWaitMs: 100,
      groupIntervalMs: 300,
      repeatIntervalMs: 3_600_000,
      ackWaitMs: 2000,
      ...opts.notifier,
    });
    await notifier.start();
    cleanup.push(() => notifier.stop());
    return { srv, smtp, nc, prefix, subjects, collectors, notifier };
  }

  async function breachAndRecover(
    r: { srv: { url: string }; nc: NatsConnection; prefix: string; subjects: Subjects; smtp: TestSmtpServer },
    onFiring?: () => Promise<void>,
  ) {
    const behaviour = { fail: false };
    const agent = await failingService(r.srv.url, r.prefix, "api", behaviour);
    cleanup.push(() => agent.stop());
    const stop = traffic(r.nc, r.subjects, "api");
    cleanup.push(stop);
    await sleep(500);
    behaviour.fail = true;
    const breachAt = Date.now();
    const [firing] = await r.smtp.waitForMails(1, { timeoutMs: 10_000 });
    await onFiring?.();
    behaviour.fail = false;
    const recoveredAt = Date.now();
    const mails = await r.smtp.waitForMails(2, { timeoutMs: 10_000, where: (m) => kindOf(m) === "alerts" });
    await stop();
    return { firing: firing!, resolved: mails[1]!, breachAt, recoveredAt };
  }

  it("an endpoint that starts failing fires the error-rate rule after `for`: one mail; recovery: one resolved mail", async () => {
    const r = await rig();
    const events: AlertEvent[] = [];
    r.collectors[0]!.onAlert((e) => events.push(e));
    const { firing, resolved, breachAt } = await breachAndRecover(r);
    await sleep(800); // nothing else may arrive
    expect(r.smtp.mails).toHaveLength(2);

    const fired = events.find((e) => e.status === "firing")!;
    expect(fired.startsAt - fired.activeAt!).toBeGreaterThanOrEqual(600); // waited `for`
    expect(fired.startsAt).toBeGreaterThanOrEqual(breachAt);
    expect(firing.parsed.subject).toBe("[FIRING] HighErrorRate: api (critical)");
    expect(firing.to).toEqual(["ops@example.com"]);
    expect(firing.parsed.messageId).toBe(`<sb.${fired.fingerprint}.firing.${fired.startsAt}.default@example.com>`);
    expect(transitionsOf(firing)).toEqual([`${fired.fingerprint}.firing.${fired.startsAt}`]);
    const text = firing.parsed.text!;
    expect(text).toContain("FIRING: HighErrorRate: api (critical)");
    expect(text).toMatch(/Value: [0-9.]+ \(error_rate > 0\.5\)/);
    expect(text).toContain(`Started: ${new Date(fired.startsAt).toISOString()}`);
    expect(text).toContain("team=core");
    expect(text).toMatch(/Summary: api fails [0-9.]+ of its requests/);
    expect(text).toContain(`switchboard ack --prefix ${r.prefix} ${fired.fingerprint}`);
    expect(firing.parsed.html).toContain("<th align=\"left\" valign=\"top\">Value</th>");

    const res = events.find((e) => e.status === "resolved")!;
    expect(resolved.parsed.subject).toBe("[RESOLVED] HighErrorRate: api (critical)");
    expect(transitionsOf(resolved)).toEqual([`${fired.fingerprint}.resolved.${fired.startsAt}`]);
    expect(resolved.parsed.inReplyTo).toBe(firing.parsed.messageId);
    expect(resolved.parsed.text).toContain(`Resolved: ${new Date(res.endsAt!).toISOString()}`);
    await waitFor(() => r.notifier.stats().held === 0, { what: "nothing held" });
    expect(r.notifier.stats()).toMatchObject({ mailsSent: 2, smtpFailures: 0 });
  });

  it("two collectors evaluating the same rules: one stream entry and one mail per transition", async () => {
    const r = await rig({ collectors: 2 });
    const { firing, resolved } = await breachAndRecover(r);
    await sleep(800);
    expect(r.smtp.mails.map((m) => m.parsed.subject)).toEqual([firing.parsed.subject, resolved.parsed.subject]);
    const info = await (await jetstreamManager(r.nc)).streams.info(alertStreamName(r.prefix));
    expect(info.state.messages).toBe(2);
    const [c1, c2] = r.collectors.map((c) => c.stats());
    // Both produced both transitions; the stream kept the first copy of each.
    expect(c1!.alertsPublished + c1!.alertsDuplicate).toBe(2);
    expect(c2!.alertsPublished + c2!.alertsDuplicate).toBe(2);
    expect(c1!.alertsPublished + c2!.alertsPublished).toBe(2);
  });

  it("an ack stops repeats; a new transition after the ack is mailed again, and repeats resume for the new episode", async () => {
    const r = await rig({ notifier: { repeatIntervalMs: 700 } });
    const behaviour = { fail: false };
    const agent = await failingService(r.srv.url, r.prefix, "api", behaviour);
    cleanup.push(() => agent.stop());
    const stop = traffic(r.nc, r.subjects, "api");
    cleanup.push(stop);
    behaviour.fail = true;
    const [firing] = await r.smtp.waitForMails(1);
    const fingerprint = transitionsOf(firing!)[0]!.split(".")[0]!;
    await r.smtp.waitForMails(1, { where: (m) => kindOf(m) === "repeat" });
    expect(r.smtp.mails[1]!.parsed.subject).toBe("[STILL FIRING] HighErrorRate: api (critical)");

    const reply = await r.nc.request(r.subjects.alertAck, encodeJson({ v: 1, fingerprint, by: "ann@example.com", comment: "on it" }));
    const ack = decodeJson(reply.data) as AlertAckReply;
    expect(ack).toMatchObject({ v: 1, fingerprint, acked: true, known: true, alert: { rule: "HighErrorRate", service: "api", severity: "critical" } });
    const afterAck = r.smtp.mails.length;
    await sleep(2000); // almost three repeat intervals
    expect(r.smtp.mails.length).toBe(afterAck);

    behaviour.fail = false; // resolution: a transition, mailed despite the ack
    await r.smtp.waitForMails(1, { where: (m) => m.parsed.subject === "[RESOLVED] HighErrorRate: api (critical)" });
    await sleep(300);
    behaviour.fail = true; // a new episode: mailed, and repeated again
    const newFiring = await r.smtp.waitForMails(2, { where: (m) => m.parsed.subject === "[FIRING] HighErrorRate: api (critical)" });
    expect(transitionsOf(newFiring[1]!)[0]).not.toBe(transitionsOf(firing!)[0]);
    await r.smtp.waitForMails(2, { where: (m) => kindOf(m) === "repeat" });
    await stop();

    // Bad ack requests get an error reply.
    const bad = await r.nc.request(r.subjects.alertAck, encodeJson({ v: 1, fingerprint: "nothex", by: "x" }));
    expect(readErrorReply(bad)).toMatchObject({ code: "BAD_REQUEST" });
    const past = await r.nc.request(r.subjects.alertAck, encodeJson({ v: 1, fingerprint, by: "x", until: 1 }));
    expect(readErrorReply(past)).toMatchObject({ code: "BAD_REQUEST" });
  });

  it("CR/LF and HTML in labels, annotations and names cannot inject headers and are escaped in the HTML body", async () => {
    const rules = `
rules:
  - name: 'High <b>errors</b> & "quotes"'
    service: api
    metric: error_rate
    op: ">"
    threshold: 0.5
    for: 0
    window: 1s
    severity: critical
    labels: { team: "ops\\r\\nBcc: evil@example.com\\r\\nX-Injected: 1" }
    annotations:
      summary: "<script>alert('x')</script>\\r\\nSubject: hijacked"
`;
    const r = await rig({ rules });
    const behaviour = { fail: true };
    const agent = await failingService(r.srv.url, r.prefix, "api", behaviour);
    cleanup.push(() => agent.stop());
    const stop = traffic(r.nc, r.subjects, "api");
    cleanup.push(stop);
    const [mail] = await r.smtp.waitForMails(1);
    await stop();
    // An event crafted by hand with CR/LF in the rule name and labels (schema-valid: they are free text).
    const js = jetstream(r.nc);
    await publishAlert(
      js,
      r.subjects,
      alertEvent({
        rule: "Evil\r\nBcc: evil@example.com\r\nX-Injected: 2",
        service: "web",
        labels: { alertname: "Evil\r\nX-Injected: 3", service: "web", severity: "critical", "x\r\nY": "z\r\nX-Injected: 4" },
        annotations: { description: "<img src=x onerror=alert(1)>" },
      }),
    );
    const [, crafted] = await r.smtp.waitForMails(2);
    for (const m of [mail!, crafted!]) {
      expect(m.to).toEqual(["ops@example.com"]);
      expect(m.parsed.headers.has("bcc")).toBe(false);
      expect(m.parsed.headers.has("x-injected")).toBe(false);
      expect(m.parsed.subject).not.toMatch(/[\r\n]/);
      const headerBlock = m.raw.split(/\r?\n\r?\n/)[0]!;
      expect(headerBlock).not.toMatch(/^(Bcc|X-Injected|Subject: hijacked)/im);
      expect(headerBlock.match(/^Subject:/gim)).toHaveLength(1);
      expect(m.parsed.html).not.toMatch(/<script|<img|<b>errors/);
    }
    expect(mail!.parsed.subject).toBe('[FIRING] High <b>errors</b> & "quotes": api (critical)');
    expect(mail!.parsed.html).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    expect(mail!.parsed.html).toContain("High &lt;b&gt;errors&lt;/b&gt; &amp; &quot;quotes&quot;");
    expect(mail!.parsed.text).toContain("team=ops Bcc: evil@example.com X-Injected: 1");
    expect(crafted!.parsed.subject).toBe("[FIRING] Evil Bcc: evil@example.com X-Injected: 2: web (critical)");
    expect(crafted!.parsed.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });

  it("garbage on the metrics and alert subjects is dropped and counted: nothing crashes, nothing is mailed", async () => {
    const r = await rig();
    const enc = (s: string) => new TextEncoder().encode(s);
    const good = alertEvent({ rule: "Real", service: "api" });
    const garbage: Array<[string, Uint8Array]> = [
      [r.subjects.alert("critical", "api"), enc("not json")],
      [r.subjects.alert("critical", "api"), encodeJson({ v: 1, status: "firing" })],
      [r.subjects.alert("critical", "api"), encodeJson({ ...good, v: 2 })],
      [r.subjects.alert("warning", "api"), encodeJson(good)], // body says critical
      [r.subjects.alert("critical", "web"), encodeJson(good)], // body says api
      [r.subjects.alert("critical", "api"), new Uint8Array(300 * 1024).fill(123)],
      [r.subjects.metrics("api", "x"), enc("{")],
      [r.subjects.metrics("api", "x"), encodeJson({ v: 1, service: "api", id: "y", seq: 1 })],
    ];
    for (const [subject, data] of garbage) r.nc.publish(subject, data);
    const acks = await Promise.all([
      r.nc.request(r.subjects.alertAck, enc("nope")),
      r.nc.request(r.subjects.alertAck, encodeJson({ v: 1, fingerprint: "0123456789abcdef" })),
    ]);
    for (const a of acks) expect(readErrorReply(a)).toMatchObject({ code: "BAD_REQUEST" });
    await waitFor(() => r.notifier.stats().invalid.alert === 6, { what: "6 invalid alerts counted" });
    await waitFor(() => r.collectors[0]!.stats().invalid.metrics === 2, { what: "2 invalid snapshots counted" });
    expect(r.notifier.stats().invalid["alert-ack"]).toBe(2);
    await sleep(500);
    expect(r.smtp.mails).toHaveLength(0);
    // Still working: a valid alert is mailed, and the garbage is not redelivered.
    await publishAlert(jetstream(r.nc), r.subjects, good);
    const [mail] = await r.smtp.waitForMails(1);
    expect(mail!.parsed.subject).toBe("[FIRING] Real: api (critical)");
    await sleep(300);
    expect(allTransitions(r.smtp.mails)).toEqual([`${good.fingerprint}.firing.${good.startsAt}`]);
    const consumer = await (await jetstreamManager(r.nc)).consumers.info(alertStreamName(r.prefix), "notifier");
    expect(consumer.num_ack_pending).toBe(0);
  });
});

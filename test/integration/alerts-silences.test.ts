/**
 * Silences, inhibition and the firing list with real parts: nats-server, two notifiers sharing the
 * durable consumer, a real SMTP server, and the `switchboard` CLI as a child process.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { ensureAlertStream } from "../../src/monitor/index.js";
import { createMailNotifier, type MailNotifier } from "../../src/notify/index.js";
import { Subjects, encodeJson, readErrorReply, type AlertList, type SilenceReply } from "../../src/protocol/index.js";
import { alertEvent, publishAlert, transitionsOf } from "../helpers/alerting.js";
import { runCli } from "../helpers/cli.js";
import { startNatsServer } from "../helpers/nats-server.js";
import { startSmtpServer } from "../helpers/smtp.js";
import { uniquePrefix, waitFor } from "../helpers/wait.js";

describe("silences and inhibition (real notifiers, SMTP, CLI)", () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });

  it("a silence added with the CLI mutes mail in every notifier, the firing list shows why, expiry mails what still fires; inhibition mutes until the source resolves", async () => {
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
    const notifiers: MailNotifier[] = [];
    for (const id of ["n1", "n2"]) {
      const n = createMailNotifier({
        servers: srv.url,
        prefix,
        id,
        smtp: { host: smtp.host, port: smtp.port, secure: false, from: "switchboard@example.com" },
        to: "ops@example.com",
        groupWaitMs: 100,
        groupIntervalMs: 100,
        repeatIntervalMs: 3_600_000,
        inhibitRules: [{ source: ["alertname=InstanceDown"], target: ["alertname=HighErrorRate"], equal: ["service", "instance"] }],
      });
      await n.start();
      cleanup.push(() => n.stop());
      notifiers.push(n);
    }
    const cli = (...args: string[]) => runCli([...args, "--servers", srv.url, "--prefix", prefix]);
    const suppressed = () => notifiers.reduce((sum, n) => sum + n.stats().suppressed, 0);

    // 1. Silence payments' alerts through the CLI; both notifiers learn it from KV.
    const added = await cli("silence", "add", "service=payments", "alertname=~High.*", "--for", "1h", "--comment", "deploy", "--by", "alice", "--json");
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    const silence = JSON.parse(added.stdout) as { id: string; matchers: unknown[]; createdBy: string };
    expect(silence).toMatchObject({ createdBy: "alice", matchers: [{ name: "service", op: "=", value: "payments" }, { name: "alertname", op: "=~", value: "High.*" }] });
    await waitFor(() => notifiers.every((n) => n.stats().silences === 1), { what: "both notifiers know the silence" });

    // 2. A matching alert fires: recorded, not mailed. One that does not match is mailed.
    const muted = alertEvent({ rule: "HighErrorRate", service: "payments", startsAt: 1000 });
    const other = alertEvent({ rule: "HighErrorRate", service: "orders", startsAt: 1000 });
    await publishAlert(js, subjects, muted);
    await publishAlert(js, subjects, other);
    await waitFor(() => suppressed() === 1, { what: "the silenced alert recorded" });
    const [first] = await smtp.waitForMails(1);
    expect(transitionsOf(first!)).toEqual([`${other.fingerprint}.firing.1000`]);

    // 3. The firing list (CLI and raw request) says what fires and why it is muted.
    const request = async <T>(subject: string, body: unknown): Promise<T> => (await nc.request(subject, encodeJson(body), { timeout: 2000 })).json() as T;
    // The notifier that mailed `other` records it right after the SMTP server accepted the mail.
    const list = await waitFor(async () => {
      const l = await request<AlertList>(subjects.alertList, { v: 1 });
      return l.total === 2 ? l : undefined;
    }, { what: "both alerts listed" });
    const byFp = new Map(list.alerts.map((a) => [a.fingerprint, a]));
    expect(byFp.get(muted.fingerprint)).toMatchObject({ state: "suppressed", silencedBy: [silence.id], inhibitedBy: [], since: 1000, service: "payments", rule: "HighErrorRate" });
    expect(byFp.get(other.fingerprint)).toMatchObject({ state: "active", silencedBy: [], inhibitedBy: [] });
    const onlyMuted = await request<AlertList>(subjects.alertList, { v: 1, suppressed: true });
    expect(onlyMuted.alerts.map((a) => a.fingerprint)).toEqual([muted.fingerprint]);
    const table = await cli("alerts", "--firing");
    expect(table.stdout).toMatch(/suppressed\s+critical\s+payments\s+HighErrorRate/);
    expect(table.stdout).toContain(`silenced by ${silence.id.slice(0, 8)}`);
    const ls = await request<SilenceReply>(subjects.silences, { v: 1, op: "list" });
    expect(ls.silences.map((x) => x.id)).toEqual([silence.id]);

    // 4. Expire it: the still-firing alert is mailed now, as a firing alert, once.
    const expired = await cli("silence", "expire", silence.id);
    expect(expired.code, expired.stderr).toBe(0);
    const mails = await smtp.waitForMails(2);
    expect(transitionsOf(mails[1]!)).toEqual([`${muted.fingerprint}.firing.1000`]);
    expect(mails[1]!.parsed.subject).toBe("[FIRING] HighErrorRate: payments (critical)");
    expect((await request<SilenceReply>(subjects.silences, { v: 1, op: "list" })).silences).toEqual([]);
    expect((await request<SilenceReply>(subjects.silences, { v: 1, op: "list", includeExpired: true })).silences).toMatchObject([{ id: silence.id, expiredBy: expect.any(String) }]);

    // 5. Inhibition: while InstanceDown fires for api/i1, HighErrorRate of api/i1 is recorded, not mailed.
    const down = alertEvent({ rule: "InstanceDown", service: "api", instance: "i1", labels: { alertname: "InstanceDown", service: "api", severity: "critical", instance: "i1" }, startsAt: 2000 });
    const errors = alertEvent({ rule: "HighErrorRate", service: "api", instance: "i1", labels: { alertname: "HighErrorRate", service: "api", severity: "critical", instance: "i1" }, startsAt: 2100 });
    await publishAlert(js, subjects, down);
    await smtp.waitForMails(3);
    await publishAlert(js, subjects, errors);
    await waitFor(() => suppressed() === 2, { what: "the inhibited alert recorded" });
    // Whichever notifier answers lists it once its own view has the alert (each follows the stream on its own).
    const listed = await waitFor(
      async () => {
        const reply = await nc.request(subjects.alertList, encodeJson({ v: 1, service: "api", suppressed: true }), { timeout: 2000 });
        const alerts = (reply.json() as AlertList).alerts;
        return alerts.length > 0 ? alerts : undefined;
      },
      { what: "the inhibited alert in the firing list", timeoutMs: 5000 },
    );
    expect(listed).toMatchObject([{ fingerprint: errors.fingerprint, state: "suppressed", inhibitedBy: [down.fingerprint] }]);
    // The source resolves: the target, still firing, is mailed; the source's resolution too.
    await publishAlert(js, subjects, { ...down, status: "resolved", endsAt: 3000 });
    await smtp.waitForMails(1, { where: (m) => transitionsOf(m).includes(`${errors.fingerprint}.firing.2100`) });
    await smtp.waitForMails(1, { where: (m) => transitionsOf(m).includes(`${down.fingerprint}.resolved.2000`) });
    // Every transition mailed once: nothing twice, across both notifiers.
    const all = smtp.mails.flatMap(transitionsOf);
    expect(new Set(all).size).toBe(all.length);

    // Hostile requests get clear errors.
    const refusal = async (body: unknown) => {
      const m = await nc.request(subjects.silences, encodeJson(body), { timeout: 2000 });
      return readErrorReply(m);
    };
    expect(await refusal({ v: 1, op: "add", matchers: [{ name: "a", op: "=~", value: "(" }], endsAt: Date.now() + 60_000, createdBy: "x" })).toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("not a valid regular expression") });
    expect(await refusal({ v: 1, op: "add", matchers: [{ name: "a", op: "=", value: "b" }], endsAt: Date.now() - 1, createdBy: "x" })).toMatchObject({ code: "BAD_REQUEST", message: "endsAt must be after startsAt" });
    expect(await refusal({ v: 1, op: "expire", id: "00000000-0000-4000-8000-000000000000", createdBy: "x" })).toMatchObject({ code: "NOT_FOUND" });
    expect(await refusal({ v: 1, op: "add", matchers: [], endsAt: Date.now() + 60_000, createdBy: "x" })).toMatchObject({ code: "BAD_REQUEST" });
    const ambiguous = await cli("silence", "add", "service=x", "--for", "30");
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('"30" is ambiguous: a duration needs a unit');
  }, 120_000);
});

import { describe, expect, it } from "vitest";
import { composeMail, escapeHtml, headerSafe } from "../../src/notify/MailFormat.js";
import { AlertRouter } from "../../src/notify/AlertRouter.js";
import { parseSender, smtpSettingsFromEnv, senderDomain } from "../../src/notify/smtp.js";
import type { AlertEvent } from "../../src/protocol/index.js";

const route = new AlertRouter([], "ops@example.com").match({ severity: "critical", service: "api" })[0]!;
const alert = (over: Partial<AlertEvent> = {}): AlertEvent => ({
  v: 1,
  fingerprint: "0123456789abcdef",
  status: "firing",
  rule: "HighErrors",
  service: "api",
  severity: "critical",
  metric: "error_rate",
  op: ">",
  threshold: 0.05,
  value: 0.123456,
  labels: { alertname: "HighErrors", service: "api", severity: "critical" },
  annotations: { summary: "too many errors" },
  startsAt: Date.UTC(2026, 10, 25, 9, 0, 0),
  ...over,
});
const one = (a: AlertEvent) => ({ kind: "alerts" as const, transitions: [{ key: `${a.fingerprint}.${a.status}.${a.startsAt}`, alert: a, refs: [] }], firing: [], route, groupKey: "g" });

describe("mail formatting", () => {
  it("escapes HTML and flattens control characters for headers", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    expect(headerSafe("a\r\nBcc: x@example.com\u0000\tz")).toBe("a Bcc: x@example.com z");
    expect(headerSafe("x".repeat(300), 10)).toHaveLength(10);
  });

  it("label and annotation keys cannot forge body lines, and bidi controls never reach the subject or body", () => {
    const hostile = alert({
      rule: "Disk\u202Eelif\u2066x",
      annotations: { "note\r\n  Acknowledge (stops repeat mails): switchboard ack ffffffffffffffff\r\nX": "v\u202Eal\u001b[2J" },
      labels: { alertname: "HighErrors", service: "api", severity: "critical", "team\r\nFingerprint: ffff": "a\r\nb" },
    });
    const mail = composeMail(one(hostile), { domain: "example.com", now: 0 });
    expect(mail.subject).toBe("[FIRING] Diskelifx: api (critical)");
    expect(mail.subject).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    const lines = mail.text.split("\n");
    // The only ack line is the notifier's own, for the real fingerprint; no line starts with an injected key.
    expect(lines.filter((l) => /^\s*Acknowledge/.test(l))).toEqual([`  Acknowledge (stops repeat mails): switchboard ack ${hostile.fingerprint}`]);
    expect(lines.filter((l) => /^\s*Fingerprint:/.test(l))).toEqual([`  Fingerprint: ${hostile.fingerprint}`]);
    expect(mail.text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]/);
  });

  it("builds subject, bodies, headers and a deterministic Message-ID for one transition", () => {
    const a = alert();
    const m = composeMail(one(a), { domain: "example.com", now: 0 });
    expect(m.subject).toBe("[FIRING] HighErrors: api (critical)");
    expect(m.messageId).toBe(`<sb.0123456789abcdef.firing.${a.startsAt}.default@example.com>`);
    expect(composeMail(one(a), { domain: "example.com", now: 99 }).messageId).toBe(m.messageId);
    expect(m.headers["X-Switchboard-Transitions"]).toBe(`0123456789abcdef.firing.${a.startsAt}`);
    expect(m.text).toContain("Value: 0.1235 (error_rate > 0.05)");
    expect(m.text).toContain("Started: 2026-11-25T09:00:00.000Z");
    expect(m.text).toContain("Acknowledge (stops repeat mails): switchboard ack 0123456789abcdef");
    expect(m.html).toContain("<code>switchboard ack 0123456789abcdef</code>");
    const r = composeMail(one(alert({ status: "resolved", endsAt: a.startsAt + 60_000, value: null })), { domain: "example.com", now: 0, prefix: "prod" });
    expect(r.subject).toBe("[RESOLVED] HighErrors: api (critical)");
    expect(r.headers["In-Reply-To"]).toBe(m.messageId);
    expect(r.text).toContain("Value: no data");
    expect(r.text).toContain("Resolved: 2026-11-25T09:01:00.000Z");
    expect(r.text).not.toContain("Acknowledge");
  });

  it("summarises several transitions and repeats in the subject; batch Message-IDs do not depend on order", () => {
    const a = alert();
    const b = alert({ fingerprint: "fedcba9876543210", labels: { alertname: "HighErrors", service: "api", severity: "critical", instance: "i2" }, instance: "i2" });
    const c = alert({ fingerprint: "00000000000000ff", status: "resolved", endsAt: a.startsAt + 1 });
    const n = (list: AlertEvent[]) => ({ kind: "alerts" as const, transitions: list.map((x) => ({ key: `${x.fingerprint}.${x.status}.${x.startsAt}`, alert: x, refs: [] })), firing: [], route, groupKey: "g" });
    const m1 = composeMail(n([a, b, c]), { domain: "example.com", now: 0 });
    expect(m1.subject).toBe("[FIRING:2, RESOLVED:1] HighErrors: api");
    expect(m1.messageId).toMatch(/^<sb\.batch\.[0-9a-f]{32}\.default@example\.com>$/);
    expect(composeMail(n([c, b, a]), { domain: "example.com", now: 0 }).messageId).toBe(m1.messageId);
    const rep = composeMail({ kind: "repeat", transitions: [], firing: [a, b], route, groupKey: "g" }, { domain: "example.com", now: 5 });
    expect(rep.subject).toBe("[STILL FIRING:2] HighErrors: api");
    expect(rep.headers["X-Switchboard-Transitions"]).toBeUndefined();
  });

  it("reads SMTP settings from the environment and checks the sender", () => {
    expect(smtpSettingsFromEnv({ SMTP_HOST: "mail", SMTP_SECURE: "true", SMTP_USER: "u", SMTP_PASS: "p", SMTP_FROM: "a@example.org" })).toEqual({
      host: "mail",
      port: 465,
      secure: true,
      user: "u",
      pass: "p",
      from: "a@example.org",
    });
    // SMTP_PASSWORD, as the CLI reads it, wins over SMTP_PASS: both readers agree.
    expect(smtpSettingsFromEnv({ SMTP_USER: "u", SMTP_PASSWORD: "new", SMTP_PASS: "old" }).pass).toBe("new");
    expect(smtpSettingsFromEnv({}).port).toBe(587);
    expect(() => smtpSettingsFromEnv({ SMTP_PORT: "nope" })).toThrow(/SMTP_PORT/);
    expect(senderDomain("alerts@example.org")).toBe("example.org");
    expect(senderDomain("Alerts <alerts@example.org>")).toBe("example.org");
  });

  it("accepts a sender with a display name, and refuses one that would break headers", () => {
    expect(parseSender("alerts@example.org")).toEqual({ address: "alerts@example.org" });
    expect(parseSender("Switchboard Alerts <alerts@example.org>")).toEqual({ name: "Switchboard Alerts", address: "alerts@example.org" });
    expect(parseSender('"Ops, Night" <ops@example.org>')).toEqual({ name: "Ops, Night", address: "ops@example.org" });
    expect(() => parseSender("Evil\r\nBcc: x@y.z <a@example.org>")).toThrow(/control characters/);
    expect(() => parseSender("Alerts <not an address>")).toThrow(/not an e-mail address/);
    expect(() => parseSender("a@example.org, b@example.org")).toThrow(/not an e-mail address/);
  });
});

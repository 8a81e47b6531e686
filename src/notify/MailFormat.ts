/**
 * Alert mails, pure: subject, plain-text and HTML bodies, headers and a deterministic Message-ID.
 * Everything in an alert came from a message and is untrusted: it is HTML-escaped in the HTML
 * body, and stripped of CR, LF and other control characters wherever it reaches a header, so no
 * label or service name can add a header or a recipient.
 */
import { createHash } from "node:crypto";
import type { AlertEvent } from "../protocol/index.js";
import { formatValue } from "../monitor/index.js";
import type { Notification } from "./AlertGrouper.js";

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"));
}

/** Bidirectional controls (U+202A–202E embeddings and overrides, U+2066–2069 isolates, marks): they reorder what a reader sees. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes text safe for a header: control characters (CR, LF, TAB, NUL, C1…) become spaces, bidi
 * controls are removed (a U+202E in a Subject would show it reversed), runs collapse, length is capped.
 */
export function headerSafe(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const flat = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").replace(BIDI, "").replace(/ {2,}/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Plain-text value over several lines, each indented under its key: other control and bidi characters are removed. */
function multiLine(s: string): string {
  return s
    .replace(/\r\n?/g, "\n")
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, " ")
    .replace(BIDI, "")
    .replace(/\n/g, "\n    ");
}

/** Plain-text single line (labels in lists): control characters become spaces. */
function oneLine(s: string, max = 1024): string {
  return headerSafe(s, max);
}

/** A composed mail. */
export interface ComposedMail {
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
  /** Transition keys the mail reports (`fingerprint.status.startsAt`). */
  transitions: string[];
}

/** Context of a mail beyond its alerts. */
export interface MailContext {
  /** Domain of Message-IDs. */
  domain: string;
  /** When the mail is composed (repeat mails' Message-ID and "as of" line). */
  now: number;
  /** Command shown for acknowledging (default `switchboard ack`). */
  ackCommand?: string;
  /** Shown under the alerts (a dashboard link or the installation's name). */
  externalUrl?: string;
  /** The NATS subject prefix, shown in the ack hint when not the default. */
  prefix?: string;
}

function iso(ms: number | undefined): string {
  return ms === undefined ? "" : new Date(ms).toISOString();
}

function title(a: AlertEvent): string {
  return `${a.rule}: ${a.service}${a.instance ? `/${a.instance}` : ""} (${a.severity})`;
}

function condition(a: AlertEvent): string {
  if (a.metric === "instance_down") return a.status === "firing" ? "instance reported down by the registry" : "instance back or removed";
  return `${a.metric} ${a.op ?? ">"} ${formatValue(a.threshold)}`;
}

function h(s: string, max = 4096): string {
  return escapeHtml(s.length > max ? `${s.slice(0, max - 1)}…` : s);
}

/** Mail for a group notification (transitions, or a repeat of alerts still firing). */
export function composeMail(n: Pick<Notification<unknown>, "kind" | "transitions" | "firing" | "route" | "groupKey">, ctx: MailContext): ComposedMail {
  const alerts = n.kind === "alerts" ? n.transitions.map((t) => t.alert) : [...n.firing];
  const transitions = n.kind === "alerts" ? n.transitions.map((t) => t.key) : [];
  const firing = alerts.filter((a) => a.status === "firing").length;
  const resolved = alerts.length - firing;
  const ack = ctx.ackCommand ?? "switchboard ack";
  const ackPrefix = ctx.prefix && ctx.prefix !== "sb" ? ` --prefix ${ctx.prefix}` : "";

  let tag: string;
  if (n.kind === "repeat") tag = `[STILL FIRING${alerts.length > 1 ? `:${alerts.length}` : ""}]`;
  else if (alerts.length === 1) tag = firing ? "[FIRING]" : "[RESOLVED]";
  else tag = `[${[firing ? `FIRING:${firing}` : "", resolved ? `RESOLVED:${resolved}` : ""].filter(Boolean).join(", ")}]`;
  const first = alerts[0]!;
  const sameRule = alerts.every((a) => a.rule === first.rule);
  const sameService = alerts.every((a) => a.service === first.service);
  const what = alerts.length === 1 ? title(first) : `${sameRule ? first.rule : `${new Set(alerts.map((a) => a.rule)).size} alerts`}${sameService ? `: ${first.service}` : ""}`;
  const subject = headerSafe(`${tag} ${what}`, 250);

  const textParts: string[] = [];
  const htmlParts: string[] = [];
  if (n.kind === "repeat") {
    textParts.push(`Still firing and not acknowledged as of ${iso(ctx.now)}:`, "");
    htmlParts.push(`<p>Still firing and not acknowledged as of ${h(iso(ctx.now))}:</p>`);
  }
  for (const a of alerts) {
    const status = a.status === "firing" ? (n.kind === "repeat" ? "STILL FIRING" : "FIRING") : "RESOLVED";
    const rows: Array<[string, string]> = [
      ["Alert", a.rule],
      ["Status", status],
      ["Severity", a.severity],
      ["Service", a.service],
    ];
    if (a.instance) rows.push(["Instance", a.instance]);
    rows.push(["Value", `${formatValue(a.value)} (${condition(a)})`]);
    rows.push(["Started", iso(a.startsAt)]);
    if (a.status === "resolved" && a.endsAt !== undefined) rows.push(["Resolved", iso(a.endsAt)]);
    // Keys come from the message too: one line, no controls (a CR/LF in a key must not forge lines of the body).
    for (const [k, v] of Object.entries(a.annotations)) rows.push([oneLine(k.charAt(0).toUpperCase() + k.slice(1), 128), v]);
    const labels = Object.entries(a.labels).sort(([x], [y]) => x.localeCompare(y));
    rows.push(["Labels", labels.map(([k, v]) => `${oneLine(k, 128)}=${oneLine(v)}`).join(", ")]);
    rows.push(["Fingerprint", a.fingerprint]);

    textParts.push(`${status}: ${oneLine(title(a), 400)}`);
    for (const [k, v] of rows.slice(1)) textParts.push(`  ${k}: ${k === "Labels" ? v : multiLine(v)}`);
    if (a.status === "firing") textParts.push(`  Acknowledge (stops repeat mails): ${ack}${ackPrefix} ${a.fingerprint}`);
    textParts.push("");

    const color = a.status === "firing" ? "#b00020" : "#1b7f3b";
    htmlParts.push(`<h3 style="color:${color};margin:16px 0 4px">${h(status)}: ${h(title(a), 600)}</h3>`);
    htmlParts.push('<table cellpadding="4" style="border-collapse:collapse;font-family:sans-serif;font-size:14px">');
    for (const [k, v] of rows.slice(1)) {
      const cell = k === "Labels" ? labels.map(([lk, lv]) => `<code>${h(lk, 128)}=${h(lv, 1024)}</code>`).join(" ") : h(v).replace(/\r\n?|\n/g, "<br>");
      htmlParts.push(`<tr><th align="left" valign="top">${h(k)}</th><td>${cell}</td></tr>`);
    }
    htmlParts.push("</table>");
    if (a.status === "firing") {
      htmlParts.push(`<p>Acknowledge (stops repeat mails): <code>${h(`${ack}${ackPrefix} ${a.fingerprint}`)}</code></p>`);
    }
  }
  if (ctx.externalUrl) {
    textParts.push(`Source: ${oneLine(ctx.externalUrl)}`);
    htmlParts.push(`<p>Source: ${h(ctx.externalUrl)}</p>`);
  }
  textParts.push("-- ", "Sent by the Switchboard mail notifier. Repeats stop once acknowledged; a new firing or a resolution is mailed again.");
  htmlParts.push('<p style="color:#666;font-size:12px">Sent by the Switchboard mail notifier. Repeats stop once acknowledged; a new firing or a resolution is mailed again.</p>');

  const domain = ctx.domain.replace(/[^A-Za-z0-9.-]/g, "") || "switchboard.local";
  const route = n.route.name;
  let messageId: string;
  if (n.kind === "repeat") {
    messageId = `<sb.repeat.${createHash("sha256").update(n.groupKey).digest("hex").slice(0, 24)}.${ctx.now}.${route}@${domain}>`;
  } else if (transitions.length === 1) {
    messageId = `<sb.${transitions[0]}.${route}@${domain}>`;
  } else {
    messageId = `<sb.batch.${createHash("sha256").update([...transitions].sort().join(",")).digest("hex").slice(0, 32)}.${route}@${domain}>`;
  }
  const headers: Record<string, string> = {
    "Auto-Submitted": "auto-generated",
    "X-Switchboard-Kind": n.kind,
    "X-Switchboard-Route": route,
    // Only hex fingerprints, fixed words and integers below: safe in headers by construction.
    "X-Switchboard-Fingerprints": [...new Set(alerts.map((a) => a.fingerprint))].join(", "),
  };
  if (transitions.length) headers["X-Switchboard-Transitions"] = transitions.join(", ");
  if (n.kind === "alerts" && alerts.length === 1 && first.status === "resolved") {
    // Thread the resolution under the mail that announced the firing.
    const firingId = `<sb.${first.fingerprint}.firing.${first.startsAt}.${route}@${domain}>`;
    headers["In-Reply-To"] = firingId;
    headers.References = firingId;
  }
  const html = `<!doctype html><html><body style="font-family:sans-serif">${htmlParts.join("\n")}</body></html>`;
  return { subject, text: textParts.join("\n"), html, messageId, headers, transitions };
}

/** SMTP settings from an environment (the caller passes it: the CLI or a test fixture), and the nodemailer transport built from them. */
import { hostname } from "node:os";
import nodemailer, { type Transporter } from "nodemailer";
import { parseRecipients } from "./AlertRouter.js";
import type { SmtpSettings } from "./types.js";

function bool(v: string | undefined): boolean | undefined {
  if (v === undefined || v === "") return undefined;
  return /^(1|true|yes|on)$/i.test(v.trim());
}

/**
 * Reads SMTP_HOST (default localhost), SMTP_PORT (default 465 when SMTP_SECURE, else 587),
 * SMTP_SECURE, SMTP_USER, SMTP_PASSWORD (SMTP_PASS is read too, as the CLI does), SMTP_FROM (default `switchboard@<hostname>`) and
 * SMTP_TLS_REJECT_UNAUTHORIZED (default true).
 */
export function smtpSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): SmtpSettings {
  const secure = bool(env.SMTP_SECURE) ?? false;
  const port = env.SMTP_PORT ? Number(env.SMTP_PORT) : secure ? 465 : 587;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`SMTP_PORT ${JSON.stringify(env.SMTP_PORT)} is not a port number`);
  const s: SmtpSettings = {
    host: env.SMTP_HOST || "localhost",
    port,
    secure,
    from: env.SMTP_FROM || `switchboard@${hostname().replace(/[^A-Za-z0-9.-]/g, "") || "localhost"}`,
  };
  if (env.SMTP_USER) s.user = env.SMTP_USER;
  const pass = env.SMTP_PASSWORD ?? env.SMTP_PASS;
  if (pass) s.pass = pass;
  const reject = bool(env.SMTP_TLS_REJECT_UNAUTHORIZED);
  if (reject !== undefined) s.rejectUnauthorized = reject;
  return s;
}

/** Recipients of alerts no route takes: SMTP_TO (comma-separated). */
export function recipientsFromEnv(env: Readonly<Record<string, string | undefined>>): string[] {
  return parseRecipients(env.SMTP_TO, "SMTP_TO");
}

/** A sender: an address and an optional display name, as nodemailer takes it (it encodes the name safely). */
export interface Sender {
  name?: string;
  address: string;
}

/**
 * Parses SMTP_FROM: `alerts@example.com` or `Switchboard Alerts <alerts@example.com>` (the name may be quoted).
 * The name may not hold CR, LF or other control characters, and the address is checked like a recipient.
 */
export function parseSender(from: string): Sender {
  const m = /^\s*(?:"([^"]*)"|([^<>"]*?))\s*<([^<>]+)>\s*$/.exec(from);
  const raw = m ? (m[1] ?? m[2] ?? "").trim() : "";
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new Error(`SMTP_FROM: the display name ${JSON.stringify(raw)} contains control characters`);
  const addresses = parseRecipients(m ? m[3]! : from, "SMTP_FROM");
  if (addresses.length !== 1) throw new Error(`SMTP_FROM: ${JSON.stringify(from)} is not an e-mail address`);
  const address = addresses[0]!;
  return raw ? { name: raw, address } : { address };
}

/** The sender's address checked, and the domain for Message-IDs. */
export function senderDomain(from: string): string {
  return parseSender(from).address.split("@")[1]!;
}

/**
 * A pooled nodemailer SMTP transport (up to `maxConnections` connections, reused): a new connection
 * costs a TCP handshake, the greeting (some servers, smtp-server among them, pause 100 ms there to
 * catch early talkers) and EHLO, which would otherwise be paid by every alert mail. A pooled
 * connection the server closed (restart, outage) fails its send, which the notifier retries.
 */
export function createSmtpTransport(s: SmtpSettings, maxConnections = 4): Transporter {
  const timeout = s.timeoutMs ?? 10_000;
  return nodemailer.createTransport({
    pool: true,
    maxConnections,
    maxMessages: 500,
    host: s.host,
    port: s.port,
    secure: s.secure,
    auth: s.user !== undefined ? { user: s.user, pass: s.pass ?? "" } : undefined,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: 3 * timeout,
    tls: { rejectUnauthorized: s.rejectUnauthorized ?? true },
    logger: false,
  });
}

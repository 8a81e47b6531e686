/** Public types of the mail notifier. */
import type { AlertEvent, Event, InhibitRule, Logger, NatsSource } from "../protocol/index.js";

/** A route: which alerts (by severity and service) go to which recipients, with optional grouping overrides. */
export interface RouteConfig {
  /** Unique name (letters, digits, `_`, `-`); part of the sent-mail record keys. Default `route<n>`. */
  name?: string;
  /** Severities this route takes (list or comma-separated); omitted or `*`: all. */
  severity?: string | string[];
  /** Services this route takes; omitted or `*`: all. */
  service?: string | string[];
  /** Recipients (list or comma-separated). */
  to: string | string[];
  /** Also let later routes take a matching alert (default false: the first match wins). */
  continue?: boolean;
  /** Labels that split alerts into separate mails (default: the notifier's `groupBy`). */
  groupBy?: string[];
  groupWaitMs?: number;
  groupIntervalMs?: number;
  repeatIntervalMs?: number;
}

/** Alertmanager-style grouping timers. */
export interface GroupTimings {
  /** Wait before the first mail of a new group, so alerts firing together arrive in one mail (default 30 s). */
  groupWaitMs: number;
  /** Wait between mails about new changes in a group already mailed (default 5 min). */
  groupIntervalMs: number;
  /** Re-mail alerts still firing and not acknowledged this often (default 4 h). */
  repeatIntervalMs: number;
}

/** SMTP settings (from options or SMTP_HOST, SMTP_PORT, SMTP_SECURE, SMTP_USER, SMTP_PASSWORD or SMTP_PASS, SMTP_FROM). */
export interface SmtpSettings {
  host: string;
  port: number;
  /** TLS from the start (port 465); otherwise STARTTLS when offered. */
  secure: boolean;
  user?: string;
  pass?: string;
  /** Sender address. */
  from: string;
  /** Reject self-signed certificates (default true). */
  rejectUnauthorized?: boolean;
  /** Connection and greeting timeout (default 10 s). */
  timeoutMs?: number;
}

/** Options of {@link createMailNotifier}. */
export type MailNotifierOptions = NatsSource & {
  /** Subject prefix (default `sb`). */
  prefix?: string;
  /** Notifier id, shown in ack replies and logs (default `notifier-<random>`). */
  id?: string;
  /** SMTP server and sender (default localhost:587, sender `switchboard@<hostname>`; the CLI reads SMTP_* into this). */
  smtp?: SmtpSettings;
  /** Recipients of alerts no route takes (default none; the CLI reads SMTP_TO into this). */
  to?: string | string[];
  /** Routes, tried in order. */
  routes?: RouteConfig[];
  /** Labels that split alerts into separate mails (default `["alertname", "service", "severity"]`). */
  groupBy?: string[];
  groupWaitMs?: number;
  groupIntervalMs?: number;
  repeatIntervalMs?: number;
  /** Durable consumer name (default `notifier`). Notifiers sharing it share the work. */
  durable?: string;
  /** Stream name (default `<prefix with . as _>_alerts`); created if missing. */
  stream?: string;
  /**
   * Replicas of the alert stream (when this notifier creates it) and of the notifier's KV buckets
   * (sent records, acknowledgements). Default 1; use 3 on a 3-node cluster, or losing the node that
   * holds them stops mail until it returns.
   */
  replicas?: number;
  /**
   * JetStream ack wait (default 30 s): a message held by a notifier that died is redelivered to another
   * notifier after this. Held messages (grouping, SMTP retries) are kept alive with in-progress acks
   * every ackWait/3, so a live notifier keeps them however long it retries.
   */
  ackWaitMs?: number;
  /** SMTP retry backoff: first delay and cap (default 1 s and 30 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Days a sent-mail record is kept (default 14). */
  sentRecordTtlMs?: number;
  /**
   * Inhibition rules (Alertmanager's `inhibit_rules`): while a source alert fires, matching target
   * alerts with equal `equal` labels are recorded but not mailed. Validated by `schemas/inhibit-rule.json`.
   */
  inhibitRules?: InhibitRule[];
  /** Public URL or name shown in mails (e.g. a dashboard). */
  externalUrl?: string;
  /** Domain of the deterministic Message-IDs (default: the sender's domain). */
  messageIdDomain?: string;
  /** Logger (default pino `notifier`). */
  logger?: Logger;
  /** Clock and random source (tests). */
  now?: () => number;
  random?: () => number;
};

/** What one mail was about, reported to {@link MailNotifier.onMail} observers after the SMTP server accepted it. */
export interface SentMail {
  messageId: string;
  route: string;
  to: string[];
  subject: string;
  kind: "alerts" | "repeat";
  /** `fingerprint.status.startsAt` of each transition the mail reports (empty for repeats). */
  transitions: string[];
  /** Fingerprints a repeat mail reminds of. */
  repeated: string[];
  acceptedAt: number;
}

/** A running mail notifier. */
export interface MailNotifier {
  readonly id: string;
  /** Ensures the stream, consumer and state bucket, then consumes; resolves to the notifier. */
  start(): Promise<this>;
  /** Stops consuming; mails in progress finish, held alerts stay unacknowledged for the next notifier. */
  stop(): Promise<void>;
  /** Observes every mail the SMTP server accepted. */
  readonly onMail: Event<SentMail>;
  /** Counters. */
  stats(): NotifierStats;
}

/** Notifier counters. */
export interface NotifierStats {
  received: number;
  invalid: Record<string, number>;
  mailsSent: number;
  smtpFailures: number;
  skippedAlreadySent: number;
  unroutable: number;
  acks: number;
  /** Transitions recorded but not mailed because a silence or an inhibition muted them. */
  suppressed: number;
  /** Silences known (in force, scheduled or recently ended). */
  silences: number;
  /** Alerts held right now (grouping or SMTP retries). */
  held: number;
}

export type { AlertEvent };

/**
 * The mail notifier: reads the alert stream through a durable pull consumer, routes and groups the
 * alerts, mails them with nodemailer, and acknowledges each stream message only once the SMTP
 * server accepted the mail that reported it. Before acknowledging it records the transition in a
 * KV bucket, and skips transitions recorded there, so a redelivery after a crash between "accepted"
 * and "acknowledged" does not mail twice. SMTP failures are retried with backoff while the
 * messages stay unacknowledged (kept alive with progress acks): an outage delays mail, never loses it.
 * `<prefix>.alerts.ack` requests stop repeat mails of the acknowledged episode.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { nanos, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Transporter } from "nodemailer";
import { v4 as uuidv4 } from "uuid";
import { alertStreamName, ensureAlertStream } from "../monitor/index.js";
import {
  DEFAULT_PREFIX,
  InvalidInputLog,
  Subjects,
  createLogger,
  decodeMessage,
  encodeJson,
  openNats,
  respondError,
  type AlertAckReply,
  type AlertEvent,
  type Logger,
} from "../protocol/index.js";
import { AlertGrouper, transitionKey, type Acknowledgement, type Notification } from "./AlertGrouper.js";
import { composeMail } from "./MailFormat.js";
import { NotifierState } from "./NotifierState.js";
import { Router, type ResolvedRoute } from "./Router.js";
import { createSmtpTransport, parseSender, recipientsFromEnv, senderDomain, smtpSettingsFromEnv } from "./smtp.js";
import type { MailNotifier, MailNotifierOptions, NotifierStats, SentMail, SmtpSettings } from "./types.js";

/** Mails sent at the same time at most. */
const SEND_CONCURRENCY = 4;

/** Largest alert event accepted from the stream. */
const MAX_ALERT_BYTES = 256 * 1024;

/** A stream message shared by the routes that take its alert: acknowledged when the last one is done. */
interface Held {
  msg: JsMsg;
  remaining: number;
}

class MailNotifierImpl implements MailNotifier {
  readonly id: string;
  private readonly subjects: Subjects;
  private readonly log: Logger;
  private readonly invalid: InvalidInputLog;
  private readonly now: () => number;
  private readonly router: Router;
  private readonly grouper: AlertGrouper<Held>;
  private readonly smtp: SmtpSettings;
  private readonly domain: string;
  private readonly ackWaitMs: number;
  private readonly streamName: string;
  private readonly durable: string;
  private readonly listeners = new Set<(m: SentMail) => void>();
  private nc: NatsConnection | undefined;
  private owned = false;
  private transport: Transporter | undefined;
  private state: NotifierState | undefined;
  private messages: ConsumerMessages | undefined;
  private consuming: Promise<void> | undefined;
  private ackSub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  private running = false;
  private readonly counters = { received: 0, mailsSent: 0, smtpFailures: 0, skippedAlreadySent: 0, unroutable: 0, acks: 0 };

  constructor(private readonly opts: MailNotifierOptions) {
    this.id = opts.id ?? `notifier-${uuidv4().slice(0, 8)}`;
    this.subjects = new Subjects(opts.prefix ?? process.env.SB_PREFIX ?? DEFAULT_PREFIX);
    this.log = (opts.logger ?? createLogger("notifier")).child({ notifier: this.id });
    this.invalid = new InvalidInputLog(this.log);
    this.now = opts.now ?? Date.now;
    this.smtp = opts.smtp ?? smtpSettingsFromEnv();
    this.domain = opts.messageIdDomain ?? senderDomain(this.smtp.from);
    this.router = new Router(opts.routes ?? [], opts.to ?? recipientsFromEnv());
    this.grouper = new AlertGrouper<Held>({
      timings: {
        groupWaitMs: opts.groupWaitMs ?? 30_000,
        groupIntervalMs: opts.groupIntervalMs ?? 5 * 60_000,
        repeatIntervalMs: opts.repeatIntervalMs ?? 4 * 3_600_000,
      },
      groupBy: opts.groupBy ?? ["alertname", "service", "severity"],
      retryInitialMs: opts.retryInitialMs ?? 1000,
      retryMaxMs: opts.retryMaxMs ?? 30_000,
      random: opts.random,
    });
    this.ackWaitMs = opts.ackWaitMs ?? 30_000;
    if (!Number.isInteger(this.ackWaitMs) || this.ackWaitMs < 500) throw new RangeError("ackWaitMs must be an integer ≥ 500");
    this.streamName = opts.stream ?? alertStreamName(this.subjects.prefix);
    this.durable = opts.durable ?? "notifier";
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(this.durable)) throw new RangeError(`invalid durable name ${JSON.stringify(this.durable)}`);
  }

  async start(): Promise<void> {
    if (this.running || this.nc) throw new Error("notifier already started");
    const { nc, owned } = await openNats(this.opts.nats ? { nats: this.opts.nats } : { name: `sb-notifier ${this.id}`, ...this.opts, nats: undefined });
    this.nc = nc;
    this.owned = owned;
    try {
      const jsm = await jetstreamManager(nc);
      await ensureAlertStream(jsm, this.subjects, { name: this.streamName, replicas: this.opts.replicas ?? 1 });
      const config = {
        durable_name: this.durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(this.ackWaitMs),
        max_deliver: -1,
        filter_subject: this.subjects.allAlerts,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 20_000,
        description: "Switchboard mail notifier",
      };
      try {
        const info = await jsm.consumers.info(this.streamName, this.durable);
        if (info.config.ack_wait !== config.ack_wait) await jsm.consumers.update(this.streamName, this.durable, { ack_wait: config.ack_wait });
      } catch (e) {
        if (!(e instanceof JetStreamApiError && e.status === 404)) throw e;
        await jsm.consumers.add(this.streamName, config);
      }
      const js = jetstream(nc);
      this.state = await NotifierState.open(js, this.subjects.prefix, this.opts.sentRecordTtlMs ?? 14 * 24 * 3_600_000, this.opts.replicas ?? 1);
      const { acks, active } = await this.state.load();
      for (const [fp, ack] of acks) this.grouper.acknowledge(fp, ack);
      const now = this.now();
      for (const rec of active) {
        const route = this.router.byName(rec.route);
        if (route) this.grouper.restoreFiring(route, rec.alert, rec.lastSentAt, now);
      }
      this.transport = createSmtpTransport(this.smtp, SEND_CONCURRENCY);
      this.ackSub = nc.subscribe(this.subjects.alertAck, {
        callback: (err, msg) => {
          if (!err) void this.onAck(msg);
        },
      });
      const consumer = await js.consumers.get(this.streamName, this.durable);
      // Short pulls (idle heartbeat = expires / 2): when a cluster node dies with the consumer's leader,
      // the pending pull dies with it; two missed heartbeats re-pull, so mail resumes within ~5 s, not 30 s.
      this.messages = await consumer.consume({ max_messages: 256, expires: 5000 });
      this.running = true;
      this.consuming = this.consume(this.messages);
      // Held messages would be redelivered after ackWait; progress acks say "still working on it".
      this.progressTimer = setInterval(() => this.keepAlive(), Math.max(200, Math.floor(this.ackWaitMs / 3)));
      this.progressTimer.unref?.();
      this.reschedule();
      this.log.info({ stream: this.streamName, durable: this.durable, restoredActive: active.length, acks: acks.size }, "notifier started");
    } catch (err) {
      await this.teardown();
      throw err;
    }
  }

  private async consume(messages: ConsumerMessages): Promise<void> {
    for await (const m of messages) {
      try {
        await this.onAlertMessage(m);
      } catch (err) {
        // Leave it unacknowledged: it comes back after ackWait.
        this.log.error({ err, seq: m.seq }, "could not process alert message");
      }
    }
  }

  private async onAlertMessage(m: JsMsg): Promise<void> {
    this.counters.received++;
    const decoded = decodeMessage("alert", m.data, MAX_ALERT_BYTES);
    if (!decoded.ok) {
      this.invalid.record("alert", decoded.error, m.subject);
      m.term(); // never redeliver garbage
      return;
    }
    const alert = decoded.value;
    let expected: string | undefined;
    try {
      expected = this.subjects.alert(alert.severity, alert.service);
    } catch {
      expected = undefined;
    }
    if (m.subject !== expected) {
      this.invalid.record("alert", `body names ${alert.severity}/${alert.service}, subject is ${m.subject}`, m.subject);
      m.term();
      return;
    }
    if (alert.status === "resolved" && alert.endsAt === undefined) alert.endsAt = Math.floor(m.info.timestampNanos / 1_000_000);
    const routes = this.router.match(alert);
    if (routes.length === 0) {
      this.counters.unroutable++;
      this.log.warn({ fingerprint: alert.fingerprint, severity: alert.severity, service: alert.service }, "no route takes this alert and there are no default recipients; dropping it");
      m.ack();
      return;
    }
    const held: Held = { msg: m, remaining: routes.length };
    const key = transitionKey(alert);
    const now = this.now();
    for (const route of routes) {
      const record = await this.state!.sentRecord(route.name, key);
      if (record) {
        // Mailed before (the previous delivery was not acknowledged in time).
        this.counters.skippedAlreadySent++;
        if (alert.status === "firing") this.grouper.restoreFiring(route, alert, record.at || now, now);
        this.done(held);
        continue;
      }
      this.grouper.add(route, alert, held, now);
    }
    this.reschedule();
  }

  private done(h: Held): void {
    if (--h.remaining === 0) h.msg.ack();
  }

  private keepAlive(): void {
    const seen = new Set<JsMsg>();
    for (const h of this.grouper.heldRefs()) {
      if (seen.has(h.msg)) continue;
      seen.add(h.msg);
      try {
        h.msg.working();
      } catch {
        // Disconnected: the message may be redelivered; the sent records prevent a second mail.
      }
    }
  }

  private reschedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.running) return;
    const now = this.now();
    const next = this.grouper.nextDueAt(now);
    if (next === undefined) return;
    this.timer = setTimeout(() => void this.flush(), Math.max(0, next - now));
    this.timer.unref?.();
  }

  private flush(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      do {
        this.flushAgain = false;
        // A few mails at once: one slow SMTP exchange should not hold up every other group.
        const due = this.grouper.due(this.now());
        for (let i = 0; i < due.length; i += SEND_CONCURRENCY) await Promise.all(due.slice(i, i + SEND_CONCURRENCY).map((n) => this.send(n)));
      } while (this.flushAgain && this.running);
    })()
      .catch((err) => this.log.error({ err }, "notification flush failed"))
      .finally(() => {
        this.flushing = undefined;
        this.reschedule();
      });
    return this.flushing;
  }

  private async send(n: Notification<Held>): Promise<void> {
    const mail = composeMail(n, { domain: this.domain, now: this.now(), externalUrl: this.opts.externalUrl, prefix: this.subjects.prefix });
    const route: ResolvedRoute = n.route;
    try {
      const info = (await this.transport!.sendMail({
        from: parseSender(this.smtp.from),
        to: [...route.to],
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId: mail.messageId,
        headers: mail.headers,
      })) as { accepted?: unknown[]; rejected?: unknown[] };
      if (Array.isArray(info.accepted) && info.accepted.length === 0) throw new Error(`every recipient was rejected: ${JSON.stringify(info.rejected)}`);
      if (Array.isArray(info.rejected) && info.rejected.length > 0) this.log.warn({ rejected: info.rejected, messageId: mail.messageId }, "some recipients were rejected");
    } catch (err) {
      this.counters.smtpFailures++;
      const delay = this.grouper.failed(n, this.now());
      this.log.warn({ err: (err as Error).message, route: route.name, retryInMs: delay, alerts: n.transitions.length || n.firing.length }, "mail not accepted; will retry");
      return;
    }
    const acceptedAt = this.now();
    this.counters.mailsSent++;
    // Record before acknowledging: a crash in between then costs at most a skipped duplicate.
    for (const t of n.transitions) {
      try {
        await this.state!.recordSent(route.name, t.key, acceptedAt, mail.messageId);
      } catch (err) {
        this.log.warn({ err, transition: t.key }, "could not record a sent transition");
      }
      await this.rememberActive(route, t.alert, acceptedAt);
    }
    if (n.kind === "repeat") for (const a of n.firing) await this.rememberActive(route, a, acceptedAt);
    this.grouper.sent(n, acceptedAt);
    for (const t of n.transitions) for (const h of t.refs) this.done(h);
    const sent: SentMail = {
      messageId: mail.messageId,
      route: route.name,
      to: [...route.to],
      subject: mail.subject,
      kind: n.kind,
      transitions: mail.transitions,
      repeated: n.kind === "repeat" ? n.firing.map((a) => a.fingerprint) : [],
      acceptedAt,
    };
    this.log.info({ messageId: sent.messageId, route: sent.route, transitions: sent.transitions, repeated: sent.repeated }, "mail accepted");
    for (const l of this.listeners) {
      try {
        l(sent);
      } catch (err) {
        this.log.warn({ err }, "mail listener threw");
      }
    }
  }

  private async rememberActive(route: ResolvedRoute, alert: AlertEvent, at: number): Promise<void> {
    try {
      if (alert.status === "firing") await this.state!.putActive({ route: route.name, alert, lastSentAt: at });
      else {
        await this.state!.deleteActive(route.name, alert.fingerprint);
        await this.state!.deleteAck(alert.fingerprint);
      }
    } catch (err) {
      this.log.warn({ err, fingerprint: alert.fingerprint }, "could not record alert state");
    }
  }

  private async onAck(msg: Msg): Promise<void> {
    const decoded = decodeMessage("alert-ack", msg.data);
    if (!decoded.ok) {
      this.invalid.record("alert-ack", decoded.error, msg.subject);
      respondError(msg, "BAD_REQUEST", decoded.error);
      return;
    }
    const req = decoded.value;
    const at = this.now();
    if (req.until !== undefined && req.until <= at) {
      respondError(msg, "BAD_REQUEST", "until is in the past");
      return;
    }
    const ack: Acknowledgement = { by: req.by, at };
    if (req.until !== undefined) ack.until = req.until;
    if (req.comment !== undefined) ack.comment = req.comment;
    try {
      await this.state!.putAck(req.fingerprint, ack);
    } catch (err) {
      respondError(msg, "UNAVAILABLE", `could not store the acknowledgement: ${(err as Error).message}`, true);
      return;
    }
    this.grouper.acknowledge(req.fingerprint, ack);
    this.counters.acks++;
    const firing = this.grouper.firingAlert(req.fingerprint);
    const reply: AlertAckReply = { v: 1, fingerprint: req.fingerprint, acked: true, known: !!firing, at, notifier: this.id };
    if (ack.until !== undefined) reply.until = ack.until;
    if (firing) reply.alert = { rule: firing.rule, service: firing.service, severity: firing.severity, startsAt: firing.startsAt };
    this.log.info({ fingerprint: req.fingerprint, by: req.by, until: req.until, known: reply.known }, "alert acknowledged");
    if (msg.reply) msg.respond(encodeJson(reply));
    this.reschedule();
  }

  onMail(listener: (mail: SentMail) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): NotifierStats {
    return { ...this.counters, invalid: this.invalid.snapshot(), held: this.grouper.heldCount };
  }

  async stop(): Promise<void> {
    if (!this.nc) return;
    this.running = false;
    clearTimeout(this.timer);
    clearInterval(this.progressTimer);
    await this.messages?.close().catch(() => undefined);
    await this.consuming?.catch(() => undefined);
    await this.flushing;
    // Hand what is still held back to the stream at once, for the next notifier.
    const seen = new Set<JsMsg>();
    for (const h of this.grouper.heldRefs()) {
      if (seen.has(h.msg)) continue;
      seen.add(h.msg);
      try {
        h.msg.nak();
      } catch {
        // Redelivered after ackWait anyway.
      }
    }
    await this.teardown();
    this.log.info("notifier stopped");
  }

  private async teardown(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    clearInterval(this.progressTimer);
    this.ackSub?.unsubscribe();
    this.ackSub = undefined;
    this.transport?.close();
    this.transport = undefined;
    const nc = this.nc;
    this.nc = undefined;
    if (nc && this.owned && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}

/**
 * Creates a mail notifier. SMTP settings and default recipients come from options or the
 * environment (SMTP_HOST, SMTP_PORT, SMTP_SECURE, SMTP_USER, SMTP_PASS, SMTP_FROM, SMTP_TO).
 * Throws at once on invalid recipients or routes.
 */
export function createMailNotifier(opts: MailNotifierOptions = {}): MailNotifier {
  return new MailNotifierImpl(opts);
}

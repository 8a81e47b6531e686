/**
 * The mail notifier: wires the alert consumer ({@link AlertConsumer}), the routing and grouping
 * ({@link AlertRouter}, {@link AlertGrouper}), mail delivery ({@link MailDelivery}) and the ack
 * responder ({@link AckResponder}) together, and owns their timing: when a group is due it is
 * delivered; a stream message is acknowledged only once every route that took its alert mailed it
 * (or found it mailed already, in the sent records). SMTP failures are retried with backoff while
 * the messages stay unacknowledged (kept alive with progress acks): an outage delays mail, never
 * loses it.
 */
import { jetstream, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Transporter } from "nodemailer";
import { v4 as uuidv4 } from "uuid";
import { alertStreamName } from "../monitor/index.js";
import { DEFAULT_PREFIX, EventEmitter, InvalidInputLog, Subjects, createLogger, openNats, type AlertEvent, type Event, type Logger } from "../protocol/index.js";
import { AckResponder } from "./AckResponder.js";
import { AlertConsumer } from "./AlertConsumer.js";
import { AlertGrouper, transitionKey, type Notification } from "./AlertGrouper.js";
import { AlertRouter } from "./AlertRouter.js";
import { MailDelivery } from "./MailDelivery.js";
import { NotifierState } from "./NotifierState.js";
import { createSmtpTransport, senderDomain, smtpSettingsFromEnv } from "./smtp.js";
import type { MailNotifier, MailNotifierOptions, NotifierStats, SentMail, SmtpSettings } from "./types.js";

/** Mails sent at the same time at most. */
const SEND_CONCURRENCY = 4;

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
  private readonly router: AlertRouter;
  private readonly grouper: AlertGrouper<Held>;
  private readonly smtp: SmtpSettings;
  private readonly domain: string;
  private readonly ackWaitMs: number;
  private readonly streamName: string;
  private readonly durable: string;
  private readonly mails: EventEmitter<SentMail>;
  /** Fires for every mail the SMTP server accepted. */
  readonly onMail: Event<SentMail>;
  private nc: NatsConnection | undefined;
  private owned = false;
  private transport: Transporter | undefined;
  private state: NotifierState | undefined;
  private consumer: AlertConsumer | undefined;
  private ackResponder: AckResponder | undefined;
  private delivery: MailDelivery | undefined;
  private timer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private flushAgain = false;
  private running = false;
  private readonly counters = { received: 0, mailsSent: 0, smtpFailures: 0, skippedAlreadySent: 0, unroutable: 0 };

  constructor(private readonly opts: MailNotifierOptions) {
    this.id = opts.id ?? `notifier-${uuidv4().slice(0, 8)}`;
    this.subjects = new Subjects(opts.prefix ?? DEFAULT_PREFIX);
    this.log = (opts.logger ?? createLogger("notifier")).child({ notifier: this.id });
    this.mails = new EventEmitter<SentMail>((err) => this.log.warn({ err }, "mail listener threw"));
    this.onMail = this.mails.event;
    this.invalid = new InvalidInputLog(this.log);
    this.now = opts.now ?? Date.now;
    // No environment here: an empty one yields the defaults (localhost:587, a sender on this host).
    this.smtp = opts.smtp ?? smtpSettingsFromEnv({});
    this.domain = opts.messageIdDomain ?? senderDomain(this.smtp.from);
    this.router = new AlertRouter(opts.routes ?? [], opts.to ?? []);
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

  async start(): Promise<this> {
    if (this.running || this.nc) throw new Error("notifier already started");
    const { nc, owned } = await openNats(this.opts.nats ? { nats: this.opts.nats } : { name: `sb-notifier ${this.id}`, ...this.opts, nats: undefined });
    this.nc = nc;
    this.owned = owned;
    try {
      const replicas = this.opts.replicas ?? 1;
      const state = await NotifierState.open(jetstream(nc), this.subjects.prefix, this.opts.sentRecordTtlMs ?? 14 * 24 * 3_600_000, replicas);
      this.state = state;
      const { acks, active } = await state.load();
      for (const [fp, ack] of acks) this.grouper.acknowledge(fp, ack);
      const now = this.now();
      for (const rec of active) {
        const route = this.router.byName(rec.route);
        if (route) this.grouper.restoreFiring(route, rec.alert, rec.lastSentAt, now);
      }
      this.transport = createSmtpTransport(this.smtp, SEND_CONCURRENCY);
      this.delivery = new MailDelivery({
        transport: this.transport,
        state,
        from: this.smtp.from,
        domain: this.domain,
        prefix: this.subjects.prefix,
        externalUrl: this.opts.externalUrl,
        log: this.log,
        now: this.now,
      });
      this.ackResponder = new AckResponder({
        subject: this.subjects.alertAck,
        prefix: this.subjects.prefix,
        notifierId: this.id,
        state,
        log: this.log,
        invalid: this.invalid,
        now: this.now,
        apply: (fingerprint, ack) => {
          this.grouper.acknowledge(fingerprint, ack);
          this.reschedule();
          return this.grouper.firingAlert(fingerprint);
        },
      }).start(nc);
      this.running = true;
      this.consumer = await new AlertConsumer({
        subjects: this.subjects,
        streamName: this.streamName,
        durable: this.durable,
        ackWaitMs: this.ackWaitMs,
        replicas,
        log: this.log,
        invalid: this.invalid,
        onReceived: () => this.counters.received++,
        onAlert: (alert, msg) => this.onAlert(alert, msg),
      }).start(nc);
      // Held messages would be redelivered after ackWait; progress acks say "still working on it".
      this.progressTimer = setInterval(() => this.keepAlive(), Math.max(200, Math.floor(this.ackWaitMs / 3)));
      this.progressTimer.unref?.();
      this.reschedule();
      this.log.info({ stream: this.streamName, durable: this.durable, restoredActive: active.length, acks: acks.size }, "notifier started");
    } catch (err) {
      await this.teardown();
      throw err;
    }
    return this;
  }

  private async onAlert(alert: AlertEvent, m: JsMsg): Promise<void> {
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
    let sent: SentMail;
    try {
      sent = await this.delivery!.deliver(n);
    } catch (err) {
      this.counters.smtpFailures++;
      const delay = this.grouper.failed(n, this.now());
      this.log.warn({ err: (err as Error).message, route: n.route.name, retryInMs: delay, alerts: n.transitions.length || n.firing.length }, "mail not accepted; will retry");
      return;
    }
    this.counters.mailsSent++;
    this.grouper.sent(n, sent.acceptedAt);
    for (const t of n.transitions) for (const h of t.refs) this.done(h);
    this.log.info({ messageId: sent.messageId, route: sent.route, transitions: sent.transitions, repeated: sent.repeated }, "mail accepted");
    this.mails.fire(sent);
  }


  stats(): NotifierStats {
    return { ...this.counters, acks: this.ackResponder?.acks ?? 0, invalid: this.invalid.snapshot(), held: this.grouper.heldCount };
  }

  async stop(): Promise<void> {
    if (!this.nc) return;
    this.running = false;
    clearTimeout(this.timer);
    clearInterval(this.progressTimer);
    await this.consumer?.stop();
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
    await this.consumer?.stop();
    this.consumer = undefined;
    this.ackResponder?.stop();
    this.ackResponder = undefined;
    this.transport?.close();
    this.transport = undefined;
    const nc = this.nc;
    this.nc = undefined;
    if (nc && this.owned && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}

/**
 * Creates a mail notifier. SMTP settings and default recipients come from options or the
 * environment (SMTP_HOST, SMTP_PORT, SMTP_SECURE, SMTP_USER, SMTP_PASSWORD, SMTP_FROM, SMTP_TO).
 * Throws at once on invalid recipients or routes.
 */
export function createMailNotifier(opts: MailNotifierOptions = {}): MailNotifier {
  return new MailNotifierImpl(opts);
}

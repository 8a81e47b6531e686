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
import { alertStreamName, openAlertStateBucket } from "../monitor/index.js";
import { DEFAULT_PREFIX, EventEmitter, InvalidInputLog, Subjects, createLogger, decodeJson, decodeMessage, describeErrors, encodeJson, openNats, validatorFor, type AlertEvent, type Event, type Logger } from "../protocol/index.js";
import { AckResponder } from "./AckResponder.js";
import { AlertConsumer } from "./AlertConsumer.js";
import { AlertGrouper, transitionKey, type Notification } from "./AlertGrouper.js";
import { AlertListResponder } from "./AlertListResponder.js";
import { AlertRouter } from "./AlertRouter.js";
import { Inhibitor } from "./Inhibitor.js";
import { KvView } from "./KvView.js";
import { MailDelivery } from "./MailDelivery.js";
import { NotifierState } from "./NotifierState.js";
import { SilenceResponder } from "./SilenceResponder.js";
import { SilenceStore } from "./SilenceStore.js";
import { Silences } from "./Silences.js";
import { Suppressor } from "./Suppressor.js";
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
  private readonly inhibitor: Inhibitor;
  private readonly suppressor: Suppressor;
  private readonly silences = new Silences();
  private firingView: KvView<AlertEvent> | undefined;
  private notifiedView: KvView<AlertEvent> | undefined;
  private silenceStore: SilenceStore | undefined;
  private silenceResponder: SilenceResponder | undefined;
  private listResponder: AlertListResponder | undefined;
  private housekeeping: NodeJS.Timeout | undefined;
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
  private readonly counters = { received: 0, mailsSent: 0, smtpFailures: 0, skippedAlreadySent: 0, unroutable: 0, suppressed: 0 };

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
    const validate = validatorFor("inhibit-rule");
    (opts.inhibitRules ?? []).forEach((r, i) => {
      if (!validate(r)) throw new Error(`inhibitRules[${i}]: ${describeErrors(validate.errors)}`);
    });
    this.inhibitor = new Inhibitor(opts.inhibitRules ?? []);
    this.suppressor = new Suppressor(this.silences, this.inhibitor, () => this.firingAlerts());
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
      suppressed: (alert, now) => this.suppressor.isSuppressed(alert, now),
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
        if (!route) continue;
        if (rec.muted) this.grouper.restoreMuted(route, rec.alert, now);
        else this.grouper.restoreFiring(route, rec.alert, rec.lastSentAt, now);
      }
      this.silenceStore = await SilenceStore.open(nc, this.subjects.prefix, this.silences, { replicas, log: this.log, invalid: this.invalid, onChange: () => this.reschedule() });
      const alertState = await openAlertStateBucket(jetstream(nc), this.subjects.prefix, replicas);
      this.firingView = await new KvView<AlertEvent>(alertState, {
        log: this.log,
        decode: (key, raw) => {
          const d = decodeMessage("alert", raw);
          if (!d.ok) return d;
          if (d.value.fingerprint !== key || d.value.status !== "firing") return { ok: false, error: `entry ${key} is not the firing alert ${d.value.fingerprint}` };
          return d;
        },
        onInvalid: (key, error) => this.invalid.record("alert-state", error, key),
        onChange: () => this.reschedule(),
      }).start();
      // What other notifiers mailed or muted (they split the stream): active.<route>.<fingerprint>.
      this.notifiedView = await new KvView<AlertEvent>(state.state, {
        log: this.log,
        decode: (key, raw) => {
          if (!key.startsWith("active.")) return { ok: false, error: "" };
          let rec: unknown;
          try {
            rec = decodeJson(raw);
          } catch {
            return { ok: false, error: "not JSON" };
          }
          const alert = rec !== null && typeof rec === "object" ? (rec as { alert?: unknown }).alert : undefined;
          const d = decodeMessage("alert", encodeJson(alert ?? null));
          if (!d.ok) return d;
          if (!key.endsWith(`.${d.value.fingerprint}`) || d.value.status !== "firing") return { ok: false, error: `entry ${key} is not a firing alert` };
          return d;
        },
        onInvalid: (key, error) => {
          if (key.startsWith("active.")) this.invalid.record("notify-state", error, key);
        },
        onChange: () => this.reschedule(),
      }).start();
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
      this.silenceResponder = new SilenceResponder({
        subject: this.subjects.silences,
        prefix: this.subjects.prefix,
        notifierId: this.id,
        store: this.silenceStore,
        log: this.log,
        invalid: this.invalid,
        now: this.now,
        onChange: () => this.reschedule(),
      }).start(nc);
      this.listResponder = new AlertListResponder({
        subject: this.subjects.alertList,
        prefix: this.subjects.prefix,
        notifierId: this.id,
        log: this.log,
        firing: () => this.firingAlerts(),
        suppressor: this.suppressor,
        acknowledgement: (fp) => this.grouper.acknowledgement(fp),
        invalid: this.invalid,
        now: this.now,
      }).start(nc);
      this.housekeeping = setInterval(() => void this.silenceStore?.purgeEnded(this.now()).catch(() => undefined), 60_000);
      this.housekeeping.unref?.();
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
      if (!this.grouper.add(route, alert, held, now)) {
        // The resolution of an alert that was muted and never mailed: nothing to say.
        this.counters.suppressed++;
        await this.state!.deleteActive(route.name, alert.fingerprint).catch(() => undefined);
        this.done(held);
      }
    }
    this.reschedule();
  }

  /** Every alert firing now: what the collectors recorded, plus what this notifier holds. */
  private firingAlerts(): AlertEvent[] {
    const byFp = new Map<string, AlertEvent>();
    if (this.firingView) for (const a of this.firingView.values()) byFp.set(a.fingerprint, a);
    if (this.notifiedView) for (const a of this.notifiedView.values()) if (!byFp.has(a.fingerprint)) byFp.set(a.fingerprint, a);
    for (const a of this.grouper.firingAlerts()) if (!byFp.has(a.fingerprint)) byFp.set(a.fingerprint, a);
    return [...byFp.values()];
  }

  /** Transitions found suppressed when due: recorded (muted firing alerts survive a restart), not mailed. */
  private async recordSuppressed(): Promise<void> {
    for (const { route, transition: t } of this.grouper.takeSuppressed()) {
      this.counters.suppressed++;
      const { silencedBy, inhibitedBy } = this.suppressor.status(t.alert, this.now());
      this.log.info({ fingerprint: t.alert.fingerprint, status: t.alert.status, route: route.name, silencedBy, inhibitedBy }, "alert suppressed: recorded, not mailed");
      try {
        if (t.alert.status === "firing") await this.state!.putActive({ route: route.name, alert: t.alert, lastSentAt: 0, muted: true });
        else await this.state!.deleteActive(route.name, t.alert.fingerprint);
      } catch (err) {
        this.log.warn({ err, fingerprint: t.alert.fingerprint }, "could not record a suppressed alert");
      }
      for (const h of t.refs) this.done(h);
    }
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
    const due = this.grouper.nextDueAt(now);
    const change = this.suppressor.nextChangeAt(now);
    const next = due === undefined ? change : change === undefined ? due : Math.min(due, change);
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
        await this.recordSuppressed();
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
    return { ...this.counters, silences: this.silences.size, acks: this.ackResponder?.acks ?? 0, invalid: this.invalid.snapshot(), held: this.grouper.heldCount };
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
    this.silenceResponder?.stop();
    this.listResponder?.stop();
    this.silenceStore?.stop();
    this.firingView?.stop();
    this.notifiedView?.stop();
    clearInterval(this.housekeeping);
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

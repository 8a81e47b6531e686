/**
 * Answers operator acknowledgements on `<prefix>.alerts.ack`: validates the request, stores it in
 * the notifier state (shared by every notifier) and applies it to the grouper, so repeat mails of
 * the acknowledged episode stop; replies with `alert-ack-reply` or a `BAD_REQUEST`/`UNAVAILABLE` error.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { ReplyGuard, decodeMessage, encodeJson, type AlertAckReply, type AlertEvent, type InvalidInputLog, type Logger } from "../protocol/index.js";
import type { Acknowledgement } from "./AlertGrouper.js";
import type { NotifierState } from "./NotifierState.js";

/** Options of {@link AckResponder}. */
export interface AckResponderOptions {
  subject: string;
  /** Subject prefix of the installation: the reply-subject policy never answers under it. */
  prefix: string;
  notifierId: string;
  state: NotifierState;
  log: Logger;
  invalid: InvalidInputLog;
  now: () => number;
  /** Applies a stored acknowledgement; returns the firing alert it covers, if known. */
  apply: (fingerprint: string, ack: Acknowledgement) => AlertEvent | undefined;
}

/** See the module comment. */
export class AckResponder {
  private sub: Subscription | undefined;
  private count = 0;
  /** Reply-subject policy and never-throwing replies. */
  private readonly replies: ReplyGuard;

  constructor(private readonly opts: AckResponderOptions) {
    this.replies = new ReplyGuard({ prefix: opts.prefix, invalid: opts.invalid, log: opts.log });
  }

  /** Acknowledgements stored so far by this responder. */
  get acks(): number {
    return this.count;
  }

  start(nc: NatsConnection): this {
    this.sub = nc.subscribe(this.opts.subject, {
      callback: (err, msg) => {
        if (!err) this.onAck(msg).catch((e: unknown) => this.opts.log.warn({ err: e }, "acknowledgement failed"));
      },
    });
    return this;
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  private async onAck(msg: Msg): Promise<void> {
    const { log, invalid } = this.opts;
    // Refused before the acknowledgement is stored.
    if (this.replies.refuses(msg)) return;
    const decoded = decodeMessage("alert-ack", msg.data);
    if (!decoded.ok) {
      invalid.record("alert-ack", decoded.error, msg.subject);
      this.replies.respondError(msg, "BAD_REQUEST", decoded.error);
      return;
    }
    const req = decoded.value;
    const at = this.opts.now();
    if (req.until !== undefined && req.until <= at) {
      this.replies.respondError(msg, "BAD_REQUEST", "until is in the past");
      return;
    }
    const ack: Acknowledgement = { by: req.by, at };
    if (req.until !== undefined) ack.until = req.until;
    if (req.comment !== undefined) ack.comment = req.comment;
    try {
      await this.opts.state.putAck(req.fingerprint, ack);
    } catch (err) {
      this.replies.respondError(msg, "UNAVAILABLE", `could not store the acknowledgement: ${(err as Error).message}`, true);
      return;
    }
    const firing = this.opts.apply(req.fingerprint, ack);
    this.count++;
    const reply: AlertAckReply = { v: 1, fingerprint: req.fingerprint, acked: true, known: !!firing, at, notifier: this.opts.notifierId };
    if (ack.until !== undefined) reply.until = ack.until;
    if (firing) reply.alert = { rule: firing.rule, service: firing.service, severity: firing.severity, startsAt: firing.startsAt };
    log.info({ fingerprint: req.fingerprint, by: req.by, until: req.until, known: reply.known }, "alert acknowledged");
    this.replies.respond(msg, encodeJson(reply));
  }
}

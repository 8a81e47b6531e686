/**
 * Delivers one group notification by mail and records it: composes the mail, hands it to the SMTP
 * transport, and once the server accepted it records each reported transition (sent records) and
 * the firing/resolved state (for repeats after a restart) in the notifier state. Throws when the
 * server did not accept the mail, so that the caller retries; records nothing then.
 */
import type { Transporter } from "nodemailer";
import type { AlertEvent, Logger } from "../protocol/index.js";
import type { Notification } from "./AlertGrouper.js";
import type { ResolvedRoute } from "./AlertRouter.js";
import { composeMail } from "./MailFormat.js";
import type { NotifierState } from "./NotifierState.js";
import { parseSender } from "./smtp.js";
import type { SentMail } from "./types.js";

/** Options of {@link MailDelivery}. */
export interface MailDeliveryOptions {
  transport: Transporter;
  state: NotifierState;
  /** Sender (`SMTP_FROM` syntax). */
  from: string;
  /** Domain of Message-IDs. */
  domain: string;
  prefix: string;
  externalUrl?: string | undefined;
  log: Logger;
  now: () => number;
}

/** See the module comment. */
export class MailDelivery {
  constructor(private readonly opts: MailDeliveryOptions) {}

  /** Sends and records `n`; resolves with what was sent, rejects when the SMTP server did not accept it. */
  async deliver(n: Notification<unknown>): Promise<SentMail> {
    const { log, state } = this.opts;
    const mail = composeMail(n, { domain: this.opts.domain, now: this.opts.now(), externalUrl: this.opts.externalUrl, prefix: this.opts.prefix });
    const route: ResolvedRoute = n.route;
    const info = (await this.opts.transport.sendMail({
      from: parseSender(this.opts.from),
      to: [...route.to],
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      messageId: mail.messageId,
      headers: mail.headers,
    })) as { accepted?: unknown[]; rejected?: unknown[] };
    if (Array.isArray(info.accepted) && info.accepted.length === 0) throw new Error(`every recipient was rejected: ${JSON.stringify(info.rejected)}`);
    if (Array.isArray(info.rejected) && info.rejected.length > 0) log.warn({ rejected: info.rejected, messageId: mail.messageId }, "some recipients were rejected");
    const acceptedAt = this.opts.now();
    // Record before the caller acknowledges: a crash in between then costs at most a skipped duplicate.
    for (const t of n.transitions) {
      try {
        await state.recordSent(route.name, t.key, acceptedAt, mail.messageId);
      } catch (err) {
        log.warn({ err, transition: t.key }, "could not record a sent transition");
      }
      await this.rememberActive(route, t.alert, acceptedAt);
    }
    if (n.kind === "repeat") for (const a of n.firing) await this.rememberActive(route, a, acceptedAt);
    return {
      messageId: mail.messageId,
      route: route.name,
      to: [...route.to],
      subject: mail.subject,
      kind: n.kind,
      transitions: mail.transitions,
      repeated: n.kind === "repeat" ? n.firing.map((a) => a.fingerprint) : [],
      acceptedAt,
    };
  }

  private async rememberActive(route: ResolvedRoute, alert: AlertEvent, at: number): Promise<void> {
    const { state } = this.opts;
    try {
      if (alert.status === "firing") await state.putActive({ route: route.name, alert, lastSentAt: at });
      else {
        await state.deleteActive(route.name, alert.fingerprint);
        await state.deleteAck(alert.fingerprint);
      }
    } catch (err) {
      this.opts.log.warn({ err, fingerprint: alert.fingerprint }, "could not record alert state");
    }
  }
}

/**
 * The one way every Switchboard responder answers a request: the reply-subject policy, and a
 * `respond` that never throws.
 *
 * Why a policy: a request's reply subject is chosen by the requester, and the responder publishes
 * there with its own rights. A coordinator (full rights) answering a registry query whose reply
 * subject is `$KV.<lease bucket>.<key>` would overwrite the leader lease; one answering on
 * `$JS.API.STREAM.PURGE.<stream>` would purge a stream; an echo endpoint answering on
 * `<prefix>.heartbeat.<service>.<id>` would forge a heartbeat. So no component answers on
 * `$`-subjects (JetStream `$JS`, KV `$KV`, object store `$O`, system `$SYS`, micro `$SRV`, …), on the
 * installation's own `<prefix>.>` subjects, or on wildcards: such a request is refused before any
 * work is done, counted and logged (rate-limited). Legitimate replies go to inboxes (`_INBOX.>` or a
 * private `inboxPrefix` such as `_INBOX_<user>.>`), which this never refuses.
 *
 * Why a guarded `respond`: nats.js throws from `publish` when the reply exceeds the server's
 * `max_payload` or the connection is closed. Thrown from a subscription callback that kills the
 * connection's reader; from a promise it is an unhandled rejection. Here a reply too large becomes a
 * `PAYLOAD_TOO_LARGE` error reply, any other failure is counted and logged, and nothing is thrown.
 */
import type { Msg, MsgHdrs } from "@nats-io/transport-node";
import { ErrorCode } from "./errors.js";
import { InvalidInputLog } from "./InvalidInputLog.js";
import type { Logger } from "./logger.js";
import { errorReply } from "./replies.js";

/** Longest reply subject answered (nats.js inboxes are ~30 characters; a custom prefix adds its own). */
export const MAX_REPLY_SUBJECT_LENGTH = 256;

/** Kind under which refused reply subjects are counted in the component's {@link InvalidInputLog}. */
export const REPLY_SUBJECT_KIND = "reply-subject";

/**
 * Why `reply` may not be answered by a component of the installation under `prefix`, or null when
 * it may. Pure: the policy in one place, for responders and for tests.
 */
export function replySubjectRefusal(reply: string, prefix: string): string | null {
  if (reply.length > MAX_REPLY_SUBJECT_LENGTH) return `reply subject longer than ${MAX_REPLY_SUBJECT_LENGTH} characters`;
  if (reply.charCodeAt(0) === 36 /* $ */) return "reply subject in a system namespace ($JS, $KV, $SYS, $SRV, …)";
  if (reply === prefix || reply.startsWith(`${prefix}.`)) return `reply subject under the installation's own prefix ${prefix}`;
  if (reply.includes("*") || reply.includes(">")) return "reply subject with a wildcard";
  if (reply.startsWith(".") || reply.endsWith(".") || reply.includes("..")) return "reply subject with an empty token";
  return null;
}

/** What became of one answer. */
export type ReplyOutcome =
  /** Published. */
  | "sent"
  /** The request had no reply subject: nothing to send. */
  | "no-reply"
  /** The reply subject is refused by the policy; nothing was sent. */
  | "refused"
  /** The reply exceeded the server's `max_payload`; a `PAYLOAD_TOO_LARGE` error reply was sent instead. */
  | "too-large"
  /** Publishing failed (connection closed, …); logged and counted. */
  | "failed";

/** Counters of a {@link ReplyGuard}. */
export interface ReplyStats {
  /** Requests refused because of their reply subject. */
  refusedReplySubjects: number;
  /** Replies replaced by a `PAYLOAD_TOO_LARGE` error because they exceeded `max_payload`. */
  payloadTooLarge: number;
  /** Replies that could not be published at all. */
  failed: number;
}

/** Options of {@link ReplyGuard}. */
export interface ReplyGuardOptions {
  /** Subject prefix of the installation (its own subjects are never reply targets). */
  prefix: string;
  /** Where refusals are counted and logged once per burst; default a log of its own. */
  invalid?: InvalidInputLog;
  /** Logger for failures to publish (rate-limited through an {@link InvalidInputLog} too). */
  log: Pick<Logger, "warn">;
}

function isMaxPayloadError(err: unknown): boolean {
  return err instanceof Error && /max_payload/i.test(err.message);
}

/** Applies the reply-subject policy and answers requests without ever throwing. */
export class ReplyGuard {
  private readonly prefix: string;
  private readonly invalid: InvalidInputLog;
  /** Publish failures are logged through their own burst limiter: a closed connection fails every reply. */
  private readonly failures: InvalidInputLog;
  private readonly counters: ReplyStats = { refusedReplySubjects: 0, payloadTooLarge: 0, failed: 0 };

  constructor(opts: ReplyGuardOptions) {
    this.prefix = opts.prefix;
    this.invalid = opts.invalid ?? new InvalidInputLog(opts.log);
    this.failures = new InvalidInputLog(opts.log);
  }

  /**
   * True when `msg` carries a reply subject the policy refuses (counted and logged): the caller must
   * then drop the request without doing its work. False for a request without a reply subject.
   */
  refuses(msg: Pick<Msg, "reply" | "subject">): boolean {
    const reply = msg.reply;
    if (!reply) return false;
    const why = replySubjectRefusal(reply, this.prefix);
    if (why === null) return false;
    this.counters.refusedReplySubjects++;
    this.invalid.record(REPLY_SUBJECT_KIND, `${why}: ${reply.slice(0, 80)}`, msg.subject);
    return true;
  }

  /** Answers `msg` with `data` (and headers). Never throws; see {@link ReplyOutcome}. */
  respond(msg: Msg, data: Uint8Array, headers?: MsgHdrs): ReplyOutcome {
    if (!msg.reply) return "no-reply";
    if (this.refuses(msg)) return "refused";
    try {
      msg.respond(data, headers ? { headers } : undefined);
      return "sent";
    } catch (err) {
      if (!isMaxPayloadError(err)) return this.failed(msg, err);
    }
    this.counters.payloadTooLarge++;
    this.failures.record("payload-too-large", `reply of ${data.length} bytes exceeds the server's max_payload`, msg.subject);
    const e = errorReply(ErrorCode.PAYLOAD_TOO_LARGE, `the reply (${data.length} bytes) exceeds the server's max_payload`);
    try {
      msg.respond(e.data, { headers: e.headers });
      return "too-large";
    } catch (err) {
      return this.failed(msg, err);
    }
  }

  /** Answers `msg` with an error reply in the NATS micro convention. Never throws. */
  respondError(msg: Msg, code: string, message: string, retryable?: boolean): ReplyOutcome {
    if (!msg.reply) return "no-reply";
    const e = errorReply(code, message, retryable);
    return this.respond(msg, e.data, e.headers);
  }

  /** Counters since start. */
  stats(): ReplyStats {
    return { ...this.counters };
  }

  private failed(msg: Msg, err: unknown): "failed" {
    this.counters.failed++;
    this.failures.record("reply", `could not publish a reply: ${(err as Error)?.message ?? String(err)}`, msg.subject);
    return "failed";
  }
}

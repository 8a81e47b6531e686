/**
 * Request-reply multiplexed over plain publish/subscribe, built for the call path's speed:
 * - ONE wildcard subscription `<inbox>.*` per client; each attempt's reply subject is `<inbox>.<token>`;
 * - a Map from token to the pending attempt;
 * - ONE coarse sweep timer for timeouts instead of a timer per request (it runs only while
 *   something is pending);
 * - nothing allocated for errors on the success path (nats.js's `request()` builds a
 *   `RequestError` for every successful reply and, without `noAsyncTraces`, an `Error` per request).
 * The server's 503 "no responders" status arrives on the reply subject like a reply; the pending
 * attempt recognises it. Replies to attempts that already timed out find no entry and are dropped.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "../protocol/index.js";
import { inboxPrefixOf, rawSubject } from "../protocol/natsInternals.js";
import type { Clock } from "./types.js";
import type { PendingAttempt, Transport } from "./Transport.js";
import { deadlineHeaders } from "./wireHeaders.js";

/** Largest token: ten base-36 digits. */
const MAX_TOKEN = 36 ** 10 - 1;

/** Options of {@link RequestMux}. */
export interface RequestMuxOptions {
  clock: Clock;
  /** Sweep interval in ms (default 10). */
  sweepMs?: number;
  logger?: Logger;
}

/** The multiplexer of one client connection. */
export class RequestMux implements Transport {
  private readonly prefix: string;
  private readonly prefixLength: number;
  private readonly sub: Subscription;
  /** Pending attempts by numeric token (the reply subject carries it in base 36). */
  private readonly pending = new Map<number, PendingAttempt>();
  private readonly clock: Clock;
  private readonly sweepMs: number;
  private readonly log: Logger | undefined;
  private counter = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closedReason: string | undefined;
  /** Replies that arrived for no pending attempt (late after a timeout, or duplicates). */
  lateReplies = 0;

  constructor(
    private readonly nc: NatsConnection,
    opts: RequestMuxOptions,
  ) {
    this.clock = opts.clock;
    this.sweepMs = Math.max(1, opts.sweepMs ?? 10);
    this.log = opts.logger;
    // Honour the connection's inbox prefix: NATS permissions are often written against it.
    this.prefix = `${createInbox(inboxPrefixOf(nc))}.`;
    this.prefixLength = this.prefix.length;
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        if (err) {
          // A subscription error (e.g. a permissions violation on the inbox) ends every pending attempt.
          this.log?.error({ err }, "reply subscription failed");
          this.close(`reply subscription failed: ${err.message}`);
          return;
        }
        this.dispatch(msg);
      },
    });
    nc.closed().then(
      () => this.close("NATS connection closed"),
      () => this.close("NATS connection closed"),
    );
  }

  /** Largest payload the server accepts. */
  get maxPayload(): number | undefined {
    return this.nc.info?.max_payload;
  }

  /** Attempts awaiting a reply. */
  get size(): number {
    return this.pending.size;
  }

  send(subject: string, data: Uint8Array, deadline: number, codec: string | undefined, headers: MsgHdrs | Record<string, string> | undefined, pending: PendingAttempt): void {
    if (this.closedReason !== undefined) throw new MuxClosedError(this.closedReason);
    const id = this.counter;
    // Ten base-36 digits stay exact in a double; wrap long before a token could be reused while pending.
    this.counter = id >= MAX_TOKEN ? 0 : id + 1;
    const token = id.toString(36);
    this.nc.publish(subject, data, { reply: this.prefix + token, headers: deadlineHeaders(deadline, headers, codec) });
    // Registered after publishing, so a publish that throws leaves nothing behind; the reply
    // cannot overtake us (it is delivered in a later turn of the event loop).
    pending.token = token;
    this.pending.set(id, pending);
    if (this.sweepTimer === undefined) this.startSweep();
  }

  private dispatch(msg: Msg): void {
    const id = this.tokenOf(msg);
    const p = id < 0 ? undefined : this.pending.get(id);
    if (p === undefined) {
      this.lateReplies++;
      return;
    }
    this.pending.delete(id);
    p.onReply(msg);
  }

  /**
   * The numeric token at the end of a reply subject, or -1. Reads the raw subject bytes when nats.js
   * exposes them, which saves decoding the subject to a string on every reply.
   */
  private tokenOf(msg: Msg): number {
    const raw = rawSubject(msg);
    if (raw !== undefined) {
      const len = raw.length;
      if (len <= this.prefixLength || len - this.prefixLength > 10) return -1;
      let n = 0;
      for (let i = this.prefixLength; i < len; i++) {
        const c = raw[i]!;
        const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : -1;
        if (d < 0) return -1;
        n = n * 36 + d;
      }
      return n;
    }
    const subject = msg.subject;
    if (!subject.startsWith(this.prefix)) return -1;
    const t = subject.substring(this.prefixLength);
    return /^[0-9a-z]{1,10}$/.test(t) ? parseInt(t, 36) : -1;
  }

  private startSweep(): void {
    this.sweepTimer = setInterval(() => this.sweep(), this.sweepMs);
    this.sweepTimer.unref?.();
  }

  /** Times out every pending attempt whose expiry has passed; stops the timer when nothing is pending. */
  sweep(): void {
    if (this.pending.size === 0) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
      return;
    }
    const now = this.clock.now();
    for (const [token, p] of this.pending) {
      if (p.expiresAt <= now) {
        this.pending.delete(token);
        try {
          p.onTimeout();
        } catch (err) {
          this.log?.error({ err }, "timeout handler threw");
        }
      }
    }
  }

  /** Ends every pending attempt with `reason` and refuses new ones; unsubscribes. Idempotent. */
  close(reason = "client closed"): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      try {
        p.onClosed(reason);
      } catch (err) {
        this.log?.error({ err }, "close handler threw");
      }
    }
    try {
      if (!this.nc.isClosed()) this.sub.unsubscribe();
    } catch {
      // the connection went away meanwhile: nothing left to unsubscribe
    }
  }
}

/** Thrown by {@link RequestMux.send} after the mux closed. */
export class MuxClosedError extends Error {
  override readonly name = "MuxClosedError";
}

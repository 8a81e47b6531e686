/**
 * The seam between the call logic (retries, routing, breakers: pure) and NATS I/O. The real
 * transport is the RequestMux; unit tests drive the call logic with a fake one and a fake clock.
 */
import type { MsgHdrs } from "@nats-io/transport-node";

/** A reply as the call logic reads it (a NATS `Msg` fits). */
export interface ReplyMessage {
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs | undefined;
}

/** An attempt waiting for its reply. The transport calls exactly one of the three `on…` methods. */
export interface PendingAttempt {
  /** Absolute expiry on the client's clock; past it the transport calls {@link onTimeout}. */
  expiresAt: number;
  /** Set by the transport: the reply token of the current attempt. */
  token: string;
  /** A message arrived on the attempt's reply subject (a reply, an error reply or a NATS status). */
  onReply(msg: ReplyMessage): void;
  /** No reply before `expiresAt`. */
  onTimeout(): void;
  /** The transport closed (client closed or connection lost for good). */
  onClosed(reason: string): void;
}

/** Sends requests and delivers their outcome to the pending attempt. */
export interface Transport {
  /**
   * Publishes `data` on `subject` with the absolute deadline header, the codec header when `codec`
   * is given (undefined: json, no header), `headers` if any, and a reply subject routed back to
   * `pending`. Throws when the request cannot be sent at all.
   */
  send(
    subject: string,
    data: Uint8Array,
    deadline: number,
    codec: string | undefined,
    headers: MsgHdrs | Record<string, string> | undefined,
    pending: PendingAttempt,
  ): void;
  /** Largest payload the server accepts, if known. */
  readonly maxPayload: number | undefined;
}
